"""Max and average pooling: functional core and loop-based references.

Shapes::

    x   : (N, C, H, W)
    out : (N, C, OH, OW)     OH = (H + 2*pad - K) // stride + 1

Max pooling takes the largest value of each ``K x K`` window (padding counts
as ``-inf``, so it is never chosen); its backward sends each ``dout`` value to
the position of that maximum (the first one, on ties) and zero elsewhere.

Average pooling takes the mean of each window (padding counts as 0 and is
included in the divisor, PyTorch's ``count_include_pad=True``); its backward
spreads ``dout / (K*K)`` evenly over the window.

Max pooling loops over the ``K*K`` kernel offsets (:func:`numpycnn.im2col.offset_slices`):
forward keeps a running maximum and the offset it came from, backward sends ``dout`` to the
input slice of each offset where that offset was the maximum. Average pooling uses
:func:`numpycnn.im2col.windows` (a strided view) forward and
:func:`numpycnn.im2col.windows_adjoint` backward.
"""
import numpy as np

from .im2col import conv_output_size, offset_slices, pad_input, windows, windows_adjoint


def maxpool2d_forward(x, kernel=2, stride=None, pad=0):
    """Max pooling forward.

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W)
    kernel : int
        Window size K (square windows).
    stride : int or None
        Defaults to ``kernel`` (non-overlapping windows).
    pad : int
        Padding with ``-inf`` on each side.

    Returns
    -------
    out : ndarray, shape (N, C, OH, OW)
    cache : tuple ``(x_shape, argmax, kernel, stride, pad)``; ``argmax`` (N, C, OH, OW)
        is the flat index ``p*K + q`` of the maximum inside each window (the first one on ties),
        stored in the smallest unsigned integer type that holds ``K*K - 1``.
    """
    stride = kernel if stride is None else stride
    N, C, H, W = x.shape
    OH = conv_output_size(H, kernel, stride, pad)
    OW = conv_output_size(W, kernel, stride, pad)
    ### BEGIN SOLUTION
    xp = pad_input(x, pad, -np.inf)
    offsets = offset_slices(kernel, kernel, stride, OH, OW)
    _, _, at = next(offsets)
    out = xp[at].copy()                                      # offset (0, 0): the maximum so far
    argmax = np.zeros((N, C, OH, OW), dtype=np.min_scalar_type(kernel * kernel - 1))
    for p, q, at in offsets:                                 # the other K*K - 1 offsets
        candidate = xp[at]                                   # (N, C, OH, OW): offset (p, q) of every window
        larger = candidate > out                             # strictly: the first maximum wins ties
        # argmax = p*K + q where larger. Offsets come in increasing p*K + q, so this index exceeds every one
        # stored so far and a maximum writes it: ~40x faster than np.copyto(argmax, p*K + q, where=larger).
        np.maximum(argmax, larger * argmax.dtype.type(p * kernel + q), out=argmax)
        np.maximum(out, candidate, out=out)
    ### END SOLUTION
    return out, (x.shape, argmax, kernel, stride, pad)


def maxpool2d_backward(dout, cache):
    """Max pooling backward: route each ``dout`` to its window's maximum.

    Parameters
    ----------
    dout : ndarray, shape (N, C, OH, OW)
    cache : tuple ``(x_shape, argmax, kernel, stride, pad)``
        Exactly what :func:`maxpool2d_forward` returned: ``x_shape`` the input's ``(N, C, H, W)``,
        ``argmax`` ``(N, C, OH, OW)`` the flat index ``p*K + q`` of each window's maximum (its
        **first** maximum on ties), ``kernel`` K, ``stride``, ``pad``. A network always hands the
        backward pass the cache of its own forward pass; so does the autograder, once your
        forward pass is written (before that, it passes the reference forward's cache, this one).

    Returns
    -------
    dx : ndarray, shape (N, C, H, W)
        ``dx`` is 0 except at each window's first maximum, which receives that window's ``dout``
        (summed where overlapping windows share a position). On ties only the first maximum
        (row-major order inside the window) receives the gradient, as PyTorch does.
    """
    x_shape, argmax, K, stride, pad = cache
    N, C, H, W = x_shape
    OH, OW = dout.shape[2:]
    ### BEGIN SOLUTION
    dxp = np.zeros((N, C, H + 2 * pad, W + 2 * pad), dtype=dout.dtype)
    for p, q, at in offset_slices(K, K, stride, OH, OW):
        if stride >= K:                                      # windows do not overlap: each input read once
            np.multiply(dout, argmax == p * K + q, out=dxp[at])
        else:                                                # overlapping windows: gradients add up
            dxp[at] += np.where(argmax == p * K + q, dout, 0)
    dx = dxp[:, :, pad:pad + H, pad:pad + W] if pad else dxp
    ### END SOLUTION
    return dx


def avgpool2d_forward(x, kernel=2, stride=None, pad=0):
    """Average pooling forward (zero padding included in the mean).

    Returns
    -------
    out : ndarray, shape (N, C, OH, OW)
    cache : tuple ``(x_shape, kernel, stride, pad)``
    """
    stride = kernel if stride is None else stride
    win = windows(x, kernel, kernel, stride, pad)
    out = win.mean(axis=(4, 5))
    return out.astype(x.dtype, copy=False), (x.shape, kernel, stride, pad)


def avgpool2d_backward(dout, cache):
    """Average pooling backward: each window position receives ``dout / K**2``.

    Returns
    -------
    dx : ndarray, shape (N, C, H, W)
    """
    x_shape, K, stride, pad = cache
    share = dout / (K * K)
    dwin = np.broadcast_to(share[..., None, None], dout.shape + (K, K))
    return windows_adjoint(dwin, x_shape, K, K, stride, pad)


def maxpool2d_naive(x, kernel=2, stride=None, pad=0):
    """Loop-based reference max pooling (slow; for tests and tutorials)."""
    stride = kernel if stride is None else stride
    N, C, H, W = x.shape
    OH = conv_output_size(H, kernel, stride, pad)
    OW = conv_output_size(W, kernel, stride, pad)
    xp = pad_input(x, pad, -np.inf)
    out = np.empty((N, C, OH, OW), dtype=x.dtype)
    for i in range(OH):
        for j in range(OW):
            out[:, :, i, j] = xp[:, :, i * stride:i * stride + kernel, j * stride:j * stride + kernel].max(axis=(2, 3))
    return out


def avgpool2d_naive(x, kernel=2, stride=None, pad=0):
    """Loop-based reference average pooling (slow; for tests and tutorials)."""
    stride = kernel if stride is None else stride
    N, C, H, W = x.shape
    OH = conv_output_size(H, kernel, stride, pad)
    OW = conv_output_size(W, kernel, stride, pad)
    xp = pad_input(x, pad)
    out = np.empty((N, C, OH, OW), dtype=x.dtype)
    for i in range(OH):
        for j in range(OW):
            out[:, :, i, j] = xp[:, :, i * stride:i * stride + kernel, j * stride:j * stride + kernel].mean(axis=(2, 3))
    return out
