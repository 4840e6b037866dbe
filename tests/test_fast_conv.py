"""fast_conv.py: the fast paths of the convolution kernel compute exactly what the naive references compute —
the forward gather ``im2col_per_image`` and the per-image products; dx through a GEMM
laid out as (KH, KW, C, N, OH, OW) (``_col2im_from_gemm``) instead of col2im of ``D @ W2``;
skipping dx for a model's first layer.
"""
import numpy as np
import pytest

from numpycnn.conv import conv2d_backward_naive, conv2d_naive
from numpycnn.fast_conv import conv2d_backward_fast, conv2d_forward_fast
from numpycnn.fast_pooling import maxpool2d_backward_fast, maxpool2d_forward_fast
from numpycnn.im2col import col2im

from conftest import CONV_SHAPES


@pytest.mark.parametrize("case", CONV_SHAPES)
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


@pytest.mark.parametrize("case", CONV_SHAPES)
def test_fast_conv_backward_equals_the_naive_loop_in_float64(case):
    N, C, H, W, F, k, s, p = case
    rng = np.random.default_rng(0)
    x, w, b = rng.standard_normal((N, C, H, W)), rng.standard_normal((F, C, k, k)), rng.standard_normal(F)
    out, cache = conv2d_forward_fast(x, w, b, s, p)
    np.testing.assert_allclose(out, conv2d_naive(x, w, b, s, p), rtol=1e-12, atol=1e-12)
    dout = rng.standard_normal(out.shape)
    for got, want in zip(conv2d_backward_fast(dout, cache), conv2d_backward_naive(dout, x, w, s, p)):
        np.testing.assert_allclose(got, want, rtol=1e-11, atol=1e-11)


@pytest.mark.parametrize("case", CONV_SHAPES)
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


def test_float32_in_gives_float32_out_on_every_fast_path():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 3, 9, 9), dtype=np.float32)
    w = rng.standard_normal((4, 3, 3, 3), dtype=np.float32)
    out, cache = conv2d_forward_fast(x, w, np.zeros(4, np.float32), 1, 1)
    grads = conv2d_backward_fast(np.ones_like(out), cache)
    assert out.dtype == np.float32 and all(g.dtype == np.float32 for g in grads)
    pout, pcache = maxpool2d_forward_fast(x, 2)
    assert pout.dtype == np.float32 and maxpool2d_backward_fast(np.ones_like(pout), pcache).dtype == np.float32


@pytest.mark.parametrize("case", CONV_SHAPES[:4])
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
