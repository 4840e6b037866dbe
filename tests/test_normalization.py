"""BatchNorm1D / BatchNorm2D: the batch statistics, the running statistics, train and eval modes,
backward vs central differences and vs PyTorch, buffers saved with the model. LayerNorm and GroupNorm:
per-sample statistics, the same in both modes, vs PyTorch on generated shapes."""
import numpy as np
import pytest
from hypothesis import assume, given, settings, strategies as st

import numpycnn as nc
from numpycnn.errors import CheckpointError, ShapeError
from numpycnn.gradcheck import check_layer, check_model
from numpycnn.layers import layer_from_config
from numpycnn.model import Sequential, load_model, save_model
from numpycnn.normalization import (BatchNorm1D, BatchNorm2D, GroupNorm, LayerNorm, batchnorm_backward,
                                    batchnorm_forward, standardize_rows, standardize_rows_backward)

from conftest import BAD_INPUT_FIELDS, assert_bad_input, bad_input_cases, img, make_x


#: id -> (layer factory, input shape) of the batch normalisations' own tests (their layer contract runs over
#: tests/conftest.py's LAYER_CASES); gamma/beta made non-trivial so every term of the backward counts.
#: (Two values per channel normalise to ±sqrt(var / (var + eps)) whatever they are: dL/dx is of the
#: order of eps there, and a relative error of rounding noise means nothing — so at least three.)
CASES = {
    "bn1d": (lambda: BatchNorm1D(5, dtype=np.float64), (6, 5)),
    "bn1d_three_samples": (lambda: BatchNorm1D(3, dtype=np.float64), (3, 3)),
    "bn2d": (lambda: BatchNorm2D(3, dtype=np.float64), (2, 3, 4, 5)),
    "bn2d_one_image": (lambda: BatchNorm2D(2, eps=1e-3, momentum=0.3, dtype=np.float64), (1, 2, 3, 3)),
}


def make(case, dtype=np.float64, training=True):
    factory, shape = CASES[case]
    layer = factory().astype(dtype)
    r = np.random.default_rng(11)
    layer.params["gamma"] = (1 + 0.5 * r.standard_normal(layer.num_features)).astype(dtype)
    layer.params["beta"] = r.standard_normal(layer.num_features).astype(dtype)
    layer.training = training
    if not training:   # running statistics that are not the initial 0 / 1
        layer.buffers["running_mean"] = r.standard_normal(layer.num_features).astype(dtype)
        layer.buffers["running_var"] = (0.5 + r.random(layer.num_features)).astype(dtype)
    # the input's seed differs from check_layer's (seed 0): with dout == x the check would be degenerate
    x = (2 * make_x(shape, seed=12) + 1).astype(dtype)
    return layer, x


def test_a_two_sample_batch_by_hand():
    layer = BatchNorm1D(1, dtype=np.float64)
    layer.params["gamma"][:] = 2.0
    layer.params["beta"][:] = 0.5
    out = layer.forward(np.array([[1.0], [3.0]]))            # mu = 2, biased var = 1, unbiased var = 2
    np.testing.assert_allclose(out[:, 0], [2 * -1 / np.sqrt(1 + 1e-5) + 0.5, 2 * 1 / np.sqrt(1 + 1e-5) + 0.5])
    assert layer.buffers["running_mean"][0] == pytest.approx(0.9 * 0 + 0.1 * 2)
    assert layer.buffers["running_var"][0] == pytest.approx(0.9 * 1 + 0.1 * 2)


def test_training_output_has_zero_mean_and_unit_variance_per_channel_before_gamma_and_beta():
    x = np.random.default_rng(0).standard_normal((4, 3, 5, 5)) * [[[[1.0]], [[5.0]], [[0.1]]]] + 7
    out = BatchNorm2D(3, eps=1e-12, dtype=np.float64).forward(x)
    np.testing.assert_allclose(out.mean(axis=(0, 2, 3)), 0, atol=1e-12)
    np.testing.assert_allclose(out.var(axis=(0, 2, 3)), 1, atol=1e-9)


