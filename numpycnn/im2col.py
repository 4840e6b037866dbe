"""Sliding windows: the views and matrices that turn convolution and pooling into array operations.

The textbook convolution and pooling (:mod:`numpycnn.conv`, :mod:`numpycnn.pooling`) go through
the window pair of this module:

``windows(x, KH, KW, stride, pad)``
    A *view* of every ``KH x KW`` window of the padded input (zeros, or ``-inf`` for max pooling):
    ``x: (N, C, H, W)  ->  (N, C, OH, OW, KH, KW)``. Max pooling takes the argmax of each
    flattened window, average pooling its mean.
``windows_adjoint(dwin, x_shape, KH, KW, stride, pad)``
    Its adjoint: adds every window's values back onto the input positions it
    was read from, ``(N, C, OH, OW, KH, KW) -> (N, C, H, W)``. Overlapping
    windows *sum*. This is a loop over the ``KH x KW`` kernel window only;
    each iteration is one vectorised slice-add over all images and channels.

``im2col`` / ``col2im`` are the same pair in the classic matrix layout
``(N*OH*OW, C*KH*KW)``: one row per output position, one column per input
value that a filter sees. A convolution is then ``cols @ W.reshape(F, -1).T``.

The fast implementations (:mod:`numpycnn.fast_conv`, :mod:`numpycnn.fast_pooling`) use neither view:
they loop over the ``KH x KW`` *kernel offsets* (:func:`offset_slices`), never over images or pixels —
offset ``(i, j)`` of every window of every image is one strided slice of the padded input.
``im2col_per_image`` builds the fast convolution's matrix that way, image by image and transposed,
``(N, C*KH*KW, OH*OW)``: one block per kernel offset, copied with one whole-batch slice.

``col2im`` is the **adjoint** of ``im2col``, not its inverse: for any ``x``
and ``y``, ``<im2col(x), y> == <x, col2im(y)>``. A pixel that appears in
several windows receives the sum of their gradients — exactly what the
backward pass of a convolution needs.

Output size (one formula for conv, pooling and im2col)::

    OH = (H + 2*pad - KH) // stride + 1

Every option of PyTorch's layers: :class:`Window`
-------------------------------------------------
The functions above are the plain case: a square ``K x K`` window, one stride and one padding for
both axes, adjacent entries. :class:`Window` describes the general one — ``(KH, KW)``, strides
``(SH, SW)``, padding ``((top, bottom), (left, right))``, dilation ``(DH, DW)`` and ``ceil_mode`` —
and :func:`windows_general`, :func:`windows_general_adjoint`, :func:`im2col_general`,
:func:`col2im_general` and :func:`im2col_per_image_general` are the same operations for it. Entry
``(p, q)`` of the window at output position ``(i, j)`` is the padded input's pixel::

    (i*SH + p*DH,  j*SW + q*DW)          (the plain case: (i*stride + p, j*stride + q))

and the output size is :func:`window_output_size`, which is :func:`conv_output_size` applied to the
padded length and the dilated window's span ``DH*(KH - 1) + 1``. The layers use these functions only
when an option is set; the plain functions above, which they call otherwise, are unchanged.
"""
import math
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .errors import ShapeError


def conv_output_size(size, kernel_size, stride=1, pad=0):
    """Output length of a sliding window: ``(size + 2*pad - kernel_size) // stride + 1``.

    Parameters
    ----------
    size : int
        Input length (height or width).
    kernel_size : int
        Window length.
    stride, pad : int
        Step between windows; zeros added on each side.

    Returns
    -------
    int
        Number of window positions, at least 1.

    Raises
    ------
    ShapeError
        If the window does not fit in the padded input.
    """
    padded = size + 2 * pad
    if kernel_size > padded:
        raise ShapeError(
            f"kernel size {kernel_size} is larger than the padded input size {padded} "
            f"(input {size} + 2*pad {pad}); use a smaller kernel or more padding"
        )
    return (padded - kernel_size) // stride + 1


def pad_input(x, pad, value=0.0):
    """Pad the two spatial axes of ``x: (N, C, H, W)`` by ``pad`` on each side."""
    if pad == 0:
        return x
    N, C, H, W = x.shape
    xp = np.full((N, C, H + 2 * pad, W + 2 * pad), value, dtype=x.dtype)   # (3x faster than np.pad here)
    xp[:, :, pad:pad + H, pad:pad + W] = x
    return xp


