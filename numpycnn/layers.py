"""Layers: thin classes around the functional core, each with ``forward`` and ``backward``.

The layer contract (every class here follows it)
------------------------------------------------
- ``params`` and ``grads`` are dicts with the same keys and shapes (``"W"``, ``"b"``).
- ``forward(x)`` returns the output and keeps what ``backward`` needs.
- ``backward(dout)`` returns ``dx`` and **overwrites** ``grads``: calling it twice
  gives the same result. Neither method writes into its argument.
- ``masks`` (optional, per parameter): a 0/1 array of the parameter's shape. A masked
  parameter is used as ``W * M`` in the forward pass and its gradient is ``dW * M``,
  so masked entries stay exactly 0 under every optimizer (technique C uses this
  for sparse connectivity, technique E for dropped filters).
- ``buffers``: arrays that are state but not trained (BatchNorm's running statistics,
  Dropout's draw counter); saved and loaded with the model, never seen by optimizers.
- ``training``: True (the default) in training mode, False in evaluation mode; only layers
  whose forward pass differs between the two (BatchNorm, Dropout) read it.
  ``Sequential.train()`` / ``Sequential.eval()`` set it on every layer.

Layer types defined in other modules (:mod:`numpycnn.normalization`, :mod:`numpycnn.dropout`,
:mod:`numpycnn.residual`) join ``LAYER_TYPES`` through :func:`register_layer`, so this module
never imports them.

Shapes: activations are NCHW ``(N, C, H, W)``; conv weights ``(F, C, KH, KW)``;
dense weights ``(out_features, in_features)`` as in PyTorch, so ``y = x @ W.T + b``.
"""
import numpy as np
from scipy.special import expit

from . import conv, fast_conv, fast_pooling, init as initializers, pooling
from .errors import ShapeError, describe
from .functional import log_softmax
from .im2col import Window, conv_output_size
from .validate import check_4d, check_float, choice, compact, flag, integer, pair


