"""Train R paper MLPs of one architecture in a single pass of batched matrix products.

The paper's figures average 10 repeats per setting (protocol.md, "Training": "10 independent
runs"), and its models are small (784-w-10 on MNIST), so one model at a time spends most of each
step in per-operation overhead rather than arithmetic (toolchain.md, "torch"). :func:`train_many`
stacks R models of the same architecture and trains them together:

- each Linear layer is one ``baddbmm``/``bmm`` over the R models, forward and backward written
  by hand (no autograd); activations are kept feature-major, ``(R, features, batch)``;
- BatchNorm of all R models is torch's own kernel (``native_batch_norm`` and its backward) on
  the ``(1, R * features, batch)`` view: one channel per model and unit, running stats included;
- every model draws its own batches from its own shuffle generator, so model ``i`` sees exactly
  the batches that :func:`hashlib_nn.train.train` would show it alone; the R batches are
  gathered with one ``index_select``. Models with equal seeds see equal batches: then the batch
  is gathered once and the first layer is one ``mm`` over all R kernels (a sweep over weight
  decay or labels at one seed is the fastest case);
- all parameters, gradients and Adam moments live in one flat buffer each; Adam is
  ``torch._fused_adam_`` over views of it, one call per distinct weight decay, and the coupled
  L2 gradient ``2 wd W`` is that kernel's own (coupled) ``weight_decay`` term. Adam is
  elementwise, so one Adam over the stacked parameters *is* R separate Adams;
- weight decay, early stopping (``early_stopping``, ``patience``, ``min_delta``), the seed,
  the labels (``y`` of shape ``(R, N)``) and the training rows (``rows``: model ``i`` trains on
  ``x[rows[i]]``, e.g. the first n examples tiled, so sample sizes whose tiled sets have one
  length train together) may differ per model; a model that stops early is
  written back to its module and dropped from the stack while the others go on.

Per model the result equals :func:`hashlib_nn.train.train` on the same seed up to float32
rounding: batched and single matrix products sum in another order, and Adam turns the last-bit
differences into relative weight differences of about 1e-5..1e-4 after a few epochs. One
visible case: the bias of a Linear layer followed by BatchNorm has an exact gradient of 0, which
both paths compute as cancelling float32 noise (~1e-9) that Adam normalizes into a random walk
of a few lr; that bias and the BN running mean (which tracks it) therefore differ between the
paths by about lr, without changing what the network computes (tests/test_batched.py gives the
tolerances). Dropout is the other exception: the batched path draws its masks from one
generator for all models, so runs with ``dropout > 0`` are statistically equivalent to
one-at-a-time runs, not equal to them.

The deviation toggles of issue 13 are supported (each must agree across the models trained
together): ``TrainConfig.loss="keras_clipped"`` (the backward pass zeroes the rows whose
true-class probability is clipped), ``adam_form="keras"`` (the per-step epsilon of
:func:`hashlib_nn.train.keras_adam_eps`), ``dtype="float64"`` (the whole stack in float64) and
the models' ``bn_running_var`` (the running variance updated with its factor instead of
PyTorch's unbiased one).

:func:`train_many_sequential` has the same signature and loops over :func:`train`; it is the
reference for the tests and the baseline for ``benchmarks/bench_batched.py``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence

import numpy as np
import torch
from torch import nn

from hashlib_nn.device import resolve_device
from hashlib_nn.models import PaperMLP, derive_seeds, running_var_factor
from hashlib_nn.train import (
    KERAS_EPSILON,
    EpochRecord,
    TrainConfig,
    TrainHistory,
    keras_adam_eps,
    lr_at,
    train,
)

__all__ = ["ManyCheckpointFn", "train_many", "train_many_sequential"]

ManyCheckpointFn = Callable[[int, int, nn.Module], None]
"""``on_checkpoint(model_index, epoch, model)``."""

# Architecture attributes that must agree for models to be stacked.
_ARCH_FIELDS = ("in_features", "width", "depth", "n_classes", "batchnorm", "dropout",
                "bn_running_var")
# Config fields that drive the shared loop and must agree; the others may differ per model.
_SHARED_FIELDS = ("epochs", "batch_size", "lr", "betas", "eps", "lr_decay", "lr_decay_every",
                  "loss", "adam_form", "dtype")


# --------------------------------------------------------------------------- validation


def _check_inputs(
    models: Sequence[PaperMLP],
    x: np.ndarray | torch.Tensor,
    y: np.ndarray | torch.Tensor,
    configs: Sequence[TrainConfig],
    rows: np.ndarray | torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Validate the arguments of :func:`train_many`; return ``x`` as (N, D), ``y`` and
    ``rows`` (None or an int64 (R, M) tensor)."""
    models, configs = list(models), list(configs)
    if not models:
        raise ValueError("models is empty; pass at least one PaperMLP")
    if len(models) != len(configs):
        raise ValueError(
            f"models and configs must have the same length (one config per model); got "
            f"{len(models)} models and {len(configs)} configs"
        )
    for i, m in enumerate(models):
        if not isinstance(m, PaperMLP):
            raise TypeError(
                f"models[{i}] must be a hashlib_nn.models.PaperMLP; got {type(m).__name__}"
            )
    for i, m in enumerate(models):
        for j in range(i):
            if models[j] is m:
                raise ValueError(
                    f"models[{j}] and models[{i}] are the same module; each model is trained "
                    "in place, so pass distinct PaperMLP instances"
                )
    ref = models[0]
    for i, m in enumerate(models[1:], start=1):
        for name in _ARCH_FIELDS:
            if getattr(m, name) != getattr(ref, name):
                raise ValueError(
                    f"models[{i}].{name}={getattr(m, name)!r} differs from "
                    f"models[0].{name}={getattr(ref, name)!r}; train_many stacks models of one "
                    f"architecture ({', '.join(_ARCH_FIELDS)} equal): group them first"
                )
    for i, m in enumerate(models):
        if not all(p.requires_grad for p in m.parameters()):
            raise ValueError(
                f"models[{i}] has parameters with requires_grad=False; train_many trains every "
                "parameter (as train does for a PaperMLP): unfreeze them or use train"
            )
        for bn in _bns(m):
            r0 = _bns(ref)[0]
            if (not bn.affine or not bn.track_running_stats or bn.momentum is None
                    or (bn.momentum, bn.eps) != (r0.momentum, r0.eps)):
                raise ValueError(
                    f"models[{i}] has a BatchNorm1d with affine={bn.affine}, "
                    f"track_running_stats={bn.track_running_stats}, momentum={bn.momentum}, "
                    f"eps={bn.eps}; train_many needs affine BatchNorm with running stats and a "
                    f"numeric momentum, equal across models (models[0]: momentum={r0.momentum}, "
                    f"eps={r0.eps})"
                )
    for i, c in enumerate(configs):
        if not isinstance(c, TrainConfig):
            raise TypeError(f"configs[{i}] must be a TrainConfig; got {type(c).__name__}")
    for i, c in enumerate(configs[1:], start=1):
        for name in _SHARED_FIELDS:
            if getattr(c, name) != getattr(configs[0], name):
                raise ValueError(
                    f"configs[{i}].{name}={getattr(c, name)!r} differs from "
                    f"configs[0].{name}={getattr(configs[0], name)!r}; models trained together "
                    f"must agree on {', '.join(_SHARED_FIELDS)} (seed, weight_decay, "
                    "early_stopping, patience and min_delta may differ)"
                )
    x_t, y_t = torch.as_tensor(x), torch.as_tensor(y)
    if x_t.dim() < 2:
        raise ValueError(f"x must have shape (N, D) (or (N, ...)); got shape {tuple(x_t.shape)}")
    n, r = x_t.shape[0], len(models)
    x_t = x_t.reshape(n, -1)
    if x_t.shape[1] != ref.in_features:
        raise ValueError(
            f"x has {x_t.shape[1]} features per example, the models expect "
            f"in_features={ref.in_features}"
        )
    if n == 0:
        raise ValueError("the training set is empty")
    rows_t = None
    if rows is not None:
        rows_t = torch.as_tensor(rows)
        if rows_t.dim() != 2 or rows_t.shape[0] != r or rows_t.shape[1] == 0:
            raise ValueError(
                f"rows must have shape (R, M)=({r}, M) with M >= 1 (row indices into x, one row "
                f"per model); got shape {tuple(rows_t.shape)}"
            )
        if rows_t.is_floating_point() or rows_t.is_complex() or rows_t.dtype == torch.bool:
            raise ValueError(f"rows must hold integer indices into x; got dtype {rows_t.dtype}")
        lo, hi = int(rows_t.min()), int(rows_t.max())
        if lo < 0 or hi >= n:
            raise ValueError(
                f"rows must index x's {n} rows, values in [0, {n}); got values in [{lo}, {hi}]"
            )
        rows_t = rows_t.to(torch.int64)
        n = rows_t.shape[1]  # each model's training-set length
        if tuple(y_t.shape) != (r, n):
            raise ValueError(
                f"with rows, y must have shape (R, M)=({r}, {n}): the labels of each model's "
                f"rows x[rows[i]]; got shape {tuple(y_t.shape)}"
            )
    if tuple(y_t.shape) not in ((n,), (r, n)):
        raise ValueError(
            f"y must have shape (N,)=({n},) (labels shared by all models) or (R, N)=({r}, {n}) "
            f"(one row of labels per model); got shape {tuple(y_t.shape)}"
        )
    if y_t.is_floating_point() or y_t.is_complex() or y_t.dtype == torch.bool:
        raise ValueError(f"y must hold integer class labels; got dtype {y_t.dtype}")
    lo, hi = int(y_t.min()), int(y_t.max())
    if lo < 0 or hi >= ref.n_classes:
        raise ValueError(
            f"labels must lie in [0, n_classes={ref.n_classes}); got values in [{lo}, {hi}]"
        )
    if ref.batchnorm and n % configs[0].batch_size == 1:
        raise ValueError(
            f"N={n} leaves a last batch of one example with batch_size="
            f"{configs[0].batch_size}; BatchNorm cannot train on it (torch raises "
            "'Expected more than 1 value per channel'): drop one example or change batch_size"
        )
    return x_t, y_t, rows_t


