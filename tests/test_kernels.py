"""The functional core: im2col/col2im, convolution and pooling against their loop references.

The convolution has three levels, each real: the loop reference, the textbook im2col version
(:mod:`numpycnn.conv`) and the fast kernel (:mod:`numpycnn.fast_conv`); fast == textbook == loop.
(``tests/test_kernel_fast_paths.py`` covers the performance paths in more shapes; this file
states the defining properties once, over a hypothesis-generated range of shapes.)
"""
import numpy as np
import pytest
from hypothesis import assume, given, settings, strategies as st

from numpycnn.conv import conv2d_backward, conv2d_backward_naive, conv2d_forward, conv2d_naive
from numpycnn.fast_conv import conv2d_backward_fast, conv2d_forward_fast
from numpycnn.errors import ShapeError
from numpycnn.im2col import col2im, conv_output_size, im2col
from numpycnn.pooling import (avgpool2d_backward, avgpool2d_forward, avgpool2d_naive, maxpool2d_backward,
                              maxpool2d_forward, maxpool2d_naive)

geometry = st.tuples(st.integers(1, 3), st.integers(1, 3), st.integers(1, 8), st.integers(1, 8),
                     st.integers(1, 4), st.integers(1, 4), st.integers(1, 3), st.integers(0, 2))


def _fits(H, W, KH, KW, p):
    return H + 2 * p >= KH and W + 2 * p >= KW


def im2col_loop(x, KH, KW, s, p):
    """The definition: one row per output position, the window flattened in (C, KH, KW) order."""
    N, C, H, W = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    OH, OW = conv_output_size(H, KH, s, p), conv_output_size(W, KW, s, p)
    rows = [xp[n, :, i * s:i * s + KH, j * s:j * s + KW].ravel()
            for n in range(N) for i in range(OH) for j in range(OW)]
    return np.array(rows)


@settings(max_examples=60, deadline=None)
@given(geometry)
def test_im2col_rows_are_the_flattened_windows(g):
    N, C, H, W, KH, KW, s, p = g
    assume(_fits(H, W, KH, KW, p))
    x = np.random.default_rng(0).standard_normal((N, C, H, W))
    np.testing.assert_array_equal(im2col(x, KH, KW, s, p), im2col_loop(x, KH, KW, s, p))


@settings(max_examples=60, deadline=None)
@given(geometry)
def test_col2im_is_the_adjoint_of_im2col(g):
    """<im2col(x), Y> == <x, col2im(Y)> for random x and Y."""
    N, C, H, W, KH, KW, s, p = g
    assume(_fits(H, W, KH, KW, p))
    rng = np.random.default_rng(1)
    x = rng.standard_normal((N, C, H, W))
    Y = rng.standard_normal(im2col(x, KH, KW, s, p).shape)
    lhs = np.sum(im2col(x, KH, KW, s, p) * Y)
    rhs = np.sum(x * col2im(Y, x.shape, KH, KW, s, p))
    assert lhs == pytest.approx(rhs, rel=1e-12, abs=1e-12)


@settings(max_examples=40, deadline=None)
@given(geometry, st.integers(1, 3))
def test_fast_and_textbook_convolutions_equal_the_naive_loop_forward_and_backward(g, F):
    N, C, H, W, K, _, s, p = g
    assume(_fits(H, W, K, K, p))
    rng = np.random.default_rng(2)
    x, w, b = rng.standard_normal((N, C, H, W)), rng.standard_normal((F, C, K, K)), rng.standard_normal(F)
    loop = conv2d_naive(x, w, b, s, p)
    textbook, cache = conv2d_forward(x, w, b, s, p)
    fast, fast_cache = conv2d_forward_fast(x, w, b, s, p)
    np.testing.assert_allclose(textbook, loop, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(fast, loop, rtol=1e-12, atol=1e-12)
    dout = rng.standard_normal(loop.shape)
    for name, t, f, want in zip(("dx", "dw", "db"), conv2d_backward(dout, cache), conv2d_backward_fast(dout, fast_cache),
                                conv2d_backward_naive(dout, x, w, s, p)):
        np.testing.assert_allclose(t, want, rtol=1e-12, atol=1e-12, err_msg=f"textbook {name}")
        np.testing.assert_allclose(f, want, rtol=1e-12, atol=1e-12, err_msg=f"fast {name}")


@settings(max_examples=40, deadline=None)
@given(geometry)
def test_fast_pooling_equals_the_naive_loop(g):
    N, C, H, W, K, _, s, p = g
    assume(p <= K // 2 and _fits(H, W, K, K, p))
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


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_kernels_keep_the_input_dtype(dtype):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 3, 6, 6)).astype(dtype)
    w = rng.standard_normal((4, 3, 3, 3)).astype(dtype)
    for forward, backward in ((conv2d_forward, conv2d_backward), (conv2d_forward_fast, conv2d_backward_fast)):
        out, cache = forward(x, w, np.zeros(4, dtype), 1, 1)
        assert out.dtype == dtype and all(g.dtype == dtype for g in backward(np.ones_like(out), cache)), forward
    assert im2col(x, 3, 3, 1, 1).dtype == dtype
    assert maxpool2d_forward(x, 2)[0].dtype == dtype and avgpool2d_forward(x, 2)[0].dtype == dtype


