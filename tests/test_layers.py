"""Every layer: backward vs central differences (float64), vs PyTorch, dtype, purity, idempotence.

The layer cases are listed once, in ``LAYER_CASES`` of ``tests/conftest.py`` (a factory, an input shape and
kind), and every property below runs over all of them, in training and in evaluation mode, so adding a layer
type means adding one line there.
"""
import numpy as np
import pytest

import numpycnn as nc
from numpycnn import layers as L
from numpycnn.dropout import Dropout
from numpycnn.errors import ShapeError
from numpycnn.gradcheck import check_layer
from numpycnn.layers import Dense, LogSoftmax
from numpycnn.normalization import BatchNorm1D, BatchNorm2D, GroupNorm, LayerNorm
from numpycnn.residual import ResidualBlock

from conftest import (BAD_INPUT_FIELDS, LAYER_CASES, assert_bad_input, bad_input_cases, hold_the_first_draw, img,
                      make_input)


#: every layer type and its options, in training and in evaluation mode (a layer whose forward pass does not
#: differ between the two runs the same code twice): tests/conftest.py
CASES = LAYER_CASES
MODES = pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])


def build(case, training=True, dtype=None):
    """The layer of ``case`` in the given mode (and dtype), and its input."""
    make, shape, kind = CASES[case]
    layer = make() if dtype is None else make().astype(dtype)
    layer.training = training
    return layer, make_input(shape, kind, dtype=dtype or np.float64)


@MODES
@pytest.mark.parametrize("case", sorted(CASES))
def test_backward_matches_central_differences_in_float64(case, training):
    layer, x = build(case, training)
    result = check_layer(hold_the_first_draw(layer), x)
    assert result.passed, f"{case}: {result}"


@MODES
@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_forward_and_backward_preserve_the_input_dtype(case, dtype, training):
    layer, x = build(case, training, dtype)
    out = layer.forward(x)
    dx = layer.backward(np.ones_like(out))
    assert out.dtype == dtype and dx.dtype == dtype
    assert all(g.dtype == dtype for g in layer.grads.values())
    assert all(b.dtype == dtype for b in layer.buffers.values() if np.issubdtype(b.dtype, np.floating))


@MODES
@pytest.mark.parametrize("case", sorted(CASES))
def test_layers_never_mutate_their_inputs_and_accept_read_only_arrays(case, training):
    layer, x = build(case, training)
    x_before = x.copy()
    x.flags.writeable = False
    out = layer.forward(x)
    dout = np.random.default_rng(3).standard_normal(out.shape)
    dout_before = dout.copy()
    dout.flags.writeable = False
    layer.backward(dout)
    np.testing.assert_array_equal(x, x_before)
    np.testing.assert_array_equal(dout, dout_before)


@MODES
@pytest.mark.parametrize("case", sorted(CASES))
def test_backward_is_idempotent(case, training):
    """Calling backward twice with the same dout gives the same dx and overwrites (not accumulates) grads."""
    layer, x = build(case, training)
    out = layer.forward(x)
    dout = np.random.default_rng(4).standard_normal(out.shape)
    dx1 = layer.backward(dout).copy()
    grads1 = {k: g.copy() for k, g in layer.grads.items()}
    dx2 = layer.backward(dout)
    np.testing.assert_array_equal(dx1, dx2)
    for k in grads1:
        np.testing.assert_array_equal(grads1[k], layer.grads[k])


@MODES
@pytest.mark.parametrize("case", sorted(CASES))
def test_output_shape_predicts_the_forward_shape(case, training):
    layer, x = build(case, training)
    assert layer.forward(x).shape[1:] == tuple(layer.output_shape(x.shape[1:]))


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


#: the cases compared with PyTorch here: one torch module each (batch normalisation, dropout and the residual
#: block are compared in their own files, with running statistics, a shared mask and a module of modules)
TORCH_CASES = sorted(c for c in CASES if not isinstance(CASES[c][0](), (BatchNorm1D, BatchNorm2D, Dropout,
                                                                         ResidualBlock)))


@pytest.mark.parametrize("case", TORCH_CASES)
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


def test_dense_forward_uses_the_masked_bias():
    layer = Dense(3, 2, rng=np.random.default_rng(0), dtype=np.float64)
    layer.params["b"] = np.array([1.5, -2.0])
    layer.set_mask("b", np.array([1.0, 0.0]))
    layer.params["b"][1] = 7.0          # a masked entry written to by hand must not reach the output
    x = np.ones((1, 3))
    out = layer.forward(x)
    np.testing.assert_array_equal(out, x @ layer.params["W"].T + np.array([1.5, 0.0]))


def test_logsoftmax_backward_matches_central_differences():
    z = make_input((6, 5), seed=1) * 3.0         # logits of 6 samples, 5 classes
    result = check_layer(LogSoftmax(), z)
    assert result.passed, str(result)


# -- bad input: Dense and the activations ------------------------------------------------------------------------
#: one row per bad input, in the format of ``BAD_INPUT_FIELDS`` (tests/conftest.py)
BAD_INPUTS = [
    ("dense_wrong_features", lambda t: Dense(4, 2, name="fc1").forward(img((3, 5))),
     ShapeError, ["fc1", "(N, 4)", "(3, 5)", "Flatten"]),
    ("dense_float_features", lambda t: Dense(4.0, 2), TypeError, ["in_features", "4.0"]),
    ("unknown_activation", lambda t: nc.layers.activation("gelu"), ValueError, ["activation", "gelu", "relu"]),
    ("dense_bias_not_a_bool", lambda t: Dense(3, 2, bias="no"), TypeError, ["bias", "True or False", "'no'"]),
]


@pytest.mark.parametrize(BAD_INPUT_FIELDS, bad_input_cases(BAD_INPUTS))
def test_bad_input_raises_the_documented_error_naming_the_argument(call, exc, needles, tmp_path):
    assert_bad_input(call, exc, needles, tmp_path)
