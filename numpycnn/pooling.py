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

Both use :func:`numpycnn.im2col.windows` (a strided view) forward and
:func:`numpycnn.im2col.windows_adjoint` backward.
"""
import numpy as np

from .im2col import conv_output_size, pad_input, windows, windows_adjoint


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
        is the flat index ``p*K + q`` of the maximum inside each window.
    """
    stride = kernel if stride is None else stride
    ### BEGIN SOLUTION
    win = windows(x, kernel, kernel, stride, pad, pad_value=-np.inf)   # (N, C, OH, OW, K, K)
    flat = win.reshape(win.shape[:4] + (kernel * kernel,))              # copy: (N, C, OH, OW, K*K)
    argmax = flat.argmax(axis=-1)
    out = np.take_along_axis(flat, argmax[..., None], axis=-1)[..., 0]
    ### END SOLUTION
    return out, (x.shape, argmax, kernel, stride, pad)


def maxpool2d_backward(dout, cache):
    """Max pooling backward: route each ``dout`` to its window's maximum.

    Parameters
    ----------
    dout : ndarray, shape (N, C, OH, OW)
    cache : from :func:`maxpool2d_forward`

    Returns
    -------
    dx : ndarray, shape (N, C, H, W)
    """
    x_shape, argmax, K, stride, pad = cache
    ### BEGIN SOLUTION
    dwin = np.zeros(dout.shape + (K * K,), dtype=dout.dtype)            # (N, C, OH, OW, K*K)
    np.put_along_axis(dwin, argmax[..., None], dout[..., None], axis=-1)
    dx = windows_adjoint(dwin.reshape(dout.shape + (K, K)), x_shape, K, K, stride, pad)
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
