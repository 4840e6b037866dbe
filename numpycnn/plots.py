"""Figures. Every function takes arrays (or a History) and returns a ``matplotlib.figure.Figure``;
nothing here calls ``plt.show()``. Save with :func:`save_figure` (deterministic PNG: no timestamps);
put a figure in front of the reader with :func:`show` (inline in a notebook, saved and its path
printed when run as a script — what every tutorial does)."""
import io
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

from .storage import atomic_write_bytes

#: environment variable naming the folder :func:`show` saves into (the tests point it at a temporary folder)
FIGURES_ENV = "NUMPYCNN_FIGURES"
#: environment variable giving the resolution :func:`show` saves with (the reference figures use 72)
FIGURES_DPI_ENV = "NUMPYCNN_FIGURES_DPI"


def figure(*args, **kwargs):
    """A ``matplotlib.figure.Figure`` (no pyplot: no global state, no GUI backend).

    matplotlib is imported here, when the first figure is drawn: it takes longer to import than
    the rest of numpycnn together, and most runs (and every grader process) draw nothing.
    """
    from matplotlib.figure import Figure
    return Figure(*args, **kwargs)


def figure_png(fig, dpi=110):
    """``fig`` as PNG bytes without metadata (so the same figure gives the same bytes)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None}, bbox_inches="tight")
    return buf.getvalue()


def save_figure(fig, path, dpi=110):
    """Save ``fig`` as a PNG without metadata (so the same figure gives the same bytes), atomically."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    atomic_write_bytes(path, figure_png(fig, dpi))
    return path


def in_notebook():
    """True inside a Jupyter kernel (a notebook, or a notebook executed by a book builder).

    A plain ``python`` run and a terminal IPython session are not notebooks: they cannot show
    an image inline.
    """
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return False
    shell = ipython.get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def _main_script():
    """Path of the script ``python`` is running, or None (interactive session, ``python -c``)."""
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    return Path(path).resolve() if path and str(path).endswith(".py") else None


def figure_folder(script=None):
    """The folder :func:`show` saves the figures of ``script`` into when not in a notebook.

    Parameters
    ----------
    script : path, optional
        The running script; default: ``__main__``'s file.

    Returns
    -------
    Path
        ``$NUMPYCNN_FIGURES/<script stem>/`` when that variable is set (the tests set it to a temporary
        folder); else ``<script folder>/figures/<script stem>/`` — for a tutorial
        ``tutorials/figures/01_convolution_by_hand/``, a fixed folder that git ignores; else, with no
        script (an interactive session), ``<temporary folder>/numpycnn-figures/interactive/``.
    """
    script = Path(script).resolve() if script is not None else _main_script()
    stem = script.stem if script is not None else "interactive"
    root = os.environ.get(FIGURES_ENV)
    if root:
        return Path(root) / stem
    if script is not None:
        return script.parent / "figures" / stem
    return Path(tempfile.gettempdir()) / "numpycnn-figures" / stem


def show(fig, name, folder=None):
    """Put a figure in front of the reader: inline in a notebook, else saved as ``<folder>/<name>.png``.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
    name : str
        File name without extension, e.g. ``"edge_filters"`` (letters, digits, ``-``, ``_``, ``.``).
    folder : path, optional
        Where to save outside a notebook; default :func:`figure_folder` (``tutorials/figures/<tutorial>/``
        for a tutorial run with ``python``).

    Returns
    -------
    Path or None
        The saved file (its path is also printed), or None when the figure was shown inline.
    """
    from matplotlib.figure import Figure
    if not isinstance(fig, Figure):
        raise TypeError(f"show: fig must be a matplotlib.figure.Figure; got {type(fig).__name__}")
    if not isinstance(name, str) or not name or name.strip("-_.") == "" or \
            any(not (ch.isalnum() or ch in "-_.") for ch in name):
        raise ValueError(f"show: name must be a file name without a folder, made of letters, digits, '-', '_' "
                         f"and '.' (e.g. 'edge_filters'); got {name!r}")
    if in_notebook():
        from IPython.display import Image, display
        display(Image(data=figure_png(fig)))
        return None
    path = Path(folder if folder is not None else figure_folder()) / f"{name}.png"
    save_figure(fig, path, dpi=int(os.environ.get(FIGURES_DPI_ENV, "110")))
    print(f"figure {name}: {path}")
    return path


