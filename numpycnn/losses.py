"""Losses computed from logits, with their gradients.

``SoftmaxCrossEntropy`` (the default loss)::

    p   = softmax(z)                       z: (N, K) logits, p: (N, K)
    L   = -(1/N) * sum_n log p[n, y_n]      computed as logsumexp(z_n) - z[n, y_n]
    dL/dz = (p - onehot(y)) / N

``p - onehot(y)`` is what technique A's patent calls the *probability error*
(class-probability error); it is exposed as :meth:`SoftmaxCrossEntropy.probability_error`.

PyTorch's options (names and defaults of ``torch.nn.CrossEntropyLoss``, ``NLLLoss``, ``MultiMarginLoss``)
-------------------------------------------------------------------------------------------------------
``weight`` (one per class, ``w: (K,)``), ``ignore_index`` (labels equal to it contribute nothing),
``label_smoothing`` ``ε`` (cross-entropy), ``reduction`` ``"mean"`` | ``"sum"`` | ``"none"``. With
``keep_n = [y_n != ignore_index]`` and ``w_y(n) = w[y_n] · keep_n``, sample ``n``'s cross-entropy is::

    ℓ_n = (1 − ε) · w_y(n) · (−log p[n, y_n])  +  (ε/K) · keep_n · Σ_k w[k] · (−log p[n, k])

``"none"`` returns ``ℓ: (N,)``, ``"sum"`` ``Σ_n ℓ_n``, ``"mean"`` ``Σ_n ℓ_n / Σ_n w_y(n)`` — a mean
weighted by the targets' weights, as PyTorch's (0/0 = NaN when every label is ignored). The gradient
w.r.t. the log-probabilities is ``g[n, k] = −(1 − ε) w_y(n) [k = y_n] − (ε/K) keep_n w[k]``, and through
the softmax ``dz_n = g_n − p_n · Σ_k g[n, k]``, scaled like the loss (``1 / Σ_n w_y(n)`` for the mean).
Without options the loss runs the plain lines above, unchanged.
"""
import numpy as np

from .functional import log_softmax, onehot, softmax
from .validate import check_labels, choice, number

__all__ = ["LOSSES", "MulticlassHinge", "NLLLoss", "REDUCTIONS", "SoftmaxCrossEntropy", "check_labels", "get_loss",
           "log_softmax", "onehot", "softmax"]

#: the values of every loss's ``reduction``: the mean (default), the sum, or one loss per sample
REDUCTIONS = ("mean", "sum", "none")


