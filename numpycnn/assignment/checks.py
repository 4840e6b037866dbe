"""The autograder's checks, one list per exercise: ``CHECKS[exercise id] = (points, [check, ...])``.

A check is a function of a :class:`~numpycnn.assignment.grade.StudentContext`
``ctx``. It computes what it needs with the reference package, then runs the
student's version inside ``with ctx.student():`` and asserts. Checks are
gradient checks (float64 central differences) and property tests with fixed seeds.
"""
import numpy as np

DEFAULT_POINTS = 5


def _rng(seed=0):
    return np.random.default_rng(seed)


def _close(got, want, what, tol=1e-9):
    got = np.asarray(got)
    assert got.shape == np.shape(want), f"{what}: shape {got.shape}, expected {np.shape(want)}"
    err = np.abs(got - want).max(initial=0) / max(np.abs(want).max(initial=0), 1e-12)
    assert err < tol, f"{what}: relative error {err:.2e} (allowed {tol:.0e})"


# -- im2col --------------------------------------------------------------------------
CONFIGS = [((2, 3, 7, 6), 3, 2, 1, 1), ((1, 2, 5, 5), 2, 2, 2, 0), ((2, 1, 6, 7), 4, 3, 1, 2)]


def im2col_matches_reference(ctx):
    from numpycnn.im2col import im2col
    for shape, kh, kw, s, p in CONFIGS:
        x = _rng().standard_normal(shape)
        want = im2col(x, kh, kw, s, p)
        with ctx.student():
            from numpycnn import im2col as mod
            got = mod.im2col(x, kh, kw, s, p)
        _close(got, want, f"im2col{shape, kh, kw, s, p}")


def col2im_is_adjoint_of_im2col(ctx):
    from numpycnn import im2col as mod
    for shape, kh, kw, s, p in CONFIGS:
        x = _rng(1).standard_normal(shape)
        cols = mod.im2col(x, kh, kw, s, p)
        y = _rng(2).standard_normal(cols.shape)
        with ctx.student():
            lhs, rhs = np.sum(mod.im2col(x, kh, kw, s, p) * y), np.sum(x * mod.col2im(y, shape, kh, kw, s, p))
        assert abs(lhs - rhs) <= 1e-9 * abs(lhs), f"<im2col(x), y> = {lhs} but <x, col2im(y)> = {rhs}"


def col2im_matches_reference(ctx):
    from numpycnn.im2col import col2im, conv_output_size
    for shape, kh, kw, s, p in CONFIGS:
        rows = shape[0] * conv_output_size(shape[2], kh, s, p) * conv_output_size(shape[3], kw, s, p)
        y = _rng(3).standard_normal((rows, shape[1] * kh * kw))
        want = col2im(y, shape, kh, kw, s, p)
        with ctx.student():
            from numpycnn import im2col as mod
            got = mod.col2im(y, shape, kh, kw, s, p)
        _close(got, want, "col2im")


# -- convolution ---------------------------------------------------------------------
CONV = [((2, 3, 7, 7), (4, 3, 3, 3), 1, 0), ((2, 2, 8, 6), (3, 2, 3, 3), 2, 1), ((1, 3, 9, 9), (2, 3, 5, 5), 1, 2)]


def conv_forward_matches_naive_loop(ctx):
    from numpycnn.conv import conv2d_naive
    for xs, ws, s, p in CONV:
        r = _rng(4)
        x, w, b = r.standard_normal(xs), r.standard_normal(ws), r.standard_normal(ws[0])
        with ctx.student():
            from numpycnn import conv
            out, _ = conv.conv2d_forward(x, w, b, s, p)
        _close(out, conv2d_naive(x, w, b, s, p), "conv2d_forward")


def conv_backward_matches_naive_loop(ctx):
    from numpycnn import conv
    for xs, ws, s, p in CONV:
        r = _rng(5)
        x, w, b = r.standard_normal(xs), r.standard_normal(ws), r.standard_normal(ws[0])
        out, cache = conv.conv2d_forward(x, w, b, s, p)
        dout = r.standard_normal(out.shape)
        want = conv.conv2d_backward_naive(dout, x, w, s, p)
        with ctx.student():
            out, cache = conv.conv2d_forward(x, w, b, s, p)
            got = conv.conv2d_backward(dout, cache)
        for g, wnt, name in zip(got, want, ("dx", "dw", "db")):
            _close(g, wnt, f"conv2d_backward {name}")


def _layer_gradcheck(make_layer, make_x):
    def check(ctx):
        from numpycnn.gradcheck import check_layer
        with ctx.student():
            res = check_layer(make_layer(), make_x(), seed=0)
        assert res.passed, f"gradient check failed: {res}"
    return check


def conv_layer_passes_gradcheck(ctx):
    from numpycnn.layers import Conv2D
    _layer_gradcheck(lambda: Conv2D(2, 3, 3, 2, 1, rng=_rng(6), dtype=np.float64, kernel="textbook"),
                     lambda: _rng(7).standard_normal((2, 2, 7, 6)))(ctx)


# -- pooling -------------------------------------------------------------------------
def _distinct(shape, seed=8):
    n = int(np.prod(shape))
    return (_rng(seed).permutation(n).reshape(shape) / n - 0.5) * 4


def maxpool_forward_matches_naive_loop(ctx):
    from numpycnn.pooling import maxpool2d_naive
    for shape, k, s, p in [((2, 3, 8, 8), 2, 2, 0), ((2, 2, 7, 7), 3, 2, 1)]:
        x = _distinct(shape)
        with ctx.student():
            from numpycnn import pooling
            out, _ = pooling.maxpool2d_forward(x, k, s, p)
        _close(out, maxpool2d_naive(x, k, s, p), "maxpool2d_forward")


