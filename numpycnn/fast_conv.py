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

Threads (:mod:`numpycnn.threads`): on a large layer (each NumPy call of the gather handling at least
``threads.MIN_NUMBERS_TO_SPLIT`` numbers, e.g. 32 -> 64 channels at 16x16, batch 64) each pass splits
the batch into T shards and runs one shard's whole share — gather, products, offset adds — per
thread (:func:`~numpycnn.threads.run_sharded`), writing into arrays allocated once for the batch;
smaller layers run in one thread, where the GIL's hand-overs would cost more than they save. Split or
not, BLAS runs on one thread during a pass, so every image's product is the same BLAS call at every T.
The weight gradient is a sum over images, done as a second sharded pass over the rows ``f`` of ``dw``,
each row summed over ``n = 0 .. N-1`` in order, so the results are the same bit for bit at every T, on
any CPU (the contract is in :mod:`numpycnn.threads`).
(Training steps use the other cores differently: :mod:`numpycnn.parallel`.)

``benchmarks/README.md`` measures each choice; tests/test_fast_conv.py checks this
implementation against the textbook convolution and the loop references of :mod:`numpycnn.conv`.

The options of ``torch.nn.Conv2d`` (per-axis stride and padding, ``padding="same"``, dilation, groups,
no bias): :func:`conv2d_forward_fast_general` / :func:`conv2d_backward_fast_general`, the same layout
and thread contract with a :class:`~numpycnn.im2col.Window` and ``G`` groups — ``out_n`` is one batched
product of ``(G, F/G, C/G*KH*KW)`` weights and ``(G, C/G*KH*KW, OH*OW)`` columns, the bias added after.
``Conv2D`` calls them only when an option is set: the functions above, which it calls otherwise, are
unchanged (tests/test_conv.py checks the general ones against the textbook and a loop reference).
"""
import numpy as np

from .im2col import conv_output_size, im2col_per_image, im2col_per_image_general, offset_slices
from .threads import run_sharded


def conv2d_forward_fast(x, w, b, stride=1, pad=0):
    """Convolution forward pass via im2col and one matrix product per image, the batch split over threads.

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
    dtype = np.result_type(x, w)
    Wb = np.concatenate([w.reshape(F, -1), b.reshape(F, 1)], axis=1).astype(dtype, copy=False)  # [W2 | b]
    cols = np.empty((N, C * KH * KW + 1, OH * OW), dtype=x.dtype)
    out = np.empty((N, F, OH * OW), dtype=dtype)

    def shard(lo, hi):                                               # images lo .. hi-1
        im2col_per_image(x[lo:hi], KH, KW, stride, pad, ones_row=True, out=cols[lo:hi])
        np.matmul(Wb, cols[lo:hi], out=out[lo:hi])                   # out_n = W2 @ cols_n + b

    run_sharded(shard, N, numbers=N * C * OH * OW)                   # one slice copy of the gather
    return out.reshape(N, F, OH, OW), (x.shape, cols, w, stride, pad)


def conv2d_backward_fast(dout, cache, input_grad=True):
    """Convolution backward pass, the batch split over threads.

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

    Notes
    -----
    Two sharded passes: over images, ``dWb_n = D_n @ cols_n.T`` and ``dx_n``; then over the rows
    ``f`` of the sum ``dWb = sum_n dWb_n``, so that every entry is summed in the order ``n = 0 .. N-1``
    whatever the number of threads.
    """
    x_shape, cols, w, stride, pad = cache
    N, F = dout.shape[:2]
    D = dout.reshape(N, F, -1)                                          # D_n: (F, OH*OW)
    dtype = np.result_type(dout, cols)
    dWb_n = np.empty((N, F, cols.shape[1]), dtype=dtype)                # D_n @ cols_n.T, every n
    dx = np.empty(x_shape, dtype=np.result_type(dout, w)) if input_grad else None
    Wp = _weights_by_offset(w)

    def shard(lo, hi):                                                  # images lo .. hi-1
        np.matmul(D[lo:hi], cols[lo:hi].transpose(0, 2, 1), out=dWb_n[lo:hi])
        if input_grad:
            _col2im_from_gemm(D[lo:hi], Wp, w.shape, stride, pad, out=dx[lo:hi])   # col2im of W2.T @ D_n

    C, OH, OW = x_shape[1], dout.shape[2], dout.shape[3]
    run_sharded(shard, N, numbers=N * C * OH * OW)                      # one slice add of dx
    dWb = np.empty(dWb_n.shape[1:], dtype=dtype)                        # (F, C*KH*KW + 1)
    run_sharded(lambda lo, hi: np.sum(dWb_n[:, lo:hi], axis=0, out=dWb[lo:hi]), F, numbers=dWb_n.size)
    dw, db = dWb[:, :-1].reshape(w.shape), dWb[:, -1]                   # the ones row's column is db
    return dx, dw, db