class Layer:
    """Base class: a named layer with ``params``, ``grads``, optional ``masks`` and ``buffers``."""

    #: training mode (True) or evaluation mode (False); see ``Sequential.train`` / ``Sequential.eval``
    training = True

    def __init__(self, name=None):
        self.name = name
        self.params = {}
        self.grads = {}
        self.masks = {}
        self.buffers = {}

    # -- the contract ---------------------------------------------------------------
    def forward(self, x):
        raise NotImplementedError

    def backward(self, dout):
        raise NotImplementedError

    def backward_params(self, dout):
        """Fill ``grads`` from ``dout`` without returning ``dL/dx``.

        Called on a model's first layer during training, where nothing below needs ``dL/dx``.
        The default is :meth:`backward` with its result dropped; layers for which ``dx`` is
        costly (:class:`Conv2D`) override it to skip that work.
        """
        self.backward(dout)

    def output_shape(self, input_shape):
        """Shape of one output sample given one input sample's shape (no batch axis)."""
        return tuple(input_shape)

    def macs(self, input_shape):
        """Multiply-accumulates of the weights for one input sample of shape ``input_shape`` (no batch axis).

        The usual count of a network's cost (FLOPs ≈ 2 × MACs): a layer with weights counts one
        multiply-add per weight use; a layer without weights (activations, pooling, normalisation,
        reshapes) counts 0 — their work grows with the activations, not with the weights, and is small
        beside a convolution's. See :meth:`numpycnn.model.Sequential.macs`.
        """
        return 0

    def window(self):
        """``(kernel, stride)`` of the window one output position reads along each spatial axis.

        ``kernel`` is the span of the window in input pixels (``dilation·(k − 1) + 1``), an int when both
        axes agree, else a pair ``(along H, along W)`` — and so is ``stride``. ``(1, 1)`` for a layer that
        works position by position (activations, normalisation, the default); ``None`` for a layer whose
        every output reads every input position (``Dense``, ``Flatten``, global pooling): the receptive
        field ends there. See :meth:`numpycnn.model.Sequential.receptive_fields`.
        """
        return (1, 1)

    def config(self):
        """JSON-able constructor arguments, used to save and rebuild a model."""
        return {}

    @classmethod
    def from_config(cls, config, name=None, rng=None, dtype=np.float32):
        """Rebuild a layer from :meth:`config`; layers whose constructor needs ``rng`` or ``dtype`` override it."""
        return cls(**config, name=name)

    # -- masks (techniques C and E) -------------------------------------------------
    def set_mask(self, key, mask):
        """Mask parameter ``key`` with a 0/1 array of its shape; zeroes the masked-out entries.

        Assigns ``params[key] = params[key] * mask`` (a real write, not a view).
        """
        if key not in self.params:
            raise KeyError(f"layer {self.name!r} has no parameter {key!r}; it has {sorted(self.params)}")
        mask = np.asarray(mask)
        if mask.shape != self.params[key].shape:
            raise ShapeError(
                f"layer {self.name!r}: mask for {key!r} must have shape {self.params[key].shape}; got {mask.shape}"
            )
        self.masks[key] = mask.astype(self.params[key].dtype)
        self.params[key] = self.params[key] * self.masks[key]

    def clear_mask(self, key):
        """Remove the mask of parameter ``key`` (its zeroed entries become trainable again)."""
        self.masks.pop(key, None)

    def effective(self, key):
        """The parameter as the forward pass uses it: ``params[key] * masks[key]`` when masked."""
        p = self.params[key]
        m = self.masks.get(key)
        return p if m is None else p * m

    def _set_grad(self, key, g):
        m = self.masks.get(key)
        self.grads[key] = g if m is None else g * m

    # -- conveniences ---------------------------------------------------------------
    @property
    def num_params(self):
        return int(sum(p.size for p in self.params.values()))

    def astype(self, dtype):
        """Convert parameters (and floating-point buffers) to ``dtype`` in place (e.g. float64 for
        gradient checks); returns self."""
        for k in self.params:
            self.params[k] = self.params[k].astype(dtype)
        for k in self.masks:
            self.masks[k] = self.masks[k].astype(dtype)
        for k, b in self.buffers.items():
            if np.issubdtype(b.dtype, np.floating):
                self.buffers[k] = b.astype(dtype)
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}
        return self

    def display_name(self):
        """How error messages name this layer: ``Conv2D 'conv1'`` (or just ``Conv2D`` when unnamed)."""
        return f"{type(self).__name__} {self.name!r}" if self.name else type(self).__name__

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items())
        return f"{type(self).__name__}({args})"


# -- the implementation switch: fast (trains by default) or textbook (the code a student writes) ----------
#: the implementations a :class:`Conv2D` or :class:`MaxPool2D` layer can run
IMPLEMENTATIONS = ("fast", "textbook")
_default = {"implementation": "fast"}


def spans(geometry):
    """``(kernel, stride)`` of a :class:`~numpycnn.im2col.Window` for receptive fields: the kernel as the
    window's span in input pixels, ``dilation·(k − 1) + 1``; each an int when both axes agree, else a pair."""
    span = tuple(d * (k - 1) + 1 for k, d in zip(geometry.kernel, geometry.dilation))
    return compact(span), compact(tuple(geometry.stride))


def compose_window(field, window):
    """The receptive field ``(size, jump)`` one layer further on, through a layer of window ``(k, s)``:

    ``size ← size + (k − 1)·jump``, ``jump ← jump·s``, along each axis (ints when both axes agree, else pairs).
    """
    def axes(v):
        return tuple(v) if isinstance(v, tuple) else (v, v)
    (size, jump), (k, s) = (axes(v) for v in field), (axes(v) for v in window)
    return (compact(tuple(z + (kk - 1) * j for z, kk, j in zip(size, k, jump))),
            compact(tuple(j * ss for j, ss in zip(jump, s))))


def default_implementation():
    """The implementation of every ``Conv2D`` and ``MaxPool2D`` that names none: ``"fast"`` unless
    :class:`use_implementation` says otherwise."""
    return _default["implementation"]


