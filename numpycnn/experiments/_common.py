"""What every experiment shares: its command-line options, its data, and how it writes results.

Each experiment (``python -m numpycnn compare NAME``) takes at least ``--quick`` (tiny data,
seconds — used by the tests and CI), ``--seeds N``, ``--out DIR`` (default ``figures/``) and
``--data-dir DIR``, and writes ``<out>/<name>.md`` (the table the README includes),
``<out>/<name>.json`` (every raw number) and its PNG figures.
"""
import argparse
import json
import math
import os

import numpy as np

from ..datasets import load_dataset
from ..storage import atomic_write_bytes


def parser(name, description, seeds=3):
    """An ``argparse`` parser with the options every experiment has."""
    p = argparse.ArgumentParser(prog=f"python -m numpycnn compare {name}", description=description)
    p.add_argument("--quick", action="store_true", help="tiny data and few steps (seconds; for tests and CI)")
    p.add_argument("--seeds", type=int, default=seeds, help=f"independent runs per setting (default {seeds})")
    p.add_argument("--out", default="figures", help="folder for the table, JSON and figures (default figures/)")
    p.add_argument("--data-dir", default=None, help="folder with the dataset files (else the usual search)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    return p


def check_seeds(seeds):
    if seeds < 1:
        raise ValueError(f"--seeds must be a positive integer; got {seeds}")
    return seeds


def parse_args(p, argv):
    """Parse ``argv`` with the experiment's parser; check ``--seeds``; ``--quick`` runs one seed."""
    args = p.parse_args(argv)
    check_seeds(args.seeds)
    if args.quick:
        args.seeds = min(args.seeds, 1)
    return args


def fashion_or_digits(data_dir=None, seed=0, train_limit=10_000, test_limit=2_000, val_fraction=0.0):
    """Fashion-MNIST (a seeded subset) when its files are found; otherwise the embedded digits.

    Returns ``(data, note)``: ``note`` says which was used, for the table caption.
    """
    try:
        data = load_dataset("fashion-mnist", data_dir=data_dir, seed=seed, train_limit=train_limit,
                            test_limit=test_limit, val_fraction=val_fraction)
        return data, f"Fashion-MNIST ({len(data.train):,} training / {len(data.test):,} test images, seeded subset)"
    except FileNotFoundError:
        data = load_dataset("digits", seed=seed, val_fraction=val_fraction)
        return data, (f"the embedded 8×8 digits ({len(data.train):,} training / {len(data.test):,} test images) — "
                      f"Fashion-MNIST was not found (`apt-get install dataset-fashion-mnist` or `--data-dir`)")


def mean_std(values, scale=100.0, digits=2):
    """``"87.12 ± 0.34"`` (sample std over seeds; ``± –`` for a single value)."""
    v = np.asarray(values, dtype=np.float64) * scale
    if v.size == 1:
        return f"{v[0]:.{digits}f} ± –"
    return f"{v.mean():.{digits}f} ± {v.std(ddof=1):.{digits}f}"


def write_table(out, name, markdown, raw):
    """Write ``<out>/<name>.md`` and ``<out>/<name>.json`` atomically; returns their paths."""
    os.makedirs(out, exist_ok=True)
    md = os.path.join(out, f"{name}.md")
    js = os.path.join(out, f"{name}.json")
    atomic_write_bytes(md, (markdown.rstrip("\n") + "\n").encode("utf-8"))
    atomic_write_bytes(js, (json.dumps(raw, indent=1, sort_keys=True, default=_json_default) + "\n").encode("utf-8"))
    return md, js


def _json_default(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON-able: {type(o).__name__}")


def first_reaching(evals, target):
    """``(step, seconds)`` of the first evaluation with ``val_acc >= target``, or ``(nan, nan)``."""
    for e in evals:
        if e["val_acc"] >= target:
            return e["step"], e["seconds"]
    return math.nan, math.nan
