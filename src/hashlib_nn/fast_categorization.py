r"""Batched K-Means and batched one-vs-one logistic regression in torch (CPU or CUDA).

The categorization metrics (:mod:`hashlib_nn.categorization`, paper Sec. 4) fit K-Means with 10
initializations and 45 pairwise logistic regressions per pair of codes. scikit-learn runs them
one after the other; this module runs each family as one batched computation and follows
scikit-learn's algorithms step by step, so the results agree up to floating-point rounding:

* :func:`kmeans_batched` -- scikit-learn's ``KMeans(algorithm="lloyd")``:

  - the data are centred (``X - mean``) as scikit-learn does before fitting;
  - **k-means++ seeding** as ``sklearn.cluster.kmeans_plusplus``: first center drawn by
    ``RandomState.choice``, then greedy k-means++ with :math:`2 + \lfloor \ln k \rfloor` local
    trials, the potential's cumulative sum taken in float32 in order (as ``np.cumsum``), the
    random numbers drawn from one ``np.random.RandomState(random_state)`` in scikit-learn's order,
    init after init. For 0/1 codes every seeding distance is an integer, exact in float32, so the
    seeds are scikit-learn's own (tested); other data use float64 distances, as scikit-learn's
    upcast does;
  - **Lloyd iterations** in float32: labels by ``argmin_j (|c_j|^2 - 2 x c_j)`` (a matrix product;
    ties to the smallest index), centers the means of their points (sums kept in float64 and
    updated by the points that changed cluster), an empty cluster takes the point farthest
    from its old center (scikit-learn's relocation). On CPU the products are numpy's (the BLAS
    scikit-learn's Cython calls, one thread), so they round as scikit-learn's do: short codes
    have many exact distance ties at the first step (seeds are data points), and which center
    a tied code joins is decided by that rounding; with it the partitions are scikit-learn's
    (tested on MNIST codes of width 10 and 40). On CUDA the products are torch's, whose
    rounding can break such ties the other way;
  - **stopping** as scikit-learn: labels unchanged (strict convergence), or
    :math:`\sum_j \lVert c_j^{new} - c_j \rVert^2 \le tol \cdot \overline{\mathrm{var}}(X)`
    (``tol`` relative to the mean per-feature variance), or ``max_iter`` (300); a run that did not
    converge strictly gets one more assignment step to its final centers;
  - the best of the ``n_init`` runs by inertia (a lower inertia replaces the best only if its
    clustering differs, as scikit-learn's ``_is_same_clustering``).

  All initializations advance together (a batch dimension). Distances are pruned with
  Hamerly's bounds (an upper bound to the own center, a lower bound to every other center,
  moved by the centers' shifts): a point whose bounds prove that its cluster cannot change is
  not re-measured. The bounds only skip work; the labels are those a full assignment step
  gives (``prune=False`` computes every distance; the tests compare both).

* :func:`ovo_logreg_batched` -- ``OneVsOneClassifier(LogisticRegression())``: for every pair of
  classes :math:`a < b` (scikit-learn's order; class b is the positive one) the L2-penalized
  logistic regression

  .. math::

      \min_{w, w_0}\ \sum_i \log\bigl(1 + e^{-s_i (w^\top x_i + w_0)}\bigr)
          + \frac{1}{2C}\lVert w \rVert^2 \qquad (s_i = \pm 1,\ \text{intercept not penalized}),

  all 45 problems solved together by a batched **L-BFGS** (memory 10, as SciPy's L-BFGS-B that
  scikit-learn's ``lbfgs`` calls) in float64. Stopping rule as scikit-learn's: the objective is
  divided by the pair's number of samples and a pair stops when the largest entry of its
  gradient is at most ``tol`` (SciPy's ``gtol``; no bounds, so the projected gradient is the
  gradient), when the relative decrease of the objective falls below
  ``64 * finfo(float).eps`` (scikit-learn's ``ftol``), or after ``max_iter`` iterations
  (counted as not converged). The step is a backtracking (Armijo) line search from 1 instead of
  SciPy's Moré-Thuente search; as both stop within the same gradient tolerance of the same
  unique optimum, the weights differ by far less than the tolerance's effect on a prediction.
  Prediction is scikit-learn's vote: per test point, one vote per pair for the predicted
  class, plus the sum of decision values normalized to :math:`(-1/3, 1/3)`, the largest total
  wins (the first on an exact tie).

Both take ``device`` (``"auto"``: CUDA when available). Agreement with scikit-learn on real MNIST
codes is measured in ``tests/test_fast_categorization.py``. Measured on 2 shared CPU cores
(MNIST codes of 48,000 images, widths 10/40/100, 3 seeds each): K-Means scores equal to
scikit-learn's within 0.0002 (identical at width 10), LR accuracy within 0.0009; LR 2-4x
faster, K-Means 4x faster at width 10 (duplicate codes), about as fast at width 100 and slower
at width 40 (long runs), so :func:`hashlib_nn.categorization.categorization_report` keeps
scikit-learn as its default and takes ``backend="torch"`` for this path.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from hashlib_nn.device import resolve_device
from hashlib_nn.metrics import distinct_codes

__all__ = [
    "KMeansResult",
    "LogRegResult",
    "kmeans_batched",
    "kmeans_plusplus_batched",
    "ovo_decision",
    "ovo_logreg_batched",
]


# --------------------------------------------------------------------------- validation


def _check_matrix(x: object, name: str) -> np.ndarray:
    a = np.asarray(x)
    if a.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (n_samples, n_features); got shape {a.shape}")
    if a.shape[0] == 0 or a.shape[1] == 0:
        raise ValueError(f"{name} must have at least one row and one column; got shape {a.shape}")
    if not (np.issubdtype(a.dtype, np.number) or a.dtype == np.bool_):
        raise ValueError(f"{name} must be numeric; got dtype {a.dtype}")
    if not np.isfinite(a).all():
        raise ValueError(f"{name} holds NaN or infinite values; only finite values are accepted")
    return a


def _check_int(value: object, name: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}; got {name}={value!r}")
    return int(value)


def _check_positive_float(value: object, name: str, *, allow_zero: bool = False) -> float:
    ok = isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool)
    if not ok or not np.isfinite(float(value)) or float(value) < 0 or (  # type: ignore[arg-type]
        float(value) == 0 and not allow_zero  # type: ignore[arg-type]
    ):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be a finite number {bound}; got {name}={value!r}")
    return float(value)  # type: ignore[arg-type]


def _is_integer_valued(x: np.ndarray) -> bool:
    """True when every value is an integer small enough that float32 products and sums of a
    row with another row are exact (0/1 codes are)."""
    if np.issubdtype(x.dtype, np.integer) or x.dtype == np.bool_:
        vals = x
    else:
        vals = x
        if not np.array_equal(x, np.round(x)):
            return False
    peak = float(np.abs(vals).max()) if vals.size else 0.0
    return peak**2 * x.shape[1] < 2**24


# --------------------------------------------------------------------------- K-Means


@dataclass(frozen=True)
class KMeansResult:
    """The best of the ``n_init`` runs, as scikit-learn's fitted attributes, plus every run's
    inertia and iteration count."""

    labels: np.ndarray  # (N,) cluster of every sample (labels_)
    centers: np.ndarray  # (k, D) float32 centers in the data's coordinates (cluster_centers_)
    inertia: float  # sum of squared distances to the own center (inertia_)
    n_iter: int  # Lloyd iterations of the best run (n_iter_)
    best_init: int  # which initialization won (0-based)
    inertias: np.ndarray  # (n_init,) inertia of every run
    n_iters: np.ndarray  # (n_init,) iterations of every run
    seeds: np.ndarray  # (n_init, k) row indices the k-means++ seeding picked


def _sq_dists(
    x: torch.Tensor, xsq: torch.Tensor, c: torch.Tensor, csq: torch.Tensor
) -> torch.Tensor:
    """(rows of x, rows of c) squared distances |x|^2 - 2 x c + |c|^2, clamped at 0."""
    d = torch.addmm(csq[None, :], x, c.T, alpha=-2.0)
    return d.add_(xsq[:, None]).clamp_(min=0.0)


@dataclass(frozen=True)
class _Rows:
    """The data for K-Means: distinct rows with their multiplicities (0/1 data are
    deduplicated exactly; Lloyd on weighted distinct rows is Lloyd on all rows)."""

    x: np.ndarray  # (M, D) distinct rows (all rows when not deduplicated)
    weight: np.ndarray  # (M,) float64 multiplicity
    inverse: np.ndarray  # (N,) distinct row of every row
    exact: bool  # integer-valued: float32 seeding distances are exact


def _distinct_rows(a: np.ndarray) -> _Rows:
    n = a.shape[0]
    exact = _is_integer_valued(a)
    if exact and bool(((a == 0) | (a == 1)).all()):
        groups = distinct_codes(np.packbits(a.astype(bool), axis=1))
        if groups.counts.shape[0] < n:
            return _Rows(a[groups.first_index], groups.counts.astype(np.float64),
                         groups.inverse, exact)
    return _Rows(a, np.ones(n), np.arange(n), exact)


def _seed(
    rows: _Rows, n: int, k: int, b: int, rs: np.random.RandomState, dev: torch.device
) -> np.ndarray:
    """k-means++ seeds (row indices into all N rows) of ``b`` runs, scikit-learn's draws."""
    trials = 2 + int(np.log(k))
    dtype = torch.float32 if rows.exact else torch.float64
    xt = torch.as_tensor(rows.x, dtype=dtype, device=dev)
    if not rows.exact:
        xt = xt - torch.as_tensor(rows.weight, dtype=dtype, device=dev) @ xt / float(n)
    xsq = (xt * xt).sum(1)
    inv = torch.as_tensor(rows.inverse, device=dev)
    w = torch.as_tensor(rows.weight, dtype=torch.float64, device=dev)
    # scikit-learn's first draw: RandomState.choice(n, p=w / w.sum()) with float32 unit weights.
    p = np.full(n, np.float32(1.0) / np.float32(n), dtype=np.float32).astype(np.float64)
    cdf = np.cumsum(p)
    cdf /= cdf[-1]
    draws = rs.random_sample(b * (1 + (k - 1) * trials)).reshape(b, 1 + (k - 1) * trials)
    seeds = np.empty((b, k), dtype=np.int64)
    seeds[:, 0] = np.minimum(np.searchsorted(cdf, draws[:, 0], side="right"), n - 1)
    fi = inv[torch.as_tensor(seeds[:, 0], device=dev)]
    closest = _sq_dists(xt[fi], xsq[fi], xt, xsq).to(torch.float32)  # (b, M)
    for c in range(1, k):
        full = closest[:, inv].cpu().numpy()  # (b, N) float32, every row in its place
        pot = (closest.double() @ w).to(torch.float32).cpu().numpy()
        csum = np.cumsum(full, axis=1)  # float32, in order: scikit-learn's np.cumsum
        u = draws[:, 1 + (c - 1) * trials : 1 + c * trials]
        cand = np.empty((b, trials), dtype=np.int64)
        for i in range(b):
            cand[i] = np.searchsorted(csum[i], u[i] * pot[i])
        np.clip(cand, None, n - 1, out=cand)
        ci = inv[torch.as_tensor(cand.ravel(), device=dev)]
        d = _sq_dists(xt[ci], xsq[ci], xt, xsq).to(torch.float32).view(b, trials, -1)
        d = torch.minimum(d, closest[:, None, :])
        best = torch.argmin(d.double() @ w, dim=1)
        closest = d[torch.arange(b, device=dev), best]
        seeds[:, c] = cand[np.arange(b), best.cpu().numpy()]
    return seeds


