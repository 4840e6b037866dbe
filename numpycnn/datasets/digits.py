"""The embedded digits: 1797 real 8x8 handwritten digits shipped inside the package.

Provenance and licence: the test set of the UCI ML "Optical Recognition of Handwritten Digits" data
set (E. Alpaydin and C. Kaynak, 1998), in the copy bundled with scikit-learn
(``sklearn.datasets.load_digits``) and redistributed under scikit-learn's BSD-3-Clause licence.
Pixel values 0..16, ten classes "0".."9".
"""
import importlib.resources

import numpy as np

from ..errors import DataFormatError, describe

DIGIT_CLASSES = [str(i) for i in range(10)]

# Fraction of the 1797 digits held out as the test split.
DIGITS_TEST_FRACTION = 0.2


def load_digits():
    """Load the embedded 8x8 digits (UCI optical digits test set, via scikit-learn, BSD-3-Clause).

    Returns
    -------
    images : np.ndarray, shape (1797, 8, 8), uint8, values 0..16
    labels : np.ndarray, shape (1797,), int64, values 0..9
    """
    resource = importlib.resources.files(__name__.split(".")[0]) / "data" / "digits.npz"
    with resource.open("rb") as f, np.load(f, allow_pickle=False) as npz:
        images, labels = npz["images"], npz["labels"]
    if images.shape != (1797, 8, 8) or images.dtype != np.uint8 or labels.shape != (1797,) \
            or images.max() > 16 or labels.max() > 9:
        raise DataFormatError(f"numpycnn/data/digits.npz is corrupted: images {describe(images)}, "
                              f"labels {describe(labels)}; expected uint8 (1797, 8, 8) in 0..16 and (1797,) in 0..9")
    return images, labels.astype(np.int64)
