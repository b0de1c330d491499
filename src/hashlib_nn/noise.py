r"""Label noise for the label-noise experiments (paper, abstract: "label noise ... contribute[s]
in shaping the encoding properties").

The original repository contains a label-noise helper but no label-noise experiment
(protocol.md, "Regularization, label noise, phase chart"), so the convention used here is ours.
This module offers three things:

:func:`symmetric_label_noise` (ours, seeded)
    Exactly :math:`k = \operatorname{round}(rN)` of the :math:`N` examples, chosen uniformly at
    random without replacement, get a new label. Two conventions for the new label:

    ``"uniform_other"`` (default)
        uniform over the :math:`C-1` classes *other than* the clean label. Every selected label
        becomes wrong, so the effective noise rate equals the nominal one exactly (up to the
        rounding of :math:`rN`). This is the "symmetric noise" of the label-noise literature
        (a transition matrix with :math:`1-r` on the diagonal and :math:`r/(C-1)` off it,
        e.g. Patrini et al., CVPR 2017), except that the *number* of flipped labels is fixed at
        :math:`k` rather than binomial.
    ``"uniform_any"``
        uniform over all :math:`C` classes, the clean one included (the "partially corrupted
        labels" of Zhang et al., ICLR 2017, again with exactly :math:`k` examples redrawn).
        About one redrawn label in :math:`C` lands on its clean class, so the effective rate is
        :math:`r(1 - 1/C)` in expectation: 0.9 r on MNIST and CIFAR-10.

    Why ``"uniform_other"`` is the default: the chapter's x axis is "fraction of wrong training
    labels"; under ``"uniform_other"`` the number on the axis is that fraction, with no hidden
    factor :math:`1 - 1/C` and no sampling noise in it.

    Noise levels are *nested*: for one seed, the examples redrawn at ratio :math:`r_1 < r_2`
    are a subset of those redrawn at :math:`r_2`, and each of them gets the same new label at
    both ratios (one permutation and one label draw per example, whatever the ratio). A sweep
    over ratios therefore adds noise to the same training set rather than drawing a fresh one
    per ratio, which keeps the comparison between ratios free of resampling noise.

:func:`original_label_noise` (the original helper's behaviour, defects included)
    see its docstring; protocol.md, "Known defects of the original" #1.

:func:`effective_noise_rate`
    the fraction of labels that differ from the clean ones.

For batched training (:func:`hashlib_nn.batched.train_many` takes ``y`` of shape ``(R, N)``),
:func:`per_model_labels` stacks one noisy copy per model: row ``i`` equals the single-model
labels for ``seeds[i]``, so batched and one-at-a-time runs see the same labels.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

__all__ = [
    "NOISE_MODES",
    "NoisyLabels",
    "effective_noise_rate",
    "expected_effective_rate",
    "original_label_noise",
    "original_row_order",
    "per_model_labels",
    "symmetric_label_noise",
]

NoiseMode = Literal["uniform_other", "uniform_any"]
NOISE_MODES: tuple[str, ...] = ("uniform_other", "uniform_any")

# Spawn key that separates the noise stream from any other stream seeded with the same integer
# (e.g. the training seed): SeedSequence(seed, spawn_key=(key,)) is independent of
# SeedSequence(seed). The value is the ASCII of "noise".
_NOISE_STREAM = 0x6E6F697365


@dataclass(frozen=True)
class NoisyLabels:
    """Noisy labels and what was done to them.

    y_noisy: the labels to train on; same shape and dtype as the clean labels.
    corrupted_mask: bool, True where ``y_noisy`` differs from the clean label (a wrong label).
    selected_mask: bool, True where the helper redrew or permuted the label. Under
        ``"uniform_other"`` it equals ``corrupted_mask``; under ``"uniform_any"`` and in the
        original helper it is a superset (some redrawn labels land on their clean class).
    nominal_ratio: the requested ratio r.
    effective_ratio: ``corrupted_mask.mean()``, the fraction of wrong labels.
    mode: "uniform_other", "uniform_any" or "original".
    """

    y_noisy: np.ndarray
    corrupted_mask: np.ndarray
    selected_mask: np.ndarray
    nominal_ratio: float
    effective_ratio: float
    mode: str

    @property
    def n_selected(self) -> int:
        return int(self.selected_mask.sum())

    @property
    def n_corrupted(self) -> int:
        return int(self.corrupted_mask.sum())


# --------------------------------------------------------------------------- validation


def _check_ratio(ratio: object) -> float:
    if isinstance(ratio, bool) or not isinstance(ratio, int | float | np.integer | np.floating):
        raise ValueError(
            f"ratio must be a real number in [0, 1]; got {ratio!r} of type {type(ratio).__name__}"
        )
    r = float(ratio)
    if not 0.0 <= r <= 1.0:  # also rejects nan
        raise ValueError(f"ratio must be in [0, 1]; got {ratio!r}")
    return r


def _check_n_classes(n_classes: object) -> int:
    if (
        isinstance(n_classes, bool)
        or not isinstance(n_classes, int | np.integer)
        or n_classes < 2
    ):
        raise ValueError(f"n_classes must be an integer >= 2; got {n_classes!r}")
    return int(n_classes)


def _check_labels(y: object, n_classes: int, name: str = "y") -> np.ndarray:
    a = np.asarray(y)
    if a.ndim != 1:
        raise ValueError(
            f"{name} must be a 1-D array of integer class labels (N,); got shape {a.shape}"
            + (" (one-hot labels? pass y.argmax(1))" if a.ndim == 2 else "")
        )
    if a.size == 0:
        raise ValueError(f"{name} holds no labels")
    if a.dtype == bool or not np.issubdtype(a.dtype, np.integer):
        raise ValueError(f"{name} must hold integer class labels; got dtype {a.dtype}")
    lo, hi = int(a.min()), int(a.max())
    if lo < 0 or hi >= n_classes:
        raise ValueError(
            f"{name} labels must lie in [0, n_classes={n_classes}); got values in [{lo}, {hi}]"
        )
    return a


def _check_seed(seed: object, *, allow_none: bool = False) -> int | None:
    if seed is None and allow_none:
        return None
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(
            f"seed must be a non-negative integer{' or None' if allow_none else ''}; got {seed!r}"
        )
    return int(seed)


def _rng(seed: int | None) -> np.random.Generator:
    if seed is None:
        return np.random.default_rng()
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(_NOISE_STREAM,)))


def _n_selected(ratio: float, n: int) -> int:
    """round(ratio * n), halves up; 0.29 * 100 = 28.999999999999996 gives 29."""
    return min(n, int(math.floor(ratio * n + 0.5)))


def _result(y: np.ndarray, y_noisy: np.ndarray, selected: np.ndarray, ratio: float,
            mode: str) -> NoisyLabels:
    corrupted = y_noisy != y
    return NoisyLabels(
        y_noisy=y_noisy,
        corrupted_mask=corrupted,
        selected_mask=selected,
        nominal_ratio=ratio,
        effective_ratio=float(corrupted.mean()),
        mode=mode,
    )


# --------------------------------------------------------------------------- ours


def symmetric_label_noise(
    y: np.ndarray | Sequence[int],
    ratio: float,
    n_classes: int,
    *,
    seed: int,
    mode: NoiseMode = "uniform_other",
) -> NoisyLabels:
    r"""Symmetric label noise on exactly ``round(ratio * N)`` examples, seeded.

    Draws, from a generator keyed by ``seed``: one uniform permutation of the N examples (the
    first :math:`k = \operatorname{round}(rN)` positions are the selected examples) and one
    candidate label per example; a selected example takes its candidate label.

    - ``mode="uniform_other"``: candidate :math:`(y_i + U\{1, \dots, C-1\}) \bmod C`, uniform
      over the other classes. Effective rate :math:`= k/N` exactly.
    - ``mode="uniform_any"``: candidate :math:`U\{0, \dots, C-1\}`. The number of wrong labels
      is :math:`\mathrm{Binomial}(k, 1 - 1/C)`: effective rate :math:`\approx r(1-1/C)`.

    Args:
        y: clean integer labels, shape (N,), values in [0, n_classes).
        ratio: fraction r in [0, 1] of examples whose label is redrawn.
        n_classes: C >= 2.
        seed: non-negative integer; the stream is keyed (``SeedSequence(seed, spawn_key=...)``),
            so passing the training seed itself does not correlate noise with initialization.
        mode: "uniform_other" (default) or "uniform_any"; see the module docstring.

    Returns:
        :class:`NoisyLabels`. With ``ratio == 0``, ``y_noisy`` is a copy of ``y``, equal bit for
        bit and of the same dtype, so a noise-0 run reproduces the clean run exactly.

    >>> y = np.arange(10) % 10
    >>> out = symmetric_label_noise(y, 0.3, 10, seed=0)
    >>> out.effective_ratio, int(out.corrupted_mask.sum())
    (0.3, 3)
    >>> bool((out.y_noisy[out.corrupted_mask] != y[out.corrupted_mask]).all())
    True
    """
    r = _check_ratio(ratio)
    c = _check_n_classes(n_classes)
    a = _check_labels(y, c)
    if mode not in NOISE_MODES:
        raise ValueError(f"mode must be 'uniform_other' or 'uniform_any'; got {mode!r}")
    s = _check_seed(seed)
    n = a.shape[0]
    k = _n_selected(r, n)
    if k == 0:
        return _result(a, a.copy(), np.zeros(n, dtype=bool), r, mode)
    rng = _rng(s)
    order = rng.permutation(n)  # drawn in full whatever k is: noise levels are nested
    candidate: np.ndarray
    if mode == "uniform_other":
        candidate = np.remainder(a.astype(np.int64) + rng.integers(1, c, size=n), c)
    else:
        candidate = np.asarray(rng.integers(0, c, size=n))
    selected = np.zeros(n, dtype=bool)
    selected[order[:k]] = True
    y_noisy = a.copy()
    y_noisy[selected] = candidate[selected].astype(a.dtype, copy=False)
    return _result(a, y_noisy, selected, r, mode)


def per_model_labels(
    y: np.ndarray | Sequence[int],
    ratio: float,
    n_classes: int,
    *,
    seeds: Sequence[int],
    mode: NoiseMode = "uniform_other",
) -> np.ndarray:
    """One noisy copy of ``y`` per model, stacked to ``(R, N)`` for batched training.

    Row ``i`` is ``symmetric_label_noise(y, ratio, n_classes, seed=seeds[i], mode=mode).y_noisy``,
    so model ``i`` of :func:`hashlib_nn.batched.train_many` sees the labels a one-at-a-time run
    with ``seeds[i]`` would see. Per-row effective rates:
    ``[effective_noise_rate(y, row) for row in rows]``.
    """
    if isinstance(seeds, int | np.integer) or len(seeds) == 0:
        raise ValueError(f"seeds must be a non-empty sequence of integers; got {seeds!r}")
    return np.stack(
        [symmetric_label_noise(y, ratio, n_classes, seed=s, mode=mode).y_noisy for s in seeds]
    )


# --------------------------------------------------------------------------- the original


def original_label_noise(
    y: np.ndarray | Sequence[int],
    ratio: float,
    n_classes: int,
    *,
    seed: int | None,
) -> NoisyLabels:
    r"""The original helper's labels (``create_noise_samples`` in ``activation_code_methods.py``).

    What the original does, line by line (protocol.md, known defect #1):

    1. ``k = int(ratio * N)`` (truncation, not rounding).
    2. ``np.random.seed = 10`` *assigns* the integer 10 to the name ``np.random.seed`` instead of
       calling it: the global generator is never seeded (and afterwards ``np.random.seed(...)``
       anywhere in the process raises ``TypeError: 'int' object is not callable``).
    3. ``index = random.shuffle(index)``: ``numpy.random.shuffle`` shuffles in place and returns
       ``None``, so ``training_samples[None]`` adds an axis that ``np.squeeze`` removes again:
       nothing is shuffled.
    4. The labels of the *first* ``k`` examples are shuffled among themselves (a uniform
       permutation of that block, global generator, unseeded; ``np.random.seed = 7`` is the
       same defect again). Labels outside the block are untouched. Because steps 3-4 work on
       views (``a[None]``, ``np.squeeze`` and ``labels[:k]`` do not copy), the shuffle also
       permutes the *caller's* label array in place: after the call the caller's "clean"
       labels are the noisy ones.
    5. The rows are returned as ``[k:N]`` followed by ``[0:k]`` (clean block first, noisy block
       last; the final "shuffle" is again a no-op). The label *of each example* is what step 4
       gave it; only the row order changes. :func:`original_row_order` gives that order.

    Here ``y_noisy[i]`` is the label example ``i`` ends up with, in the input order (step 5 is
    not applied; apply :func:`original_row_order` to x and y together to reproduce it). Step 4
    uses a generator seeded from ``seed`` (``None``: fresh OS entropy, unseeded like the
    original). The side effects of steps 2 and 4 (on ``np.random.seed`` and on the caller's
    array) are not reproduced: ``y`` is left as it was.

    Effective noise rate. A label stays correct when the permutation sends it a label of its own
    class: for example i with class :math:`c_i` in the block this has probability
    :math:`n_{c_i}/k` (:math:`n_c` = count of class c in the block), so

    .. math::

        \mathbb{E}[\text{effective rate}] = \frac{k}{N}\Bigl(1 - \sum_c (n_c/k)^2\Bigr)
        \approx r\,(1 - 1/C) \text{ for balanced labels}

    (:func:`expected_effective_rate`). All wrong labels sit in the first ``k`` examples: with the
    paper's unshuffled first-80% split this is a fixed block (e.g. examples 0..9,599 of the
    48,000 MNIST training examples at ratio 0.2), not a random subset, and a sample-size subset
    taken as "the first n rows" of the returned arrays would contain clean rows only.

    Differences from the original, beyond the seed: integer labels instead of one-hot rows;
    ``ratio`` is validated (the original accepted any number).
    """
    r = _check_ratio(ratio)
    c = _check_n_classes(n_classes)
    a = _check_labels(y, c)
    s = _check_seed(seed, allow_none=True)
    n = a.shape[0]
    k = int(r * n)  # the original's truncation
    selected = np.zeros(n, dtype=bool)
    selected[:k] = True
    y_noisy = a.copy()
    if k > 0:
        y_noisy[:k] = a[:k][_rng(s).permutation(k)]
    return _result(a, y_noisy, selected, r, "original")


def original_row_order(n: int, ratio: float) -> np.ndarray:
    """The row order the original helper returns: ``[k, ..., n-1, 0, ..., k-1]``.

    ``k = int(ratio * n)``; ``x[order], y_noisy[order]`` reproduces the original's output arrays.
    """
    r = _check_ratio(ratio)
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise ValueError(f"n must be a positive integer; got {n!r}")
    k = int(r * int(n))
    return np.r_[np.arange(k, n), np.arange(k)]


def expected_effective_rate(
    y: np.ndarray | Sequence[int],
    ratio: float,
    n_classes: int,
    *,
    mode: NoiseMode | Literal["original"] = "uniform_other",
) -> float:
    r"""The expected fraction of wrong labels, exactly, for the clean labels ``y``.

    - ``"uniform_other"``: :math:`k/N`, :math:`k = \operatorname{round}(rN)` (not random).
    - ``"uniform_any"``: :math:`(k/N)(1 - 1/C)`.
    - ``"original"``: :math:`(k/N)(1 - \sum_c (n_c/k)^2)`, :math:`k = \lfloor rN \rfloor`,
      :math:`n_c` the class counts among the first k labels.
    """
    r = _check_ratio(ratio)
    c = _check_n_classes(n_classes)
    a = _check_labels(y, c)
    n = a.shape[0]
    if mode == "uniform_other":
        return _n_selected(r, n) / n
    if mode == "uniform_any":
        return _n_selected(r, n) / n * (1.0 - 1.0 / c)
    if mode == "original":
        k = int(r * n)
        if k == 0:
            return 0.0
        p = np.bincount(a[:k], minlength=c) / k
        return k / n * (1.0 - float((p**2).sum()))
    raise ValueError(f"mode must be 'uniform_other', 'uniform_any' or 'original'; got {mode!r}")


# --------------------------------------------------------------------------- measurement


def effective_noise_rate(
    y_clean: np.ndarray | Sequence[int], y_noisy: np.ndarray | Sequence[int]
) -> float:
    """Fraction of labels in ``y_noisy`` that differ from ``y_clean`` (same shape, integers).

    >>> effective_noise_rate([0, 1, 2, 3], [0, 1, 3, 3])
    0.25
    """
    a, b = np.asarray(y_clean), np.asarray(y_noisy)
    if a.shape != b.shape:
        raise ValueError(
            f"y_clean and y_noisy must have the same shape; got {a.shape} and {b.shape}"
        )
    if a.size == 0:
        raise ValueError("y_clean holds no labels")
    for name, v in (("y_clean", a), ("y_noisy", b)):
        if v.dtype == bool or not np.issubdtype(v.dtype, np.integer):
            raise ValueError(f"{name} must hold integer class labels; got dtype {v.dtype}")
    return float(np.mean(a != b))