def kmeans_plusplus_batched(
    x: np.ndarray,
    n_clusters: int,
    n_init: int,
    random_state: int | np.random.RandomState | None,
    *,
    device: str | torch.device = "auto",
) -> np.ndarray:
    """Row indices of ``n_init`` k-means++ seedings, (n_init, n_clusters), drawn as scikit-learn's
    ``KMeans`` draws them for its ``n_init`` runs (one ``RandomState``, runs in order).

    Greedy k-means++: each new center is the best (lowest potential) of
    :math:`2 + \\lfloor \\ln k \\rfloor` candidates drawn with probability proportional to the
    squared distance to the nearest center so far. For 0/1 data the indices are scikit-learn's
    (``sklearn.cluster.kmeans_plusplus`` with the same ``RandomState``).
    """
    a = _check_matrix(x, "x")
    k = _check_int(n_clusters, "n_clusters")
    b = _check_int(n_init, "n_init")
    if k > a.shape[0]:
        raise ValueError(f"n_clusters={k} needs at least {k} samples; got {a.shape[0]}")
    rs = random_state if isinstance(random_state, np.random.RandomState) else (
        np.random.RandomState(random_state))
    return _seed(_distinct_rows(a), a.shape[0], k, b, rs, resolve_device(device))


def kmeans_batched(
    x: np.ndarray,
    n_clusters: int = 10,
    *,
    n_init: int = 10,
    random_state: int | np.random.RandomState | None = 9,
    max_iter: int = 300,
    tol: float = 1e-4,
    device: str | torch.device = "auto",
    prune: bool = True,
) -> KMeansResult:
    """scikit-learn's ``KMeans(n_clusters, n_init=n_init, random_state=random_state,
    algorithm="lloyd", max_iter=max_iter, tol=tol)``, all initializations in one batch
    (module docstring). ``x``: (N, D) data, e.g. unpacked 0/1 codes, which are deduplicated
    first (each distinct code once, weighted by its count: the same Lloyd iterations).

    >>> x = np.array([[0, 0], [0, 1], [9, 9], [9, 8]], dtype=np.float32)
    >>> kmeans_batched(x, 2, n_init=3, device="cpu").labels.tolist() in ([0, 0, 1, 1], [1, 1, 0, 0])
    True
    """
    a = _check_matrix(x, "x")
    k = _check_int(n_clusters, "n_clusters")
    b = _check_int(n_init, "n_init")
    max_iter = _check_int(max_iter, "max_iter")
    tol = _check_positive_float(tol, "tol", allow_zero=True)
    n, dim = a.shape
    if k > n:
        raise ValueError(f"n_clusters={k} needs at least {k} samples; got {n}")
    rs = random_state if isinstance(random_state, np.random.RandomState) else (
        np.random.RandomState(random_state))
    dev = resolve_device(device)
    # numpy's BLAS serves the CPU products: one thread, as scikit-learn's call in this package
    # (small products; a second thread only waits on a shared machine)
    with threadpool_limits(limits=1, user_api="blas"):
        return _kmeans(a, k, b, rs, max_iter, tol, dev, prune)


