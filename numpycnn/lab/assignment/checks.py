"""The autograder's checks, one list per exercise: ``CHECKS[exercise id] = (points, [check, ...])``.

A check is a function of a :class:`~numpycnn.lab.assignment.grade.StudentContext` ``ctx``. It
computes the expected result, runs the student's version inside ``with ctx.student():`` and
asserts with a message that names what differs (the quantity, the entry or the step, the value
got and the value wanted). Checks are gradient checks (float64 central differences), loop
references that are not exercises (``conv2d_naive``, ``maxpool2d_naive``, the loops below),
closed forms and property tests, with fixed seeds — so the student's own ``assignment check``
runs them exactly as the grader does. A check that needs the instructor's reference solution
for its expected value is marked :func:`needs_reference` (only the grader runs it); the optimizer
checks use the reference in the grader and ``torch.optim`` (when installed) in the local check.
"""
import numpy as np

DEFAULT_POINTS = 5


class Skip(Exception):
    """Raised by a check that cannot run here (e.g. the local check without PyTorch); not counted."""


def needs_reference(check):
    """Mark a check that compares with the instructor's reference solution: the student's local
    ``assignment check`` skips it (and says so); only the grader runs it."""
    check.needs_reference = True
    return check


def assert_close(got, want, what, tol=1e-9):
    """Assert ``got`` equals ``want`` to relative error ``tol``; the message names the worst entry."""
    got = np.asarray(got)
    want = np.asarray(want)
    assert got.shape == want.shape, f"{what}: shape {got.shape}, expected {want.shape}"
    diff = np.abs(got - want)
    err = diff.max(initial=0) / max(np.abs(want).max(initial=0), 1e-12)
    if not err < tol:                 # also catches NaN
        at = np.unravel_index(np.nanargmax(np.where(np.isnan(diff), np.inf, diff)), diff.shape) if diff.size else ()
        where = f"[{', '.join(str(int(i)) for i in at)}]" if at else ""
        raise AssertionError(f"{what}: got {_number(got[at])} at {where or 'the value'}, want {_number(want[at])} "
                             f"(relative error {err:.2e}, allowed {tol:.0e})")


def _number(v):
    """A plain printed number (``-12.7351564893`` rather than ``np.float64(-12.73515648931694)``)."""
    try:
        return f"{float(v):.12g}"
    except (TypeError, ValueError):
        return repr(v)


def assert_same_trajectory(got, want, what, tol=1e-12):
    """``got`` / ``want``: lists (one per step) of dicts quantity -> array. The message names the first
    step and quantity that differ ("α_t after step 3: got …, want …")."""
    for k, (g, w) in enumerate(zip(got, want), 1):
        for name in w:
            try:
                assert_close(g[name], w[name], f"{name} after step {k}", tol)
            except AssertionError as e:
                ok = f" (steps 1–{k - 1} matched)" if k > 1 else ""
                raise AssertionError(f"{e}{ok}") from None
    assert len(got) == len(want), f"{len(got)} steps recorded, expected {len(want)}"


# -- im2col --------------------------------------------------------------------------
CONFIGS = [((2, 3, 7, 6), 3, 2, 1, 1), ((1, 2, 5, 5), 2, 2, 2, 0), ((2, 1, 6, 7), 4, 3, 1, 2)]


def _one_hot_filters(C, KH, KW):
    """``K = C*KH*KW`` filters, filter ``k`` one-hot at flat position ``k``: convolving with them
    copies every window entry to its own output channel — the loop definition of im2col."""
    K = C * KH * KW
    return np.eye(K).reshape(K, C, KH, KW)


def im2col_matches_the_loop_definition(ctx):
    from numpycnn.conv import conv2d_naive
    for k, (shape, kh, kw, s, p) in enumerate(CONFIGS):
        x = np.random.default_rng(k).standard_normal(shape)          # seeded: the same verdict every run
        E = _one_hot_filters(shape[1], kh, kw)
        out = conv2d_naive(x, E, np.zeros(len(E)), s, p)                   # (N, K, OH, OW)
        want = out.transpose(0, 2, 3, 1).reshape(-1, len(E))               # row (n, i, j), column (c, p, q)
        with ctx.student():
            from numpycnn import im2col as mod
            got = mod.im2col(x, kh, kw, s, p)
        assert_close(got, want, f"im2col(x of shape {shape}, KH={kh}, KW={kw}, stride={s}, pad={p})")


