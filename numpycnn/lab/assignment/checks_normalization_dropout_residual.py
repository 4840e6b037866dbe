"""Autograder checks for the exercises of the standard layers: BatchNorm's forward and backward,
Dropout's forward and backward, and the residual block's backward (the sum at a fork)."""
import numpy as np

from .checks import _close, _rng

#: (M, C) column shapes of the functional BatchNorm core
COLUMNS = [(6, 4), (3, 1), (50, 7)]


def _columns(shape, seed):
    r = _rng(seed)
    x = r.standard_normal(shape) * r.uniform(0.5, 3, shape[1]) + r.uniform(-2, 2, shape[1])
    return x, 1 + 0.5 * r.standard_normal(shape[1]), r.standard_normal(shape[1])


def batchnorm_forward_matches_reference(ctx):
    from numpycnn import normalization
    for i, shape in enumerate(COLUMNS):
        x, gamma, beta = _columns(shape, 60 + i)
        want, want_cache = normalization.batchnorm_forward(x, gamma, beta, 1e-5)
        with ctx.student():
            got, cache = normalization.batchnorm_forward(x, gamma, beta, 1e-5)
        _close(got, want, f"batchnorm_forward output for x of shape {shape}")
        assert len(cache) == 5, "the cache must be (x_hat, gamma, inv_std, mu, var)"
        for name, g, w in zip(("x_hat", "gamma", "inv_std", "mu", "var (biased)"), cache, want_cache):
            _close(g, w, f"cache entry {name}")


def batchnorm_layer_running_statistics_match_reference(ctx):
    from numpycnn.normalization import BatchNorm2D

    def run():
        layer = BatchNorm2D(3, momentum=0.2, dtype=np.float64)
        for step in range(3):
            layer.forward(_rng(70 + step).standard_normal((2, 3, 4, 4)) * (1 + step) + step)
        return layer.buffers["running_mean"], layer.buffers["running_var"]

    want = run()
    with ctx.student():
        got = run()
    _close(got[0], want[0], "running_mean after 3 batches")
    _close(got[1], want[1], "running_var after 3 batches (unbiased batch variance)")


def batchnorm_backward_matches_reference(ctx):
    from numpycnn import normalization
    for i, shape in enumerate(COLUMNS):
        x, gamma, beta = _columns(shape, 80 + i)
        _, cache = normalization.batchnorm_forward(x, gamma, beta, 1e-5)
        dout = _rng(90 + i).standard_normal(shape)
        want = normalization.batchnorm_backward(dout, cache)
        with ctx.student():
            got = normalization.batchnorm_backward(dout, cache)
        for name, g, w in zip(("dx", "dgamma", "dbeta"), got, want):
            _close(g, w, f"batchnorm_backward {name} for x of shape {shape}")


def batchnorm_layers_pass_gradcheck(ctx):
    from numpycnn.gradcheck import check_layer
    from numpycnn.normalization import BatchNorm1D, BatchNorm2D
    for layer, shape in ((BatchNorm1D(4, dtype=np.float64), (5, 4)), (BatchNorm2D(3, dtype=np.float64), (2, 3, 3, 4))):
        layer.params["gamma"] = 1 + 0.5 * _rng(100).standard_normal(layer.num_features)
        x = 2 * _rng(101).standard_normal(shape) + 1
        with ctx.student():
            res = check_layer(layer, x, seed=0)
        assert res.passed, f"{type(layer).__name__} gradient check failed: {res}"


def _masks():
    r = _rng(110)
    x = r.standard_normal((3, 4, 2, 5))
    return x, [(r.random(x.shape) >= 0.3, 0.3), (r.random((3, 4, 1, 1)) >= 0.5, 0.5), (np.ones(x.shape, bool), 0.0)]


