"""Regression tests for review defects: losses keep float32, Dense honours a bias mask,
and technique B's N excludes masked bias entries."""
import numpy as np
import pytest

from numpycnn.layers import Dense
from numpycnn.losses import MulticlassHinge, NLLLoss, SoftmaxCrossEntropy
from numpycnn.techniques.gradient_direction import GradientDirection, count_trainable
from numpycnn.zoo import mlp


@pytest.mark.parametrize("make", [SoftmaxCrossEntropy, NLLLoss, lambda: MulticlassHinge(p=1),
                                  lambda: MulticlassHinge(p=2)], ids=["ce", "nll", "hinge", "squared_hinge"])
def test_every_loss_backward_keeps_float32_logits_float32(make):
    rng = np.random.default_rng(0)
    z = rng.standard_normal((5, 4)).astype(np.float32)
    y = np.array([0, 1, 2, 3, 0])
    loss = make()
    loss.forward(z, y)
    assert loss.backward().dtype == np.float32


def test_dense_forward_uses_the_masked_bias():
    layer = Dense(3, 2, rng=np.random.default_rng(0), dtype=np.float64)
    layer.params["b"] = np.array([1.5, -2.0])
    layer.set_mask("b", np.array([1.0, 0.0]))
    layer.params["b"][1] = 7.0          # a masked entry written to by hand must not reach the output
    x = np.ones((1, 3))
    out = layer.forward(x)
    np.testing.assert_array_equal(out, x @ layer.params["W"].T + np.array([1.5, 0.0]))


def test_technique_b_N_excludes_masked_bias_entries():
    model = mlp((1, 4, 4), 3, hidden=(5,), seed=0)
    mask = np.array([1, 0, 1, 0, 0], dtype=np.float32)
    model["fc1"].set_mask("b", mask)
    assert count_trainable(model) == model.num_params - 3
    assert GradientDirection(model).N == model.num_params - 3
