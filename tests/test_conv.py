"""conv.py: the convolution's loop reference and textbook (im2col) version, and the general version of
PyTorch's options — fast == textbook == loop, forward and backward.

The layer that calls them and the implementation switch: tests/test_conv_layer.py; the fast kernel's
own paths: tests/test_fast_conv.py.
"""
import numpy as np
import pytest
from hypothesis import assume, given, settings, strategies as st

from numpycnn import conv, fast_conv
from numpycnn.conv import conv2d_backward, conv2d_backward_naive, conv2d_forward, conv2d_naive
from numpycnn.fast_conv import conv2d_backward_fast, conv2d_forward_fast
from numpycnn.im2col import Window, im2col
from numpycnn.pooling import avgpool2d_forward, avgpool2d_naive, maxpool2d_forward, maxpool2d_naive

from conftest import fits, geometry


def test_textbook_forward_caches_x_cols_w_b_stride_pad_with_cols_the_im2col_matrix():
    rng = np.random.default_rng(0)
    x, w, b = rng.standard_normal((2, 3, 7, 6)), rng.standard_normal((4, 3, 3, 3)), rng.standard_normal(4)
    out, cache = conv.conv2d_forward(x, w, b, 2, 1)
    cx, cols, cw, cb, stride, pad = cache
    assert cx is x and cw is w and cb is b and (stride, pad) == (2, 1)
    np.testing.assert_array_equal(cols, im2col(x, 3, 3, 2, 1))
    assert out.shape == (2, 4, 4, 3)


def test_textbook_backward_leaves_its_inputs_untouched_and_is_idempotent():
    rng = np.random.default_rng(1)
    x, w, b = rng.standard_normal((2, 2, 5, 5)), rng.standard_normal((3, 2, 3, 3)), rng.standard_normal(3)
    for a in (x, w, b):
        a.flags.writeable = False
    out, cache = conv.conv2d_forward(x, w, b, 1, 1)
    dout = rng.standard_normal(out.shape)
    dout.flags.writeable = False
    first = conv.conv2d_backward(dout, cache)
    second = conv.conv2d_backward(dout, cache)
    for a, b2 in zip(first, second):
        np.testing.assert_array_equal(a, b2)


@pytest.mark.parametrize("case", [(2, 3, 7, 6, 4, 3, 2, 1), (1, 2, 8, 8, 3, 5, 1, 2), (2, 1, 5, 9, 2, 1, 1, 0)])
def test_textbook_forward_and_backward_match_torch_in_float64(case):
    torch = pytest.importorskip("torch")
    N, C, H, W, F, k, s, p = case
    rng = np.random.default_rng(5)
    x, w, b = rng.standard_normal((N, C, H, W)), rng.standard_normal((F, C, k, k)), rng.standard_normal(F)
    out, cache = conv.conv2d_forward(x, w, b, s, p)
    dout = rng.standard_normal(out.shape)
    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    ot = torch.nn.functional.conv2d(xt, wt, bt, stride=s, padding=p)
    ot.backward(torch.tensor(dout))
    np.testing.assert_allclose(out, ot.detach().numpy(), rtol=1e-10, atol=1e-10)
    for got, want in zip(conv.conv2d_backward(dout, cache), (xt.grad, wt.grad, bt.grad)):
        np.testing.assert_allclose(got, want.numpy(), rtol=1e-10, atol=1e-10)


@settings(max_examples=40, deadline=None)
@given(geometry, st.integers(1, 3))
def test_fast_and_textbook_convolutions_equal_the_naive_loop_forward_and_backward(g, F):
    N, C, H, W, K, _, s, p = g
    assume(fits(H, W, K, K, p))
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


# -- PyTorch's options: per-axis sizes, padding="same", dilation, groups, bias=False ----------------------------------


def conv2d_loop(x, w, b, stride=(1, 1), pads=((0, 0), (0, 0)), dilation=(1, 1), groups=1):
    """The index formula of conv.py's docstring, one output value at a time::

        out[n, f, i, j] = b[f] + sum_{c', p, q} w[f, c', p, q] * xp[n, g*C/G + c', i*SH + p*DH, j*SW + q*DW]

    with ``g = f // (F/G)`` the group of filter ``f``."""
    N, C, H, W = x.shape
    F, Cg, KH, KW = w.shape
    (SH, SW), (DH, DW), ((top, bottom), (left, right)) = stride, dilation, pads
    xp = np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)))
    OH = (H + top + bottom - DH * (KH - 1) - 1) // SH + 1
    OW = (W + left + right - DW * (KW - 1) - 1) // SW + 1
    out = np.zeros((N, F, OH, OW))
    for n in range(N):
        for f in range(F):
            g = f // (F // groups)
            for i in range(OH):
                for j in range(OW):
                    total = 0.0 if b is None else b[f]
                    for c in range(Cg):
                        for p in range(KH):
                            for q in range(KW):
                                total += w[f, c, p, q] * xp[n, g * Cg + c, i * SH + p * DH, j * SW + q * DW]
                    out[n, f, i, j] = total
    return out


