"""Argument checks shared by every module: one place for the wording of bad-argument errors.

Each check returns the value (as a plain Python ``int`` or ``float`` for numbers), or raises an error
whose message names where the argument was given, the argument, what was given and what was expected::

    >>> integer(0, "stride", "Conv2D 'conv1'")
    Traceback (most recent call last):
    ValueError: Conv2D 'conv1': stride must be an integer >= 1; got 0

``TypeError`` when the value is not of the expected kind (a string, a bool, a float where an
integer is needed), ``ValueError`` when it is of the right kind but outside the allowed range
(including NaN and infinity). :func:`choice` checks a name against a fixed list;
:func:`check_4d` and :func:`check_float` check a layer's input; :func:`check_labels` checks a batch of
class labels against the logits they belong to.
"""
import math
from collections.abc import Hashable

import numpy as np

from .errors import ShapeError, describe


def integer(value, name, where, minimum=1):
    """An integer ``>= minimum`` (bools are rejected: ``True`` is not a layer size)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{where}: {name} must be an integer >= {minimum}; got {value!r} ({type(value).__name__})")
    if value < minimum:
        raise ValueError(f"{where}: {name} must be an integer >= {minimum}; got {value}")
    return int(value)


def pair(value, name, where, minimum=1):
    """An integer ``>= minimum`` or a pair of them, one per spatial axis, returned as ``(height, width)``.

    ``3 -> (3, 3)``, ``(3, 5) -> (3, 5)`` (a list works too: JSON files store pairs as lists), as
    PyTorch's ``kernel_size``, ``stride``, ``padding`` and ``dilation`` accept them.
    """
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"{where}: {name} must be an integer >= {minimum} or a pair (height, width) of them; "
                             f"got {tuple(value)!r} ({len(value)} values)")
        return (integer(value[0], f"{name}[0]", where, minimum), integer(value[1], f"{name}[1]", where, minimum))
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{where}: {name} must be an integer >= {minimum} or a pair (height, width) of them; "
                        f"got {value!r} ({type(value).__name__})")
    value = integer(value, name, where, minimum)
    return (value, value)


def flag(value, name, where):
    """A bool argument (``bias``, ``ceil_mode``, ``affine``, ...): True or False, nothing else."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{where}: {name} must be True or False; got {value!r} ({type(value).__name__})")
    return bool(value)


def compact(hw):
    """``(a, a) -> a`` and ``(a, b) -> (a, b)``: how a layer shows and saves a per-axis setting (an int when
    both axes agree, so a square layer's config is what it always was)."""
    return hw[0] if hw[0] == hw[1] else tuple(hw)


def count(value, name, where, meaning=""):
    """A positive integer (a batch size, a number of epochs or candidates).

    Any bad value — wrong type included — is a ``ValueError``: these usually come from a command
    line or a config, where "3.5" and "0" are the same kind of mistake.
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < 1:
        what = f"{name} ({meaning})" if meaning else name
        raise ValueError(f"{where}: {what} must be a positive integer; got {value!r}")
    return int(value)


def number(value, name, where, low=None, high=None, *, low_open=False, high_open=False, meaning=""):
    """A finite real number, optionally inside an interval.

    Parameters
    ----------
    value : the argument as given
    name, where : str
        The argument's name and the function or object it was given to, for the message.
    low, high : float or None
        Bounds of the allowed interval (None: unbounded on that side).
    low_open, high_open : bool
        Exclude the bound itself: ``low=0, low_open=True`` means ``> 0``.
    meaning : str
        What the number is, added to the message, e.g. ``"the fraction of filters dropped"``.

    Returns
    -------
    float
    """
    if low is not None and high is not None:
        expected = f"a number in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    elif low is not None:
        expected = f"a number {'>' if low_open else '>='} {low:g}"
    elif high is not None:
        expected = f"a number {'<' if high_open else '<='} {high:g}"
    else:
        expected = "a finite number"
    if meaning:
        expected += f" ({meaning})"
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{where}: {name} must be {expected}; got {value!r} ({type(value).__name__})")
    too_low = low is not None and (value <= low if low_open else value < low)
    too_high = high is not None and (value >= high if high_open else value > high)
    if not math.isfinite(value) or too_low or too_high:
        raise ValueError(f"{where}: {name} must be {expected}; got {value!r}")
    return float(value)


def choice(value, name, where, options):
    """One of a fixed set of ``options`` (e.g. an implementation or a rule name), returned unchanged."""
    if not isinstance(value, Hashable) or value not in set(options):
        raise ValueError(f"{where}: {name} must be one of {list(options)}; got {value!r}")
    return value


def check_4d(x, where, channels=None):
    """A floating-point batch of images ``x: (N, C, H, W)`` (with ``channels`` channels, when given).

    Raises ``TypeError`` for a non-array or a non-float dtype and :class:`~numpycnn.errors.ShapeError` for
    another number of dimensions (a 3-d input gets the hint to add a channel axis) or channels.
    """
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{where}: input x must be a numpy array of shape (N, C, H, W); got {type(x).__name__}")
    if x.ndim != 4:
        hint = " Add a channel axis: x[:, None, :, :]." if x.ndim == 3 else ""
        raise ShapeError(f"{where}: input x must have 4 dimensions (N, C, H, W); got shape {x.shape}.{hint}")
    if channels is not None and x.shape[1] != channels:
        raise ShapeError(f"{where}: input x must have {channels} channels (axis 1); got shape {x.shape}")
    if not np.issubdtype(x.dtype, np.floating):
        raise TypeError(
            f"{where}: input x must be a floating-point array; got dtype {x.dtype}. "
            f"Convert images first, e.g. x.astype(np.float32) / 255"
        )


def check_float(x, where, min_ndim=1):
    """A floating-point array ``x`` with at least ``min_ndim`` dimensions (the batch axis first).

    Raises ``TypeError`` for a non-array or a non-float dtype, :class:`~numpycnn.errors.ShapeError` for too
    few dimensions.
    """
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{where}: input x must be a numpy array; got {type(x).__name__}")
    if x.ndim < min_ndim:
        raise ShapeError(f"{where}: input x must have at least {min_ndim} dimensions (a batch axis first); "
                         f"got shape {x.shape}")
    if not np.issubdtype(x.dtype, np.floating):
        raise TypeError(f"{where}: input x must be floating point; got dtype {x.dtype}")


def check_labels(logits, y, where="loss"):
    """Validate ``logits: (N, K)`` and ``y: (N,)`` integer labels in ``[0, K)``; return ``y`` as int64."""
    if logits.ndim != 2:
        raise ShapeError(f"{where}: logits must have shape (N, K); got {describe(logits)}")
    if logits.shape[0] == 0:
        raise ShapeError(f"{where}: logits must hold at least one row (a batch of N >= 1 examples); got "
                         f"{describe(logits)}")
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
