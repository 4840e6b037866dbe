"""CIFAR-10: the binary and the python batches, read safely; writing batches; RGB to gray.

Safety: the "python version" batches are pickles. They are read with a restricted unpickler that can
only rebuild NumPy arrays (see :func:`read_cifar10_dir`); any other global in the file raises
:class:`~numpycnn.errors.DataFormatError` before it is called.
"""
import codecs
import io
import pathlib
import pickle

import numpy as np

from ..errors import DataFormatError, DatasetNotFoundError, ShapeError, describe
from ..storage import atomic_write_bytes
from ..validate import choice

CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer",
                   "dog", "frog", "horse", "ship", "truck"]

#: ITU-R BT.601 luma weights for R, G, B (used by ``grayscale=True``).
LUMA_WEIGHTS = (0.299, 0.587, 0.114)


def _is_int(value):
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))



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
    choice(fmt, "fmt", "write_cifar10_batch", ("bin", "python"))
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
    else:                                                            # "python"
        name = pathlib.Path(path).name
        batch = {b"batch_label": f"{name} written by numpycnn".encode(),
                 b"labels": [int(v) for v in labels],
                 b"data": np.ascontiguousarray(x.reshape(len(x), _CIFAR_PIXELS)),
                 b"filenames": [f"image_{i:05d}.png".encode() for i in range(len(x))]}
        payload = pickle.dumps(batch, protocol=2)
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
