"""The textbook convolution and the implementation switch: a network trains on the code a student writes.

(The values themselves — fast == textbook == loop — are checked in tests/test_kernels.py; the same
switch for max pooling is tested in tests/test_pooling.py.)
"""
import numpy as np
import pytest

import numpycnn as nc
from numpycnn import conv, layers
from numpycnn.gradcheck import check_layer
from numpycnn.im2col import im2col
from numpycnn.layers import Conv2D


def test_textbook_forward_caches_x_cols_w_b_stride_pad_with_cols_the_im2col_matrix():
    rng = np.random.default_rng(0)
    x, w, b = rng.standard_normal((2, 3, 7, 6)), rng.standard_normal((4, 3, 3, 3)), rng.standard_normal(4)
    out, cache = conv.conv2d_forward(x, w, b, 2, 1)
    cx, cols, cw, cb, stride, pad = cache
    assert cx is x and cw is w and cb is b and (stride, pad) == (2, 1)
    np.testing.assert_array_equal(cols, im2col(x, 3, 3, 2, 1))
    assert out.shape == (2, 4, 4, 3)


def test_textbook_backward_leaves_its_inputs_untouched_and_is_idempotent():
    rng = np.random.default_rng(1)
    x, w, b = rng.standard_normal((2, 2, 5, 5)), rng.standard_normal((3, 2, 3, 3)), rng.standard_normal(3)
    for a in (x, w, b):
        a.flags.writeable = False
    out, cache = conv.conv2d_forward(x, w, b, 1, 1)
    dout = rng.standard_normal(out.shape)
    dout.flags.writeable = False
    first = conv.conv2d_backward(dout, cache)
    second = conv.conv2d_backward(dout, cache)
    for a, b2 in zip(first, second):
        np.testing.assert_array_equal(a, b2)


def test_a_textbook_layer_passes_the_gradient_check():
    layer = Conv2D(2, 3, 3, stride=2, pad=1, rng=np.random.default_rng(2), dtype=np.float64,
                   implementation="textbook")
    result = check_layer(layer, np.random.default_rng(3).standard_normal((2, 2, 7, 6)))
    assert result.passed, str(result)
    assert len(layer.cache) == 6           # the textbook cache (x, cols, w, b, stride, pad) — it really ran


def test_use_implementation_works_as_a_context_manager_and_as_a_plain_call():
    assert layers.default_implementation() == "fast"
    with layers.use_implementation("textbook"):
        assert layers.default_implementation() == "textbook"
    assert layers.default_implementation() == "fast"
    try:
        layers.use_implementation("textbook")
        assert layers.default_implementation() == "textbook"
    finally:
        layers.use_implementation("fast")
    assert layers.default_implementation() == "fast"


def test_a_layer_that_names_its_implementation_ignores_the_global_switch():
    x = np.random.default_rng(4).standard_normal((1, 1, 5, 5)).astype(np.float32)
    fast, textbook, default = (Conv2D(1, 2, 3, implementation=k) for k in ("fast", "textbook", None))
    with layers.use_implementation("textbook"):
        for layer in (fast, textbook, default):
            layer.forward(x)
    assert [layer.implementation_used for layer in (fast, textbook, default)] == ["fast", "textbook", "textbook"]


def test_an_unknown_implementation_name_is_refused_naming_the_choices():
    with pytest.raises(ValueError, match=r"implementation must be one of \['fast', 'textbook'\]; got 'blas'"):
        layers.use_implementation("blas")
    with pytest.raises(ValueError, match="implementation"):
        Conv2D(1, 2, 3, implementation="blas")
    assert layers.default_implementation() == "fast"


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