def _linears(m: PaperMLP) -> list[nn.Linear]:
    return [mod for mod in m.hidden if isinstance(mod, nn.Linear)]


def _bns(m: PaperMLP) -> list[nn.BatchNorm1d]:
    return [mod for mod in m.hidden if isinstance(mod, nn.BatchNorm1d)]


def _bn_buffers(bn: nn.BatchNorm1d) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(running_mean, running_var, num_batches_tracked); present: checked in _check_inputs."""
    rm, rv, nbt = bn.running_mean, bn.running_var, bn.num_batches_tracked
    assert rm is not None and rv is not None and nbt is not None
    return rm, rv, nbt


def _model_params(m: PaperMLP) -> list[torch.Tensor]:
    """One model's parameters in flat-buffer order: hidden kernels first (the L2 region),
    then per hidden layer bias (gamma, beta), then the output kernel and bias."""
    lins, bns = _linears(m), _bns(m)
    out: list[torch.Tensor] = [lin.weight for lin in lins]
    for i, lin in enumerate(lins):
        out.append(lin.bias)
        if bns:
            out += [bns[i].weight, bns[i].bias]
    return out + [m.out.weight, m.out.bias]


# --------------------------------------------------------------------------- batched state

# (params, grads, exp_avgs, exp_avg_sqs) of one Adam call, as views of the flat buffers.
_Lists = tuple[list[torch.Tensor], list[torch.Tensor], list[torch.Tensor], list[torch.Tensor]]


class _Stack:
    """R models' parameters, gradients, Adam moments and BN running stats, stacked.

    ``P``, ``G``, ``M``, ``V`` are flat buffers laid out region by region (a region is one
    parameter of all R models, ``(R, *shape)``), hidden kernels first so the L2 region is one
    contiguous slice.
    """

    def __init__(self, models: list[PaperMLP], wds: list[float], dev: torch.device,
                 dtype: torch.dtype = torch.float32) -> None:  # fmt: skip
        self.depth = models[0].depth
        self.batchnorm = models[0].batchnorm
        self.shapes = [tuple(p.shape) for p in _model_params(models[0])]
        per_model = [_model_params(m) for m in models]
        with torch.no_grad():
            self.P = torch.cat([
                torch.stack([ps[k].detach() for ps in per_model]).to(dev, dtype)
                .reshape(-1) for k in range(len(self.shapes))
            ])
            self.M = torch.zeros_like(self.P)
            self.V = torch.zeros_like(self.P)
            self.step = torch.zeros((), dtype=torch.float32, device=dev)
            bufs = [[_bn_buffers(bn) for bn in _bns(m)] for m in models]
            self.rm = [torch.stack([b[i][0] for b in bufs]).to(dev, dtype)
                       for i in range(len(bufs[0]))]
            self.rv = [torch.stack([b[i][1] for b in bufs]).to(dev, dtype)
                       for i in range(len(bufs[0]))]
        self.nbt = [int(b[0][2]) if b else 0 for b in bufs]
        self.minus_one = torch.full((1, 1, 1), -1.0, device=dev, dtype=dtype)
        self.fused = True  # torch._fused_adam_ until it proves unavailable
        self.steps_done = 0
        self._setup(len(models), wds)

    def _setup(self, r: int, wds: list[float]) -> None:
        self.R = r
        self.per_layer = 3 if self.batchnorm else 1  # regions per hidden layer after kernels
        self.G = torch.zeros_like(self.P)
        self.sizes = [r * int(np.prod(s)) for s in self.shapes]
        self.offsets = np.concatenate([[0], np.cumsum(self.sizes)]).tolist()
        self.p = self.views(self.P)
        self.g = self.views(self.G)
        self.m = self.views(self.M)
        self.v = self.views(self.V)
        self.wds = torch.tensor(wds, dtype=self.P.dtype, device=self.P.device)  # (R,)
        self.any_wd = any(w != 0 for w in wds)
        # Adam groups by weight decay: the coupled L2 gradient 2 wd W on the hidden kernels is
        # Adam's own (coupled) ``weight_decay`` term, so it costs no extra pass. Each group is
        # (2 wd, params, grads, exp_avgs, exp_avg_sqs) as lists of views of the flat buffers.
        kern = self.offsets[self.depth]
        groups: dict[float, _Lists] = {
            0.0: ([self.P[kern:]], [self.G[kern:]], [self.M[kern:]], [self.V[kern:]])
        }
        runs, start = [], 0  # maximal runs of stack positions with equal weight decay
        for pos in range(1, r + 1):
            if pos == r or wds[pos] != wds[start]:
                runs.append((start, pos))
                start = pos
        for lo, hi in runs:
            lists = groups.setdefault(2.0 * wds[lo], ([], [], [], []))
            for k in range(self.depth):
                for dst, src in zip(lists, (self.p, self.g, self.m, self.v), strict=True):
                    dst.append(src[k][lo:hi].reshape(-1))
        self.adam_groups = list(groups.items())

    def views(self, flat: torch.Tensor) -> list[torch.Tensor]:
        return [flat[self.offsets[k]:self.offsets[k + 1]].view(self.R, *s)
                for k, s in enumerate(self.shapes)]

    def keep(self, idx: list[int], wds: list[float]) -> None:
        """Drop every model not in ``idx`` (positions in the current stack)."""
        sel = torch.tensor(idx, device=self.P.device)
        for name in ("P", "M", "V"):
            flat = getattr(self, name)
            setattr(self, name, torch.cat([v.index_select(0, sel).reshape(-1)
                                           for v in self.views(flat)]))
        self.rm = [t.index_select(0, sel) for t in self.rm]
        self.rv = [t.index_select(0, sel) for t in self.rv]
        self.nbt = [self.nbt[i] for i in idx]
        self._setup(len(idx), wds)

    @torch.no_grad()
    def write_back(self, pos: int, model: PaperMLP) -> None:
        """Copy the stacked state of position ``pos`` into ``model``."""
        for param, v in zip(_model_params(model), self.p, strict=True):
            param.copy_(v[pos])
        for i, bn in enumerate(_bns(model)):
            rm, rv, nbt = _bn_buffers(bn)
            rm.copy_(self.rm[i][pos])
            rv.copy_(self.rv[i][pos])
            nbt.fill_(self.nbt[pos] + self.steps_done)

    def adam(self, lr: float, betas: tuple[float, float], eps: float) -> None:
        """One Adam step (``torch.optim.Adam``'s formula, coupled weight decay = the L2 term)
        on all models at once: one fused elementwise kernel per distinct weight decay."""
        self.step += 1
        for wd2, (params, grads, exp_avgs, exp_avg_sqs) in self.adam_groups:
            if self.fused:
                try:
                    torch._fused_adam_(
                        params, grads, exp_avgs, exp_avg_sqs, [], [self.step] * len(params),
                        lr=lr, beta1=betas[0], beta2=betas[1], weight_decay=wd2, eps=eps,
                        amsgrad=False, maximize=False,
                    )
                    continue
                except (AttributeError, NotImplementedError, RuntimeError):
                    self.fused = False  # no fused kernel for this device in this torch build
            t = float(self.step)  # the same formula, unfused
            for p, g, m, v in zip(params, grads, exp_avgs, exp_avg_sqs, strict=True):
                g = g.add(p, alpha=wd2) if wd2 else g
                m.lerp_(g, 1 - betas[0])
                v.mul_(betas[1]).addcmul_(g, g, value=1 - betas[1])
                denom = (v.sqrt() / (1 - betas[1] ** t) ** 0.5).add_(eps)
                p.addcdiv_(m, denom, value=-lr / (1 - betas[0] ** t))

    def l2(self) -> torch.Tensor:
        """Per-model sum of squared hidden kernels, (R,)."""
        total = torch.linalg.vector_norm(self.p[0].reshape(self.R, -1), dim=1).square()
        for k in range(1, self.depth):
            total += torch.linalg.vector_norm(self.p[k].reshape(self.R, -1), dim=1).square()
        return total


def _train_step(
    st: _Stack,
    xb: torch.Tensor,  # (R, B, D), or (B, D) when all models share the batch
    yb: torch.Tensor,  # (R, B)
    bn_momentum: float,
    bn_eps: float,
    drop_p: float,
    drop_gen: torch.Generator | None,
    bn_rule: str = "unbiased",
    keras_loss: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Forward and backward of all R models on their batches: fills ``st.G`` (without the L2
    term) and updates the BN running stats; returns per-model (summed cross-entropy over the
    batch, correct count).

    Activations are kept feature-major, ``(R, features, B)``: every matrix product is then a
    plain ``bmm`` over the stacked ``(R, out, in)`` kernels, and BatchNorm of all R models is
    torch's own kernel on the ``(1, R * features, B)`` view (one channel per model and unit;
    statistics over the batch axis), forward and backward, running stats included. When all
    models train on the same batch (equal seeds), the first layer is one ``mm`` over the
    concatenated kernels ``(R * h, D)`` instead.
    """
    r, b = yb.shape
    shared = xb.dim() == 2
    a = xb.t() if shared else xb.transpose(1, 2)  # (D, B) or (R, D, B)
    inputs = [a]  # input of each Linear, feature-major
    # per hidden layer: (BN input, mean, invstd) or (), ReLU output, dropout mask or None
    saved: list[tuple[tuple[torch.Tensor, ...], torch.Tensor, torch.Tensor | None]] = []
    for i in range(st.depth):
        w, bias = st.p[i], st.p[st.depth + st.per_layer * i]
        if i == 0 and shared:
            z = torch.addmm(bias.reshape(-1, 1), w.reshape(-1, w.shape[2]), a).view(r, -1, b)
        else:
            z = torch.baddbmm(bias.unsqueeze(2), w, a)  # (R, h, B)
        bn_saved: tuple[torch.Tensor, ...] = ()
        if st.batchnorm:
            j = st.depth + st.per_layer * i
            z_in = z.view(1, -1, b)
            if bn_rule == "unbiased":  # PyTorch's running statistics, in its own kernel
                z, mean, invstd = torch.native_batch_norm(
                    z_in, st.p[j + 1].reshape(-1), st.p[j + 2].reshape(-1), st.rm[i].view(-1),
                    st.rv[i].view(-1), True, bn_momentum, bn_eps)
            else:  # batch statistics only; the running ones updated with the rule's factor
                z, mean, invstd = torch.native_batch_norm(
                    z_in, st.p[j + 1].reshape(-1), st.p[j + 2].reshape(-1), None, None, True,
                    bn_momentum, bn_eps)
                var = z_in.var(dim=(0, 2), correction=0) * running_var_factor(bn_rule, b, bn_eps)
                st.rm[i].view(-1).mul_(1 - bn_momentum).add_(mean, alpha=bn_momentum)
                st.rv[i].view(-1).mul_(1 - bn_momentum).add_(var, alpha=bn_momentum)
            bn_saved = (z_in, mean, invstd)
            z = z.view(r, -1, b)
        a = torch.relu_(z)
        relu_out, mask = a, None
        if drop_p > 0:
            mask = torch.empty_like(a).bernoulli_(1 - drop_p, generator=drop_gen)
            mask.mul_(1 / (1 - drop_p))
            a = a * mask
        saved.append((bn_saved, relu_out, mask))
        inputs.append(a)
    wo, bo = st.p[-2], st.p[-1]
    logits = torch.baddbmm(bo.unsqueeze(2), wo, a)  # (R, C, B)
    y3 = yb.unsqueeze(1)
    correct = (logits.max(1).indices == yb).sum(1)  # max: first maximal index, as argmax
    if keras_loss:  # Keras 2.2: -log clip(p_y, 1e-7, 1 - 1e-7), no gradient where clipped
        d = torch.softmax(logits, dim=1)
        d = d.div_(d.sum(1, keepdim=True))
        p_y = d.gather(1, y3)  # (R, 1, B)
        ce_sum = p_y.clamp(KERAS_EPSILON, 1.0 - KERAS_EPSILON).log_().sum((1, 2)).neg_()
        inside = (p_y >= KERAS_EPSILON) & (p_y <= 1.0 - KERAS_EPSILON)
        d.scatter_add_(1, y3, st.minus_one.expand(r, 1, b))
        d.mul_(inside.to(d.dtype).mul_(1.0 / b))
    else:
        logp = torch.log_softmax(logits, dim=1)
        ce_sum = logp.gather(1, y3).sum((1, 2)).neg_()  # (R,)
        # Backward. d logits = (softmax - onehot) / B.
        d = logp.exp_()
        d.scatter_add_(1, y3, st.minus_one.expand(r, 1, b))
        d.mul_(1.0 / b)
    torch.bmm(d, a.transpose(1, 2), out=st.g[-2])
    torch.sum(d, dim=2, out=st.g[-1])
    da = torch.bmm(wo.transpose(1, 2), d)  # (R, h, B)
    for i in reversed(range(st.depth)):
        bn_saved, relu_out, mask = saved[i]
        if mask is not None:
            da = da.mul_(mask)
        dz = torch.ops.aten.threshold_backward(da, relu_out, 0)
        j = st.depth + st.per_layer * i
        if bn_saved:
            z_in, mean, invstd = bn_saved
            dz_in, ggamma, gbeta = torch.ops.aten.native_batch_norm_backward(
                dz.view(1, -1, b), z_in, st.p[j + 1].reshape(-1), None, None, mean, invstd,
                True, bn_eps, [True, True, True])
            st.g[j + 1].view(-1).copy_(ggamma)
            st.g[j + 2].view(-1).copy_(gbeta)
            dz = dz_in.view(r, -1, b)
        if i == 0 and shared:
            gw = st.g[0]
            torch.mm(dz.reshape(-1, b), xb, out=gw.view(-1, gw.shape[2]))
        else:
            torch.bmm(dz, inputs[i].transpose(1, 2), out=st.g[i])
        torch.sum(dz, dim=2, out=st.g[j])
        if i > 0:
            da = torch.bmm(st.p[i].transpose(1, 2), dz)
    return ce_sum, correct


# --------------------------------------------------------------------------- public API


def train_many(
    models: list[PaperMLP],
    x: np.ndarray | torch.Tensor,
    y: np.ndarray | torch.Tensor,
    configs: list[TrainConfig],
    *,
    checkpoints: Iterable[int] = (),
    on_checkpoint: ManyCheckpointFn | None = None,
    device: str | torch.device = "auto",
    rows: np.ndarray | torch.Tensor | None = None,
) -> list[TrainHistory]:
    """Train R models of one architecture together; model ``i`` as ``train`` would train it.

    Per model this is ``train(models[i], xi, y[i] if y.ndim == 2 else y, configs[i],
    checkpoints=checkpoints, on_checkpoint=lambda e, m: on_checkpoint(i, e, m))`` up to float32
    rounding: same initialization (the models' current weights), same batches (each model's
    own shuffle generator, seeded from ``derive_seeds(configs[i].seed)[1]``), same learning-rate
    schedule, coupled L2, Keras-style epoch loss and early stopping. Dropout masks come from one
    shared generator instead of each model's own stream, so with ``dropout > 0`` results are
    statistically, not numerically, equivalent.

    Args:
        models: PaperMLPs with equal ``in_features``, ``width``, ``depth``, ``n_classes``,
            ``batchnorm`` and ``dropout``; trained in place (and moved to ``device``).
        x: ``(N, D)`` inputs shared by all models (``xi = x``), or the pool their rows come
            from when ``rows`` is given (``xi = x[rows[i]]``).
        y: ``(N,)`` labels shared by all models, or ``(R, N)``: row ``i`` for model ``i``;
            with ``rows``, ``(R, M)``: the labels of ``x[rows[i]]``.
        rows: None, or ``(R, M)`` integer indices into ``x``: model ``i`` trains on the M rows
            ``x[rows[i]]`` (e.g. its sample tiled to a common length), gathered batch by batch
            without copying x. Every model then has the same epoch length M.
        configs: one per model. They must agree on epochs, batch_size, lr, betas, eps,
            lr_decay and lr_decay_every; seed, weight_decay, early_stopping, patience and
            min_delta may differ.
        checkpoints: epochs at which to call ``on_checkpoint`` (as in ``train``; the last epoch
            of each model is always called too).
        on_checkpoint: ``on_checkpoint(i, epoch, model)`` with ``models[i]`` holding that
            model's weights and BN running stats after ``epoch`` epochs. The callback may
            evaluate or change the module; training continues from the stacked state, which
            the callback cannot touch. At one epoch models are called in index order.
        device: ``"auto"``, ``"cpu"``, ``"cuda"`` or a torch.device.

    Returns:
        One :class:`TrainHistory` per model. ``EpochRecord.seconds`` is the wall time of the
        shared epoch (all models together); ``TrainHistory.seconds`` runs from the start to the
        model's last epoch.
    """
    models, configs = list(models), list(configs)
    x_t, y_t, rows_t = _check_inputs(models, x, y, configs, rows)
    dev = resolve_device(device)
    wanted = sorted(set(int(c) for c in checkpoints))
    if wanted and wanted[0] < 0:
        raise ValueError(f"checkpoints must be epochs >= 0; got {wanted[0]}")
    r_all = len(models)
    n = x_t.shape[0] if rows_t is None else rows_t.shape[1]  # epoch length of every model
    cfg0 = configs[0]
    bs = cfg0.batch_size
    dtype = configs[0].torch_dtype
    x_t = x_t.detach().to(dev, dtype).contiguous()
    y_t = y_t.to(dev, torch.int64)
    shared_y = y_t.dim() == 1
    y_flat = y_t.reshape(-1)
    for m in models:
        m.to(dev, dtype)
        m.train()
    ref = models[0]
    bn0 = _bns(ref)
    bn_momentum = float(bn0[0].momentum or 0.0) if bn0 else 0.0  # numeric: checked above
    bn_eps = float(bn0[0].eps) if bn0 else 0.0
    drop_p = ref.dropout
    drop_gen = None
    if drop_p > 0:
        seeds = [derive_seeds(c.seed)[2] for c in configs]
        drop_seed = int(np.random.SeedSequence(seeds).generate_state(1)[0])
        drop_gen = torch.Generator(device=dev).manual_seed(drop_seed)
    shuffle_gens = [torch.Generator().manual_seed(derive_seeds(c.seed)[1]) for c in configs]
    # Equal seeds give equal shuffles: then all models see the same batches, gathered once.
    shared_order = len({c.seed for c in configs}) == 1 and rows_t is None
    if rows_t is not None:
        rows_t = rows_t.to(dev)

    histories = [TrainHistory(config=c, device=str(dev)) for c in configs]
    active = list(range(r_all))  # model index of each stack position
    st = _Stack(models, [float(c.weight_decay) for c in configs], dev, dtype)
    bn_rule = ref.bn_running_var
    keras_loss = cfg0.loss == "keras_clipped"
    keras_adam = cfg0.adam_form == "keras"
    best = [float("inf")] * r_all
    wait = [0] * r_all
    last_checkpoint = [-1] * r_all
    t_start = time.perf_counter()

    def checkpoint(pos: int, epoch: int) -> None:
        i = active[pos]
        if on_checkpoint is not None and epoch != last_checkpoint[i]:
            st.write_back(pos, models[i])
            on_checkpoint(i, epoch, models[i])
            models[i].train()
            last_checkpoint[i] = epoch

    if 0 in wanted:
        for pos in range(len(active)):
            checkpoint(pos, 0)
    n_steps = (n + bs - 1) // bs
    x_buf = torch.empty(r_all * min(bs, n), x_t.shape[1], device=dev, dtype=dtype)  # batches
    for epoch in range(cfg0.epochs):
        t0 = time.perf_counter()
        lr = lr_at(epoch, cfg0)
        r = len(active)
        if shared_order:  # one generator stands for all (model 0's, even once it stopped)
            perm = torch.randperm(n, generator=shuffle_gens[0]).to(dev)
            perms = perm.expand(r, n)
        else:
            perms = torch.stack([torch.randperm(n, generator=shuffle_gens[i]) for i in active])
            perms = perms.to(dev)  # (R, N)
        rows = perms if shared_y else perms + (torch.tensor(active, device=dev) * n)[:, None]
        # x rows of each model's epoch order: its own permutation, through its row map if any
        x_rows = perms if rows_t is None else torch.gather(rows_t[active], 1, perms)
        loss_sum = torch.zeros(r, device=dev, dtype=torch.float64)
        correct_sum = torch.zeros(r, device=dev, dtype=torch.int64)
        for step in range(n_steps):
            s = step * bs
            idx = perms[:, s:s + bs]
            b = idx.shape[1]
            if shared_order:
                xb = torch.index_select(x_t, 0, idx[0], out=x_buf[:b])
            else:
                xb = torch.index_select(x_t, 0, x_rows[:, s:s + bs].reshape(-1),
                                        out=x_buf[:r * b])
                xb = xb.view(r, b, -1)
            yb = y_flat.index_select(0, rows[:, s:s + bs].reshape(-1)).view(r, b)
            ce_sum, correct = _train_step(st, xb, yb, bn_momentum, bn_eps, drop_p, drop_gen,
                                          bn_rule, keras_loss)
            # Keras' epoch loss: sum over batches of (mean CE + wd ||W||^2) * batch size.
            loss_sum.add_(ce_sum)
            if st.any_wd:
                loss_sum.add_(st.wds * st.l2(), alpha=b)
            correct_sum.add_(correct)
            eps = (keras_adam_eps(cfg0.eps, cfg0.betas[1], st.steps_done + 1) if keras_adam
                   else cfg0.eps)
            st.adam(lr, cfg0.betas, eps)
            st.steps_done += 1
        losses = (loss_sum / n).tolist()
        accs = (correct_sum.double() / n).tolist()
        seconds = time.perf_counter() - t0
        stopped: list[int] = []
        for pos, i in enumerate(active):
            cfg, hist = configs[i], histories[i]
            rec = EpochRecord(epoch + 1, lr, losses[pos], accs[pos], seconds)
            hist.epochs.append(rec)
            if not np.isfinite(rec.loss):
                for p, j in enumerate(active):  # leave every module at its latest state
                    st.write_back(p, models[j])
                raise FloatingPointError(
                    f"training loss of models[{i}] became {rec.loss} at epoch {epoch + 1}; "
                    f"lower lr (got {cfg.lr}) or check the inputs"
                )
            if epoch + 1 in wanted:
                checkpoint(pos, epoch + 1)
            if cfg.early_stopping:
                if rec.loss - cfg.min_delta < best[i]:
                    best[i], wait[i] = rec.loss, 0
                else:
                    wait[i] += 1
                    if wait[i] >= cfg.patience:
                        hist.stopped_epoch = epoch + 1
                        stopped.append(pos)
        for pos in stopped:
            i = active[pos]
            checkpoint(pos, histories[i].epochs_run)
            st.write_back(pos, models[i])
            histories[i].seconds = time.perf_counter() - t_start
        if stopped:
            keep = [p for p in range(len(active)) if p not in stopped]
            active = [active[p] for p in keep]
            if not active:
                break
            st.keep(keep, [float(configs[i].weight_decay) for i in active])
    for pos, i in enumerate(active):
        checkpoint(pos, histories[i].epochs_run)
        st.write_back(pos, models[i])
        histories[i].seconds = time.perf_counter() - t_start
    return histories


def train_many_sequential(
    models: list[PaperMLP],
    x: np.ndarray | torch.Tensor,
    y: np.ndarray | torch.Tensor,
    configs: list[TrainConfig],
    *,
    checkpoints: Iterable[int] = (),
    on_checkpoint: ManyCheckpointFn | None = None,
    device: str | torch.device = "auto",
    rows: np.ndarray | torch.Tensor | None = None,
) -> list[TrainHistory]:
    """:func:`train_many`'s contract, one model at a time with :func:`train` (the reference)."""
    models, configs = list(models), list(configs)
    x_t, y_t, rows_t = _check_inputs(models, x, y, configs, rows)
    checkpoints = list(checkpoints)
    histories = []
    for i, (m, c) in enumerate(zip(models, configs, strict=True)):
        yi = y_t[i] if y_t.dim() == 2 else y_t
        cb = None
        if on_checkpoint is not None:
            def cb(epoch: int, model: nn.Module, i: int = i) -> None:
                on_checkpoint(i, epoch, model)
        xi = x if rows_t is None else x_t[rows_t[i]]
        histories.append(train(m, xi, yi, c, checkpoints=checkpoints, on_checkpoint=cb,
                               device=device))
    return histories
