"""Figures. Every function takes arrays (or a History) and returns a ``matplotlib.figure.Figure``;
nothing here calls ``plt.show()``. Save with :func:`save_figure` (deterministic PNG: no timestamps)."""
import io
import os

import numpy as np

from .storage import atomic_write_bytes


def _figure(*args, **kwargs):
    """A ``matplotlib.figure.Figure`` (no pyplot: no global state, no GUI backend).

    matplotlib is imported here, when the first figure is drawn: it takes longer to import than
    the rest of numpycnn together, and most runs (and every grader process) draw nothing.
    """
    from matplotlib.figure import Figure
    return Figure(*args, **kwargs)


def save_figure(fig, path, dpi=110):
    """Save ``fig`` as a PNG without metadata (so the same figure gives the same bytes), atomically."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None}, bbox_inches="tight")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    atomic_write_bytes(path, buf.getvalue())
    return path


def training_curves(history, title=None):
    """Loss and accuracy per epoch (train and validation) from a :class:`~numpycnn.training.History`."""
    fig = _figure(figsize=(9, 3.4))
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
    fig = _figure(figsize=(1.1 * cols, 1.1 * rows + 0.4))
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
    fig = _figure(figsize=(1.3 * (max_channels + 1), 1.3 * rows))
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
    fig = _figure(figsize=(4, 4))
    ax = fig.subplots()
    ax.scatter(n, a, s=6, alpha=0.6)
    lim = [min(a.min(), n.min()), max(a.max(), n.max())]
    ax.plot(lim, lim, "k--", lw=0.8)
    ax.set_xlabel("numeric (central difference)")
    ax.set_ylabel("analytic (backward)")
    ax.set_title(title)
    return fig
