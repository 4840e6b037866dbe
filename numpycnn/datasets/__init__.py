"""Datasets: the embedded digits set, MNIST, Fashion-MNIST and CIFAR-10, read from standard files.

Nothing is ever downloaded. ``digits`` ships inside the package; the others are read from the
folder you name (``data_dir=`` / ``--data-dir``), else from ``$NUMPYCNN_DATA``, else (Fashion-MNIST
only) from the Debian package ``dataset-fashion-mnist`` (``/usr/share/datasets/fashion-mnist``).
A folder you name that does not hold the files is an error, never a reason to look elsewhere
(:func:`find_dataset_dir`).

=================  =========================================================================
module             what it holds
=================  =========================================================================
:mod:`.idx`        IDX files (MNIST, Fashion-MNIST): ``read_idx``, ``write_idx``, ``load_mnist_dir``
:mod:`.cifar`      CIFAR-10 batches (binary and python, with a restricted unpickler), ``rgb_to_grayscale``
:mod:`.digits`     the embedded 8x8 digits, ``load_digits``
:mod:`.discovery`  where the files are: ``find_dataset_dir``
:mod:`.splits`     ``Dataset``, ``DataSplits`` and ``load_dataset`` (limits, stratified val split, normalisation)
=================  =========================================================================

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
* **digits** -- 1797 greyscale 8x8 images, the test set of the UCI ML "Optical Recognition of
  Handwritten Digits" data set (E. Alpaydin and C. Kaynak, 1998), in the copy bundled with
  scikit-learn and redistributed under scikit-learn's BSD-3-Clause licence.
* **MNIST** -- Y. LeCun, C. Cortes and C. J. C. Burges.
* **Fashion-MNIST** -- H. Xiao, K. Rasul and R. Vollgraf (Zalando Research), MIT licence.
* **CIFAR-10** -- A. Krizhevsky, "Learning Multiple Layers of Features from Tiny Images", 2009.
"""
from .cifar import CIFAR10_CLASSES, read_cifar10_dir, rgb_to_grayscale, write_cifar10_batch
from .digits import load_digits
from .discovery import DATA_ENV_VAR, DATASETS, FASHION_MNIST_DEBIAN_DIR, find_dataset_dir
from .idx import FASHION_MNIST_CLASSES, load_idx_pair, load_mnist_dir, read_idx, write_idx
from .splits import DataSplits, Dataset, load_dataset

__all__ = [
    "CIFAR10_CLASSES", "DATASETS", "DATA_ENV_VAR", "DataSplits", "Dataset", "FASHION_MNIST_CLASSES",
    "FASHION_MNIST_DEBIAN_DIR", "find_dataset_dir", "load_dataset", "load_digits",
    "load_idx_pair", "load_mnist_dir", "read_cifar10_dir", "read_idx", "rgb_to_grayscale",
    "write_cifar10_batch", "write_idx",
]
