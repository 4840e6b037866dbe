"""Max pooling at three levels, each real: the loop reference, the textbook version (the exercise) and the
fast kernel that trains by default — fast == textbook == loop.

The textbook :func:`~numpycnn.pooling.maxpool2d_forward` reshapes the window view and takes its argmax;
the fast :func:`~numpycnn.fast_pooling.maxpool2d_forward_fast` keeps a running maximum over the kernel
offsets. Both take the same values and send the gradient to the same (first) maximum, so their results are
equal bit for bit: the forward pass copies values, and the backward pass adds the same numbers in the same
order of kernel offsets.

(pooling.py; the fast kernel's own paths: tests/test_fast_pooling.py; the layers and the switch that trains
on the textbook pooling: tests/test_pool_layers.py)
"""
import numpy as np
import pytest
from hypothesis import assume, given, settings

from numpycnn import fast_pooling, pooling
from numpycnn.fast_pooling import maxpool2d_backward_fast, maxpool2d_forward_fast
from numpycnn.gradcheck import distinct_values
from numpycnn.im2col import Window
from numpycnn.pooling import (avgpool2d_backward, avgpool2d_forward, avgpool2d_naive, maxpool2d_backward,
                              maxpool2d_forward, maxpool2d_naive)

from conftest import fits, geometry, maxpool_backward_loop


CASES = [  # N, C, H, W, K, stride, pad
    (2, 3, 8, 8, 2, 2, 0),      # the usual 2x2 pooling (windows tile the input)
    (2, 2, 9, 7, 2, 2, 0),      # odd sizes: the last row and column are read by no window
    (2, 2, 7, 7, 3, 2, 1),      # overlapping windows, with padding
    (1, 1, 6, 6, 2, 1, 0),      # overlapping windows, stride 1
    (1, 2, 11, 9, 2, 3, 0),     # stride > kernel: gaps between windows
    (2, 1, 8, 8, 3, 3, 1),      # kernel == stride, with padding
    (1, 3, 5, 6, 1, 1, 0),      # 1x1 windows: the identity
]


def _ties(shape, seed):
    """Values from {-1, 0, 1}: most windows hold their maximum more than once."""
    return np.random.default_rng(seed).integers(-1, 2, shape).astype(np.float64)


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("values", ["distinct", "ties"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fast_textbook_and_loop_max_pooling_give_the_same_output_and_gradient(case, values, dtype):
    N, C, H, W, K, s, p = case
    rng = np.random.default_rng(1)
    x = (rng.standard_normal((N, C, H, W)) if values == "distinct" else _ties((N, C, H, W), 2)).astype(dtype)
    out, cache = maxpool2d_forward(x, K, s, p)
    fast_out, fast_cache = maxpool2d_forward_fast(x, K, s, p)
    np.testing.assert_array_equal(out, maxpool2d_naive(x, K, s, p))
    np.testing.assert_array_equal(fast_out, out)
    np.testing.assert_array_equal(fast_cache[1], cache[1])           # the same argmax: the first maximum
    dout = rng.standard_normal(out.shape).astype(dtype)
    dx = maxpool2d_backward(dout, cache)
    assert out.dtype == dx.dtype == dtype
    np.testing.assert_array_equal(maxpool2d_backward_fast(dout, fast_cache), dx)
    np.testing.assert_allclose(dx, maxpool_backward_loop(dout.astype(np.float64), x.astype(np.float64), K, s, p),
                               rtol=10 * np.finfo(dtype).eps, atol=0)   # the loop adds overlaps in its own order


def test_textbook_max_pooling_caches_the_first_maximum_as_a_flat_window_index():
    x = np.array([[[[1., 5., 2., 0.], [3., 4., 8., 8.], [0., 0., 1., 1.], [9., 0., 1., 1.]]]])
    out, (x_shape, argmax, K, stride, pad) = maxpool2d_forward(x, 2)
    np.testing.assert_array_equal(out, [[[[5., 8.], [9., 1.]]]])
    assert (x_shape, K, stride, pad) == ((1, 1, 4, 4), 2, 2, 0)
    np.testing.assert_array_equal(argmax, [[[[1, 2], [2, 0]]]])     # p*K + q; on ties the first in row-major order
    dx = maxpool2d_backward(np.array([[[[10., 20.], [30., 40.]]]]), (x_shape, argmax, K, stride, pad))
    want = np.zeros_like(x)
    want[0, 0, 0, 1], want[0, 0, 1, 2], want[0, 0, 3, 0], want[0, 0, 2, 2] = 10, 20, 30, 40
    np.testing.assert_array_equal(dx, want)


def test_padding_is_never_the_maximum():
    x = np.full((1, 1, 3, 3), -5.0)                                  # below 0, what zero padding would hold
    out, cache = maxpool2d_forward(x, 3, 2, 1)
    np.testing.assert_array_equal(out, np.full((1, 1, 2, 2), -5.0))
    dx = maxpool2d_backward(np.ones_like(out), cache)
    assert dx.shape == x.shape and dx.sum() == 4                     # every window's gradient lands inside x


def test_textbook_max_pooling_leaves_read_only_inputs_untouched_and_its_backward_is_idempotent():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 2, 7, 7))
    x_before = x.copy()
    x.flags.writeable = False
    out, cache = maxpool2d_forward(x, 3, 2, 1)
    dout = rng.standard_normal(out.shape)
    dout.flags.writeable = False
    first = maxpool2d_backward(dout, cache)
    np.testing.assert_array_equal(maxpool2d_backward(dout, cache), first)
    np.testing.assert_array_equal(x, x_before)