def col2im_is_adjoint_of_im2col(ctx):
    from numpycnn import im2col as mod
    for shape, kh, kw, s, p in CONFIGS:
        x = np.random.default_rng(1).standard_normal(shape)
        cols = mod.im2col(x, kh, kw, s, p)
        y = np.random.default_rng(2).standard_normal(cols.shape)
        with ctx.student():
            lhs, rhs = np.sum(mod.im2col(x, kh, kw, s, p) * y), np.sum(x * mod.col2im(y, shape, kh, kw, s, p))
        assert abs(lhs - rhs) <= 1e-9 * abs(lhs), f"<im2col(x), y> = {lhs} but <x, col2im(y)> = {rhs}"


def col2im_matches_the_loop_backward(ctx):
    from numpycnn.conv import conv2d_backward_naive
    from numpycnn.im2col import conv_output_size
    for shape, kh, kw, s, p in CONFIGS:
        OH, OW = conv_output_size(shape[2], kh, s, p), conv_output_size(shape[3], kw, s, p)
        E = _one_hot_filters(shape[1], kh, kw)
        y = np.random.default_rng(3).standard_normal((shape[0] * OH * OW, len(E)))
        dout = y.reshape(shape[0], OH, OW, len(E)).transpose(0, 3, 1, 2)
        want, _, _ = conv2d_backward_naive(dout, np.zeros(shape), E, s, p)
        with ctx.student():
            from numpycnn import im2col as mod
            got = mod.col2im(y, shape, kh, kw, s, p)
        assert_close(got, want, f"col2im(cols, x_shape={shape}, KH={kh}, KW={kw}, stride={s}, pad={p})")


# -- convolution ---------------------------------------------------------------------
CONV = [((2, 3, 7, 7), (4, 3, 3, 3), 1, 0), ((2, 2, 8, 6), (3, 2, 3, 3), 2, 1), ((1, 3, 9, 9), (2, 3, 5, 5), 1, 2)]


def conv_forward_matches_naive_loop(ctx):
    from numpycnn.conv import conv2d_naive
    for xs, ws, s, p in CONV:
        r = np.random.default_rng(4)
        x, w, b = r.standard_normal(xs), r.standard_normal(ws), r.standard_normal(ws[0])
        with ctx.student():
            from numpycnn import conv
            out, _ = conv.conv2d_forward(x, w, b, s, p)
        assert_close(out, conv2d_naive(x, w, b, s, p), f"conv2d_forward out (x {xs}, w {ws}, stride {s}, pad {p})")


def conv_backward_matches_naive_loop(ctx):
    """dx, dw, db on the cache of conv2d_forward (the student's own when written, see ctx.cache_origin)."""
    from numpycnn import conv
    for xs, ws, s, p in CONV:
        r = np.random.default_rng(5)
        x, w, b = r.standard_normal(xs), r.standard_normal(ws), r.standard_normal(ws[0])
        dout = r.standard_normal(conv.conv2d_naive(x, w, b, s, p).shape)
        want = conv.conv2d_backward_naive(dout, x, w, s, p)
        with ctx.student():
            _, cache = conv.conv2d_forward(x, w, b, s, p)
            got = conv.conv2d_backward(dout, cache)
        assert isinstance(got, tuple) and len(got) == 3, \
            f"conv2d_backward must return (dx, dw, db); got {type(got).__name__} of length {len(got)}"
        for g, wnt, name in zip(got, want, ("dx", "dw", "db")):
            assert_close(g, wnt, f"conv2d_backward {name} (x {xs}, w {ws}, stride {s}, pad {p})")


def conv_backward_passes_gradcheck(ctx):
    """Central differences of the loop convolution vs the student's backward (float64)."""
    from numpycnn import conv
    from numpycnn.gradcheck import numerical_gradient, relative_error
    r = np.random.default_rng(6)
    x, w, b = r.standard_normal((1, 2, 5, 4)), r.standard_normal((2, 2, 3, 3)), r.standard_normal(2)
    R = r.standard_normal(conv.conv2d_naive(x, w, b, 2, 1).shape)
    with ctx.student():
        _, cache = conv.conv2d_forward(x, w, b, 2, 1)
        dx, dw, db = conv.conv2d_backward(R, cache)
    def f():
        return float(np.sum(conv.conv2d_naive(x, w, b, 2, 1) * R))
    for name, arr, analytic in (("dx", x, dx), ("dw", w, dw), ("db", b, db)):
        numeric = numerical_gradient(f, arr)          # perturbs x, w or b in place
        err = relative_error(np.asarray(analytic), numeric)
        assert err < 1e-7, f"gradient check of {name}: relative error {err:.2e} (allowed 1e-07)"


