"""Where a data set's files are: an explicit folder, ``$NUMPYCNN_DATA``, or Debian's Fashion-MNIST.

Nothing is ever downloaded. See :func:`find_dataset_dir`.
"""
import os
import pathlib

from ..errors import DatasetNotFoundError, describe
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
