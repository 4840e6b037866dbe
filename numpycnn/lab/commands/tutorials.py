"""``python -m numpycnn tutorials``: run the tutorials as scripts; ``--reference-figures`` remakes the shipped figures.

Each tutorial runs in its own subprocess, in an empty temporary working directory (a tutorial writes
nothing there), with this package first on ``PYTHONPATH``. Its figures go where
:func:`numpycnn.plots.show` puts them: ``tutorials/figures/<tutorial>/`` (git-ignored) or the folder
given by ``--figures``. ``--reference-figures`` runs every tutorial in fast mode and writes its
figures at 72 dpi to ``tutorials/reference_figures/<tutorial>/`` — the copies students compare with —
after deleting the old ones. A ``--figures`` folder must be new, empty, or hold only tutorials' figure
folders (:mod:`numpycnn.lab.commands.outputs`).
"""
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .. import REPO_ROOT
from .outputs import output_folder

NAME = "tutorials"
HELP = "run the tutorials (or some) as scripts; --reference-figures remakes tutorials/reference_figures/"

#: the repository's tutorials folder (next to the package)
TUTORIALS = REPO_ROOT / "tutorials"
REFERENCE = TUTORIALS / "reference_figures"


def add_arguments(p):
    p.add_argument("names", nargs="*", help="tutorials to run, by file name or number prefix (default: all)")
    p.add_argument("--fast", action="store_true", help="fast mode (NUMPYCNN_FAST=1)")
    p.add_argument("--figures", default=None, help="save the figures under this folder instead")
    p.add_argument("--reference-figures", action="store_true",
                   help="fast mode, 72 dpi, into tutorials/reference_figures/ (replacing what is there)")


def select(names, folder=TUTORIALS):
    """The tutorial files matching ``names`` (a full stem or a prefix such as ``"03"``); all when empty."""
    files = sorted(folder.glob("[0-9][0-9]_*.py"))
    if not names:
        return files
    chosen = []
    for name in names:
        hits = [f for f in files if f.stem == name or f.name == name or f.stem.startswith(str(name))]
        if not hits:
            raise ValueError(f"tutorials: no tutorial matches {name!r}; tutorials are {[f.stem for f in files]}")
        chosen += [f for f in hits if f not in chosen]
    return chosen


def run_tutorial(path, fast=False, figures=None, dpi=None, timeout=3600):
    """Run one tutorial file as ``python path`` in an empty temporary folder; returns the CompletedProcess."""
    package_root = str(REPO_ROOT)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")])),
           "MPLBACKEND": "Agg", "NUMPYCNN_FAST": "1" if fast else "0"}
    if figures is not None:
        env["NUMPYCNN_FIGURES"] = str(Path(figures).resolve())      # the run's working folder is temporary
    if dpi is not None:
        env["NUMPYCNN_FIGURES_DPI"] = str(int(dpi))
    with tempfile.TemporaryDirectory() as cwd:
        return subprocess.run([sys.executable, str(path)], cwd=cwd, env=env, capture_output=True, text=True,
                              timeout=timeout)


def run(args):
    files = select(args.names)
    if args.figures is not None and args.reference_figures:
        raise ValueError(f"tutorials: --figures {args.figures} and --reference-figures both say where the figures go; "
                         f"expected one of them")
    if args.figures is not None:
        output_folder(args.figures, "--figures", "tutorials", ("[0-9][0-9]_*",),
                      "the tutorials' figures (one folder per tutorial)")
    fast, figures, dpi = args.fast, args.figures, None
    if args.reference_figures:
        fast, figures, dpi = True, REFERENCE, 72
        for f in files:
            shutil.rmtree(REFERENCE / f.stem, ignore_errors=True)
    failed = []
    for f in files:
        t0 = time.perf_counter()
        proc = run_tutorial(f, fast=fast, figures=figures, dpi=dpi)
        status = "ok" if proc.returncode == 0 else f"FAILED (exit {proc.returncode})"
        print(f"{f.name}: {status} in {time.perf_counter() - t0:.1f} s", flush=True)
        if proc.returncode != 0:
            failed.append(f.name)
            print(proc.stdout[-1500:], proc.stderr[-3000:], sep="\n", file=sys.stderr)
    where = figures if figures is not None else TUTORIALS / "figures"
    print(f"figures: {where}/<tutorial>/")
    return 1 if failed else 0
