"""numpycnn <-> PyTorch: the exported module computes the same function, and the round trip is exact."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from numpycnn import optim  # noqa: E402
from numpycnn.datasets import load_dataset  # noqa: E402
from numpycnn.export import from_torch, to_torch  # noqa: E402
from numpycnn.layers import LogSoftmax  # noqa: E402
from numpycnn.model import Sequential  # noqa: E402
from numpycnn.training import Trainer  # noqa: E402
from numpycnn.zoo import MODELS, build_model  # noqa: E402

SHAPES = {"small_cnn": (1, 8, 8)}


def _model(name, dtype):
    shape = SHAPES.get(name, (1, 28, 28))
    model = build_model(name, shape, 10, seed=1).astype(dtype)
    rng = np.random.default_rng(5)
    for _, p, _ in model.named_parameters():   # weights not representable in float32 catch any rounding
        p += (1e-3 * rng.standard_normal(p.shape)).astype(dtype)
    return model


def _x(model, dtype, N=3):
    return np.random.default_rng(0).standard_normal((N, *model.input_shape)).astype(dtype)


def _torch_out(module, x):
    with torch.no_grad():
        return module(torch.from_numpy(x)).numpy()


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_zoo_model_exports_to_the_same_function_in_float64(name):
    model = _model(name, np.float64)
    x = _x(model, np.float64)
    np.testing.assert_allclose(_torch_out(to_torch(model), x), model.predict_logits(x), rtol=0, atol=1e-10)


@pytest.mark.parametrize("name", ["lenet5", "small_cnn"])
def test_float32_export_agrees_to_1e_5(name):
    model = _model(name, np.float32)
    x = _x(model, np.float32)
    out = _torch_out(to_torch(model), x)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, model.predict_logits(x), rtol=0, atol=1e-5)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_round_trip_numpycnn_torch_numpycnn_leaves_outputs_identical(dtype):
    model = _model("lenet5", dtype)
    x = _x(model, dtype)
    back = from_torch(to_torch(model), model.input_shape, dtype=dtype)
    def arch(m):   # the init scheme is irrelevant once weights are copied
        return [(d["name"], d["type"], {k: v for k, v in d["config"].items() if k != "init"})
                for d in m.config()["layers"]]
    assert arch(back) == arch(model)
    np.testing.assert_array_equal(back.predict_logits(x), model.predict_logits(x))


def test_masked_weights_are_exported_as_zeros():
    model = _model("small_cnn", np.float64)
    M = (np.random.default_rng(2).random(model["conv1"].params["W"].shape) < 0.5).astype(np.float64)
    model["conv1"].set_mask("W", M)
    model["conv1"].params["W"] += 1.0          # masked entries hold junk; the forward pass ignores it
    t = to_torch(model)
    np.testing.assert_array_equal(t.conv1.weight.detach().numpy() == 0, M == 0)
    x = _x(model, np.float64)
    np.testing.assert_allclose(_torch_out(t, x), model.predict_logits(x), atol=1e-10)


def test_from_torch_builds_a_model_from_a_pytorch_sequential_with_logsoftmax():
    nn = torch.nn
    torch.manual_seed(0)
    t = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.Tanh(), nn.AvgPool2d(2), nn.Flatten(),
                      nn.Linear(64, 5), nn.Sigmoid(), nn.Linear(5, 3), nn.LogSoftmax(dim=1)).double()
    model = from_torch(t, (1, 8, 8), dtype=np.float64)
    assert isinstance(model, Sequential) and isinstance(list(model.layers.values())[-1], LogSoftmax)
    x = np.random.default_rng(1).standard_normal((4, 1, 8, 8))
    np.testing.assert_allclose(model.predict_logits(x), _torch_out(t, x), atol=1e-12)


def test_a_trained_model_keeps_its_accuracy_in_pytorch():
    data = load_dataset("digits", train_limit=400, test_limit=200, seed=0)
    model = build_model("small_cnn", data.input_shape, 10, seed=0)
    Trainer(model, optim.make_optimizer("adam", model, lr=0.003), seed=0, batch_size=32,
            progress=False).fit(data.train, None, epochs=3)
    acc = np.mean(model.predict(data.test.x) == data.test.y)
    acc_torch = np.mean(_torch_out(to_torch(model), data.test.x).argmax(1) == data.test.y)
    assert acc > 0.5 and acc_torch == acc


def test_unsupported_pytorch_layers_and_options_are_named():
    nn = torch.nn
    with pytest.raises(TypeError, match="'0' of type GELU is not supported"):
        from_torch(nn.Sequential(nn.GELU()), (1, 8, 8))
    with pytest.raises(ValueError, match="affine=True, track_running_stats=True"):
        from_torch(nn.Sequential(nn.BatchNorm2d(1, affine=False)), (1, 8, 8))
    with pytest.raises(ValueError, match="only zero padding is supported; got padding_mode='reflect'"):
        from_torch(nn.Sequential(nn.Conv2d(1, 2, 3, padding_mode="reflect")), (1, 8, 8))
    with pytest.raises(ValueError, match="divisor_override"):
        from_torch(nn.Sequential(nn.AvgPool2d(2, divisor_override=3)), (1, 8, 8))
    with pytest.raises(ValueError, match="returns indices"):
        from_torch(nn.Sequential(nn.MaxPool2d(2, return_indices=True)), (1, 8, 8))
    with pytest.raises(TypeError, match="module must be a torch.nn.Sequential"):
        from_torch(nn.Linear(2, 2), (2,))


def _model_with_new_layers(dtype):
    import numpycnn as nc
    rng = np.random.default_rng(0)
    block = nc.ResidualBlock([("conv1", nc.Conv2D(4, 6, 3, stride=2, pad=1, rng=rng, dtype=dtype)),
                              ("bn1", nc.BatchNorm2D(6, dtype=dtype)), ("relu1", nc.ReLU()),
                              ("conv2", nc.Conv2D(6, 6, 3, pad=1, rng=rng, dtype=dtype))],
                             projection=nc.Conv2D(4, 6, 1, stride=2, rng=rng, dtype=dtype))
    model = Sequential([("conv0", nc.Conv2D(1, 4, 3, pad=1, rng=rng, dtype=dtype)),
                        ("bn0", nc.BatchNorm2D(4, dtype=dtype)), ("relu0", nc.ReLU()), ("res1", block),
                        ("drop2d", nc.Dropout2D(0.2)), ("flat", nc.Flatten()),
                        ("fc1", nc.Dense(96, 12, rng=rng, dtype=dtype)), ("bnf", nc.BatchNorm1D(12, dtype=dtype)),
                        ("drop", nc.Dropout(0.5)), ("fc2", nc.Dense(12, 10, rng=rng, dtype=dtype))],
                       input_shape=(1, 8, 8))
    x = np.random.default_rng(1).standard_normal((16, 1, 8, 8)).astype(dtype)
    for _ in range(3):               # training steps move gamma, beta and the running statistics away from 1 / 0
        out = model.forward(x)
        model.backward(np.random.default_rng(2).standard_normal(out.shape).astype(dtype))
        optim.SGD(model, lr=0.1).step()
    return model, x


def test_batchnorm_dropout_and_residual_blocks_export_to_the_same_function_and_back_in_float64():
    model, x = _model_with_new_layers(np.float64)
    t = to_torch(model)
    assert type(t.res1).__name__ == "Residual" and isinstance(t.bn0, torch.nn.BatchNorm2d)
    np.testing.assert_allclose(t.bn0.running_var.numpy(), model["bn0"].buffers["running_var"], rtol=0, atol=0)
    np.testing.assert_allclose(_torch_out(t, x), model.predict_logits(x), rtol=0, atol=1e-10)
    back = from_torch(t, model.input_shape, dtype=np.float64)
    assert [type(l).__name__ for l in back.layers.values()] == [type(l).__name__ for l in model.layers.values()]
    assert [n for n, _, _ in back.named_parameters()] == [n for n, _, _ in model.named_parameters()]
    np.testing.assert_array_equal(back.predict_logits(x), model.predict_logits(x))


def test_exported_batchnorm_in_training_mode_matches_ours_in_training_mode():
    model, x = _model_with_new_layers(np.float64)
    model["drop"].p = model["drop2d"].p = 0.0                  # masks are each library's own: switch them off
    t = to_torch(model)
    for m in (t.drop, t.drop2d):
        m.p = 0.0
    t.train()
    with torch.no_grad():
        want = t(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(model.forward(x), want, rtol=0, atol=1e-10)
    np.testing.assert_allclose(model["bnf"].buffers["running_mean"], t.bnf.running_mean.numpy(), rtol=0, atol=1e-12)


# -- PyTorch's options, both ways: one test network per layer kind -----------------------------------------------------
def _networks(dtype=np.float64):
    """name -> (model using every option of one layer kind, input). Parameters moved off their initial values."""
    import numpycnn as nc
    rng = np.random.default_rng(0)
    nets = {
        "conv": (Sequential([("c1", nc.Conv2D(2, 4, (3, 2), (2, 1), (1, 0), (2, 1), 2, bias=False, rng=rng, dtype=dtype)),
                             ("c2", nc.Conv2D(4, 4, 4, pad="same", dilation=2, groups=4, rng=rng, dtype=dtype)),
                             ("c3", nc.Conv2D(4, 3, 3, pad="valid", rng=rng, dtype=dtype)), ("flat", nc.Flatten())],
                            input_shape=(2, 11, 9)), (2, 11, 9)),
        "pool": (Sequential([("max", nc.MaxPool2D((3, 2), (2, 1), 1, dilation=(1, 2), ceil_mode=True)),
                             ("avg", nc.AvgPool2D(3, 2, 1, ceil_mode=True, count_include_pad=False)),
                             ("avg2", nc.AvgPool2D((2, 1), (1, 1), (1, 0))), ("flat", nc.Flatten())],
                            input_shape=(2, 9, 8)), (2, 9, 8)),
        "adaptive": (Sequential([("amax", nc.AdaptiveMaxPool2D((4, 3))), ("aavg", nc.AdaptiveAvgPool2D((2, None))),
                                 ("gap", nc.AdaptiveAvgPool2D(1)), ("flat", nc.Flatten())],
                                input_shape=(3, 8, 6)), (3, 8, 6)),
        "dense": (Sequential([("fc1", nc.Dense(6, 5, bias=False, rng=rng, dtype=dtype)), ("act", nc.Tanh()),
                              ("fc2", nc.Dense(5, 3, rng=rng, dtype=dtype))], input_shape=(6,)), (6,)),
        "norm": (Sequential([("gn", nc.GroupNorm(2, 4, dtype=dtype)), ("gn1", nc.GroupNorm(4, 4, affine=False)),
                             ("ln", nc.LayerNorm((4, 3, 3), dtype=dtype)), ("flat", nc.Flatten()),
                             ("ln2", nc.LayerNorm(36, bias=False, dtype=dtype)),
                             ("ln3", nc.LayerNorm(36, elementwise_affine=False))], input_shape=(4, 3, 3)), (4, 3, 3)),
    }
    for model, _ in nets.values():
        for _, p, _ in model.named_parameters():
            p += (0.3 * rng.standard_normal(p.shape)).astype(dtype)
    return nets


@pytest.mark.parametrize("kind", ["conv", "pool", "adaptive", "dense", "norm"])
def test_every_layer_option_exports_to_the_same_function_and_back_in_float64(kind):
    model, shape = _networks()[kind]
    x = np.random.default_rng(1).standard_normal((3, *shape))
    t = to_torch(model)
    # forward without the input check: a network without parameters would cast x to its default dtype, float32
    np.testing.assert_allclose(_torch_out(t, x), model.eval().forward(x, check=False), rtol=0, atol=1e-10)
    back = from_torch(t, model.input_shape, dtype=np.float64)
    assert [(n, type(l).__name__, {k: v for k, v in l.config().items() if k != "init"}) for n, l in back.layers.items()] \
        == [(n, type(l).__name__, {k: v for k, v in l.config().items() if k != "init"}) for n, l in model.layers.items()]
    np.testing.assert_array_equal(back.predict_logits(x), model.predict_logits(x))


def test_from_torch_converts_a_pytorch_network_with_every_option_to_the_same_function():
    nn = torch.nn
    torch.manual_seed(0)
    t = nn.Sequential(nn.Conv2d(2, 4, (3, 2), stride=(2, 1), padding=(1, 0), dilation=(2, 1), groups=2, bias=False),
                      nn.GroupNorm(2, 4), nn.ReLU(),
                      nn.Conv2d(4, 4, 4, padding="same", dilation=2, groups=4), nn.LayerNorm([4, 5, 7]),
                      nn.MaxPool2d((3, 2), (2, 1), 1, dilation=(1, 2), ceil_mode=True),
                      nn.AvgPool2d(2, 1, 1, ceil_mode=True, count_include_pad=False), nn.AdaptiveAvgPool2d((2, 1)),
                      nn.Flatten(), nn.Linear(8, 5, bias=False), nn.Tanh(), nn.Linear(5, 3)).double()
    with torch.no_grad():
        for p in t.parameters():
            p.add_(0.3 * torch.randn_like(p))
    model = from_torch(t, (2, 11, 8), dtype=np.float64)
    x = np.random.default_rng(2).standard_normal((4, 2, 11, 8))
    np.testing.assert_allclose(model.predict_logits(x), _torch_out(t, x), rtol=0, atol=1e-10)
    assert [type(l).__name__ for l in model.layers.values()][:6] == ["Conv2D", "GroupNorm", "ReLU", "Conv2D",
                                                                     "LayerNorm", "MaxPool2D"]