def test_functional_backward_matches_central_differences_on_columns():
    r = np.random.default_rng(3)
    x, dout = r.standard_normal((7, 4)), r.standard_normal((7, 4))
    gamma, beta = r.standard_normal(4), r.standard_normal(4)
    _, cache = batchnorm_forward(x, gamma, beta)
    dx, dgamma, dbeta = batchnorm_backward(dout, cache)
    def f():
        return float(np.sum(batchnorm_forward(x, gamma, beta)[0] * dout))
    for name, arr, analytic in (("x", x, dx), ("gamma", gamma, dgamma), ("beta", beta, dbeta)):
        numeric = nc.gradcheck.numerical_gradient(f, arr)
        assert nc.gradcheck.relative_error(analytic, numeric) < 1e-8, name


def test_gradient_reaching_x_has_zero_mean_and_is_orthogonal_to_x_hat_in_training_mode():
    """Orthogonality is exact only as eps -> 0 (sum x_hat² = M var / (var + eps)), hence eps = 1e-12."""
    _, x = make("bn2d")
    layer = BatchNorm2D(3, eps=1e-12, dtype=np.float64)
    layer.params["gamma"] = np.array([0.5, 2.0, -1.0])
    layer.forward(x)
    dx = layer.backward(np.random.default_rng(4).standard_normal(x.shape))
    x_hat = layer.cache[0]
    cols = dx.transpose(0, 2, 3, 1).reshape(-1, 3)
    scale = np.abs(cols).sum(axis=0)                       # the size of the sums' terms
    np.testing.assert_allclose(cols.sum(axis=0) / scale, 0, atol=1e-13)
    np.testing.assert_allclose((cols * x_hat).sum(axis=0) / scale, 0, atol=1e-11)


def test_evaluation_mode_uses_the_running_statistics():
    layer, x = make("bn2d", training=False)
    out = layer.forward(x)
    rm, rv = layer.buffers["running_mean"], layer.buffers["running_var"]
    g, b = layer.params["gamma"], layer.params["beta"]
    want = g[None, :, None, None] * (x - rm[None, :, None, None]) / np.sqrt(rv[None, :, None, None] + 1e-5) \
        + b[None, :, None, None]
    np.testing.assert_allclose(out, want, rtol=1e-13)
    before = {k: v.copy() for k, v in layer.buffers.items()}
    layer.forward(x)
    for k in before:
        np.testing.assert_array_equal(layer.buffers[k], before[k])       # eval mode never updates them


# -- PyTorch as the oracle: train mode, eval mode, running statistics over several steps ---------

def _torch_bn(torch, layer):
    cls = torch.nn.BatchNorm2d if isinstance(layer, BatchNorm2D) else torch.nn.BatchNorm1d
    m = cls(layer.num_features, eps=layer.eps, momentum=layer.momentum).double()
    with torch.no_grad():
        m.weight.copy_(torch.from_numpy(layer.params["gamma"]))
        m.bias.copy_(torch.from_numpy(layer.params["beta"]))
    return m


