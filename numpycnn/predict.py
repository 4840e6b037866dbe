"""Classify image files with a saved model, applying the preprocessing it was trained with.

The model's metadata (written by ``python -m numpycnn train`` through
:meth:`DataSplits.metadata`) holds ``input_shape = [C, H, W]``, ``mean``, ``std`` and
``classes``. An image file goes through the same steps as the training data::

    v = grayscale(image)  if C == 1  # format conversion (RGB/RGBA/palette -> luminance)
    v = rgb(image)        if C == 3  # (grayscale/palette -> RGB; transparent -> white)
    v = resize(v, (H, W))            # size normalisation (Pillow, bilinear with antialiasing)
    v = v / 255                      # intensities in [0, 1], i.e. raw / scale of the dataset
    v = 1 - v   if invert            # digit datasets store ink as bright on dark (C == 1 only, by default)
    x = (v - mean) / std             # the training normalisation (one mean/std for every channel)

Reading: PNG and JPEG through Pillow. Pillow is not a numpycnn dependency of its own but
is a declared dependency of matplotlib (which numpycnn needs), so it is always installed
alongside.
"""
import os

import numpy as np
from PIL import Image, UnidentifiedImageError

from .errors import ShapeError
from .functional import softmax
from .layers import LogSoftmax
from .model import load_model
from .validate import count

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg")


