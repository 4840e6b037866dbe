"""Gradient checking: compare analytic gradients with central differences.

For a scalar function ``f`` of an array ``x``, the central difference::

    df/dx[i]  ~  (f(x + h e_i) - f(x - h e_i)) / (2h)

has error ``O(h^2)``. Run it in **float64**: in float32 the rounding error of
``f`` (about 1e-7 relative) divided by ``2h`` swamps the result.

To check a layer we use a random upstream gradient ``R`` and the scalar
``f(x) = sum(layer.forward(x) * R)``; then ``df/dx = layer.backward(R)``.

The relative error of a tensor is ``max|a - n| / max(max|a|, max|n|)`` (one
number per tensor, robust to entries that are 0). In float64 a correct backward
gives about 1e-9 or less; above 1e-7 something is wrong.

Inputs away from kinks keep the tolerance tight: a central difference across a kink (ReLU at 0, a
tie inside a max-pool window) measures neither side's derivative. :func:`away_from_zero` and
:func:`distinct_values` make such inputs; every gradient check of the tests and of
``python -m numpycnn gradcheck`` uses them.
"""
import warnings
from dataclasses import dataclass, field

import numpy as np

from .losses import SoftmaxCrossEntropy


@dataclass
class GradcheckResult:
    """Outcome of a gradient check.

    Attributes
    ----------
    max_rel_error : float
        Worst relative error over every checked tensor.
    where : str
        ``"<tensor>[index]"`` of the worst absolute difference.
    errors : dict
        Relative error per tensor (``"x"``, ``"W"``, ``"conv1.W"``, ...).
    tol : float
    """
    max_rel_error: float
    where: str
    errors: dict = field(default_factory=dict)
    tol: float = 1e-7

    @property
    def passed(self):
        return self.max_rel_error < self.tol

    def __str__(self):
        status = "PASS" if self.passed else "FAIL"
        return f"{status}: max relative error {self.max_rel_error:.2e} at {self.where} (tol {self.tol:.0e})"


def away_from_zero(rng, shape, margin=0.1):
    """Normal samples with ``|x| >= margin``: no ReLU kink within a finite-difference step of any entry.

    Entries with ``|x| < margin`` move by ``margin`` away from 0 (keeping their sign), so the values
    stay continuous in ``x`` and in ``[margin, 2·margin)`` near 0.

    Parameters
    ----------
    rng : np.random.Generator
    shape : tuple of int
    margin : float > 0

    Returns
    -------
    ndarray of ``shape``, float64
    """
    x = rng.standard_normal(shape)
    return np.where(np.abs(x) < margin, np.sign(x + 1e-12) * margin + x, x)


def distinct_values(rng, shape):
    """A random permutation of ``n = prod(shape)`` evenly spaced values in ``[-2, 2)``: no two entries are
    closer than ``4/n``, so no max-pool window holds a tie (nor a near-tie a step ``h`` could flip).

    Returns
    -------
    ndarray of ``shape``, float64
    """
    n = int(np.prod(shape))
    return (rng.permutation(n).reshape(shape) / n - 0.5) * 4


def relative_error(analytic, numeric):
    """``max|a - n| / max(max|a|, max|n|)``; 0 when both are exactly 0."""
    scale = max(np.abs(analytic).max(initial=0), np.abs(numeric).max(initial=0))
    diff = np.abs(analytic - numeric).max(initial=0)
    return 0.0 if scale == 0 else float(diff / scale)


def numerical_gradient(f, x, h=1e-6, indices=None):
    """Central-difference gradient of the scalar function ``f()`` w.r.t. the array ``x``.

    ``x`` is perturbed **in place** (and restored), so ``f`` must read it.

    Parameters
    ----------
    f : callable () -> float
    x : ndarray (float64 recommended)
    h : float
    indices : list of index tuples, optional
        Only these entries are computed (others are left NaN).

    Returns
    -------
    ndarray of x's shape
    """
    if x.dtype != np.float64:
        warnings.warn(f"numerical_gradient on {x.dtype}: use float64, float32 rounding swamps central differences",
                      stacklevel=2)
    grad = np.full(x.shape, np.nan) if indices is not None else np.zeros(x.shape)
    it = indices if indices is not None else np.ndindex(*x.shape)
    for idx in it:
        old = x[idx]
        x[idx] = old + h
        fp = f()
        x[idx] = old - h
        fm = f()
        x[idx] = old
        grad[idx] = (fp - fm) / (2 * h)
    return grad


def _sample(shape, max_entries, rng):
    size = int(np.prod(shape))
    if max_entries is None or size <= max_entries:
        return None
    flat = rng.choice(size, size=max_entries, replace=False)
    return [np.unravel_index(i, shape) for i in flat]


def _compare(named, max_entries, rng, f, tol):
    errors, worst, where = {}, -1.0, ""
    for name, arr, analytic in named:
        idx = _sample(arr.shape, max_entries, rng)
        numeric = numerical_gradient(f, arr, indices=idx)
        if idx is not None:
            sel = tuple(np.array(i) for i in zip(*idx))
            a, n = analytic[sel], numeric[sel]
        else:
            a, n = analytic, numeric
        err = relative_error(a, n)
        errors[name] = err
        if err > worst:
            worst = err
            diff = np.abs(a - n)
            k = int(np.argmax(diff)) if diff.size else 0
            pos = idx[k] if idx is not None else np.unravel_index(k, arr.shape)
            where = f"{name}[{', '.join(str(int(i)) for i in pos)}]"
    return GradcheckResult(max(worst, 0.0), where, errors, tol)


def check_layer(layer, x, seed=0, max_entries=None, tol=1e-7):
    """Check ``layer.backward`` (input and parameter gradients) against central differences.

    Parameters
    ----------
    layer : Layer with float64 parameters (``layer.astype(np.float64)``)
    x : float64 ndarray, the input
    seed : int, for the random upstream gradient and entry sampling
    max_entries : int, optional — check at most this many entries per tensor

    Returns
    -------
    GradcheckResult
    """
    rng = np.random.default_rng(seed)
    x = np.array(x, dtype=np.float64)
    R = rng.standard_normal(layer.forward(x).shape)
    dx = layer.backward(R).copy()
    analytic = {k: g.copy() for k, g in layer.grads.items()}

    def f():
        return float(np.sum(layer.forward(x) * R))
    named = [("x", x, dx)] + [(k, layer.params[k], analytic[k]) for k in layer.params]
    return _compare(named, max_entries, rng, f, tol)


def check_loss(loss, z, y, seed=0, tol=1e-7):
    """Check ``loss.backward()`` w.r.t. the logits ``z: (N, K)`` against central differences."""
    z = np.array(z, dtype=np.float64)
    loss.forward(z, y)
    dz = loss.backward().copy()
    return _compare([("z", z, dz)], None, np.random.default_rng(seed), lambda: loss.forward(z, y), tol)


def check_model(model, x, y, loss=None, seed=0, max_entries=20, tol=1e-7):
    """Check every parameter gradient of a whole model (float64) for ``loss(model(x), y)``.

    Backward hooks on the model (e.g. a branch supervisor) take part, so the check
    covers whatever total loss they add — pass a ``loss_fn`` through the model hooks.
    """
    loss = loss or SoftmaxCrossEntropy()
    rng = np.random.default_rng(seed)
    x = np.array(x, dtype=np.float64)
    loss.forward(model.forward(x), y)
    model.backward(loss.backward())
    named = [(n, p, g.copy()) for n, p, g in model.named_parameters()]
    return _compare(named, max_entries, rng, lambda: loss.forward(model.forward(x), y), tol)