@pytest.mark.parametrize("case", sorted(CASES))
def test_train_steps_running_statistics_and_eval_match_pytorch_in_float64(case):
    torch = pytest.importorskip("torch")
    layer, _ = make(case)
    module = _torch_bn(torch, layer)
    shape = CASES[case][1]
    r = np.random.default_rng(5)
    for step in range(4):                                  # four training batches with different statistics
        x = r.standard_normal(shape) * (1 + step) + step
        dout = r.standard_normal(shape)
        module.train()
        layer.training = True
        xt = torch.from_numpy(x.copy()).requires_grad_(True)
        module.zero_grad()
        yt = module(xt)
        yt.backward(torch.from_numpy(dout))
        out = layer.forward(x)
        dx = layer.backward(dout)
        np.testing.assert_allclose(out, yt.detach().numpy(), rtol=0, atol=1e-10)
        np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=0, atol=1e-10)
        np.testing.assert_allclose(layer.grads["gamma"], module.weight.grad.numpy(), rtol=0, atol=1e-10)
        np.testing.assert_allclose(layer.grads["beta"], module.bias.grad.numpy(), rtol=0, atol=1e-10)
        np.testing.assert_allclose(layer.buffers["running_mean"], module.running_mean.numpy(), rtol=0, atol=1e-12)
        np.testing.assert_allclose(layer.buffers["running_var"], module.running_var.numpy(), rtol=0, atol=1e-12)
    module.eval()
    layer.training = False
    x, dout = r.standard_normal(shape), r.standard_normal(shape)
    xt = torch.from_numpy(x.copy()).requires_grad_(True)
    module.zero_grad()
    yt = module(xt)
    yt.backward(torch.from_numpy(dout))
    np.testing.assert_allclose(layer.forward(x), yt.detach().numpy(), rtol=0, atol=1e-10)
    np.testing.assert_allclose(layer.backward(dout), xt.grad.numpy(), rtol=0, atol=1e-10)
    np.testing.assert_allclose(layer.grads["gamma"], module.weight.grad.numpy(), rtol=0, atol=1e-10)


# -- beyond the layer contract (tests/test_layers.py): config in another dtype, the repr ---------

@pytest.mark.parametrize("case", sorted(CASES))
def test_output_shape_config_and_repr(case):
    layer, x = make(case)
    assert layer.forward(x).shape[1:] == layer.output_shape(x.shape[1:])
    clone = layer_from_config(type(layer).__name__, layer.config(), dtype=np.float64)
    assert type(clone) is type(layer) and clone.config() == layer.config()
    assert clone.params["gamma"].dtype == np.float64 and clone.buffers["running_var"].dtype == np.float64
    assert repr(layer).startswith(f"{type(layer).__name__}(num_features=")


@settings(max_examples=25, deadline=None)
@given(N=st.integers(1, 3), C=st.integers(1, 3), H=st.integers(1, 4), W=st.integers(1, 4),
       training=st.booleans(), seed=st.integers(1, 10_000))
def test_bn2d_backward_matches_central_differences_for_generated_shapes(N, C, H, W, training, seed):
    if training and N * H * W < 3:
        return                    # one value: refused (tested below); two: dL/dx ~ eps (see CASES)
    layer = BatchNorm2D(C, dtype=np.float64)
    layer.training = training
    r = np.random.default_rng(seed)
    layer.params["gamma"] = 1 + r.standard_normal(C)
    x = r.standard_normal((N, C, H, W)) * 3
    result = check_layer(layer, x, seed=seed + 1)
    assert result.passed, str(result)


@settings(max_examples=25, deadline=None)
@given(N=st.integers(2, 6), D=st.integers(1, 5), seed=st.integers(1, 10_000))
def test_bn1d_normalises_every_feature_for_generated_shapes(N, D, seed):
    r = np.random.default_rng(seed)
    x = r.standard_normal((N, D)) * r.uniform(0.5, 5, D) + r.uniform(-5, 5, D)
    out = BatchNorm1D(D, dtype=np.float64).forward(x)
    np.testing.assert_allclose(out.mean(axis=0), 0, atol=1e-10)
    var = x.var(axis=0)
    np.testing.assert_allclose(out.var(axis=0), var / (var + 1e-5), rtol=1e-9)


# -- errors ----------------------------------------------------------------------------

def test_one_value_per_channel_in_training_mode_is_refused_naming_the_layer_and_eval_mode_accepts_it():
    layer = BatchNorm1D(4, name="bn1")
    x = np.ones((1, 4), dtype=np.float32)
    with pytest.raises(ValueError, match="BatchNorm1D 'bn1'.*more than one value per channel"):
        layer.forward(x)
    layer.training = False
    assert layer.forward(x).shape == (1, 4)


