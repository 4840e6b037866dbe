"""Datasets: the embedded digits set, MNIST, Fashion-MNIST and CIFAR-10, read from standard files.

Nothing is ever downloaded. ``digits`` ships inside the package; the others are read
from a directory you provide (``data_dir=`` / ``--data-dir``), from ``$NUMPYCNN_DATA``,
or, for Fashion-MNIST, from the Debian package ``dataset-fashion-mnist``
(``/usr/share/datasets/fashion-mnist``). See :func:`find_dataset_dir`.

Every split is returned NCHW, the layout the layers use::

    x: (N, C, H, W) float32     y: (N,) int64 class indices

Preprocessing (recorded in :meth:`DataSplits.metadata` so a saved model can reapply it)::

    x = (raw / scale - mean) / std

with ``scale`` the raw pixel maximum (16 for digits, 255 otherwise) and one scalar
``mean`` / ``std`` computed over every pixel of the TRAIN split only (never val/test).

* ``"digits"`` -- embedded ``numpycnn/data/digits.npz``; input_shape (1, 8, 8); scale 16.
* ``"mnist"``, ``"fashion-mnist"`` -- four IDX files (raw or .gz); (1, 28, 28); scale 255.
* ``"cifar10"`` -- six CIFAR-10 batches (binary or python version); (3, 32, 32), or
  (1, 32, 32) with ``grayscale=True``; scale 255.

Data provenance and licences
----------------------------
* **digits** -- 1797 greyscale 8x8 images, pixel values 0..16, ten classes "0".."9". It is
  the test set of the UCI ML "Optical Recognition of Handwritten Digits" data set
  (E. Alpaydin and C. Kaynak, 1998), in the copy bundled with scikit-learn
  (``sklearn.datasets.load_digits``) and redistributed under scikit-learn's BSD-3-Clause
  licence.
* **MNIST** -- Y. LeCun, C. Cortes and C. J. C. Burges.
* **Fashion-MNIST** -- H. Xiao, K. Rasul and R. Vollgraf (Zalando Research), MIT licence.
* **CIFAR-10** -- A. Krizhevsky, "Learning Multiple Layers of Features from Tiny Images", 2009.

Safety: CIFAR-10's "python version" batches are pickles. They are read with a restricted
unpickler that can only rebuild NumPy arrays (see :func:`read_cifar10_dir`); any other
global in the file raises :class:`~numpycnn.errors.DataFormatError` before it is called.
"""
from __future__ import annotations

import codecs
import gzip
import importlib.resources
import io
import math
import os
import pathlib
import pickle
import struct
import zlib
from dataclasses import dataclass

import numpy as np

from .errors import DataFormatError, DatasetNotFoundError, ShapeError, describe
from .io import atomic_write_bytes

__all__ = [
    "CIFAR10_CLASSES", "DATASETS", "DATA_ENV_VAR", "DataSplits", "Dataset", "FASHION_MNIST_CLASSES",
    "FASHION_MNIST_DEBIAN_DIR", "batch_indices", "find_dataset_dir", "load_dataset", "load_digits",
    "load_idx_pair", "load_mnist_dir", "read_cifar10_dir", "read_idx", "rgb_to_grayscale",
    "write_cifar10_batch", "write_idx",
]

DATASETS = ("digits", "mnist", "fashion-mnist", "cifar10")
DATA_ENV_VAR = "NUMPYCNN_DATA"
FASHION_MNIST_DEBIAN_DIR = "/usr/share/datasets/fashion-mnist"

DIGIT_CLASSES = [str(i) for i in range(10)]
FASHION_MNIST_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                         "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer",
                   "dog", "frog", "horse", "ship", "truck"]

#: ITU-R BT.601 luma weights for R, G, B (used by ``grayscale=True``).
LUMA_WEIGHTS = (0.299, 0.587, 0.114)

# Fraction of the 1797 digits held out as the test split.
DIGITS_TEST_FRACTION = 0.2


# --------------------------------------------------------------------------------------
# Containers
# --------------------------------------------------------------------------------------
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


# --------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------
def _is_int(value):
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _check_nonneg_int(argname, value):
    if not _is_int(value) or value < 0:
        raise ValueError(f"{argname} must be a non-negative integer; got {describe(value)}")
    return int(value)