class _ClassLoss:
    """What the losses share: PyTorch's ``weight``, ``reduction`` (and ``ignore_index``), checked once."""

    name = "loss"

    def __init__(self, weight=None, reduction="mean", ignore_index=None):
        where = type(self).__name__
        self.reduction = choice(reduction, "reduction", where, REDUCTIONS)
        self.weight = None
        if weight is not None:
            w = np.asarray(weight)
            if w.ndim != 1 or w.size == 0 or not np.issubdtype(w.dtype, np.number) or np.issubdtype(w.dtype, np.complexfloating):
                raise ValueError(f"{where}: weight must be a 1-d array of class weights (K,); got "
                                 f"{_describe_weight(weight)}")
            if not np.all(np.isfinite(w)) or np.any(w < 0):
                raise ValueError(f"{where}: weight must hold finite numbers >= 0 (one per class); got {w.tolist()}")
            self.weight = w.astype(np.float64)
        if ignore_index is not None and (isinstance(ignore_index, (bool, np.bool_))
                                         or not isinstance(ignore_index, (int, np.integer))):
            raise TypeError(f"{where}: ignore_index must be an integer (a label to ignore, e.g. -100); got "
                            f"{ignore_index!r} ({type(ignore_index).__name__})")
        self.ignore_index = None if ignore_index is None else int(ignore_index)
        self.dout = None

    def _weights(self, z):
        """The class weights ``(K,)`` in the logits' dtype (ones without ``weight``); checks K."""
        K = z.shape[1]
        if self.weight is None:
            return np.ones(K, dtype=z.dtype)
        if self.weight.shape[0] != K:
            raise ValueError(f"{type(self).__name__}: weight has {self.weight.shape[0]} entries but the logits "
                             f"have K = {K} classes")
        return self.weight.astype(z.dtype)

    def _labels(self, z, y):
        """``(y, keep)``: the labels checked against ``z`` (ignored ones read as 0) and the (N,) mask of the others."""
        y = np.asarray(y)
        keep = np.ones(y.shape, dtype=bool) if self.ignore_index is None else (y != self.ignore_index)
        return check_labels(z, np.where(keep, y, 0) if not keep.all() else y, type(self).__name__), keep

    def _reduce(self, losses, total):
        """``losses (N,)`` reduced as ``reduction`` says; ``total`` is the mean's divisor. Remembers the scale."""
        if self.reduction == "none":
            self.scale = None
            return losses
        if self.reduction == "sum":
            self.scale = 1.0
            return float(losses.sum())
        with np.errstate(invalid="ignore", divide="ignore"):     # 0/0 = NaN, as PyTorch's, when nothing counts
            self.scale = np.divide(1.0, total)
            return float(losses.sum() * self.scale)

    def _scaled(self, grad, dout):
        """``grad (N, K)`` of every sample's loss, times what the reduction makes of it (and of ``dout``)."""
        if self.reduction == "none":
            d = np.ones(grad.shape[0], dtype=grad.dtype) if dout is None else np.asarray(dout, dtype=grad.dtype)
            if d.shape != (grad.shape[0],):
                raise ValueError(f"{type(self).__name__}: with reduction='none', dout must have shape "
                                 f"({grad.shape[0]},), one gradient per sample's loss; got {np.shape(dout)}")
            return grad * d[:, None]
        scale = grad.dtype.type(self.scale)
        return grad * scale if dout is None else grad * (scale * grad.dtype.type(dout))

    def _options_repr(self, defaults):
        """``", weight=[...], reduction='sum'"``: the options that differ from their defaults, for ``__repr__``."""
        parts = []
        if self.weight is not None:
            parts.append(f"weight={self.weight.tolist()!r}")
        for name, default in defaults.items():
            value = getattr(self, name)
            if value != default:
                parts.append(f"{name}={value!r}")
        return ", ".join(parts)


def _describe_weight(weight):
    """Short description of a bad ``weight`` argument."""
    shape = np.shape(weight)
    return f"shape {shape}" if shape else repr(weight)


def _nll_terms(logp, y, keep, w, label_smoothing):
    """Per-sample ``ℓ_n`` (module docstring) from log-probabilities, and ``w_y = w[y] · keep`` (N,)."""
    rows = np.arange(logp.shape[0])
    w_y = w[y] * keep
    losses = -(1 - label_smoothing) * w_y * logp[rows, y]
    if label_smoothing:
        losses = losses - (label_smoothing / logp.shape[1]) * keep * (logp * w).sum(axis=1)
    return losses, w_y


def _nll_gradient(shape, y, keep, w, label_smoothing, dtype):
    """``g[n, k] = dℓ_n / dlogp[n, k] = −(1 − ε) w_y(n) [k = y_n] − (ε/K) keep_n w[k]``, shape (N, K)."""
    N, K = shape
    g = np.zeros(shape, dtype=dtype)
    g[np.arange(N), y] = -(1 - label_smoothing) * w[y] * keep
    if label_smoothing:
        g -= (label_smoothing / K) * keep[:, None] * w
    return g


