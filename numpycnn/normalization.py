"""Batch normalisation (Ioffe & Szegedy, 2015) for dense ``(N, D)`` and spatial ``(N, C, H, W)`` inputs,
and layer and group normalisation (:class:`LayerNorm`, :class:`GroupNorm`), which normalise each sample on
its own.

The functional core works on a 2-D array ``x: (M, C)``: one column per channel, one row per
value of it. For :class:`BatchNorm1D` the rows are the N samples (``M = N``); for
:class:`BatchNorm2D` they are every sample *and* every pixel (``M = N·H·W``): a conv channel is
normalised with one mean and one variance over the batch and the whole feature map.

Training mode normalises with the statistics of the batch; evaluation mode with running
averages of them, kept as *buffers* (state that is saved with the model but not trained)::

    running_mean <- (1 − momentum) · running_mean + momentum · mu
    running_var  <- (1 − momentum) · running_var  + momentum · var · M / (M − 1)

The normalisation uses the biased variance (divide by M), the running variance the unbiased
one (divide by M − 1) — PyTorch's ``BatchNorm1d`` / ``BatchNorm2d`` exactly, with their
defaults ``momentum = 0.1``, ``eps = 1e-5`` and an affine ``gamma`` (ones), ``beta`` (zeros).

Layer and group normalisation turn the table round: each *row* of an ``(M, D)`` array is one set of
values normalised together — a sample's every feature (:class:`LayerNorm`, ``M = N``), or a sample's
channels of one group with all their pixels (:class:`GroupNorm`, ``M = N·G``, ``D = C/G·H·W``) —
with that row's own mean and biased variance, the same in training and evaluation (no running
statistics). :func:`standardize_rows` and :func:`standardize_rows_backward` are that core; the
affine ``gamma``, ``beta`` is applied by the layer, per entry of ``normalized_shape`` (LayerNorm) or
per channel (GroupNorm).
"""
import math

import numpy as np

from .errors import ShapeError, describe
from .layers import Layer, register_layer
from .validate import check_4d, check_float, flag, integer, number


def batchnorm_forward(x, gamma, beta, eps=1e-5):
    """Training-mode batch normalisation of each column of ``x`` with the batch's own statistics.

    Parameters
    ----------
    x : ndarray (M, C)
        M values of each of C channels.
    gamma, beta : ndarray (C,)
        Scale and shift.
    eps : float
        Added to the variance before the square root.

    Returns
    -------
    out : ndarray (M, C)
    cache : tuple ``(x_hat, gamma, inv_std, mu, var)``
        ``x_hat (M, C)``, ``gamma (C,)``, ``inv_std = 1 / sqrt(var + eps) (C,)`` — what the
        backward pass needs — and the batch mean ``mu (C,)`` and biased variance ``var (C,)``,
        from which the layer updates its running statistics.

    Notes
    -----
    Per channel (column)::

        mu    = (1/M) Σ_m x_m
        var   = (1/M) Σ_m (x_m − mu)²                 (biased)
        x_hat = (x − mu) · inv_std,                   inv_std = 1 / sqrt(var + eps)
        y     = gamma · x_hat + beta
    """
    ### BEGIN SOLUTION
    mu = x.mean(axis=0)
    x_centred = x - mu
    var = (x_centred * x_centred).mean(axis=0)
    inv_std = 1 / np.sqrt(var + eps)
    x_hat = x_centred * inv_std
    out = gamma * x_hat + beta
    ### END SOLUTION
    return out, (x_hat, gamma, inv_std, mu, var)