def _check_limit(argname, value):
    if value is None:
        return None
    if not _is_int(value) or value <= 0:
        raise ValueError(f"{argname} must be None or a positive integer (the number of examples to keep); "
                         f"got {describe(value)}")
    return int(value)


def _read_maybe_gzip(path):
    """Bytes of ``path``, gunzipped when the file starts with the gzip magic bytes 1f 8b."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:2] != b"\x1f\x8b":
        return data, False
    try:
        return gzip.decompress(data), True
    except (OSError, EOFError, zlib.error) as err:  # gzip.BadGzipFile is an OSError
        raise DataFormatError(f"{path}: starts with the gzip magic bytes 1f 8b but is not a valid gzip "
                              f"stream (truncated or corrupted?): {err}") from err


# --------------------------------------------------------------------------------------
# IDX files (MNIST, Fashion-MNIST)
# --------------------------------------------------------------------------------------
# IDX type code -> (big-endian dtype, name in the IDX spec)
_IDX_CODES = {
    0x08: (np.dtype(">u1"), "unsigned byte"),
    0x09: (np.dtype(">i1"), "signed byte"),
    0x0B: (np.dtype(">i2"), "short (int16)"),
    0x0C: (np.dtype(">i4"), "int (int32)"),
    0x0D: (np.dtype(">f4"), "float (float32)"),
    0x0E: (np.dtype(">f8"), "double (float64)"),
}
_IDX_CODE_OF = {dt.newbyteorder("="): code for code, (dt, _) in _IDX_CODES.items()}


def read_idx(path):
    """Read an IDX file (the MNIST format), raw or gzip-compressed.

    Compression is detected from the gzip magic bytes ``1f 8b``, not from the suffix.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    np.ndarray, shape (d_1, ..., d_k)
        Native-byte-order, writeable array; dtype from the type code (0x08 uint8,
        0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64).

    Raises
    ------
    DataFormatError
        Wrong magic number, unknown type code, ``k == 0``, truncated header, or a payload
        whose length is not exactly ``prod(d) * itemsize`` (truncated file or trailing
        bytes). The message names the file, what was expected and what was found.

    Notes
    -----
    Layout (all integers big-endian)::

        bytes 0-1   0x00 0x00
        byte  2     type code
        byte  3     k = number of dimensions
        4*k bytes   d_1 ... d_k  (uint32 each)
        payload     prod(d) items, row-major, big-endian
    """
    path = pathlib.Path(path)
    data, gz = _read_maybe_gzip(path)
    where = f"{path}{' (after gunzip)' if gz else ''}"
    if len(data) < 4:
        raise DataFormatError(f"{where}: is {len(data)} bytes long; an IDX file starts with a 4-byte magic "
                              f"number (0x00 0x00 <type code> <ndim>)")
    zero0, zero1, code, ndim = data[0], data[1], data[2], data[3]
    if zero0 != 0 or zero1 != 0:
        raise DataFormatError(f"{where}: not an IDX file: magic number 0x{data[:4].hex().upper()} does not start "
                              f"with two zero bytes (expected e.g. 0x00000803 for images, 0x00000801 for labels)")
    if code not in _IDX_CODES:
        known = ", ".join(f"0x{c:02X} {name}" for c, (_, name) in _IDX_CODES.items())
        raise DataFormatError(f"{where}: unknown IDX type code 0x{code:02X}; expected one of {known}")
    if ndim == 0:
        raise DataFormatError(f"{where}: IDX header declares 0 dimensions; expected at least 1")
    header_len = 4 + 4 * ndim
    if len(data) < header_len:
        raise DataFormatError(f"{where}: truncated header: {ndim} dimensions need a {header_len}-byte header, "
                              f"but the file has only {len(data)} bytes")
    dims = struct.unpack(f">{ndim}I", data[4:header_len])
    dtype, type_name = _IDX_CODES[code]
    expected = math.prod(dims) * dtype.itemsize
    found = len(data) - header_len
    if found != expected:
        problem = "truncated" if found < expected else f"{found - expected} trailing bytes"
        raise DataFormatError(f"{where}: header declares shape {tuple(dims)} of {type_name} "
                              f"= {expected} payload bytes, but found {found} payload bytes ({problem})")
    array = np.frombuffer(data, dtype=dtype, count=math.prod(dims), offset=header_len)
    return array.astype(dtype.newbyteorder("="), copy=True).reshape(dims)


def write_idx(path, array):
    """Write ``array`` as an IDX file, gzip-compressed when ``path`` ends in ``.gz``; atomically.

    Parameters
    ----------
    path : str or os.PathLike
        Written via a temporary file in the same directory and ``os.replace``.
    array : array_like, shape (d_1, ..., d_k), 1 <= k <= 255
        dtype uint8, int8, int16, int32, float32 or float64 (stored big-endian).
    """
    path = pathlib.Path(path)
    array = np.asarray(array)
    native = array.dtype.newbyteorder("=")
    if native not in _IDX_CODE_OF:
        names = ", ".join(str(dt) for dt in _IDX_CODE_OF)
        raise TypeError(f"write_idx: array dtype must be one of {names}; got {describe(array)}")
    if not 1 <= array.ndim <= 255:
        raise ShapeError(f"write_idx: array must have 1 to 255 dimensions; got {describe(array)}")
    if any(d >= 2 ** 32 for d in array.shape):
        raise ShapeError(f"write_idx: every dimension must be < 2**32; got {describe(array)}")
    code = _IDX_CODE_OF[native]
    header = struct.pack(">BBBB", 0, 0, code, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    payload = header + np.ascontiguousarray(array, dtype=_IDX_CODES[code][0]).tobytes()
    if path.suffix.lower() == ".gz":
        payload = gzip.compress(payload, mtime=0)  # mtime=0: same array, same bytes
    atomic_write_bytes(path, payload)


def load_idx_pair(images_path, labels_path):
    """Read an images IDX file and its labels IDX file and check that they belong together.

    Parameters
    ----------
    images_path, labels_path : str or os.PathLike
        Raw or gzip-compressed IDX files.

    Returns
    -------
    images : np.ndarray, shape (N, H, W), uint8
    labels : np.ndarray, shape (N,), uint8

    Raises
    ------
    DataFormatError
        Images not 3-D uint8, labels not 1-D integers in 0..255, or N differs between the files.
    """
    images = read_idx(images_path)
    labels = read_idx(labels_path)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise DataFormatError(f"{images_path}: expected an IDX image file of unsigned bytes with shape (N, H, W); "
                              f"found {describe(images)}")
    if labels.ndim != 1 or labels.dtype.kind not in "iu":
        raise DataFormatError(f"{labels_path}: expected an IDX label file of integers with shape (N,); "
                              f"found {describe(labels)}")
    if labels.size and (labels.min() < 0 or labels.max() > 255):
        raise DataFormatError(f"{labels_path}: labels must lie in 0..255; found values "
                              f"{labels.min()}..{labels.max()}")
    if len(images) != len(labels):
        raise DataFormatError(f"{images_path} holds {len(images)} images but {labels_path} holds {len(labels)} "
                              f"labels; the counts must match")
    return images, labels.astype(np.uint8)


_MNIST_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


def _mnist_candidates(stem):
    """File names accepted for an MNIST stem: raw or .gz, and the 'train-images.idx3-ubyte' spelling."""
    dotted = stem.replace("-idx", ".idx")
    return [stem, stem + ".gz", dotted, dotted + ".gz"]


def _find_mnist_file(directory, stem):
    for name in _mnist_candidates(stem):
        candidate = directory / name
        if candidate.is_file():
            return candidate
    return None


def load_mnist_dir(directory):
    """Read the four standard MNIST / Fashion-MNIST IDX files from ``directory``.

    Parameters
    ----------
    directory : str or os.PathLike
        Holds ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
        ``t10k-images-idx3-ubyte`` and ``t10k-labels-idx1-ubyte``, each raw or with ``.gz``
        (``train-images.idx3-ubyte`` spellings are accepted too).

    Returns
    -------
    (x_train, y_train), (x_test, y_test)
        Raw uint8 arrays: images (N, H, W), labels (N,).

    Raises
    ------
    DatasetNotFoundError
        A file is missing (the message names every missing file).
    DataFormatError
        A file is corrupted (see :func:`read_idx`, :func:`load_idx_pair`).
    """
    directory = pathlib.Path(directory).expanduser()
    found = {key: _find_mnist_file(directory, stem) for key, stem in _MNIST_FILES.items()}
    missing = [_MNIST_FILES[key] for key, p in found.items() if p is None]
    if missing:
        raise DatasetNotFoundError(f"{directory}: missing IDX file(s) {', '.join(missing)} (raw or .gz); "
                                   f"expected all four of {', '.join(_MNIST_FILES.values())}")
    train = load_idx_pair(found["train_images"], found["train_labels"])
    test = load_idx_pair(found["test_images"], found["test_labels"])
    if train[0].shape[1:] != test[0].shape[1:]:
        raise DataFormatError(f"{found['train_images']} has images of size {train[0].shape[1:]} but "
                              f"{found['test_images']} has {test[0].shape[1:]}; they must match")
    return train, test


# --------------------------------------------------------------------------------------
# CIFAR-10
# --------------------------------------------------------------------------------------
_CIFAR_TRAIN = [f"data_batch_{i}" for i in range(1, 6)]
_CIFAR_TEST = "test_batch"
_CIFAR_PIXELS = 3 * 32 * 32
_CIFAR_RECORD = 1 + _CIFAR_PIXELS


def _reconstruct():
    try:
        from numpy._core.multiarray import _reconstruct as fn  # NumPy >= 2
    except ImportError:  # pragma: no cover - NumPy 1.x
        from numpy.core.multiarray import _reconstruct as fn
    return fn


def _safe_dtype(*args):
    """``numpy.dtype`` as seen by the restricted unpickler: refuses object dtypes."""
    dtype = np.dtype(*args)
    if dtype.hasobject:
        raise DataFormatError(f"pickle asks for an object dtype {dtype}; only plain numeric arrays are allowed")
    return dtype


def _latin1_encode(text, encoding="latin1", errors="strict"):
    """``codecs.encode`` as seen by the restricted unpickler: only the latin-1 bytes round trip."""
    if codecs.lookup(encoding).name != "iso8859-1" or not isinstance(text, str):
        raise DataFormatError(f"pickle calls codecs.encode with encoding {encoding!r}; only 'latin1' is allowed")
    return codecs.encode(text, "latin1", errors)


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickler whose ``find_class`` returns only what is needed to rebuild an ndarray.

    Allowed globals: ``numpy._core.multiarray._reconstruct`` (and its NumPy 1.x name
    ``numpy.core.multiarray._reconstruct``), ``numpy.ndarray``, ``numpy.dtype`` (object
    dtypes refused) and ``_codecs.encode`` / ``codecs.encode`` (latin-1 only), which
    protocol-2 pickles written by Python 3 use for ``bytes``. Anything else raises
    :class:`DataFormatError` *before* the global is looked up, so it is never called.
    """

    _ALLOWED = {
        ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
        ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
        ("numpy", "ndarray"): lambda: np.ndarray,
        ("numpy", "dtype"): lambda: _safe_dtype,
        ("_codecs", "encode"): lambda: _latin1_encode,
        ("codecs", "encode"): lambda: _latin1_encode,
    }

    def __init__(self, file, source):
        super().__init__(file, encoding="bytes")  # the official batches were pickled by Python 2
        self.source = source

    def find_class(self, module, name):
        factory = self._ALLOWED.get((module, name))
        if factory is None:
            raise DataFormatError(f"{self.source}: refusing to unpickle global {module}.{name}; a CIFAR-10 python "
                                  f"batch may only contain NumPy arrays, lists, ints and bytes")
        return factory()

    def persistent_load(self, pid):
        raise DataFormatError(f"{self.source}: pickle uses persistent ids, which a CIFAR-10 batch never does")