class SoftmaxCrossEntropy(_ClassLoss):
    """Softmax cross-entropy from logits — ``torch.nn.CrossEntropyLoss`` with its options.

    Parameters
    ----------
    weight : array-like (K,) or None
        A weight per class (>= 0); the mean is then weighted by the targets' weights.
    ignore_index : int, default -100
        Samples with this label contribute nothing (and do not count in the mean).
    reduction : {"mean", "sum", "none"}, default "mean"
        ``"none"``: :meth:`forward` returns one loss per sample, ``(N,)``.
    label_smoothing : float in [0, 1], default 0
        ``ε``: the target is ``(1 − ε)·onehot(y) + ε/K``.

    Examples
    --------
    >>> loss = SoftmaxCrossEntropy()
    >>> L = loss.forward(z, y)          # z: (N, K) logits, y: (N,) labels
    >>> dz = loss.backward()            # (N, K) = (softmax(z) - onehot(y)) / N

    Notes
    -----
    Forward: ``L = mean_n [logsumexp(z_n) - z_n[y_n]]`` — finite for any finite
    logits, even ``±1e4``. Backward: ``dL/dz = (p - onehot(y)) / N``. With options: the module docstring.
    """

    name = "softmax_cross_entropy"

    def __init__(self, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0):
        super().__init__(weight, reduction, ignore_index)
        self.label_smoothing = number(label_smoothing, "label_smoothing", "SoftmaxCrossEntropy", low=0, high=1)
        #: True without options: :meth:`forward` and :meth:`backward` run the plain lines
        self.plain = self.weight is None and self.label_smoothing == 0 and self.reduction == "mean"
        self.p = None
        self.y = None
        self.general = False

    def forward(self, z, y):
        """Cross-entropy of logits ``z: (N, K)`` against labels ``y: (N,)``: a float (the mean, or the sum), or
        ``(N,)`` with ``reduction="none"``."""
        self.general = not self.plain or bool(np.any(np.asarray(y) == self.ignore_index))
        if self.general:
            return self._forward_general(z, y)
        y = check_labels(z, y, "SoftmaxCrossEntropy")
        logp = log_softmax(z)
        self.p = np.exp(logp)
        self.y = y
        return float(-logp[np.arange(z.shape[0]), y].mean())

    def per_sample(self, z, y):
        """Cross-entropy of every sample, ``(N,)`` (no averaging, no cache; with options, ``ℓ_n``)."""
        if not self.plain or np.any(np.asarray(y) == self.ignore_index):
            y, keep = self._labels(z, y)
            return _nll_terms(log_softmax(z), y, keep, self._weights(z), self.label_smoothing)[0]
        y = check_labels(z, y, "SoftmaxCrossEntropy")
        return -log_softmax(z)[np.arange(z.shape[0]), y]

    def probability_error(self):
        """The patent's *probability error* ``softmax(z) - onehot(y)``, shape (N, K); rows sum to 0."""
        if self.p is None:
            raise RuntimeError("call forward(z, y) before probability_error()")
        err = self.p.copy()
        err[np.arange(err.shape[0]), self.y] -= 1
        return err

    def backward(self, dout=None):
        """Gradient w.r.t. the logits, shape (N, K): ``probability_error() / N`` without options.

        ``dout``: the gradient of what :meth:`forward` returned — a number (default 1), or ``(N,)`` with
        ``reduction="none"`` (default: ones, the gradient of the losses' sum).
        """
        if self.general:
            return self._backward_general(dout)
        if dout is not None:
            return self.probability_error() / self.p.shape[0] * self.p.dtype.type(dout)
        return self.probability_error() / self.p.shape[0]

    def _forward_general(self, z, y):
        y, keep = self._labels(z, y)
        w = self._weights(z)
        logp = log_softmax(z)
        self.p, self.y, self.keep, self.w = np.exp(logp), y, keep, w
        losses, w_y = _nll_terms(logp, y, keep, w, self.label_smoothing)
        return self._reduce(losses, w_y.sum())

    def _backward_general(self, dout):
        if self.p is None:
            raise RuntimeError("call forward(z, y) before backward()")
        g = _nll_gradient(self.p.shape, self.y, self.keep, self.w, self.label_smoothing, self.p.dtype)
        dz = g - self.p * g.sum(axis=1, keepdims=True)          # through log-softmax
        return self._scaled(dz, dout)

    def __repr__(self):
        return f"SoftmaxCrossEntropy({self._options_repr(dict(ignore_index=-100, reduction='mean', label_smoothing=0.0))})"


