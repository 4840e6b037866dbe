"""ResidualBlock: y = F(x) + x (or + P(x)); its backward is the sum at a fork; its parameters live in the
model under "<block>.<sub-layer>.<key>" for optimizers, masks, saving, checkpoints and gradient checks."""
import functools

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import numpycnn as nc
from numpycnn import optim
from numpycnn.model import load_model, save_model
from numpycnn.errors import ShapeError
from numpycnn.gradcheck import check_layer, check_model
from numpycnn.layers import layer_from_config
from numpycnn.model import Sequential
from numpycnn.residual import ResidualBlock

from conftest import conv, dense_block, identity_block, make_x, projection_block

F64 = np.float64
#: the blocks of the residual block's own tests (the layer contract runs over tests/conftest.py's LAYER_CASES)
CASES = {"identity": (identity_block, (2, 3, 5, 5)), "projection_conv": (projection_block, (2, 3, 6, 5)),
         "projection_dense": (dense_block, (4, 5))}
#: this file's inputs: standard normal, seed 10 unless a test says otherwise
make_x = functools.partial(make_x, seed=10)


def test_forward_is_the_body_plus_the_input():
    block = identity_block()
    x = make_x((2, 3, 5, 5))
    body = x
    for layer in block.body.values():
        body = layer.forward(body)
    np.testing.assert_array_equal(block.forward(x), body + x)


def test_backward_is_the_sum_at_the_fork_body_gradient_plus_skip_gradient():
    for make, shape in CASES.values():
        block = make()
        x = make_x(shape)
        out = block.forward(x)
        dout = make_x(out.shape, seed=11)
        dx = block.backward(dout)
        g = dout
        for layer in reversed(block.body.values()):          # the body's own backward, from the same caches
            g = layer.backward(g)
        skip = dout if block.projection is None else block.projection.backward(dout)
        np.testing.assert_array_equal(dx, g + skip)


@pytest.mark.parametrize("case", sorted(CASES))
def test_backward_matches_central_differences_in_float64(case):
    make, shape = CASES[case]
    result = check_layer(make(), make_x(shape))
    assert result.passed, f"{case}: {result}"
    assert any("." in name for name in result.errors)               # the sub-layers' parameters were checked


def _torch_block(torch, block):
    """The same block built by hand in PyTorch (not through numpycnn.export), weights copied."""
    nn = torch.nn

    def module(layer):
        if isinstance(layer, nc.Conv2D):
            m = nn.Conv2d(layer.in_channels, layer.out_channels, layer.kernel_size, layer.stride, layer.pad).double()
        elif isinstance(layer, nc.Dense):
            m = nn.Linear(layer.in_features, layer.out_features).double()
        elif isinstance(layer, nc.BatchNorm2D):
            m = nn.BatchNorm2d(layer.num_features).double()
            with torch.no_grad():
                m.weight.copy_(torch.from_numpy(layer.params["gamma"]))
                m.bias.copy_(torch.from_numpy(layer.params["beta"]))
            return m
        else:
            return nn.Tanh()
        with torch.no_grad():
            m.weight.copy_(torch.from_numpy(layer.params["W"]))
            m.bias.copy_(torch.from_numpy(layer.params["b"]))
        return m

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Sequential(*[module(l) for l in block.body.values()])
            self.proj = None if block.projection is None else module(block.projection)

        def forward(self, x):
            return self.body(x) + (x if self.proj is None else self.proj(x))

    return Block()