@pytest.mark.parametrize("case", [(2, 3, 7, 6, 4, 3, 2, 1), (1, 2, 8, 8, 3, 5, 1, 2), (2, 1, 5, 9, 2, 1, 1, 0)])
def test_textbook_forward_and_backward_match_torch_in_float64(case):
    torch = pytest.importorskip("torch")
    N, C, H, W, F, k, s, p = case
    rng = np.random.default_rng(5)
    x, w, b = rng.standard_normal((N, C, H, W)), rng.standard_normal((F, C, k, k)), rng.standard_normal(F)
    out, cache = conv.conv2d_forward(x, w, b, s, p)
    dout = rng.standard_normal(out.shape)
    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    ot = torch.nn.functional.conv2d(xt, wt, bt, stride=s, padding=p)
    ot.backward(torch.tensor(dout))
    np.testing.assert_allclose(out, ot.detach().numpy(), rtol=1e-10, atol=1e-10)
    for got, want in zip(conv.conv2d_backward(dout, cache), (xt.grad, wt.grad, bt.grad)):
        np.testing.assert_allclose(got, want.numpy(), rtol=1e-10, atol=1e-10)


def test_an_error_inside_a_use_implementation_block_propagates_and_restores_the_previous_choice():
    with pytest.raises(ZeroDivisionError):
        with layers.use_implementation("textbook"):
            1 / 0
    assert layers.default_implementation() == "fast"


def test_a_wrong_implementation_name_is_reported_by_use_implementation():
    with pytest.raises(ValueError, match=r"^use_implementation: implementation must be one of"):
        layers.use_implementation("blas")


# -- PyTorch's options: per-axis sizes, padding="same", dilation, groups, bias=False ----------------------------------
from hypothesis import assume, given, settings, strategies as st  # noqa: E402

from numpycnn import fast_conv  # noqa: E402
from numpycnn.im2col import Window  # noqa: E402


def conv2d_loop(x, w, b, stride=(1, 1), pads=((0, 0), (0, 0)), dilation=(1, 1), groups=1):
    """The index formula of conv.py's docstring, one output value at a time::

        out[n, f, i, j] = b[f] + sum_{c', p, q} w[f, c', p, q] * xp[n, g*C/G + c', i*SH + p*DH, j*SW + q*DW]

    with ``g = f // (F/G)`` the group of filter ``f``."""
    N, C, H, W = x.shape
    F, Cg, KH, KW = w.shape
    (SH, SW), (DH, DW), ((top, bottom), (left, right)) = stride, dilation, pads
    xp = np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)))
    OH = (H + top + bottom - DH * (KH - 1) - 1) // SH + 1
    OW = (W + left + right - DW * (KW - 1) - 1) // SW + 1
    out = np.zeros((N, F, OH, OW))
    for n in range(N):
        for f in range(F):
            g = f // (F // groups)
            for i in range(OH):
                for j in range(OW):
                    total = 0.0 if b is None else b[f]
                    for c in range(Cg):
                        for p in range(KH):
                            for q in range(KW):
                                total += w[f, c, p, q] * xp[n, g * Cg + c, i * SH + p * DH, j * SW + q * DW]
                    out[n, f, i, j] = total
    return out


def conv2d_backward_loop(dout, x, w, stride=(1, 1), pads=((0, 0), (0, 0)), dilation=(1, 1), groups=1):
    """The gradients of :func:`conv2d_loop`, by the same loops: every term ``w * xp`` sends ``dout * w`` to
    the pixel it read and ``dout * xp`` to the weight."""
    N, C, H, W = x.shape
    F, Cg, KH, KW = w.shape
    (SH, SW), (DH, DW), ((top, bottom), (left, right)) = stride, dilation, pads
    xp = np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)))
    dxp, dw = np.zeros_like(xp), np.zeros_like(w)
    for n in range(N):
        for f in range(F):
            g = f // (F // groups)
            for i in range(dout.shape[2]):
                for j in range(dout.shape[3]):
                    for c in range(Cg):
                        for p in range(KH):
                            for q in range(KW):
                                at = (n, g * Cg + c, i * SH + p * DH, j * SW + q * DW)
                                dxp[at] += dout[n, f, i, j] * w[f, c, p, q]
                                dw[f, c, p, q] += dout[n, f, i, j] * xp[at]
    return dxp[:, :, top:top + H, left:left + W], dw, dout.sum(axis=(0, 2, 3))