def conv2d_backward_loop(dout, x, w, stride=(1, 1), pads=((0, 0), (0, 0)), dilation=(1, 1), groups=1):
    """The gradients of :func:`conv2d_loop`, by the same loops: every term ``w * xp`` sends ``dout * w`` to
    the pixel it read and ``dout * xp`` to the weight."""
    N, C, H, W = x.shape
    F, Cg, KH, KW = w.shape
    (SH, SW), (DH, DW), ((top, bottom), (left, right)) = stride, dilation, pads
    xp = np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)))
    dxp, dw = np.zeros_like(xp), np.zeros_like(w)
    for n in range(N):
        for f in range(F):
            g = f // (F // groups)
            for i in range(dout.shape[2]):
                for j in range(dout.shape[3]):
                    for c in range(Cg):
                        for p in range(KH):
                            for q in range(KW):
                                at = (n, g * Cg + c, i * SH + p * DH, j * SW + q * DW)
                                dxp[at] += dout[n, f, i, j] * w[f, c, p, q]
                                dw[f, c, p, q] += dout[n, f, i, j] * xp[at]
    return dxp[:, :, top:top + H, left:left + W], dw, dout.sum(axis=(0, 2, 3))


OPTION_CASES = [  # (N, C, H, W), F, kernel, stride, pads, dilation, groups, bias
    ((2, 4, 9, 8), 6, (3, 2), (2, 1), ((1, 1), (0, 0)), (2, 1), 2, False),   # everything at once
    ((2, 3, 7, 6), 3, (4, 4), (1, 1), ((3, 3), (1, 2)), (2, 1), 3, True),    # depthwise, "same"'s uneven padding
    ((1, 2, 8, 9), 4, (3, 3), (3, 2), ((2, 2), (2, 2)), (3, 2), 1, True),    # dilation wider than the stride
    ((2, 6, 5, 5), 4, (1, 3), (1, 1), ((0, 0), (1, 1)), (1, 1), 2, True),    # a 1 x 3 kernel
]


def _option_case(case, seed=0):
    (N, C, H, W), F, kernel, stride, pads, dilation, groups, bias = case
    rng = np.random.default_rng(seed)
    x, w = rng.standard_normal((N, C, H, W)), rng.standard_normal((F, C // groups) + kernel)
    b = rng.standard_normal(F) if bias else None
    return x, w, b, Window(kernel, stride, pads, dilation), groups


@pytest.mark.parametrize("case", OPTION_CASES)
def test_general_fast_textbook_and_loop_convolutions_agree_forward_and_backward(case):
    x, w, b, window, groups = _option_case(case)
    want = conv2d_loop(x, w, b, window.stride, window.pad, window.dilation, groups)
    textbook, cache = conv.conv2d_forward_general(x, w, b, window, groups)
    fast, fast_cache = fast_conv.conv2d_forward_fast_general(x, w, b, window, groups)
    np.testing.assert_allclose(textbook, want, rtol=0, atol=1e-12)
    np.testing.assert_allclose(fast, want, rtol=0, atol=1e-12)
    dout = np.random.default_rng(1).standard_normal(want.shape)
    dx, dw, db = conv2d_backward_loop(dout, x, w, window.stride, window.pad, window.dilation, groups)
    for got in (conv.conv2d_backward_general(dout, cache), fast_conv.conv2d_backward_fast_general(dout, fast_cache)):
        np.testing.assert_allclose(got[0], dx, rtol=0, atol=1e-12)
        np.testing.assert_allclose(got[1], dw, rtol=0, atol=1e-12)
        if b is None:
            assert got[2] is None
        else:
            np.testing.assert_allclose(got[2], db, rtol=0, atol=1e-12)


def test_one_group_no_dilation_the_general_convolution_is_the_textbook_one():
    rng = np.random.default_rng(2)
    x, w, b = rng.standard_normal((2, 3, 7, 6)), rng.standard_normal((4, 3, 3, 3)), rng.standard_normal(4)
    out, cache = conv.conv2d_forward(x, w, b, 2, 1)
    general, general_cache = conv.conv2d_forward_general(x, w, b, Window((3, 3), (2, 2), ((1, 1), (1, 1))))
    np.testing.assert_allclose(general, out, rtol=0, atol=1e-13)
    dout = rng.standard_normal(out.shape)
    for a, c in zip(conv.conv2d_backward_general(dout, general_cache), conv.conv2d_backward(dout, cache)):
        np.testing.assert_allclose(a, c, rtol=0, atol=1e-13)


def test_the_fast_general_backward_without_input_grad_gives_the_same_parameter_gradients():
    x, w, b, window, groups = _option_case(OPTION_CASES[0])
    out, cache = fast_conv.conv2d_forward_fast_general(x, w, b, window, groups)
    dout = np.random.default_rng(3).standard_normal(out.shape)
    dx, dw, db = fast_conv.conv2d_backward_fast_general(dout, cache)
    no_dx, dw2, db2 = fast_conv.conv2d_backward_fast_general(dout, cache, input_grad=False)
    assert no_dx is None and dx is not None
    np.testing.assert_array_equal(dw2, dw)