def _weights_by_offset(w):
    """``W_p = W2.T`` with rows ordered ``(i, j, c)``: shape ``(KH*KW*C, F)`` (see :func:`_col2im_from_gemm`)."""
    F, C, KH, KW = w.shape
    return np.ascontiguousarray(w.transpose(2, 3, 1, 0)).reshape(KH * KW * C, F)


def _col2im_from_gemm(D, Wp, w_shape, stride, pad, out):
    """``dx_n = col2im(W2.T @ D_n)`` for every image, in a BLAS- and cache-friendly layout.

    Parameters
    ----------
    D : ndarray, shape (n, F, OH*OW)
        The output gradient of each image (of one shard of the batch).
    Wp : ndarray, shape (KH*KW*C, F)
        ``W2.T`` with rows ordered ``(i, j, c)`` (:func:`_weights_by_offset`).
    w_shape : tuple (F, C, KH, KW)
    out : ndarray, shape (n, C, H, W)
        Where ``dx`` is written (overwritten, not added to).

    Notes
    -----
    Same sum as :func:`~numpycnn.im2col.col2im`, ``dx = sum_{i,j} shift_{i,j}(G_{i,j})``, but
    the rows of ``W_p = W2.T`` are ordered ``(i, j, c)`` instead of ``(c, i, j)``, so the product
    ``G_n = W_p @ D_n`` reshapes for free to ``(KH, KW, C, OH, OW)``: the values that kernel
    offset ``(i, j)`` sends back are one block ``G[:, i, j]`` of rows of ``OW`` consecutive
    numbers, added into the padded gradient with one slice-add per offset (col2im's reads
    through a 6-d transpose were the slowest part of the backward pass).
    """
    n, C, H, W = out.shape
    F, _, KH, KW = w_shape
    OH = conv_output_size(H, KH, stride, pad)
    OW = conv_output_size(W, KW, stride, pad)
    G = (Wp @ D).reshape(n, KH, KW, C, OH, OW)
    dxp = np.zeros((n, C, H + 2 * pad, W + 2 * pad), dtype=G.dtype) if pad else out
    if not pad:
        dxp[...] = 0
    for i, j, at in offset_slices(KH, KW, stride, OH, OW):
        dxp[at] += G[:, i, j]                               # (n, C, OH, OW)
    if pad:
        out[...] = dxp[:, :, pad:pad + H, pad:pad + W]