# -- pooling -------------------------------------------------------------------------
def _distinct(shape, seed=8):
    n = int(np.prod(shape))
    return (np.random.default_rng(seed).permutation(n).reshape(shape) / n - 0.5) * 4


def _ties(shape, seed=9):
    """Values from {-1, 0, 1}: most windows hold their maximum more than once."""
    return np.random.default_rng(seed).integers(-1, 2, shape).astype(np.float64)


def _maxpool_backward_loop(dout, x, K, stride, pad):
    """Each dout value goes to the FIRST maximum of its window (row-major order), padding never chosen."""
    N, C, H, W = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)), constant_values=-np.inf)
    dxp = np.zeros_like(xp)
    for n in range(N):
        for c in range(C):
            for i in range(dout.shape[2]):
                for j in range(dout.shape[3]):
                    win = xp[n, c, i * stride:i * stride + K, j * stride:j * stride + K]
                    p, q = np.unravel_index(np.argmax(win), win.shape)     # argmax: the first maximum
                    dxp[n, c, i * stride + p, j * stride + q] += dout[n, c, i, j]
    return dxp[:, :, pad:pad + H, pad:pad + W]


POOL = [((2, 3, 8, 8), 2, 2, 0), ((2, 2, 7, 7), 3, 2, 1)]


def maxpool_forward_matches_naive_loop(ctx):
    from numpycnn.pooling import maxpool2d_naive
    for shape, k, s, p in POOL:
        for x in (_distinct(shape), _ties(shape)):
            with ctx.student():
                from numpycnn import pooling
                out, _ = pooling.maxpool2d_forward(x, k, s, p)
            assert_close(out, maxpool2d_naive(x, k, s, p),
                         f"maxpool2d_forward out (x {shape}, K={k}, stride {s}, pad {p})")


def maxpool_layer_passes_gradcheck(ctx):
    """A textbook ``MaxPool2D`` (the layer that runs maxpool2d_forward / maxpool2d_backward) vs central differences."""
    from numpycnn.gradcheck import check_layer
    from numpycnn.layers import MaxPool2D
    for shape, k, s, p in POOL:
        with ctx.student():
            res = check_layer(MaxPool2D(k, s, p, implementation="textbook"), _distinct(shape), seed=0)
        assert res.passed, f"gradient check failed: {res}"


def maxpool_backward_sends_ties_to_the_first_maximum(ctx):
    from numpycnn import pooling
    for shape, k, s, p in POOL:
        x = _ties(shape)
        dout = np.random.default_rng(10).standard_normal(pooling.maxpool2d_naive(x, k, s, p).shape)
        with ctx.student():
            _, cache = pooling.maxpool2d_forward(x, k, s, p)
            got = pooling.maxpool2d_backward(dout, cache)
        assert_close(got, _maxpool_backward_loop(dout, x, k, s, p),
               f"maxpool2d_backward dx with tied maxima (x {shape}, K={k}, stride {s}, pad {p}; the whole gradient "
               f"of a window goes to its first maximum, as the docstring says)")


# -- dense and activations -----------------------------------------------------------
def _dense_with_mask(seed=19):
    """A Dense layer with a 0/1 mask on W whose params still hold values under the mask (as after
    loading a checkpoint): the forward pass must use ``W * M``, the backward must mask ``dW``."""
    from numpycnn.layers import Dense
    r = np.random.default_rng(seed)
    layer = Dense(5, 3, rng=r, dtype=np.float64)
    M = (r.random((3, 5)) < 0.5).astype(np.float64)
    layer.set_mask("W", M)
    layer.params["W"] = r.standard_normal((3, 5))            # nonzero under the mask, too
    layer.params["b"] = r.standard_normal(3)
    return layer, M