def _safe_unpickle(path):
    with open(path, "rb") as f:
        data = f.read()
    try:
        return _NumpyOnlyUnpickler(io.BytesIO(data), path).load()
    except DataFormatError as err:
        if str(path) in str(err):
            raise
        raise DataFormatError(f"{path}: {err}") from None
    except Exception as err:  # any failure while parsing untrusted bytes is a format error
        raise DataFormatError(f"{path}: not a valid CIFAR-10 python batch (pickle could not be read: "
                              f"{type(err).__name__}: {err})") from err


def _check_cifar_labels(labels, path):
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        bad = int(np.flatnonzero((labels < 0) | (labels > 9))[0])
        raise DataFormatError(f"{path}: record {bad} has label {int(labels[bad])}; CIFAR-10 labels must be 0..9")


def _read_cifar_bin(path):
    data = pathlib.Path(path).read_bytes()
    if len(data) == 0 or len(data) % _CIFAR_RECORD:
        raise DataFormatError(f"{path}: size {len(data)} bytes is not a positive multiple of the "
                              f"{_CIFAR_RECORD}-byte CIFAR-10 record (1 label byte + {_CIFAR_PIXELS} pixel bytes)")
    records = np.frombuffer(data, dtype=np.uint8).reshape(-1, _CIFAR_RECORD)
    labels = records[:, 0].copy()
    _check_cifar_labels(labels, path)
    return records[:, 1:].reshape(-1, 3, 32, 32).copy(), labels


