"""conv_layer.py: the ``Conv2D`` layer — it trains on the code a student writes (the textbook path)
to the fast path's weights, it names its implementation in the model file, PyTorch's options
against torch and central differences, and its bad input.
"""
import numpy as np
import pytest
from hypothesis import assume, given, settings, strategies as st

import numpycnn as nc
from numpycnn import conv, fast_conv, layers, layers as L
from numpycnn.errors import ShapeError
from numpycnn.gradcheck import check_layer
from numpycnn.layers import Conv2D

from conftest import BAD_INPUT_FIELDS, assert_bad_input, bad_input_cases, img, make_input


def test_a_textbook_layer_passes_the_gradient_check():
    layer = Conv2D(2, 3, 3, stride=2, pad=1, rng=np.random.default_rng(2), dtype=np.float64,
                   implementation="textbook")
    result = check_layer(layer, np.random.default_rng(3).standard_normal((2, 2, 7, 6)))
    assert result.passed, str(result)
    assert len(layer.cache) == 6           # the textbook cache (x, cols, w, b, stride, pad) — it really ran


def test_a_layer_that_names_its_implementation_ignores_the_global_switch():
    x = np.random.default_rng(4).standard_normal((1, 1, 5, 5)).astype(np.float32)
    fast, textbook, default = (Conv2D(1, 2, 3, implementation=k) for k in ("fast", "textbook", None))
    with layers.use_implementation("textbook"):
        for layer in (fast, textbook, default):
            layer.forward(x)
    assert [layer.implementation_used for layer in (fast, textbook, default)] == ["fast", "textbook", "textbook"]


def test_the_implementation_choice_is_saved_with_the_model(tmp_path):
    model = nc.Sequential([("conv1", Conv2D(1, 2, 3, implementation="textbook")), ("flatten", nc.Flatten())],
                          input_shape=(1, 5, 5))
    nc.model.save_model(tmp_path / "m.npz", model)
    assert nc.model.load_model(tmp_path / "m.npz")["conv1"].implementation == "textbook"
    assert "implementation" not in Conv2D(1, 2, 3).config()    # the default writes what files always held


def _with_the_old_key(architecture):
    """``architecture`` as files wrote it before ``Conv2D(kernel=...)`` became ``implementation=...``."""
    for layer in architecture["layers"]:
        if "implementation" in layer["config"]:
            layer["config"]["kernel"] = layer["config"].pop("implementation")
    return architecture


def test_a_model_file_that_names_the_implementation_kernel_still_loads(tmp_path):
    model = nc.Sequential([("conv1", Conv2D(1, 2, 3, implementation="textbook")), ("flatten", nc.Flatten())],
                          input_shape=(1, 5, 5))
    arrays = {f"model/{k}": v for k, v in model.state_dict().items()}
    meta = {"kind": "model", "architecture": _with_the_old_key(model.config()), "metadata": {}, "dtype": "float32"}
    assert "kernel" in meta["architecture"]["layers"][0]["config"]
    nc.storage.save_arrays(tmp_path / "old.npz", arrays, meta)
    loaded = nc.model.load_model(tmp_path / "old.npz")
    assert loaded["conv1"].implementation == "textbook"
    np.testing.assert_array_equal(loaded["conv1"].params["W"], model["conv1"].params["W"])


def test_a_checkpoint_that_names_the_implementation_kernel_still_resumes(tmp_path):
    data = nc.datasets.load_dataset("digits", seed=0, train_limit=64)
    def trainer():
        model = nc.Sequential([("conv1", Conv2D(1, 2, 3, implementation="textbook")), ("flatten", nc.Flatten()),
                               ("fc", nc.Dense(2 * 6 * 6, 10))], input_shape=data.input_shape)
        return nc.Trainer(model, nc.optim.SGD(model, lr=0.01), batch_size=32, progress=False)
    first = trainer()
    first.fit(data.train, epochs=1)
    arrays, meta = first.state_dict()
    meta["architecture"] = _with_the_old_key(meta["architecture"])
    nc.storage.save_arrays(tmp_path / "old.npz", arrays, meta)
    resumed = trainer().load_checkpoint(tmp_path / "old.npz")
    assert resumed.step == first.step
    np.testing.assert_array_equal(resumed.model["fc"].params["W"], first.model["fc"].params["W"])


