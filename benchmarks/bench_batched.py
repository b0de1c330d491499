"""Benchmark: R paper MLPs trained together (``train_many``) vs. one at a time (``train``).

The issue's measurement: ten width-50 MLPs on MNIST-sized data (48,000 x 784, batch 64), same
epochs, both ways, in one run; the goal is >= 5x throughput for the batched path. Timings on a
shared machine are noisy, so the two modes alternate (sequential, batched, sequential, ...)
``--repeats`` times and the script reports the ratio of the medians and the ratio of the
minima (the least disturbed run of each mode: on a busy machine the better estimate of what
each mode costs by itself).

The CPU-s ratio uses process CPU time instead of wall time: with one thread it is nearly
immune to other processes taking the cores (with several, idle OpenMP threads spin and count).
With ``--threads 2`` on a 2-core machine where another process holds a core, every parallel
region waits for a descheduled thread and both modes slow down 5-30x, erratically: compare
2-thread numbers only from a quiet machine, else use ``--threads 1``.

Measured here (2 shared, busy cores; 1 thread, N=48,000, R=10, 1 epoch, CPU-s ratio): width
10 about 5.7x, width 50 about 4.0x, width 100 about 3x with seeds 0..9; with ``--same-seed``
(shared batches) about 10x, 5x and 3.2x. Per step at width 50 the batched path spends ~75% in
work sequential training does too (the batch gather and Adam are memory-bound, the first layer
is 100 MFLOP), which bounds the 1-thread ratio near 5x for distinct seeds.

Peak memory is the resident-set high-water mark (``VmHWM``) over each timed call, reset before
the call through ``/proc/self/clear_refs`` where Linux allows it (else the process-wide
``ru_maxrss``, which only grows).

    python benchmarks/bench_batched.py                 # widths 10, 50, 100; 2 epochs
    python benchmarks/bench_batched.py --epochs 1 --widths 50 --repeats 3
"""

from __future__ import annotations

import argparse
import copy
import resource
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from hashlib_nn.batched import train_many, train_many_sequential
from hashlib_nn.models import PaperMLP
from hashlib_nn.train import TrainConfig

GOAL = 5.0  # >= 5x throughput at width 50 (the issue)
GOAL_WIDTH = 50


def _reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _peak_mib(resettable: bool) -> float:
    if resettable:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _timed(fn, *args, **kw) -> tuple[float, float, float]:
    """(wall seconds, process CPU seconds, peak MiB) of one call."""
    resettable = _reset_peak()
    t0, c0 = time.perf_counter(), time.process_time()
    fn(*args, **kw)
    return time.perf_counter() - t0, time.process_time() - c0, _peak_mib(resettable)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--widths", default="10,50,100", help="comma-separated widths")
    ap.add_argument("--depth", type=int, default=1)
    ap.add_argument("--models", type=int, default=10, help="R, models per batch")
    ap.add_argument("--n", type=int, default=48_000, help="training examples")
    ap.add_argument("--repeats", type=int, default=2, help="alternating timings per mode")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--skip-sequential", action="store_true", help="time the batched path only")
    ap.add_argument("--same-seed", action="store_true",
                    help="one seed for all models (a hyperparameter sweep): shared batches")
    args = ap.parse_args(argv)
    if args.epochs < 1 or args.repeats < 1 or args.models < 1:
        ap.error("--epochs, --repeats and --models must be >= 1")
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    x = rng.random((args.n, 784), dtype=np.float32)  # MNIST-sized; speed does not depend on
    y = rng.integers(0, 10, args.n)  # the pixel values (no early stopping, fixed epochs)
    widths = [int(w) for w in args.widths.split(",")]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, N={args.n}, "
          f"R={args.models}, depth={args.depth}, epochs={args.epochs}, batch 64, "
          f"repeats={args.repeats} (alternating)"
          f"{', one seed for all models' if args.same_seed else ', seeds 0..R-1'}")
    # Warm-up (lazy initialization of kernels and thread pools), not timed.
    warm = [PaperMLP(784, 10, args.depth, seed=s) for s in range(2)]
    wcfg = [TrainConfig(epochs=1, seed=s) for s in range(2)]
    train_many(warm, x[:640], y[:640], wcfg, device="cpu")
    train_many_sequential(copy.deepcopy(warm), x[:640], y[:640], wcfg, device="cpu")

    header = (f"{'width':>5} {'seq s/epoch':>12} {'batched s/epoch':>16} {'ratio':>7}   "
              f"{'min ratio':>9} {'CPU-s ratio':>11} {'seq MiB':>8} {'batched MiB':>12}")
    print(header)
    results = {}
    for width in widths:
        models = [PaperMLP(784, width, args.depth, seed=s) for s in range(args.models)]
        cfgs = [TrainConfig(epochs=args.epochs, seed=0 if args.same_seed else s,
                            early_stopping=False) for s in range(args.models)]
        seq_t, bat_t, seq_c, bat_c, seq_m, bat_m = [], [], [], [], [], []
        for _ in range(args.repeats):
            if not args.skip_sequential:
                t, c, m = _timed(train_many_sequential, copy.deepcopy(models), x, y, cfgs,
                                 device="cpu")
                seq_t.append(t / args.epochs)
                seq_c.append(c / args.epochs)
                seq_m.append(m)
            t, c, m = _timed(train_many, copy.deepcopy(models), x, y, cfgs, device="cpu")
            bat_t.append(t / args.epochs)
            bat_c.append(c / args.epochs)
            bat_m.append(m)
        b = statistics.median(bat_t)
        s = statistics.median(seq_t) if seq_t else float("nan")
        cpu = (statistics.median(seq_c) / statistics.median(bat_c)) if seq_c else float("nan")
        best = min(seq_t) / min(bat_t) if seq_t else float("nan")
        results[width] = (s / b, best)
        print(f"{width:>5} {s:>12.2f} {b:>16.2f} {s / b:>6.2f}x   {best:>8.2f}x {cpu:>10.2f}x "
              f"{max(seq_m, default=float('nan')):>8.0f} {max(bat_m):>12.0f}", flush=True)
        if args.repeats > 1:
            print(f"      all seq: {[round(v, 2) for v in seq_t]}  "
                  f"all batched: {[round(v, 2) for v in bat_t]}")
    if GOAL_WIDTH in results and not args.skip_sequential:
        med, best = results[GOAL_WIDTH]
        print(f"goal: >= {GOAL:.0f}x at width {GOAL_WIDTH}: {med:.2f}x (medians), {best:.2f}x "
              f"(minima): {'MET' if min(med, best) >= GOAL else 'NOT MET'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