def _read_cifar_python(path):
    batch = _safe_unpickle(path)
    if not isinstance(batch, dict):
        raise DataFormatError(f"{path}: expected a pickled dict with keys b'data' and b'labels'; "
                              f"found {type(batch).__name__}")
    batch = {(k.decode("latin1") if isinstance(k, bytes) else k): v for k, v in batch.items()}
    missing = [key for key in ("data", "labels") if key not in batch]
    if missing:
        raise DataFormatError(f"{path}: batch dict lacks key(s) {missing}; found keys {sorted(map(str, batch))}")
    data = batch["data"]
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != _CIFAR_PIXELS:
        raise DataFormatError(f"{path}: b'data' must be a uint8 array of shape (N, {_CIFAR_PIXELS}); "
                              f"found {describe(data)}")
    raw_labels = batch["labels"]
    if not isinstance(raw_labels, (list, tuple, np.ndarray)) or not all(_is_int(v) for v in raw_labels):
        raise DataFormatError(f"{path}: b'labels' must be a list of integers; found {describe(raw_labels)}")
    labels = np.asarray(raw_labels, dtype=np.int64).reshape(-1)
    if len(labels) != len(data):
        raise DataFormatError(f"{path}: {len(data)} images but {len(labels)} labels; the counts must match")
    _check_cifar_labels(labels, path)
    return data.reshape(-1, 3, 32, 32).copy(), labels.astype(np.uint8)


