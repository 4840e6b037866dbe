"""Autograder checks for the exercises of tutorials 12 and 13: the row standardisation behind LayerNorm and
GroupNorm (forward and backward), GroupNorm's grouping of channels, global average pooling (forward and
backward) and the gradient with respect to the input (:func:`numpycnn.interpret.input_gradient`).

Every expected value comes from a loop or a closed form written here, or from central differences in
float64, never from the reference solution — so a student's own ``assignment check`` runs each of them.
"""
import numpy as np

from .checks import assert_close

EPS = 1e-5


def _rows(shape, seed):
    """Rows with their own offset and scale, so a wrong axis of the statistics shows."""
    r = np.random.default_rng(seed)
    return r.standard_normal(shape) * r.uniform(0.5, 3, (shape[0], 1)) + r.uniform(-2, 2, (shape[0], 1))


def _standardized_loop(x, eps=EPS):
    """Row by row: ``(x − mean) / sqrt(var + eps)`` with the biased variance, and each row's ``1/sqrt(var + eps)``."""
    out, inv = np.empty_like(x), np.empty((len(x), 1))
    for m, row in enumerate(x):
        mu = sum(row) / len(row)
        var = sum((v - mu) ** 2 for v in row) / len(row)
        inv[m] = 1 / np.sqrt(var + eps)
        out[m] = (row - mu) * inv[m]
    return out, inv


# -- normalization.standardize_rows ------------------------------------------------------------------------------
def standardize_rows_normalises_each_row_with_its_own_mean_and_biased_variance(ctx):
    from numpycnn import normalization
    for i, shape in enumerate([(3, 5), (1, 7), (6, 2)]):
        x = _rows(shape, 200 + i)
        want, inv = _standardized_loop(x)
        with ctx.student():
            got, cache = normalization.standardize_rows(x, EPS)
        assert_close(got, want, f"standardize_rows(x of shape {shape}) (one mean and variance per ROW)")
        assert isinstance(cache, tuple) and len(cache) == 2, "the cache must be (x_hat, inv_std)"
        assert_close(cache[0], want, "cache entry x_hat")
        assert_close(np.broadcast_to(cache[1], inv.shape), inv, "cache entry inv_std, shape (M, 1)")


def layernorm_layer_normalises_each_sample_over_all_its_features(ctx):
    from numpycnn.normalization import LayerNorm
    r = np.random.default_rng(210)
    x = r.standard_normal((3, 2, 3, 4)) * 2 + 1
    layer = LayerNorm((2, 3, 4), dtype=np.float64)
    layer.params["gamma"], layer.params["beta"] = r.standard_normal((2, 3, 4)), r.standard_normal((2, 3, 4))
    x_hat, _ = _standardized_loop(x.reshape(3, -1))
    with ctx.student():
        got = layer.forward(x)
    assert_close(got, x_hat.reshape(x.shape) * layer.params["gamma"] + layer.params["beta"],
                 "LayerNorm((C, H, W)).forward: gamma · (x − mean of the sample) / sqrt(var of the sample + eps) + beta")


# -- normalization.standardize_rows_backward -----------------------------------------------------------------------
def standardize_rows_backward_matches_central_differences(ctx):
    from numpycnn import normalization
    from numpycnn.gradcheck import numerical_gradient, relative_error
    for i, shape in enumerate([(3, 6), (2, 4), (1, 9)]):
        x = _rows(shape, 220 + i)
        R = np.random.default_rng(230 + i).standard_normal(shape)
        x_hat, inv = _standardized_loop(x)
        with ctx.student():
            dx = normalization.standardize_rows_backward(R, (x_hat, inv))
        numeric = numerical_gradient(lambda: float(np.sum(_standardized_loop(x)[0] * R)), x)
        err = relative_error(np.asarray(dx), numeric)
        assert err < 1e-7, (f"standardize_rows_backward for x of shape {shape}: relative error {err:.2e} against "
                            f"central differences (allowed 1e-07)")