def batchnorm_backward(dout, cache):
    """Backward pass of :func:`batchnorm_forward` (training mode).

    Parameters
    ----------
    dout : ndarray (M, C)
        ``dL/dy``.
    cache : tuple from :func:`batchnorm_forward`

    Returns
    -------
    dx : ndarray (M, C)
    dgamma, dbeta : ndarray (C,)

    Notes
    -----
    Per channel, with ``g = dL/dx_hat = dout · gamma``::

        dbeta  = Σ_m dout_m
        dgamma = Σ_m dout_m · x_hat_m
        dx     = inv_std · (g − mean(g) − x_hat · mean(g · x_hat))
               = (gamma · inv_std / M) · (M · dout − dbeta − x_hat · dgamma)

    Derivation: ``x_hat = (x − mu) · inv_std`` depends on ``x_m`` directly and through ``mu``
    and ``var``. ``∂mu/∂x_m = 1/M`` gives the ``− mean(g)`` term; ``∂var/∂x_m = 2 (x_m − mu) / M``
    gives ``∂inv_std/∂x_m = −inv_std³ (x_m − mu) / M`` and so the ``− x_hat · mean(g · x_hat)``
    term. The gradient reaching ``x`` has zero mean over the batch and (as eps -> 0) is orthogonal
    to ``x_hat``: shifting or scaling a channel's batch changes nothing after normalisation.
    """
    x_hat, gamma, inv_std, _, _ = cache
    ### BEGIN SOLUTION
    M = dout.shape[0]
    dbeta = dout.sum(axis=0)
    dgamma = (dout * x_hat).sum(axis=0)
    dx = (gamma * inv_std / M) * (M * dout - dbeta - x_hat * dgamma)
    ### END SOLUTION
    return dx, dgamma, dbeta


def batchnorm_eval_forward(x, gamma, beta, running_mean, running_var, eps=1e-5):
    """Evaluation-mode batch normalisation: a fixed affine map per channel.

    Parameters
    ----------
    x : ndarray (M, C)
    gamma, beta, running_mean, running_var : ndarray (C,)
    eps : float

    Returns
    -------
    out : ndarray (M, C)
        ``gamma · (x − running_mean) · inv_std + beta`` with ``inv_std = 1 / sqrt(running_var + eps)``
    cache : tuple ``(x_hat, gamma, inv_std)``

    Notes
    -----
    The statistics are constants here, so the backward pass is that of an affine map:
    ``dx = dout · gamma · inv_std``, ``dgamma = Σ_m dout_m · x_hat_m``, ``dbeta = Σ_m dout_m``.
    """
    inv_std = 1 / np.sqrt(running_var + eps)
    x_hat = (x - running_mean) * inv_std
    return gamma * x_hat + beta, (x_hat, gamma, inv_std)


def batchnorm_eval_backward(dout, cache):
    """Backward pass of :func:`batchnorm_eval_forward`: returns ``dx (M, C), dgamma (C,), dbeta (C,)``."""
    x_hat, gamma, inv_std = cache
    return dout * (gamma * inv_std), (dout * x_hat).sum(axis=0), dout.sum(axis=0)