def read_cifar10_dir(directory):
    """Read the CIFAR-10 binary or python batches from ``directory``.

    The binary version (``data_batch_1.bin`` ... ``data_batch_5.bin``, ``test_batch.bin``)
    is used when present; otherwise the python version (``data_batch_1`` ... ``test_batch``).

    Parameters
    ----------
    directory : str or os.PathLike

    Returns
    -------
    (x_train, y_train), (x_test, y_test)
        ``x`` uint8 (N, 3, 32, 32) (channels R, G, B), ``y`` uint8 (N,) in 0..9.
        The official files give N = 50000 and 10000.

    Raises
    ------
    DatasetNotFoundError
        Neither format's files are all present (the message names the missing ones).
    DataFormatError
        A binary batch whose size is not a multiple of 3073 bytes or with a label > 9; a
        python batch that is not a dict with ``b"data"`` uint8 (N, 3072) and ``b"labels"``,
        or that contains any pickle global other than those needed to rebuild an ndarray.

    Notes
    -----
    Binary record: 1 label byte then 3072 pixel bytes (1024 R, 1024 G, 1024 B, each 32x32
    row-major). Python batch: a protocol-2 pickle of ``{b"data": (N, 3072) uint8,
    b"labels": [N ints], b"batch_label": bytes, b"filenames": [N bytes]}``. No plain
    ``pickle.load`` is used: see ``_NumpyOnlyUnpickler``.
    """
    directory = pathlib.Path(directory).expanduser()
    if (directory / "data_batch_1.bin").is_file():
        suffix, reader, fmt = ".bin", _read_cifar_bin, "binary"
    elif (directory / "data_batch_1").is_file():
        suffix, reader, fmt = "", _read_cifar_python, "python"
    else:
        raise DatasetNotFoundError(f"{directory}: no CIFAR-10 batches (expected data_batch_1.bin ... test_batch.bin "
                                   f"or data_batch_1 ... test_batch)")
    names = [n + suffix for n in _CIFAR_TRAIN + [_CIFAR_TEST]]
    missing = [n for n in names if not (directory / n).is_file()]
    if missing:
        raise DatasetNotFoundError(f"{directory}: CIFAR-10 {fmt} version is missing {', '.join(missing)}")
    parts = [reader(directory / n) for n in names]
    x_train = np.concatenate([p[0] for p in parts[:5]])
    y_train = np.concatenate([p[1] for p in parts[:5]])
    return (x_train, y_train), parts[5]


