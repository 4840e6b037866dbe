"""``python -m numpycnn figures``: regenerate every figure and table of the README and tutorials.

Runs the core figures (filters, feature maps, gradient scatter, training curves) and
then every experiment of :mod:`numpycnn.lab.experiments` (``compare NAME``) with fixed
seeds, writing PNGs (no timestamps in their metadata) and Markdown/JSON tables into
``--out`` (default ``figures/``). ``--quick`` runs everything on tiny data in a
temporary-looking folder for CI; it never overwrites the committed figures unless
``--out figures`` is given explicitly. ``--out`` must be a new or empty folder, or one holding only
figures and tables (:data:`FIGURE_OUTPUTS`, checked by :mod:`numpycnn.lab.commands.outputs` before anything runs).
"""
import glob
import os
import re
import time

import numpy as np

from ... import techniques
from ..experiments import experiment_module
from ...datasets import DATA_ENV_VAR, load_dataset
from ...gradcheck import numerical_gradient
from ...layers import Conv2D
from ...optim import Adam
from ...plots import feature_maps, filter_grid, gradient_scatter, save_figure, training_curves
from ...storage import atomic_write_bytes
from ...training import Trainer
from ...zoo import lenet5, small_cnn
from .outputs import output_folder

NAME = "figures"
HELP = "regenerate every figure and table (figures/); --quick for a fast smoke run"


def add_arguments(p):
    p.add_argument("--out", default=None, help="output folder (default figures/, or figures-quick/ with --quick)")
    p.add_argument("--quick", action="store_true", help="tiny data, seconds per experiment (for CI)")
    p.add_argument("--only", action="append", default=None,
                   help="only these parts: core or an experiment name (repeatable)")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--readme", default=None,
                   help="README whose include blocks are refreshed after a full run into figures/ (default README.md, "
                        "if there is one)")
    p.add_argument("--readme-only", action="store_true",
                   help="only refresh the include blocks of the README and docs/*.md from the files already written")


#: what ``figures`` and ``compare`` write into their output folder (fnmatch patterns): a folder holding anything
#: else is not one of theirs (:func:`numpycnn.lab.commands.outputs.check_owned`)
FIGURE_OUTPUTS = ("core_*.png", "scorecard.md", *(f"{t}{tail}" for t in techniques.names()
                                                  for tail in (".json", ".md", ".png", "_*.png")))
FIGURE_KIND = "figures and tables (what figures and compare write)"

#: ``<!-- BEGIN include figures/x.md -->`` ... ``<!-- END include figures/x.md -->`` in the README
INCLUDE = re.compile(r"(<!-- BEGIN include (?P<path>\S+) -->\n)(?P<body>.*?)(<!-- END include (?P=path) -->)", re.S)


def sync_includes(readme, root=None):
    """Replace every include block of ``readme`` by the current text of the file it names.

    The README never holds a pasted number: its tables live between
    ``<!-- BEGIN include PATH -->`` and ``<!-- END include PATH -->`` markers and are copied
    from the files the experiments and benchmarks write (``PATH`` relative to ``root``,
    default the README's folder). Returns the list of included paths; writes atomically,
    and only when something changed.
    """
    root = root or os.path.dirname(os.path.abspath(readme))
    try:
        with open(readme, encoding="utf-8") as f:
            text = f.read()
    except UnicodeDecodeError as e:
        raise ValueError(f"{readme}: not a UTF-8 text file ({e}); expected a Markdown document") from None
    included = []

    def body(m):
        path = os.path.join(root, m.group("path"))
        included.append(m.group("path"))
        if not os.path.exists(path):
            return m.group(0)                  # not generated yet: keep what is there
        with open(path, encoding="utf-8") as f:
            content = f.read().rstrip("\n") + "\n"
        return m.group(1) + content + m.group(4)

    new = INCLUDE.sub(body, text)
    if new != text:
        atomic_write_bytes(readme, new.encode("utf-8"))
    return included


def sync_documents(readme):
    """Refresh the include blocks of ``readme`` and of every ``docs/*.md`` next to it (their paths are relative
    to the README's folder, the repository root). Returns ``{document: [included paths]}``."""
    root = os.path.dirname(os.path.abspath(readme))
    docs = [readme] + sorted(glob.glob(os.path.join(root, "docs", "*.md")))
    return {d: sync_includes(d, root=root) for d in docs}