# -- every option of torch.nn.Conv2d -----------------------------------------------------------------------------
def conv2d_forward_fast_general(x, w, b, window, groups=1):
    """:func:`conv2d_forward_fast` with every option (see :func:`numpycnn.conv.conv2d_forward_general`).

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W)
    w : ndarray, shape (F, C/G, KH, KW)
    b : ndarray, shape (F,), or None
    window : :class:`~numpycnn.im2col.Window`
    groups : int
        G.

    Returns
    -------
    out : ndarray, shape (N, F, OH, OW)
    cache : tuple ``(x_shape, cols, w, has_bias, window, groups)``
        ``cols`` ``(N, C*KH*KW, OH*OW)``: ``cols[n] = im2col_general(x[n:n+1]).T`` (no ones row).

    Notes
    -----
    Viewing ``cols[n]`` as ``(G, C/G*KH*KW, OH*OW)`` and ``W3 = w.reshape(G, F/G, C/G*KH*KW)``,
    ``out_n = (W3 @ cols_n).reshape(F, OH*OW) + b``: ``W3[g] @ cols_n[g]`` is group ``g``'s filters on its
    channels.
    """
    N, C, H, W = x.shape
    F, Cg, KH, KW = w.shape
    G = groups
    OH, OW = window.output_shape(H, W)
    L = OH * OW
    dtype = np.result_type(x, w)
    W3 = w.reshape(G, F // G, Cg * KH * KW).astype(dtype, copy=False)
    cols = np.empty((N, C * KH * KW, L), dtype=x.dtype)
    out = np.empty((N, G, F // G, L), dtype=dtype)

    def shard(lo, hi):                                               # images lo .. hi-1
        im2col_per_image_general(x[lo:hi], window, out=cols[lo:hi])
        np.matmul(W3, cols[lo:hi].reshape(hi - lo, G, Cg * KH * KW, L), out=out[lo:hi])

    run_sharded(shard, N, numbers=N * C * L)
    out = out.reshape(N, F, OH, OW)
    if b is not None:
        out += b.reshape(F, 1, 1).astype(dtype, copy=False)
    return out, (x.shape, cols, w, b is not None, window, groups)


def conv2d_backward_fast_general(dout, cache, input_grad=True):
    """Backward pass of :func:`conv2d_forward_fast_general`, the batch split over threads.

    Parameters
    ----------
    dout : ndarray, shape (N, F, OH, OW)
    cache : tuple from :func:`conv2d_forward_fast_general`
    input_grad : bool
        If False, ``dx`` is None (the first layer of a network).

    Returns
    -------
    dx : ndarray, shape (N, C, H, W), or None
    dw : ndarray, shape (F, C/G, KH, KW)
    db : ndarray, shape (F,), or None without a bias

    Notes
    -----
    Per image and group, ``dw_n[g] = D_n[g] @ cols_n[g].T`` and ``dcols_n[g] = W3[g].T @ D_n[g]``; ``dx_n``
    adds each kernel offset's block of ``dcols_n`` back where it was read (one slice-add per offset).
    ``dw = sum_n dw_n`` is a second sharded pass over its rows, summed over ``n = 0 .. N-1`` in order, so
    the bits do not depend on the number of threads (as :func:`conv2d_backward_fast`).
    """
    x_shape, cols, w, has_bias, window, G = cache
    N, F, OH, OW = dout.shape
    _, Cg, KH, KW = w.shape
    C, H, W = x_shape[1:]
    K, L = Cg * KH * KW, OH * OW
    D = dout.reshape(N, G, F // G, L)                                   # D_n[g]: (F/G, OH*OW)
    colsg = cols.reshape(N, G, K, L)
    dtype = np.result_type(dout, cols)
    dw_n = np.empty((N, G, F // G, K), dtype=dtype)
    (top, bottom), (left, right) = window.full_pad(H, W, OH, OW)
    dx = np.empty(x_shape, dtype=np.result_type(dout, w)) if input_grad else None
    W3t = np.ascontiguousarray(w.reshape(G, F // G, K).transpose(0, 2, 1))   # (G, K, F/G)

    def shard(lo, hi):                                                  # images lo .. hi-1
        np.matmul(D[lo:hi], colsg[lo:hi].transpose(0, 1, 3, 2), out=dw_n[lo:hi])
        if input_grad:
            dcols = (W3t @ D[lo:hi]).reshape(hi - lo, C, KH, KW, OH, OW)
            dxp = np.zeros((hi - lo, C, top + H + bottom, left + W + right), dtype=dx.dtype)
            for p, q, at in window.offsets(OH, OW):
                dxp[at] += dcols[:, :, p, q]
            dx[lo:hi] = dxp[:, :, top:top + H, left:left + W]

    run_sharded(shard, N, numbers=N * C * L)
    dw_rows = dw_n.reshape(N, F, K)                                     # row f = g*F/G + f'
    dw = np.empty((F, K), dtype=dtype)
    run_sharded(lambda lo, hi: np.sum(dw_rows[:, lo:hi], axis=0, out=dw[lo:hi]), F, numbers=dw_n.size)
    db = dout.sum(axis=(0, 2, 3)) if has_bias else None
    return dx, dw.reshape(w.shape), db