def write_cifar10_batch(path, x, labels, fmt="bin"):
    """Write one CIFAR-10 batch file (used by tests and tutorials); atomically.

    Parameters
    ----------
    path : str or os.PathLike
    x : np.ndarray, shape (N, 3, 32, 32), uint8
    labels : array_like, shape (N,), integers in 0..9
    fmt : {"bin", "python"}
        ``"bin"``: N records of 1 label byte + 3072 pixel bytes. ``"python"``: a
        protocol-2 pickle of ``{b"batch_label", b"labels", b"data", b"filenames"}`` like
        the official files.
    """
    x = np.asarray(x)
    if x.dtype != np.uint8 or x.ndim != 4 or x.shape[1:] != (3, 32, 32):
        raise ShapeError(f"write_cifar10_batch: x must be a uint8 array of shape (N, 3, 32, 32); got {describe(x)}")
    labels = np.asarray(labels)
    if labels.shape != (len(x),) or labels.dtype.kind not in "iu" or (labels.size and
                                                                      (labels.min() < 0 or labels.max() > 9)):
        raise ValueError(f"write_cifar10_batch: labels must be {len(x)} integers in 0..9; got {describe(labels)}")
    if fmt == "bin":
        records = np.empty((len(x), _CIFAR_RECORD), dtype=np.uint8)
        records[:, 0] = labels
        records[:, 1:] = x.reshape(len(x), -1)
        payload = records.tobytes()
    elif fmt == "python":
        name = pathlib.Path(path).name
        batch = {b"batch_label": f"{name} written by numpycnn".encode(),
                 b"labels": [int(v) for v in labels],
                 b"data": np.ascontiguousarray(x.reshape(len(x), _CIFAR_PIXELS)),
                 b"filenames": [f"image_{i:05d}.png".encode() for i in range(len(x))]}
        payload = pickle.dumps(batch, protocol=2)
    else:
        raise ValueError(f"write_cifar10_batch: fmt must be 'bin' or 'python'; got {describe(fmt)}")
    atomic_write_bytes(path, payload)


def rgb_to_grayscale(x, dtype=None):
    """Convert RGB images to one luma channel with the ITU-R BT.601 weights.

    Parameters
    ----------
    x : np.ndarray, shape (N, 3, H, W)
        Channels R, G, B.
    dtype : float dtype, optional
        Output dtype; default: ``x.dtype`` for float input, float32 otherwise.

    Returns
    -------
    np.ndarray, shape (N, 1, H, W)

    Notes
    -----
    ``Y = 0.299 R + 0.587 G + 0.114 B`` (no rounding), in the units of ``x``.
    """
    x = np.asarray(x)
    if x.ndim != 4 or x.shape[1] != 3:
        raise ShapeError(f"rgb_to_grayscale: x must have shape (N, 3, H, W); got {describe(x)}")
    if dtype is None:
        dtype = x.dtype if x.dtype.kind == "f" else np.float32
    dtype = np.dtype(dtype)
    wr, wg, wb = (dtype.type(w) for w in LUMA_WEIGHTS)
    y = x[:, 0].astype(dtype) * wr
    y += x[:, 1].astype(dtype) * wg
    y += x[:, 2].astype(dtype) * wb
    return y[:, None]