def _kmeans(
    a: np.ndarray,
    k: int,
    b: int,
    rs: np.random.RandomState,
    max_iter: int,
    tol: float,
    dev: torch.device,
    prune: bool,
) -> KMeansResult:
    n, dim = a.shape
    rows = _distinct_rows(a)
    seeds = _seed(rows, n, k, b, rs, dev)

    a32 = a.astype(np.float32, copy=False)
    mean_np = a32.mean(axis=0)  # float32, as scikit-learn's X.mean(axis=0)
    mean = torch.as_tensor(mean_np, device=dev)
    tol_abs = float(np.var(a32, axis=0).mean()) * tol  # scikit-learn's _tolerance
    # centred in float32 exactly as scikit-learn's X -= X.mean(axis=0)
    xc = torch.as_tensor(rows.x.astype(np.float32) - mean_np, device=dev)
    m_rows = xc.shape[0]
    wt = torch.as_tensor(rows.weight, dtype=torch.float64, device=dev)
    xw = xc.double() * wt[:, None]  # weighted rows, for the cluster sums
    xsq = (xc * xc).sum(1)
    inv = torch.as_tensor(rows.inverse, device=dev)
    on_cpu = dev.type == "cpu"
    slack = 1e-3 * float(xsq.max().sqrt()) + 1e-12  # float32 rounding of measured distances

    centers = xc[inv[torch.as_tensor(seeds, device=dev)]]  # (b, k, D) float32
    labels = torch.full((b, m_rows), -1, dtype=torch.int64, device=dev)
    upper = torch.zeros((b, m_rows), dtype=torch.float32, device=dev)
    lower = torch.zeros((b, m_rows), dtype=torch.float32, device=dev)
    sums = torch.zeros((b, k, dim), dtype=torch.float64, device=dev)
    counts = torch.zeros((b, k), dtype=torch.float64, device=dev)
    shift_all = torch.zeros((b, k), dtype=torch.float32, device=dev)
    active = torch.ones(b, dtype=torch.bool, device=dev)
    strict = torch.zeros(b, dtype=torch.bool, device=dev)
    n_iter = torch.zeros(b, dtype=torch.int64, device=dev)

    def scores(sel: torch.Tensor | None, inits: torch.Tensor) -> torch.Tensor:
        """(rows, runs, k) float32 |c|^2 - 2 x c: scikit-learn's quantity for the argmin."""
        xr = xc if sel is None else xc[sel]
        cs = centers[inits]  # (m, k, D)
        if on_cpu:  # numpy and its BLAS: the float32 rounding of scikit-learn's own steps
            cn = cs.reshape(-1, dim).numpy()
            csq = torch.from_numpy(np.einsum("ij,ij->i", cn, cn)).reshape(1, -1)
            prod = torch.from_numpy(xr.numpy() @ cn.T)
        else:
            csq = (cs * cs).sum(2).reshape(1, -1)
            prod = xr @ cs.reshape(-1, dim).T
        return (csq - 2.0 * prod).view(xr.shape[0], inits.shape[0], k)

    def assign(sel: torch.Tensor | None, inits: torch.Tensor, bounds: bool) -> None:
        """Labels (and bounds) of rows ``sel`` (all when None) in the runs ``inits``."""
        lab, best, second = _argmin_two(scores(sel, inits), bounds)  # first index on ties
        xs = (xsq if sel is None else xsq[sel])[:, None]
        if sel is not None and inits.numel() == 1:  # one run: write into its rows in place
            i = int(inits[0])
            labels[i].index_copy_(0, sel, lab[:, 0])
            if bounds:
                upper[i].index_copy_(0, sel, (best + xs).clamp_(min=0).sqrt_()[:, 0])
                lower[i].index_copy_(0, sel, (second + xs).clamp_(min=0).sqrt_()[:, 0])
            return
        if sel is None:
            labels[inits] = lab.T
        else:
            labels[inits[:, None], sel[None, :]] = lab.T
        if not bounds:
            return
        up = (best + xs).clamp_(min=0).sqrt_().T
        low = (second + xs).clamp_(min=0).sqrt_().T
        if sel is None:
            upper[inits], lower[inits] = up, low
        else:
            upper[inits[:, None], sel[None, :]] = up
            lower[inits[:, None], sel[None, :]] = low

    def estep(inits: torch.Tensor, first: bool) -> None:
        if first or not prune:
            assign(None, inits, prune)
            return
        full = inits.numel() == b  # every run still active: work on the tensors themselves
        sh = shift_all if full else shift_all[inits]  # (m, k): each center's last move
        lab = labels if full else labels[inits]
        own = sh.gather(1, lab)
        top2 = sh.topk(min(2, k), dim=1).values
        other = torch.where(lab == sh.argmax(1, keepdim=True), top2[:, -1:], top2[:, :1])
        if full:
            up, low = upper.add_(own), lower.sub_(other)
        else:
            up, low = upper[inits] + own, lower[inits] - other
            upper[inits], lower[inits] = up, low
        cs = centers[inits].double()
        cc = torch.cdist(cs, cs)
        cc.diagonal(dim1=1, dim2=2).fill_(float("inf"))
        half = (0.5 * cc.amin(2)).to(torch.float32)  # (m, k)
        need = up + slack > torch.maximum(low, half.gather(1, lab))  # (m, rows)
        need_np = need.cpu().numpy()
        for j in range(inits.shape[0]):  # each run re-measures only its own doubtful rows
            sel = torch.as_tensor(np.flatnonzero(need_np[j]), device=dev)
            one = inits[j : j + 1]
            if sel.numel() > m_rows // 2:
                assign(None, one, True)
            elif sel.numel():
                assign(sel, one, True)

    def mstep(inits: torch.Tensor, old: torch.Tensor, first: bool) -> torch.Tensor:
        """New centers of runs ``inits`` from their labels; returns every center's shift."""
        if first:
            for i in inits.tolist():
                sums[i] = torch.zeros((k, dim), dtype=torch.float64,
                                      device=dev).index_add_(0, labels[i], xw)
                counts[i] = torch.zeros(k, dtype=torch.float64, device=dev).index_add_(
                    0, labels[i], wt)
        else:
            now = labels if inits.numel() == b else labels[inits]
            pos, row = (now != old).nonzero(as_tuple=True)
            if row.numel():
                run = inits[pos]
                to, fro = run * k + labels[run, row], run * k + old[pos, row]
                flat, cflat = sums.view(b * k, dim), counts.view(-1)
                flat.index_add_(0, to, xw[row])
                flat.index_add_(0, fro, -xw[row])
                cflat.index_add_(0, to, wt[row])
                cflat.index_add_(0, fro, -wt[row])
        s, cnt = sums[inits].clone(), counts[inits].clone()
        before = centers[inits]
        empty = cnt <= 0
        if bool(empty.any()):  # scikit-learn: an empty cluster takes the farthest point
            for j, i in enumerate(inits.tolist()):
                ids = empty[j].nonzero().squeeze(1)
                if not ids.numel():
                    continue
                lab = labels[i]
                dist = ((xc - before[j][lab]) ** 2).sum(1)
                far = torch.topk(dist, min(ids.numel(), m_rows)).indices
                for e, f in zip(ids.tolist(), far.tolist(), strict=False):
                    s[j, lab[f]] -= xc[f].double()
                    cnt[j, lab[f]] -= 1
                    s[j, e] = xc[f].double()
                    cnt[j, e] = 1
        new_c = torch.where(cnt[:, :, None] > 0, s / cnt.clamp(min=1e-300)[:, :, None],
                            before.double()).to(torch.float32)
        centers[inits] = new_c
        return (new_c - before).norm(dim=2)

    old_labels = labels.clone()
    for it in range(max_iter):
        inits = active.nonzero().squeeze(1)
        if not inits.numel():
            break
        full = inits.numel() == b
        old = old_labels if full else old_labels[inits]
        estep(inits, it == 0)
        shift = mstep(inits, old, it == 0)
        shift_all[inits] = shift
        n_iter[inits] += 1
        now = labels if full else labels[inits]
        same = (now == old).all(1)
        small = (shift.double() ** 2).sum(1) <= tol_abs
        strict[inits[same]] = True
        active[inits[same | small]] = False
        if full:
            old_labels.copy_(labels)
        else:
            old_labels[inits] = now
    # runs that stopped on the tolerance or max_iter: one more assignment to the final centers
    # (scikit-learn); a run that converged strictly keeps its labels, which these centers give
    allruns = torch.arange(b, device=dev)
    part = scores(None, allruns)
    lab_final, _, _ = _argmin_two(part, False)
    loose = ~strict
    labels[loose] = lab_final.T[loose]
    # inertia of every run: sum of weighted |x - c|^2 = |x|^2 + (|c|^2 - 2 x c), in float64
    d2 = (part.gather(2, labels.T[:, :, None]).squeeze(2) + xsq[:, None]).clamp_(min=0)
    inertia = (d2.double() * wt[:, None]).sum(0)
    lab_np = labels[:, inv].cpu().numpy()
    inertias = inertia.cpu().numpy()
    best = 0
    for i in range(1, b):
        if inertias[i] < inertias[best] and not _same_clustering(lab_np[i], lab_np[best], k):
            best = i
    return KMeansResult(
        labels=lab_np[best].copy(),
        centers=(centers[best] + mean).cpu().numpy(),
        inertia=float(inertias[best]),
        n_iter=int(n_iter[best]),
        best_init=best,
        inertias=inertias,
        n_iters=n_iter.cpu().numpy(),
        seeds=seeds,
    )