class _BatchNorm(Layer):
    """Shared code of :class:`BatchNorm1D` and :class:`BatchNorm2D`; subclasses say how an input
    becomes the ``(M, C)`` columns of the functional core and back."""

    def __init__(self, num_features, eps=1e-5, momentum=0.1, *, dtype=np.float32, name=None):
        super().__init__(name)
        where = self.display_name()
        self.num_features = integer(num_features, "num_features", where)
        self.eps = number(eps, "eps", where, low=0, low_open=True)
        self.momentum = number(momentum, "momentum", where, low=0, high=1,
                               meaning="the weight of the newest batch in the running statistics")
        C = self.num_features
        self.params = {"gamma": np.ones(C, dtype=dtype), "beta": np.zeros(C, dtype=dtype)}
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}
        self.buffers = {"running_mean": np.zeros(C, dtype=dtype), "running_var": np.ones(C, dtype=dtype)}
        self.cache = None

    @classmethod
    def from_config(cls, config, name=None, rng=None, dtype=np.float32):
        return cls(**config, dtype=dtype, name=name)

    # subclasses: check the input, and move between its layout and (M, C) columns
    def _check(self, x):
        raise NotImplementedError

    def _to_columns(self, x):
        raise NotImplementedError

    def _from_columns(self, cols, shape):
        raise NotImplementedError

    def forward(self, x):
        self._check(x)
        cols = self._to_columns(x)
        gamma, beta = self.effective("gamma"), self.effective("beta")
        self.cache_training = self.training
        if self.training:
            M = cols.shape[0]
            if M < 2:
                raise ValueError(f"{self.display_name()}: training mode needs more than one value per channel to "
                                 f"estimate a variance; got input shape {x.shape}. Use a larger batch, or model.eval()")
            out, self.cache = batchnorm_forward(cols, gamma, beta, self.eps)
            mu, var = self.cache[3], self.cache[4]
            m = self.momentum
            self.buffers["running_mean"] = (1 - m) * self.buffers["running_mean"] + m * mu
            self.buffers["running_var"] = (1 - m) * self.buffers["running_var"] + m * var * (M / (M - 1))
        else:
            out, self.cache = batchnorm_eval_forward(cols, gamma, beta, self.buffers["running_mean"],
                                                     self.buffers["running_var"], self.eps)
        self.x_shape = x.shape
        return self._from_columns(out, x.shape)

    def backward(self, dout):
        cols = self._to_columns(dout)
        if self.cache_training:
            dx, dgamma, dbeta = batchnorm_backward(cols, self.cache)
        else:
            dx, dgamma, dbeta = batchnorm_eval_backward(cols, self.cache)
        self._set_grad("gamma", dgamma)
        self._set_grad("beta", dbeta)
        return self._from_columns(dx, self.x_shape)

    def config(self):
        return dict(num_features=self.num_features, eps=self.eps, momentum=self.momentum)


@register_layer
class BatchNorm1D(_BatchNorm):
    """Batch normalisation of dense features, ``(N, D) -> (N, D)`` — ``torch.nn.BatchNorm1d(D)``.

    Parameters
    ----------
    num_features : int
        D.
    eps : float, default 1e-5
    momentum : float in [0, 1], default 0.1
        Weight of the newest batch in the running statistics.
    dtype : numpy dtype of the parameters and buffers.

    ``params``: ``gamma (D,)`` (ones), ``beta (D,)`` (zeros). ``buffers``: ``running_mean (D,)``
    (zeros), ``running_var (D,)`` (ones). Equations: :func:`batchnorm_forward`,
    :func:`batchnorm_backward`; each feature is normalised over the N samples of the batch.
    """

    def _check(self, x):
        if not isinstance(x, np.ndarray) or x.ndim != 2 or x.shape[1] != self.num_features:
            hint = " For conv feature maps use BatchNorm2D." if isinstance(x, np.ndarray) and x.ndim == 4 else ""
            raise ShapeError(f"{self.display_name()}: input x must have shape (N, {self.num_features}); "
                             f"got {describe(x)}.{hint}")
        if not np.issubdtype(x.dtype, np.floating):
            raise TypeError(f"{self.display_name()}: input x must be floating point; got dtype {x.dtype}")

    def _to_columns(self, x):
        return x

    def _from_columns(self, cols, shape):
        return cols

    def output_shape(self, input_shape):
        if tuple(input_shape) != (self.num_features,):
            raise ShapeError(f"{self.display_name()}: expects input of shape ({self.num_features},); "
                             f"the layer below gives {tuple(input_shape)}")
        return tuple(input_shape)


