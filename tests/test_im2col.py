"""im2col.py: the windows a convolution and a pooling read, as a matrix (im2col) and back (col2im, its
adjoint); the general windows of PyTorch's options; the per-image gather and offset slices the fast
kernels use.
"""
import numpy as np
import pytest
from hypothesis import assume, given, settings, strategies as st

from numpycnn.errors import ShapeError
from numpycnn.im2col import (Window, col2im, col2im_general, conv_output_size, im2col, im2col_general, im2col_per_image,
                             im2col_per_image_general, offset_slices, pad_input, window_output_size, windows_adjoint)

from conftest import CONV_SHAPES, POOL_SHAPES, fits, geometry


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
    assume(fits(H, W, KH, KW, p))
    x = np.random.default_rng(0).standard_normal((N, C, H, W))
    np.testing.assert_array_equal(im2col(x, KH, KW, s, p), im2col_loop(x, KH, KW, s, p))


@settings(max_examples=60, deadline=None)
@given(geometry)
def test_col2im_is_the_adjoint_of_im2col(g):
    """<im2col(x), Y> == <x, col2im(Y)> for random x and Y."""
    N, C, H, W, KH, KW, s, p = g
    assume(fits(H, W, KH, KW, p))
    rng = np.random.default_rng(1)
    x = rng.standard_normal((N, C, H, W))
    Y = rng.standard_normal(im2col(x, KH, KW, s, p).shape)
    lhs = np.sum(im2col(x, KH, KW, s, p) * Y)
    rhs = np.sum(x * col2im(Y, x.shape, KH, KW, s, p))
    assert lhs == pytest.approx(rhs, rel=1e-12, abs=1e-12)


def test_conv_output_size_follows_the_formula_and_rejects_a_kernel_that_does_not_fit():
    assert conv_output_size(28, 5, 1, 2) == 28
    assert conv_output_size(7, 3, 2, 1) == 4
    with pytest.raises(ShapeError, match="kernel"):
        conv_output_size(3, 5, 1, 0)


# -- the general window (every option of PyTorch's layers) --------------------------------------------------------


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


@pytest.mark.parametrize("case", CONV_SHAPES)
def test_im2col_per_image_is_each_images_im2col_transposed(case):
    N, C, H, W, F, k, s, p = case
    x = np.random.default_rng(7).standard_normal((N, C, H, W))
    cols = im2col_per_image(x, k, k, s, p)
    assert cols.flags.c_contiguous
    for n in range(N):
        np.testing.assert_array_equal(cols[n], im2col(x[n:n + 1], k, k, s, p).T)
    with_ones = im2col_per_image(x, k, k, s, p, ones_row=True)
    np.testing.assert_array_equal(with_ones[:, :-1], cols)
    np.testing.assert_array_equal(with_ones[:, -1], 1.0)


@pytest.mark.parametrize("case", CONV_SHAPES)
def test_offset_slices_pick_entry_i_j_of_every_window(case):
    N, C, H, W, F, k, s, p = case
    xp = pad_input(np.random.default_rng(8).standard_normal((N, C, H, W)), p)
    OH, OW = (H + 2 * p - k) // s + 1, (W + 2 * p - k) // s + 1
    offsets = list(offset_slices(k, k, s, OH, OW))
    assert [(i, j) for i, j, _ in offsets] == [(i, j) for i in range(k) for j in range(k)]
    for i, j, at in offsets:
        assert xp[at].shape == (N, C, OH, OW)
        for r in range(OH):
            for t in range(OW):
                np.testing.assert_array_equal(xp[at][..., r, t], xp[..., r * s + i, t * s + j])


@pytest.mark.parametrize("case", [c for c in POOL_SHAPES if c[4] == c[5] and c[6] == 0])  # kernel == stride, no pad
def test_windows_adjoint_tiling_fast_path_equals_the_offset_loop(case):
    N, C, H, W, K, s, p = case
    OH, OW = H // K, W // K
    dwin = np.random.default_rng(11).standard_normal((N, C, OH, OW, K, K))
    want = np.zeros((N, C, H, W))
    for i, j, at in offset_slices(K, K, K, OH, OW):
        want[at] += dwin[..., i, j]
    np.testing.assert_array_equal(windows_adjoint(dwin, (N, C, H, W), K, K, K, 0), want)
