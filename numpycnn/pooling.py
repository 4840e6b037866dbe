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

The options of PyTorch's pooling layers
---------------------------------------
The exercise is the plain case. With a :class:`~numpycnn.im2col.Window` — per-axis kernel ``(KH, KW)``,
stride and padding, dilation ``(DH, DW)`` (max pooling), ``ceil_mode`` — the same lines run on
:func:`~numpycnn.im2col.windows_general`: entry ``(p, q)`` of window ``(i, j)`` is the padded input's
``(i*SH + p*DH, j*SW + q*DW)`` and ``argmax`` the flat index ``p*KW + q``
(:func:`maxpool2d_forward_general`). ``ceil_mode=True`` keeps a last window that reaches past the
padded input (when it starts inside the input or its first padding, PyTorch's rule); what it reads
there counts as padding.

Average pooling divides each window's sum by a count (:func:`avgpool2d_forward_general`):
``count_include_pad=True`` (the default) counts the window's entries inside the padded input —
``KH*KW`` except for a ceil-mode window at the end — and ``False`` only those inside the input.

Adaptive pooling to an output size that divides the input (``AdaptiveAvgPool2d`` /
``AdaptiveMaxPool2d``) is pooling with ``kernel = stride = (H/OH, W/OW)`` (:func:`adaptive_window`);
``output_size = 1`` is global average pooling, which :class:`~numpycnn.layers.AdaptiveAvgPool2D` computes
with :func:`global_avgpool_forward` / :func:`global_avgpool_backward` (the exercise: one mean per channel).
"""
import numpy as np

from .errors import ShapeError
from .im2col import Window, conv_output_size, pad_input, windows, windows_adjoint, windows_general, \
    windows_general_adjoint


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


def global_avgpool_forward(x):
    """Global average pooling: the mean of each channel's whole feature map, ``(N, C, H, W) -> (N, C, 1, 1)``.

    Parameters
    ----------
    x : ndarray (N, C, H, W)

    Returns
    -------
    out : ndarray (N, C, 1, 1), x's dtype
        ``out[n, c, 0, 0] = (1 / (H·W)) Σ_{i, j} x[n, c, i, j]``
    cache : tuple ``(x_shape,)``
        All the backward pass needs: the mean is linear, so no input value is kept.

    Notes
    -----
    Average pooling with one window as large as the map (``kernel = stride = (H, W)``). It replaces the
    flatten → large Dense head of LeNet-style networks: the classifier after it sees ``C`` numbers,
    whatever ``H × W`` is, and has ``C·K`` weights instead of ``C·H·W·K``.
    """
    ### BEGIN SOLUTION
    out = x.mean(axis=(2, 3), keepdims=True)
    ### END SOLUTION
    return out, (x.shape,)


def global_avgpool_backward(dout, cache):
    """Backward pass of :func:`global_avgpool_forward`.

    Parameters
    ----------
    dout : ndarray (N, C, 1, 1)
        ``dL/dout``.
    cache : tuple from :func:`global_avgpool_forward`

    Returns
    -------
    dx : ndarray (N, C, H, W), dout's dtype

    Notes
    -----
    Every pixel of channel ``c`` enters the mean with weight ``1/(H·W)``::

        dx[n, c, i, j] = dout[n, c, 0, 0] / (H·W)        for every (i, j)

    — the gradient is spread evenly over the map (a broadcast, then a copy: ``dx`` owns its memory).
    """
    (x_shape,) = cache
    ### BEGIN SOLUTION
    H, W = x_shape[2:]
    dx = np.broadcast_to(dout / (H * W), x_shape).copy()
    ### END SOLUTION
    return dx


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


# -- every option of PyTorch's pooling layers ------------------------------------------------------------------
def maxpool2d_forward_general(x, window):
    """:func:`maxpool2d_forward` for a :class:`~numpycnn.im2col.Window` (per-axis sizes, dilation, ceil_mode).

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W)
    window : Window

    Returns
    -------
    out : ndarray, shape (N, C, OH, OW)
    cache : tuple ``(x_shape, argmax, window)``
        ``argmax`` (N, C, OH, OW) the flat index ``p*KW + q`` of each window's first maximum.

    Notes
    -----
    ``win = windows_general(x, window, pad_value=-inf)`` ``(N, C, OH, OW, KH, KW)``, one row per window
    after reshaping to ``(..., KH*KW)``; ``argmax`` and ``max`` over that last axis.
    """
    KH, KW = window.kernel
    win = windows_general(x, window, pad_value=-np.inf)             # (N, C, OH, OW, KH, KW)
    flat = win.reshape(win.shape[:4] + (KH * KW,))
    return flat.max(axis=-1), (x.shape, flat.argmax(axis=-1), window)


def maxpool2d_backward_general(dout, cache):
    """Backward pass of :func:`maxpool2d_forward_general`: each ``dout`` to its window's first maximum.

    Returns
    -------
    dx : ndarray, shape (N, C, H, W)
        ``dwin = onehot(argmax) * dout`` put back by :func:`~numpycnn.im2col.windows_general_adjoint`
        (overlapping windows add up; what was read from the padding is dropped).
    """
    x_shape, argmax, window = cache
    KH, KW = window.kernel
    onehot = argmax[..., None] == np.arange(KH * KW)                # (N, C, OH, OW, KH*KW)
    dwin = (onehot * dout[..., None]).reshape(dout.shape + (KH, KW))
    return windows_general_adjoint(dwin, x_shape, window)


def avgpool_divisor(x_shape, window, count_include_pad=True):
    """The number each window's sum is divided by, ``(OH, OW)``.

    Entry ``(p, q)`` of window ``(i, j)`` counts when it lies inside the padded input
    (``count_include_pad=True``: ``-top <= i*SH + p*DH - top < H + bottom``, likewise across) or inside
    the input itself (``False``: ``0 <= ... < H``). The count is the product of one count per axis.
    """
    counts = []
    for a, n in enumerate(x_shape[2:]):
        O = window.output_shape(*x_shape[2:])[a]
        K, S, D = window.kernel[a], window.stride[a], window.dilation[a]
        before, after = window.pad[a]
        lo, hi = (-before, n + after) if count_include_pad else (0, n)
        pos = np.arange(O)[:, None] * S - before + np.arange(K)[None, :] * D     # (O, K): input coordinates
        counts.append(((pos >= lo) & (pos < hi)).sum(axis=1))
    return counts[0][:, None] * counts[1][None, :]


def avgpool2d_forward_general(x, window, count_include_pad=True):
    """Average pooling for a :class:`~numpycnn.im2col.Window`, with PyTorch's ``count_include_pad``.

    Returns
    -------
    out : ndarray, shape (N, C, OH, OW)
        ``sum of the window / divisor`` (:func:`avgpool_divisor`; padding reads as 0).
    cache : tuple ``(x_shape, divisor, window)``
    """
    win = windows_general(x, window)                                 # (N, C, OH, OW, KH, KW), padding 0
    divisor = avgpool_divisor(x.shape, window, count_include_pad).astype(x.dtype)   # (OH, OW)
    return win.sum(axis=(4, 5)) / divisor, (x.shape, divisor, window)


def avgpool2d_backward_general(dout, cache):
    """Backward pass of :func:`avgpool2d_forward_general`: every entry of window ``(i, j)`` receives
    ``dout[..., i, j] / divisor[i, j]`` (what lands on padding is dropped)."""
    x_shape, divisor, window = cache
    KH, KW = window.kernel
    share = dout / divisor.astype(dout.dtype, copy=False)
    dwin = np.broadcast_to(share[..., None, None], dout.shape + (KH, KW))
    return windows_general_adjoint(dwin, x_shape, window)


def adaptive_window(input_hw, output_size, where="adaptive pooling"):
    """The :class:`~numpycnn.im2col.Window` of adaptive pooling, ``kernel = stride = (H/OH, W/OW)``.

    Parameters
    ----------
    input_hw : (H, W)
    output_size : (OH, OW)
        Each dividing the input's size (PyTorch's windows for other sizes overlap unevenly; numpycnn has
        only these).
    where : str
        The layer, for the error message.

    Raises
    ------
    ShapeError
        If an output size does not divide the input size.
    """
    (H, W), (OH, OW) = input_hw, output_size
    if H % OH or W % OW:
        raise ShapeError(f"{where}: output_size {(OH, OW)} must divide the input size {(H, W)} (numpycnn's "
                         f"adaptive pooling takes equal windows, kernel = stride = input / output)")
    kernel = (H // OH, W // OW)
    return Window(kernel, kernel)