@register_layer
class BatchNorm2D(_BatchNorm):
    """Batch normalisation of conv channels, ``(N, C, H, W) -> (N, C, H, W)`` — ``torch.nn.BatchNorm2d(C)``.

    Parameters
    ----------
    num_features : int
        C.
    eps : float, default 1e-5
    momentum : float in [0, 1], default 0.1
    dtype : numpy dtype of the parameters and buffers.

    ``params``: ``gamma (C,)``, ``beta (C,)``; ``buffers``: ``running_mean (C,)``, ``running_var (C,)``.
    Each channel is normalised over the batch and every pixel: the input is viewed as
    ``(N·H·W, C)`` columns (``x.transpose(0, 2, 3, 1).reshape(-1, C)``) for
    :func:`batchnorm_forward` / :func:`batchnorm_backward`.
    """

    def _check(self, x):
        check_4d(x, self.display_name(), self.num_features)

    def _to_columns(self, x):
        return x.transpose(0, 2, 3, 1).reshape(-1, self.num_features)

    def _from_columns(self, cols, shape):
        N, C, H, W = shape
        return np.ascontiguousarray(cols.reshape(N, H, W, C).transpose(0, 3, 1, 2))

    def output_shape(self, input_shape):
        if len(input_shape) != 3 or input_shape[0] != self.num_features:
            raise ShapeError(f"{self.display_name()}: expects input of shape ({self.num_features}, H, W); "
                             f"the layer below gives {tuple(input_shape)}")
        return tuple(input_shape)


# -- layer and group normalisation: each row normalised on its own -------------------------------------------------
def standardize_rows(x, eps=1e-5):
    """Normalise every row of ``x: (M, D)`` with its own mean and biased variance.

    Parameters
    ----------
    x : ndarray (M, D)
        M rows — one per sample (LayerNorm) or per sample and group (GroupNorm) — of D values each.
    eps : float
        Added to the variance before the square root.

    Returns
    -------
    x_hat : ndarray (M, D)
        ``(x − mu) · inv_std`` with ``mu = mean_d x``, ``var = mean_d (x − mu)²``, ``inv_std = 1 / sqrt(var + eps)``
        (each ``(M, 1)``).
    cache : tuple ``(x_hat, inv_std)``

    Notes
    -----
    :func:`batchnorm_forward` with the axes swapped: the statistics run along a row (axis 1, ``keepdims``),
    not down a column. Nothing is averaged over the batch, so a sample's output never depends on the
    other samples, in training as in evaluation.
    """
    ### BEGIN SOLUTION
    mu = x.mean(axis=1, keepdims=True)
    x_centred = x - mu
    var = (x_centred * x_centred).mean(axis=1, keepdims=True)
    inv_std = 1 / np.sqrt(var + eps)
    x_hat = x_centred * inv_std
    ### END SOLUTION
    return x_hat, (x_hat, inv_std)


def standardize_rows_backward(dx_hat, cache):
    """Backward pass of :func:`standardize_rows`: ``dL/dx`` from ``dL/dx_hat``, both ``(M, D)``.

    Parameters
    ----------
    dx_hat : ndarray (M, D)
        ``dL/dx_hat``.
    cache : tuple ``(x_hat (M, D), inv_std (M, 1))`` from :func:`standardize_rows`

    Returns
    -------
    dx : ndarray (M, D)

    Notes
    -----
    The transpose of :func:`batchnorm_backward`'s formula (means over a row's D entries, not over a
    column's M)::

        dx = inv_std · (dx_hat − mean_d(dx_hat) − x_hat · mean_d(dx_hat · x_hat))
    """
    x_hat, inv_std = cache
    ### BEGIN SOLUTION
    dx = inv_std * (dx_hat - dx_hat.mean(axis=1, keepdims=True)
                    - x_hat * (dx_hat * x_hat).mean(axis=1, keepdims=True))
    ### END SOLUTION
    return dx


