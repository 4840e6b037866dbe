"""Where a data set's files are: an explicit folder, ``$NUMPYCNN_DATA``, or Debian's Fashion-MNIST.

Nothing is ever downloaded. See :func:`find_dataset_dir`.
"""
import os
import pathlib

from ..errors import DatasetNotFoundError
from ..validate import choice
from .idx import _MNIST_FILES, _find_mnist_file

DATASETS = ("digits", "mnist", "fashion-mnist", "cifar10")
DATA_ENV_VAR = "NUMPYCNN_DATA"
FASHION_MNIST_DEBIAN_DIR = "/usr/share/datasets/fashion-mnist"


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
    choice(name, "name", "find_dataset_dir", DATASETS)


def _expected(name):
    """What a folder of dataset ``name`` must hold, for error messages."""
    if name == "cifar10":
        return ("the CIFAR-10 batches data_batch_1 ... data_batch_5 and test_batch (binary .bin or python "
                "version), or a subfolder holding them")
    return (f"the four IDX files {', '.join(_MNIST_FILES.values())} (raw or .gz), or a subfolder holding them "
            f"({', '.join(_SUBDIR_SPELLINGS[name])})")


def find_dataset_dir(name, data_dir=None):
    """Find the directory holding the files of dataset ``name``.

    Where it looks (the first place that is *given* is the only one searched):

    1. ``data_dir`` when given: first its dataset-named subfolders (``data_dir/<name>`` in any
       accepted spelling), then ``data_dir`` itself;
    2. otherwise ``$NUMPYCNN_DATA`` when set, the same two forms;
    3. otherwise, for ``"fashion-mnist"``, the Debian package directory :data:`FASHION_MNIST_DEBIAN_DIR`.

    A folder you name (``data_dir`` or ``$NUMPYCNN_DATA``) that does not exist or does not hold the
    files is an error naming it — never a reason to train on data found somewhere else.

    Accepted subfolder spellings: ``mnist``/``MNIST``; ``fashion-mnist``, ``fashion_mnist``,
    ``FashionMNIST``, ``Fashion-MNIST``, ``fashionmnist`` (and torchvision's ``<folder>/raw``);
    for CIFAR-10 ``cifar10``/``cifar-10``/``CIFAR10``/``CIFAR-10``, each optionally containing
    ``cifar-10-batches-bin`` or ``cifar-10-batches-py``. Subfolders are checked before the
    folder itself so one data root can hold several data sets.

    A directory matches when it holds at least one of the four IDX files (MNIST-like; raw
    or ``.gz``) or ``data_batch_1`` / ``data_batch_1.bin`` (CIFAR-10); a partial copy then
    fails in the reader, naming the missing files.

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
        Names the folder that was searched, what it should hold and how to get the data.
    """
    _check_name(name)
    if name == "digits":
        raise ValueError("name='digits' is embedded in the package (numpycnn/data/digits.npz) and has no data "
                         "directory; call load_dataset('digits') or load_digits()")
    env = os.environ.get(DATA_ENV_VAR, "")
    if data_dir is not None:
        label, root = "--data-dir (data_dir)", pathlib.Path(data_dir).expanduser()
    elif env:
        label, root = f"${DATA_ENV_VAR}", pathlib.Path(env).expanduser()
    else:
        label, root = None, None
    if root is not None:
        for candidate in [root / sub for sub in _SUBDIR_SPELLINGS[name]] + [root]:
            if _holds_dataset(name, candidate):
                return candidate
        state = "does not exist" if not root.exists() else (
            "is not a folder" if not root.is_dir() else "holds none of the files, nor does any of its subfolders")
        other = ("leave it out to use $NUMPYCNN_DATA or the Debian copy" if label.startswith("--data-dir")
                 else f"unset {DATA_ENV_VAR} to use the Debian copy")
        raise DatasetNotFoundError(
            f"dataset {name!r}: {label} is {root}, which {state}. Expected {_expected(name)}. "
            f"Fix: point {label} at the folder that holds them"
            + (f", or {other}" if name == "fashion-mnist" else "") + f". To get the data: {_HOW_TO_GET[name]}")
    if name == "fashion-mnist":
        debian = pathlib.Path(FASHION_MNIST_DEBIAN_DIR)
        if _holds_dataset(name, debian):
            return debian
        state = "exists but holds no IDX files" if debian.is_dir() else "does not exist"
        raise DatasetNotFoundError(
            f"dataset {name!r} not found: no --data-dir given, {DATA_ENV_VAR} not set, and the Debian package "
            f"dataset-fashion-mnist's folder {debian} {state}. To get it: {_HOW_TO_GET[name]}")
    raise DatasetNotFoundError(f"dataset {name!r} not found: no --data-dir given and {DATA_ENV_VAR} not set. "
                               f"To get it: {_HOW_TO_GET[name]}")