def offset_slices(KH, KW, stride, OH, OW):
    """The ``KH*KW`` kernel offsets and, for each, where it reads in a padded input.

    Parameters
    ----------
    KH, KW : int
        Window height and width.
    stride : int
    OH, OW : int
        Number of window positions (see :func:`conv_output_size`).

    Yields
    ------
    i, j : int
        The offset inside the window, ``0 <= i < KH``, ``0 <= j < KW``.
    at : tuple of slices
        Index for an array ``(..., H + 2*pad, W + 2*pad)``: ``xp[at]`` has shape
        ``(..., OH, OW)`` and ``xp[at][..., r, s]`` is entry ``(i, j)`` of the
        window at output position ``(r, s)``, i.e. ``xp[..., r*stride + i, s*stride + j]``.

    The fast convolution's gather (:func:`im2col_per_image`), :func:`windows_adjoint` and the fast max
    pooling are loops over these ``KH*KW`` offsets, each one a single vectorised operation over all
    images, channels and positions.
    """
    for i in range(KH):
        for j in range(KW):
            yield i, j, (Ellipsis, slice(i, i + stride * OH, stride), slice(j, j + stride * OW, stride))


def windows(x, KH, KW, stride=1, pad=0, pad_value=0.0):
    """View of every sliding window of ``x``.

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W)
    KH, KW : int
        Window height and width.
    stride, pad : int
    pad_value : float
        Value of the padding (0 for convolution, ``-inf`` for max pooling).

    Returns
    -------
    ndarray, shape (N, C, OH, OW, KH, KW)
        A read-only strided view of the padded input (a copy only if ``pad > 0``,
        for the padding itself). ``out[n, c, i, j]`` is the window whose top-left
        corner is at ``(i*stride, j*stride)`` of the padded image.
    """
    conv_output_size(x.shape[2], KH, stride, pad)
    conv_output_size(x.shape[3], KW, stride, pad)
    xp = pad_input(x, pad, pad_value)
    return sliding_window_view(xp, (KH, KW), axis=(2, 3))[:, :, ::stride, ::stride]


def windows_adjoint(dwin, x_shape, KH, KW, stride=1, pad=0):
    """Adjoint of :func:`windows`: sum window values back onto the input.

    Parameters
    ----------
    dwin : ndarray, shape (N, C, OH, OW, KH, KW)
        One value per (window, position in window), e.g. the gradient w.r.t.
        each window's entries.
    x_shape : tuple (N, C, H, W)
        Shape of the *unpadded* input.

    Returns
    -------
    dx : ndarray, shape (N, C, H, W)
        ``dx[n, c, y, x] = sum of dwin over every (window, offset) that read
        padded position (y + pad, x + pad)``.

    Notes
    -----
    Loops over the ``KH*KW`` offsets (:func:`offset_slices`); each offset ``(i, j)`` touches the
    strided slice ``xp[:, :, i : i + stride*OH : stride, j : j + stride*OW : stride]``.
    """
    N, C, H, W = x_shape
    OH, OW = dwin.shape[2], dwin.shape[3]
    if pad == 0 and stride == KH == KW:
        # Fast path (non-overlapping windows, e.g. 2x2 pooling): the windows tile the input, so the
        # KH*KW strided adds become one reshape (N, C, OH, OW, K, K) -> (N, C, OH*K, OW*K) and a copy.
        # Rows/columns past the last whole window (odd sizes) were read by no window: they stay 0.
        dx = np.zeros(x_shape, dtype=dwin.dtype)
        dx[:, :, :OH * KH, :OW * KW] = dwin.transpose(0, 1, 2, 4, 3, 5).reshape(N, C, OH * KH, OW * KW)
        return dx
    dxp = np.zeros((N, C, H + 2 * pad, W + 2 * pad), dtype=dwin.dtype)
    for i, j, at in offset_slices(KH, KW, stride, OH, OW):
        dxp[at] += dwin[:, :, :, :, i, j]
    if pad == 0:
        return dxp
    return dxp[:, :, pad:pad + H, pad:pad + W]


def im2col(x, KH, KW, stride=1, pad=0):
    """Unfold the sliding windows of ``x`` into the rows of a matrix.

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W)
    KH, KW, stride, pad : int

    Returns
    -------
    cols : ndarray, shape (N*OH*OW, C*KH*KW)
        Row ``(n*OH + i)*OW + j`` holds the window at output position
        ``(i, j)`` of image ``n``, flattened in ``(C, KH, KW)`` order — the
        same order as a conv weight ``W: (F, C, KH, KW)`` flattened per filter.
    """
    N, C = x.shape[:2]
    win = windows(x, KH, KW, stride, pad)            # (N, C, OH, OW, KH, KW)
    OH, OW = win.shape[2:4]
    ### BEGIN SOLUTION
    return win.transpose(0, 2, 3, 1, 4, 5).reshape(N * OH * OW, C * KH * KW)
    ### END SOLUTION


