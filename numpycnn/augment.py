"""Data augmentation: random shifts and horizontal flips of a batch, seeded, applied in the training loop.

A :class:`Augment` maps a batch ``x: (N, C, H, W)`` to a new batch of the same shape and dtype, image by
image (the input is never written to)::

    shift:  pad every image by s pixels with a fill value, then crop an H×W window at a random offset
            (dy, dx) ∈ {0 … 2s}² — the image moves by up to s pixels in each direction. This is the
            *random crop after padding* of the ResNet papers' CIFAR-10 recipe (s = 4) and of
            torchvision's ``RandomCrop(H, padding=s)``: the offsets are drawn, in this order, as
            ``dy, dx = rng.integers(0, 2 * s + 1, size=(2, N))``
    flip:   mirror the image left–right with probability 1/2 (drawn after the offsets, as
            ``rng.random(N) < 0.5``)

The randomness comes from the ``np.random.Generator`` passed in. The :class:`~numpycnn.training.Trainer`
passes ``default_rng([seed, step, stream])``, so a run (and a resumed run) sees the same views, and each
network of technique D (``stream = i``) sees its own view of the same batch.

``python -m numpycnn train --augment shift:2,flip`` (:func:`parse_augment`).
"""
import numpy as np

from .errors import ShapeError, describe
from .validate import integer


class Augment:
    """Random shifts (zero motion to ``shift`` pixels each way) and, optionally, horizontal flips.

    Parameters
    ----------
    shift : int >= 0 — the largest translation in pixels (0: no shift)
    flip : bool — mirror left–right with probability 1/2 (right for clothes and natural images; wrong for
        digits, whose mirror images are other symbols)
    fill : float or None — the value of the pixels shifted in; None: each image's minimum (its background
        for Fashion-MNIST and MNIST, whatever the normalisation)

    Examples
    --------
    >>> aug = Augment(shift=2, flip=True)
    >>> x2 = aug(x, np.random.default_rng(0))        # x: (N, C, H, W) -> (N, C, H, W), a new array
    """

    def __init__(self, shift=2, flip=False, fill=None):
        self.shift = integer(shift, "shift", "Augment", minimum=0)
        self.flip = bool(flip)
        self.fill = None if fill is None else float(fill)

    def __call__(self, x, rng):
        """A randomly shifted / flipped copy of ``x: (N, C, H, W)``, same shape and dtype."""
        if not isinstance(x, np.ndarray) or x.ndim != 4:
            raise ShapeError(f"Augment: x must be a batch of images (N, C, H, W); got {describe(x)}")
        if not isinstance(rng, np.random.Generator):
            raise TypeError(f"Augment: rng must be a numpy.random.Generator; got {type(rng).__name__}")
        N, C, H, W = x.shape
        s = self.shift
        out = x
        if s:
            fill = x.reshape(N, -1).min(axis=1) if self.fill is None else np.full(N, self.fill)
            padded = np.empty((N, C, H + 2 * s, W + 2 * s), dtype=x.dtype)
            padded[...] = fill.astype(x.dtype)[:, None, None, None]
            padded[:, :, s:s + H, s:s + W] = x
            dy, dx = rng.integers(0, 2 * s + 1, size=(2, N))             # offsets of the crop window
            rows = (dy[:, None] + np.arange(H))[:, None, :, None]          # (N, 1, H, 1)
            cols = (dx[:, None] + np.arange(W))[:, None, None, :]          # (N, 1, 1, W)
            out = padded[np.arange(N)[:, None, None, None], np.arange(C)[None, :, None, None], rows, cols]
        if self.flip:
            mirror = rng.random(N) < 0.5
            out = np.where(mirror[:, None, None, None], out[..., ::-1], out)
        return out.copy() if out is x else out

    def config(self):
        return {"shift": self.shift, "flip": self.flip, "fill": self.fill}

    def __repr__(self):
        return f"Augment(shift={self.shift}, flip={self.flip}, fill={self.fill})"


def parse_augment(text):
    """An :class:`Augment` from ``"shift:2,flip"`` (``--augment``); ``None`` for ``""`` or ``"none"``."""
    if text is None or text.strip().lower() in ("", "none"):
        return None
    shift, flip = 0, False
    for part in text.split(","):
        key, _, value = part.strip().partition(":")
        if key == "shift":
            try:
                shift = int(value or 2)
            except ValueError:
                raise ValueError(f"--augment: shift takes a number of pixels, e.g. shift:2; got {part!r}") from None
        elif key == "flip" and not value:
            flip = True
        else:
            raise ValueError(f"--augment must be a comma-separated list of shift:PIXELS and flip, e.g. "
                             f"'shift:2,flip'; got {text!r}")
    return Augment(shift=shift, flip=flip)
