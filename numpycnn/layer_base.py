"""The layer contract: the :class:`Layer` base class every layer subclasses, and what layers share.

The layer contract (every layer class follows it)
-------------------------------------------------
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

What the layers share, below the class
--------------------------------------
- The implementation switch (:class:`use_implementation`): :class:`~numpycnn.conv_layer.Conv2D` and
  :class:`~numpycnn.pool_layers.MaxPool2D` run the fast kernels by default and the textbook functions
  a student writes when told to.
- Receptive fields: :func:`spans` (one layer's window) and :func:`compose_window` (a window on top
  of a field): ``size <- size + (k - 1)·jump``, ``jump <- jump·s``.
- :func:`padding_argument`: ``pad``, or PyTorch's name ``padding``.

Every public name here is also importable from :mod:`numpycnn.layers`.
"""
import numpy as np

from .errors import ShapeError
from .validate import choice, compact


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


def chosen_implementation(implementation, where):
    """``implementation`` checked against :data:`IMPLEMENTATIONS` (None stays None: follow the switch)."""
    return None if implementation is None else choice(implementation, "implementation", where, IMPLEMENTATIONS)


def implementation_of(layer):
    """The implementation a ``Conv2D`` or ``MaxPool2D`` layer runs: its own choice, else
    :func:`default_implementation`."""
    return layer.implementation or default_implementation()



def padding_argument(pad, padding, where):
    """``pad``, or ``padding`` — PyTorch's name for it — when that is given instead."""
    if padding is None:
        return pad
    if not (isinstance(pad, (int, np.integer)) and pad == 0):
        raise TypeError(f"{where}: give pad or padding (PyTorch's name for it), not both; got pad={pad!r}, "
                        f"padding={padding!r}")
    return padding