def col2im(cols, x_shape, KH, KW, stride=1, pad=0):
    """Adjoint of :func:`im2col`: add each row's values back to where they came from.

    Parameters
    ----------
    cols : ndarray, shape (N*OH*OW, C*KH*KW)
    x_shape : tuple (N, C, H, W)

    Returns
    -------
    dx : ndarray, shape (N, C, H, W)
        ``<im2col(x), cols> == <x, col2im(cols)>`` for every ``x``.
    """
    N, C, H, W = x_shape
    OH = conv_output_size(H, KH, stride, pad)
    OW = conv_output_size(W, KW, stride, pad)
    ### BEGIN SOLUTION
    dwin = cols.reshape(N, OH, OW, C, KH, KW).transpose(0, 3, 1, 2, 4, 5)
    return windows_adjoint(dwin, x_shape, KH, KW, stride, pad)
    ### END SOLUTION


def im2col_per_image(x, KH, KW, stride=1, pad=0, ones_row=False, out=None):
    """The im2col matrix of every image, transposed: the fast convolution's gather.

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W)
    KH, KW, stride, pad : int
    ones_row : bool
        Append a last row of ones to each image's matrix, so that a bias becomes one more
        weight: ``[W2 | b] @ cols[n] == W2 @ cols[n][:-1] + b[:, None]``.
    out : ndarray or None
        Where to write the result (a C-contiguous array of the returned shape and ``x``'s dtype, e.g.
        one shard ``cols[lo:hi]`` of a batch's matrix); None allocates it.

    Returns
    -------
    cols : ndarray, shape (N, C*KH*KW, OH*OW), or (N, C*KH*KW + 1, OH*OW) with ``ones_row``
        ``cols[n, :C*KH*KW] == im2col(x[n:n+1], KH, KW, stride, pad).T``: one *column* per
        output position of image ``n``; row ``(c*KH + i)*KW + j`` holds input channel ``c`` at
        kernel offset ``(i, j)``. A convolution is then ``W2 @ cols[n]`` for every ``n``.

    Notes
    -----
    Viewed as ``(N, C, KH, KW, OH, OW)``, block ``[:, :, i, j]`` is the slice ``xp[at]`` of
    the padded input for kernel offset ``(i, j)`` (:func:`offset_slices`). So the matrix is
    filled by ``KH*KW`` slice copies that read rows of ``OW`` consecutive pixels, where
    ``im2col``'s copy of the window view reads runs of only ``KW`` pixels — about 2-4x
    slower on LeNet-sized layers (``python benchmarks/conv_steps.py``).
    """
    N, C, H, W = x.shape
    OH = conv_output_size(H, KH, stride, pad)
    OW = conv_output_size(W, KW, stride, pad)
    K = C * KH * KW
    xp = pad_input(x, pad)                                   # (N, C, H+2p, W+2p)
    cols = np.empty((N, K + int(ones_row), OH * OW), dtype=x.dtype) if out is None else out
    blocks = cols[:, :K].reshape(N, C, KH, KW, OH, OW)       # a view: reshape only splits axes
    for i, j, at in offset_slices(KH, KW, stride, OH, OW):
        blocks[:, :, i, j] = xp[at]                          # (N, C, OH, OW): offset (i, j) of every window
    if ones_row:
        cols[:, K] = 1
    return cols


# -- the general window: every option of PyTorch's layers ------------------------------------------------------
def window_output_size(size, kernel_size, stride=1, pad=(0, 0), dilation=1, ceil_mode=False):
    """Output length of a sliding window with per-side padding, dilation and ``ceil_mode`` (PyTorch's rule).

    Parameters
    ----------
    size : int
        Input length (height or width).
    kernel_size, stride, dilation : int
        Entries per window, step between windows, distance between a window's entries.
    pad : (int, int)
        Padding before and after.
    ceil_mode : bool
        Round up: keep a last window that reaches past the padded input (pooling only).

    Returns
    -------
    int
        With ``span = dilation*(kernel_size - 1) + 1`` and ``padded = size + pad[0] + pad[1]``::

            floor mode:  (padded - span) // stride + 1          = conv_output_size(padded, span, stride)
            ceil mode:   ceil((padded - span) / stride) + 1, less one if that last window would start
                         past the input and its first padding, (O - 1)*stride >= size + pad[0]

    Raises
    ------
    ShapeError
        If the (dilated) window does not fit in the padded input.
    """
    span = dilation * (kernel_size - 1) + 1
    padded = size + pad[0] + pad[1]
    if span > padded:
        spans = f"kernel size {kernel_size}" if dilation == 1 else \
            f"kernel size {kernel_size} with dilation {dilation} spans {span} pixels and"
        raise ShapeError(
            f"{spans} is larger than the padded input size {padded} (input {size} + padding {pad[0]} + {pad[1]}); "
            f"use a smaller kernel{' or dilation' if dilation > 1 else ''} or more padding"
        )
    if not ceil_mode:
        return conv_output_size(padded, span, stride)
    out = math.ceil((padded - span) / stride) + 1
    if (out - 1) * stride >= size + pad[0]:
        out -= 1
    return out


