"""Exception types raised by numpycnn.

Every error a user can provoke is one of these (or a plain ``ValueError`` /
``TypeError``). Each subclasses the built-in exception a Python user would
expect, so ``except ValueError`` keeps working.

The message always names the argument (or layer), the value that was given and
what was expected, e.g.::

    ShapeError: Conv2D 'conv1': input x must have 4 dimensions (N, C, H, W);
    got shape (64, 28, 28). Add a channel axis: x[:, None, :, :].
"""


class NumpyCNNError(Exception):
    """Base class of every numpycnn-specific error."""


class ShapeError(NumpyCNNError, ValueError):
    """An array has the wrong number of dimensions or the wrong size."""


class DataFormatError(NumpyCNNError, ValueError):
    """A data file (IDX, CIFAR-10, image) is truncated, corrupted or not of the expected format."""


class CheckpointError(NumpyCNNError, ValueError):
    """A checkpoint or saved model is corrupted, truncated or from another architecture."""


class DivergenceError(NumpyCNNError, FloatingPointError):
    """Training produced a NaN or inf loss or gradient."""


class DatasetNotFoundError(NumpyCNNError, FileNotFoundError):
    """A dataset's files could not be found in any of the searched places."""


def describe(value, limit=60):
    """Short printable description of ``value`` for error messages (shape and dtype for arrays)."""
    shape = getattr(value, "shape", None)
    dtype = getattr(value, "dtype", None)
    if shape is not None and dtype is not None:
        return f"array of shape {tuple(shape)} and dtype {dtype}"
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
