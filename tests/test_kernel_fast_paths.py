"""The fast paths of the kernels compute exactly what the naive references compute.

Fast paths under test: the forward gather ``im2col_per_image`` (each image's im2col(x).T, one slice
copy per kernel offset) and the per-image products of :mod:`numpycnn.fast_conv`; its dx through a GEMM
laid out as (KH, KW, C, N, OH, OW) (``_col2im_from_gemm``) instead of col2im of ``D @ W2``; skipping dx
for a model's first layer; max pooling as a running maximum over the kernel offsets
(:mod:`numpycnn.fast_pooling`; direct writes backward when windows do not overlap); the reshape fast
path of ``windows_adjoint`` when kernel == stride.
"""
import numpy as np
import pytest

from numpycnn.conv import conv2d_backward_naive, conv2d_naive
from numpycnn.fast_conv import conv2d_backward_fast, conv2d_forward_fast
from numpycnn.im2col import col2im, im2col, im2col_per_image, offset_slices, pad_input, windows_adjoint
from numpycnn.fast_pooling import maxpool2d_backward_fast, maxpool2d_forward_fast

CONV_CASES = [  # N, C, H, W, F, k, stride, pad (odd sizes, strides 1-3, pads 0-2, non-square inputs)
    (2, 1, 7, 7, 3, 3, 1, 0), (2, 3, 9, 7, 4, 3, 2, 1), (1, 2, 8, 11, 5, 5, 1, 2), (3, 2, 10, 10, 2, 4, 3, 1),
    (2, 4, 6, 5, 3, 1, 1, 0), (1, 3, 12, 12, 6, 5, 2, 2), (2, 2, 5, 5, 3, 5, 1, 0),
]
POOL_CASES = [  # N, C, H, W, K, stride, pad (kernel == stride with even and odd sizes, overlapping windows)
    (2, 3, 8, 8, 2, 2, 0), (2, 2, 9, 7, 2, 2, 0), (1, 3, 11, 10, 3, 3, 0), (2, 2, 7, 7, 3, 2, 1), (1, 1, 6, 6, 2, 1, 0),
    (1, 2, 11, 9, 2, 3, 0), (2, 1, 8, 8, 3, 3, 1),   # stride > kernel (gaps between windows); kernel == stride with pad
]


def _maxpool_backward_loop(dout, x, K, s, p):
    """Loop reference: each dout goes to the first maximum of its window (padding -inf)."""
    N, C, H, W = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)), constant_values=-np.inf)
    dxp = np.zeros_like(xp)
    for n in range(N):
        for c in range(C):
            for i in range(dout.shape[2]):
                for j in range(dout.shape[3]):
                    win = xp[n, c, i * s:i * s + K, j * s:j * s + K]
                    a, b = np.unravel_index(np.argmax(win), win.shape)
                    dxp[n, c, i * s + a, j * s + b] += dout[n, c, i, j]
    return dxp[:, :, p:p + H, p:p + W]


@pytest.mark.parametrize("case", CONV_CASES)
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


@pytest.mark.parametrize("case", CONV_CASES)
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


@pytest.mark.parametrize("case", CONV_CASES)
def test_conv_backward_without_input_grad_gives_the_same_parameter_gradients_and_no_dx(case):
    N, C, H, W, F, k, s, p = case
    rng = np.random.default_rng(9)
    x, w, b = rng.standard_normal((N, C, H, W)), rng.standard_normal((F, C, k, k)), rng.standard_normal(F)
    out, cache = conv2d_forward_fast(x, w, b, s, p)
    dout = rng.standard_normal(out.shape)
    dx, dw, db = conv2d_backward_fast(dout, cache)
    skipped, dw2, db2 = conv2d_backward_fast(dout, cache, input_grad=False)
    assert skipped is None
    np.testing.assert_array_equal(dw2, dw)
    np.testing.assert_array_equal(db2, db)


