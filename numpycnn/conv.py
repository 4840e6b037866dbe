"""2-D convolution: the functional core (forward, backward, naive reference).

Shapes (NCHW, as in PyTorch)::

    x    : (N, C, H, W)       input images
    w    : (F, C, KH, KW)     F filters
    b    : (F,)               one bias per filter
    out  : (N, F, OH, OW)     OH = (H + 2*pad - KH) // stride + 1

Forward (cross-correlation, as every deep-learning library computes it)::

    out[n, f, i, j] = b[f] + sum_{c, p, q} w[f, c, p, q] * xp[n, c, i*stride + p, j*stride + q]

With ``cols = im2col(x)`` of shape ``(N*OH*OW, C*KH*KW)`` and ``W2 = w.reshape(F, -1)``
this is one matrix product ``cols @ W2.T + b``.

Backward, given ``dout = dL/dout``  (``D = dout`` arranged as ``(N*OH*OW, F)``)::

    db = sum over n, i, j of dout              (F,)
    dw = D.T @ cols                            (F, C*KH*KW) -> (F, C, KH, KW)
    dx = col2im(D @ W2)                        (N, C, H, W)

The code computes exactly these products, transposed: it keeps ``cols.T`` (built by
:func:`~numpycnn.im2col.im2col_transposed`) and ``D.T``, because in that layout every
copy reads long contiguous rows and every GEMM operand is contiguous.
``benchmarks/README.md`` measures each choice; tests/test_kernel_fast_paths.py checks
it against the formulas above and the loop references below.
"""
import numpy as np

from .im2col import conv_output_size, im2col_transposed, offset_slices, pad_input


def conv2d_forward(x, w, b, stride=1, pad=0):
    """Convolution forward pass via im2col and one matrix product.

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W)
    w : ndarray, shape (F, C, KH, KW)
    b : ndarray, shape (F,)
    stride, pad : int

    Returns
    -------
    out : ndarray, shape (N, F, OH, OW)
    cache : tuple
        ``(x_shape, cols_T, w, stride, pad)`` — what the backward pass needs;
        ``cols_T = im2col(x).T``, shape ``(C*KH*KW, N*OH*OW)``.
    """
    N, C, H, W = x.shape
    F, _, KH, KW = w.shape
    OH = conv_output_size(H, KH, stride, pad)
    OW = conv_output_size(W, KW, stride, pad)
    ### BEGIN SOLUTION
    cols_T = im2col_transposed(x, KH, KW, stride, pad)    # (C*KH*KW, N*OH*OW) = im2col(x).T
    out_T = w.reshape(F, -1) @ cols_T                     # (F, N*OH*OW) = (cols @ W2.T).T
    out = np.empty((N, F, OH, OW), dtype=out_T.dtype)
    np.add(out_T.reshape(F, N, OH, OW).transpose(1, 0, 2, 3), b[:, None, None], out=out)  # + b, to (N, F, OH, OW)
    ### END SOLUTION
    cache = (x.shape, cols_T, w, stride, pad)
    return out, cache


def conv2d_backward(dout, cache, input_grad=True):
    """Convolution backward pass.

    Parameters
    ----------
    dout : ndarray, shape (N, F, OH, OW)
        Upstream gradient ``dL/dout``.
    cache : tuple from :func:`conv2d_forward`
    input_grad : bool
        If False, ``dx`` is not computed (returned as None): the first layer of a network
        needs only ``dw`` and ``db``, and ``dx`` costs one GEMM and the col2im sum.

    Returns
    -------
    dx : ndarray, shape (N, C, H, W), or None if ``input_grad`` is False
    dw : ndarray, shape (F, C, KH, KW)
    db : ndarray, shape (F,)
    """
    x_shape, cols_T, w, stride, pad = cache
    F, C, KH, KW = w.shape
    ### BEGIN SOLUTION
    # One copy of dout into the layout every GEMM below wants: D^T, contiguous (F, N*OH*OW).
    DT = np.ascontiguousarray(dout.transpose(1, 0, 2, 3)).reshape(F, -1)
    db = DT.sum(axis=1)
    dw = (cols_T @ DT.T).T.reshape(w.shape)                # D^T cols = (cols^T D)^T; BLAS is faster this way
    dx = _col2im_from_gemm(DT, w, x_shape, stride, pad) if input_grad else None   # == col2im(D @ W2)
    ### END SOLUTION
    return dx, dw, db