@pytest.mark.parametrize("case", sorted(CASES))
def test_forward_and_every_gradient_match_an_equivalent_pytorch_module_in_float64(case):
    torch = pytest.importorskip("torch")
    make, shape = CASES[case]
    block = make()
    for layer in block.sublayers.values():                          # non-zero biases and gammas
        for key, p in layer.params.items():
            p += 0.3 * make_x(p.shape, seed=12)
    x = make_x(shape)
    out = block.forward(x)
    dout = make_x(out.shape, seed=13)
    dx = block.backward(dout)
    module = _torch_block(torch, block)
    xt = torch.from_numpy(x.copy()).requires_grad_(True)
    yt = module(xt)
    yt.backward(torch.from_numpy(dout))
    np.testing.assert_allclose(out, yt.detach().numpy(), rtol=0, atol=1e-10)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=0, atol=1e-10)
    torch_grads = [p.grad.numpy() for p in module.parameters()]
    ours = [block.grads[k] for k in block.params]
    assert len(torch_grads) == len(ours)
    for got, want in zip(ours, torch_grads):
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-10)


# -- beyond the layer contract (tests/test_layers.py): the config of the sub-layers, the repr ------

@pytest.mark.parametrize("case", sorted(CASES))
def test_output_shape_config_and_repr(case):
    make, shape = CASES[case]
    block = make()
    assert block.forward(make_x(shape)).shape[1:] == block.output_shape(shape[1:])
    clone = layer_from_config("ResidualBlock", block.config(), dtype=F64)
    assert clone.config() == block.config()
    assert {k: v.shape for k, v in clone.params.items()} == {k: v.shape for k, v in block.params.items()}
    text = repr(block)
    assert text.startswith("ResidualBlock(") and all(f"({n}):" in text for n in block.sublayers)


@settings(max_examples=20, deadline=None)
@given(N=st.integers(1, 2), C=st.integers(1, 3), F=st.integers(1, 3), H=st.integers(2, 6), W=st.integers(2, 6),
       stride=st.integers(1, 2), seed=st.integers(0, 1000))
def test_blocks_of_generated_shapes_match_central_differences(N, C, F, H, W, stride, seed):
    rng = np.random.default_rng(seed)
    body = [nc.Conv2D(C, F, 3, stride=stride, pad=1, rng=rng, dtype=F64), nc.Tanh(),
            nc.Conv2D(F, F, 3, pad=1, rng=rng, dtype=F64)]
    needs_projection = stride != 1 or C != F
    block = ResidualBlock(body, projection=nc.Conv2D(C, F, 1, stride=stride, rng=rng, dtype=F64)
                          if needs_projection else None)
    x = rng.standard_normal((N, C, H, W))
    assert block.forward(x).shape[1:] == block.output_shape((C, H, W))
    # the body is smooth (tanh), so any disagreement is finite-difference rounding: on a 1-channel 2×4 input a
    # bias gradient can be small enough for that rounding to reach 1.5e-7 relative (found by hypothesis);
    # a wrong backward gives errors of order 1
    result = check_layer(block, x, seed=seed + 1, tol=1e-6)
    assert result.passed, str(result)


def test_shapes_that_do_not_match_without_a_projection_are_refused_naming_the_block():
    block = ResidualBlock([conv(3, 4)], name="res1")
    with pytest.raises(ShapeError, match=r"ResidualBlock 'res1': the body maps \(3, 5, 5\) to \(4, 5, 5\).*projection"):
        block.output_shape((3, 5, 5))
    with pytest.raises(ShapeError, match="ResidualBlock 'res1'"):
        Sequential([("res1", block)], input_shape=(3, 5, 5))
    with pytest.raises(ValueError, match="reserved"):
        ResidualBlock([("proj", conv(3, 3))])
    with pytest.raises(ValueError, match="at least one layer"):
        ResidualBlock([])
    with pytest.raises(TypeError, match="projection must be a Layer"):
        ResidualBlock([conv(3, 3)], projection="conv")


# -- inside a Sequential ------------------------------------------------------------------

def res_model(dtype=F64, dropout=False):
    rng = np.random.default_rng(0)
    layers = [("conv0", nc.Conv2D(1, 3, 3, pad=1, rng=rng, dtype=dtype)), ("tanh0", nc.Tanh()),
              ("res1", identity_block(dtype=dtype)), ("res2", projection_block(dtype=dtype)), ("tanh2", nc.Tanh()),
              ("flat", nc.Flatten())]
    if dropout:
        layers.append(("drop", nc.Dropout(0.3, seed=1)))
    layers.append(("fc", nc.Dense(4 * 3 * 3, 4, rng=rng, dtype=dtype)))
    return Sequential(layers, input_shape=(1, 6, 6))