def image_paths(paths):
    """Expand ``paths`` (files or folders) into a sorted list of PNG/JPEG files; folders are not recursed."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    out = []
    for p in paths:
        p = os.fspath(p)
        if os.path.isdir(p):
            found = sorted(os.path.join(p, f) for f in os.listdir(p) if f.lower().endswith(IMAGE_EXTENSIONS))
            if not found:
                raise ValueError(f"images: folder {p!r} holds no {'/'.join(IMAGE_EXTENSIONS)} files")
            out += found
        elif not os.path.exists(p):
            raise FileNotFoundError(f"images: no such file or folder {p!r}")
        else:
            out.append(p)
    if not out:
        raise ValueError("images: no image paths given; pass PNG/JPEG files or folders")
    return out


def load_image(path, channels=1):
    """Read a PNG or JPEG file as a float64 array with values in ``[0, 255]``.

    Parameters
    ----------
    path : str or path-like
    channels : 1 or 3
        1: grayscale ``(H, W)`` (luminance); 3: colour ``(H, W, 3)`` in R, G, B order.
        Transparent pixels become white paper in both cases.

    Raises
    ------
    ValueError
        the file is not a readable PNG/JPEG image (names the path and the reason), or
        ``channels`` is not 1 or 3
    """
    if channels not in (1, 3):
        raise ValueError(f"load_image: channels must be 1 (grayscale) or 3 (RGB); got {channels!r}")
    path = os.fspath(path)
    if not path.lower().endswith(IMAGE_EXTENSIONS):
        raise ValueError(f"image {path!r}: unsupported file type; expected one of {', '.join(IMAGE_EXTENSIONS)}")
    try:
        with Image.open(path) as im:
            im.load()
            if im.mode in ("RGBA", "LA", "P"):
                im = im.convert("RGBA")
                white = Image.new("RGBA", im.size, (255, 255, 255, 255))
                im = Image.alpha_composite(white, im)   # transparent pixels become white paper
            return np.asarray(im.convert("L" if channels == 1 else "RGB"), dtype=np.float64)
    except (UnidentifiedImageError, OSError, SyntaxError) as e:
        raise ValueError(f"image {path!r}: cannot be read as PNG/JPEG ({type(e).__name__}: {e})") from None


def preprocess(image, meta, invert="auto"):
    """Turn one image in ``[0, 255]`` into a model input ``(1, C, H, W)`` float32.

    Parameters
    ----------
    image : ndarray, (h, w) for a grayscale model (C = 1) or (h, w, 3) RGB for a colour model (C = 3)
    meta : dict with ``input_shape`` [C, H, W], ``mean``, ``std`` (the model's ``metadata["dataset"]``)
    invert : "auto", True or False — "auto" inverts a grayscale image when its border is brighter
        than the middle grey (dark ink on white paper), because the digit datasets are bright ink on
        black; colour images (natural photographs such as CIFAR-10) are never inverted by "auto"

    Notes
    -----
    ``x = (v - mean) / std`` with ``v`` the resized intensity divided by 255.
    """
    C, H, W = (int(v) for v in meta["input_shape"])
    if C not in (1, 3):
        raise ShapeError(f"preprocess: models with 1 (grayscale) or 3 (RGB) input channels are supported; model "
                         f"input shape is {meta['input_shape']}")
    if invert not in ("auto", True, False):
        raise ValueError(f"preprocess: invert must be 'auto', True or False; got {invert!r}")
    image = np.asarray(image, dtype=np.float64)
    expected = (2, "a 2-D grayscale array (h, w)") if C == 1 else (3, "an RGB array (h, w, 3)")
    if image.ndim != expected[0] or (C == 3 and image.shape[2] != 3):
        raise ShapeError(f"preprocess: the model has {C} input channel(s), so image must be {expected[1]}; "
                         f"got shape {image.shape}")
    if image.shape[:2] != (H, W):
        pil = Image.fromarray(np.clip(image, 0, 255).astype(np.uint8))
        image = np.asarray(pil.resize((W, H), Image.BILINEAR, reducing_gap=None), dtype=np.float64)
    v = image / 255.0
    if invert == "auto":
        border = np.concatenate([v[0], v[-1], v[:, 0], v[:, -1]])
        invert = C == 1 and bool(border.mean() > 0.5)
    if invert:
        v = 1.0 - v
    x = (v - float(meta["mean"])) / float(meta["std"])
    x = x[None] if C == 1 else x.transpose(2, 0, 1)       # (C, H, W)
    return x[None].astype(np.float32)


def _dataset_meta(model):
    meta = getattr(model, "metadata", {}).get("dataset")
    if not meta or not {"input_shape", "mean", "std"} <= set(meta):
        raise ValueError("model: its metadata has no preprocessing (input_shape, mean, std); save it with "
                         "`python -m numpycnn train` or set model.metadata['dataset'] = DataSplits.metadata()")
    return meta


def predict_images(model, paths, top_k=3, invert="auto"):
    """Classify image files with ``model`` using the preprocessing stored in its metadata.

    Parameters
    ----------
    model : Sequential or str — a model, or the path of a model saved with ``save_model``
    paths : str or list of str — PNG/JPEG files or folders of them
    top_k : int >= 1 — how many classes to report per image
    invert : "auto", True or False — see :func:`preprocess`

    Returns
    -------
    list of dict
        one per image: ``path``, ``label`` (int), ``class`` (name), ``top`` = list of
        ``(class_index, class_name, probability)`` sorted by probability.
    """
    if isinstance(model, (str, os.PathLike)):
        model = load_model(model)
    top_k = count(top_k, "top_k", "predict_images")
    meta = _dataset_meta(model)
    classes = list(meta.get("classes") or range(model.num_classes))
    files = image_paths(paths)
    channels = int(meta["input_shape"][0])
    x = np.concatenate([preprocess(load_image(f, channels), meta, invert) for f in files]).astype(model.dtype)
    logits = model.predict_logits(x)
    if isinstance(list(model.layers.values())[-1], LogSoftmax):
        p = np.exp(logits)
    else:
        p = softmax(logits.astype(np.float64))
    k = min(int(top_k), p.shape[1])
    results = []
    for f, row in zip(files, p):
        order = np.argsort(-row, kind="stable")[:k]
        results.append({"path": f, "label": int(order[0]), "class": str(classes[order[0]]),
                        "top": [(int(i), str(classes[i]), float(row[i])) for i in order]})
    return results


def format_predictions(results):
    """Readable lines: ``path: class (p) | class (p) | ...``."""
    return "\n".join(f"{r['path']}: " + " | ".join(f"{name} ({prob:.3f})" for _, name, prob in r["top"])
                     for r in results)
