"""fast_pooling.py: max pooling as a running maximum over the kernel offsets (direct writes backward
when windows do not overlap) computes exactly what the loop reference computes.
"""
import numpy as np
import pytest

from numpycnn.fast_pooling import maxpool2d_backward_fast, maxpool2d_forward_fast

from conftest import POOL_SHAPES, maxpool_backward_loop


@pytest.mark.parametrize("case", POOL_SHAPES)
def test_fast_maxpool_backward_equals_the_loop_reference_in_float64(case):
    N, C, H, W, K, s, p = case
    rng = np.random.default_rng(2)
    x = rng.standard_normal((N, C, H, W))
    out, cache = maxpool2d_forward_fast(x, K, s, p)
    dout = rng.standard_normal(out.shape)
    np.testing.assert_allclose(maxpool2d_backward_fast(dout, cache), maxpool_backward_loop(dout, x, K, s, p),
                               rtol=1e-12, atol=1e-12)  # overlapping windows add in a different order


@pytest.mark.parametrize("case", POOL_SHAPES)
def test_fast_maxpool_forward_equals_the_loop_reference_and_stores_a_small_argmax(case):
    from numpycnn.pooling import maxpool2d_naive
    N, C, H, W, K, s, p = case
    x = np.random.default_rng(10).standard_normal((N, C, H, W))
    out, (_, argmax, *_) = maxpool2d_forward_fast(x, K, s, p)
    np.testing.assert_array_equal(out, maxpool2d_naive(x, K, s, p))
    assert argmax.dtype == np.uint8 and argmax.max() < K * K


def test_maxpool_ties_go_to_the_first_maximum_in_raster_order():
    x = np.zeros((1, 1, 4, 4))                      # every window is all ties
    x[0, 0, 3, 3] = -1.0
    out, cache = maxpool2d_forward_fast(x, 2)
    dx = maxpool2d_backward_fast(np.ones_like(out), cache)
    np.testing.assert_array_equal(dx[0, 0], [[1, 0, 1, 0], [0, 0, 0, 0], [1, 0, 1, 0], [0, 0, 0, 0]])


@pytest.mark.parametrize("case", POOL_SHAPES)
def test_fast_maxpool_gradients_match_torch(case):
    torch = pytest.importorskip("torch")
    N, C, H, W, K, s, p = case
    x = np.random.default_rng(5).standard_normal((N, C, H, W))
    out, cache = maxpool2d_forward_fast(x, K, s, p)
    dout = np.random.default_rng(6).standard_normal(out.shape)
    xt = torch.tensor(x, requires_grad=True)
    ot = torch.nn.functional.max_pool2d(xt, K, s, p)
    ot.backward(torch.tensor(dout))
    np.testing.assert_array_equal(out, ot.detach().numpy())         # exact anywhere: a max selects, never rounds
    np.testing.assert_allclose(maxpool2d_backward_fast(dout, cache), xt.grad.numpy(), rtol=1e-12, atol=1e-12)
