"""Losses computed from logits, with their gradients.

``SoftmaxCrossEntropy`` (the default loss)::

    p   = softmax(z)                       z: (N, K) logits, p: (N, K)
    L   = -(1/N) * sum_n log p[n, y_n]      computed as logsumexp(z_n) - z[n, y_n]
    dL/dz = (p - onehot(y)) / N

``p - onehot(y)`` is what technique A's patent calls the *probability error*
(class-probability error); it is exposed as :meth:`SoftmaxCrossEntropy.probability_error`.
"""
import numpy as np

from .errors import ShapeError, describe


def log_softmax(z):
    """Stable ``log softmax(z)`` along the last axis: ``z - max - log(sum(exp(z - max)))``."""
    zmax = z.max(axis=-1, keepdims=True)
    shifted = z - zmax
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def softmax(z):
    """Stable softmax along the last axis (subtracts the row maximum first)."""
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def onehot(y, num_classes, dtype=np.float64):
    """One-hot rows: ``(N,)`` int labels -> ``(N, K)``."""
    out = np.zeros((y.shape[0], num_classes), dtype=dtype)
    out[np.arange(y.shape[0]), y] = 1
    return out


def check_labels(logits, y, where="loss"):
    """Validate ``logits: (N, K)`` and ``y: (N,)`` integer labels in ``[0, K)``; return ``y`` as int64."""
    if logits.ndim != 2:
        raise ShapeError(f"{where}: logits must have shape (N, K); got {describe(logits)}")
    y = np.asarray(y)
    if y.ndim != 1 or y.shape[0] != logits.shape[0]:
        raise ShapeError(
            f"{where}: labels y must have shape ({logits.shape[0]},) to match the {logits.shape[0]} logits rows; "
            f"got {describe(y)}"
        )
    if y.size and not np.issubdtype(y.dtype, np.integer):
        raise TypeError(f"{where}: labels y must be integers (class indices); got dtype {y.dtype}")
    K = logits.shape[1]
    if y.size and (y.min() < 0 or y.max() >= K):
        raise ValueError(
            f"{where}: labels y must lie in [0, {K - 1}] for {K} classes; got values from {y.min()} to {y.max()}"
        )
    return y.astype(np.int64, copy=False)


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


LOSSES = {"cross_entropy": SoftmaxCrossEntropy}


def get_loss(name="cross_entropy"):
    """A fresh loss object by name (see ``LOSSES``)."""
    try:
        return LOSSES[name]()
    except KeyError:
        raise ValueError(f"loss must be one of {sorted(LOSSES)}; got {name!r}") from None
