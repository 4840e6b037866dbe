"""Train / val / test splits: limits, a stratified validation split, normalisation with train statistics.

Every split is returned NCHW, the layout the layers use::

    x: (N, C, H, W) float32     y: (N,) int64 class indices

Preprocessing (recorded in :meth:`DataSplits.metadata` so a saved model can reapply it)::

    x = (raw / scale - mean) / std

with ``scale`` the raw pixel maximum (16 for digits, 255 otherwise) and one scalar ``mean`` / ``std``
computed over every pixel of the TRAIN split only (never val/test).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import ShapeError, describe
from ..validate import count, integer, number
from .cifar import CIFAR10_CLASSES, read_cifar10_dir, rgb_to_grayscale
from .digits import DIGIT_CLASSES, DIGITS_TEST_FRACTION, load_digits
from .discovery import _check_name, find_dataset_dir
from .idx import FASHION_MNIST_CLASSES, load_mnist_dir


@dataclass(repr=False)
class Dataset:
    """One split of a data set.

    Parameters
    ----------
    x : np.ndarray, shape (N, C, H, W)
        Inputs; float32 and already normalised when returned by :func:`load_dataset`.
    y : np.ndarray, shape (N,)
        Integer class indices (int64 from :func:`load_dataset`).
    """

    x: np.ndarray
    y: np.ndarray

    def __post_init__(self):
        y_shape = getattr(self.y, "shape", None)
        if y_shape is None or len(y_shape) != 1:
            raise ShapeError(f"Dataset: y must be a 1-D array of class indices (N,); got {describe(self.y)}")
        if len(self.x) != len(self.y):
            raise ShapeError(f"Dataset: x and y must hold the same number of examples; "
                             f"got x {describe(self.x)} and y {describe(self.y)}")

    def __len__(self):
        return len(self.y)

    def __repr__(self):
        return f"Dataset(x={tuple(self.x.shape)} {self.x.dtype}, y={tuple(self.y.shape)} {self.y.dtype})"


@dataclass(repr=False)
class DataSplits:
    """Train / val / test splits of one data set plus the preprocessing that was applied.

    Parameters
    ----------
    train, test : Dataset
    val : Dataset or None
        ``None`` when ``val_fraction=0``.
    classes : list of str
        Class names; ``classes[k]`` is the name of label ``k``.
    name : str
        One of :data:`DATASETS`.
    mean, std : float
        Scalar normalisation constants computed on the train split, in [0, 1] pixel units.
    scale : float
        Raw pixel maximum; preprocessing is ``x = (raw / scale - mean) / std``.
    """

    train: Dataset
    val: Dataset | None
    test: Dataset
    classes: list[str]
    name: str
    mean: float
    std: float
    scale: float

    @property
    def input_shape(self):
        """(C, H, W) of one example."""
        return tuple(int(s) for s in self.train.x.shape[1:])

    @property
    def num_classes(self):
        """Number of classes, ``len(classes)``."""
        return len(self.classes)

    def metadata(self):
        """JSON-able description of the data and its preprocessing.

        Returns
        -------
        dict
            ``name``, ``classes``, ``mean``, ``std``, ``scale`` and ``input_shape`` (a list
            ``[C, H, W]``). A model trained on these splits reapplies
            ``x = (raw / scale - mean) / std``; for ``cifar10`` with ``input_shape[0] == 1``
            the raw RGB image is first converted with :func:`rgb_to_grayscale`.
        """
        return {"name": self.name, "classes": list(self.classes), "mean": float(self.mean),
                "std": float(self.std), "scale": float(self.scale), "input_shape": list(self.input_shape)}

    def __repr__(self):
        val = "None" if self.val is None else f"{len(self.val)}"
        return (f"DataSplits(name={self.name!r}, train={len(self.train)}, val={val}, test={len(self.test)}, "
                f"input_shape={self.input_shape}, num_classes={self.num_classes}, "
                f"mean={self.mean:.4f}, std={self.std:.4f}, scale={self.scale:g})")


def _stratified_pick(labels, k, rng):
    """Split ``arange(len(labels))`` into k picked indices and the rest, stratified by label.

    Indices are shuffled, grouped by class (random order inside each class), and every
    position ``i`` with ``floor((i+1) k / n) > floor(i k / n)`` is picked: exactly ``k``
    evenly spaced picks, so each class contributes ``floor`` or ``ceil`` of its share.
    Both returned index arrays are in random order.
    """
    n = len(labels)
    perm = rng.permutation(n)
    order = perm[np.argsort(labels[perm], kind="stable")]
    pos = np.arange(n, dtype=np.int64)
    picked = ((pos + 1) * k) // n > (pos * k) // n
    return rng.permutation(order[picked]), rng.permutation(order[~picked])


def _first_n_shuffled(n, limit, rng):
    """Indices of the first ``limit`` items after a seeded shuffle, or all of them in file order."""
    if limit is None:
        return np.arange(n)
    return rng.permutation(n)[:min(limit, n)]


def _mean_std(x, rows_per_chunk=4096):
    """Scalar mean and std over all entries of ``x``, accumulated in float64 chunk by chunk."""
    flat = x.reshape(len(x), -1)
    total = 0.0
    for i in range(0, len(flat), rows_per_chunk):
        total += float(flat[i:i + rows_per_chunk].sum(dtype=np.float64))
    mean = total / flat.size
    sq = 0.0
    for i in range(0, len(flat), rows_per_chunk):
        d = flat[i:i + rows_per_chunk].astype(np.float64) - mean
        sq += float(np.einsum("ij,ij->", d, d))
    return mean, math.sqrt(sq / flat.size)


def _load_raw(name, data_dir):
    """Raw uint8 arrays ((x_train, y_train), (x_test, y_test)) with x (N, C, H, W), or None for digits."""
    if name == "digits":
        return None
    directory = find_dataset_dir(name, data_dir)
    if name == "cifar10":
        return read_cifar10_dir(directory)
    (x_tr, y_tr), (x_te, y_te) = load_mnist_dir(directory)
    return (x_tr[:, None], y_tr), (x_te[:, None], y_te)


def load_dataset(name="digits", *, data_dir=None, val_fraction=0.1, seed=0, train_limit=None, test_limit=None,
                 grayscale=False, normalize=True, dtype=np.float32):
    """Load a data set as normalised NCHW train / val / test splits.

    Parameters
    ----------
    name : {"digits", "mnist", "fashion-mnist", "cifar10"}
        ``"digits"`` is embedded; the others are found with :func:`find_dataset_dir`.
    data_dir : str or os.PathLike, optional
        Where to look first (ignored for ``"digits"``).
    val_fraction : float in [0, 1)
        Fraction of the (limited) training pool held out as the val split, rounded to the
        nearest integer count (at least 1 when > 0), stratified by class. ``0`` gives
        ``val=None``.
    seed : int >= 0
        Seeds every random choice; same arguments, same splits, bit for bit. Independent
        streams ``default_rng([seed, k])`` are used for the digits test split (k=0), the
        train limit (1), the val split (2) and the test limit (3), so e.g. changing
        ``test_limit`` does not change the train split.
    train_limit, test_limit : int > 0, optional
        Keep the first ``min(limit, N)`` examples after a seeded shuffle (not stratified).
        ``train_limit`` is applied *before* the val split, so train + val = train_limit.
    grayscale : bool
        ``cifar10`` only: RGB -> one channel with :func:`rgb_to_grayscale`
        (``0.299 R + 0.587 G + 0.114 B``), giving input_shape (1, 32, 32). No effect on the
        single-channel data sets.
    normalize : bool
        ``True``: ``x = (raw / scale - mean) / std`` with scalar mean/std of the train split.
        ``False``: ``x = raw / scale`` in [0, 1], recorded as mean=0, std=1.
    dtype : float dtype
        dtype of every ``x`` (``y`` is always int64).

    Returns
    -------
    DataSplits
        ``x`` (N, C, H, W) ``dtype``, ``y`` (N,) int64. Sizes with the defaults:

        * digits: test = round(0.2 * 1797) = 359 (stratified), val = round(0.1 * 1438) = 144,
          train = 1294;
        * mnist / fashion-mnist: train 54000, val 6000, test 10000 (all 70000 images);
        * cifar10: train 45000, val 5000, test 10000.

    Raises
    ------
    ValueError
        Unknown ``name``, ``val_fraction`` outside [0, 1), a seed < 0, a limit that is not a positive
        integer, a non-float ``dtype``, an empty split, or a train split with zero pixel variance.
    TypeError
        A ``seed`` that is not an integer or a ``val_fraction`` that is not a number.
    DatasetNotFoundError, DataFormatError
        Missing or corrupted files.
    """
    _check_name(name)
    val_fraction = number(val_fraction, "val_fraction", "load_dataset", low=0, high=1, high_open=True)
    seed = integer(seed, "seed", "load_dataset", minimum=0)
    train_limit = None if train_limit is None else count(train_limit, "train_limit", "load_dataset",
                                                         meaning="the number of examples to keep")
    test_limit = None if test_limit is None else count(test_limit, "test_limit", "load_dataset",
                                                       meaning="the number of examples to keep")
    try:
        dtype = np.dtype(dtype)
    except TypeError as err:
        raise ValueError(f"dtype must be a floating-point dtype such as np.float32; got {describe(dtype)}") from err
    if dtype.kind != "f":
        raise ValueError(f"dtype must be a floating-point dtype such as np.float32; got {dtype}")

    # 1. raw uint8 arrays
    raw = _load_raw(name, data_dir)
    if raw is None:  # digits: a stratified 20 % test split of the 1797 images
        images, labels = load_digits()
        n_test = int(round(DIGITS_TEST_FRACTION * len(labels)))
        test_idx, pool_idx = _stratified_pick(labels, n_test, np.random.default_rng([seed, 0]))
        images = images[:, None]
        (x_pool, y_pool), (x_test, y_test) = (images[pool_idx], labels[pool_idx]), (images[test_idx], labels[test_idx])
        classes, scale = DIGIT_CLASSES, 16.0
    else:
        (x_pool, y_pool), (x_test, y_test) = raw
        classes = CIFAR10_CLASSES if name == "cifar10" else (FASHION_MNIST_CLASSES if name == "fashion-mnist"
                                                             else DIGIT_CLASSES)
        scale = 255.0
    for split, y in (("train", y_pool), ("test", y_test)):
        if len(y) == 0:
            raise ValueError(f"dataset {name!r}: the {split} split in the files is empty (0 examples)")

    # 2. limits (first n after a seeded shuffle), then the stratified val split
    keep = _first_n_shuffled(len(y_pool), train_limit, np.random.default_rng([seed, 1]))
    x_pool, y_pool = x_pool[keep], y_pool[keep].astype(np.int64)
    keep = _first_n_shuffled(len(y_test), test_limit, np.random.default_rng([seed, 3]))
    x_test, y_test = x_test[keep], y_test[keep].astype(np.int64)
    if val_fraction > 0:
        n_val = max(1, int(round(val_fraction * len(y_pool))))
        if n_val >= len(y_pool):
            raise ValueError(f"val_fraction={val_fraction} of {len(y_pool)} training examples leaves no training "
                             f"examples; use more data (train_limit) or a smaller val_fraction")
        val_idx, train_idx = _stratified_pick(y_pool, n_val, np.random.default_rng([seed, 2]))
        parts = {"train": (x_pool[train_idx], y_pool[train_idx]), "val": (x_pool[val_idx], y_pool[val_idx])}
    else:
        parts = {"train": (x_pool, y_pool), "val": None}
    parts["test"] = (x_test, y_test)

    # 3. grayscale, scale to [0, 1], normalise with train statistics
    def to_float(x):
        if grayscale and name == "cifar10":
            x = rgb_to_grayscale(x, dtype=dtype)  # channel by channel: no 3-channel float copy
        else:
            x = x.astype(dtype)
        x /= dtype.type(scale)
        return x

    parts = {k: None if v is None else (to_float(v[0]), v[1]) for k, v in parts.items()}
    mean, std = 0.0, 1.0
    if normalize:
        mean, std = _mean_std(parts["train"][0])
        if not std > 0:
            raise ValueError(f"dataset {name!r}: the train split has zero pixel variance (every pixel equals "
                             f"{mean * scale:g}); cannot normalise; pass normalize=False")
        for v in parts.values():
            if v is not None:
                v[0][...] -= dtype.type(mean)
                v[0][...] /= dtype.type(std)
    ds = {k: None if v is None else Dataset(v[0], v[1]) for k, v in parts.items()}
    return DataSplits(train=ds["train"], val=ds["val"], test=ds["test"], classes=list(classes), name=name,
                      mean=float(mean), std=float(std), scale=float(scale))