def test_a_network_trains_on_the_textbook_path_to_the_fast_paths_weights():
    """Four epochs on the textbook and on the fast implementation end at the same weights (float64)."""
    data = nc.datasets.load_dataset("digits", seed=0, train_limit=400, dtype=np.float64)
    runs = {}
    for implementation in ("fast", "textbook"):
        model = nc.zoo.small_cnn(data.input_shape, width=4, seed=0, dtype=np.float64)
        trainer = nc.Trainer(model, nc.optim.Adam(model, lr=3e-3), batch_size=32, progress=False)
        with layers.use_implementation(implementation):
            trainer.fit(data.train, epochs=4)
        assert {model[n].implementation_used for n in model.conv_layers()} == {implementation}
        assert {model[n].implementation_used for n in ("pool1", "pool2")} == {implementation}
        runs[implementation] = (model, trainer.history["train_loss"][-1])
    (fast, fast_loss), (textbook, textbook_loss) = runs["fast"], runs["textbook"]
    for (name, p, _), (_, q, _) in zip(fast.named_parameters(), textbook.named_parameters()):
        np.testing.assert_allclose(q, p, rtol=1e-7, atol=1e-9, err_msg=name)
    assert textbook_loss == pytest.approx(fast_loss, rel=1e-9)
    assert textbook.evaluate(data.test.x, data.test.y)["accuracy"] > 0.5     # it learned


@pytest.mark.parametrize("implementation", ["fast", "textbook"])
def test_a_plain_layer_calls_the_plain_kernel_with_the_same_arguments_and_an_option_the_general_one(
        implementation, monkeypatch):
    """New options branch off before the plain kernels: a layer without options makes exactly the calls it
    always made (``conv2d_forward_fast(x, W, b, stride, pad)``), a layer with one never reaches them."""
    calls = []
    module = fast_conv if implementation == "fast" else conv
    for name in dir(module):
        if name.startswith("conv2d_") and "naive" not in name:
            original = getattr(module, name)
            monkeypatch.setattr(module, name, lambda *a, _n=name, _f=original, **k: calls.append(_n) or _f(*a, **k))
    x = np.random.default_rng(4).standard_normal((2, 2, 6, 6)).astype(np.float32)
    plain = Conv2D(2, 3, 3, stride=2, pad=1, implementation=implementation)
    plain.backward(np.ones_like(plain.forward(x)))
    suffix = "_fast" if implementation == "fast" else ""
    assert calls == [f"conv2d_forward{suffix}", f"conv2d_backward{suffix}"] and not plain.general
    calls.clear()
    dilated = Conv2D(2, 3, 3, stride=2, pad=1, dilation=2, implementation=implementation)
    dilated.backward(np.ones_like(dilated.forward(x)))
    assert calls == [f"conv2d_forward{suffix}_general", f"conv2d_backward{suffix}_general"] and dilated.general


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel lengths")
@pytest.mark.parametrize("kernel, dilation", [(3, 1), (4, 1), (3, 2), ((2, 5), (3, 1))])
def test_pad_same_keeps_the_input_size_and_matches_torch(kernel, dilation):
    torch = pytest.importorskip("torch")
    layer = Conv2D(2, 3, kernel, pad="same", dilation=dilation, rng=np.random.default_rng(5), dtype=np.float64)
    x = np.random.default_rng(6).standard_normal((2, 2, 7, 8))
    out = layer.forward(x)
    assert out.shape == (2, 3, 7, 8)
    want = torch.nn.functional.conv2d(torch.tensor(x), torch.tensor(layer.params["W"]), torch.tensor(layer.params["b"]),
                                      padding="same", dilation=dilation)
    np.testing.assert_allclose(out, want.numpy(), rtol=0, atol=1e-12)


def test_pad_valid_is_no_padding():
    rng = np.random.default_rng(7)
    x = rng.standard_normal((1, 2, 6, 5))
    valid, zero = (Conv2D(2, 3, 3, pad=p, rng=np.random.default_rng(8), dtype=np.float64) for p in ("valid", 0))
    np.testing.assert_array_equal(valid.forward(x), zero.forward(x))


@settings(max_examples=30, deadline=None)
@given(N=st.integers(1, 2), G=st.integers(1, 3), Cg=st.integers(1, 2), Fg=st.integers(1, 2), H=st.integers(1, 8),
       W=st.integers(1, 8), KH=st.integers(1, 3), KW=st.integers(1, 3), SH=st.integers(1, 3), SW=st.integers(1, 3),
       PH=st.integers(0, 2), PW=st.integers(0, 2), DH=st.integers(1, 3), DW=st.integers(1, 3), bias=st.booleans(),
       implementation=st.sampled_from(["fast", "textbook"]))