@pytest.mark.parametrize("case", CONV_CASES)
def test_fast_conv_backward_equals_the_naive_loop_in_float64(case):
    N, C, H, W, F, k, s, p = case
    rng = np.random.default_rng(0)
    x, w, b = rng.standard_normal((N, C, H, W)), rng.standard_normal((F, C, k, k)), rng.standard_normal(F)
    out, cache = conv2d_forward_fast(x, w, b, s, p)
    np.testing.assert_allclose(out, conv2d_naive(x, w, b, s, p), rtol=1e-12, atol=1e-12)
    dout = rng.standard_normal(out.shape)
    for got, want in zip(conv2d_backward_fast(dout, cache), conv2d_backward_naive(dout, x, w, s, p)):
        np.testing.assert_allclose(got, want, rtol=1e-11, atol=1e-11)


@pytest.mark.parametrize("case", CONV_CASES)
def test_fast_conv_dx_equals_col2im_of_the_gemm(case):
    N, C, H, W, F, k, s, p = case
    rng = np.random.default_rng(1)
    x, w = rng.standard_normal((N, C, H, W)), rng.standard_normal((F, C, k, k))
    out, cache = conv2d_forward_fast(x, w, np.zeros(F), s, p)
    dout = rng.standard_normal(out.shape)
    D = dout.transpose(0, 2, 3, 1).reshape(-1, F)
    want = col2im(D @ w.reshape(F, -1), x.shape, k, k, s, p)
    dx = conv2d_backward_fast(dout, cache)[0]
    assert dx.flags.c_contiguous
    np.testing.assert_allclose(dx, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("case", POOL_CASES)
def test_fast_maxpool_backward_equals_the_loop_reference_in_float64(case):
    N, C, H, W, K, s, p = case
    rng = np.random.default_rng(2)
    x = rng.standard_normal((N, C, H, W))
    out, cache = maxpool2d_forward_fast(x, K, s, p)
    dout = rng.standard_normal(out.shape)
    np.testing.assert_allclose(maxpool2d_backward_fast(dout, cache), _maxpool_backward_loop(dout, x, K, s, p),
                               rtol=1e-12, atol=1e-12)  # overlapping windows add in a different order


@pytest.mark.parametrize("case", POOL_CASES)
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


@pytest.mark.parametrize("case", [c for c in POOL_CASES if c[4] == c[5] and c[6] == 0])  # kernel == stride, no pad
def test_windows_adjoint_tiling_fast_path_equals_the_offset_loop(case):
    N, C, H, W, K, s, p = case
    OH, OW = H // K, W // K
    dwin = np.random.default_rng(11).standard_normal((N, C, OH, OW, K, K))
    want = np.zeros((N, C, H, W))
    for i, j, at in offset_slices(K, K, K, OH, OW):
        want[at] += dwin[..., i, j]
    np.testing.assert_array_equal(windows_adjoint(dwin, (N, C, H, W), K, K, K, 0), want)


def test_float32_in_gives_float32_out_on_every_fast_path():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 3, 9, 9), dtype=np.float32)
    w = rng.standard_normal((4, 3, 3, 3), dtype=np.float32)
    out, cache = conv2d_forward_fast(x, w, np.zeros(4, np.float32), 1, 1)
    grads = conv2d_backward_fast(np.ones_like(out), cache)
    assert out.dtype == np.float32 and all(g.dtype == np.float32 for g in grads)
    pout, pcache = maxpool2d_forward_fast(x, 2)
    assert pout.dtype == np.float32 and maxpool2d_backward_fast(np.ones_like(pout), pcache).dtype == np.float32


@pytest.mark.parametrize("case", CONV_CASES[:4])
def test_fast_conv_gradients_match_torch(case):
    torch = pytest.importorskip("torch")
    N, C, H, W, F, k, s, p = case
    rng = np.random.default_rng(4)
    x, w, b = rng.standard_normal((N, C, H, W)), rng.standard_normal((F, C, k, k)), rng.standard_normal(F)
    out, cache = conv2d_forward_fast(x, w, b, s, p)
    dout = rng.standard_normal(out.shape)
    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    torch.nn.functional.conv2d(xt, wt, bt, stride=s, padding=p).backward(torch.tensor(dout))
    for got, want in zip(conv2d_backward_fast(dout, cache), (xt.grad, wt.grad, bt.grad)):
        np.testing.assert_allclose(got, want.numpy(), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("case", POOL_CASES)
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
