"""The convolution layer: :class:`Conv2D`, a thin class around the functional cores.

``Conv2D`` runs :mod:`numpycnn.fast_conv` (the default) or :mod:`numpycnn.conv` (the textbook code a
student writes), as :class:`~numpycnn.layer_base.use_implementation` or its own ``implementation=`` says;
the equations of both passes, dilation and groups included, are in :mod:`numpycnn.conv`. In the
plain case (``cols = im2col(x)``, ``W2 = W.reshape(F, -1)``, ``D = dout`` as ``(N*OH*OW, F)``)::

    forward   out[n, f, i, j] = b[f] + sum_{c, p, q} W[f, c, p, q] * xp[n, c, i*stride + p, j*stride + q]
              OH = (H + 2*pad - KH) // stride + 1
    backward  db = sum over n, i, j of dout     dW = D.T @ cols     dx = col2im(D @ W2)

A mask on ``W`` (techniques C and E) makes both passes use ``W * M`` and stores ``dW * M``.

Importable from :mod:`numpycnn.layers` as well (``from numpycnn.layers import Conv2D``).
"""
import numpy as np

from . import conv, fast_conv, init as initializers
from .errors import ShapeError
from .im2col import Window, conv_output_size
from .layer_base import Layer, chosen_implementation, implementation_of, padding_argument, spans
from .validate import check_4d, compact, flag, integer, pair


