"""``python -m numpycnn evaluate MODEL --dataset digits``: accuracy, per-class precision/recall, figures.

Writes ``confusion.png`` (rows: true class, columns: predicted) and ``confident_errors.png``
(the test images the model got wrong with the highest probability) into ``--out``.
"""
import os

import numpy as np

from ...datasets import DATASETS, load_dataset
from ...functional import softmax
from ...model import load_model
from ...plots import figure, save_figure

NAME = "evaluate"
HELP = "evaluate a saved model on a dataset's test split: accuracy, per-class precision/recall, figures"


def add_arguments(p):
    p.add_argument("model", help="a model.npz written by `python -m numpycnn train`")
    p.add_argument("--dataset", choices=DATASETS, default=None,
                   help="default: the dataset named in the model's metadata")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--test-limit", type=int, default=None)
    p.add_argument("--out", default=None, help="folder for the figures (default: next to the model)")
    p.add_argument("--seed", type=int, default=0, help="the split seed (must match training for digits)")


def confusion_matrix(y_true, y_pred, K):
    """``M[i, j]`` = number of samples of true class ``i`` predicted as ``j``, shape (K, K)."""
    M = np.zeros((K, K), dtype=np.int64)
    np.add.at(M, (y_true, y_pred), 1)
    return M


def precision_recall(M):
    """Per-class precision ``M[j,j] / sum_i M[i,j]`` and recall ``M[i,i] / sum_j M[i,j]`` (0 when undefined)."""
    d = np.diag(M).astype(np.float64)
    col, row = M.sum(axis=0), M.sum(axis=1)
    return (np.divide(d, col, out=np.zeros_like(d), where=col > 0),
            np.divide(d, row, out=np.zeros_like(d), where=row > 0))


def confusion_figure(M, classes, title):
    fig = figure(figsize=(6, 5.5))
    ax = fig.subplots()
    ax.imshow(M, cmap="Blues")
    K = len(classes)
    ax.set_xticks(range(K), classes, rotation=60, ha="right", fontsize=7)
    ax.set_yticks(range(K), classes, fontsize=7)
    for i in range(K):
        for j in range(K):
            if M[i, j]:
                ax.text(j, i, str(M[i, j]), ha="center", va="center", fontsize=6,
                        color="white" if M[i, j] > M.max() / 2 else "black")
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    fig.tight_layout()
    return fig


def confident_errors_figure(x, y, pred, conf, classes, n=16):
    wrong = np.flatnonzero(pred != y)
    wrong = wrong[np.argsort(-conf[wrong], kind="stable")][:n]
    cols = 4
    rows = max(1, int(np.ceil(len(wrong) / cols)))
    fig = figure(figsize=(cols * 1.8, rows * 2.0))
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, i in zip(axes.ravel(), wrong):
        ax.imshow(x[i, 0], cmap="gray")
        ax.set_title(f"true {classes[y[i]]}\npred {classes[pred[i]]} {conf[i]:.2f}", fontsize=7)
    fig.suptitle("most confidently wrong test images")
    fig.tight_layout()
    return fig


def run(args):
    model = load_model(args.model)
    meta = model.metadata.get("dataset", {})
    name = args.dataset or meta.get("name")
    if name is None:
        raise ValueError("--dataset: the model's metadata names no dataset; pass --dataset")
    data = load_dataset(name, data_dir=args.data_dir, test_limit=args.test_limit, seed=args.seed)
    if list(data.input_shape) != list(model.input_shape):
        raise ValueError(f"--dataset: {name} images have shape {data.input_shape} but the model expects "
                         f"{tuple(model.input_shape)}")
    x, y = data.test.x.astype(model.dtype), data.test.y
    p = softmax(model.predict_logits(x).astype(np.float64))
    pred, conf = p.argmax(axis=1), p.max(axis=1)
    K = p.shape[1]
    classes = list(meta.get("classes") or data.classes)
    M = confusion_matrix(y, pred, K)
    prec, rec = precision_recall(M)
    print(f"{name}: {len(y)} test images, accuracy {np.mean(pred == y):.4f}")
    print(f"{'class':>14} {'precision':>9} {'recall':>7} {'support':>7}")
    for k in range(K):
        print(f"{str(classes[k]):>14} {prec[k]:>9.3f} {rec[k]:>7.3f} {M[k].sum():>7d}")
    out = args.out or os.path.dirname(os.path.abspath(args.model))
    os.makedirs(out, exist_ok=True)
    save_figure(confusion_figure(M, classes, f"{model.name} on {name} (test)"), os.path.join(out, "confusion.png"))
    save_figure(confident_errors_figure(data.test.x, y, pred, conf, classes), os.path.join(out, "confident_errors.png"))
    print(f"wrote {out}/confusion.png, {out}/confident_errors.png")
    return 0