def _col2im_from_gemm(DT, w, x_shape, stride, pad):
    """``dx = col2im(D @ W2)`` computed in a BLAS- and cache-friendly layout.

    Parameters
    ----------
    DT : ndarray, shape (F, N*OH*OW)
        The output gradient, transposed and contiguous.
    w : ndarray, shape (F, C, KH, KW)
    x_shape : tuple (N, C, H, W)

    Returns
    -------
    dx : ndarray, shape (N, C, H, W), contiguous

    Notes
    -----
    Same sum as :func:`col2im`, ``dx = sum_{i,j} shift_{i,j}(G_{i,j})``, but the GEMM writes
    ``G = W_p^T D^T`` with shape ``(KH, KW, C, N, OH, OW)``: each kernel offset ``(i, j)``
    is then one *contiguous* block ``G[i, j]`` of shape (C, N, OH, OW), so the ``KH*KW``
    slice-adds read memory in order (col2im's strided reads were the slowest part of the
    backward pass). The sum is accumulated in (C, N, H, W) layout and transposed once at the end.
    """
    N, C, H, W = x_shape
    F, _, KH, KW = w.shape
    OH = conv_output_size(H, KH, stride, pad)
    OW = conv_output_size(W, KW, stride, pad)
    Wp = np.ascontiguousarray(w.transpose(2, 3, 1, 0)).reshape(KH * KW * C, F)   # rows ordered (i, j, c)
    G = (Wp @ DT).reshape(KH, KW, C, N, OH, OW)
    dxp = np.zeros((C, N, H + 2 * pad, W + 2 * pad), dtype=G.dtype)
    for i, j, at in offset_slices(KH, KW, stride, OH, OW):
        dxp[at] += G[i, j]                                  # (C, N, OH, OW), contiguous
    return np.ascontiguousarray(dxp[:, :, pad:pad + H, pad:pad + W].transpose(1, 0, 2, 3))


def conv2d_naive(x, w, b, stride=1, pad=0):
    """Loop-based reference convolution (slow; for tests and tutorials).

    Computes ``out[n, f, i, j] = b[f] + sum(w[f] * xp[n, :, i*s:i*s+KH, j*s:j*s+KW])``
    one output value at a time. Same arguments and output as :func:`conv2d_forward`.
    """
    N, C, H, W = x.shape
    F, _, KH, KW = w.shape
    OH = conv_output_size(H, KH, stride, pad)
    OW = conv_output_size(W, KW, stride, pad)
    xp = pad_input(x, pad)
    out = np.zeros((N, F, OH, OW), dtype=np.result_type(x, w))
    for n in range(N):
        for f in range(F):
            for i in range(OH):
                for j in range(OW):
                    patch = xp[n, :, i * stride:i * stride + KH, j * stride:j * stride + KW]
                    out[n, f, i, j] = np.sum(patch * w[f]) + b[f]
    return out


def conv2d_backward_naive(dout, x, w, stride=1, pad=0):
    """Loop-based reference of the convolution gradients (slow; for tests and tutorials).

    Each output value ``out[n, f, i, j]`` read the patch ``xp[n, :, i*s:i*s+KH, j*s:j*s+KW]``
    with weights ``w[f]``, so it sends ``dout[n, f, i, j] * w[f]`` back to that patch
    and ``dout[n, f, i, j] * patch`` to ``dw[f]``.

    Returns
    -------
    dx : (N, C, H, W), dw : (F, C, KH, KW), db : (F,)
    """
    N, C, H, W = x.shape
    F, _, KH, KW = w.shape
    OH, OW = dout.shape[2:]
    xp = pad_input(x, pad)
    dxp = np.zeros_like(xp)
    dw = np.zeros_like(w)
    for n in range(N):
        for f in range(F):
            for i in range(OH):
                for j in range(OW):
                    sl = (n, slice(None), slice(i * stride, i * stride + KH), slice(j * stride, j * stride + KW))
                    dxp[sl] += dout[n, f, i, j] * w[f]
                    dw[f] += dout[n, f, i, j] * xp[sl]
    db = dout.sum(axis=(0, 2, 3))
    dx = dxp[:, :, pad:pad + H, pad:pad + W] if pad else dxp
    return dx, dw, db
