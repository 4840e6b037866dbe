"""Every layer: backward vs central differences (float64), vs PyTorch, dtype, purity, idempotence.

The layer cases are listed once in ``CASES`` (a factory and an input shape) and every
property below runs over all of them, so adding a layer type means adding one line.
"""
import numpy as np
import pytest
from hypothesis import assume, given, settings, strategies as st

from numpycnn import layers as L
from numpycnn.gradcheck import away_from_zero, check_layer, distinct_values
from numpycnn.normalization import GroupNorm, LayerNorm


def _conv(C, F, k, s=1, p=0, implementation=None, **options):
    return lambda: L.Conv2D(C, F, k, stride=s, pad=p, rng=np.random.default_rng(1), dtype=np.float64,
                            implementation=implementation, **options)


def _affine(layer):
    """A normalisation layer whose gamma and beta are not the initial ones / zeros, so every term counts."""
    rng = np.random.default_rng(6)
    for key, p in layer.params.items():
        layer.params[key] = p + 0.5 * rng.standard_normal(p.shape)
    return layer


#: id -> (layer factory, input shape, input kind); "distinct" keeps max-pool windows tie-free,
#: "away" keeps ReLU inputs away from the kink at 0 (numpycnn.gradcheck's kink-free inputs).
CASES = {
    "conv3x3_s1_p0": (_conv(2, 3, 3), (2, 2, 5, 6), "normal"),
    "conv3x3_s2_p1": (_conv(3, 4, 3, 2, 1), (2, 3, 7, 6), "normal"),
    "conv3x3_s2_p1_textbook": (_conv(3, 4, 3, 2, 1, "textbook"), (2, 3, 7, 6), "normal"),
    "conv1x1": (_conv(3, 2, 1), (2, 3, 4, 4), "normal"),
    "conv5x5_p2": (_conv(1, 2, 5, 1, 2), (1, 1, 6, 6), "normal"),
    "conv4x4_s3_p2": (_conv(2, 2, 4, 3, 2), (2, 2, 8, 7), "normal"),
    "conv_kernel_equals_input": (_conv(2, 3, 4), (2, 2, 4, 4), "normal"),
    "dense": (lambda: L.Dense(7, 4, rng=np.random.default_rng(2), dtype=np.float64), (3, 7), "normal"),
    "conv_dilated_grouped_nonsquare": (_conv(4, 6, (3, 2), (2, 1), (1, 0), dilation=(2, 1), groups=2, bias=False),
                                       (2, 4, 9, 8), "normal"),
    "conv_depthwise_same_textbook": (_conv(3, 3, 4, 1, "same", "textbook", dilation=2, groups=3), (2, 3, 7, 6),
                                     "normal"),
    "dense_no_bias": (lambda: L.Dense(7, 4, bias=False, rng=np.random.default_rng(2), dtype=np.float64), (3, 7),
                      "normal"),
    "maxpool2": (lambda: L.MaxPool2D(2), (2, 3, 6, 6), "distinct"),
    "maxpool_options": (lambda: L.MaxPool2D((3, 2), (2, 1), 1, dilation=(1, 2), ceil_mode=True), (2, 3, 8, 7),
                        "distinct"),
    "maxpool_options_textbook": (lambda: L.MaxPool2D((3, 2), (2, 1), 1, (1, 2), True, implementation="textbook"),
                                 (2, 3, 8, 7), "distinct"),
    "avgpool_ceil_without_pad": (lambda: L.AvgPool2D((3, 2), 2, 1, ceil_mode=True, count_include_pad=False),
                                 (2, 2, 8, 7), "normal"),
    "adaptive_avgpool": (lambda: L.AdaptiveAvgPool2D((2, None)), (2, 3, 4, 6), "normal"),
    "global_avgpool": (lambda: L.AdaptiveAvgPool2D(1), (2, 3, 4, 6), "normal"),
    "adaptive_maxpool": (lambda: L.AdaptiveMaxPool2D((2, 3)), (2, 3, 4, 6), "distinct"),
    "layernorm": (lambda: _affine(LayerNorm((3, 4, 5), dtype=np.float64)), (2, 3, 4, 5), "normal"),
    "layernorm_dense_gamma_only": (lambda: _affine(LayerNorm(6, bias=False, dtype=np.float64)), (4, 6), "normal"),
    "groupnorm": (lambda: _affine(GroupNorm(2, 4, dtype=np.float64)), (3, 4, 3, 2), "normal"),
    # (not "normal": check_layer's upstream gradient would equal x, and dL/dx of sum(x_hat * x) is ~0 without gamma)
    "groupnorm_no_affine": (lambda: GroupNorm(3, 3, affine=False, dtype=np.float64), (2, 3, 4, 4), "distinct"),
    "maxpool3_s2_p1": (lambda: L.MaxPool2D(3, 2, 1), (2, 2, 7, 5), "distinct"),
    "maxpool_odd_input": (lambda: L.MaxPool2D(2), (1, 2, 5, 7), "distinct"),
    "maxpool3_s2_p1_textbook": (lambda: L.MaxPool2D(3, 2, 1, implementation="textbook"), (2, 2, 7, 5), "distinct"),
    "avgpool2": (lambda: L.AvgPool2D(2), (2, 3, 6, 6), "normal"),
    "avgpool3_s1_p1": (lambda: L.AvgPool2D(3, 1, 1), (2, 2, 5, 4), "normal"),
    "relu": (L.ReLU, (3, 4, 5), "away"),
    "sigmoid": (L.Sigmoid, (3, 4, 5), "normal"),
    "tanh": (L.Tanh, (3, 4, 5), "normal"),
    "flatten": (L.Flatten, (2, 3, 4, 5), "normal"),
}