@register_layer
class LayerNorm(Layer):
    """Layer normalisation — ``torch.nn.LayerNorm(normalized_shape)``: each sample normalised over its last axes.

    Parameters
    ----------
    normalized_shape : int or tuple of int
        The trailing shape ``S`` normalised together, e.g. ``D`` after a Dense layer or ``(C, H, W)``
        for a whole feature map.
    eps : float, default 1e-5
    elementwise_affine : bool, default True
        Learn ``gamma`` (ones) and ``beta`` (zeros) of shape ``S``; False: neither.
    bias : bool, default True
        With ``elementwise_affine``, learn ``beta`` too (False: ``gamma`` only).
    dtype : numpy dtype of the parameters.

    Notes
    -----
    The input ``(..., *S)`` is viewed as rows ``(M, D)`` with ``D = prod(S)``, one per sample (and per
    leading position)::

        x_hat = standardize_rows(x)          (x − mu) / sqrt(var + eps), per row
        y     = gamma · x_hat + beta          gamma, beta of shape S, broadcast over the rows

    Backward: ``dbeta = Σ_rows dy``, ``dgamma = Σ_rows dy · x_hat``, ``dx = standardize_rows_backward(dy · gamma)``.
    The same in training and evaluation mode.
    """

    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True, bias=True, *, dtype=np.float32,
                 name=None):
        super().__init__(name)
        where = self.display_name()
        dims = normalized_shape if isinstance(normalized_shape, (tuple, list)) else (normalized_shape,)
        if not dims:
            raise ValueError(f"{where}: normalized_shape must name at least one axis; got {normalized_shape!r}")
        self.normalized_shape = tuple(integer(d, "normalized_shape", where) for d in dims)
        self.eps = number(eps, "eps", where, low=0, low_open=True)
        self.elementwise_affine = flag(elementwise_affine, "elementwise_affine", where)
        self.bias = flag(bias, "bias", where)
        if self.elementwise_affine:
            self.params["gamma"] = np.ones(self.normalized_shape, dtype=dtype)
            if self.bias:
                self.params["beta"] = np.zeros(self.normalized_shape, dtype=dtype)
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}
        self.cache = None

    @classmethod
    def from_config(cls, config, name=None, rng=None, dtype=np.float32):
        return cls(**config, dtype=dtype, name=name)

    def _check(self, x):
        S = self.normalized_shape
        check_float(x, self.display_name(), min_ndim=len(S) + 1)
        if x.shape[x.ndim - len(S):] != S:
            raise ShapeError(f"{self.display_name()}: input x must end with the normalized_shape {S}; got {describe(x)}")

    def forward(self, x):
        self._check(x)
        D = math.prod(self.normalized_shape)
        x_hat, self.cache = standardize_rows(x.reshape(-1, D), self.eps)
        x_hat = x_hat.reshape(x.shape)
        self.x_hat = x_hat
        if not self.elementwise_affine:
            return x_hat
        out = x_hat * self.effective("gamma")
        return out + self.effective("beta") if self.bias else out

    def backward(self, dout):
        D = math.prod(self.normalized_shape)
        lead = tuple(range(dout.ndim - len(self.normalized_shape)))     # the axes gamma is broadcast over
        dx_hat = dout
        if self.elementwise_affine:
            self._set_grad("gamma", (dout * self.x_hat).sum(axis=lead))
            if self.bias:
                self._set_grad("beta", dout.sum(axis=lead))
            dx_hat = dout * self.effective("gamma")
        return standardize_rows_backward(dx_hat.reshape(-1, D), self.cache).reshape(dout.shape)

    def output_shape(self, input_shape):
        S = self.normalized_shape
        if tuple(input_shape[len(input_shape) - len(S):]) != S or len(input_shape) < len(S):
            raise ShapeError(f"{self.display_name()}: expects an input that ends with the normalized_shape {S}; "
                             f"the layer below gives {tuple(input_shape)}")
        return tuple(input_shape)

    def config(self):
        S = self.normalized_shape
        cfg = {"normalized_shape": S[0] if len(S) == 1 else S, "eps": self.eps}
        if not self.elementwise_affine:
            cfg["elementwise_affine"] = False
        if not self.bias:
            cfg["bias"] = False
        return cfg


