"""The pooling layers: :class:`MaxPool2D`, :class:`AvgPool2D` and the adaptive poolings
(:class:`AdaptiveAvgPool2D`, :class:`AdaptiveMaxPool2D`), thin classes around :mod:`numpycnn.pooling`.

``MaxPool2D`` runs :mod:`numpycnn.fast_pooling` (the default) or :mod:`numpycnn.pooling` (the textbook
code a student writes), as :class:`~numpycnn.layer_base.use_implementation` or its own
``implementation=`` says. The equations are in :mod:`numpycnn.pooling`; for a ``K x K`` window with
stride ``S`` (``OH = (H + 2*pad - K) // S + 1``)::

    max       out[n, c, i, j] = max_{p, q} xp[n, c, i*S + p, j*S + q]
              dx: each dout value to the position of its window's maximum (the first, on ties), 0 elsewhere
    average   out[n, c, i, j] = sum_{p, q} xp[n, c, i*S + p, j*S + q] / (K*K)
              dx: dout / (K*K) to every entry of the window (overlapping windows add up)

Importable from :mod:`numpycnn.layers` as well (``from numpycnn.layers import MaxPool2D``).
"""
from . import fast_pooling, pooling
from .errors import ShapeError
from .im2col import Window, conv_output_size
from .layer_base import Layer, chosen_implementation, implementation_of, padding_argument, spans
from .validate import check_4d, compact, flag, integer, pair