class use_implementation:
    """Make every ``Conv2D`` and ``MaxPool2D`` layer that names no implementation of its own run ``name``.

    ``"fast"`` runs :mod:`numpycnn.fast_conv` and :mod:`numpycnn.fast_pooling`; ``"textbook"`` runs
    :mod:`numpycnn.conv` and :mod:`numpycnn.pooling`, the functions a student writes, so a student's
    own code trains a network end to end. Both compute the same values.

    Works as a plain call (the choice holds until the next call) and as a context manager (the
    previous choice comes back at the end of the block)::

        with use_implementation("textbook"):
            trainer.fit(data.train, epochs=1)      # conv2d_forward, maxpool2d_forward, ... of the textbook
        use_implementation("textbook")            # from now on (use_implementation("fast") switches back)

    A layer built with ``implementation="fast"`` or ``implementation="textbook"`` ignores the switch.
    """

    def __init__(self, name):
        name = choice(name, "implementation", "use_implementation", IMPLEMENTATIONS)
        self.previous = _default["implementation"]
        _default["implementation"] = name

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        _default["implementation"] = self.previous
        return False


def _chosen_implementation(implementation, where):
    return None if implementation is None else choice(implementation, "implementation", where, IMPLEMENTATIONS)


def implementation_of(layer):
    """The implementation a ``Conv2D`` or ``MaxPool2D`` layer runs: its own choice, else
    :func:`default_implementation`."""
    return layer.implementation or default_implementation()