def maxpool_layer_passes_gradcheck(ctx):
    from numpycnn.gradcheck import check_layer
    from numpycnn.layers import MaxPool2D
    for shape, k, s, p in [((2, 3, 8, 8), 2, 2, 0), ((2, 2, 7, 7), 3, 2, 1)]:
        with ctx.student():
            res = check_layer(MaxPool2D(k, s, p), _distinct(shape), seed=0)
        assert res.passed, f"gradient check failed: {res}"


# -- dense and activations -----------------------------------------------------------
def dense_forward_is_affine(ctx):
    from numpycnn.layers import Dense
    layer = Dense(5, 3, rng=_rng(9), dtype=np.float64)
    layer.params["b"] = _rng(10).standard_normal(3)
    x = _rng(11).standard_normal((4, 5))
    with ctx.student():
        got = layer.forward(x)
    _close(got, x @ layer.params["W"].T + layer.params["b"], "Dense.forward")


def dense_layer_passes_gradcheck(ctx):
    from numpycnn.layers import Dense
    _layer_gradcheck(lambda: Dense(6, 4, rng=_rng(12), dtype=np.float64),
                     lambda: _rng(13).standard_normal((3, 6)))(ctx)


def _away_from_zero(shape, seed):
    x = _rng(seed).standard_normal(shape)
    return np.where(np.abs(x) < 0.1, 0.1 * np.sign(x + 1e-12) + x, x)


def relu_forward_is_max_with_zero(ctx):
    from numpycnn.layers import ReLU
    x = _away_from_zero((3, 4, 2, 2), 14)
    with ctx.student():
        got = ReLU().forward(x)
    _close(got, np.maximum(x, 0), "ReLU.forward")


def relu_layer_passes_gradcheck(ctx):
    from numpycnn.layers import ReLU
    _layer_gradcheck(ReLU, lambda: _away_from_zero((3, 5), 15))(ctx)


def sigmoid_forward_is_logistic(ctx):
    from numpycnn.layers import Sigmoid
    x = _rng(16).standard_normal((3, 7)) * 5
    with ctx.student():
        got = Sigmoid().forward(x)
    _close(got, 1 / (1 + np.exp(-x)), "Sigmoid.forward")
    with ctx.student():
        big = Sigmoid().forward(np.array([[-800.0, 800.0]]))
    assert np.all(np.isfinite(big)) and big[0, 0] == 0 and big[0, 1] == 1, "Sigmoid must not overflow at ±800"


def sigmoid_layer_passes_gradcheck(ctx):
    from numpycnn.layers import Sigmoid
    _layer_gradcheck(Sigmoid, lambda: _rng(17).standard_normal((3, 5)) * 3)(ctx)


# -- optimizers ----------------------------------------------------------------------
class _Model:
    def __init__(self, p, g):
        self.p, self.g = p, g

    def named_parameters(self):
        yield "p", self.p, self.g


def _trajectory(make_opt, steps=10):
    r = _rng(18)
    model = _Model(r.standard_normal((3, 4)), np.zeros((3, 4)))
    opt = make_opt(model)
    for _ in range(steps):
        model.g[...] = r.standard_normal((3, 4))
        opt.step()
    return model.p


def _optimizer_check(make_opt, label):
    def check(ctx):
        want = _trajectory(make_opt)
        with ctx.student():
            got = _trajectory(make_opt)
        _close(got, want, f"{label}: parameters after 10 steps", tol=1e-12)
    check.__name__ = f"{label.replace(' ', '_').replace('+', 'plus_')}_matches_torch_rule_over_10_steps"
    return check


def _opts():
    from numpycnn import optim
    return optim


POINTS_CHECKS = {
    "im2col.im2col": (5, [im2col_matches_reference]),
    "im2col.col2im": (5, [col2im_matches_reference, col2im_is_adjoint_of_im2col]),
    "conv.conv2d_forward": (10, [conv_forward_matches_naive_loop]),
    "conv.conv2d_backward": (10, [conv_backward_matches_naive_loop, conv_layer_passes_gradcheck]),
    "pooling.maxpool2d_forward": (5, [maxpool_forward_matches_naive_loop]),
    "pooling.maxpool2d_backward": (5, [maxpool_layer_passes_gradcheck]),
    "layers.Dense.forward": (3, [dense_forward_is_affine]),
    "layers.Dense.backward": (5, [dense_layer_passes_gradcheck]),
    "layers.ReLU.forward": (2, [relu_forward_is_max_with_zero]),
    "layers.ReLU.backward": (3, [relu_layer_passes_gradcheck]),
    "layers.Sigmoid.forward": (2, [sigmoid_forward_is_logistic]),
    "layers.Sigmoid.backward": (3, [sigmoid_layer_passes_gradcheck]),
    "optim.SGD.update": (4, [_optimizer_check(lambda m: _opts().SGD(m, 0.1), "SGD"),
                             _optimizer_check(lambda m: _opts().Momentum(m, 0.1, nesterov=True), "Nesterov")]),
    "optim.RMSprop.update": (4, [_optimizer_check(lambda m: _opts().RMSprop(m, 0.01, alpha=0.9), "RMSprop")]),
    "optim.Adam.update": (4, [_optimizer_check(lambda m: _opts().Adam(m, 0.01, weight_decay=0.1), "Adam")]),
}



def _collect_checks():
    """Core checks plus ``CHECKS`` from every ``numpycnn/assignment/checks_<technique>.py``.

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
