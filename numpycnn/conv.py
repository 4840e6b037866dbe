"""2-D convolution, as the textbook writes it: im2col, one matrix product, col2im (and loop references).

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

:func:`conv2d_forward` and :func:`conv2d_backward` are exactly these lines (the assignment's
exercise, and what tutorial 1 derives). :func:`conv2d_naive` and :func:`conv2d_backward_naive`
are the loop references every convolution is tested against.

Three levels, each real
-----------------------
- the loops here (one output value at a time: for tests and tutorials);
- the textbook im2col convolution here;
- the fast implementation :mod:`numpycnn.fast_conv` (the same products image by image, the bias as a
  ones row of ``cols``), which :class:`~numpycnn.layers.Conv2D` trains with by default.

A switch makes training run on the textbook path, so a student's own ``conv2d_forward`` /
``conv2d_backward`` trains a network end to end::

    Conv2D(1, 6, 5, implementation="textbook")           # one layer
    with numpycnn.layers.use_implementation("textbook"):  # every Conv2D and MaxPool2D that names none,
        trainer.fit(...)                                  # inside the block
    numpycnn.layers.use_implementation("textbook")        # ... or from now on ("fast" switches back)

Dilation, groups and the other options of ``torch.nn.Conv2d``
-------------------------------------------------------------
The exercise above is the plain case. :func:`conv2d_forward_general` / :func:`conv2d_backward_general`
add every option of PyTorch's ``Conv2d``, and change the index formulas as follows.

*Per-axis kernel, stride and padding* ``(KH, KW)``, ``(SH, SW)``, ``((top, bottom), (left, right))``:
each axis uses its own numbers in the formulas above.

*Dilation* ``(DH, DW)``: a filter's entries are ``DH`` rows and ``DW`` columns apart in the input,
so entry ``(p, q)`` of the window at ``(i, j)`` reads ``xp[n, c, i*SH + p*DH, j*SW + q*DW]``. A window
spans ``DH*(KH - 1) + 1`` rows, which takes the place of ``KH`` in the output size::

    OH = (H + top + bottom - DH*(KH - 1) - 1) // SH + 1

*Groups* ``G``: the ``C`` input channels and the ``F`` filters are split into ``G`` groups of
``C/G`` and ``F/G``; filter ``f`` belongs to group ``g = f // (F/G)`` and sees only that group's
channels, so the weight is ``w: (F, C/G, KH, KW)`` and::

    out[n, f, i, j] = b[f] + sum_{c', p, q} w[f, c', p, q] * xp[n, g*(C/G) + c', i*SH + p*DH, j*SW + q*DW]

(``G = C`` is the depthwise convolution: one input channel per filter.) In the im2col matrix the
columns of group ``g`` are one contiguous block — the columns run over ``(C, KH, KW)`` — so the one
matrix product becomes ``G`` products, one per group: ``out_g = cols_g @ W_g.T`` with
``W_g = w[g*F/G : (g+1)*F/G].reshape(F/G, -1)``; backward ``dw_g = D_g.T @ cols_g``,
``dcols_g = D_g @ W_g``, and ``dx = col2im(dcols)`` as before. ``b`` None is ``bias=False``.

``padding="same"`` pads ``DH*(KH - 1)`` rows in all, half before (rounded down) and the rest after
(stride 1 only); ``"valid"`` is no padding. tests/test_conv.py checks these functions against a loop
reference that computes the formula above one output value at a time.
"""
import numpy as np

from .im2col import col2im, col2im_general, conv_output_size, im2col, im2col_general, pad_input

def conv2d_forward(x, w, b, stride=1, pad=0):
    """Convolution forward pass: im2col and one matrix product.

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W)
    w : ndarray, shape (F, C, KH, KW)
    b : ndarray, shape (F,)
    stride, pad : int

    Returns
    -------
    out : ndarray, shape (N, F, OH, OW)
        ``OH = (H + 2*pad - KH) // stride + 1``, ``OW`` likewise.
    cache : tuple ``(x, cols, w, b, stride, pad)``
        What :func:`conv2d_backward` needs: the input ``x``, ``cols = im2col(x)`` of shape
        ``(N*OH*OW, C*KH*KW)``, the filters ``w``, the bias ``b``, ``stride`` and ``pad``.

    Notes
    -----
    ``cols = im2col(x)``; ``W2 = w.reshape(F, -1)``; ``out = cols @ W2.T + b``, whose row
    ``(n*OH + i)*OW + j`` is output position ``(i, j)`` of image ``n``, reshaped to
    ``(N, OH, OW, F)`` and transposed to ``(N, F, OH, OW)``.
    """
    N, C, H, W = x.shape
    F, _, KH, KW = w.shape
    OH = conv_output_size(H, KH, stride, pad)
    OW = conv_output_size(W, KW, stride, pad)
    ### BEGIN SOLUTION
    cols = im2col(x, KH, KW, stride, pad)                      # (N*OH*OW, C*KH*KW)
    W2 = w.reshape(F, -1)                                      # (F, C*KH*KW)
    out = (cols @ W2.T + b).reshape(N, OH, OW, F).transpose(0, 3, 1, 2)
    ### END SOLUTION
    cache = (x, cols, w, b, stride, pad)
    return out, cache


