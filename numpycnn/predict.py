"""Classify image files with a saved model, applying the preprocessing it was trained with.

The model's metadata (written by ``python -m numpycnn train`` through
:meth:`DataSplits.metadata`) holds ``input_shape = [C, H, W]``, ``mean``, ``std`` and
``classes``. An image file goes through the same steps as the training data::

    v = grayscale(image)            # format conversion (RGB/RGBA/palette -> luminance), C == 1
    v = resize(v, (H, W))           # size normalisation (Pillow, bilinear with antialiasing)
    v = v / 255                     # intensities in [0, 1], i.e. raw / scale of the dataset
    v = 1 - v   if invert           # datasets store ink as bright on dark
    x = (v - mean) / std            # the training normalisation

Reading: PNG and JPEG through Pillow. Pillow is not a numpycnn dependency of its own but
is a declared dependency of matplotlib (which numpycnn needs), so it is always installed
alongside; it is imported only inside :func:`load_image`.
"""
import os

import numpy as np

from .errors import ShapeError

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


def load_image(path):
    """Read a PNG or JPEG file as a grayscale float64 array ``(H, W)`` with values in ``[0, 255]``.

    Raises
    ------
    ValueError
        the file is not a readable PNG/JPEG image (names the path and the reason)
    """
    path = os.fspath(path)
    if not path.lower().endswith(IMAGE_EXTENSIONS):
        raise ValueError(f"image {path!r}: unsupported file type; expected one of {', '.join(IMAGE_EXTENSIONS)}")
    from PIL import Image, UnidentifiedImageError
    try:
        with Image.open(path) as im:
            im.load()
            if im.mode in ("RGBA", "LA", "P"):
                im = im.convert("RGBA")
                white = Image.new("RGBA", im.size, (255, 255, 255, 255))
                im = Image.alpha_composite(white, im)   # transparent pixels become white paper
            gray = im.convert("L")
            return np.asarray(gray, dtype=np.float64)
    except (UnidentifiedImageError, OSError, SyntaxError) as e:
        raise ValueError(f"image {path!r}: cannot be read as PNG/JPEG ({type(e).__name__}: {e})") from None


def preprocess(image, meta, invert="auto"):
    """Turn one grayscale image ``(h, w)`` in ``[0, 255]`` into a model input ``(1, 1, H, W)`` float32.

    Parameters
    ----------
    image : ndarray (h, w), values in [0, 255]
    meta : dict with ``input_shape`` [C, H, W], ``mean``, ``std`` (the model's ``metadata["dataset"]``)
    invert : "auto", True or False — "auto" inverts when the border is brighter than the middle
        grey (dark ink on white paper), because the training images are bright ink on black

    Notes
    -----
    ``x = (v - mean) / std`` with ``v`` the resized intensity divided by 255.
    """
    from PIL import Image
    C, H, W = (int(v) for v in meta["input_shape"])
    if C != 1:
        raise ShapeError(f"preprocess: only single-channel (grayscale) models are supported; model input "
                         f"shape is {meta['input_shape']}")
    if invert not in ("auto", True, False):
        raise ValueError(f"preprocess: invert must be 'auto', True or False; got {invert!r}")
    image = np.asarray(image, dtype=np.float64)
    if image.ndim != 2:
        raise ShapeError(f"preprocess: image must be a 2-D grayscale array (h, w); got shape {image.shape}")
    if image.shape != (H, W):
        pil = Image.fromarray(np.clip(image, 0, 255).astype(np.uint8))
        image = np.asarray(pil.resize((W, H), Image.BILINEAR, reducing_gap=None), dtype=np.float64)
    v = image / 255.0
    if invert == "auto":
        border = np.concatenate([v[0], v[-1], v[:, 0], v[:, -1]])
        invert = bool(border.mean() > 0.5)
    if invert:
        v = 1.0 - v
    x = (v - float(meta["mean"])) / float(meta["std"])
    return x[None, None].astype(np.float32)


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
    from .io import load_model
    from .losses import softmax
    if isinstance(model, (str, os.PathLike)):
        model = load_model(model)
    if isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)) or top_k < 1:
        raise ValueError(f"predict_images: top_k must be a positive integer; got {top_k!r}")
    meta = _dataset_meta(model)
    classes = list(meta.get("classes") or range(model.num_classes))
    files = image_paths(paths)
    x = np.concatenate([preprocess(load_image(f), meta, invert) for f in files]).astype(model.dtype)
    logits = model.predict_logits(x)
    if type(list(model.layers.values())[-1]).__name__ == "LogSoftmax":
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
