"""Softmax, log-softmax and one-hot rows, written once for the layers, the losses and the techniques.

Shapes: ``z: (..., K)`` scores along the last axis (``(N, K)`` logits in practice)::

    softmax(z)_k     = exp(z_k - m) / sum_j exp(z_j - m)          m = max_j z_j
    log_softmax(z)_k = (z_k - m) - log sum_j exp(z_j - m)

Subtracting the row maximum ``m`` changes nothing mathematically (softmax ignores a constant shift)
and keeps every ``exp`` at most 1, so neither overflows for any finite ``z``. Both keep the dtype of
``z``.
"""
import numpy as np


def softmax(z):
    """Stable softmax along the last axis (subtracts the row maximum first); shape and dtype of ``z``."""
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def log_softmax(z):
    """Stable ``log softmax(z)`` along the last axis: ``z - max - log(sum(exp(z - max)))``."""
    shifted = z - z.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def onehot(y, num_classes, dtype=np.float64):
    """One-hot rows: ``(N,)`` integer labels -> ``(N, K)`` with a 1 at ``[n, y_n]``, 0 elsewhere."""
    out = np.zeros((y.shape[0], num_classes), dtype=dtype)
    out[np.arange(y.shape[0]), y] = 1
    return out