def training_curves(history, title=None):
    """Loss and accuracy per epoch (train and validation) from a :class:`~numpycnn.training.History`."""
    fig = figure(figsize=(9, 3.4))
    ax1, ax2 = fig.subplots(1, 2)
    ep = history["epoch"]
    ax1.plot(ep, history["train_loss"], "o-", label="train")
    if any(v is not None for v in history["val_loss"]):
        ax1.plot(ep, history["val_loss"], "s--", label="validation")
    ax1.set_xlabel("epoch")
    ax1.set_ylabel("cross-entropy loss")
    ax1.legend()
    ax2.plot(ep, history["train_acc"], "o-", label="train")
    if any(v is not None for v in history["val_acc"]):
        ax2.plot(ep, history["val_acc"], "s--", label="validation")
    ax2.set_xlabel("epoch")
    ax2.set_ylabel("accuracy")
    ax2.legend()
    for ax in (ax1, ax2):
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def filter_grid(w, title="first-layer filters", cols=None):
    """Show conv filters ``w: (F, C, KH, KW)`` as a grid of images (channel mean when C > 1;
    RGB when C == 3), each scaled to its own range."""
    F, C = w.shape[:2]
    cols = cols or int(np.ceil(np.sqrt(F)))
    rows = int(np.ceil(F / cols))
    fig = figure(figsize=(1.1 * cols, 1.1 * rows + 0.4))
    axes = np.atleast_1d(fig.subplots(rows, cols)).ravel()
    for i, ax in enumerate(axes):
        ax.axis("off")
        if i >= F:
            continue
        f = w[i]
        if C == 3:
            img = f.transpose(1, 2, 0)
            img = (img - img.min()) / (np.ptp(img) + 1e-12)
            ax.imshow(img, interpolation="nearest")
        else:
            ax.imshow(f.mean(axis=0), cmap="gray", interpolation="nearest")
    fig.suptitle(title)
    return fig


def feature_maps(model, x, layer_names=None, max_channels=8):
    """Activations of one image ``x: (C, H, W)`` after the named layers (default: every conv layer)."""
    layer_names = layer_names or model.conv_layers()
    maps = {}
    hooks = []
    for name in layer_names:
        fn = (lambda n: (lambda h: maps.__setitem__(n, h[0].copy())))(name)
        model.add_forward_hook(name, fn)
        hooks.append(name)
    try:
        with model.evaluation_mode():       # a plot must not move BatchNorm's running statistics
            model.forward(x[None].astype(model.dtype))
    finally:
        for name in hooks:
            model.forward_hooks[name].pop()
    rows = len(layer_names) + 1
    fig = figure(figsize=(1.3 * (max_channels + 1), 1.3 * rows))
    axes = fig.subplots(rows, max_channels, squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    axes[0, 0].imshow(x.mean(axis=0), cmap="gray")
    axes[0, 0].set_title("input", fontsize=8)
    for r, name in enumerate(layer_names, 1):
        for c in range(min(max_channels, maps[name].shape[0])):
            axes[r, c].imshow(maps[name][c], cmap="viridis")
        axes[r, 0].set_title(name, fontsize=8)
    return fig


def gradient_scatter(analytic, numeric, title="analytic vs numeric gradient"):
    """Scatter of analytic against numeric gradient entries (they should lie on the diagonal)."""
    a, n = np.ravel(analytic), np.ravel(numeric)
    fig = figure(figsize=(4, 4))
    ax = fig.subplots()
    ax.scatter(n, a, s=6, alpha=0.6)
    lim = [min(a.min(), n.min()), max(a.max(), n.max())]
    ax.plot(lim, lim, "k--", lw=0.8)
    ax.set_xlabel("numeric (central difference)")
    ax.set_ylabel("analytic (backward)")
    ax.set_title(title)
    return fig