def test_bad_inputs_and_arguments_are_named():
    with pytest.raises(ShapeError, match=r"shape \(N, 3\).*use BatchNorm2D"):
        BatchNorm1D(3).forward(np.zeros((2, 3, 4, 4), np.float32))
    with pytest.raises(ShapeError, match="3 channels"):
        BatchNorm2D(3).forward(np.zeros((2, 4, 4, 4), np.float32))
    with pytest.raises(TypeError, match="floating"):
        BatchNorm1D(3).forward(np.zeros((2, 3), np.int64))
    with pytest.raises(ValueError, match="num_features must be an integer >= 1; got 0"):
        BatchNorm2D(0)
    with pytest.raises(ValueError, match=r"momentum must be a number in \[0, 1\].*; got 1.5"):
        BatchNorm2D(3, momentum=1.5)
    with pytest.raises(ValueError, match="eps must be a number > 0"):
        BatchNorm1D(3, eps=0)
    with pytest.raises(ShapeError, match=r"expects input of shape \(4, H, W\); the layer below gives \(3, 8, 8\)"):
        Sequential([nc.Conv2D(1, 3, 3, pad=1), BatchNorm2D(4)], input_shape=(1, 8, 8))


# -- in a model: gradients, buffers saved and loaded ------------------------------------------

def bn_model(dtype=np.float64, seed=0):
    """conv -> tanh -> bn -> tanh -> fc -> tanh -> bn -> fc: a nonlinearity between every BatchNorm and
    the layer before it, so no parameter's true gradient is 0 (a bias just before a BatchNorm has none)."""
    rng = np.random.default_rng(seed)
    return Sequential([("conv1", nc.Conv2D(1, 3, 3, pad=1, rng=rng, dtype=dtype)), ("tanh1", nc.Tanh()),
                       ("bn1", BatchNorm2D(3, dtype=dtype)), ("tanh2", nc.Tanh()), ("flat", nc.Flatten()),
                       ("fc1", nc.Dense(3 * 6 * 6, 6, rng=rng, dtype=dtype)), ("tanh3", nc.Tanh()),
                       ("bnf", BatchNorm1D(6, dtype=dtype)), ("fc2", nc.Dense(6, 4, rng=rng, dtype=dtype))],
                      input_shape=(1, 6, 6))


def test_whole_model_with_batchnorm_matches_central_differences():
    r = np.random.default_rng(6)
    x, y = r.standard_normal((5, 1, 6, 6)), r.integers(0, 4, 5)
    result = check_model(bn_model(), x, y, max_entries=None)
    assert result.passed, str(result)


def test_a_bias_just_before_batchnorm_gets_no_gradient():
    """BatchNorm subtracts the batch mean, so a constant added per channel before it changes nothing."""
    model = Sequential([("fc", nc.Dense(4, 3, rng=np.random.default_rng(0), dtype=np.float64)),
                        ("bn", BatchNorm1D(3, dtype=np.float64))], input_shape=(4,))
    x = np.random.default_rng(1).standard_normal((6, 4))
    out = model.forward(x)
    model.backward(np.random.default_rng(2).standard_normal(out.shape))
    assert np.abs(model["fc"].grads["b"]).max() < 1e-12 < np.abs(model["fc"].grads["W"]).max()


def test_running_statistics_are_saved_and_loaded_with_the_model(tmp_path):
    model = bn_model(dtype=np.float32)
    x = np.random.default_rng(7).standard_normal((8, 1, 6, 6)).astype(np.float32)
    for _ in range(3):
        model.forward(x)
    state = model.state_dict()
    assert {"bn1.running_mean", "bn1.running_var", "bnf.running_mean", "bnf.running_var"} <= set(state)
    save_model(tmp_path / "m.npz", model)
    loaded = load_model(tmp_path / "m.npz")
    for key in ("bn1.running_mean", "bn1.running_var", "bnf.running_var"):
        np.testing.assert_array_equal(loaded.state_dict()[key], state[key])
    np.testing.assert_array_equal(loaded.predict_logits(x), model.predict_logits(x))