OPTION_CASES = [  # (N, C, H, W), F, kernel, stride, pads, dilation, groups, bias
    ((2, 4, 9, 8), 6, (3, 2), (2, 1), ((1, 1), (0, 0)), (2, 1), 2, False),   # everything at once
    ((2, 3, 7, 6), 3, (4, 4), (1, 1), ((3, 3), (1, 2)), (2, 1), 3, True),    # depthwise, "same"'s uneven padding
    ((1, 2, 8, 9), 4, (3, 3), (3, 2), ((2, 2), (2, 2)), (3, 2), 1, True),    # dilation wider than the stride
    ((2, 6, 5, 5), 4, (1, 3), (1, 1), ((0, 0), (1, 1)), (1, 1), 2, True),    # a 1 x 3 kernel
]


def _option_case(case, seed=0):
    (N, C, H, W), F, kernel, stride, pads, dilation, groups, bias = case
    rng = np.random.default_rng(seed)
    x, w = rng.standard_normal((N, C, H, W)), rng.standard_normal((F, C // groups) + kernel)
    b = rng.standard_normal(F) if bias else None
    return x, w, b, Window(kernel, stride, pads, dilation), groups


@pytest.mark.parametrize("case", OPTION_CASES)
def test_general_fast_textbook_and_loop_convolutions_agree_forward_and_backward(case):
    x, w, b, window, groups = _option_case(case)
    want = conv2d_loop(x, w, b, window.stride, window.pad, window.dilation, groups)
    textbook, cache = conv.conv2d_forward_general(x, w, b, window, groups)
    fast, fast_cache = fast_conv.conv2d_forward_fast_general(x, w, b, window, groups)
    np.testing.assert_allclose(textbook, want, rtol=0, atol=1e-12)
    np.testing.assert_allclose(fast, want, rtol=0, atol=1e-12)
    dout = np.random.default_rng(1).standard_normal(want.shape)
    dx, dw, db = conv2d_backward_loop(dout, x, w, window.stride, window.pad, window.dilation, groups)
    for got in (conv.conv2d_backward_general(dout, cache), fast_conv.conv2d_backward_fast_general(dout, fast_cache)):
        np.testing.assert_allclose(got[0], dx, rtol=0, atol=1e-12)
        np.testing.assert_allclose(got[1], dw, rtol=0, atol=1e-12)
        if b is None:
            assert got[2] is None
        else:
            np.testing.assert_allclose(got[2], db, rtol=0, atol=1e-12)


def test_one_group_no_dilation_the_general_convolution_is_the_textbook_one():
    rng = np.random.default_rng(2)
    x, w, b = rng.standard_normal((2, 3, 7, 6)), rng.standard_normal((4, 3, 3, 3)), rng.standard_normal(4)
    out, cache = conv.conv2d_forward(x, w, b, 2, 1)
    general, general_cache = conv.conv2d_forward_general(x, w, b, Window((3, 3), (2, 2), ((1, 1), (1, 1))))
    np.testing.assert_allclose(general, out, rtol=0, atol=1e-13)
    dout = rng.standard_normal(out.shape)
    for a, c in zip(conv.conv2d_backward_general(dout, general_cache), conv.conv2d_backward(dout, cache)):
        np.testing.assert_allclose(a, c, rtol=0, atol=1e-13)


def test_the_fast_general_backward_without_input_grad_gives_the_same_parameter_gradients():
    x, w, b, window, groups = _option_case(OPTION_CASES[0])
    out, cache = fast_conv.conv2d_forward_fast_general(x, w, b, window, groups)
    dout = np.random.default_rng(3).standard_normal(out.shape)
    dx, dw, db = fast_conv.conv2d_backward_fast_general(dout, cache)
    no_dx, dw2, db2 = fast_conv.conv2d_backward_fast_general(dout, cache, input_grad=False)
    assert no_dx is None and dx is not None
    np.testing.assert_array_equal(dw2, dw)


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