def test_conv_with_random_options_matches_torch_in_float64(N, G, Cg, Fg, H, W, KH, KW, SH, SW, PH, PW, DH, DW, bias,
                                                           implementation):
    torch = pytest.importorskip("torch")
    assume(H + 2 * PH >= DH * (KH - 1) + 1 and W + 2 * PW >= DW * (KW - 1) + 1)
    layer = Conv2D(G * Cg, G * Fg, (KH, KW), (SH, SW), (PH, PW), (DH, DW), G, bias, rng=np.random.default_rng(0),
                   dtype=np.float64, implementation=implementation)
    if bias:
        layer.params["b"] = np.random.default_rng(1).standard_normal(G * Fg)
    x = np.random.default_rng(2).standard_normal((N, G * Cg, H, W))
    out = layer.forward(x)
    dout = np.random.default_rng(3).standard_normal(out.shape)
    dx = layer.backward(dout)
    xt, wt = torch.tensor(x, requires_grad=True), torch.tensor(layer.params["W"], requires_grad=True)
    bt = torch.tensor(layer.params["b"], requires_grad=True) if bias else None
    ot = torch.nn.functional.conv2d(xt, wt, bt, (SH, SW), (PH, PW), (DH, DW), G)
    ot.backward(torch.tensor(dout))
    np.testing.assert_allclose(out, ot.detach().numpy(), rtol=0, atol=1e-10)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=0, atol=1e-10)
    np.testing.assert_allclose(layer.grads["W"], wt.grad.numpy(), rtol=0, atol=1e-10)
    if bias:
        np.testing.assert_allclose(layer.grads["b"], bt.grad.numpy(), rtol=0, atol=1e-10)
    assert ("b" in layer.params) == bias


@settings(max_examples=15, deadline=None)
@given(G=st.integers(1, 2), H=st.integers(3, 7), W=st.integers(3, 7), KH=st.integers(1, 3), KW=st.integers(1, 3),
       S=st.tuples(st.integers(1, 2), st.integers(1, 2)), D=st.tuples(st.integers(1, 2), st.integers(1, 2)),
       pad=st.sampled_from([0, 1, (1, 0), "same"]), bias=st.booleans())
def test_conv_backward_with_random_options_matches_central_differences(G, H, W, KH, KW, S, D, pad, bias):
    if pad == "same":
        S = (1, 1)
    ph, pw = (0, 0) if pad == "same" else (pad, pad) if isinstance(pad, int) else pad
    assume(pad == "same" or (H + 2 * ph >= D[0] * (KH - 1) + 1 and W + 2 * pw >= D[1] * (KW - 1) + 1))
    layer = Conv2D(2 * G, 2 * G, (KH, KW), S, pad, D, G, bias, rng=np.random.default_rng(0), dtype=np.float64)
    result = check_layer(layer, np.random.default_rng(1).standard_normal((2, 2 * G, H, W)))
    assert result.passed, str(result)


@pytest.mark.parametrize("options", [dict(dilation=2), dict(groups=2), dict(bias=False), dict(kernel_size=(3, 1)),
                                     dict(stride=(1, 2)), dict(pad="same"), dict(pad=(2, 0)),
                                     dict(kernel_size=(2, 3), stride=(2, 1), pad=(1, 0), dilation=(1, 2), groups=2,
                                          bias=False, implementation="textbook")])
def test_conv_options_round_trip_through_a_model_file(options, tmp_path):
    options = {"kernel_size": 3, **options}
    model = nc.Sequential([("conv", Conv2D(2, 4, rng=np.random.default_rng(0), dtype=np.float64, **options)),
                           ("flat", nc.Flatten())], input_shape=(2, 7, 7))
    nc.model.save_model(tmp_path / "m.npz", model)
    loaded = nc.model.load_model(tmp_path / "m.npz")
    assert loaded["conv"].config() == model["conv"].config()
    x = np.random.default_rng(1).standard_normal((2, 2, 7, 7))
    np.testing.assert_array_equal(loaded.forward(x), model.forward(x))


def test_a_model_file_written_before_the_options_existed_loads_as_the_plain_layer(tmp_path):
    """A file of the old format: ``kernel_size``, ``stride``, ``pad`` as integers and no option keys."""
    old = {"in_channels": 1, "out_channels": 2, "kernel_size": 3, "stride": 1, "pad": 1, "init": "he"}
    model = nc.Sequential([("conv1", Conv2D(**old)), ("flatten", nc.Flatten())], input_shape=(1, 5, 5))
    arrays = {f"model/{k}": v for k, v in model.state_dict().items()}
    architecture = {"name": "model", "input_shape": [1, 5, 5],
                    "layers": [{"name": "conv1", "type": "Conv2D", "config": old},
                               {"name": "flatten", "type": "Flatten", "config": {}}]}
    nc.storage.save_arrays(tmp_path / "old.npz", arrays, {"kind": "model", "architecture": architecture,
                                                          "metadata": {}, "dtype": "float32"})
    layer = nc.model.load_model(tmp_path / "old.npz")["conv1"]
    assert (layer.dilation, layer.groups, layer.bias, layer.general) == (1, 1, True, False)
    assert layer.config() == old


