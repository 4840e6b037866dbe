"""pool_layers.py: ``MaxPool2D``, ``AvgPool2D`` and the adaptive poolings — the implementation they
run, training on the textbook pooling, PyTorch's options against torch and central differences,
model files, and their bad input.
"""
import numpy as np
import pytest
from hypothesis import assume, given, settings, strategies as st

import numpycnn as nc
from numpycnn import fast_pooling, layers, layers as L, pooling
from numpycnn.errors import ShapeError
from numpycnn.gradcheck import check_layer, distinct_values
from numpycnn.layers import AdaptiveAvgPool2D, AdaptiveMaxPool2D, AvgPool2D, MaxPool2D

from conftest import BAD_INPUT_FIELDS, assert_bad_input, bad_input_cases, img, make_input


@pytest.mark.parametrize("implementation", ["fast", "textbook"])
def test_a_max_pooling_layer_runs_the_implementation_it_names_or_the_switch_chooses(implementation):
    x = np.random.default_rng(5).standard_normal((1, 1, 4, 4))
    named, default = MaxPool2D(2, implementation=implementation), MaxPool2D(2)
    other = "textbook" if implementation == "fast" else "fast"
    with layers.use_implementation(other):
        for layer in (named, default):
            layer.forward(x)
    assert (named.implementation_used, default.implementation_used) == (implementation, other)
    small_argmax = named.cache[1].dtype == np.uint8
    assert small_argmax == (implementation == "fast")                # the cache says which code really ran


def test_a_network_trains_on_the_textbook_pooling_to_the_fast_pooling_weights():
    """Two epochs with textbook max pooling (fast convolution) end at the fast run's weights, bit for bit."""
    data = nc.datasets.load_dataset("digits", seed=0, train_limit=200)
    weights = {}
    for implementation in ("fast", "textbook"):
        model = nc.zoo.small_cnn(data.input_shape, width=4, seed=0)
        for name in ("pool1", "pool2"):
            model[name].implementation = implementation
        trainer = nc.Trainer(model, nc.optim.Adam(model, lr=3e-3), batch_size=32, progress=False)
        trainer.fit(data.train, epochs=2)
        weights[implementation] = {name: p for name, p, _ in model.named_parameters()}
    for name, p in weights["fast"].items():
        np.testing.assert_array_equal(weights["textbook"][name], p, err_msg=name)


def test_the_pooling_implementation_is_saved_with_the_model_only_when_chosen(tmp_path):
    model = nc.Sequential([("pool", MaxPool2D(2, implementation="textbook")), ("flatten", nc.Flatten())],
                          input_shape=(1, 4, 4))
    nc.model.save_model(tmp_path / "m.npz", model)
    assert nc.model.load_model(tmp_path / "m.npz")["pool"].implementation == "textbook"
    assert MaxPool2D(2).config() == {"kernel_size": 2, "stride": 2, "pad": 0}


def test_an_unknown_pooling_implementation_is_refused_naming_the_layer_and_the_choices():
    with pytest.raises(ValueError, match=r"MaxPool2D 'pool1': implementation must be one of \['fast', 'textbook'\]"):
        MaxPool2D(2, name="pool1", implementation="blas")


def test_a_plain_pooling_layer_calls_the_plain_kernels_and_an_option_the_general_ones(monkeypatch):
    calls = []
    for module in (pooling, fast_pooling):
        for name in dir(module):
            if name.startswith(("maxpool2d_forward", "maxpool2d_backward", "avgpool2d_forward", "avgpool2d_backward")):
                f = getattr(module, name)
                monkeypatch.setattr(module, name, lambda *a, _n=name, _f=f, **k: calls.append(_n) or _f(*a, **k))
    x = np.random.default_rng(6).standard_normal((1, 2, 6, 6))
    for layer in (MaxPool2D(2), AvgPool2D(2)):
        layer.backward(np.ones_like(layer.forward(x)))
    assert calls == ["maxpool2d_forward_fast", "maxpool2d_backward_fast", "avgpool2d_forward", "avgpool2d_backward"]
    calls.clear()
    for layer in (MaxPool2D(2, ceil_mode=True), AvgPool2D(2, count_include_pad=False)):
        layer.backward(np.ones_like(layer.forward(x)))
    assert calls == ["maxpool2d_forward_fast_general", "maxpool2d_backward_fast_general",
                     "avgpool2d_forward_general", "avgpool2d_backward_general"]


