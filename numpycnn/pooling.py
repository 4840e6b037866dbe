"""Max and average pooling, as the textbook writes them: the window view, one reduction (and loop references).

Shapes::

    x   : (N, C, H, W)
    out : (N, C, OH, OW)     OH = (H + 2*pad - K) // stride + 1,  K = kernel_size

Max pooling takes the largest value of each ``K x K`` window (padding counts as ``-inf``, so it is
never chosen); its backward sends each ``dout`` value to the position of that maximum (the first
one, on ties) and zero elsewhere::

    win    = windows(x)                    (N, C, OH, OW, K, K)   a strided view, no copy
    flat   = win as (N, C, OH, OW, K*K)    one row per window
    argmax = flat.argmax(axis=-1)          (N, C, OH, OW)         flat index p*K + q of the first maximum
    out    = flat.max(axis=-1)
    dwin   = onehot(argmax) * dout         (N, C, OH, OW, K*K)    dout at the maximum, 0 elsewhere
    dx     = windows_adjoint(dwin)         overlapping windows add up

Average pooling takes the mean of each window (padding counts as 0 and is included in the divisor,
PyTorch's ``count_include_pad=True``); its backward spreads ``dout / (K*K)`` evenly over the window.

Three levels, each real, as for convolution (:mod:`numpycnn.conv`)
-------------------------------------------------------------------
- the loop :func:`maxpool2d_naive` (one output position at a time: for tests and tutorials);
- the textbook :func:`maxpool2d_forward` / :func:`maxpool2d_backward` here (the assignment's exercise,
  through :func:`numpycnn.im2col.windows` and :func:`numpycnn.im2col.windows_adjoint`);
- the fast kernel :mod:`numpycnn.fast_pooling` (a running maximum over the kernel offsets), which
  :class:`~numpycnn.layers.MaxPool2D` trains with by default. ``MaxPool2D(..., implementation="textbook")``
  or :class:`numpycnn.layers.use_implementation` makes a network train on the functions here.
"""
import numpy as np

from .im2col import conv_output_size, pad_input, windows, windows_adjoint


def maxpool2d_forward(x, kernel_size=2, stride=None, pad=0):
    """Max pooling forward: each window of the strided view, flattened, and its argmax.

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W)
    kernel_size : int
        Window size K (square windows).
    stride : int or None
        Defaults to ``kernel_size`` (non-overlapping windows).
    pad : int
        Padding with ``-inf`` on each side.

    Returns
    -------
    out : ndarray, shape (N, C, OH, OW)
    cache : tuple ``(x_shape, argmax, kernel_size, stride, pad)``
        ``x_shape`` the input's ``(N, C, H, W)``; ``argmax`` (N, C, OH, OW) an integer array, the flat
        index ``p*K + q`` of the maximum inside each window (its **first** maximum on ties, in row-major
        order inside the window); ``kernel_size`` K, ``stride`` and ``pad`` as used.

    Notes
    -----
    ``win = windows(x, K, K, stride, pad, pad_value=-inf)`` has shape ``(N, C, OH, OW, K, K)``;
    reshaped to ``(N, C, OH, OW, K*K)`` each window is one row, so ``argmax`` and ``max`` over the
    last axis give the position and the value of its maximum (``np.argmax`` returns the first one).
    """
    K = kernel_size
    stride = K if stride is None else stride
    ### BEGIN SOLUTION
    win = windows(x, K, K, stride, pad, pad_value=-np.inf)          # (N, C, OH, OW, K, K)
    flat = win.reshape(win.shape[:4] + (K * K,))                    # (N, C, OH, OW, K*K): one row per window
    argmax = flat.argmax(axis=-1)                                   # (N, C, OH, OW): p*K + q of the first maximum
    out = flat.max(axis=-1)                                         # (N, C, OH, OW)
    ### END SOLUTION
    return out, (x.shape, argmax, K, stride, pad)


def maxpool2d_backward(dout, cache):
    """Max pooling backward: route each ``dout`` to its window's maximum.

    Parameters
    ----------
    dout : ndarray, shape (N, C, OH, OW)
    cache : tuple ``(x_shape, argmax, kernel_size, stride, pad)``
        Exactly what :func:`maxpool2d_forward` returned: ``x_shape`` the input's ``(N, C, H, W)``,
        ``argmax`` ``(N, C, OH, OW)`` the flat index ``p*K + q`` of each window's maximum (its
        **first** maximum on ties), ``kernel_size`` K, ``stride``, ``pad``. A network always hands the
        backward pass the cache of its own forward pass; so does the autograder, once your
        forward pass is written (before that, it passes the reference forward's cache, this one).

    Returns
    -------
    dx : ndarray, shape (N, C, H, W)
        ``dx`` is 0 except at each window's first maximum, which receives that window's ``dout``
        (summed where overlapping windows share a position). On ties only the first maximum
        (row-major order inside the window) receives the gradient, as PyTorch does.

    Notes
    -----
    ``onehot[n, c, i, j, k] = (k == argmax[n, c, i, j])`` over the ``K*K`` positions of a window;
    ``dwin = onehot * dout[..., None]`` is the gradient of every window's entries, reshaped to
    ``(N, C, OH, OW, K, K)``, and ``dx = windows_adjoint(dwin)`` adds each back where it was read
    (padding positions are dropped).
    """
    x_shape, argmax, K, stride, pad = cache
    ### BEGIN SOLUTION
    onehot = argmax[..., None] == np.arange(K * K)                  # (N, C, OH, OW, K*K): the maximum's place
    dwin = (onehot * dout[..., None]).reshape(dout.shape + (K, K))  # (N, C, OH, OW, K, K)
    dx = windows_adjoint(dwin, x_shape, K, K, stride, pad)          # (N, C, H, W)
    ### END SOLUTION
    return dx


def avgpool2d_forward(x, kernel_size=2, stride=None, pad=0):
    """Average pooling forward (zero padding included in the mean).

    Returns
    -------
    out : ndarray, shape (N, C, OH, OW)
    cache : tuple ``(x_shape, kernel_size, stride, pad)``
    """
    K = kernel_size
    stride = K if stride is None else stride
    win = windows(x, K, K, stride, pad)
    out = win.mean(axis=(4, 5))
    return out.astype(x.dtype, copy=False), (x.shape, K, stride, pad)


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


def maxpool2d_naive(x, kernel_size=2, stride=None, pad=0):
    """Loop-based reference max pooling (slow; for tests and tutorials)."""
    K = kernel_size
    stride = K if stride is None else stride
    N, C, H, W = x.shape
    OH = conv_output_size(H, K, stride, pad)
    OW = conv_output_size(W, K, stride, pad)
    xp = pad_input(x, pad, -np.inf)
    out = np.empty((N, C, OH, OW), dtype=x.dtype)
    for i in range(OH):
        for j in range(OW):
            out[:, :, i, j] = xp[:, :, i * stride:i * stride + K, j * stride:j * stride + K].max(axis=(2, 3))
    return out


def avgpool2d_naive(x, kernel_size=2, stride=None, pad=0):
    """Loop-based reference average pooling (slow; for tests and tutorials)."""
    K = kernel_size
    stride = K if stride is None else stride
    N, C, H, W = x.shape
    OH = conv_output_size(H, K, stride, pad)
    OW = conv_output_size(W, K, stride, pad)
    xp = pad_input(x, pad)
    out = np.empty((N, C, OH, OW), dtype=x.dtype)
    for i in range(OH):
        for j in range(OW):
            out[:, :, i, j] = xp[:, :, i * stride:i * stride + K, j * stride:j * stride + K].mean(axis=(2, 3))
    return out
