"""The fast 2-D convolution: the per-image im2col layout that ``Conv2D`` trains with by default.

It computes what :mod:`numpycnn.conv` states (same shapes, same equations, same results up to
rounding), in a layout chosen for speed. With ``cols_n`` the im2col matrix of image ``n``,
transposed, ``(C*KH*KW, OH*OW)`` (:func:`~numpycnn.im2col.im2col_per_image`), ``W2 = w.reshape(F, -1)``
and ``D_n = dout[n]`` as ``(F, OH*OW)``::

    out_n = W2 @ cols_n + b                    (F, OH*OW) -> out[n]
    dw    = sum_n D_n @ cols_n.T               (F, C*KH*KW)
    dx_n  = col2im(W2.T @ D_n)                 summed over the kernel offsets (_col2im_from_gemm)

Computing the products **image by image** keeps every array in NCHW order (no transposes on the
hot path). ``np.matmul`` runs the N products of each line in one call (it broadcasts over the
leading axis). The bias rides along as the weight of a constant input: ``cols_n`` gets a last row
of ones and ``W2`` a last column ``b``, so the forward product adds ``b`` and the ``dw`` product's
last column is ``db = sum over n, i, j of dout`` — no separate passes over the data. The first
layer of a network skips ``dx`` (``input_grad=False``).

``benchmarks/README.md`` measures each choice; tests/test_kernel_fast_paths.py checks this kernel
against the textbook convolution and the loop references of :mod:`numpycnn.conv`.
"""
import numpy as np

from .im2col import conv_output_size, im2col_per_image, offset_slices


def conv2d_forward_fast(x, w, b, stride=1, pad=0):
    """Convolution forward pass via im2col and one matrix product per image.

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
        ``(x_shape, cols, w, stride, pad)`` — what the backward pass needs;
        ``cols`` has shape ``(N, C*KH*KW + 1, OH*OW)``: ``cols[n]`` is ``im2col(x[n:n+1]).T``
        with a last row of ones (the bias's input).
    """
    N, C, H, W = x.shape
    F, _, KH, KW = w.shape
    OH = conv_output_size(H, KH, stride, pad)
    OW = conv_output_size(W, KW, stride, pad)
    cols = im2col_per_image(x, KH, KW, stride, pad, ones_row=True)   # (N, C*KH*KW + 1, OH*OW)
    Wb = np.concatenate([w.reshape(F, -1), b.reshape(F, 1)], axis=1)  # [W2 | b]: (F, C*KH*KW + 1)
    out = (Wb @ cols).reshape(N, F, OH, OW)                          # out_n = W2 @ cols_n + b, every n
    cache = (x.shape, cols, w, stride, pad)
    return out, cache


def conv2d_backward_fast(dout, cache, input_grad=True):
    """Convolution backward pass.

    Parameters
    ----------
    dout : ndarray, shape (N, F, OH, OW)
        Upstream gradient ``dL/dout``.
    cache : tuple from :func:`conv2d_forward_fast`
    input_grad : bool
        If False, ``dx`` is not computed (returned as None): the first layer of a network
        needs only ``dw`` and ``db``, and ``dx`` costs one GEMM and the col2im sum.

    Returns
    -------
    dx : ndarray, shape (N, C, H, W), or None if ``input_grad`` is False
    dw : ndarray, shape (F, C, KH, KW)
    db : ndarray, shape (F,)
    """
    x_shape, cols, w, stride, pad = cache
    N, F = dout.shape[:2]
    D = dout.reshape(N, F, -1)                                          # D_n: (F, OH*OW)
    dWb = (D @ cols.transpose(0, 2, 1)).sum(axis=0)                     # sum_n D_n @ cols_n.T: (F, C*KH*KW + 1)
    dw, db = dWb[:, :-1].reshape(w.shape), dWb[:, -1]                   # the ones row's column is db
    dx = _col2im_from_gemm(D, w, x_shape, stride, pad) if input_grad else None   # col2im of W2.T @ D_n
    return dx, dw, db


def _col2im_from_gemm(D, w, x_shape, stride, pad):
    """``dx_n = col2im(W2.T @ D_n)`` for every image, in a BLAS- and cache-friendly layout.

    Parameters
    ----------
    D : ndarray, shape (N, F, OH*OW)
        The output gradient of each image.
    w : ndarray, shape (F, C, KH, KW)
    x_shape : tuple (N, C, H, W)

    Returns
    -------
    dx : ndarray, shape (N, C, H, W), contiguous

    Notes
    -----
    Same sum as :func:`~numpycnn.im2col.col2im`, ``dx = sum_{i,j} shift_{i,j}(G_{i,j})``, but
    the rows of ``W_p = W2.T`` are ordered ``(i, j, c)`` instead of ``(c, i, j)``, so the product
    ``G_n = W_p @ D_n`` reshapes for free to ``(KH, KW, C, OH, OW)``: the values that kernel
    offset ``(i, j)`` sends back are one block ``G[:, i, j]`` of rows of ``OW`` consecutive
    numbers, added into the padded gradient with one slice-add per offset (col2im's reads
    through a 6-d transpose were the slowest part of the backward pass).
    """
    N, C, H, W = x_shape
    F, _, KH, KW = w.shape
    OH = conv_output_size(H, KH, stride, pad)
    OW = conv_output_size(W, KW, stride, pad)
    Wp = np.ascontiguousarray(w.transpose(2, 3, 1, 0)).reshape(KH * KW * C, F)   # rows ordered (i, j, c)
    G = (Wp @ D).reshape(N, KH, KW, C, OH, OW)
    dxp = np.zeros((N, C, H + 2 * pad, W + 2 * pad), dtype=G.dtype)
    for i, j, at in offset_slices(KH, KW, stride, OH, OW):
        dxp[at] += G[:, i, j]                               # (N, C, OH, OW)
    return np.ascontiguousarray(dxp[:, :, pad:pad + H, pad:pad + W]) if pad else dxp