def test_conv_output_size_follows_the_formula_and_rejects_a_kernel_that_does_not_fit():
    assert conv_output_size(28, 5, 1, 2) == 28
    assert conv_output_size(7, 3, 2, 1) == 4
    with pytest.raises(ShapeError, match="kernel"):
        conv_output_size(3, 5, 1, 0)


def test_the_loop_references_default_to_stride_one_no_padding_and_keep_the_dtype():
    """The references a tutorial calls with their defaults: conv stride 1 pad 0, pooling 2x2 stride 2 pad 0."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 3, 7, 7)).astype(np.float32)
    w, b = rng.standard_normal((4, 3, 3, 3)).astype(np.float32), rng.standard_normal(4).astype(np.float32)
    out = conv2d_naive(x, w, b)
    assert out.shape == (2, 4, 5, 5) and out.dtype == np.float32
    np.testing.assert_allclose(out, conv2d_naive(x, w, b, 1, 0), rtol=0)
    dout = rng.standard_normal(out.shape).astype(np.float32)
    for got, want in zip(conv2d_backward_naive(dout, x, w), conv2d_backward_naive(dout, x, w, 1, 0)):
        np.testing.assert_array_equal(got, want)
    for naive, fast in ((maxpool2d_naive, maxpool2d_forward), (avgpool2d_naive, avgpool2d_forward)):
        pooled = naive(x)
        assert pooled.shape == (2, 3, 3, 3) and pooled.dtype == np.float32, naive.__name__
        np.testing.assert_allclose(pooled, fast(x, 2, 2, 0)[0], rtol=1e-6)


# -- the general window (every option of PyTorch's layers) --------------------------------------------------------
from numpycnn.im2col import (Window, col2im_general, im2col_general, im2col_per_image_general,  # noqa: E402
                             window_output_size)

windows_with_options = st.tuples(st.integers(1, 2), st.integers(1, 2), st.integers(1, 7), st.integers(1, 7),
                                 st.tuples(st.integers(1, 3), st.integers(1, 3)),      # kernel
                                 st.tuples(st.integers(1, 3), st.integers(1, 3)),      # stride
                                 st.tuples(st.integers(0, 2), st.integers(0, 2)),      # pad (before = after)
                                 st.tuples(st.integers(1, 3), st.integers(1, 3)),      # dilation
                                 st.booleans())                                         # ceil_mode


def _general_window(g):
    N, C, H, W, kernel, stride, pad, dilation, ceil_mode = g
    assume(all(n + 2 * p >= d * (k - 1) + 1 for n, p, d, k in zip((H, W), pad, dilation, kernel)))
    return (N, C, H, W), Window(kernel, stride, tuple((p, p) for p in pad), dilation, ceil_mode)


def im2col_general_loop(x, window):
    """One row per output position: entry (c, p, q) of window (i, j) is xp[c, i*SH + p*DH, j*SW + q*DW] (zero
    outside the input: padding, or past it for a ceil-mode window)."""
    N, C, H, W = x.shape
    (KH, KW), (SH, SW), (DH, DW) = window.kernel, window.stride, window.dilation
    (top, _), (left, _) = window.pad
    OH, OW = window.output_shape(H, W)
    rows = []
    for n in range(N):
        for i in range(OH):
            for j in range(OW):
                row = []
                for c in range(C):
                    for p in range(KH):
                        for q in range(KW):
                            r, s = i * SH + p * DH - top, j * SW + q * DW - left
                            row.append(x[n, c, r, s] if 0 <= r < H and 0 <= s < W else 0.0)
                rows.append(row)
    return np.array(rows)


@settings(max_examples=40, deadline=None)
@given(windows_with_options)
def test_im2col_general_rows_are_the_dilated_windows_and_col2im_general_is_its_adjoint(g):
    shape, window = _general_window(g)
    rng = np.random.default_rng(2)
    x = rng.standard_normal(shape)
    cols = im2col_general(x, window)
    np.testing.assert_array_equal(cols, im2col_general_loop(x, window))
    Y = rng.standard_normal(cols.shape)
    assert np.sum(cols * Y) == pytest.approx(np.sum(x * col2im_general(Y, shape, window)), rel=1e-12, abs=1e-12)
    per_image = im2col_per_image_general(x, window)                  # the fast gather: each image's matrix, transposed
    OH, OW = window.output_shape(*shape[2:])
    np.testing.assert_array_equal(per_image, cols.reshape(shape[0], OH * OW, -1).transpose(0, 2, 1))


def test_window_output_size_in_floor_mode_is_conv_output_size_of_the_padded_length_and_the_span():
    for size, k, s, p, d in [(7, 3, 2, 1, 2), (5, 2, 1, 0, 4), (9, 4, 3, 2, 1)]:
        assert window_output_size(size, k, s, (p, p), d) == conv_output_size(size + 2 * p, d * (k - 1) + 1, s)
    assert window_output_size(5, 2, 2, (0, 0), ceil_mode=True) == 3          # keeps the last, partial window
    assert window_output_size(5, 2, 2, (1, 1), ceil_mode=True) == 3          # ... unless it would start in padding
    with pytest.raises(ShapeError, match=r"kernel size 3 with dilation 3 spans 7 pixels"):
        window_output_size(5, 3, 1, (0, 0), 3)