def _conv_padding(pad, kernel, dilation, stride, where):
    """``pad`` as given (an int, a pair, ``"same"`` or ``"valid"``) -> ``(pad to show and save, per-side padding
    ((top, bottom), (left, right)))``. ``"same"`` pads ``D*(K - 1)`` in all along each axis, half before (rounded
    down), the rest after, as PyTorch does; it needs stride 1."""
    if isinstance(pad, str):
        if pad == "valid":
            return pad, ((0, 0), (0, 0))
        if pad == "same":
            if stride != (1, 1):
                raise ValueError(f"{where}: pad='same' needs stride 1 (as in PyTorch); got stride={compact(stride)}")
            total = [d * (k - 1) for k, d in zip(kernel, dilation)]
            return pad, tuple((t // 2, t - t // 2) for t in total)
        raise ValueError(f"{where}: pad must be an integer >= 0, a pair (height, width) of them, 'same' or 'valid'; "
                         f"got {pad!r}")
    ph, pw = pair(pad, "pad", where, minimum=0)
    return compact((ph, pw)), ((ph, ph), (pw, pw))



class Conv2D(Layer):
    """2-D convolution layer, ``(N, C, H, W) -> (N, F, OH, OW)`` — ``torch.nn.Conv2d`` and its options.

    Parameters
    ----------
    in_channels, out_channels : int
        C and F.
    kernel_size : int or (KH, KW)
    stride : int or (SH, SW), default 1
    pad : int, (PH, PW), "same" or "valid", default 0
        Zeros added on each side (PyTorch's ``padding``, and ``padding=`` is accepted for it).
        ``"same"`` keeps the input size (stride 1 only; an even span pads one more after than before),
        ``"valid"`` is 0.
    dilation : int or (DH, DW), default 1
        Distance between the input pixels a filter's neighbouring entries read.
    groups : int, default 1
        G, dividing C and F: filter ``f`` sees only the ``C/G`` channels of its group
        (``groups=in_channels`` is a depthwise convolution).
    bias : bool, default True
        False: no ``b`` parameter.
    init : {"he", "xavier", "normal"}
    rng : np.random.Generator
    dtype : numpy dtype of the parameters.
    implementation : {None, "fast", "textbook"}
        The convolution code this layer runs: ``"fast"`` (:mod:`numpycnn.fast_conv`),
        ``"textbook"`` (:func:`numpycnn.conv.conv2d_forward` / ``conv2d_backward``, the code a
        student writes), or None (default): whatever :class:`use_implementation` chose,
        ``"fast"`` unless told otherwise. Both compute the same values.

    ``params``: ``W (F, C/G, KH, KW)``, ``b (F,)`` (unless ``bias=False``). Output size
    ``OH = (H + 2*PH - DH*(KH - 1) - 1) // SH + 1`` (``OH = (H + 2*pad - KH) // stride + 1`` without
    dilation). See :mod:`numpycnn.conv` for the equations, dilation and groups included.

    The plain layer — square kernel, one stride and one integer padding for both axes, no dilation, one
    group, a bias — runs :func:`~numpycnn.fast_conv.conv2d_forward_fast` or
    :func:`~numpycnn.conv.conv2d_forward`; any other option sets ``self.general`` and runs
    :func:`~numpycnn.fast_conv.conv2d_forward_fast_general` or :func:`~numpycnn.conv.conv2d_forward_general`.
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, pad=0, dilation=1, groups=1, bias=True, *,
                 padding=None, init="he", rng=None, dtype=np.float32, name=None, implementation=None):
        super().__init__(name)
        where = f"Conv2D {name!r}" if name else "Conv2D"
        self.in_channels = integer(in_channels, "in_channels", where)
        self.out_channels = integer(out_channels, "out_channels", where)
        kernel = pair(kernel_size, "kernel_size", where)
        stride = pair(stride, "stride", where)
        dilation = pair(dilation, "dilation", where)
        self.groups = integer(groups, "groups", where)
        if self.in_channels % self.groups or self.out_channels % self.groups:
            raise ValueError(f"{where}: groups must divide in_channels ({self.in_channels}) and out_channels "
                             f"({self.out_channels}); got groups={self.groups}")
        self.bias = flag(bias, "bias", where)
        self.pad, pads = _conv_padding(padding_argument(pad, padding, where), kernel, dilation, stride, where)
        self.kernel_size, self.stride, self.dilation = compact(kernel), compact(stride), compact(dilation)
        #: where the windows lie (:class:`~numpycnn.im2col.Window`), every option resolved (the layer's :meth:`window`
        #: is what one output reads, for receptive fields)
        self.geometry = Window(kernel, stride, pads, dilation)
        #: True when an option beyond the plain layer is set: the layer runs the ``*_general`` functions
        self.general = not (isinstance(self.kernel_size, int) and isinstance(self.stride, int)
                            and isinstance(self.pad, int) and self.dilation == 1 and self.groups == 1 and self.bias)
        self.implementation = chosen_implementation(implementation, where)
        self.init = init
        rng = np.random.default_rng(0) if rng is None else rng
        shape = (self.out_channels, self.in_channels // self.groups) + kernel
        self.params = {"W": initializers.get_initializer(init)(shape, rng, dtype=dtype)}
        if self.bias:
            self.params["b"] = np.zeros(self.out_channels, dtype=dtype)
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}
        self.cache = None
        self.implementation_used = None   # that of the last forward pass, which backward must match

    def forward(self, x):
        check_4d(x, self.display_name(), self.in_channels)
        self.output_shape(x.shape[1:])       # names this layer if the kernel does not fit
        self.implementation_used = implementation_of(self)
        if self.general:
            return self._forward_general(x)
        W, b = self.effective("W"), self.effective("b")
        if self.implementation_used == "textbook":
            out, self.cache = conv.conv2d_forward(x, W, b, self.stride, self.pad)
        else:
            out, self.cache = fast_conv.conv2d_forward_fast(x, W, b, self.stride, self.pad)
        return out

    def backward(self, dout):
        if self.general:
            return self._backward_general(dout)
        if self.implementation_used == "textbook":
            dx, dw, db = conv.conv2d_backward(dout, self.cache)
        else:
            dx, dw, db = fast_conv.conv2d_backward_fast(dout, self.cache)
        self._set_grad("W", dw)
        self._set_grad("b", db)
        return dx

    def backward_params(self, dout):
        """:meth:`backward` without ``dx`` (the fast convolution saves one GEMM and the col2im sum)."""
        if self.general:
            self._backward_general(dout, input_grad=False)
            return
        if self.implementation_used == "textbook":
            self.backward(dout)
            return
        _, dw, db = fast_conv.conv2d_backward_fast(dout, self.cache, input_grad=False)
        self._set_grad("W", dw)
        self._set_grad("b", db)

    def _forward_general(self, x):
        W, b = self.effective("W"), (self.effective("b") if self.bias else None)
        if self.implementation_used == "textbook":
            out, self.cache = conv.conv2d_forward_general(x, W, b, self.geometry, self.groups)
        else:
            out, self.cache = fast_conv.conv2d_forward_fast_general(x, W, b, self.geometry, self.groups)
        return out

    def _backward_general(self, dout, input_grad=True):
        if self.implementation_used == "textbook":
            dx, dw, db = conv.conv2d_backward_general(dout, self.cache)
        else:
            dx, dw, db = fast_conv.conv2d_backward_fast_general(dout, self.cache, input_grad)
        self._set_grad("W", dw)
        if self.bias:
            self._set_grad("b", db)
        return dx

    def output_shape(self, input_shape):
        C, H, W = input_shape
        where = self.display_name()
        if C != self.in_channels:
            raise ShapeError(f"{where}: expects {self.in_channels} input channels; the layer below gives {C}")
        try:
            if self.general:
                return (self.out_channels,) + self.geometry.output_shape(H, W)
            return (self.out_channels, conv_output_size(H, self.kernel_size, self.stride, self.pad),
                    conv_output_size(W, self.kernel_size, self.stride, self.pad))
        except ShapeError as e:
            raise ShapeError(f"{where}: {e} (input {input_shape})") from None

    def macs(self, input_shape):
        """``F·OH·OW · (C/groups)·KH·KW``: each of the ``F·OH·OW`` outputs is a dot product of length
        ``(C/groups)·KH·KW`` (its group's channels, every kernel position)."""
        F, OH, OW = self.output_shape(input_shape)
        KH, KW = self.geometry.kernel
        return F * OH * OW * (self.in_channels // self.groups) * KH * KW

    def window(self):
        return spans(self.geometry)

    def config(self):
        cfg = dict(in_channels=self.in_channels, out_channels=self.out_channels, kernel_size=self.kernel_size,
                   stride=self.stride, pad=self.pad, init=self.init)
        # options only when set: a plain layer's config is what files always held, and old files load with defaults
        if self.dilation != 1:
            cfg["dilation"] = self.dilation
        if self.groups != 1:
            cfg["groups"] = self.groups
        if not self.bias:
            cfg["bias"] = False
        if self.implementation is not None:  # only when chosen: a default layer's config has no such key
            cfg["implementation"] = self.implementation
        return cfg

    @classmethod
    def from_config(cls, config, name=None, rng=None, dtype=np.float32):
        """Rebuild a layer from :meth:`config` (a fresh initialisation from ``rng``, in ``dtype``).

        The key ``"kernel"`` is read as ``"implementation"``: it is that argument's name in model files
        and checkpoints written before it was renamed (``tests/test_conv_layer.py`` loads one). Keys a file
        written before an option existed lacks take the option's default.
        """
        config = dict(config)
        if "kernel" in config:
            config["implementation"] = config.pop("kernel")
        return cls(**config, rng=rng, dtype=dtype, name=name)