def dropout_forward_scales_kept_values_by_one_over_one_minus_p(ctx):
    from numpycnn import dropout
    x, masks = _masks()
    for keep, p in masks:
        with ctx.student():
            got = dropout.dropout_forward(x, keep, p)
        _close(got, np.where(keep, x / (1 - p), 0.0), f"dropout_forward with p = {p}, mask shape {keep.shape}")
    with ctx.student():
        got32 = dropout.dropout_forward(x.astype(np.float32), masks[0][0], 0.3)
    assert got32.dtype == np.float32, f"float32 in must give float32 out; got {got32.dtype}"


def dropout_backward_matches_reference(ctx):
    from numpycnn import dropout
    x, masks = _masks()
    dout = _rng(111).standard_normal(x.shape)
    for keep, p in masks:
        with ctx.student():
            got = dropout.dropout_backward(dout, keep, p)
        _close(got, np.where(keep, dout / (1 - p), 0.0), f"dropout_backward with p = {p}, mask shape {keep.shape}")


def dropout_layer_with_one_mask_passes_gradcheck(ctx):
    from numpycnn.gradcheck import check_layer
    from numpycnn.lab.gradcheck_table import OneMaskDropout, OneMaskDropout2D
    for layer, shape in ((OneMaskDropout(0.4, seed=5), (4, 6)), (OneMaskDropout2D(0.5, seed=6), (3, 4, 2, 2))):
        with ctx.student():
            res = check_layer(layer, _rng(112).standard_normal(shape), seed=0)
        assert res.passed, f"{type(layer).__name__} gradient check failed: {res}"


def _blocks():
    from numpycnn.layers import Conv2D, Dense, Tanh
    from numpycnn.residual import ResidualBlock
    r = _rng(120)
    identity = ResidualBlock([Conv2D(2, 2, 3, pad=1, rng=r, dtype=np.float64), Tanh(),
                              Conv2D(2, 2, 3, pad=1, rng=r, dtype=np.float64)])
    conv_proj = ResidualBlock([Conv2D(2, 3, 3, stride=2, pad=1, rng=r, dtype=np.float64), Tanh()],
                              projection=Conv2D(2, 3, 1, stride=2, rng=r, dtype=np.float64))
    dense_proj = ResidualBlock([Dense(5, 4, rng=r, dtype=np.float64), Tanh()],
                               projection=Dense(5, 4, rng=r, dtype=np.float64))
    return [(identity, (2, 2, 5, 5)), (conv_proj, (2, 2, 6, 6)), (dense_proj, (3, 5))]


def residual_backward_is_body_gradient_plus_skip_gradient(ctx):
    for i, (block, shape) in enumerate(_blocks()):
        x = _rng(130 + i).standard_normal(shape)
        out = block.forward(x)
        dout = _rng(140 + i).standard_normal(out.shape)
        dx_want = block.backward(dout).copy()
        grads_want = {k: g.copy() for k, g in block.grads.items()}
        with ctx.student():
            dx = block.backward(dout)
        kind = "identity skip" if block.projection is None else "projection"
        _close(dx, dx_want, f"ResidualBlock.backward dx ({kind}): the body's dx plus the skip path's dx")
        for k, want in grads_want.items():
            _close(block.grads[k], want, f"gradient of {k} ({kind})")


def residual_block_passes_gradcheck(ctx):
    from numpycnn.gradcheck import check_layer
    for i, (block, shape) in enumerate(_blocks()):
        with ctx.student():
            res = check_layer(block, _rng(150 + i).standard_normal(shape), seed=0)
        assert res.passed, f"gradient check failed: {res}"


CHECKS = {
    "normalization.batchnorm_forward": (4, [batchnorm_forward_matches_reference,
                                            batchnorm_layer_running_statistics_match_reference]),
    "normalization.batchnorm_backward": (6, [batchnorm_backward_matches_reference, batchnorm_layers_pass_gradcheck]),
    "dropout.dropout_forward": (2, [dropout_forward_scales_kept_values_by_one_over_one_minus_p]),
    "dropout.dropout_backward": (2, [dropout_backward_matches_reference, dropout_layer_with_one_mask_passes_gradcheck]),
    "residual.ResidualBlock.backward": (4, [residual_backward_is_body_gradient_plus_skip_gradient,
                                            residual_block_passes_gradcheck]),
}