def _argmin_two(
    part: torch.Tensor, two: bool
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Over the last axis: index of the smallest value (the first on ties, as scikit-learn's
    loop), and with ``two`` the smallest and the second smallest values."""
    if part.device.type == "cpu":  # numpy: a few calls instead of k elementwise passes
        p = part.numpy()
        idx = torch.from_numpy(np.argmin(p, axis=-1))
        if not two:
            return idx, part[..., 0], part[..., 0]
        if p.shape[-1] == 1:
            low = torch.from_numpy(p[..., 0].copy())
            return idx, low, torch.full_like(low, float("inf"))
        sm = np.partition(p, 1, axis=-1)
        return idx, torch.from_numpy(sm[..., 0].copy()), torch.from_numpy(sm[..., 1].copy())
    best = part[..., 0].clone()
    idx = torch.zeros(best.shape, dtype=torch.int64, device=part.device)
    second = torch.full_like(best, float("inf"))
    for j in range(1, part.shape[-1]):
        pj = part[..., j]
        second = torch.minimum(second, torch.maximum(best, pj))
        idx.masked_fill_(pj < best, j)
        best = torch.minimum(best, pj)
    return idx, best, second


def _same_clustering(a: np.ndarray, b: np.ndarray, k: int) -> bool:
    """scikit-learn's ``_is_same_clustering``: equal up to a renaming of the clusters."""
    pairs = np.unique(a.astype(np.int64) * k + b)
    return bool(np.unique(pairs // k).shape[0] == pairs.shape[0])


# --------------------------------------------------------------------------- logistic regression


@dataclass(frozen=True)
class LogRegResult:
    """The 45 (in general L(L-1)/2) pairwise models of a one-vs-one logistic regression."""

    classes: np.ndarray  # (L,) sorted class labels (classes_)
    pairs: np.ndarray  # (P, 2) class positions (a, b), a < b, scikit-learn's order
    coef: np.ndarray  # (P, D) float64 weights; class b of the pair is the positive class
    intercept: np.ndarray  # (P,) float64
    n_iter: np.ndarray  # (P,) L-BFGS iterations of every pair
    converged: np.ndarray  # (P,) bool: stopped by the tolerance, not by max_iter

    def decision(self, x: np.ndarray) -> np.ndarray:
        """(N, P) decision values :math:`w^\\top x + w_0` of every pair."""
        return np.asarray(x, dtype=np.float64) @ self.coef.T + self.intercept

    def predict(self, x: np.ndarray) -> np.ndarray:
        """scikit-learn's ``OneVsOneClassifier.predict``: votes plus normalized confidences."""
        a = _check_matrix(x, "x")
        if a.shape[1] != self.coef.shape[1]:
            raise ValueError(f"x has {a.shape[1]} features but the models were fit on "
                             f"{self.coef.shape[1]}")
        scores = ovo_decision(self.decision(a), self.pairs, self.classes.shape[0])
        return self.classes[scores.argmax(axis=1)]


def ovo_decision(dec: np.ndarray, pairs: np.ndarray, n_classes: int) -> np.ndarray:
    """scikit-learn's one-vs-one score (``_ovr_decision_function``): per sample and class, the
    votes won (decision > 0 votes for the pair's second class) plus the summed confidences
    :math:`s` mapped to :math:`s / (3(|s| + 1))`, which can break a tie of votes but never
    outweighs one vote."""
    n = dec.shape[0]
    votes = np.zeros((n, n_classes))
    conf = np.zeros((n, n_classes))
    pos = dec > 0
    for p, (i, j) in enumerate(pairs):
        conf[:, i] -= dec[:, p]
        conf[:, j] += dec[:, p]
        votes[~pos[:, p], i] += 1
        votes[pos[:, p], j] += 1
    return votes + conf / (3 * (np.abs(conf) + 1))


def ovo_logreg_batched(
    x: np.ndarray,
    y: np.ndarray,
    *,
    C: float = 1.0,
    tol: float = 1e-4,
    max_iter: int = 100,
    memory: int = 10,
    device: str | torch.device = "auto",
) -> LogRegResult:
    r"""``OneVsOneClassifier(LogisticRegression(C=C, tol=tol, max_iter=max_iter))`` fit on
    ``(x, y)``, every pair of classes solved together by a batched L-BFGS (module docstring).

    >>> x = np.array([[0.0], [1.0], [5.0], [6.0]])
    >>> ovo_logreg_batched(x, np.array([0, 0, 1, 1]), device="cpu").predict(x).tolist()
    [0, 0, 1, 1]
    """
    a = _check_matrix(x, "x")
    lab = np.asarray(y)
    if lab.ndim != 1 or lab.shape[0] != a.shape[0]:
        raise ValueError(f"y must be 1-D with one label per row of x ({a.shape[0]}); got shape "
                         f"{lab.shape}")
    C = _check_positive_float(C, "C")
    tol = _check_positive_float(tol, "tol", allow_zero=True)
    max_iter = _check_int(max_iter, "max_iter")
    memory = _check_int(memory, "memory")
    classes, yi = np.unique(lab, return_inverse=True)
    n_cls = classes.shape[0]
    if n_cls < 2:
        raise ValueError(f"one-vs-one logistic regression needs at least 2 classes in y; got "
                         f"only {classes.tolist()!r}")
    dev = resolve_device(device)
    pairs = np.array([(i, j) for i in range(n_cls) for j in range(i + 1, n_cls)], dtype=np.int64)
    n_pairs, dim = pairs.shape[0], a.shape[1] + 1
    order = np.argsort(yi, kind="stable")
    bounds = np.concatenate([[0], np.cumsum(np.bincount(yi, minlength=n_cls))])
    xo = torch.as_tensor(a[order], dtype=torch.float32, device=dev)
    # rows sorted by class, with a column of ones for the intercept
    xs = torch.cat([xo, torch.ones((xo.shape[0], 1), dtype=torch.float32, device=dev)], 1)
    seg = [xs[bounds[c] : bounds[c + 1]] for c in range(n_cls)]
    # for every class: the pairs it belongs to, and whether it is their positive class
    member = [np.nonzero((pairs[:, 0] == c) | (pairs[:, 1] == c))[0] for c in range(n_cls)]
    member_t = [torch.as_tensor(m, device=dev) for m in member]
    positive = [torch.as_tensor(pairs[m, 1] == c, dtype=torch.float32, device=dev)
                for c, m in enumerate(member)]
    n_p = torch.as_tensor((bounds[pairs[:, 0] + 1] - bounds[pairs[:, 0]])
                          + (bounds[pairs[:, 1] + 1] - bounds[pairs[:, 1]]),
                          dtype=torch.float64, device=dev)
    lam = 1.0 / (C * n_p)  # scikit-learn's objective: mean log-loss + ||w||^2 / (2 C n)
    pen = torch.ones(dim, dtype=torch.float64, device=dev)
    pen[-1] = 0.0  # the intercept is not penalized

    def fun(w: torch.Tensor, sel: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Objective and gradient at weights w (P, dim) of the pairs ``sel`` (bool, P); the
        other pairs' entries are left at 0."""
        f = torch.zeros(n_pairs, dtype=torch.float64, device=dev)
        g = torch.zeros((n_pairs, dim), dtype=torch.float64, device=dev)
        sel_np = sel.cpu().numpy()
        for c in range(n_cls):
            use = sel_np[member[c]]
            if not use.any():
                continue
            m = member_t[c] if use.all() else member_t[c][torch.as_tensor(use, device=dev)]
            t = positive[c] if use.all() else positive[c][torch.as_tensor(use, device=dev)]
            # float32 products (0/1 codes are exact in float32), float64 sums
            z = seg[c] @ w[m].T.to(torch.float32)  # (n_c, pairs of c)
            # log(1 + exp(-s z)) with s = +1 for the positive class, -1 otherwise
            loss = torch.nn.functional.softplus(z * (1 - 2 * t))
            f.index_add_(0, m, loss.sum(0, dtype=torch.float64))
            g.index_add_(0, m, ((torch.sigmoid(z) - t).T @ seg[c]).double())
        wp = w * pen
        f = f / n_p + 0.5 * lam * (wp * wp).sum(1)
        g = g / n_p[:, None] + lam[:, None] * wp
        return f, g

    w = torch.zeros((n_pairs, dim), dtype=torch.float64, device=dev)
    everything = torch.ones(n_pairs, dtype=torch.bool, device=dev)
    f, g = fun(w, everything)
    s_hist = torch.zeros((n_pairs, memory, dim), dtype=torch.float64, device=dev)
    y_hist = torch.zeros_like(s_hist)
    rho = torch.zeros((n_pairs, memory), dtype=torch.float64, device=dev)
    n_hist = torch.zeros(n_pairs, dtype=torch.int64, device=dev)
    n_iter = torch.zeros(n_pairs, dtype=torch.int64, device=dev)
    done = g.abs().amax(1) <= tol
    converged = done.clone()
    ftol = 64 * np.finfo(float).eps
    for _ in range(max_iter):
        live = ~done
        if not bool(live.any()):
            break
        # two-loop recursion, newest pair (s, y) last; unused slots have rho = 0
        q = g.clone()
        alpha = torch.zeros((n_pairs, memory), dtype=torch.float64, device=dev)
        for j in range(memory - 1, -1, -1):
            alpha[:, j] = rho[:, j] * (s_hist[:, j] * q).sum(1)
            q -= alpha[:, j : j + 1] * y_hist[:, j]
        yy = (y_hist[:, -1] * y_hist[:, -1]).sum(1)
        sy = (s_hist[:, -1] * y_hist[:, -1]).sum(1)
        gamma = torch.where(n_hist > 0, sy / yy.clamp(min=1e-300), torch.ones_like(sy))
        r = gamma[:, None] * q
        for j in range(memory):
            beta = rho[:, j] * (y_hist[:, j] * r).sum(1)
            r += s_hist[:, j] * (alpha[:, j] - beta)[:, None]
        d = -r
        # first iteration: SciPy's L-BFGS-B takes a step of length 1 along -g
        step = torch.where(n_hist > 0, torch.ones_like(f), 1.0 / d.norm(dim=1).clamp(min=1e-300))
        gd = (g * d).sum(1)
        bad = live & (gd >= 0)  # not a descent direction: restart from the gradient
        if bool(bad.any()):
            d[bad] = -g[bad]
            gd = torch.where(bad, -(g * g).sum(1), gd)
            step = torch.where(bad, 1.0 / g.norm(dim=1).clamp(min=1e-300), step)
            rho[bad] = 0.0
            n_hist[bad] = 0
        # backtracking (Armijo, c1 = 1e-4): only the pairs still searching are evaluated
        f_new, g_new = f.clone(), g.clone()
        pending = live.clone()
        for _ls in range(50):
            f_try, g_try = fun(w + step[:, None] * d, pending)
            f_new = torch.where(pending, f_try, f_new)
            g_new = torch.where(pending[:, None], g_try, g_new)
            ok = f_try <= f + 1e-4 * step * gd
            pending = pending & ~ok
            if not bool(pending.any()):
                break
            step = torch.where(pending, step * 0.5, step)
        w_new = w + torch.where(live, step, torch.zeros_like(step))[:, None] * d
        s = w_new - w
        yv = g_new - g
        sy_new = (s * yv).sum(1)
        keep = live & (sy_new > np.finfo(float).eps * (yv * yv).sum(1))
        if bool(keep.any()):
            s_hist[keep] = torch.cat([s_hist[keep, 1:], s[keep, None]], 1)
            y_hist[keep] = torch.cat([y_hist[keep, 1:], yv[keep, None]], 1)
            rho[keep] = torch.cat([rho[keep, 1:], (1.0 / sy_new[keep])[:, None]], 1)
            n_hist[keep] += 1
        rel = (f - f_new) / torch.maximum(torch.maximum(f.abs(), f_new.abs()),
                                           torch.ones_like(f))
        w = w_new
        g = torch.where(live[:, None], g_new, g)
        f = torch.where(live, f_new, f)
        n_iter += live.to(torch.int64)
        stop = live & ((g.abs().amax(1) <= tol) | (rel <= ftol))
        converged |= stop
        done |= stop
    wn = w.cpu().numpy()
    return LogRegResult(
        classes=classes,
        pairs=pairs,
        coef=wn[:, :-1],
        intercept=wn[:, -1],
        n_iter=n_iter.cpu().numpy(),
        converged=converged.cpu().numpy(),
    )