def test_a_state_without_the_running_statistics_is_refused():
    model = bn_model()
    state = {k: v for k, v in model.state_dict().items() if k != "bn1.running_var"}
    with pytest.raises(CheckpointError, match="bn1.running_var"):
        bn_model().load_state_dict(state)


# -- LayerNorm and GroupNorm: each sample normalised on its own ----------------------------------------------------
def test_standardize_rows_backward_matches_central_differences():
    r = np.random.default_rng(4)
    x, dout = r.standard_normal((5, 6)), r.standard_normal((5, 6))
    _, cache = standardize_rows(x)
    dx = standardize_rows_backward(dout, cache)
    numeric = nc.gradcheck.numerical_gradient(lambda: float(np.sum(standardize_rows(x)[0] * dout)), x)
    assert nc.gradcheck.relative_error(dx, numeric) < 1e-8


@pytest.mark.parametrize("layer, shape, axes", [
    (LayerNorm((3, 4, 5), eps=1e-12, dtype=np.float64), (2, 3, 4, 5), (1, 2, 3)),
    (LayerNorm(5, eps=1e-12, dtype=np.float64), (2, 3, 4, 5), (3,)),
    (GroupNorm(1, 3, eps=1e-12, dtype=np.float64), (2, 3, 4, 5), (1, 2, 3))], ids=repr)
def test_layer_and_group_norm_give_each_sample_zero_mean_and_unit_variance_before_gamma_and_beta(layer, shape, axes):
    x = np.random.default_rng(0).standard_normal(shape) * [[[[1.0]], [[5.0]], [[0.1]]]] + 7
    out = layer.forward(x)
    np.testing.assert_allclose(out.mean(axis=axes), 0, atol=1e-12)
    np.testing.assert_allclose(out.var(axis=axes), 1, atol=1e-9)


def test_group_norm_normalises_each_group_of_channels_separately():
    x = np.random.default_rng(1).standard_normal((2, 4, 3, 3)) * [[[[1.0]], [[2.0]], [[30.0]], [[40.0]]]]
    out = GroupNorm(2, 4, eps=1e-12, dtype=np.float64).forward(x)
    for g in range(2):
        np.testing.assert_allclose(out[:, 2 * g:2 * g + 2].mean(axis=(1, 2, 3)), 0, atol=1e-12)
        np.testing.assert_allclose(out[:, 2 * g:2 * g + 2].var(axis=(1, 2, 3)), 1, atol=1e-9)


@pytest.mark.parametrize("make", [lambda: LayerNorm((2, 3, 3)), lambda: GroupNorm(2, 2)], ids=["layernorm", "groupnorm"])
def test_layer_and_group_norm_compute_the_same_in_training_and_evaluation_mode(make):
    layer = make()
    x = np.random.default_rng(2).standard_normal((3, 2, 3, 3)).astype(np.float32)
    train = layer.forward(x)
    layer.training = False
    np.testing.assert_array_equal(layer.forward(x), train)
    assert layer.buffers == {}


@settings(max_examples=25, deadline=None)
@given(N=st.integers(1, 3), G=st.integers(1, 3), Cg=st.integers(1, 2), H=st.integers(1, 4), W=st.integers(1, 4),
       affine=st.booleans(), eps=st.sampled_from([1e-5, 1e-3]), seed=st.integers(0, 100))
def test_group_norm_matches_torch_in_float64_for_generated_shapes(N, G, Cg, H, W, affine, eps, seed):
    torch = pytest.importorskip("torch")
    assume(Cg * H * W > 1)
    layer = GroupNorm(G, G * Cg, eps=eps, affine=affine, dtype=np.float64)
    module = torch.nn.GroupNorm(G, G * Cg, eps=eps, affine=affine).double()
    _check_against_torch(torch, layer, module, (N, G * Cg, H, W), seed)


@settings(max_examples=25, deadline=None)
@given(N=st.integers(1, 3), shape=st.lists(st.integers(1, 4), min_size=1, max_size=3), trailing=st.integers(1, 3),
       affine=st.booleans(), bias=st.booleans(), seed=st.integers(0, 100))
