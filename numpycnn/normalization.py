"""Batch normalisation (Ioffe & Szegedy, 2015) for dense ``(N, D)`` and spatial ``(N, C, H, W)`` inputs.

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
"""
import numpy as np

from .errors import ShapeError, describe
from .layers import Layer, register_layer
from .validate import check_4d, integer, number


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