class _Pool(Layer):
    """Shared code of :class:`MaxPool2D` and :class:`AvgPool2D`: the window's options, checked and resolved."""

    def __init__(self, kernel_size=2, stride=None, pad=0, *, dilation=1, ceil_mode=False, padding=None, name=None):
        super().__init__(name)
        where = f"{type(self).__name__} {name!r}" if name else type(self).__name__
        kernel = pair(kernel_size, "kernel_size", where)
        stride = kernel if stride is None else pair(stride, "stride", where)
        pad = pair(padding_argument(pad, padding, where), "pad", where, minimum=0)
        dilation = pair(dilation, "dilation", where)
        if pad[0] > kernel[0] // 2 or pad[1] > kernel[1] // 2:
            half = compact((kernel[0] // 2, kernel[1] // 2))
            raise ValueError(f"{where}: pad must be at most kernel_size // 2 = {half} (as in PyTorch); "
                             f"got {compact(pad)}")
        self.kernel_size, self.stride, self.pad = compact(kernel), compact(stride), compact(pad)
        self.dilation = compact(dilation)
        self.ceil_mode = flag(ceil_mode, "ceil_mode", where)
        #: where the windows lie (:class:`~numpycnn.im2col.Window`), every option resolved (the layer's :meth:`window`
        #: is what one output reads, for receptive fields)
        self.geometry = Window(kernel, stride, tuple((p, p) for p in pad), dilation, self.ceil_mode)
        #: True when an option beyond the plain layer is set: the layer runs the ``*_general`` functions
        self.general = not (isinstance(self.kernel_size, int) and isinstance(self.stride, int)
                            and isinstance(self.pad, int) and self.dilation == 1 and not self.ceil_mode)
        self.cache = None

    def output_shape(self, input_shape):
        C, H, W = input_shape
        try:
            if self.general:
                shape = (C,) + self.geometry.output_shape(H, W)
                self._check_windows(H, W)
                return shape
            return (C, conv_output_size(H, self.kernel_size, self.stride, self.pad),
                    conv_output_size(W, self.kernel_size, self.stride, self.pad))
        except ShapeError as e:
            raise ShapeError(f"{self.display_name()}: {e} (input {input_shape})") from None

    def window(self):
        return spans(self.geometry)

    def _check_windows(self, H, W):
        """Raise :class:`~numpycnn.errors.ShapeError` if the windows cannot be used on an ``(H, W)`` input (hook)."""

    def config(self):
        cfg = dict(kernel_size=self.kernel_size, stride=self.stride, pad=self.pad)
        if self.ceil_mode:                   # options only when set: old files (no key) load with the default
            cfg["ceil_mode"] = True
        return cfg


class MaxPool2D(_Pool):
    """Max pooling, ``(N, C, H, W) -> (N, C, OH, OW)`` — ``torch.nn.MaxPool2d``; see :mod:`numpycnn.pooling`.

    Parameters
    ----------
    kernel_size : int or (KH, KW)
        Window size.
    stride : int, (SH, SW) or None
        Defaults to ``kernel_size``.
    pad : int or (PH, PW)
        Padding with ``-inf`` on each side, at most ``kernel_size // 2`` (as in PyTorch; ``padding=`` is
        accepted for it).
    dilation : int or (DH, DW), default 1
        Distance between the pixels a window reads. A window that would read only padding (possible
        with dilation) is an error: its maximum would be ``-inf``.
    ceil_mode : bool, default False
        Keep a last window that reaches past the padded input (if it starts inside the input or its
        first padding), as PyTorch does.
    implementation : {None, "fast", "textbook"}
        The pooling code this layer runs: ``"fast"`` (:mod:`numpycnn.fast_pooling`), ``"textbook"``
        (:func:`numpycnn.pooling.maxpool2d_forward` / ``maxpool2d_backward``, the code a student
        writes), or None (default): whatever :class:`use_implementation` chose, ``"fast"`` unless told
        otherwise. Both compute the same values.

    The plain layer (square kernel, one stride and one padding for both axes, no dilation, no ceil_mode)
    runs :func:`~numpycnn.fast_pooling.maxpool2d_forward_fast` or :func:`~numpycnn.pooling.maxpool2d_forward`;
    any other option sets ``self.general`` and runs the ``*_general`` functions of the same modules.

    One thread at every :mod:`numpycnn.threads` setting: splitting the batch over threads was measured
    slower at every size tried, up to (128, 32, 32, 32) (benchmarks/README.md).
    """

    def __init__(self, kernel_size=2, stride=None, pad=0, dilation=1, ceil_mode=False, *, padding=None, name=None,
                 implementation=None):
        super().__init__(kernel_size, stride, pad, dilation=dilation, ceil_mode=ceil_mode, padding=padding, name=name)
        self.implementation = chosen_implementation(implementation, self.display_name())
        self.implementation_used = None   # that of the last forward pass, which backward must match

    def _check_windows(self, H, W):
        """A dilated window can straddle the input and read only padding: its maximum would be -inf."""
        empty = self.geometry.window_in_padding(H, W) if self.dilation != 1 else None
        if empty is not None:
            raise ShapeError(f"along the {empty[0]}, window {empty[1]} reads only padding (kernel_size "
                             f"{self.kernel_size}, dilation {self.dilation}, pad {self.pad}): its maximum would be "
                             f"-inf; use less padding or dilation")

    def forward(self, x):
        check_4d(x, self.display_name())
        self.output_shape(x.shape[1:])
        self.implementation_used = implementation_of(self)
        if self.general:
            if self.implementation_used == "textbook":
                out, self.cache = pooling.maxpool2d_forward_general(x, self.geometry)
            else:
                out, self.cache = fast_pooling.maxpool2d_forward_fast_general(x, self.geometry)
            return out
        if self.implementation_used == "textbook":
            out, self.cache = pooling.maxpool2d_forward(x, self.kernel_size, self.stride, self.pad)
        else:
            out, self.cache = fast_pooling.maxpool2d_forward_fast(x, self.kernel_size, self.stride, self.pad)
        return out

    def backward(self, dout):
        if self.general:
            if self.implementation_used == "textbook":
                return pooling.maxpool2d_backward_general(dout, self.cache)
            return fast_pooling.maxpool2d_backward_fast_general(dout, self.cache)
        if self.implementation_used == "textbook":
            return pooling.maxpool2d_backward(dout, self.cache)
        return fast_pooling.maxpool2d_backward_fast(dout, self.cache)

    def config(self):
        cfg = super().config()
        if self.dilation != 1:
            cfg["dilation"] = self.dilation
        if self.implementation is not None:  # only when chosen, as for Conv2D
            cfg["implementation"] = self.implementation
        return cfg


class AvgPool2D(_Pool):
    """Average pooling, ``(N, C, H, W) -> (N, C, OH, OW)`` — ``torch.nn.AvgPool2d``; see :mod:`numpycnn.pooling`.

    Parameters
    ----------
    kernel_size : int or (KH, KW)
    stride : int, (SH, SW) or None
        Defaults to ``kernel_size``.
    pad : int or (PH, PW)
        Zero padding on each side, at most ``kernel_size // 2`` (``padding=`` is accepted for it).
    ceil_mode : bool, default False
        Keep a last window that reaches past the padded input, as PyTorch does.
    count_include_pad : bool, default True
        Divide by the number of the window's entries inside the padded input (True) or inside the
        input only (False); :func:`~numpycnn.pooling.avgpool_divisor`.

    The plain layer (square, one stride and padding, no ceil_mode, ``count_include_pad=True``) runs
    :func:`~numpycnn.pooling.avgpool2d_forward`; any other option sets ``self.general`` and runs
    :func:`~numpycnn.pooling.avgpool2d_forward_general`.
    """

    def __init__(self, kernel_size=2, stride=None, pad=0, ceil_mode=False, count_include_pad=True, *, padding=None,
                 name=None):
        super().__init__(kernel_size, stride, pad, ceil_mode=ceil_mode, padding=padding, name=name)
        self.count_include_pad = flag(count_include_pad, "count_include_pad", self.display_name())
        self.general = self.general or not self.count_include_pad

    def forward(self, x):
        check_4d(x, self.display_name())
        self.output_shape(x.shape[1:])
        if self.general:
            out, self.cache = pooling.avgpool2d_forward_general(x, self.geometry, self.count_include_pad)
            return out
        out, self.cache = pooling.avgpool2d_forward(x, self.kernel_size, self.stride, self.pad)
        return out

    def backward(self, dout):
        if self.general:
            return pooling.avgpool2d_backward_general(dout, self.cache)
        return pooling.avgpool2d_backward(dout, self.cache)

    def config(self):
        cfg = super().config()
        if not self.count_include_pad:
            cfg["count_include_pad"] = False
        return cfg


class _AdaptivePool(Layer):
    """Shared code of the adaptive poolings: an output size, and the window that gives it."""

    def __init__(self, output_size, *, name=None):
        super().__init__(name)
        where = self.display_name()
        sizes = tuple(output_size) if isinstance(output_size, (tuple, list)) else (output_size, output_size)
        if len(sizes) != 2:
            raise ValueError(f"{where}: output_size must be an integer >= 1, None or a pair (height, width) of "
                             f"them; got {output_size!r}")
        sizes = tuple(None if n is None else integer(n, "output_size", where) for n in sizes)
        #: ``(OH, OW)``; None keeps that axis's input size, as in PyTorch
        self.output_size = sizes[0] if sizes[0] == sizes[1] else sizes
        self.cache = None

    def window(self):
        """None: the window depends on the input's size (global pooling reads every position), so the
        receptive field is not followed past an adaptive pooling."""
        return None

    def geometry(self, H, W):
        """The windows of this layer on an ``(H, W)`` input: :func:`numpycnn.pooling.adaptive_window`."""
        OH, OW = self.output_size if isinstance(self.output_size, tuple) else (self.output_size,) * 2
        return pooling.adaptive_window((H, W), (OH or H, OW or W), self.display_name())

    def output_shape(self, input_shape):
        C, H, W = input_shape
        return (C,) + self.geometry(H, W).output_shape(H, W)

    def config(self):
        return {"output_size": self.output_size}


class AdaptiveAvgPool2D(_AdaptivePool):
    """Average pooling to a given output size, ``(N, C, H, W) -> (N, C, OH, OW)`` — ``torch.nn.AdaptiveAvgPool2d``.

    Parameters
    ----------
    output_size : int, None or (OH, OW)
        Each dividing the input's size (None: the input's size). ``AdaptiveAvgPool2D(1)`` is **global
        average pooling**: one mean per channel, ``(N, C, 1, 1)`` (follow it with :class:`Flatten`).

    Notes
    -----
    Pooling with ``kernel = stride = (H/OH, W/OW)`` (:func:`~numpycnn.pooling.adaptive_window`):
    ``out[n, c, i, j]`` is the mean of the ``(H/OH) x (W/OW)`` block ``(i, j)``; backward gives each
    pixel of that block ``dout[n, c, i, j] / (H/OH * W/OW)``. A ``1 × 1`` output (global average
    pooling) runs :func:`~numpycnn.pooling.global_avgpool_forward` / :func:`~numpycnn.pooling.global_avgpool_backward`.
    """

    def forward(self, x):
        check_4d(x, self.display_name())
        window = self.geometry(*x.shape[2:])
        self.is_global = window.output_shape(*x.shape[2:]) == (1, 1)
        if self.is_global:
            out, self.cache = pooling.global_avgpool_forward(x)
        else:
            out, self.cache = pooling.avgpool2d_forward_general(x, window)
        return out

    def backward(self, dout):
        if self.is_global:
            return pooling.global_avgpool_backward(dout, self.cache)
        return pooling.avgpool2d_backward_general(dout, self.cache)


class AdaptiveMaxPool2D(_AdaptivePool):
    """Max pooling to a given output size, ``(N, C, H, W) -> (N, C, OH, OW)`` — ``torch.nn.AdaptiveMaxPool2d``.

    Parameters
    ----------
    output_size : int, None or (OH, OW)
        Each dividing the input's size (None: the input's size).

    Notes
    -----
    Max pooling with ``kernel = stride = (H/OH, W/OW)`` (:func:`~numpycnn.pooling.adaptive_window`), through
    :func:`~numpycnn.pooling.maxpool2d_forward_general`: the maximum of each block; backward sends
    ``dout`` to the block's first maximum.
    """

    def forward(self, x):
        check_4d(x, self.display_name())
        out, self.cache = pooling.maxpool2d_forward_general(x, self.geometry(*x.shape[2:]))
        return out

    def backward(self, dout):
        return pooling.maxpool2d_backward_general(dout, self.cache)

