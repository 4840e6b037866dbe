"""Losses computed from logits, with their gradients.

``SoftmaxCrossEntropy`` (the default loss)::

    p   = softmax(z)                       z: (N, K) logits, p: (N, K)
    L   = -(1/N) * sum_n log p[n, y_n]      computed as logsumexp(z_n) - z[n, y_n]
    dL/dz = (p - onehot(y)) / N

``p - onehot(y)`` is what technique A's patent calls the *probability error*
(class-probability error); it is exposed as :meth:`SoftmaxCrossEntropy.probability_error`.
"""
import numpy as np

from .functional import log_softmax, onehot, softmax
from .validate import check_labels, choice

__all__ = ["LOSSES", "MulticlassHinge", "NLLLoss", "SoftmaxCrossEntropy", "check_labels", "get_loss", "log_softmax",
           "onehot", "softmax"]


class SoftmaxCrossEntropy:
    """Softmax cross-entropy from logits, averaged over the batch.

    Examples
    --------
    >>> loss = SoftmaxCrossEntropy()
    >>> L = loss.forward(z, y)          # z: (N, K) logits, y: (N,) labels
    >>> dz = loss.backward()            # (N, K) = (softmax(z) - onehot(y)) / N

    Notes
    -----
    Forward: ``L = mean_n [logsumexp(z_n) - z_n[y_n]]`` — finite for any finite
    logits, even ``±1e4``. Backward: ``dL/dz = (p - onehot(y)) / N``.
    """

    name = "softmax_cross_entropy"

    def __init__(self):
        self.p = None
        self.y = None

    def forward(self, z, y):
        """Mean cross-entropy of logits ``z: (N, K)`` against labels ``y: (N,)``; returns a float."""
        y = check_labels(z, y, "SoftmaxCrossEntropy")
        logp = log_softmax(z)
        self.p = np.exp(logp)
        self.y = y
        return float(-logp[np.arange(z.shape[0]), y].mean())

    def per_sample(self, z, y):
        """Cross-entropy of every sample, ``(N,)`` (no averaging, no cache)."""
        y = check_labels(z, y, "SoftmaxCrossEntropy")
        return -log_softmax(z)[np.arange(z.shape[0]), y]

    def probability_error(self):
        """The patent's *probability error* ``softmax(z) - onehot(y)``, shape (N, K); rows sum to 0."""
        if self.p is None:
            raise RuntimeError("call forward(z, y) before probability_error()")
        err = self.p.copy()
        err[np.arange(err.shape[0]), self.y] -= 1
        return err

    def backward(self):
        """Gradient of the mean loss w.r.t. the logits: ``probability_error() / N``, shape (N, K)."""
        return self.probability_error() / self.p.shape[0]

    def __repr__(self):
        return "SoftmaxCrossEntropy()"


class NLLLoss:
    """Negative log-likelihood of log-probabilities (use after a :class:`~numpycnn.layers.LogSoftmax` layer).

    Examples
    --------
    >>> loss = NLLLoss()
    >>> L = loss.forward(logp, y)       # logp: (N, K) log-probabilities, y: (N,) labels
    >>> dlogp = loss.backward()         # (N, K) = -onehot(y) / N

    Notes
    -----
    Forward: ``L = -(1/N) sum_n logp[n, y_n]``; backward: ``dL/dlogp = -onehot(y) / N``.
    ``LogSoftmax`` followed by ``NLLLoss`` equals ``SoftmaxCrossEntropy`` on the logits
    (PyTorch: ``nll_loss(log_softmax(z), y) == cross_entropy(z, y)``).
    """

    name = "nll"

    def __init__(self):
        self.shape = None
        self.y = None

    def forward(self, logp, y):
        """Mean negative log-likelihood of ``logp: (N, K)`` against ``y: (N,)``; returns a float."""
        y = check_labels(logp, y, "NLLLoss")
        self.shape, self.y, self.dtype = logp.shape, y, logp.dtype
        return float(-logp[np.arange(logp.shape[0]), y].mean())

    def per_sample(self, logp, y):
        """``-logp[n, y_n]`` for every sample, ``(N,)``."""
        y = check_labels(logp, y, "NLLLoss")
        return -logp[np.arange(logp.shape[0]), y]

    def backward(self):
        """``dL/dlogp = -onehot(y) / N``, shape (N, K)."""
        if self.y is None:
            raise RuntimeError("call forward(logp, y) before backward()")
        N, K = self.shape
        return -onehot(self.y, K, dtype=self.dtype) / self.dtype.type(N)     # the logits' dtype

    def __repr__(self):
        return "NLLLoss()"


