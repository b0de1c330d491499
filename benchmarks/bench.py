"""`make bench`: speed and memory of hashlib_nn against the original pipeline's way.

Every figure is measured side by side in one run, each side in a fresh subprocess; the
measurement code is :mod:`hashlib_nn.bench` (importable, so the book's appendix can rerun it).

    python benchmarks/bench.py                     # the full run (about 5-8 min on 2 cores)
    python benchmarks/bench.py --quick             # smoke run on smaller data
    python benchmarks/bench.py --json benchmarks/results/cpu-2core.json

Set OMP_WAIT_POLICY=PASSIVE (the Makefile does) before running on a shared machine.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch / scikit-learn load OpenMP

from hashlib_nn.bench import main  # noqa: E402

if __name__ == "__main__":
    raise SystemExit(main())