@settings(max_examples=30, deadline=None)
@given(N=st.integers(1, 2), C=st.integers(1, 2), H=st.integers(1, 8), W=st.integers(1, 8), KH=st.integers(1, 3),
       KW=st.integers(1, 3), SH=st.integers(1, 3), SW=st.integers(1, 3), PH=st.integers(0, 1), PW=st.integers(0, 1),
       DH=st.integers(1, 2), DW=st.integers(1, 2), ceil_mode=st.booleans(), count_include_pad=st.booleans(),
       kind=st.sampled_from(["max_fast", "max_textbook", "avg"]))
def test_pooling_with_random_options_matches_torch_in_float64(N, C, H, W, KH, KW, SH, SW, PH, PW, DH, DW, ceil_mode,
                                                              count_include_pad, kind):
    torch = pytest.importorskip("torch")
    if kind == "avg":
        DH = DW = 1
    assume(PH <= KH // 2 and PW <= KW // 2)
    assume(H + 2 * PH >= DH * (KH - 1) + 1 and W + 2 * PW >= DW * (KW - 1) + 1)
    x = distinct_values(np.random.default_rng(0), (N, C, H, W))
    if kind == "avg":
        layer = AvgPool2D((KH, KW), (SH, SW), (PH, PW), ceil_mode, count_include_pad)
        module = torch.nn.AvgPool2d((KH, KW), (SH, SW), (PH, PW), ceil_mode, count_include_pad)
    else:
        layer = MaxPool2D((KH, KW), (SH, SW), (PH, PW), (DH, DW), ceil_mode, implementation=kind[4:])
        module = torch.nn.MaxPool2d((KH, KW), (SH, SW), (PH, PW), (DH, DW), ceil_mode=ceil_mode)
    try:
        layer.output_shape((C, H, W))
    except ShapeError:          # a dilated window reads only padding: refused (torch's backward writes out of bounds)
        assume(False)
    out = layer.forward(x)
    dout = np.random.default_rng(1).standard_normal(out.shape)
    xt = torch.tensor(x, requires_grad=True)
    ot = module(xt)
    ot.backward(torch.tensor(dout))
    np.testing.assert_allclose(out, ot.detach().numpy(), rtol=0, atol=1e-12)
    np.testing.assert_allclose(layer.backward(dout), xt.grad.numpy(), rtol=0, atol=1e-12)
    assert layer.output_shape((C, H, W)) == out.shape[1:]


@settings(max_examples=15, deadline=None)
@given(H=st.integers(2, 7), W=st.integers(2, 7), K=st.tuples(st.integers(1, 3), st.integers(1, 3)),
       S=st.tuples(st.integers(1, 2), st.integers(1, 2)), D=st.tuples(st.integers(1, 2), st.integers(1, 2)),
       ceil_mode=st.booleans(), count_include_pad=st.booleans(), kind=st.sampled_from(["max", "avg"]))
def test_pooling_backward_with_random_options_matches_central_differences(H, W, K, S, D, ceil_mode, count_include_pad,
                                                                          kind):
    P = (K[0] // 2, K[1] // 2)
    if kind == "avg":
        D = (1, 1)
    assume(H + 2 * P[0] >= D[0] * (K[0] - 1) + 1 and W + 2 * P[1] >= D[1] * (K[1] - 1) + 1)
    layer = (MaxPool2D(K, S, P, D, ceil_mode) if kind == "max" else AvgPool2D(K, S, P, ceil_mode, count_include_pad))
    try:
        layer.output_shape((2, H, W))
    except ShapeError:          # a dilated window reads only padding: refused, see the test below
        assume(False)
    result = check_layer(layer, distinct_values(np.random.default_rng(0), (2, 2, H, W)))
    assert result.passed, str(result)


@pytest.mark.parametrize("output_size", [1, 2, (2, 3), (None, 3), (4, 1)])
@pytest.mark.parametrize("kind", ["avg", "max"])
def test_adaptive_pooling_matches_torch_for_output_sizes_that_divide_the_input(output_size, kind):
    torch = pytest.importorskip("torch")
    x = distinct_values(np.random.default_rng(7), (2, 3, 4, 6))
    layer = AdaptiveAvgPool2D(output_size) if kind == "avg" else AdaptiveMaxPool2D(output_size)
    module = (torch.nn.AdaptiveAvgPool2d if kind == "avg" else torch.nn.AdaptiveMaxPool2d)(output_size)
    out = layer.forward(x)
    dout = np.random.default_rng(8).standard_normal(out.shape)
    xt = torch.tensor(x, requires_grad=True)
    ot = module(xt)
    ot.backward(torch.tensor(dout))
    np.testing.assert_allclose(out, ot.detach().numpy(), rtol=0, atol=1e-14)
    np.testing.assert_allclose(layer.backward(dout), xt.grad.numpy(), rtol=0, atol=1e-14)
    assert layer.output_shape((3, 4, 6)) == out.shape[1:]


def test_global_average_pooling_is_the_mean_of_each_channel():
    x = np.random.default_rng(9).standard_normal((2, 3, 4, 5))
    np.testing.assert_allclose(AdaptiveAvgPool2D(1).forward(x)[:, :, 0, 0], x.mean(axis=(2, 3)), rtol=1e-14)


def test_ceil_mode_keeps_the_last_partial_window_and_max_pooling_reads_only_the_input_there():
    x = np.arange(25.0).reshape(1, 1, 5, 5)
    out = MaxPool2D(2, ceil_mode=True).forward(x)                    # 3 x 3 windows, the last row/column partial
    np.testing.assert_array_equal(out[0, 0], [[6, 8, 9], [16, 18, 19], [21, 23, 24]])
    assert MaxPool2D(2).forward(x).shape == (1, 1, 2, 2)


@pytest.mark.parametrize("layer", [MaxPool2D((3, 2), (2, 1), 1, dilation=(1, 2), ceil_mode=True),
                                   AvgPool2D((2, 3), 2, (1, 0), ceil_mode=True, count_include_pad=False),
                                   AdaptiveAvgPool2D((2, None)), AdaptiveMaxPool2D(2)], ids=repr)
def test_pooling_options_round_trip_through_a_model_file(layer, tmp_path):
    model = nc.Sequential([("pool", layer), ("flat", nc.Flatten())], input_shape=(2, 8, 6))
    nc.model.save_model(tmp_path / "m.npz", model)
    loaded = nc.model.load_model(tmp_path / "m.npz")
    assert loaded["pool"].config() == layer.config() and type(loaded["pool"]) is type(layer)
    x = np.random.default_rng(10).standard_normal((2, 2, 8, 6)).astype(np.float32)
    np.testing.assert_array_equal(loaded.forward(x), model.forward(x))


def test_a_pooling_config_written_before_the_options_existed_builds_the_plain_layer():
    for cls in (MaxPool2D, AvgPool2D):
        layer = layers.layer_from_config(cls.__name__, {"kernel_size": 3, "stride": 2, "pad": 1})
        assert (layer.ceil_mode, layer.dilation, layer.general) == (False, 1, False)
        assert getattr(layer, "count_include_pad", True) is True


def test_a_dilated_max_pooling_window_that_reads_only_padding_is_refused_naming_it():
    """Kernel (2, 1), dilation 2, pad 1 on a 1-pixel-high input: the one window reads rows -1 and 1, both padding.
    Its maximum would be -inf (and PyTorch's backward writes outside its gradient there)."""
    layer = MaxPool2D((2, 1), 1, (1, 0), dilation=2, name="pool")
    with pytest.raises(ShapeError, match=r"'pool': along the height, window 0 reads only padding"):
        layer.forward(np.zeros((1, 1, 1, 8)))
    assert layer.forward(np.zeros((1, 1, 2, 8))).shape == (1, 1, 2, 8)     # row 1 of a 2-pixel input is inside


@settings(max_examples=25, deadline=None)
@given(N=st.integers(1, 2), C=st.integers(1, 3), H=st.integers(1, 7), W=st.integers(1, 7),
       k=st.integers(1, 3), s=st.integers(1, 3), p=st.integers(0, 1), kind=st.sampled_from(["max", "avg"]))
def test_pool_backward_matches_central_differences_for_generated_shapes(N, C, H, W, k, s, p, kind):
    assume(p <= k // 2 and H + 2 * p >= k and W + 2 * p >= k)
    layer = (L.MaxPool2D if kind == "max" else L.AvgPool2D)(k, s, p)
    result = check_layer(layer, make_input((N, C, H, W), "distinct"))
    assert result.passed, str(result)


# -- bad input: the pooling layers ------------------------------------------------------------------------
#: one row per bad input, in the format of ``BAD_INPUT_FIELDS`` (tests/conftest.py)
BAD_INPUTS = [
    ("maxpool_2d_input", lambda t: MaxPool2D(2, name="pool1").forward(np.zeros((5, 5))),
     ShapeError, ["pool1", "(5, 5)", "4 dimensions"]),
    ("maxpool_window_larger_than_input", lambda t: MaxPool2D(7).forward(np.zeros((1, 1, 5, 5))),
     ShapeError, ["MaxPool2D", "kernel size 7"]),
    ("avgpool_pad_too_large", lambda t: AvgPool2D(2, pad=2), ValueError, ["pad", "kernel_size // 2", "2"]),
    ("maxpool_dilation_leaving_no_output", lambda t: MaxPool2D(3, dilation=4, name="p").forward(img((1, 1, 6, 6))),
     ShapeError, ["'p'", "dilation 4", "spans 9", "padded input size 6"]),
    ("maxpool_dilated_window_reading_only_padding",
     lambda t: MaxPool2D((2, 1), 1, (1, 0), dilation=2, name="p").forward(img((1, 1, 1, 8))), ShapeError,
     ["'p'", "height", "window 0 reads only padding", "dilation 2"]),
    ("maxpool_pad_above_half_the_kernel_on_one_axis", lambda t: MaxPool2D((2, 4), pad=(1, 3)), ValueError,
     ["pad", "kernel_size // 2", "(1, 2)", "(1, 3)"]),
    ("maxpool_ceil_mode_not_a_bool", lambda t: MaxPool2D(2, ceil_mode="yes"), TypeError, ["ceil_mode", "'yes'"]),
    ("avgpool_count_include_pad_not_a_bool", lambda t: AvgPool2D(2, count_include_pad=None), TypeError,
     ["count_include_pad", "True or False", "None"]),
    ("adaptive_output_size_not_dividing_the_input",
     lambda t: nc.AdaptiveAvgPool2D(3, name="gap").forward(img((1, 1, 8, 8))), ShapeError,
     ["'gap'", "output_size (3, 3)", "divide", "(8, 8)"]),
    ("adaptive_output_size_zero", lambda t: nc.AdaptiveMaxPool2D(0), ValueError, ["output_size", ">= 1", "0"]),
]


@pytest.mark.parametrize(BAD_INPUT_FIELDS, bad_input_cases(BAD_INPUTS))
def test_bad_input_raises_the_documented_error_naming_the_argument(call, exc, needles, tmp_path):
    assert_bad_input(call, exc, needles, tmp_path)