def dense_forward_is_affine(ctx):
    from numpycnn.layers import Dense
    layer = Dense(5, 3, rng=np.random.default_rng(9), dtype=np.float64)
    layer.params["b"] = np.random.default_rng(10).standard_normal(3)
    x = np.random.default_rng(11).standard_normal((4, 5))
    with ctx.student():
        got = layer.forward(x)
    assert_close(got, x @ layer.params["W"].T + layer.params["b"], "Dense.forward y = x @ W.T + b")


def dense_forward_uses_the_masked_weight(ctx):
    layer, M = _dense_with_mask()
    x = np.random.default_rng(20).standard_normal((4, 5))
    with ctx.student():
        got = layer.forward(x)
    assert_close(got, x @ (layer.params["W"] * M).T + layer.params["b"],
           "Dense.forward with a mask on W: y = x @ (W * M).T + b (use self.effective('W'))")


def dense_layer_passes_gradcheck(ctx):
    from numpycnn.layers import Dense
    _layer_gradcheck(lambda: Dense(6, 4, rng=np.random.default_rng(12), dtype=np.float64),
                     lambda: np.random.default_rng(13).standard_normal((3, 6)))(ctx)


def dense_backward_masks_dW_and_uses_the_masked_weight(ctx):
    layer, M = _dense_with_mask(21)
    x, dout = np.random.default_rng(22).standard_normal((4, 5)), np.random.default_rng(23).standard_normal((4, 3))
    with ctx.student():
        layer.forward(x)
        dx = layer.backward(dout)
    assert_close(dx, dout @ (layer.params["W"] * M), "Dense.backward dx with a mask on W: dx = dout @ (W * M)")
    assert_close(layer.grads["W"], (dout.T @ x) * M,
           "Dense.backward grads['W'] with a mask on W: dW = (dout.T @ x) * M (use self._set_grad)")
    assert_close(layer.grads["b"], dout.sum(axis=0), "Dense.backward grads['b'] = dout.sum(axis=0)")


def _layer_gradcheck(make_layer, make_x):
    def check(ctx):
        from numpycnn.gradcheck import check_layer
        with ctx.student():
            res = check_layer(make_layer(), make_x(), seed=0)
        assert res.passed, f"gradient check failed: {res}"
    return check


def _away_from_zero(shape, seed):
    x = np.random.default_rng(seed).standard_normal(shape)
    return np.where(np.abs(x) < 0.1, 0.1 * np.sign(x + 1e-12) + x, x)


def relu_forward_is_max_with_zero(ctx):
    from numpycnn.layers import ReLU
    x = _away_from_zero((3, 4, 2, 2), 14)
    with ctx.student():
        got = ReLU().forward(x)
    assert_close(got, np.maximum(x, 0), "ReLU.forward")


def relu_layer_passes_gradcheck(ctx):
    from numpycnn.layers import ReLU
    _layer_gradcheck(ReLU, lambda: _away_from_zero((3, 5), 15))(ctx)


def sigmoid_forward_is_logistic(ctx):
    from numpycnn.layers import Sigmoid
    x = np.random.default_rng(16).standard_normal((3, 7)) * 5
    with ctx.student():
        got = Sigmoid().forward(x)
    assert_close(got, 1 / (1 + np.exp(-x)), "Sigmoid.forward")
    with ctx.student():
        big = Sigmoid().forward(np.array([[-800.0, 800.0]]))
    assert np.all(np.isfinite(big)) and big[0, 0] == 0 and big[0, 1] == 1, "Sigmoid must not overflow at ±800"


def sigmoid_layer_passes_gradcheck(ctx):
    from numpycnn.layers import Sigmoid
    _layer_gradcheck(Sigmoid, lambda: np.random.default_rng(17).standard_normal((3, 5)) * 3)(ctx)


# -- optimizers ----------------------------------------------------------------------
class _Model:
    def __init__(self, p, g):
        self.p, self.g = p, g

    def named_parameters(self):
        yield "p", self.p, self.g


def _gradients(steps=10):
    r = np.random.default_rng(18)
    return r.standard_normal((3, 4)), [r.standard_normal((3, 4)) for _ in range(steps)]


def _trajectory(make_opt, steps=10):
    """The parameter after each of ``steps`` updates (fixed seeded gradients)."""
    p0, grads = _gradients(steps)
    model = _Model(p0.copy(), np.zeros_like(p0))
    opt = make_opt(model)
    out = []
    for g in grads:
        model.g[...] = g
        opt.step()
        out.append({"parameter p": model.p.copy()})
    return out


