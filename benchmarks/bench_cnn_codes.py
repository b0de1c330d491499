"""Encoding throughput and peak host memory of CNN neural codes (hashlib_nn.cnn).

Inputs are uniform random images (encoding cost does not depend on pixel values), seeded.
Peak memory is the process's maximum resident set size (``ru_maxrss``); each measurement runs
in a fresh subprocess so that peaks do not carry over. "encoding peak" is the peak minus the
resident size just before encoding (interpreter, torch, the model and the input images).

    python benchmarks/bench_cnn_codes.py table                    # bits per image, every model
    python benchmarks/bench_cnn_codes.py run --model resnet20 --n 1000
    python benchmarks/bench_cnn_codes.py sweep --n 500 1000 2000  # and extrapolate to 60k

``--method encode`` (default) is :func:`hashlib_nn.cnn.encode` (one preallocated packed matrix);
``--method neural_codes`` is :func:`hashlib_nn.codes.neural_codes` (packed batches concatenated
at the end). Both take ``--batch-size`` (0: ``encode``'s automatic choice for both).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import numpy as np
import torch


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def table() -> None:
    from hashlib_nn.cnn import CNN_NAMES, build_cnn, code_layout

    print(f"{'model':9s} {'input':9s} {'ReLU layers':>11s} {'bits/image':>11s} "
          f"{'packed B/img':>12s} {'60k packed':>11s} {'params':>11s}")
    for name in CNN_NAMES:
        for shape in ((1, 28, 28), (3, 32, 32)):
            model = build_cnn(name, in_channels=shape[0])
            layout = code_layout(model, shape)
            bits = sum(layer.n_bits for layer in layout)
            nbytes = (bits + 7) // 8
            params = sum(p.numel() for p in model.parameters())
            print(f"{name:9s} {'x'.join(map(str, shape)):9s} {len(layout):11d} {bits:11,d} "
                  f"{nbytes:12,d} {60000 * nbytes / 1e9:9.2f} GB {params:11,d}")


def run(model_name: str, n: int, batch_size: int, method: str, threads: int, device: str) -> dict:
    from hashlib_nn.cnn import _BYTES_PER_BIT, build_cnn, code_layout, encode
    from hashlib_nn.codes import NeuralCodes, neural_codes

    torch.set_num_threads(threads)
    model = build_cnn(model_name).to(device)
    x = np.random.default_rng(0).random((n, 3, 32, 32), dtype=np.float32)
    bits = sum(layer.n_bits for layer in code_layout(model, (3, 32, 32)))
    if batch_size == 0:  # encode's default on this device
        budget = 2 * 2**30 if torch.device(device).type == "cuda" else 256 * 2**20
        batch_size = int(min(1024, max(1, budget // (_BYTES_PER_BIT * bits))))
    before = _rss_mib()
    t0 = time.perf_counter()
    if method == "encode":
        codes = encode(model, x, batch_size=batch_size, device=device, progress=False)
    else:
        result = neural_codes(model, x, batch_size=batch_size, device=device)
        assert isinstance(result, NeuralCodes)
        codes = result
    seconds = time.perf_counter() - t0
    peak = _rss_mib()
    return {
        "model": model_name, "method": method, "n": n, "batch_size": batch_size,
        "threads": threads, "bits_per_image": codes.n_bits, "packed_bytes_per_image": codes.n_bytes,
        "packed_mib": codes.packed.nbytes / 2**20, "seconds": seconds,
        "images_per_s": n / seconds, "rss_before_mib": before, "peak_mib": peak,
        "encoding_peak_mib": peak - before,
    }


def _child(args: argparse.Namespace, n: int) -> dict:
    cmd = [sys.executable, __file__, "run", "--json", "--model", args.model, "--n", str(n),
           "--batch-size", str(args.batch_size), "--method", args.method,
           "--threads", str(args.threads), "--device", args.device]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def sweep(args: argparse.Namespace) -> None:
    rows = [_child(args, n) for n in args.n]
    for r in rows:
        print(f"{r['method']:12s} N={r['n']:6d} batch={r['batch_size']:4d} "
              f"{r['images_per_s']:7.1f} img/s  packed {r['packed_mib']:8.1f} MiB  "
              f"encoding peak {r['encoding_peak_mib']:8.1f} MiB  "
              f"(before {r['rss_before_mib']:.0f})")
    # Peak model: a batch transient T (measured: peak minus packed codes at the smallest N) on
    # top of the packed codes P(N) for encode; neural_codes also holds its batches and their
    # concatenation at the end, so max(T + P, 2 P) (plus allocator slack).
    r0 = min(rows, key=lambda r: r["n"])
    transient = r0["encoding_peak_mib"] - r0["packed_mib"]
    p60 = 60000 * r0["packed_bytes_per_image"] / 2**20
    peak60 = transient + p60 if args.method == "encode" else max(transient + p60, 2 * p60)
    print(f"batch transient T = {transient:.0f} MiB; "
          f"packed row {r0['packed_bytes_per_image']:,d} B")
    print(f"extrapolated to N=60000 ({args.method}): packed codes {p60:,.0f} MiB, encoding peak "
          f"~{peak60:,.0f} MiB; the 60k float32 images themselves "
          f"{60000 * 3 * 32 * 32 * 4 / 2**20:,.0f} MiB")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("table", help="bits per image and packed bytes for every model")
    for name in ("run", "sweep"):
        s = sub.add_parser(name)
        s.add_argument("--model", default="resnet20")
        s.add_argument("--n", type=int, nargs="+" if name == "sweep" else None,
                       default=[500, 1000, 2000] if name == "sweep" else 1000)
        s.add_argument("--batch-size", type=int, default=0)
        s.add_argument("--method", choices=("encode", "neural_codes"), default="encode")
        s.add_argument("--threads", type=int, default=2)
        s.add_argument("--device", default="cpu")
        s.add_argument("--json", action="store_true")
    args = p.parse_args()
    if args.cmd == "table":
        table()
    elif args.cmd == "run":
        r = run(args.model, args.n, args.batch_size, args.method, args.threads, args.device)
        print(json.dumps(r) if args.json else "\n".join(f"{k}: {v}" for k, v in r.items()))
    else:
        sweep(args)


if __name__ == "__main__":
    main()
