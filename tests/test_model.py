"""Sequential container, zoo, initialisers and saving: structure, hooks, masks, persistence."""
import json

import numpy as np
import pytest

import numpycnn as nc
from numpycnn import Dense, init, layers as L, storage
from numpycnn.errors import CheckpointError, ShapeError
from numpycnn.gradcheck import check_model
from numpycnn.model import Sequential, load_model, save_model
from numpycnn.zoo import MODELS, build_model, lenet5, plain_cnn, small_cnn

from conftest import BAD_INPUT_FIELDS, assert_bad_input, bad_input_cases, img, lenet, write_bytes


def tiny(dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    return Sequential([("conv1", L.Conv2D(1, 3, 3, pad=1, rng=rng, dtype=dtype)), ("relu1", L.ReLU()),
                       ("pool1", L.MaxPool2D(2)), ("flat", L.Flatten()),
                       ("fc", L.Dense(3 * 3 * 3, 4, rng=rng, dtype=dtype))], input_shape=(1, 6, 6))


def batch(N=5, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((N, 1, 6, 6)), rng.integers(0, 4, N)


def test_named_parameters_lists_layer_dot_key_with_the_live_arrays():
    model = tiny()
    names = [n for n, _, _ in model.named_parameters()]
    assert names == ["conv1.W", "conv1.b", "fc.W", "fc.b"]
    for name, p, g in model.named_parameters():
        assert p is model.get_parameter(name) and g.shape == p.shape


def test_whole_model_backward_matches_central_differences():
    x, y = batch()
    result = check_model(tiny(), x, y, max_entries=None)
    assert result.passed, str(result)


def test_lenet5_has_the_classic_layer_shapes_and_61706_parameters():
    model = lenet5(activation_name="relu")
    assert model.num_params == 61_706
    shapes = [model.shapes[n] for n in model.layers]
    assert (6, 28, 28) in shapes and (16, 10, 10) in shapes and (120,) in shapes and (84,) in shapes
    assert model.output_shape == (10,)
    assert lenet5(input_shape=(3, 32, 32)).num_params == 62_006


@pytest.mark.parametrize("depth", [2, 6])
def test_plain_cnn_depth_counts_its_conv_layers(depth):
    assert len(plain_cnn(depth=depth).conv_layers()) == depth


def test_summary_lists_every_layer_with_its_output_shape_and_parameter_count():
    model = tiny()
    text = model.summary()
    for name in model.layers:
        assert name in text
    assert "(3, 6, 6)" in text and f"{model.num_params:,}" in text
    assert "MACs/image" in text and f"{sum(model.macs().values()):,}" in text and "4x4" in text   # pool1 sees 4×4


def test_lenet5_macs_per_layer_are_the_hand_counts():
    macs = lenet5().macs()
    assert macs["conv1"] == 6 * 28 * 28 * (1 * 5 * 5) and macs["conv2"] == 16 * 10 * 10 * (6 * 5 * 5)
    assert macs["fc1"] == 400 * 120 and macs["fc2"] == 120 * 84 and macs["fc3"] == 84 * 10
    assert sum(macs.values()) == 416_520 and macs["act1"] == macs["pool1"] == macs["flatten"] == 0


@pytest.mark.parametrize("C, F, k, stride, pad, H", [(3, 4, 3, 1, 1, 7), (2, 5, 5, 2, 2, 9), (1, 2, 1, 1, 0, 4)])
def test_a_conv_layers_macs_are_the_size_of_its_im2col_gemm(C, F, k, stride, pad, H):
    from numpycnn.im2col import im2col
    model = Sequential([("conv", L.Conv2D(C, F, k, stride=stride, pad=pad))], input_shape=(C, H, H))
    cols = im2col(np.zeros((1, C, H, H)), k, k, stride, pad)          # (OH·OW, C·k·k) for one image
    assert model.macs()["conv"] == cols.shape[0] * cols.shape[1] * F


def test_a_residual_blocks_macs_are_its_body_plus_its_projection_and_its_window_the_bodys():
    from numpycnn.residual import ResidualBlock
    body = [("conv1", L.Conv2D(4, 8, 3, stride=2, pad=1)), ("relu", L.ReLU()), ("conv2", L.Conv2D(8, 8, 3, pad=1))]
    block = ResidualBlock(body, projection=L.Conv2D(4, 8, 1, stride=2))
    model = Sequential([("res", block)], input_shape=(4, 8, 8))
    alone = Sequential([(n, l) for n, l in body], input_shape=(4, 8, 8))
    proj = Sequential([("proj", L.Conv2D(4, 8, 1, stride=2))], input_shape=(4, 8, 8))
    assert model.macs()["res"] == sum(alone.macs().values()) + proj.macs()["proj"] == 8 * 4 * 4 * (4 * 9 + 8 * 9 + 4)
    assert model.receptive_fields()["res"] == alone.receptive_fields()["conv2"] == (7, 2)


def _gradient_extent(model, H):
    """Side of the patch of the input that the gradient of one output position in the middle reaches."""
    for name, p, _ in model.named_parameters():
        p[...] = 1.0 if name.endswith(".W") else 0.0            # positive weights: no two paths cancel
    out = model.forward(np.ones((1, 1, H, H)))                 # positive everywhere: every ReLU passes
    one = np.zeros_like(out)
    one[0, 0, out.shape[2] // 2, out.shape[3] // 2] = 1.0
    seen = model.backward(one)[0, 0] != 0
    rows, cols = np.flatnonzero(seen.any(axis=1)), np.flatnonzero(seen.any(axis=0))
    assert seen.sum() == (rows[-1] - rows[0] + 1) * (cols[-1] - cols[0] + 1)      # a full square patch
    return rows[-1] - rows[0] + 1


@pytest.mark.parametrize("stack", [
    [("c1", L.Conv2D(1, 1, 3)), ("c2", L.Conv2D(1, 1, 3))],
    [("c1", L.Conv2D(1, 1, 5, stride=2)), ("p1", L.AvgPool2D(2)), ("c2", L.Conv2D(1, 1, 3))],
    [("c1", L.Conv2D(1, 1, 3)), ("p1", L.AvgPool2D(3, stride=2)), ("r", L.ReLU()), ("c2", L.Conv2D(1, 1, 3, stride=2)),
     ("c3", L.Conv2D(1, 1, 1))],
])
def test_the_receptive_field_is_where_the_gradient_of_one_output_reaches(stack):
    model = Sequential([(n, l.astype(np.float64)) for n, l in stack], input_shape=(1, 40, 40))
    size, _ = model.receptive_fields()[stack[-1][0]]
    assert _gradient_extent(model, 40) == size


def test_the_receptive_field_stops_at_the_first_layer_that_reads_every_position():
    fields = lenet5().receptive_fields()
    assert list(fields)[-1] == "pool2" and fields["pool2"] == (16, 4) and fields["conv1"] == (5, 1)


def test_summary_reports_active_parameters_when_masked():
    model = tiny()
    model["fc"].set_mask("W", np.zeros_like(model["fc"].params["W"]))
    assert "(4 active)" in model.summary()


def test_forward_hook_sees_the_named_layers_output():
    model = tiny()
    seen = []
    model.add_forward_hook("pool1", seen.append)
    x, _ = batch()
    model.forward(x)
    assert seen[0].shape == (5, 3, 3, 3)


def test_backward_hook_replaces_the_gradient_passed_down_from_the_named_layer():
    x, _ = batch()
    model = tiny()
    out = model.forward(x)
    dout = np.ones_like(out)
    model.backward(dout)
    plain = {n: g.copy() for n, _, g in model.named_parameters()}
    model.add_backward_hook("pool1", lambda g: 2 * g)        # doubles what reaches pool1 and below
    model.forward(x)
    model.backward(dout)
    grads = {n: g for n, _, g in model.named_parameters()}
    np.testing.assert_allclose(grads["conv1.W"], 2 * plain["conv1.W"], rtol=1e-14)
    np.testing.assert_array_equal(grads["fc.W"], plain["fc.W"])     # above the hook: unchanged
    model.remove_hooks()
    assert not model.backward_hooks


@pytest.mark.parametrize("first", ["conv", "dense"])
def test_backward_without_input_grad_fills_the_same_gradients_and_returns_none(first):
    rng = np.random.default_rng(0)
    if first == "conv":                                   # Conv2D skips its dx; a Dense first layer uses the default
        model, (x, _) = tiny(), batch()
    else:
        model = Sequential([("fc1", L.Dense(6, 5, rng=rng, dtype=np.float64)), ("relu", L.ReLU()),
                            ("fc2", L.Dense(5, 3, rng=rng, dtype=np.float64))], input_shape=(6,))
        x = rng.standard_normal((4, 6))
    dout = rng.standard_normal(model.forward(x).shape)
    assert model.backward(dout).shape == x.shape
    full = {n: g.copy() for n, _, g in model.named_parameters()}
    assert model.backward(dout, input_grad=False) is None
    for n, _, g in model.named_parameters():
        np.testing.assert_array_equal(g, full[n])


def test_hooks_on_unknown_layers_are_rejected_with_the_known_names():
    with pytest.raises(KeyError, match="conv1"):
        tiny().add_forward_hook("conv9", print)


def test_predict_in_batches_equals_one_forward_pass():
    model, (x, _) = tiny(), batch(N=11)
    np.testing.assert_allclose(model.predict_logits(x, batch_size=4), model.forward(x), rtol=1e-14)
    assert model.predict(x).shape == (11,)


def test_evaluate_returns_loss_and_accuracy():
    model, (x, y) = tiny(), batch(N=20)
    result = model.evaluate(x, y)
    assert set(result) == {"loss", "accuracy"}
    assert result["accuracy"] == np.mean(model.predict(x) == y)


def test_a_stack_whose_shapes_do_not_chain_is_rejected_when_built_naming_the_layer():
    with pytest.raises(ShapeError, match="fc"):
        Sequential([("flat", L.Flatten()), ("fc", L.Dense(10, 2))], input_shape=(1, 6, 6))


def test_save_and_load_model_round_trips_architecture_weights_masks_and_metadata(tmp_path):
    model = tiny(np.float32)
    model["conv1"].set_mask("W", (np.arange(27).reshape(3, 1, 3, 3) % 2).astype(np.float32))
    save_model(tmp_path / "m.npz", model, metadata={"classes": ["a", "b", "c", "d"], "mean": 0.5})
    loaded = load_model(tmp_path / "m.npz")
    x, _ = batch()
    x = x.astype(np.float32)
    np.testing.assert_array_equal(loaded.forward(x), model.forward(x))
    np.testing.assert_array_equal(loaded["conv1"].masks["W"], model["conv1"].masks["W"])
    assert loaded.metadata["classes"] == ["a", "b", "c", "d"]
    assert loaded.config() == model.config()


def test_saved_files_hold_no_pickles(tmp_path):
    save_model(tmp_path / "m.npz", tiny(np.float32))
    with np.load(tmp_path / "m.npz", allow_pickle=False) as f:      # would raise on an object array
        meta = json.loads(f["__meta__"].tobytes())
    assert meta["format"] == "numpycnn"


def test_atomic_write_leaves_the_old_file_when_writing_fails(tmp_path):
    target = tmp_path / "a.bin"
    storage.atomic_write_bytes(target, b"old")
    with pytest.raises(TypeError):
        storage.atomic_write_bytes(target, object())             # cannot be written
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.bin"]   # no temp file left behind


def test_loading_into_a_different_architecture_says_so(tmp_path):
    save_model(tmp_path / "m.npz", tiny(np.float32))
    other = lenet5()
    arrays, _ = storage.load_arrays(tmp_path / "m.npz")
    with pytest.raises(CheckpointError, match="different architecture"):
        other.load_state_dict(storage.prefixed(arrays, "model"))


def test_truncated_model_file_raises_a_checkpoint_error_naming_the_file(tmp_path):
    path = tmp_path / "m.npz"
    save_model(path, tiny(np.float32))
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(CheckpointError, match="m.npz"):
        load_model(path)


@pytest.mark.parametrize("name", ["xavier", "he", "normal"])
def test_initialisers_are_reproducible_from_the_generator_and_have_the_documented_scale(name):
    shape = (64, 32, 3, 3)
    a = init.get_initializer(name)(shape, np.random.default_rng(7))
    b = init.get_initializer(name)(shape, np.random.default_rng(7))
    np.testing.assert_array_equal(a, b)
    fan_in, fan_out = init.fans(shape)
    want = {"xavier": np.sqrt(2.0 / (fan_in + fan_out)), "he": np.sqrt(2.0 / fan_in), "normal": 0.01}[name]
    assert a.std() == pytest.approx(want, rel=0.05)


def test_initialisers_refuse_the_global_random_state():
    with pytest.raises(TypeError, match="Generator"):
        init.he_normal((3, 3), np.random)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_zoo_model_builds_and_maps_a_batch_to_logits(name):
    shape = (1, 8, 8) if name == "small_cnn" else (1, 28, 28)
    model = build_model(name, shape, num_classes=10)
    x = np.random.default_rng(0).standard_normal((2,) + shape).astype(np.float32)
    assert model.forward(x).shape == (2, 10)


def test_same_seed_builds_identical_models_and_different_seeds_differ():
    a, b, c = small_cnn(seed=3), small_cnn(seed=3), small_cnn(seed=4)
    for (n, pa, _), (_, pb, _), (_, pc, _) in zip(a.named_parameters(), b.named_parameters(), c.named_parameters()):
        np.testing.assert_array_equal(pa, pb)
        if n.endswith(".W"):
            assert not np.array_equal(pa, pc)


# -- training and evaluation mode ---------------------------------------------------------

def moded(dtype=np.float64):
    rng = np.random.default_rng(0)
    from numpycnn.dropout import Dropout
    from numpycnn.normalization import BatchNorm1D
    return Sequential([("flat", L.Flatten()), ("fc1", L.Dense(36, 8, rng=rng, dtype=dtype)),
                       ("bn", BatchNorm1D(8, dtype=dtype)), ("drop", Dropout(0.5, seed=1)),
                       ("fc2", L.Dense(8, 4, rng=rng, dtype=dtype))], input_shape=(1, 6, 6))


def test_layers_start_in_training_mode_and_train_eval_set_every_layer_and_return_the_model():
    model = moded()
    assert model.training and all(l.training for l in model.layers.values())
    assert model.eval() is model
    assert not model.training and not any(l.training for l in model.layers.values())
    assert model.train() is model and model.training
    assert model.train(False) is model and not model.training


def test_predict_and_evaluate_run_in_eval_mode_and_restore_each_layers_mode():
    model = moded()
    x, y = batch(N=6)
    model["drop"].training = False                  # a mixed state must come back as it was
    draws = int(model["drop"].buffers["draws"])
    stats = {k: v.copy() for k, v in model["bn"].buffers.items()}
    logits = model.predict_logits(x)
    np.testing.assert_array_equal(model.predict_logits(x), logits)            # no dropout: deterministic
    model.evaluate(x, y)
    model.predict(x)
    assert [l.training for l in model.layers.values()] == [True, True, True, False, True]
    assert int(model["drop"].buffers["draws"]) == draws
    for k in stats:                                  # evaluation never moves the running statistics
        np.testing.assert_array_equal(model["bn"].buffers[k], stats[k])
    np.testing.assert_array_equal(model.eval().forward(x), logits)


def test_evaluation_restores_the_mode_even_when_the_forward_pass_fails():
    model = moded()
    with pytest.raises(RuntimeError):
        with model.evaluation_mode():
            assert not model.training
            raise RuntimeError("inside")
    assert model.training


def test_trainer_evaluates_in_eval_mode_and_fit_trains_in_training_mode():
    from numpycnn.datasets import Dataset
    from numpycnn.optim import SGD
    from numpycnn.callbacks import Callback
    from numpycnn.training import Trainer
    x, y = batch(N=12)
    data = Dataset(x, y)
    model = moded()
    seen = []

    class Modes(Callback):
        def on_backward_end(self, trainer):
            seen.append(trainer.model.training)

    trainer = Trainer(model, SGD(model, lr=0.1), callbacks=[Modes()], batch_size=4, progress=False)
    model.eval()
    trainer.fit(data, data, epochs=1)
    assert seen == [True, True, True] and model.training
    draws = int(model["drop"].buffers["draws"])
    assert trainer.evaluate(data) == trainer.evaluate(data)
    assert model.training and int(model["drop"].buffers["draws"]) == draws


def test_receptive_fields_follow_dilation_groups_and_non_square_windows():
    """A dilated 3x3 conv spans 5 pixels; a (3, 1) pool grows only the height; global pooling ends the field;
    a grouped conv's MACs count only its group's channels."""
    model = Sequential([("c1", L.Conv2D(2, 4, 3, dilation=2, pad=2, groups=2)),
                        ("p1", L.MaxPool2D((3, 1), stride=(2, 1))),
                        ("gap", L.AdaptiveAvgPool2D(1)), ("flat", L.Flatten())], input_shape=(2, 12, 12))
    fields = model.receptive_fields()
    assert fields == {"c1": (5, 1), "p1": ((7, 5), (2, 1))}
    assert model.macs()["c1"] == 4 * 12 * 12 * (2 // 2) * 3 * 3


def test_with_log_softmax_appends_once_and_keeps_metadata():
    from numpycnn.model import with_log_softmax
    from numpycnn.zoo import build_model
    m = build_model("small_cnn", (1, 8, 8), 10)
    m.metadata = {"dataset": {"name": "digits"}}
    m2 = with_log_softmax(m)
    assert list(m2.layers)[-1] == "log_softmax" and m2.metadata == m.metadata
    assert with_log_softmax(m2) is m2
    x = np.random.default_rng(0).standard_normal((2, 1, 8, 8)).astype(np.float32)
    np.testing.assert_allclose(np.exp(m2.predict_logits(x)).sum(axis=1), 1, rtol=1e-5)


# -- bad input: the model, the zoo, initialisers, model files ------------------------------------------------------------------------
#: one row per bad input, in the format of ``BAD_INPUT_FIELDS`` (tests/conftest.py)
BAD_INPUTS = [
    ("model_missing_channel_axis", lambda t: lenet().forward(img((2, 28, 28))),
     ShapeError, ["(N, 1, 28, 28)", "(2, 28, 28)", "channel axis"]),
    ("model_single_sample_without_batch_axis", lambda t: lenet().forward(img((1, 28, 28))),
     ShapeError, ["(N, 1, 28, 28)", "batch axis"]),
    ("model_integer_images", lambda t: lenet().forward(img((2, 1, 28, 28), np.uint8)), TypeError, ["uint8", "/ 255"]),
    ("model_nan_input", lambda t: lenet().forward(np.full((2, 1, 28, 28), np.nan, np.float32)), ValueError, ["NaN", "index"]),
    ("model_inf_input", lambda t: lenet().forward(np.full((2, 1, 28, 28), np.inf, np.float32)), ValueError, ["inf"]),
    ("model_empty_batch", lambda t: lenet().forward(img((0, 1, 28, 28))), ValueError, ["empty", "N = 0"]),
    ("model_unknown_layer_name", lambda t: lenet()["conv9"], KeyError, ["conv9", "conv1"]),
    ("sequential_duplicate_name", lambda t: Sequential([("a", nc.ReLU()), ("a", nc.ReLU())], input_shape=(3,)),
     ValueError, ["duplicate", "'a'"]),
    ("sequential_shape_mismatch", lambda t: Sequential([("fc1", Dense(3, 2)), ("fc2", Dense(3, 2))], input_shape=(3,)),
     ShapeError, ["fc2", "(3,)", "(2,)"]),
    ("evaluate_labels_wrong_length", lambda t: lenet().evaluate(img((2, 1, 28, 28)), np.array([1])),
     ShapeError, ["labels y", "(2,)", "(1,)"]),
    ("unknown_model", lambda t: nc.zoo.build_model("resnet", (1, 28, 28)), ValueError, ["model", "resnet", "lenet5"]),
    ("lenet_on_8x8_digits", lambda t: nc.zoo.lenet5((1, 8, 8)), ShapeError, ["lenet5", "12x12", "small_cnn"]),
    ("plain_cnn_zero_depth", lambda t: nc.zoo.plain_cnn(depth=0), ValueError, ["depth", "0"]),
    ("initializer_with_seed_not_generator", lambda t: nc.init.he_normal((3, 3), rng=0), TypeError,
     ["rng", "Generator", "int"]),
    ("mask_of_wrong_shape", lambda t: lenet()["conv1"].set_mask("W", np.ones((2, 2))), ShapeError,
     ["conv1", "(6, 1, 5, 5)", "(2, 2)"]),
    ("model_file_garbage", lambda t: nc.model.load_model(write_bytes(t, "model.npz", b"not a zip file at all")),
     CheckpointError, ["model.npz", "corrupted"]),
    ("model_file_missing", lambda t: nc.model.load_model(t / "nope.npz"), FileNotFoundError, ["nope.npz"]),
]


@pytest.mark.parametrize(BAD_INPUT_FIELDS, bad_input_cases(BAD_INPUTS))
def test_bad_input_raises_the_documented_error_naming_the_argument(call, exc, needles, tmp_path):
    assert_bad_input(call, exc, needles, tmp_path)
