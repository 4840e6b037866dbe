"""``python -m numpycnn gradcheck``: every layer type, several shapes, analytic vs numeric.

Each row builds a layer in float64, draws an input away from kinks
(:func:`~numpycnn.gradcheck.distinct_values` for max pooling,
:func:`~numpycnn.gradcheck.away_from_zero` for ReLU), and compares
``backward`` with central differences via :func:`numpycnn.gradcheck.check_layer`.
"""
import numpy as np

from ..dropout import Dropout, Dropout2D
from ..gradcheck import GradcheckResult, away_from_zero, check_layer, check_loss, distinct_values
from ..layers import AdaptiveAvgPool2D, AdaptiveMaxPool2D, AvgPool2D, Conv2D, Dense, Flatten, MaxPool2D, ReLU, Sigmoid, Tanh
from ..losses import LOSSES, MulticlassHinge, NLLLoss, SoftmaxCrossEntropy
from ..normalization import BatchNorm1D, BatchNorm2D, GroupNorm, LayerNorm
from ..residual import ResidualBlock


class _OneMask:
    """Dropout that keeps the mask of its first forward pass, so central differences see one function of x."""

    def draw_mask(self, x_shape):
        return super().draw_mask(x_shape) if self.keep is None else self.keep


class OneMaskDropout(_OneMask, Dropout):
    pass


class OneMaskDropout2D(_OneMask, Dropout2D):
    pass


def cases(rng):
    """``(description, layer, input)`` for every layer type over several shapes."""
    out = []
    for (N, C, H, W, F, K, s, p) in [(2, 3, 7, 7, 4, 3, 1, 0), (2, 2, 8, 6, 3, 3, 2, 1), (1, 3, 9, 9, 2, 5, 1, 2),
                                     (2, 1, 6, 6, 2, 1, 1, 0), (2, 2, 7, 5, 3, 4, 3, 1)]:
        out.append((f"Conv2D C={C} F={F} k={K} s={s} p={p} x={N}x{C}x{H}x{W}",
                    Conv2D(C, F, K, s, p, rng=rng, dtype=np.float64), rng.standard_normal((N, C, H, W))))
    for desc, options, (N, C, H, W, F) in [
            ("k=(3, 2) s=(2, 1) p=(1, 0) dilation=(2, 1) groups=2", dict(kernel_size=(3, 2), stride=(2, 1), pad=(1, 0),
                                                                       dilation=(2, 1), groups=2), (2, 4, 9, 8, 6)),
            ("k=4 pad='same' dilation=2 depthwise, no bias", dict(kernel_size=4, pad="same", dilation=2, groups=3,
                                                                  bias=False), (2, 3, 7, 6, 3))]:
        out.append((f"Conv2D C={C} F={F} {desc} x={N}x{C}x{H}x{W}",
                    Conv2D(C, F, rng=rng, dtype=np.float64, **options), rng.standard_normal((N, C, H, W))))
    out.append(("MaxPool2D k=(3, 2) s=(2, 1) p=1 dilation=(1, 2) ceil_mode x=2x3x8x7",
                MaxPool2D((3, 2), (2, 1), 1, dilation=(1, 2), ceil_mode=True), distinct_values(rng, (2, 3, 8, 7))))
    out.append(("AvgPool2D k=3 s=2 p=1 ceil_mode count_include_pad=False x=2x2x8x8",
                AvgPool2D(3, 2, 1, ceil_mode=True, count_include_pad=False), rng.standard_normal((2, 2, 8, 8))))
    out.append(("AdaptiveAvgPool2D 1 (global average) x=2x3x4x6", AdaptiveAvgPool2D(1), rng.standard_normal((2, 3, 4, 6))))
    out.append(("AdaptiveMaxPool2D (2, 3) x=2x3x4x6", AdaptiveMaxPool2D((2, 3)), distinct_values(rng, (2, 3, 4, 6))))
    for (k, s, p, shape) in [(2, 2, 0, (2, 3, 8, 8)), (3, 2, 1, (2, 2, 7, 7)), (3, 1, 0, (1, 2, 5, 6))]:
        out.append((f"MaxPool2D k={k} s={s} p={p} x={'x'.join(map(str, shape))}", MaxPool2D(k, s, p),
                    distinct_values(rng, shape)))
        out.append((f"AvgPool2D k={k} s={s} p={p} x={'x'.join(map(str, shape))}", AvgPool2D(k, s, p),
                    rng.standard_normal(shape)))
    for shape in [(3, 5), (2, 3, 4, 4)]:
        out.append((f"ReLU x={shape}", ReLU(), away_from_zero(rng, shape)))
        out.append((f"Sigmoid x={shape}", Sigmoid(), rng.standard_normal(shape) * 3))
        out.append((f"Tanh x={shape}", Tanh(), rng.standard_normal(shape) * 2))
    out.append(("Flatten x=(2, 3, 4, 4)", Flatten(), rng.standard_normal((2, 3, 4, 4))))
    for (i, o) in [(5, 3), (12, 7)]:
        out.append((f"Dense {i}->{o}", Dense(i, o, rng=rng, dtype=np.float64), rng.standard_normal((4, i))))
    out.append(("Dense 5->3 no bias", Dense(5, 3, bias=False, rng=rng, dtype=np.float64), rng.standard_normal((4, 5))))
    for desc, layer, shape in [("LayerNorm (3, 4, 4)", LayerNorm((3, 4, 4), dtype=np.float64), (2, 3, 4, 4)),
                               ("GroupNorm G=2 C=4", GroupNorm(2, 4, dtype=np.float64), (2, 4, 3, 3))]:
        for key in layer.params:
            layer.params[key] = layer.params[key] + 0.5 * rng.standard_normal(layer.params[key].shape)
        out.append((f"{desc} x={shape}", layer, 2 * rng.standard_normal(shape) + 1))
    for training in (True, False):
        mode = "train" if training else "eval"
        for desc, layer, shape in [("BatchNorm1D", BatchNorm1D(5, dtype=np.float64), (6, 5)),
                                   ("BatchNorm2D", BatchNorm2D(3, dtype=np.float64), (2, 3, 4, 4))]:
            layer.training = training
            layer.params["gamma"] = 1 + 0.5 * rng.standard_normal(layer.num_features)
            if not training:
                layer.buffers["running_mean"] = rng.standard_normal(layer.num_features)
            out.append((f"{desc} {mode} x={shape}", layer, 2 * rng.standard_normal(shape) + 1))
    out.append(("Dropout p=0.5 (one mask) x=(4, 6)", OneMaskDropout(0.5, seed=1), rng.standard_normal((4, 6))))
    out.append(("Dropout2D p=0.5 (one mask) x=(3, 4, 3, 3)", OneMaskDropout2D(0.5, seed=2),
                rng.standard_normal((3, 4, 3, 3))))
    block = ResidualBlock([("c1", Conv2D(3, 3, 3, 1, 1, rng=rng, dtype=np.float64)), ("tanh", Tanh()),
                           ("c2", Conv2D(3, 3, 3, 1, 1, rng=rng, dtype=np.float64))])
    out.append(("ResidualBlock identity x=(2, 3, 5, 5)", block, rng.standard_normal((2, 3, 5, 5))))
    block = ResidualBlock([("c1", Conv2D(3, 4, 3, 2, 1, rng=rng, dtype=np.float64)), ("tanh", Tanh())],
                          projection=Conv2D(3, 4, 1, 2, 0, rng=rng, dtype=np.float64))
    out.append(("ResidualBlock projection x=(2, 3, 6, 6)", block, rng.standard_normal((2, 3, 6, 6))))
    return out