class NLLLoss(_ClassLoss):
    """Negative log-likelihood of log-probabilities — ``torch.nn.NLLLoss`` (use after a
    :class:`~numpycnn.layers.LogSoftmax` layer).

    Parameters
    ----------
    weight : array-like (K,) or None
    ignore_index : int, default -100
    reduction : {"mean", "sum", "none"}, default "mean"
        As :class:`SoftmaxCrossEntropy`'s.

    Examples
    --------
    >>> loss = NLLLoss()
    >>> L = loss.forward(logp, y)       # logp: (N, K) log-probabilities, y: (N,) labels
    >>> dlogp = loss.backward()         # (N, K) = -onehot(y) / N

    Notes
    -----
    Forward: ``L = -(1/N) sum_n logp[n, y_n]``; backward: ``dL/dlogp = -onehot(y) / N``.
    ``LogSoftmax`` followed by ``NLLLoss`` equals ``SoftmaxCrossEntropy`` on the logits
    (PyTorch: ``nll_loss(log_softmax(z), y) == cross_entropy(z, y)``), options included
    (with ``ε = 0``: ``ℓ_n = −w_y(n) logp[n, y_n]``, gradient ``g`` of the module docstring).
    """

    name = "nll"

    def __init__(self, weight=None, ignore_index=-100, reduction="mean"):
        super().__init__(weight, reduction, ignore_index)
        self.plain = self.weight is None and self.reduction == "mean"
        self.shape = None
        self.y = None
        self.general = False

    def forward(self, logp, y):
        """Negative log-likelihood of ``logp: (N, K)`` against ``y: (N,)``: a float, or ``(N,)`` with
        ``reduction="none"``."""
        self.general = not self.plain or bool(np.any(np.asarray(y) == self.ignore_index))
        if self.general:
            y, keep = self._labels(logp, y)
            w = self._weights(logp)
            self.shape, self.y, self.dtype, self.keep, self.w = logp.shape, y, logp.dtype, keep, w
            losses, w_y = _nll_terms(logp, y, keep, w, 0.0)
            return self._reduce(losses, w_y.sum())
        y = check_labels(logp, y, "NLLLoss")
        self.shape, self.y, self.dtype = logp.shape, y, logp.dtype
        return float(-logp[np.arange(logp.shape[0]), y].mean())

    def per_sample(self, logp, y):
        """``-logp[n, y_n]`` for every sample, ``(N,)`` (with options, ``ℓ_n``)."""
        if not self.plain or np.any(np.asarray(y) == self.ignore_index):
            y, keep = self._labels(logp, y)
            return _nll_terms(logp, y, keep, self._weights(logp), 0.0)[0]
        y = check_labels(logp, y, "NLLLoss")
        return -logp[np.arange(logp.shape[0]), y]

    def backward(self, dout=None):
        """``dL/dlogp = -onehot(y) / N`` without options, shape (N, K); ``dout`` as in
        :meth:`SoftmaxCrossEntropy.backward`."""
        if self.y is None:
            raise RuntimeError("call forward(logp, y) before backward()")
        if self.general:
            return self._scaled(_nll_gradient(self.shape, self.y, self.keep, self.w, 0.0, self.dtype), dout)
        N, K = self.shape
        g = -onehot(self.y, K, dtype=self.dtype) / self.dtype.type(N)     # the logits' dtype
        return g if dout is None else g * self.dtype.type(dout)

    def __repr__(self):
        return f"NLLLoss({self._options_repr(dict(ignore_index=-100, reduction='mean'))})"


