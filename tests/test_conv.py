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