def _guarded(run, tol):
    """Run one check; an exception (e.g. an unfinished exercise) becomes a failed row, not a crash."""
    try:
        return run()
    except Exception as e:  # noqa: BLE001 - report, don't crash, so students see every row
        return GradcheckResult(float("inf"), f"{type(e).__name__}: {str(e)[:60]}", {"-": float("inf")}, tol)


def gradcheck_table(seed=0, verbose=True, tol=1e-7):
    """Run every case; print a table; return True when all pass."""
    rng = np.random.default_rng(seed)
    rows = []
    for desc, layer, x in cases(rng):
        rows.append((desc, _guarded(lambda: check_layer(layer, x, seed=seed, tol=tol), tol)))
    for name, cls in sorted(LOSSES.items()):
        z = rng.standard_normal((6, 5)) * 3
        y = rng.integers(0, 5, size=6)
        rows.append((f"{cls.__name__} N=6 K=5", _guarded(lambda: check_loss(cls(), z, y, tol=tol), tol)))
    weight = rng.random(5) + 0.5
    for desc, loss in [("SoftmaxCrossEntropy weight label_smoothing=0.1", SoftmaxCrossEntropy(weight, label_smoothing=0.1)),
                       ("NLLLoss weight reduction='sum'", NLLLoss(weight, reduction="sum")),
                       ("MulticlassHinge p=2 weight", MulticlassHinge(p=2, weight=weight))]:
        z = rng.standard_normal((6, 5)) * 3
        y = rng.integers(0, 5, size=6)
        rows.append((f"{desc} N=6 K=5", _guarded(lambda: check_loss(loss, z, y, tol=tol), tol)))
    if verbose:
        w = max(len(d) for d, _ in rows)
        tw = max([len(", ".join(r.errors)) for _, r in rows] + [len("tensors checked")])
        print(f"{'layer / case':<{w}}  {'tensors checked':<{tw}}  {'max rel error':>13}  result")
        print("-" * (w + tw + 28))
        for desc, r in rows:
            status = "pass" if r.passed else ("FAIL" if np.isfinite(r.max_rel_error) else f"ERROR {r.where}")
            print(f"{desc:<{w}}  {', '.join(r.errors):<{tw}}  {r.max_rel_error:>13.2e}  {status}")
        n_ok = sum(r.passed for _, r in rows)
        print(f"\n{n_ok}/{len(rows)} passed (float64 central differences, h = 1e-6, tolerance {tol:.0e})")
    return all(r.passed for _, r in rows)
