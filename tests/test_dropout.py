"""Dropout / Dropout2D: inverted scaling, seeded masks, identity in eval mode, backward with a fixed
mask vs central differences and vs PyTorch, and the draw counter saved with the model."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import numpycnn as nc
from numpycnn.model import load_model, save_model
from numpycnn.dropout import Dropout, Dropout2D, dropout_backward, dropout_forward
from numpycnn.errors import ShapeError
from numpycnn.gradcheck import check_layer
from numpycnn.layers import layer_from_config
from numpycnn.model import Sequential

from conftest import LAYER_CASES, make_x


class FixedMask:
    """Mixin: every forward pass re-uses one mask, so central differences see a single function of x."""

    def draw_mask(self, x_shape):
        if not hasattr(self, "fixed"):
            self.fixed = super().draw_mask(x_shape)
        return self.fixed


class FixedMaskDropout(FixedMask, Dropout):
    pass


class FixedMaskDropout2D(FixedMask, Dropout2D):
    pass


#: the dropout layers of the layer contract's table (tests/conftest.py): id -> (factory, input shape)
CASES = {case: (factory, shape) for case, (factory, shape, _) in LAYER_CASES.items() if case.startswith("dropout")}


def test_training_output_is_zero_or_the_input_scaled_by_one_over_one_minus_p():
    layer = Dropout(0.25, seed=0)
    x = make_x((200, 50))
    out = layer.forward(x)
    kept = out != 0
    np.testing.assert_allclose(out[kept], x[kept] / 0.75, rtol=1e-15)
    n = x.size                                  # kept ~ Binomial(n, 0.75): within 5 standard deviations
    assert abs(kept.sum() - 0.75 * n) < 5 * np.sqrt(n * 0.75 * 0.25)
    np.testing.assert_array_equal(kept, layer.keep)


def test_inverted_scaling_keeps_the_mean_of_the_output():
    layer = Dropout(0.5, seed=4)
    x = np.ones((1000, 100))
    assert abs(layer.forward(x).mean() - 1) < 5 * np.sqrt(0.25 / x.size) / 0.5


def test_evaluation_mode_is_the_identity_and_draws_nothing():
    layer = Dropout(0.5, seed=0)
    layer.training = False
    x = make_x((4, 6))
    np.testing.assert_array_equal(layer.forward(x), x)
    dout = make_x((4, 6), seed=1)
    np.testing.assert_array_equal(layer.backward(dout), dout)
    assert int(layer.buffers["draws"]) == 0


def test_same_seed_gives_the_same_masks_and_each_draw_a_new_one():
    a, b = Dropout(0.5, seed=7), Dropout(0.5, seed=7)
    x = np.ones((8, 16))
    first_a, first_b = a.forward(x).copy(), b.forward(x).copy()
    np.testing.assert_array_equal(first_a, first_b)
    assert not np.array_equal(a.forward(x), first_a)          # draw 1 differs from draw 0
    assert int(a.buffers["draws"]) == 2
    assert not np.array_equal(Dropout(0.5, seed=8).forward(x), first_a)


def test_the_mask_of_draw_k_comes_from_default_rng_seed_k():
    layer = Dropout(0.3, seed=5)
    layer.forward(np.ones((3, 4)))
    out = layer.forward(np.ones((3, 4)))
    keep = np.random.default_rng([5, 1]).random((3, 4)) >= 0.3
    np.testing.assert_array_equal(out != 0, keep)


def test_a_generator_seed_is_drawn_from_it_reproducibly():
    a = Dropout(0.5, seed=np.random.default_rng(3))
    b = Dropout(0.5, seed=np.random.default_rng(3))
    assert a.seed == b.seed and isinstance(a.seed, int)
    assert a.config() == {"p": 0.5, "seed": a.seed}


def test_dropout2d_drops_whole_channels():
    layer = Dropout2D(0.5, seed=0)
    x = make_x((6, 5, 3, 4)) + 10                               # no value is 0 by chance
    out = layer.forward(x)
    dropped = (out == 0).all(axis=(2, 3))
    kept = (out != 0).all(axis=(2, 3))
    assert (dropped | kept).all() and dropped.any() and kept.any()
    np.testing.assert_allclose(out[kept], x[kept] * 2, rtol=1e-15)


@pytest.mark.parametrize("factory, shape", [(lambda: FixedMaskDropout(0.4, seed=1), (3, 7)),
                                            (lambda: FixedMaskDropout(0.5, seed=2), (2, 3, 4, 4)),
                                            (lambda: FixedMaskDropout2D(0.5, seed=3), (3, 4, 3, 3))],
                         ids=["dropout", "dropout_maps", "dropout2d"])
def test_backward_with_a_fixed_mask_matches_central_differences_in_float64(factory, shape):
    layer = factory()
    result = check_layer(layer, make_x(shape, seed=9))
    assert result.passed, str(result)
    assert 0 < layer.fixed.sum() < layer.fixed.size            # the mask dropped some and kept some


def test_functional_forward_and_backward_are_the_same_diagonal_map():
    x, dout = make_x((3, 5)), make_x((3, 5), seed=1)
    keep = np.random.default_rng(2).random((3, 5)) >= 0.5
    np.testing.assert_array_equal(dropout_forward(x, keep, 0.5), np.where(keep, x / 0.5, 0))
    np.testing.assert_array_equal(dropout_backward(dout, keep, 0.5), np.where(keep, dout / 0.5, 0))


@pytest.mark.parametrize("kind", ["Dropout", "Dropout2d"])
def test_forward_and_backward_match_pytorch_for_the_same_mask_in_float64(kind):
    torch = pytest.importorskip("torch")
    shape, p = (4, 3, 5, 5), 0.3
    module = getattr(torch.nn, kind)(p)
    module.train()
    torch.manual_seed(0)
    torch_mask = module(torch.ones(shape, dtype=torch.float64)).numpy() != 0    # PyTorch's own mask
    x, dout = make_x(shape), make_x(shape, seed=1)
    torch.manual_seed(0)                                                     # the same mask again, now on x
    xt = torch.from_numpy(x.copy()).requires_grad_(True)
    yt = module(xt)
    yt.backward(torch.from_numpy(dout))
    keep = torch_mask if kind == "Dropout" else torch_mask[:, :, :1, :1]
    np.testing.assert_allclose(dropout_forward(x, keep, p), yt.detach().numpy(), rtol=0, atol=1e-12)
    np.testing.assert_allclose(dropout_backward(dout, keep, p), xt.grad.numpy(), rtol=0, atol=1e-12)
    module.eval()
    layer = (Dropout2D if kind == "Dropout2d" else Dropout)(p)
    layer.training = False
    np.testing.assert_array_equal(layer.forward(x), module(torch.from_numpy(x)).numpy())   # both return x as is


# -- beyond the layer contract (tests/test_layers.py): the mask and the repr -------------------

@pytest.mark.parametrize("case", sorted(CASES))
def test_backward_is_idempotent_and_uses_the_mask_of_the_last_forward(case):
    factory, shape = CASES[case]
    layer = factory()
    layer.forward(make_x(shape))
    dout = make_x(shape, seed=4)
    dx1 = layer.backward(dout).copy()
    np.testing.assert_array_equal(layer.backward(dout), dx1)
    want = dout if layer.keep is None else dropout_backward(dout, layer.keep, layer.p)
    np.testing.assert_array_equal(dx1, want)


@pytest.mark.parametrize("case", sorted(CASES))
def test_output_shape_config_and_repr(case):
    factory, shape = CASES[case]
    layer = factory()
    assert layer.forward(make_x(shape)).shape[1:] == tuple(layer.output_shape(shape[1:]))
    clone = layer_from_config(type(layer).__name__, layer.config())
    assert type(clone) is type(layer) and clone.config() == layer.config()
    assert repr(layer) == f"{type(layer).__name__}(p={layer.p!r}, seed={layer.seed!r})"


@settings(max_examples=30, deadline=None)
@given(shape=st.lists(st.integers(1, 5), min_size=1, max_size=4), p=st.floats(0, 0.95),
       seed=st.integers(0, 2 ** 32), channels=st.booleans())
def test_forward_is_x_times_keep_over_one_minus_p_and_backward_the_same_map(shape, p, seed, channels):
    if channels and len(shape) != 4:
        return
    layer = (Dropout2D if channels else Dropout)(p, seed=seed)
    x, dout = make_x(shape, seed=1) + 3, make_x(shape, seed=2)
    out = layer.forward(x)
    dx = layer.backward(dout)
    keep = np.broadcast_to(layer.keep if p > 0 else True, x.shape)
    np.testing.assert_allclose(out, np.where(keep, x / (1 - p), 0), rtol=1e-14)
    np.testing.assert_allclose(dx, np.where(keep, dout / (1 - p), 0), rtol=1e-14)


def test_bad_arguments_and_inputs_are_named():
    with pytest.raises(ValueError, match=r"Dropout: p must be a number in \[0, 1\) .*; got 1"):
        Dropout(1.0)
    with pytest.raises(ValueError, match="p must be"):
        Dropout(-0.1)
    with pytest.raises(ValueError, match="seed must be an integer >= 0; got -1"):
        Dropout(0.5, seed=-1)
    with pytest.raises(TypeError, match="floating"):
        Dropout(0.5).forward(np.ones((2, 3), dtype=np.int64))
    with pytest.raises(ShapeError, match="4 dimensions"):
        Dropout2D(0.5).forward(np.ones((2, 3)))
    with pytest.raises(ShapeError, match="expects feature maps"):
        Sequential([nc.Dense(3, 4), Dropout2D(0.5)], input_shape=(3,))


# -- in a model: the draw counter is state ------------------------------------------------

def test_the_draw_counter_is_saved_and_restored_so_the_next_mask_is_the_same(tmp_path):
    def model():
        return Sequential([("fc", nc.Dense(6, 8, rng=np.random.default_rng(0))), ("drop", Dropout(0.5, seed=3)),
                           ("out", nc.Dense(8, 2, rng=np.random.default_rng(1)))], input_shape=(6,))
    a = model()
    x = make_x((5, 6), np.float32)
    for _ in range(3):
        a.forward(x)
    assert int(a.state_dict()["drop.draws"]) == 3
    save_model(tmp_path / "m.npz", a)
    b = load_model(tmp_path / "m.npz")
    np.testing.assert_array_equal(a.forward(x), b.forward(x))       # both use draw 3
    fresh = model()
    assert not np.array_equal(fresh.forward(x), b.forward(x))
