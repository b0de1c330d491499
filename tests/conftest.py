"""Shared test setup. OpenMP must not spin-wait on 2 shared cores (see the Makefile); this runs
before any test module imports torch."""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