def _padding_argument(pad, padding, where):
    """``pad``, or ``padding`` — PyTorch's name for it — when that is given instead."""
    if padding is None:
        return pad
    if not (isinstance(pad, (int, np.integer)) and pad == 0):
        raise TypeError(f"{where}: give pad or padding (PyTorch's name for it), not both; got pad={pad!r}, "
                        f"padding={padding!r}")
    return padding


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
        self.pad, pads = _conv_padding(_padding_argument(pad, padding, where), kernel, dilation, stride, where)
        self.kernel_size, self.stride, self.dilation = compact(kernel), compact(stride), compact(dilation)
        #: where the windows lie (:class:`~numpycnn.im2col.Window`), every option resolved (the layer's :meth:`window`
        #: is what one output reads, for receptive fields)
        self.geometry = Window(kernel, stride, pads, dilation)
        #: True when an option beyond the plain layer is set: the layer runs the ``*_general`` functions
        self.general = not (isinstance(self.kernel_size, int) and isinstance(self.stride, int)
                            and isinstance(self.pad, int) and self.dilation == 1 and self.groups == 1 and self.bias)
        self.implementation = _chosen_implementation(implementation, where)
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
        and checkpoints written before it was renamed (``tests/test_conv.py`` loads one). Keys a file
        written before an option existed lacks take the option's default.
        """
        config = dict(config)
        if "kernel" in config:
            config["implementation"] = config.pop("kernel")
        return cls(**config, rng=rng, dtype=dtype, name=name)


class Dense(Layer):
    """Fully connected layer, ``(N, in_features) -> (N, out_features)``.

    Parameters
    ----------
    in_features, out_features : int
    bias : bool, default True
        False: no ``b`` parameter, ``y = x @ W.T`` (PyTorch's ``Linear(..., bias=False)``).
    init, rng, dtype : the initialiser, its generator and the parameters' dtype.

    Notes
    -----
    Forward ``y = x @ W.T + b`` with ``W: (out_features, in_features)`` (PyTorch's layout).
    Backward ``dx = dout @ W``, ``dW = dout.T @ x``, ``db = dout.sum(0)``.

    With a mask ``M`` on ``W`` (:meth:`Layer.set_mask`, techniques C and E) ``W`` means
    ``self.effective("W") = W * M`` everywhere above, and the gradient stored is ``dW * M``
    (``self._set_grad("W", dW)`` applies the mask), so masked weights neither act nor move.
    """

    def __init__(self, in_features, out_features, bias=True, *, init="he", rng=None, dtype=np.float32, name=None):
        super().__init__(name)
        where = f"Dense {name!r}" if name else "Dense"
        self.in_features = integer(in_features, "in_features", where)
        self.out_features = integer(out_features, "out_features", where)
        self.bias = flag(bias, "bias", where)
        self.init = init
        rng = np.random.default_rng(0) if rng is None else rng
        self.params = {"W": initializers.get_initializer(init)((self.out_features, self.in_features), rng, dtype=dtype)}
        if self.bias:
            self.params["b"] = np.zeros(self.out_features, dtype=dtype)
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}
        self.x = None

    def forward(self, x):
        where = self.display_name()
        if not isinstance(x, np.ndarray) or x.ndim != 2 or x.shape[1] != self.in_features:
            raise ShapeError(f"{where}: input x must have shape (N, {self.in_features}); got {describe(x)}. "
                             f"Put a Flatten layer before a Dense layer that follows a conv/pool layer.")
        if not np.issubdtype(x.dtype, np.floating):
            raise TypeError(f"{where}: input x must be floating point; got dtype {x.dtype}")
        self.x = x                           # the cache backward reads: the input (N, in_features)
        if not self.bias:                    # bias=False: y = x @ W.T (the exercise below is the layer with b)
            return x @ self.effective("W").T
        ### BEGIN SOLUTION
        return x @ self.effective("W").T + self.effective("b")
        ### END SOLUTION

    def backward(self, dout):
        """``dout (N, out_features) -> dx (N, in_features)``; fills ``grads["W"]`` and ``grads["b"]``.

        Reads ``self.x``, the input that :meth:`forward` kept. Uses the masked weight
        ``self.effective("W")`` and stores the gradients with ``self._set_grad`` (which masks ``dW``).
        """
        if not self.bias:                    # bias=False: no db (the exercise below is the layer with b)
            self._set_grad("W", dout.T @ self.x)
            return dout @ self.effective("W")
        ### BEGIN SOLUTION
        dx = dout @ self.effective("W")
        self._set_grad("W", dout.T @ self.x)
        self._set_grad("b", dout.sum(axis=0))
        ### END SOLUTION
        return dx

    def output_shape(self, input_shape):
        if tuple(input_shape) != (self.in_features,):
            raise ShapeError(f"{self.display_name()}: expects input of shape ({self.in_features},); "
                             f"the layer below gives {tuple(input_shape)}")
        return (self.out_features,)

    def macs(self, input_shape):
        """``in_features · out_features``: one multiply-add per weight."""
        return self.in_features * self.out_features

    def window(self):
        return None

    def config(self):
        cfg = dict(in_features=self.in_features, out_features=self.out_features, init=self.init)
        if not self.bias:                    # only when set: old files (no key) load with a bias
            cfg["bias"] = False
        return cfg

    @classmethod
    def from_config(cls, config, name=None, rng=None, dtype=np.float32):
        """Rebuild a layer from :meth:`config` (a fresh initialisation from ``rng``, in ``dtype``)."""
        return cls(**config, rng=rng, dtype=dtype, name=name)


class _Pool(Layer):
    """Shared code of :class:`MaxPool2D` and :class:`AvgPool2D`: the window's options, checked and resolved."""

    def __init__(self, kernel_size=2, stride=None, pad=0, *, dilation=1, ceil_mode=False, padding=None, name=None):
        super().__init__(name)
        where = f"{type(self).__name__} {name!r}" if name else type(self).__name__
        kernel = pair(kernel_size, "kernel_size", where)
        stride = kernel if stride is None else pair(stride, "stride", where)
        pad = pair(_padding_argument(pad, padding, where), "pad", where, minimum=0)
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
        self.implementation = _chosen_implementation(implementation, self.display_name())
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


class ReLU(Layer):
    """``y = max(x, 0)``; backward ``dx = dout * (x > 0)``."""

    def forward(self, x):
        check_float(x, self.display_name())
        self.positive = x > 0                # the cache backward reads: where the input was positive
        ### BEGIN SOLUTION
        return np.maximum(x, 0)
        ### END SOLUTION

    def backward(self, dout):
        """``dx = dout * (x > 0)``, reading ``self.positive`` (the boolean mask :meth:`forward` kept)."""
        ### BEGIN SOLUTION
        return dout * self.positive
        ### END SOLUTION


class Sigmoid(Layer):
    """``y = 1 / (1 + exp(-x))`` (``scipy.special.expit``: never overflows); ``dx = dout * y * (1 - y)``.

    Notes
    -----
    The derivative ``σ'(x) = y (1 - y)`` is at most 1/4 (at ``x = 0``). Back through layer ``l``
    (weights ``W_l``, then this sigmoid) the gradient is multiplied by ``W_lᵀ`` and by ``σ'``, so
    ``‖g_{l-1}‖ <= ‖W_l‖ / 4 · ‖g_l‖`` (``‖W_l‖`` the operator norm). Through ``L`` layers the
    ``σ'`` factors alone contribute at most ``4**-L``; the gradient itself is bounded by
    ``prod_l (‖W_l‖ / 4)``, not by ``4**-L``: it vanishes when the weights are moderate (tutorial 2
    measures a roughly constant shrink per layer), and large weights can undo it. This is the
    vanishing gradient technique A fights.
    """

    def forward(self, x):
        """``y = σ(x)``; keeps ``self.y`` (the output) for :meth:`backward`."""
        check_float(x, self.display_name())
        ### BEGIN SOLUTION
        self.y = expit(x)
        ### END SOLUTION
        return self.y

    def backward(self, dout):
        """``dx = dout * y * (1 - y)``, reading ``self.y``, the output :meth:`forward` kept."""
        ### BEGIN SOLUTION
        return dout * self.y * (1 - self.y)
        ### END SOLUTION


class Tanh(Layer):
    """``y = tanh(x)``; ``dx = dout * (1 - y**2)``."""

    def forward(self, x):
        check_float(x, self.display_name())
        self.y = np.tanh(x)
        return self.y

    def backward(self, dout):
        return dout * (1 - self.y * self.y)


class Flatten(Layer):
    """``(N, C, H, W) -> (N, C*H*W)``; backward reshapes back."""

    def forward(self, x):
        check_float(x, self.display_name(), min_ndim=2)
        self.x_shape = x.shape
        return x.reshape(x.shape[0], -1)

    def backward(self, dout):
        return dout.reshape(self.x_shape)

    def output_shape(self, input_shape):
        return (int(np.prod(input_shape)),)

    def window(self):
        return None


class LogSoftmax(Layer):
    """``y = log softmax(x)`` along the last axis, ``(N, K) -> (N, K)``; pair it with ``NLLLoss``.

    Notes
    -----
    ``y_k = x_k - log sum_j exp(x_j)`` (computed after subtracting the row maximum).
    Backward: ``dx = dout - softmax(x) * sum_k dout_k``.
    """

    def forward(self, x):
        check_float(x, self.display_name(), min_ndim=2)
        self.y = log_softmax(x)
        return self.y

    def backward(self, dout):
        return dout - np.exp(self.y) * dout.sum(axis=-1, keepdims=True)


LAYER_TYPES = {cls.__name__: cls for cls in (Conv2D, Dense, MaxPool2D, AvgPool2D, AdaptiveAvgPool2D, AdaptiveMaxPool2D,
                                             ReLU, Sigmoid, Tanh, Flatten, LogSoftmax)}
ACTIVATIONS = {"relu": ReLU, "sigmoid": Sigmoid, "tanh": Tanh}


def register_layer(cls):
    """Class decorator: make ``cls`` known to :func:`layer_from_config` (and so to saved models) by its name.

    The first class registered under a name is kept. The autograder loads a student's copy of a
    layer module beside the reference one; that copy must not replace the reference classes.
    """
    LAYER_TYPES.setdefault(cls.__name__, cls)
    return cls


def activation(name, **kwargs):
    """An activation layer by name: ``"relu"``, ``"sigmoid"`` or ``"tanh"``."""
    return ACTIVATIONS[choice(name, "activation", "layers.activation", sorted(ACTIVATIONS))](**kwargs)


def layer_from_config(type_name, config, name=None, rng=None, dtype=np.float32):
    """Rebuild a layer from ``(type name, config())`` — used when loading a saved model."""
    if type_name not in LAYER_TYPES:
        raise ValueError(f"unknown layer type {type_name!r}; known: {sorted(LAYER_TYPES)}")
    return LAYER_TYPES[type_name].from_config(config, name=name, rng=rng, dtype=dtype)