# --------------------------------------------------------------------------------------
# Finding data on disk
# --------------------------------------------------------------------------------------
_SUBDIR_SPELLINGS = {
    "mnist": ("mnist", "MNIST", "mnist/raw", "MNIST/raw"),
    "fashion-mnist": ("fashion-mnist", "fashion_mnist", "FashionMNIST", "Fashion-MNIST", "fashionmnist",
                      "fashion-mnist/raw", "fashion_mnist/raw", "FashionMNIST/raw"),
    "cifar10": tuple(f"{outer}{inner}" for outer in ("cifar10/", "cifar-10/", "CIFAR10/", "CIFAR-10/", "")
                     for inner in ("cifar-10-batches-bin", "cifar-10-batches-py"))
               + ("cifar10", "cifar-10", "CIFAR10", "CIFAR-10"),
}

_HOW_TO_GET = {
    "mnist": "put the four MNIST IDX files (train-images-idx3-ubyte, train-labels-idx1-ubyte, "
             "t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte; raw or .gz) in a folder and pass --data-dir FOLDER "
             f"(data_dir=FOLDER) or set {DATA_ENV_VAR}=FOLDER.",
    "fashion-mnist": "`sudo apt-get install dataset-fashion-mnist` (installs "
                     f"{FASHION_MNIST_DEBIAN_DIR}), or put the four Fashion-MNIST IDX files "
                     "(train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, "
                     "t10k-labels-idx1-ubyte; raw or .gz) in a folder and pass --data-dir FOLDER (data_dir=FOLDER) "
                     f"or set {DATA_ENV_VAR}=FOLDER.",
    "cifar10": "download the binary or python version from https://www.cs.toronto.edu/~kriz/cifar.html, "
               "extract it, and pass the extracted folder (or its parent) as --data-dir FOLDER (data_dir=FOLDER) "
               f"or set {DATA_ENV_VAR}=FOLDER.",
}


def _holds_dataset(name, directory):
    if not directory.is_dir():
        return False
    if name == "cifar10":
        return (directory / "data_batch_1.bin").is_file() or (directory / "data_batch_1").is_file()
    # any one of the four files: a partial copy then fails loudly in load_mnist_dir, naming what is missing
    return any(_find_mnist_file(directory, stem) is not None for stem in _MNIST_FILES.values())


def _check_name(name):
    if name not in DATASETS:
        raise ValueError(f"name must be one of {', '.join(map(repr, DATASETS))}; got {describe(name)}")


def find_dataset_dir(name, data_dir=None):
    """Find the directory holding the files of dataset ``name``.

    Search order (first match wins):

    1. ``data_dir``: first its dataset-named subfolders (``data_dir/<name>`` in any accepted
       spelling), then ``data_dir`` itself;
    2. ``$NUMPYCNN_DATA``, the same two forms;
    3. for ``"fashion-mnist"``, the Debian package directory :data:`FASHION_MNIST_DEBIAN_DIR`.

    Accepted subfolder spellings: ``mnist``/``MNIST``; ``fashion-mnist``, ``fashion_mnist``,
    ``FashionMNIST``, ``Fashion-MNIST``, ``fashionmnist`` (and torchvision's ``<folder>/raw``);
    for CIFAR-10 ``cifar10``/``cifar-10``/``CIFAR10``/``CIFAR-10``, each optionally containing
    ``cifar-10-batches-bin`` or ``cifar-10-batches-py``. Subfolders are checked before the
    folder itself so one data root can hold several data sets.

    A directory matches when it holds at least one of the four IDX files (MNIST-like; raw
    or ``.gz``) or ``data_batch_1`` / ``data_batch_1.bin`` (CIFAR-10).

    Parameters
    ----------
    name : {"mnist", "fashion-mnist", "cifar10"}
        ``"digits"`` is embedded in the package and has no directory.
    data_dir : str or os.PathLike, optional

    Returns
    -------
    pathlib.Path

    Raises
    ------
    DatasetNotFoundError
        Lists every place searched and how to get the data.
    """
    _check_name(name)
    if name == "digits":
        raise ValueError("name='digits' is embedded in the package (numpycnn/data/digits.npz) and has no data "
                         "directory; call load_dataset('digits') or load_digits()")
    env = os.environ.get(DATA_ENV_VAR, "")
    roots = [("data_dir argument", None if data_dir is None else pathlib.Path(data_dir).expanduser()),
             (f"${DATA_ENV_VAR}", pathlib.Path(env).expanduser() if env else None)]
    searched = []
    for label, root in roots:
        if root is None:
            searched.append(f"{label}: not given" if label.startswith("data_dir") else f"{label}: not set")
            continue
        for candidate in [root / sub for sub in _SUBDIR_SPELLINGS[name]] + [root]:
            if _holds_dataset(name, candidate):
                return candidate
        state = "" if root.is_dir() else " (does not exist)"
        searched.append(f"{label}: {root}{state}, and its subfolders {', '.join(_SUBDIR_SPELLINGS[name])}")
    if name == "fashion-mnist":
        debian = pathlib.Path(FASHION_MNIST_DEBIAN_DIR)
        if _holds_dataset(name, debian):
            return debian
        state = "exists but holds no IDX files" if debian.is_dir() else "does not exist"
        searched.append(f"Debian package dataset-fashion-mnist: {debian} ({state})")
    lines = "\n".join(f"  - {s}" for s in searched)
    raise DatasetNotFoundError(f"dataset {name!r} not found. Searched, in order:\n{lines}\n"
                               f"To get it: {_HOW_TO_GET[name]}")


