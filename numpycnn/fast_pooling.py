"""The fast max pooling: a running maximum over the kernel offsets, what ``MaxPool2D`` trains with by default.

It computes what :mod:`numpycnn.pooling` states (same shapes, same values, the same cache meaning),
without building the ``(N, C, OH, OW, K*K)`` copy of every window that the textbook version reshapes
the window view into. Offset ``(p, q)`` of every window of every image is one strided slice
``xp[at]`` of the padded input (:func:`~numpycnn.im2col.offset_slices`), so::

    out    = xp[offset (0, 0)];  argmax = 0
    for each other offset (p, q), in increasing p*K + q:
        larger = xp[offset (p, q)] > out            strictly: the first maximum wins ties
        argmax = p*K + q where larger
        out    = max(out, xp[offset (p, q)])
    dx[offset (p, q)] += dout where argmax == p*K + q      (a plain write when windows do not overlap)

``argmax`` is stored in the smallest unsigned integer type that holds ``K*K - 1`` (one byte for every
window up to 16x16). ``tests/test_fast_pooling.py`` checks this implementation against the textbook
pooling and the loop reference of :mod:`numpycnn.pooling`.

With PyTorch's options (per-axis kernel, stride and padding, dilation, ``ceil_mode``):
:func:`maxpool2d_forward_fast_general` / :func:`maxpool2d_backward_fast_general`, the same running maximum
over the offsets of a :class:`~numpycnn.im2col.Window` (``argmax = p*KW + q``). ``MaxPool2D`` calls them
only when an option is set; the functions above, which it calls otherwise, are unchanged.
"""
import numpy as np

from .im2col import conv_output_size, offset_slices, pad_input


def maxpool2d_forward_fast(x, kernel_size=2, stride=None, pad=0):
    """Max pooling forward as a running maximum over the ``K*K`` kernel offsets.

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
        As :func:`numpycnn.pooling.maxpool2d_forward`'s, with ``argmax`` in the smallest unsigned
        integer type that holds ``K*K - 1``.
    """
    K = kernel_size
    stride = K if stride is None else stride
    N, C, H, W = x.shape
    OH = conv_output_size(H, K, stride, pad)
    OW = conv_output_size(W, K, stride, pad)
    xp = pad_input(x, pad, -np.inf)
    offsets = offset_slices(K, K, stride, OH, OW)
    _, _, at = next(offsets)
    out = xp[at].copy()                                      # offset (0, 0): the maximum so far
    argmax = np.zeros((N, C, OH, OW), dtype=np.min_scalar_type(K * K - 1))
    for p, q, at in offsets:                                 # the other K*K - 1 offsets
        candidate = xp[at]                                   # (N, C, OH, OW): offset (p, q) of every window
        larger = candidate > out                             # strictly: the first maximum wins ties
        # argmax = p*K + q where larger. Offsets come in increasing p*K + q, so this index exceeds every one
        # stored so far and a maximum writes it: ~40x faster than np.copyto(argmax, p*K + q, where=larger).
        np.maximum(argmax, larger * argmax.dtype.type(p * K + q), out=argmax)
        np.maximum(out, candidate, out=out)
    return out, (x.shape, argmax, K, stride, pad)


def maxpool2d_backward_fast(dout, cache):
    """Max pooling backward: one slice write (or add, for overlapping windows) per kernel offset.

    Parameters
    ----------
    dout : ndarray, shape (N, C, OH, OW)
    cache : tuple ``(x_shape, argmax, kernel_size, stride, pad)`` from :func:`maxpool2d_forward_fast`
        (or from the textbook :func:`numpycnn.pooling.maxpool2d_forward`: the same meaning).

    Returns
    -------
    dx : ndarray, shape (N, C, H, W)
        0 except at each window's first maximum, which receives that window's ``dout`` (summed
        where overlapping windows share a position).
    """
    x_shape, argmax, K, stride, pad = cache
    N, C, H, W = x_shape
    OH, OW = dout.shape[2:]
    dxp = np.zeros((N, C, H + 2 * pad, W + 2 * pad), dtype=dout.dtype)
    for p, q, at in offset_slices(K, K, stride, OH, OW):
        if stride >= K:                                      # windows do not overlap: each input read once
            np.multiply(dout, argmax == p * K + q, out=dxp[at])
        else:                                                # overlapping windows: gradients add up
            dxp[at] += np.where(argmax == p * K + q, dout, 0)
    return dxp[:, :, pad:pad + H, pad:pad + W] if pad else dxp


def maxpool2d_forward_fast_general(x, window):
    """:func:`maxpool2d_forward_fast` for a :class:`~numpycnn.im2col.Window` (per-axis sizes, dilation, ceil_mode).

    Returns
    -------
    out : ndarray, shape (N, C, OH, OW)
    cache : tuple ``(x_shape, argmax, window)``
        As :func:`numpycnn.pooling.maxpool2d_forward_general`'s: ``argmax`` the flat index ``p*KW + q``
        of each window's first maximum, in the smallest unsigned integer type that holds ``KH*KW - 1``.
    """
    N, C, H, W = x.shape
    KH, KW = window.kernel
    OH, OW = window.output_shape(H, W)
    xp = window.padded(x, OH, OW, -np.inf)
    offsets = window.offsets(OH, OW)
    _, _, at = next(offsets)
    out = xp[at].copy()                                      # offset (0, 0): the maximum so far
    argmax = np.zeros((N, C, OH, OW), dtype=np.min_scalar_type(KH * KW - 1))
    for p, q, at in offsets:                                 # in increasing p*KW + q
        candidate = xp[at]
        np.maximum(argmax, (candidate > out) * argmax.dtype.type(p * KW + q), out=argmax)
        np.maximum(out, candidate, out=out)
    return out, (x.shape, argmax, window)


def maxpool2d_backward_fast_general(dout, cache):
    """Backward pass of :func:`maxpool2d_forward_fast_general`: one slice-add per kernel offset.

    ``cache`` may also come from :func:`numpycnn.pooling.maxpool2d_forward_general` (the same meaning).
    """
    x_shape, argmax, window = cache
    N, C, H, W = x_shape
    KW = window.kernel[1]
    OH, OW = dout.shape[2:]
    (top, bottom), (left, right) = window.full_pad(H, W, OH, OW)
    dxp = np.zeros((N, C, top + H + bottom, left + W + right), dtype=dout.dtype)
    for p, q, at in window.offsets(OH, OW):
        dxp[at] += np.where(argmax == p * KW + q, dout, 0)
    return dxp[:, :, top:top + H, left:left + W]