def test_layer_norm_matches_torch_in_float64_for_generated_shapes(N, shape, trailing, affine, bias, seed):
    torch = pytest.importorskip("torch")
    normalized = tuple(shape[len(shape) - min(trailing, len(shape)):])
    assume(int(np.prod(normalized)) > 1)
    layer = LayerNorm(normalized, elementwise_affine=affine, bias=bias, dtype=np.float64)
    module = torch.nn.LayerNorm(normalized, elementwise_affine=affine, bias=bias).double()
    _check_against_torch(torch, layer, module, (N, *shape), seed)


def _check_against_torch(torch, layer, module, shape, seed):
    """Same (random) gamma and beta on both sides; forward, dx and every parameter gradient at 1e-10."""
    r = np.random.default_rng(seed)
    with torch.no_grad():
        for ours, theirs in (("gamma", "weight"), ("beta", "bias")):
            if ours in layer.params:
                layer.params[ours] = 1 + 0.5 * r.standard_normal(layer.params[ours].shape)
                getattr(module, theirs).copy_(torch.from_numpy(layer.params[ours]))
    x = 3 * r.standard_normal(shape) + 1
    out = layer.forward(x)
    dout = r.standard_normal(out.shape)
    dx = layer.backward(dout)
    xt = torch.tensor(x, requires_grad=True)
    yt = module(xt)
    yt.backward(torch.tensor(dout))
    np.testing.assert_allclose(out, yt.detach().numpy(), rtol=0, atol=1e-10)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=0, atol=1e-10)
    for ours, theirs in (("gamma", "weight"), ("beta", "bias")):
        if ours in layer.params:
            np.testing.assert_allclose(layer.grads[ours], getattr(module, theirs).grad.numpy(), rtol=0, atol=1e-10)
    assert len(layer.params) == len(list(module.parameters()))


def test_a_model_with_layer_and_group_norm_passes_the_whole_model_gradient_check():
    rng = np.random.default_rng(3)
    model = Sequential([("conv", nc.Conv2D(1, 4, 3, pad=1, rng=rng, dtype=np.float64)),
                        ("gn", GroupNorm(2, 4, dtype=np.float64)), ("act", nc.Tanh()), ("flat", nc.Flatten()),
                        ("ln", LayerNorm(64, dtype=np.float64)), ("fc", nc.Dense(64, 3, rng=rng, dtype=np.float64))],
                       input_shape=(1, 4, 4))
    x, y = rng.standard_normal((4, 1, 4, 4)), rng.integers(0, 3, 4)
    result = check_model(model, x, y, max_entries=None)
    assert result.passed, str(result)


# -- bad input: LayerNorm and GroupNorm ------------------------------------------------------------------------
#: one row per bad input, in the format of ``BAD_INPUT_FIELDS`` (tests/conftest.py)
BAD_INPUTS = [
    ("layernorm_input_not_ending_with_its_shape", lambda t: nc.LayerNorm((3, 4), name="ln").forward(img((2, 3, 5))),
     ShapeError, ["'ln'", "normalized_shape (3, 4)", "(2, 3, 5)"]),
    ("groupnorm_groups_not_dividing_the_channels", lambda t: nc.GroupNorm(3, 4), ValueError,
     ["num_groups must divide", "num_channels (4)", "num_groups=3"]),
    ("groupnorm_channel_mismatch", lambda t: nc.GroupNorm(2, 4, name="gn").forward(img((2, 3, 4, 4))), ShapeError,
     ["'gn'", "4 channels", "(2, 3, 4, 4)"]),
]


@pytest.mark.parametrize(BAD_INPUT_FIELDS, bad_input_cases(BAD_INPUTS))
def test_bad_input_raises_the_documented_error_naming_the_argument(call, exc, needles, tmp_path):
    assert_bad_input(call, exc, needles, tmp_path)
