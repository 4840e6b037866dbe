"""Layers: thin classes around the functional core, each with ``forward`` and ``backward``.

This module holds the layers a student writes first — :class:`Dense`, the activations :class:`ReLU`,
:class:`Sigmoid`, :class:`Tanh`, then :class:`Flatten` and :class:`LogSoftmax` — and the index of every
layer type (:data:`LAYER_TYPES`, :func:`layer_from_config`). The other layers live in rooms of their own,
and every one of them can be imported from here (``from numpycnn.layers import Conv2D``):

=====================================  ==============================================================
:mod:`numpycnn.layer_base`             the contract (:class:`Layer`: params, grads, masks, buffers),
                                       the fast/textbook switch (:class:`use_implementation`),
                                       receptive-field windows
:mod:`numpycnn.conv_layer`             :class:`Conv2D`
:mod:`numpycnn.pool_layers`            :class:`MaxPool2D`, :class:`AvgPool2D`, :class:`AdaptiveAvgPool2D`,
                                       :class:`AdaptiveMaxPool2D`
:mod:`numpycnn.normalization`          ``BatchNorm2D``, ``BatchNorm1D``, ``LayerNorm``, ``GroupNorm``
:mod:`numpycnn.dropout`                ``Dropout``
:mod:`numpycnn.residual`               ``Residual``
=====================================  ==============================================================

Layer types defined in other modules (:mod:`numpycnn.normalization`, :mod:`numpycnn.dropout`,
:mod:`numpycnn.residual`) join ``LAYER_TYPES`` through :func:`register_layer`, so this module
never imports them.

Shapes: activations are NCHW ``(N, C, H, W)``; conv weights ``(F, C, KH, KW)``;
dense weights ``(out_features, in_features)`` as in PyTorch, so ``y = x @ W.T + b``.
"""
import numpy as np
from scipy.special import expit

from . import init as initializers
from .conv_layer import Conv2D
from .errors import ShapeError, describe
from .functional import log_softmax
from .layer_base import (IMPLEMENTATIONS, Layer, compose_window, default_implementation, implementation_of, spans,
                         use_implementation)
from .pool_layers import AdaptiveAvgPool2D, AdaptiveMaxPool2D, AvgPool2D, MaxPool2D
from .validate import check_float, choice, flag, integer


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


__all__ = ["ACTIVATIONS", "IMPLEMENTATIONS", "LAYER_TYPES", "AdaptiveAvgPool2D", "AdaptiveMaxPool2D", "AvgPool2D",
           "Conv2D", "Dense", "Flatten", "Layer", "LogSoftmax", "MaxPool2D", "ReLU", "Sigmoid", "Tanh", "activation",
           "compose_window", "default_implementation", "implementation_of", "layer_from_config", "register_layer",
           "spans", "use_implementation"]