@dataclass(frozen=True)
class Window:
    """Where the windows of a convolution or a pooling lie in an ``(H, W)`` input, with every option.

    Attributes
    ----------
    kernel : (KH, KW)
    stride : (SH, SW)
    pad : ((top, bottom), (left, right))
        Padding on each side (equal on both sides of an axis except for ``pad="same"`` with an even span).
    dilation : (DH, DW)
        Distance between the entries a window reads (1: adjacent).
    ceil_mode : bool
        Keep a last window that reaches past the padded input (pooling); the pixels it reads there
        are padding.

    Notes
    -----
    Entry ``(p, q)`` of the window at output position ``(i, j)`` is the padded input's pixel
    ``(i*SH + p*DH, j*SW + q*DW)``; a window spans ``DH*(KH - 1) + 1`` rows and ``DW*(KW - 1) + 1``
    columns. The output shape is :func:`window_output_size` along each axis.
    """
    kernel: tuple
    stride: tuple
    pad: tuple = ((0, 0), (0, 0))
    dilation: tuple = (1, 1)
    ceil_mode: bool = False

    def output_shape(self, H, W):
        """``(OH, OW)`` for an ``(H, W)`` input (:func:`window_output_size` along each axis).

        Raises :class:`~numpycnn.errors.ShapeError` naming the axis (height or width) where the window does not fit.
        """
        out = []
        for a, (n, axis) in enumerate(((H, "height"), (W, "width"))):
            try:
                out.append(window_output_size(n, self.kernel[a], self.stride[a], self.pad[a], self.dilation[a],
                                              self.ceil_mode))
            except ShapeError as e:
                raise ShapeError(f"along the {axis}: {e}") from None
        return tuple(out)

    def window_in_padding(self, H, W):
        """The first window that reads no pixel of the input, only padding: ``(axis, index)``, or None.

        Possible only with dilation (the entries of a window straddle the input); a max pooling window there
        would be ``-inf``. Along an axis of length ``n``, window ``i`` reads ``i*S - before + p*D``, ``p < K``.
        """
        for a, (n, o) in enumerate(zip((H, W), self.output_shape(H, W))):
            K, S, D, before = self.kernel[a], self.stride[a], self.dilation[a], self.pad[a][0]
            read = np.arange(o)[:, None] * S - before + np.arange(K)[None, :] * D
            inside = ((read >= 0) & (read < n)).any(axis=1)
            if not inside.all():
                return ("height", "width")[a], int(np.argmin(inside))
        return None

    def full_pad(self, H, W, OH, OW):
        """The padding as read: :attr:`pad`, with the bottom and right grown to where a ceil-mode last
        window ends. Returns ``((top, bottom), (left, right))``."""
        out = []
        for a, (n, o) in enumerate(((H, OH), (W, OW))):
            before, after = self.pad[a]
            end = (o - 1) * self.stride[a] + self.dilation[a] * (self.kernel[a] - 1) + 1   # one past the last pixel read
            out.append((before, max(after, end - n - before)))
        return tuple(out)

    def padded(self, x, OH, OW, value=0.0):
        """``x: (N, C, H, W)`` padded with ``value`` as :meth:`full_pad` says (``x`` itself if no padding)."""
        N, C, H, W = x.shape
        (top, bottom), (left, right) = self.full_pad(H, W, OH, OW)
        if top == bottom == left == right == 0:
            return x
        xp = np.full((N, C, top + H + bottom, left + W + right), value, dtype=x.dtype)
        xp[:, :, top:top + H, left:left + W] = x
        return xp

    def offsets(self, OH, OW):
        """Like :func:`offset_slices`: yields ``p, q, at`` with ``xp[at][..., i, j] == xp[..., i*SH + p*DH,
        j*SW + q*DW]``, shape ``(..., OH, OW)``, for the ``KH*KW`` kernel offsets in row-major order."""
        (KH, KW), (SH, SW), (DH, DW) = self.kernel, self.stride, self.dilation
        for p in range(KH):
            for q in range(KW):
                yield p, q, (Ellipsis, slice(p * DH, p * DH + SH * (OH - 1) + 1, SH),
                             slice(q * DW, q * DW + SW * (OW - 1) + 1, SW))