def layernorm_and_groupnorm_layers_pass_gradcheck(ctx):
    from numpycnn.gradcheck import check_layer
    from numpycnn.normalization import GroupNorm, LayerNorm
    r = np.random.default_rng(240)
    cases = [(LayerNorm(5, dtype=np.float64), (4, 5)), (LayerNorm((2, 3, 3), dtype=np.float64), (2, 2, 3, 3)),
             (GroupNorm(2, 4, dtype=np.float64), (2, 4, 3, 3))]
    for layer, shape in cases:
        layer.params["gamma"] = 1 + 0.5 * r.standard_normal(layer.params["gamma"].shape)
        x = 2 * r.standard_normal(shape) + 1
        with ctx.student():
            res = check_layer(layer, x, seed=0)
        assert res.passed, f"{layer!r} on x of shape {shape}: gradient check failed: {res}"


# -- normalization.GroupNorm.forward -------------------------------------------------------------------------------
def _groupnorm_loop(x, G, gamma, beta, eps=EPS):
    N, C = x.shape[:2]
    out = np.empty_like(x)
    for n in range(N):
        for g in range(G):
            block = x[n, g * C // G:(g + 1) * C // G]
            mu, var = block.mean(), ((block - block.mean()) ** 2).mean()
            out[n, g * C // G:(g + 1) * C // G] = (block - mu) / np.sqrt(var + eps)
    shape = (C,) + (1,) * (x.ndim - 2)
    return out * gamma.reshape(shape) + beta.reshape(shape)


def groupnorm_forward_normalises_each_group_of_channels_of_each_sample(ctx):
    from numpycnn.normalization import GroupNorm
    r = np.random.default_rng(250)
    for G, shape in ((2, (3, 4, 3, 2)), (3, (2, 6, 2, 2)), (1, (2, 3, 4, 4)), (4, (2, 4, 3, 3)), (2, (5, 4))):
        x = r.standard_normal(shape) * r.uniform(0.5, 3, shape[:2] + (1,) * (len(shape) - 2)) + r.uniform(-2, 2)
        layer = GroupNorm(G, shape[1], dtype=np.float64)
        layer.params["gamma"], layer.params["beta"] = r.standard_normal(shape[1]), r.standard_normal(shape[1])
        with ctx.student():
            got = layer.forward(x)
        kind = {1: " (G = 1: the whole sample)", shape[1]: " (G = C: each channel alone)"}.get(G, "")
        assert_close(got, _groupnorm_loop(x, G, layer.params["gamma"], layer.params["beta"]),
                     f"GroupNorm({G}, {shape[1]}).forward on x of shape {shape}{kind}: channels "
                     f"g·C/G .. (g+1)·C/G − 1 of one sample share a mean and a variance")


def groupnorm_output_of_a_sample_does_not_depend_on_the_others(ctx):
    from numpycnn.normalization import GroupNorm
    x = np.random.default_rng(260).standard_normal((4, 6, 3, 3))
    layer = GroupNorm(3, 6, dtype=np.float64)
    with ctx.student():
        whole = layer.forward(x)
        alone = layer.forward(x[2:3])
    assert_close(alone[0], whole[2], "GroupNorm.forward of sample 2 alone vs in a batch of 4 (no batch statistics)")


# -- pooling.global_avgpool_forward / backward -----------------------------------------------------------------
GAP_SHAPES = [(2, 3, 4, 5), (1, 2, 1, 1), (3, 1, 7, 7)]


def global_avgpool_forward_is_the_mean_of_each_map(ctx):
    from numpycnn import pooling
    for i, shape in enumerate(GAP_SHAPES):
        x = np.random.default_rng(270 + i).standard_normal(shape)
        N, C, H, W = shape
        want = np.array([[[[sum(x[n, c].ravel()) / (H * W)]] for c in range(C)] for n in range(N)])
        with ctx.student():
            out, _ = pooling.global_avgpool_forward(x)
        assert_close(out, want, f"global_avgpool_forward out (x of shape {shape}; output (N, C, 1, 1))")
    with ctx.student():
        out32, _ = pooling.global_avgpool_forward(np.ones((1, 2, 3, 3), np.float32))
    assert out32.dtype == np.float32, f"float32 in must give float32 out; got {out32.dtype}"


def global_avgpool_backward_spreads_dout_evenly(ctx):
    from numpycnn import pooling
    for i, shape in enumerate(GAP_SHAPES):
        N, C, H, W = shape
        dout = np.random.default_rng(280 + i).standard_normal((N, C, 1, 1))
        with ctx.student():
            dx = pooling.global_avgpool_backward(dout, (shape,))
        assert_close(dx, np.ones(shape) * dout / (H * W), f"global_avgpool_backward dx (x of shape {shape}): "
                                                          f"every pixel of channel c gets dout[n, c] / (H·W)")
        assert np.asarray(dx).flags.writeable, "dx must own its memory (copy the broadcast)"


def global_avgpool_layer_passes_gradcheck(ctx):
    from numpycnn.gradcheck import check_layer
    from numpycnn.layers import AdaptiveAvgPool2D
    for i, shape in enumerate(GAP_SHAPES):
        with ctx.student():
            res = check_layer(AdaptiveAvgPool2D(1), np.random.default_rng(290 + i).standard_normal(shape), seed=0)
        assert res.passed, f"AdaptiveAvgPool2D(1) on x of shape {shape}: gradient check failed: {res}"


# -- interpret.input_gradient ------------------------------------------------------------------------------------
def _network():
    """A float64 network with every kind of layer whose evaluation mode differs (BatchNorm, Dropout), smooth
    activations (no kinks for the central differences), trained statistics and three classes."""
    from numpycnn import Sequential
    from numpycnn.dropout import Dropout
    from numpycnn.layers import Conv2D, Dense, Flatten, Tanh
    from numpycnn.normalization import BatchNorm2D
    r = np.random.default_rng(300)
    model = Sequential([("conv", Conv2D(2, 3, 3, pad=1, rng=r, dtype=np.float64)), ("bn", BatchNorm2D(3, dtype=np.float64)),
                        ("act", Tanh()), ("flat", Flatten()), ("drop", Dropout(0.5, seed=1)),
                        ("fc", Dense(3 * 4 * 4, 3, rng=r, dtype=np.float64))], input_shape=(2, 4, 4))
    model["bn"].buffers["running_mean"] = r.standard_normal(3)
    model["bn"].buffers["running_var"] = r.uniform(0.5, 2, 3)
    return model


def _numeric_input_gradient(model, x, t, of):
    from numpycnn.functional import log_softmax
    from numpycnn.gradcheck import numerical_gradient

    def f():
        with model.evaluation_mode():
            z = model.forward(x)
        picked = z if of == "score" else -log_softmax(z)
        return float(picked[np.arange(len(t)), t].sum())
    return numerical_gradient(f, x)


def _input_gradient_check(of):
    def check(ctx):
        from numpycnn import interpret
        from numpycnn.gradcheck import relative_error
        model = _network()
        x = np.random.default_rng(310).standard_normal((3, 2, 4, 4))
        t = np.array([2, 0, 1])
        with ctx.student():
            dx = interpret.input_gradient(model, x, t, of=of)
        assert np.shape(dx) == x.shape, f"input_gradient(of={of!r}) must have the images' shape {x.shape}; got {np.shape(dx)}"
        err = relative_error(np.asarray(dx), _numeric_input_gradient(model, x, t, of))
        what = "z[n, t_n]" if of == "score" else "−log softmax(z)[n, t_n]"
        assert err < 1e-7, (f"input_gradient(of={of!r}): relative error {err:.2e} against central differences of "
                            f"Σ_n {what} in evaluation mode (allowed 1e-07)")
    check.__name__ = f"input_gradient_of_the_{of}_matches_central_differences"
    return check


CHECKS = {
    "normalization.standardize_rows": (3, [standardize_rows_normalises_each_row_with_its_own_mean_and_biased_variance,
                                           layernorm_layer_normalises_each_sample_over_all_its_features]),
    "normalization.standardize_rows_backward": (5, [standardize_rows_backward_matches_central_differences,
                                                    layernorm_and_groupnorm_layers_pass_gradcheck]),
    "normalization.GroupNorm.forward": (3, [groupnorm_forward_normalises_each_group_of_channels_of_each_sample,
                                            groupnorm_output_of_a_sample_does_not_depend_on_the_others]),
    "pooling.global_avgpool_forward": (2, [global_avgpool_forward_is_the_mean_of_each_map]),
    "pooling.global_avgpool_backward": (2, [global_avgpool_backward_spreads_dout_evenly,
                                            global_avgpool_layer_passes_gradcheck]),
    "interpret.input_gradient": (4, [_input_gradient_check("score"), _input_gradient_check("loss")]),
}