def test_the_fast_backward_accepts_the_textbook_cache_and_the_textbook_backward_the_fast_one():
    """The two caches mean the same: a network may switch implementation between two batches."""
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 2, 7, 7))
    _, cache = maxpool2d_forward(x, 3, 2, 1)
    _, fast_cache = maxpool2d_forward_fast(x, 3, 2, 1)
    dout = rng.standard_normal((2, 2, 4, 4))
    np.testing.assert_array_equal(maxpool2d_backward_fast(dout, cache), maxpool2d_backward(dout, fast_cache))


@settings(max_examples=40, deadline=None)
@given(geometry)
def test_fast_pooling_equals_the_naive_loop(g):
    N, C, H, W, K, _, s, p = g
    assume(p <= K // 2 and fits(H, W, K, K, p))
    x = np.random.default_rng(3).standard_normal((N, C, H, W))
    np.testing.assert_array_equal(maxpool2d_forward(x, K, s, p)[0], maxpool2d_naive(x, K, s, p))
    np.testing.assert_allclose(avgpool2d_forward(x, K, s, p)[0], avgpool2d_naive(x, K, s, p), rtol=1e-12)


def test_maxpool_backward_routes_each_gradient_to_its_window_maximum_only():
    x = np.array([[[[1., 5., 2., 0.], [3., 4., 8., 7.], [0., 0., 1., 1.], [9., 0., 1., 2.]]]])
    out, cache = maxpool2d_forward(x, 2)
    np.testing.assert_array_equal(out, [[[[5., 8.], [9., 2.]]]])
    dx = maxpool2d_backward(np.array([[[[10., 20.], [30., 40.]]]]), cache)
    want = np.zeros_like(x)
    want[0, 0, 0, 1], want[0, 0, 1, 2], want[0, 0, 3, 0], want[0, 0, 3, 3] = 10, 20, 30, 40
    np.testing.assert_array_equal(dx, want)


def test_avgpool_backward_shares_each_gradient_equally_over_its_window():
    x = np.zeros((1, 1, 4, 4))
    out, cache = avgpool2d_forward(x, 2)
    dx = avgpool2d_backward(np.ones_like(out), cache)
    np.testing.assert_array_equal(dx, np.full_like(x, 0.25))


# -- PyTorch's options: per-axis sizes, dilation, ceil_mode, count_include_pad; adaptive pooling -----------------------


def _output_size(n, k, s, p, d, ceil_mode):
    """PyTorch's pooling output size, written out (torch's pooling_output_shape)."""
    span = d * (k - 1) + 1
    out = (n + 2 * p - span + (s - 1 if ceil_mode else 0)) // s + 1
    if ceil_mode and (out - 1) * s >= n + p:
        out -= 1
    return out


def pool_loop(x, kernel, stride, pad, dilation=(1, 1), ceil_mode=False, kind="max", count_include_pad=True):
    """One output value at a time: window ``(i, j)`` reads rows ``i*SH - PH + p*DH`` and columns
    ``j*SW - PW + q*DW`` of the input; outside it is padding (-inf for max, 0 for the average).
    Returns ``out`` and, for max pooling, the input position of each window's first maximum."""
    N, C, H, W = x.shape
    (KH, KW), (SH, SW), (PH, PW), (DH, DW) = kernel, stride, pad, dilation
    OH, OW = _output_size(H, KH, SH, PH, DH, ceil_mode), _output_size(W, KW, SW, PW, DW, ceil_mode)
    out, where = np.zeros((N, C, OH, OW)), {}
    for n in range(N):
        for c in range(C):
            for i in range(OH):
                for j in range(OW):
                    values, places, counted = [], [], 0
                    for p in range(KH):
                        for q in range(KW):
                            r, s = i * SH - PH + p * DH, j * SW - PW + q * DW
                            inside = 0 <= r < H and 0 <= s < W
                            in_padded = -PH <= r < H + PH and -PW <= s < W + PW
                            counted += inside or (count_include_pad and in_padded)
                            values.append(x[n, c, r, s] if inside else (-np.inf if kind == "max" else 0.0))
                            places.append((r, s) if inside else None)
                    if kind == "max":
                        k = int(np.argmax(values))
                        out[n, c, i, j], where[n, c, i, j] = values[k], places[k]
                    else:
                        out[n, c, i, j] = sum(values) / counted
    return out, where


POOL_OPTION_CASES = [  # shape, kernel, stride, pad, dilation, ceil_mode
    ((2, 3, 8, 7), (3, 2), (2, 1), (1, 1), (1, 2), True),
    ((1, 2, 9, 9), (3, 3), (2, 2), (1, 1), (2, 2), False),
    ((2, 2, 7, 7), (2, 2), (2, 2), (0, 0), (1, 1), True),     # the ceil-mode window past the edge
    ((1, 2, 6, 10), (1, 4), (1, 3), (0, 2), (1, 1), True),
]


@pytest.mark.parametrize("case", POOL_OPTION_CASES)
@pytest.mark.parametrize("values", ["distinct", "ties"])
def test_general_fast_textbook_and_loop_max_pooling_agree(case, values):
    shape, kernel, stride, pad, dilation, ceil_mode = case
    x = distinct_values(np.random.default_rng(1), shape) if values == "distinct" else _ties(shape, 2)
    window = Window(kernel, stride, tuple((p, p) for p in pad), dilation, ceil_mode)
    want, where = pool_loop(x, kernel, stride, pad, dilation, ceil_mode)
    out, cache = pooling.maxpool2d_forward_general(x, window)
    fast_out, fast_cache = fast_pooling.maxpool2d_forward_fast_general(x, window)
    np.testing.assert_array_equal(out, want)
    np.testing.assert_array_equal(fast_out, want)
    np.testing.assert_array_equal(fast_cache[1], cache[1])
    dout = np.random.default_rng(3).standard_normal(want.shape)
    dx_loop = np.zeros_like(x)
    for (n, c, i, j), place in where.items():
        if place is not None:
            dx_loop[n, c][place] += dout[n, c, i, j]
    dx = pooling.maxpool2d_backward_general(dout, cache)
    np.testing.assert_allclose(dx, dx_loop, rtol=0, atol=1e-14)
    np.testing.assert_array_equal(fast_pooling.maxpool2d_backward_fast_general(dout, fast_cache), dx)


@pytest.mark.parametrize("case", POOL_OPTION_CASES)
@pytest.mark.parametrize("count_include_pad", [True, False])
def test_general_average_pooling_matches_the_loop_and_its_backward_is_the_adjoint(case, count_include_pad):
    shape, kernel, stride, pad, _, ceil_mode = case
    x = np.random.default_rng(4).standard_normal(shape)
    window = Window(kernel, stride, tuple((p, p) for p in pad), (1, 1), ceil_mode)
    out, cache = pooling.avgpool2d_forward_general(x, window, count_include_pad)
    np.testing.assert_allclose(out, pool_loop(x, kernel, stride, pad, ceil_mode=ceil_mode, kind="avg",
                                              count_include_pad=count_include_pad)[0], rtol=0, atol=1e-14)
    y = np.random.default_rng(5).standard_normal(out.shape)      # a linear map: <A x, y> == <x, A^T y>
    assert np.sum(out * y) == pytest.approx(np.sum(x * pooling.avgpool2d_backward_general(y, cache)), rel=1e-12)
