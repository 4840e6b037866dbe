"""IDX files, the format of MNIST and Fashion-MNIST: read, write, and the four files of a data set.

Layout (all integers big-endian)::

    bytes 0-1   0x00 0x00
    byte  2     type code
    byte  3     k = number of dimensions
    4*k bytes   d_1 ... d_k  (uint32 each)
    payload     prod(d) items, row-major, big-endian

Files may be raw or gzip-compressed (detected from the magic bytes ``1f 8b``, not the suffix).
"""
import gzip
import math
import pathlib
import struct
import zlib

import numpy as np

from ..errors import DataFormatError, DatasetNotFoundError, ShapeError, describe
from ..storage import atomic_write_bytes

FASHION_MNIST_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                         "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


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