def report_synced(synced):
    """Print, for every document with include blocks, how many :func:`sync_documents` refreshed."""
    for doc, included in synced.items():
        if included:
            print(f"{doc}: refreshed {len(included)} include blocks")


def core_figures(out, quick=False, data_dir=None):
    """Filters, feature maps, gradient scatter and curves of a small CNN trained on digits."""
    written = []
    try:
        data = load_dataset("fashion-mnist", data_dir=data_dir, seed=0, train_limit=2000 if quick else 20000,
                            test_limit=500 if quick else 2000)
        model = lenet5(data.input_shape, seed=0)
    except FileNotFoundError:
        if data_dir is not None or os.environ.get(DATA_ENV_VAR):
            raise                        # a folder was named: its error, never other data
        data = load_dataset("digits", seed=0)
        model = small_cnn(data.input_shape, seed=0)
    trainer = Trainer(model, Adam(model, lr=1e-3), batch_size=64, seed=0, progress=False)
    trainer.fit(data.train, data.val, epochs=1 if quick else 5)
    name = f"{model.name} on {data.name}"
    written.append(save_figure(training_curves(trainer.history, title=name), os.path.join(out, "core_curves.png")))
    w = model[model.conv_layers()[0]].params["W"]
    written.append(save_figure(filter_grid(w, title=f"conv1 filters of {name}"), os.path.join(out, "core_filters.png")))
    written.append(save_figure(feature_maps(model, data.test.x[0]), os.path.join(out, "core_feature_maps.png")))
    # numeric vs analytic gradient of a conv layer (float64)
    rng = np.random.default_rng(0)
    layer = Conv2D(2, 3, 3, stride=1, pad=1, rng=rng, dtype=np.float64)
    x = rng.standard_normal((2, 2, 6, 6))
    R = rng.standard_normal(layer.forward(x).shape)
    layer.backward(R)
    analytic = layer.grads["W"].copy()
    numeric = numerical_gradient(lambda: float(np.sum(layer.forward(x) * R)), layer.params["W"])
    written.append(save_figure(gradient_scatter(analytic, numeric, "conv W: analytic vs central difference"),
                               os.path.join(out, "core_gradient_scatter.png")))
    return written


def run(args):
    readme = args.readme or "README.md"
    if (args.readme is not None or args.readme_only) and not os.path.isfile(readme):
        state = "is not a file" if os.path.exists(readme) else "does not exist"
        raise FileNotFoundError(f"figures: --readme {readme} {state}; expected the README whose include blocks "
                                f"to refresh")
    if os.path.isfile(readme):
        try:
            with open(readme, encoding="utf-8") as f:
                f.read()
        except UnicodeDecodeError as e:
            raise ValueError(f"figures: --readme {readme} is not a UTF-8 text file ({e}); expected the README "
                             f"(Markdown) whose include blocks to refresh") from None
    if args.data_dir is not None and not os.path.isdir(args.data_dir):
        state = "is not a folder" if os.path.exists(args.data_dir) else "does not exist"
        raise FileNotFoundError(f"figures: --data-dir {args.data_dir} {state}; expected the folder holding the "
                                f"dataset's files")
    if args.readme_only:
        report_synced(sync_documents(readme))
        return 0
    parts = ["core", *techniques.names()]
    if args.only:
        unknown = set(args.only) - set(parts)
        if unknown:
            raise ValueError(f"figures: --only: unknown parts {sorted(unknown)}; choose from {parts}")
        parts = [p for p in parts if p in args.only]
    out = args.out or ("figures-quick" if args.quick else "figures")
    output_folder(out, "--out", "figures", FIGURE_OUTPUTS, FIGURE_KIND)
    os.makedirs(out, exist_ok=True)
    status = 0
    for part in parts:
        t0 = time.perf_counter()
        print(f"== {part} ==", flush=True)
        if part == "core":
            core_figures(out, args.quick, args.data_dir)
        else:
            mod = experiment_module(part)
            argv = ["--out", out] + (["--quick"] if args.quick else []) + (
                ["--data-dir", args.data_dir] if args.data_dir else [])
            rc = mod.main(argv)
            status = status or (rc or 0)
        print(f"== {part}: {time.perf_counter() - t0:.0f} s ==", flush=True)
    print(f"figures written to {out}/")
    if not args.quick and os.path.normpath(out) == "figures" and os.path.isfile(readme):
        report_synced(sync_documents(readme))
    return status