@settings(max_examples=25, deadline=None)
@given(N=st.integers(1, 2), C=st.integers(1, 3), F=st.integers(1, 3), H=st.integers(1, 7), W=st.integers(1, 7),
       k=st.integers(1, 4), s=st.integers(1, 3), p=st.integers(0, 2))
def test_conv_backward_matches_central_differences_for_generated_shapes(N, C, F, H, W, k, s, p):
    assume(H + 2 * p >= k and W + 2 * p >= k)   # a kernel that does not fit: covered by the bad-input tests
    layer = L.Conv2D(C, F, k, stride=s, pad=p, rng=np.random.default_rng(0), dtype=np.float64)
    result = check_layer(layer, make_input((N, C, H, W), "normal"))
    assert result.passed, str(result)


# -- bad input: the Conv2D layer ------------------------------------------------------------------------
#: one row per bad input, in the format of ``BAD_INPUT_FIELDS`` (tests/conftest.py)
BAD_INPUTS = [
    ("conv_input_without_channel_axis", lambda t: Conv2D(1, 2, 3, name="conv1").forward(img((2, 5, 5))),
     ShapeError, ["conv1", "(2, 5, 5)", "(N, C, H, W)", "channel axis"]),
    ("conv_channel_mismatch", lambda t: Conv2D(1, 2, 3, name="conv1").forward(img((2, 3, 5, 5))),
     ShapeError, ["conv1", "1 channels", "(2, 3, 5, 5)"]),
    ("conv_kernel_larger_than_padded_input", lambda t: Conv2D(1, 2, 7, name="c").forward(img((2, 1, 5, 5))),
     ShapeError, ["'c'", "kernel size 7", "padded input size 5"]),
    ("conv_non_integer_stride", lambda t: Conv2D(1, 2, 3, stride=1.5), TypeError, ["stride", "1.5"]),
    ("conv_zero_stride", lambda t: Conv2D(1, 2, 3, stride=0), ValueError, ["stride", ">= 1", "0"]),
    ("conv_negative_pad", lambda t: Conv2D(1, 2, 3, pad=-1), ValueError, ["pad", "-1"]),
    ("conv_zero_filters", lambda t: Conv2D(1, 0, 3), ValueError, ["out_channels", "0"]),
    ("conv_integer_images", lambda t: Conv2D(1, 2, 3).forward(img((2, 1, 5, 5), np.uint8)),
     TypeError, ["floating", "uint8", "astype"]),
    ("conv_list_input", lambda t: Conv2D(1, 2, 3).forward([[1.0]]), TypeError, ["numpy array", "list"]),
    ("conv_groups_not_dividing_the_channels", lambda t: Conv2D(4, 6, 3, groups=4, name="c"), ValueError,
     ["'c'", "groups must divide", "in_channels (4)", "out_channels (6)", "groups=4"]),
    ("conv_dilation_leaving_no_output", lambda t: Conv2D(1, 2, 3, dilation=3, name="c").forward(img((1, 1, 5, 5))),
     ShapeError, ["'c'", "dilation 3", "spans 7", "padded input size 5"]),
    ("conv_non_square_kernel_larger_than_padded_input",
     lambda t: Conv2D(1, 2, (3, 7), pad=(1, 0), name="c").forward(img((1, 1, 5, 5))),
     ShapeError, ["'c'", "width", "kernel size 7", "padded input size 5"]),
    ("conv_pad_same_with_stride", lambda t: Conv2D(1, 2, 3, stride=2, pad="same"), ValueError,
     ["pad='same'", "stride 1", "stride=2"]),
    ("conv_unknown_pad_word", lambda t: Conv2D(1, 2, 3, pad="full"), ValueError,
     ["pad must be", "'same'", "'valid'", "'full'"]),
    ("conv_zero_dilation", lambda t: Conv2D(1, 2, 3, dilation=0), ValueError, ["dilation", ">= 1", "0"]),
    ("conv_stride_of_three_values", lambda t: Conv2D(1, 2, 3, stride=(1, 2, 3)), ValueError,
     ["stride", "pair (height, width)", "(1, 2, 3)"]),
    ("conv_bias_not_a_bool", lambda t: Conv2D(1, 2, 3, bias=0), TypeError, ["bias", "True or False", "0"]),
    ("conv_pad_and_padding_both_given", lambda t: Conv2D(1, 2, 3, pad=1, padding=2), TypeError,
     ["pad or padding", "pad=1", "padding=2"]),
]


@pytest.mark.parametrize(BAD_INPUT_FIELDS, bad_input_cases(BAD_INPUTS))
def test_bad_input_raises_the_documented_error_naming_the_argument(call, exc, needles, tmp_path):
    assert_bad_input(call, exc, needles, tmp_path)