def test_parameters_appear_in_the_model_as_block_dot_sublayer_dot_key():
    model = res_model()
    names = [n for n, _, _ in model.named_parameters()]
    assert names[2:6] == ["res1.conv1.W", "res1.conv1.b", "res1.conv2.W", "res1.conv2.b"]
    assert {"res2.bn1.gamma", "res2.bn1.beta", "res2.proj.W", "res2.proj.b"} <= set(names)
    assert model.get_parameter("res1.conv2.W") is model["res1"].body["conv2"].params["W"]
    model.set_parameter("res2.proj.b", np.ones(4))
    np.testing.assert_array_equal(model["res2"].projection.params["b"], 1)
    assert model.layer_of("res1.conv1.W") is model["res1"]
    assert "res2.bn1.running_var" in model.state_dict()


def test_whole_model_with_residual_blocks_matches_central_differences():
    x = make_x((4, 1, 6, 6))
    y = np.array([0, 1, 2, 3])
    result = check_model(res_model(), x, y, max_entries=None)
    assert result.passed, str(result)
    assert {"res1.conv1.W", "res2.proj.W", "res2.bn1.gamma"} <= set(result.errors)


@pytest.mark.parametrize("name", [n for n in sorted(optim.OPTIMIZERS)])
def test_every_optimizer_updates_every_parameter_inside_the_blocks(name):
    model = res_model(dtype=np.float32)
    opt = optim.make_optimizer(name, model, lr=1e-2)
    before = {n: p.copy() for n, p, _ in model.named_parameters()}
    data = nc.datasets.Dataset(make_x((8, 1, 6, 6), np.float32), np.arange(8) % 4)
    nc.Trainer(model, opt, batch_size=8, progress=False).fit(data, epochs=1)
    changed = {n for n, p, _ in model.named_parameters() if not np.array_equal(p, before[n])}
    assert changed == set(before), sorted(set(before) - changed)


def test_masks_on_block_parameters_zero_the_entries_and_their_gradient():
    model = res_model()
    W = model.get_parameter("res1.conv1.W")
    mask = (np.random.default_rng(1).random(W.shape) < 0.5).astype(F64)
    model.layer_of("res1.conv1.W").set_mask("conv1.W", mask)
    assert model["res1"].body["conv1"].masks["W"] is not None
    x, y = make_x((4, 1, 6, 6)), np.array([0, 1, 2, 3])
    loss = nc.SoftmaxCrossEntropy()
    loss.forward(model.forward(x), y)
    model.backward(loss.backward())
    assert np.all(model["res1"].grads["conv1.W"][mask == 0] == 0)
    assert "active" in model.summary()


def test_save_and_load_round_trips_blocks_weights_masks_and_buffers(tmp_path):
    model = res_model(dtype=np.float32)
    model.layer_of("res2.proj.W").set_mask("proj.W", np.repeat([1, 0, 1, 1], 3).reshape(4, 3, 1, 1))
    x = make_x((6, 1, 6, 6), np.float32)
    model.forward(x)                                                  # moves the running statistics
    save_model(tmp_path / "m.npz", model)
    loaded = load_model(tmp_path / "m.npz")
    assert loaded.config() == model.config()
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(loaded.state_dict()[k], v)
    np.testing.assert_array_equal(loaded.predict_logits(x), model.predict_logits(x))
    assert "res2.proj.W.mask" in loaded.state_dict()


def test_train_and_eval_reach_the_layers_inside_a_block():
    model = res_model()
    model.eval()
    assert not model["res2"].body["bn1"].training and not model["res2"].training
    model.train()
    assert all(l.training for l in model["res2"].sublayers.values())