def make_input(shape, kind, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    make = {"distinct": distinct_values, "away": away_from_zero, "normal": lambda r, s: r.standard_normal(s)}[kind]
    return make(rng, shape).astype(dtype)


@pytest.mark.parametrize("case", sorted(CASES))
def test_backward_matches_central_differences_in_float64(case):
    make, shape, kind = CASES[case]
    result = check_layer(make(), make_input(shape, kind))
    assert result.passed, f"{case}: {result}"


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_forward_and_backward_preserve_the_input_dtype(case, dtype):
    make, shape, kind = CASES[case]
    layer = make().astype(dtype)
    out = layer.forward(make_input(shape, kind, dtype=dtype))
    dx = layer.backward(np.ones_like(out))
    assert out.dtype == dtype and dx.dtype == dtype
    assert all(g.dtype == dtype for g in layer.grads.values())


@pytest.mark.parametrize("case", sorted(CASES))
def test_layers_never_mutate_their_inputs_and_accept_read_only_arrays(case):
    make, shape, kind = CASES[case]
    layer = make()
    x = make_input(shape, kind)
    x_before = x.copy()
    x.flags.writeable = False
    out = layer.forward(x)
    dout = np.random.default_rng(3).standard_normal(out.shape)
    dout_before = dout.copy()
    dout.flags.writeable = False
    layer.backward(dout)
    np.testing.assert_array_equal(x, x_before)
    np.testing.assert_array_equal(dout, dout_before)


@pytest.mark.parametrize("case", sorted(CASES))
def test_backward_is_idempotent(case):
    """Calling backward twice with the same dout gives the same dx and overwrites (not accumulates) grads."""
    make, shape, kind = CASES[case]
    layer = make()
    out = layer.forward(make_input(shape, kind))
    dout = np.random.default_rng(4).standard_normal(out.shape)
    dx1 = layer.backward(dout).copy()
    grads1 = {k: g.copy() for k, g in layer.grads.items()}
    dx2 = layer.backward(dout)
    np.testing.assert_array_equal(dx1, dx2)
    for k in grads1:
        np.testing.assert_array_equal(grads1[k], layer.grads[k])


@pytest.mark.parametrize("case", sorted(CASES))
def test_output_shape_predicts_the_forward_shape(case):
    make, shape, kind = CASES[case]
    layer = make()
    assert layer.forward(make_input(shape, kind)).shape[1:] == tuple(layer.output_shape(shape[1:]))


@settings(max_examples=25, deadline=None)
@given(N=st.integers(1, 2), C=st.integers(1, 3), F=st.integers(1, 3), H=st.integers(1, 7), W=st.integers(1, 7),
       k=st.integers(1, 4), s=st.integers(1, 3), p=st.integers(0, 2))
def test_conv_backward_matches_central_differences_for_generated_shapes(N, C, F, H, W, k, s, p):
    assume(H + 2 * p >= k and W + 2 * p >= k)   # a kernel that does not fit: covered by the bad-input tests
    layer = L.Conv2D(C, F, k, stride=s, pad=p, rng=np.random.default_rng(0), dtype=np.float64)
    result = check_layer(layer, make_input((N, C, H, W), "normal"))
    assert result.passed, str(result)


@settings(max_examples=25, deadline=None)
@given(N=st.integers(1, 2), C=st.integers(1, 3), H=st.integers(1, 7), W=st.integers(1, 7),
       k=st.integers(1, 3), s=st.integers(1, 3), p=st.integers(0, 1), kind=st.sampled_from(["max", "avg"]))
def test_pool_backward_matches_central_differences_for_generated_shapes(N, C, H, W, k, s, p, kind):
    assume(p <= k // 2 and H + 2 * p >= k and W + 2 * p >= k)
    layer = (L.MaxPool2D if kind == "max" else L.AvgPool2D)(k, s, p)
    result = check_layer(layer, make_input((N, C, H, W), "distinct"))
    assert result.passed, str(result)


def test_masked_weights_take_no_gradient_and_no_part_in_the_forward_pass():
    layer = L.Conv2D(2, 3, 3, rng=np.random.default_rng(0), dtype=np.float64)
    mask = (np.random.default_rng(1).random(layer.params["W"].shape) > 0.5).astype(np.float64)
    layer.set_mask("W", mask)
    x = make_input((2, 2, 5, 5), "normal")
    out = layer.forward(x)
    layer.backward(np.ones_like(out))
    assert np.all(layer.grads["W"][mask == 0] == 0)
    assert np.all(layer.params["W"][mask == 0] == 0)
    result = check_layer(layer, x)
    assert result.passed, str(result)


# -- PyTorch as an oracle (float64, forward and every gradient, <= 1e-10) ---------------------

def _torch_module(torch, layer):
    """The PyTorch module of ``layer``, every option passed by its PyTorch name, the parameters copied."""
    nn = torch.nn
    if isinstance(layer, L.Conv2D):
        m = nn.Conv2d(layer.in_channels, layer.out_channels, layer.kernel_size, layer.stride, layer.pad,
                      layer.dilation, layer.groups, layer.bias).double()
    elif isinstance(layer, L.Dense):
        m = nn.Linear(layer.in_features, layer.out_features, layer.bias).double()
    elif isinstance(layer, L.MaxPool2D):
        return nn.MaxPool2d(layer.kernel_size, layer.stride, layer.pad, layer.dilation, ceil_mode=layer.ceil_mode)
    elif isinstance(layer, L.AvgPool2D):
        return nn.AvgPool2d(layer.kernel_size, layer.stride, layer.pad, layer.ceil_mode, layer.count_include_pad)
    elif isinstance(layer, (L.AdaptiveAvgPool2D, L.AdaptiveMaxPool2D)):
        return (nn.AdaptiveAvgPool2d if isinstance(layer, L.AdaptiveAvgPool2D) else nn.AdaptiveMaxPool2d)(
            layer.output_size)
    elif isinstance(layer, LayerNorm):
        m = nn.LayerNorm(layer.normalized_shape, layer.eps, layer.elementwise_affine, layer.bias).double()
    elif isinstance(layer, GroupNorm):
        m = nn.GroupNorm(layer.num_groups, layer.num_channels, layer.eps, layer.affine).double()
    else:
        return {L.ReLU: nn.ReLU, L.Sigmoid: nn.Sigmoid, L.Tanh: nn.Tanh, L.Flatten: nn.Flatten}[type(layer)]()
    with torch.no_grad():
        for ours, theirs in _TORCH_NAMES.items():
            if ours in layer.params:
                getattr(m, theirs).copy_(torch.from_numpy(layer.params[ours]))
    return m


#: our parameter name -> PyTorch's
_TORCH_NAMES = {"W": "weight", "b": "bias", "gamma": "weight", "beta": "bias"}


@pytest.mark.parametrize("case", sorted(CASES))
def test_forward_and_gradients_match_pytorch_in_float64(case):
    torch = pytest.importorskip("torch")
    make, shape, kind = CASES[case]
    layer = make()
    x = make_input(shape, kind)
    out = layer.forward(x)
    dout = np.random.default_rng(5).standard_normal(out.shape)
    dx = layer.backward(dout)

    module = _torch_module(torch, layer)
    xt = torch.from_numpy(x.copy()).requires_grad_(True)
    yt = module(xt)
    yt.backward(torch.from_numpy(dout))
    np.testing.assert_allclose(out, yt.detach().numpy(), rtol=0, atol=1e-10)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=0, atol=1e-10)
    for ours, theirs in _TORCH_NAMES.items():
        if ours in layer.params:
            np.testing.assert_allclose(layer.grads[ours], getattr(module, theirs).grad.numpy(), rtol=0, atol=1e-10)
    assert {_TORCH_NAMES[k] for k in layer.params} == {n for n, _ in module.named_parameters()}


def test_layer_config_rebuilds_an_equal_layer():
    for make, shape, kind in CASES.values():
        layer = make()
        clone = L.layer_from_config(type(layer).__name__, layer.config(), dtype=np.float64)
        assert clone.config() == layer.config()
        assert {k: v.shape for k, v in clone.params.items()} == {k: v.shape for k, v in layer.params.items()}


def test_sigmoid_derivative_never_exceeds_a_quarter():
    layer = L.Sigmoid()
    x = np.linspace(-20, 20, 4001)[None, :]
    layer.forward(x)
    assert layer.backward(np.ones_like(x)).max() == pytest.approx(0.25)


@pytest.mark.parametrize("case", sorted(CASES))
def test_every_layer_and_its_options_round_trip_through_a_model_file(case, tmp_path):
    from numpycnn.model import Sequential, load_model, save_model
    make, shape, kind = CASES[case]
    model = Sequential([("layer", make())], input_shape=shape[1:])
    save_model(tmp_path / "m.npz", model)
    loaded = load_model(tmp_path / "m.npz")
    assert type(loaded["layer"]) is type(model["layer"]) and loaded["layer"].config() == model["layer"].config()
    x = make_input(shape, kind)
    np.testing.assert_array_equal(loaded.forward(x), model.forward(x))


def test_a_dense_config_without_the_bias_key_has_a_bias_and_bias_false_has_none():
    old = L.layer_from_config("Dense", {"in_features": 3, "out_features": 2, "init": "he"})
    assert old.bias and sorted(old.params) == ["W", "b"] and "bias" not in old.config()
    none = L.Dense(3, 2, bias=False)
    assert sorted(none.params) == sorted(none.grads) == ["W"] and none.config()["bias"] is False
    x = np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32)
    np.testing.assert_array_equal(none.forward(x), x @ none.params["W"].T)