def _torch_trajectory(torch_opt, steps=10):
    """The same trajectory from ``torch.optim`` (float64): the local check's oracle."""
    try:
        import torch
    except ImportError:
        raise Skip("needs PyTorch locally (pip install torch==2.13.0); the grader compares with the reference") \
            from None
    p0, grads = _gradients(steps)
    p = torch.tensor(p0, dtype=torch.float64, requires_grad=True)
    opt = torch_opt(torch, [p])
    out = []
    for g in grads:
        p.grad = torch.tensor(g, dtype=torch.float64)
        opt.step()
        out.append({"parameter p": p.detach().numpy().copy()})
    return out


def _optimizer_check(make_opt, torch_opt, label):
    def check(ctx):
        want = _trajectory(make_opt) if ctx.mode == "grader" else _torch_trajectory(torch_opt)
        with ctx.student():
            got = _trajectory(make_opt)
        assert_same_trajectory(got, want, label)
    check.__name__ = f"{label.replace(' ', '_').replace('+', 'plus_')}_matches_torch_rule_over_10_steps"
    return check


def _opts():
    from numpycnn import optim
    return optim


POINTS_CHECKS = {
    "im2col.im2col": (5, [im2col_matches_the_loop_definition]),
    "im2col.col2im": (5, [col2im_matches_the_loop_backward, col2im_is_adjoint_of_im2col]),
    "conv.conv2d_forward": (10, [conv_forward_matches_naive_loop]),
    "conv.conv2d_backward": (10, [conv_backward_matches_naive_loop, conv_backward_passes_gradcheck]),
    "pooling.maxpool2d_forward": (5, [maxpool_forward_matches_naive_loop]),
    "pooling.maxpool2d_backward": (5, [maxpool_layer_passes_gradcheck,
                                       maxpool_backward_sends_ties_to_the_first_maximum]),
    "layers.Dense.forward": (3, [dense_forward_is_affine, dense_forward_uses_the_masked_weight]),
    "layers.Dense.backward": (5, [dense_layer_passes_gradcheck, dense_backward_masks_dW_and_uses_the_masked_weight]),
    "layers.ReLU.forward": (2, [relu_forward_is_max_with_zero]),
    "layers.ReLU.backward": (3, [relu_layer_passes_gradcheck]),
    "layers.Sigmoid.forward": (2, [sigmoid_forward_is_logistic]),
    "layers.Sigmoid.backward": (3, [sigmoid_layer_passes_gradcheck]),
    "optim.SGD.update": (4, [
        _optimizer_check(lambda m: _opts().SGD(m, 0.1), lambda t, p: t.optim.SGD(p, lr=0.1), "SGD"),
        _optimizer_check(lambda m: _opts().Momentum(m, 0.1, nesterov=True),
                         lambda t, p: t.optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True), "Nesterov")]),
    "optim.RMSprop.update": (4, [
        _optimizer_check(lambda m: _opts().RMSprop(m, 0.01, alpha=0.9),
                         lambda t, p: t.optim.RMSprop(p, lr=0.01, alpha=0.9, eps=1e-8), "RMSprop")]),
    "optim.Adam.update": (4, [
        _optimizer_check(lambda m: _opts().Adam(m, 0.01, weight_decay=0.1),
                         lambda t, p: t.optim.Adam(p, lr=0.01, weight_decay=0.1, eps=1e-8), "Adam")]),
}



def _collect_checks():
    """Core checks plus ``CHECKS`` from every ``numpycnn/lab/assignment/checks_<technique>.py``.

    Each technique keeps the checks of its marked regions in its own module, so adding a
    technique never edits this file.
    """
    import importlib
    import os
    import pkgutil
    checks = dict(POINTS_CHECKS)
    here = [os.path.dirname(os.path.abspath(__file__))]     # this folder (not ``from . import __path__``: a circle)
    for info in sorted(pkgutil.iter_modules(here), key=lambda i: i.name):
        if info.name.startswith("checks_"):
            module = importlib.import_module(f"{__package__}.{info.name}")
            checks.update(module.CHECKS)
    return checks


#: exercise id -> (points, list of checks)
CHECKS = _collect_checks()
