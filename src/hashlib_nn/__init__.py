"""hashlib_nn: neural networks behave as hash encoders (He, Lei, Ji, Tao, 2021), reproduced."""

from __future__ import annotations

__version__ = "0.1.0"