class MulticlassHinge(_ClassLoss):
    """Multiclass hinge loss (Crammer–Singer style sum over wrong classes, as ``torch.nn.MultiMarginLoss``).

    Parameters
    ----------
    p : int, 1 or 2 — ``p=2`` is the squared hinge used by Deeply-Supervised Nets' companion losses
    margin : float > 0 — the required gap ``Δ`` between the true class score and every other score
    weight : array-like (K,) or None
        A weight per class: sample ``n``'s terms are multiplied by ``w[y_n]`` (PyTorch's; the mean stays
        the plain mean over N).
    reduction : {"mean", "sum", "none"}, default "mean"

    Notes
    -----
    With ``z: (N, K)`` scores and ``m[n, j] = max(0, Δ - z[n, y_n] + z[n, j])`` for ``j != y_n``
    (``m[n, y_n] = 0``)::

        L = (1/N) sum_n (1/K) sum_j m[n, j]**p
        dL/dz[n, j]   = p * m[n, j]**(p-1) * [m[n, j] > 0] / (N K)          (j != y_n)
        dL/dz[n, y_n] = -sum_{j != y_n} dL/dz[n, j]

    The ``1/K`` factor matches PyTorch's ``multi_margin_loss``. Scores are used as they are
    (no softmax), so the loss is finite and exact for any finite logits. With ``weight`` each sample's
    terms (and gradient) are multiplied by ``w[y_n]``; ``"sum"`` drops the ``1/N``, ``"none"`` keeps one
    loss per sample.
    """

    def __init__(self, p=1, margin=1.0, weight=None, reduction="mean"):
        if p not in (1, 2) or isinstance(p, bool):
            raise ValueError(f"MulticlassHinge: p must be 1 (hinge) or 2 (squared hinge); got {p!r}")
        if not isinstance(margin, (int, float, np.floating, np.integer)) or not margin > 0:
            raise ValueError(f"MulticlassHinge: margin must be a positive number; got {margin!r}")
        super().__init__(weight, reduction)
        self.p, self.margin = p, float(margin)
        self.name = "hinge" if p == 1 else "squared_hinge"
        self.plain = self.weight is None and self.reduction == "mean"
        self.m = None

    def _margins(self, z, y):
        y = check_labels(z, y, "MulticlassHinge")
        rows = np.arange(z.shape[0])
        m = np.maximum(0.0, self.margin - z[rows, y][:, None] + z)
        m[rows, y] = 0.0
        return m, y

    def per_sample(self, z, y):
        """``(1/K) sum_j m[n, j]**p`` for every sample, ``(N,)`` (times ``w[y_n]`` with ``weight``)."""
        m, y = self._margins(z, y)
        losses = (m ** self.p).sum(axis=1) / z.shape[1]
        return losses if self.weight is None else losses * self._weights(z)[y]

    def forward(self, z, y):
        """Hinge loss of scores ``z: (N, K)`` against labels ``y: (N,)``: a float, or ``(N,)`` with
        ``reduction="none"``."""
        self.m, self.y = self._margins(z, y)
        if not self.plain:
            return self._reduce(self.per_sample(z, y), z.shape[0])
        return float((self.m ** self.p).sum() / (z.shape[0] * z.shape[1]))

    def backward(self, dout=None):
        """Gradient w.r.t. the scores, shape (N, K) (see Notes); ``dout`` as in :meth:`SoftmaxCrossEntropy.backward`."""
        if self.m is None:
            raise RuntimeError("call forward(z, y) before backward()")
        N, K = self.m.shape
        dtype = self.m.dtype.type                 # float32 scores give float32 gradients
        if not self.plain:
            dz = np.where(self.m > 0, dtype(1.0) if self.p == 1 else dtype(2.0) * self.m, dtype(0.0)) / dtype(K)
            if self.weight is not None:
                dz = dz * self._weights(self.m)[self.y][:, None]
            dz[np.arange(N), self.y] = -dz.sum(axis=1)
            return self._scaled(dz, dout)
        dz = np.where(self.m > 0, dtype(1.0) if self.p == 1 else dtype(2.0) * self.m, dtype(0.0)) / dtype(N * K)
        dz[np.arange(N), self.y] = -dz.sum(axis=1)
        return dz if dout is None else dz * dtype(dout)

    def __repr__(self):
        options = self._options_repr(dict(reduction="mean"))
        return f"MulticlassHinge(p={self.p}, margin={self.margin:g}{', ' + options if options else ''})"


def _squared_hinge():
    return MulticlassHinge(p=2)


LOSSES = {"cross_entropy": SoftmaxCrossEntropy, "nll": NLLLoss, "hinge": MulticlassHinge,
          "squared_hinge": _squared_hinge}


def get_loss(name="cross_entropy"):
    """A fresh loss object by name (see ``LOSSES``)."""
    return LOSSES[choice(name, "loss", "get_loss", sorted(LOSSES))]()