def windows_general(x, window, pad_value=0.0):
    """View of every window of ``x`` (:func:`windows` for a :class:`Window` with any options).

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W)
    window : Window
    pad_value : float
        Value of the padding (0 for convolution and average pooling, ``-inf`` for max pooling).

    Returns
    -------
    ndarray, shape (N, C, OH, OW, KH, KW)
        ``out[n, c, i, j, p, q] = xp[n, c, i*SH + p*DH, j*SW + q*DW]``, a read-only strided view of
        the padded input.
    """
    N, C, H, W = x.shape
    OH, OW = window.output_shape(H, W)
    xp = window.padded(x, OH, OW, pad_value)
    (KH, KW), (SH, SW), (DH, DW) = window.kernel, window.stride, window.dilation
    view = sliding_window_view(xp, (DH * (KH - 1) + 1, DW * (KW - 1) + 1), axis=(2, 3))
    return view[:, :, ::SH, ::SW][:, :, :OH, :OW, ::DH, ::DW]


def windows_general_adjoint(dwin, x_shape, window):
    """Adjoint of :func:`windows_general`: add every window entry back onto the pixel it was read from.

    Parameters
    ----------
    dwin : ndarray, shape (N, C, OH, OW, KH, KW)
    x_shape : tuple (N, C, H, W)
    window : Window

    Returns
    -------
    dx : ndarray, shape (N, C, H, W)
        ``dx[n, c, y, x]`` = the sum of ``dwin`` over every (window, entry) that read pixel ``(y, x)``;
        what was read from the padding is dropped. One slice-add per kernel offset (:meth:`Window.offsets`).
    """
    N, C, H, W = x_shape
    OH, OW = dwin.shape[2:4]
    (top, bottom), (left, right) = window.full_pad(H, W, OH, OW)
    dxp = np.zeros((N, C, top + H + bottom, left + W + right), dtype=dwin.dtype)
    for p, q, at in window.offsets(OH, OW):
        dxp[at] += dwin[:, :, :, :, p, q]
    return dxp[:, :, top:top + H, left:left + W]


def im2col_general(x, window):
    """:func:`im2col` for a :class:`Window`: ``(N, C, H, W) -> (N*OH*OW, C*KH*KW)``, columns in ``(C, KH, KW)``
    order, row ``(n*OH + i)*OW + j`` the window at output position ``(i, j)`` of image ``n``."""
    win = windows_general(x, window)                              # (N, C, OH, OW, KH, KW)
    N, C, OH, OW, KH, KW = win.shape
    return win.transpose(0, 2, 3, 1, 4, 5).reshape(N * OH * OW, C * KH * KW)


def col2im_general(cols, x_shape, window):
    """Adjoint of :func:`im2col_general`: ``<im2col_general(x), cols> == <x, col2im_general(cols)>``."""
    N, C, H, W = x_shape
    OH, OW = window.output_shape(H, W)
    KH, KW = window.kernel
    dwin = cols.reshape(N, OH, OW, C, KH, KW).transpose(0, 3, 1, 2, 4, 5)
    return windows_general_adjoint(dwin, x_shape, window)


def im2col_per_image_general(x, window, out=None):
    """:func:`im2col_per_image` for a :class:`Window` (no ones row): ``(N, C*KH*KW, OH*OW)``.

    ``cols[n] == im2col_general(x[n:n+1], window).T``; filled by ``KH*KW`` slice copies, one per
    kernel offset (:meth:`Window.offsets`), each over the whole batch.
    """
    N, C, H, W = x.shape
    OH, OW = window.output_shape(H, W)
    KH, KW = window.kernel
    xp = window.padded(x, OH, OW)
    cols = np.empty((N, C * KH * KW, OH * OW), dtype=x.dtype) if out is None else out
    blocks = cols.reshape(N, C, KH, KW, OH, OW)
    for p, q, at in window.offsets(OH, OW):
        blocks[:, :, p, q] = xp[at]
    return cols