@register_layer
class GroupNorm(Layer):
    """Group normalisation (Wu & He, 2018) — ``torch.nn.GroupNorm(num_groups, num_channels)``.

    Parameters
    ----------
    num_groups : int
        G, dividing ``num_channels``. ``G = 1`` normalises each sample's whole feature map (LayerNorm
        over ``(C, H, W)`` with per-channel affine); ``G = C`` each channel on its own (instance norm).
    num_channels : int
        C.
    eps : float, default 1e-5
    affine : bool, default True
        Learn ``gamma (C,)`` (ones) and ``beta (C,)`` (zeros); False: neither.
    dtype : numpy dtype of the parameters.

    Notes
    -----
    ``x: (N, C, *)`` (e.g. ``(N, C, H, W)``) is viewed as ``N·G`` rows of ``D = C/G · H·W`` values —
    sample ``n``'s channels ``g·C/G .. (g+1)·C/G − 1`` with all their pixels::

        x_hat = standardize_rows(x.reshape(N·G, D)) reshaped back to x's shape
        y[n, c] = gamma[c] · x_hat[n, c] + beta[c]

    Backward: ``dbeta[c] = Σ_{n, pixels} dy[n, c]``, ``dgamma[c] = Σ_{n, pixels} dy[n, c] · x_hat[n, c]``,
    ``dx = standardize_rows_backward((dy · gamma[c]) as rows)``. The same in training and evaluation mode.
    """

    def __init__(self, num_groups, num_channels, eps=1e-5, affine=True, *, dtype=np.float32, name=None):
        super().__init__(name)
        where = self.display_name()
        self.num_groups = integer(num_groups, "num_groups", where)
        self.num_channels = integer(num_channels, "num_channels", where)
        if self.num_channels % self.num_groups:
            raise ValueError(f"{where}: num_groups must divide num_channels ({self.num_channels}); "
                             f"got num_groups={self.num_groups}")
        self.eps = number(eps, "eps", where, low=0, low_open=True)
        self.affine = flag(affine, "affine", where)
        if self.affine:
            self.params = {"gamma": np.ones(self.num_channels, dtype=dtype),
                           "beta": np.zeros(self.num_channels, dtype=dtype)}
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}
        self.cache = None

    @classmethod
    def from_config(cls, config, name=None, rng=None, dtype=np.float32):
        return cls(**config, dtype=dtype, name=name)

    def _per_channel(self, ndim):
        """Shape that broadcasts a ``(C,)`` vector over ``x: (N, C, *)``."""
        return (self.num_channels,) + (1,) * (ndim - 2)

    def forward(self, x):
        check_float(x, self.display_name(), min_ndim=2)
        if x.shape[1] != self.num_channels:
            raise ShapeError(f"{self.display_name()}: input x must have {self.num_channels} channels (axis 1); "
                             f"got {describe(x)}")
        ### BEGIN SOLUTION
        x_hat, self.cache = standardize_rows(x.reshape(x.shape[0] * self.num_groups, -1), self.eps)
        self.x_hat = x_hat.reshape(x.shape)
        ### END SOLUTION
        if not self.affine:
            return self.x_hat
        c = self._per_channel(x.ndim)
        return self.x_hat * self.effective("gamma").reshape(c) + self.effective("beta").reshape(c)

    def backward(self, dout):
        dx_hat = dout
        if self.affine:
            other = (0,) + tuple(range(2, dout.ndim))                     # every axis but the channels
            self._set_grad("gamma", (dout * self.x_hat).sum(axis=other))
            self._set_grad("beta", dout.sum(axis=other))
            dx_hat = dout * self.effective("gamma").reshape(self._per_channel(dout.ndim))
        rows = dx_hat.reshape(dout.shape[0] * self.num_groups, -1)
        return standardize_rows_backward(rows, self.cache).reshape(dout.shape)

    def output_shape(self, input_shape):
        if len(input_shape) < 1 or input_shape[0] != self.num_channels:
            raise ShapeError(f"{self.display_name()}: expects input of shape ({self.num_channels}, ...); "
                             f"the layer below gives {tuple(input_shape)}")
        return tuple(input_shape)

    def config(self):
        cfg = {"num_groups": self.num_groups, "num_channels": self.num_channels, "eps": self.eps}
        if not self.affine:
            cfg["affine"] = False
        return cfg