# --------------------------------------------------------------------------------------
# Digits (embedded)
# --------------------------------------------------------------------------------------
def load_digits():
    """Load the embedded 8x8 digits (UCI optical digits test set, via scikit-learn, BSD-3-Clause).

    Returns
    -------
    images : np.ndarray, shape (1797, 8, 8), uint8, values 0..16
    labels : np.ndarray, shape (1797,), int64, values 0..9
    """
    resource = importlib.resources.files(__package__) / "data" / "digits.npz"
    with resource.open("rb") as f, np.load(f, allow_pickle=False) as npz:
        images, labels = npz["images"], npz["labels"]
    if images.shape != (1797, 8, 8) or images.dtype != np.uint8 or labels.shape != (1797,) \
            or images.max() > 16 or labels.max() > 9:
        raise DataFormatError(f"numpycnn/data/digits.npz is corrupted: images {describe(images)}, "
                              f"labels {describe(labels)}; expected uint8 (1797, 8, 8) in 0..16 and (1797,) in 0..9")
    return images, labels.astype(np.int64)


# --------------------------------------------------------------------------------------
# Splitting, batching, preprocessing
# --------------------------------------------------------------------------------------
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


def batch_indices(n, batch_size, *, seed=0, epoch=0, shuffle=True):
    """Mini-batch index arrays for one epoch.

    Parameters
    ----------
    n : int
        Number of examples (> 0).
    batch_size : int
        Examples per batch (> 0); the last, partial batch is kept.
    seed, epoch : int
        The order is ``np.random.default_rng([seed, epoch]).permutation(n)``, so a run resumed
        at (epoch, batch) sees exactly the batches it would have seen.
    shuffle : bool
        ``False`` gives ``0 .. n-1`` in order.

    Returns
    -------
    list of np.ndarray
        ``ceil(n / batch_size)`` int64 arrays; together they hold every index exactly once.
    """
    if not _is_int(n) or n <= 0:
        raise ValueError(f"n must be a positive integer (the number of examples); got {describe(n)}")
    if not _is_int(batch_size) or batch_size <= 0:
        raise ValueError(f"batch_size must be a positive integer; got {describe(batch_size)}")
    seed = _check_nonneg_int("seed", seed)
    epoch = _check_nonneg_int("epoch", epoch)
    order = np.random.default_rng([seed, epoch]).permutation(n) if shuffle else np.arange(n, dtype=np.int64)
    order = order.astype(np.int64, copy=False)
    return [order[i:i + batch_size] for i in range(0, n, batch_size)]


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
        Unknown ``name``, ``val_fraction`` outside [0, 1), a limit <= 0, a non-float
        ``dtype``, an empty split, or a train split with zero pixel variance.
    DatasetNotFoundError, DataFormatError
        Missing or corrupted files.
    """
    _check_name(name)
    if isinstance(val_fraction, (bool, np.bool_)) or not isinstance(val_fraction, (int, float, np.number)) \
            or not 0 <= val_fraction < 1:
        raise ValueError(f"val_fraction must be a number in [0, 1); got {describe(val_fraction)}")
    seed = _check_nonneg_int("seed", seed)
    train_limit = _check_limit("train_limit", train_limit)
    test_limit = _check_limit("test_limit", test_limit)
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
