"""The gradient checker itself: it passes correct gradients and catches wrong ones, saying where."""
import numpy as np
import pytest

from numpycnn import layers as L
from numpycnn.gradcheck import check_layer, numerical_gradient, relative_error


def test_numerical_gradient_of_a_quadratic_is_exact_to_rounding():
    x = np.array([1.0, -2.0, 3.0])
    g = numerical_gradient(lambda: float(np.sum(x ** 2)), x)
    np.testing.assert_allclose(g, 2 * x, rtol=1e-9)


def test_numerical_gradient_restores_the_input():
    x = np.random.default_rng(0).standard_normal(5)
    before = x.copy()
    numerical_gradient(lambda: float(np.sum(np.sin(x))), x)
    np.testing.assert_array_equal(x, before)


def test_relative_error_is_zero_for_equal_arrays_and_scale_free():
    a = np.array([1.0, 2.0])
    assert relative_error(a, a) == 0.0
    assert relative_error(np.zeros(3), np.zeros(3)) == 0.0
    assert relative_error(a * 1e-8, a * 1.01e-8) == pytest.approx(relative_error(a, a * 1.01))


class BrokenDense(L.Dense):
    """A Dense layer whose weight gradient is off by a factor 1.01 in one entry."""

    def backward(self, dout):
        dx = super().backward(dout)
        self.grads["W"] = self.grads["W"].copy()
        self.grads["W"][1, 2] *= 1.01
        return dx


def test_gradcheck_fails_a_wrong_gradient_and_names_the_entry():
    layer = BrokenDense(4, 3, rng=np.random.default_rng(0), dtype=np.float64)
    result = check_layer(layer, np.random.default_rng(1).standard_normal((5, 4)))
    assert not result.passed
    assert result.where == "W[1, 2]"
    assert result.errors["x"] < 1e-8        # the input gradient is still right


def test_gradcheck_with_sampled_entries_checks_only_that_many():
    layer = L.Conv2D(2, 3, 3, rng=np.random.default_rng(0), dtype=np.float64)
    result = check_layer(layer, np.random.default_rng(1).standard_normal((2, 2, 6, 6)), max_entries=5)
    assert result.passed and set(result.errors) == {"x", "W", "b"}


def test_numerical_gradient_warns_on_float32():
    x = np.ones(2, dtype=np.float32)
    with pytest.warns(UserWarning, match="float64"):
        numerical_gradient(lambda: float(x.sum()), x)
