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

The code computes the same products **image by image**, which keeps every array in NCHW
order (no transposes on the hot path). With ``cols_n`` the im2col matrix of image ``n``,
transposed, ``(C*KH*KW, OH*OW)`` (:func:`~numpycnn.im2col.im2col_per_image`), and
``D_n = dout[n]`` as ``(F, OH*OW)``::

    out_n = W2 @ cols_n + b                    (F, OH*OW) -> out[n]
    dw    = sum_n D_n @ cols_n.T               (F, C*KH*KW)
    dx_n  = col2im(W2.T @ D_n)                 summed over the kernel offsets (_col2im_from_gemm)

``np.matmul`` runs the N products of each line in one call (it broadcasts over the leading
axis). The bias rides along as the weight of a constant input: ``cols_n`` gets a last row of
ones and ``W2`` a last column ``b``, so the forward product adds ``b`` and the ``dw`` product's
last column is ``db = sum over n, i, j of dout`` — no separate passes over the data.
``benchmarks/README.md`` measures each choice; tests/test_kernel_fast_paths.py checks it against
the formulas above and the loop references below.
"""
import numpy as np

from .im2col import conv_output_size, im2col_per_image, offset_slices, pad_input


def conv2d_forward(x, w, b, stride=1, pad=0):
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
    ### BEGIN SOLUTION
    cols = im2col_per_image(x, KH, KW, stride, pad, ones_row=True)   # (N, C*KH*KW + 1, OH*OW)
    Wb = np.concatenate([w.reshape(F, -1), b.reshape(F, 1)], axis=1)  # [W2 | b]: (F, C*KH*KW + 1)
    out = (Wb @ cols).reshape(N, F, OH, OW)                          # out_n = W2 @ cols_n + b, every n
    ### END SOLUTION
    cache = (x.shape, cols, w, stride, pad)
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
    x_shape, cols, w, stride, pad = cache
    N, F = dout.shape[:2]
    ### BEGIN SOLUTION
    D = dout.reshape(N, F, -1)                                          # D_n: (F, OH*OW)
    dWb = (D @ cols.transpose(0, 2, 1)).sum(axis=0)                     # sum_n D_n @ cols_n.T: (F, C*KH*KW + 1)
    dw, db = dWb[:, :-1].reshape(w.shape), dWb[:, -1]                   # the ones row's column is db
    dx = _col2im_from_gemm(D, w, x_shape, stride, pad) if input_grad else None   # col2im of W2.T @ D_n
    ### END SOLUTION
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