class MulticlassHinge:
    """Multiclass hinge loss (Crammer–Singer style sum over wrong classes, as ``torch.nn.MultiMarginLoss``).

    Parameters
    ----------
    p : int, 1 or 2 — ``p=2`` is the squared hinge used by Deeply-Supervised Nets' companion losses
    margin : float > 0 — the required gap ``Δ`` between the true class score and every other score

    Notes
    -----
    With ``z: (N, K)`` scores and ``m[n, j] = max(0, Δ - z[n, y_n] + z[n, j])`` for ``j != y_n``
    (``m[n, y_n] = 0``)::

        L = (1/N) sum_n (1/K) sum_j m[n, j]**p
        dL/dz[n, j]   = p * m[n, j]**(p-1) * [m[n, j] > 0] / (N K)          (j != y_n)
        dL/dz[n, y_n] = -sum_{j != y_n} dL/dz[n, j]

    The ``1/K`` factor matches PyTorch's ``multi_margin_loss``. Scores are used as they are
    (no softmax), so the loss is finite and exact for any finite logits.
    """

    def __init__(self, p=1, margin=1.0):
        if p not in (1, 2) or isinstance(p, bool):
            raise ValueError(f"MulticlassHinge: p must be 1 (hinge) or 2 (squared hinge); got {p!r}")
        if not isinstance(margin, (int, float, np.floating, np.integer)) or not margin > 0:
            raise ValueError(f"MulticlassHinge: margin must be a positive number; got {margin!r}")
        self.p, self.margin = p, float(margin)
        self.name = "hinge" if p == 1 else "squared_hinge"
        self.m = None

    def _margins(self, z, y):
        y = check_labels(z, y, "MulticlassHinge")
        rows = np.arange(z.shape[0])
        m = np.maximum(0.0, self.margin - z[rows, y][:, None] + z)
        m[rows, y] = 0.0
        return m, y

    def per_sample(self, z, y):
        """``(1/K) sum_j m[n, j]**p`` for every sample, ``(N,)``."""
        m, _ = self._margins(z, y)
        return (m ** self.p).sum(axis=1) / z.shape[1]

    def forward(self, z, y):
        """Mean hinge loss of scores ``z: (N, K)`` against labels ``y: (N,)``; returns a float."""
        self.m, self.y = self._margins(z, y)
        return float((self.m ** self.p).sum() / (z.shape[0] * z.shape[1]))

    def backward(self):
        """Gradient w.r.t. the scores, shape (N, K) (see Notes)."""
        if self.m is None:
            raise RuntimeError("call forward(z, y) before backward()")
        N, K = self.m.shape
        dtype = self.m.dtype.type                 # float32 scores give float32 gradients
        dz = np.where(self.m > 0, dtype(1.0) if self.p == 1 else dtype(2.0) * self.m, dtype(0.0)) / dtype(N * K)
        dz[np.arange(N), self.y] = -dz.sum(axis=1)
        return dz

    def __repr__(self):
        return f"MulticlassHinge(p={self.p}, margin={self.margin:g})"


def _squared_hinge():
    return MulticlassHinge(p=2)


LOSSES = {"cross_entropy": SoftmaxCrossEntropy, "nll": NLLLoss, "hinge": MulticlassHinge,
          "squared_hinge": _squared_hinge}


def get_loss(name="cross_entropy"):
    """A fresh loss object by name (see ``LOSSES``)."""
    return LOSSES[choice(name, "loss", "get_loss", sorted(LOSSES))]()
