"""Dropout (Srivastava et al., 2014), inverted: scaled at training so evaluation needs no change.

In training mode every value is kept with probability ``1 − p`` and multiplied by
``1 / (1 − p)``, or set to 0 — so the *expected* output equals the input, and in evaluation
mode the layer is the identity. :class:`Dropout2D` drops whole channels of a feature map.

Randomness: the keep mask of the k-th training forward pass (k = 0, 1, 2, ...) is drawn from
``np.random.default_rng([seed, k])``. The layer's whole random state is therefore its ``seed``
(in ``config()``) and the counter ``k`` (the buffer ``"draws"``, saved with the model and in
checkpoints), so a resumed run draws exactly the masks of an uninterrupted one. Nothing
touches the global ``np.random`` state.
"""
import numpy as np

from .errors import ShapeError
from .layers import Layer, register_layer
from .validate import check_4d, check_float, integer, number


def dropout_forward(x, keep, p):
    """Inverted dropout with a given keep mask.

    Parameters
    ----------
    x : ndarray, any shape
    keep : bool ndarray, ``x``'s shape or broadcastable to it (``(N, C, 1, 1)`` drops whole channels)
        True where the value is kept.
    p : float in [0, 1)
        The drop probability the mask was drawn with.

    Returns
    -------
    out : ndarray, ``x``'s shape and dtype

    Notes
    -----
    ``y = x · keep / (1 − p)``: kept values are scaled by ``1 / (1 − p)``, so ``E[y] = x``.
    """
    ### BEGIN SOLUTION
    return x * keep / (1 - p)
    ### END SOLUTION


def dropout_backward(dout, keep, p):
    """Backward pass of :func:`dropout_forward`: ``dx = dout · keep / (1 − p)``.

    Parameters
    ----------
    dout : ndarray, the output's shape
    keep : bool ndarray, the mask of the forward pass
    p : float

    Returns
    -------
    dx : ndarray, ``dout``'s shape and dtype

    Notes
    -----
    For a fixed mask the layer is linear and diagonal (``y_i = x_i · keep_i / (1 − p)``), so the
    gradient is multiplied by the same factor: dropped values pass no gradient back.
    """
    ### BEGIN SOLUTION
    return dout * keep / (1 - p)
    ### END SOLUTION


def _seed(seed, where):
    if isinstance(seed, np.random.Generator):
        return int(seed.integers(2 ** 63))
    return integer(seed, "seed", where, minimum=0)


@register_layer
class Dropout(Layer):
    """Inverted dropout, ``(N, ...) -> (N, ...)`` — ``torch.nn.Dropout(p)``.

    Parameters
    ----------
    p : float in [0, 1), default 0.5
        Probability of setting a value to 0 in training mode.
    seed : int >= 0 or np.random.Generator, default 0
        Seeds the masks; a Generator gives one integer drawn from it.

    ``buffers``: ``draws`` (int64 scalar), the number of masks drawn so far. No parameters.

    Notes
    -----
    Training: ``keep = rng.random(mask shape) >= p`` with ``rng = default_rng([seed, draws])``,
    then ``y = x · keep / (1 − p)`` and ``dx = dout · keep / (1 − p)``
    (:func:`dropout_forward`, :func:`dropout_backward`). Evaluation: ``y = x``, ``dx = dout``.
    """

    def __init__(self, p=0.5, seed=0, *, name=None):
        super().__init__(name)
        where = self.display_name()
        self.p = number(p, "p", where, low=0, high=1, high_open=True, meaning="the probability of dropping a value")
        self.seed = _seed(seed, where)
        self.buffers = {"draws": np.array(0, dtype=np.int64)}
        self.keep = None

    def _check(self, x):
        check_float(x, self.display_name(), min_ndim=1)

    def mask_shape(self, x_shape):
        """Shape of the keep mask for an input of ``x_shape``: one draw per value."""
        return x_shape

    def draw_mask(self, x_shape):
        """The next keep mask (bool, :meth:`mask_shape`), from ``default_rng([seed, draws])``; counts the draw."""
        rng = np.random.default_rng([self.seed, int(self.buffers["draws"])])
        self.buffers["draws"] = np.array(self.buffers["draws"] + 1, dtype=np.int64)
        return rng.random(self.mask_shape(x_shape)) >= self.p

    def forward(self, x):
        self._check(x)
        if not self.training or self.p == 0:
            self.keep = None
            return x
        self.keep = self.draw_mask(x.shape)
        return dropout_forward(x, self.keep, self.p)

    def backward(self, dout):
        if self.keep is None:
            return dout
        return dropout_backward(dout, self.keep, self.p)

    def config(self):
        return dict(p=self.p, seed=self.seed)


@register_layer
class Dropout2D(Dropout):
    """Channel dropout, ``(N, C, H, W) -> (N, C, H, W)`` — ``torch.nn.Dropout2d(p)``.

    The same as :class:`Dropout` with one draw per (sample, channel): the mask has shape
    ``(N, C, 1, 1)``, so a dropped channel is 0 over its whole feature map (neighbouring pixels
    are strongly correlated, and dropping single ones barely removes information).
    """

    def _check(self, x):
        check_4d(x, self.display_name())

    def mask_shape(self, x_shape):
        return (x_shape[0], x_shape[1], 1, 1)

    def output_shape(self, input_shape):
        if len(input_shape) != 3:
            raise ShapeError(f"{self.display_name()}: expects feature maps (C, H, W); the layer below gives "
                             f"{tuple(input_shape)}. Use Dropout for dense features")
        return tuple(input_shape)