def conv2d_backward(dout, cache):
    """Convolution backward pass: two matrix products and col2im.

    Parameters
    ----------
    dout : ndarray, shape (N, F, OH, OW)
        Upstream gradient ``dL/dout``.
    cache : tuple ``(x, cols, w, b, stride, pad)`` from :func:`conv2d_forward`
        ``cols = im2col(x)`` has shape ``(N*OH*OW, C*KH*KW)``.

    Returns
    -------
    dx : ndarray, shape (N, C, H, W)
    dw : ndarray, shape (F, C, KH, KW)
    db : ndarray, shape (F,)

    Notes
    -----
    With ``D = dout`` arranged as ``(N*OH*OW, F)`` (the row order of ``cols``) and
    ``W2 = w.reshape(F, -1)``::

        db = sum over rows of D
        dw = D.T @ cols                 -> (F, C, KH, KW)
        dx = col2im(D @ W2)             the adjoint of im2col sums the overlapping windows
    """
    x, cols, w, b, stride, pad = cache
    F, C, KH, KW = w.shape
    ### BEGIN SOLUTION
    D = dout.transpose(0, 2, 3, 1).reshape(-1, F)              # (N*OH*OW, F)
    db = D.sum(axis=0)                                         # (F,)
    dw = (D.T @ cols).reshape(w.shape)                         # (F, C, KH, KW)
    dx = col2im(D @ w.reshape(F, -1), x.shape, KH, KW, stride, pad)   # (N, C, H, W)
    ### END SOLUTION
    return dx, dw, db


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


def conv2d_forward_general(x, w, b, window, groups=1):
    """Convolution forward pass with every option of ``torch.nn.Conv2d`` (see the module docstring).

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W)
    w : ndarray, shape (F, C/G, KH, KW)
    b : ndarray, shape (F,), or None (no bias)
    window : :class:`~numpycnn.im2col.Window`
        Kernel ``(KH, KW)`` (as ``w``'s), stride, per-side padding and dilation.
    groups : int
        G, dividing both C and F.

    Returns
    -------
    out : ndarray, shape (N, F, OH, OW)
        ``OH = (H + top + bottom - DH*(KH - 1) - 1) // SH + 1``, ``OW`` likewise.
    cache : tuple ``(x_shape, cols, w, has_bias, window, groups)``
        ``cols`` the im2col matrix ``(N*OH*OW, G, C/G*KH*KW)``: row ``(n, i, j)``, block ``g`` the
        columns of group ``g``.

    Notes
    -----
    ``cols = im2col_general(x)``; with ``W3 = w.reshape(G, F/G, C/G*KH*KW)``, group ``g``'s output
    columns are ``cols[:, g] @ W3[g].T``: one batched product ``(G, M, K) @ (G, K, F/G)``, ``M = N*OH*OW``.
    """
    N, C, H, W = x.shape
    F, Cg, KH, KW = w.shape
    G = groups
    OH, OW = window.output_shape(H, W)
    cols = im2col_general(x, window).reshape(N * OH * OW, G, Cg * KH * KW)      # (M, G, K)
    W3 = w.reshape(G, F // G, Cg * KH * KW)                                     # (G, F/G, K)
    out = (cols.transpose(1, 0, 2) @ W3.transpose(0, 2, 1))                     # (G, M, F/G): out_g = cols_g @ W_g.T
    out = out.transpose(1, 0, 2).reshape(N * OH * OW, F)                       # column f = g*F/G + f'
    if b is not None:
        out = out + b
    out = out.reshape(N, OH, OW, F).transpose(0, 3, 1, 2)
    return out, (x.shape, cols, w, b is not None, window, groups)


def conv2d_backward_general(dout, cache):
    """Backward pass of :func:`conv2d_forward_general`.

    Parameters
    ----------
    dout : ndarray, shape (N, F, OH, OW)
    cache : tuple from :func:`conv2d_forward_general`

    Returns
    -------
    dx : ndarray, shape (N, C, H, W)
    dw : ndarray, shape (F, C/G, KH, KW)
    db : ndarray, shape (F,), or None without a bias

    Notes
    -----
    With ``D_g`` the output-gradient columns of group ``g`` ``(M, F/G)``::

        db    = sum over rows of D
        dw_g  = D_g.T @ cols_g                      (F/G, C/G*KH*KW)
        dcols = [D_0 @ W_0 | ... | D_{G-1} @ W_{G-1}]   (M, C*KH*KW)
        dx    = col2im_general(dcols)               overlapping windows add up
    """
    x_shape, cols, w, has_bias, window, G = cache
    F = w.shape[0]
    D = dout.transpose(0, 2, 3, 1).reshape(-1, G, F // G)                      # (M, G, F/G)
    Dg = D.transpose(1, 0, 2)                                                   # (G, M, F/G)
    dw = (Dg.transpose(0, 2, 1) @ cols.transpose(1, 0, 2)).reshape(w.shape)     # (G, F/G, K) -> (F, C/G, KH, KW)
    dcols = Dg @ w.reshape(G, F // G, -1)                                       # (G, M, K)
    dx = col2im_general(dcols.transpose(1, 0, 2).reshape(D.shape[0], -1), x_shape, window)
    db = D.reshape(-1, F).sum(axis=0) if has_bias else None
    return dx, dw, db
