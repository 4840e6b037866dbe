"""The command line every ``compare`` experiment shares."""
import argparse
import os

from .runner import Runner
from .store import DEFAULT_RUNS_DIR, RunStore


def parser(name, doc, seeds=5):
    """The parser of ``python -m numpycnn compare NAME``: described by the first line of ``doc`` (the
    experiment's docstring), with the shared options; the experiment adds its own."""
    p = argparse.ArgumentParser(prog=f"python -m numpycnn compare {name}", description=doc.splitlines()[0])
    add_arguments(p, seeds)
    return p


def add_arguments(p, seeds=5):
    """The options of every ``compare`` experiment."""
    p.add_argument("--quick", action="store_true", help="tiny data and budgets (seconds to a minute; for tests/CI)")
    p.add_argument("--seeds", type=int, default=None, help=f"final paired seeds (default {seeds}; --quick 2)")
    p.add_argument("--workers", type=int, default=2, help="worker processes, one BLAS thread each (default 2)")
    p.add_argument("--out", default="figures", help="folder for the JSON, table and figures (default figures/)")
    p.add_argument("--runs-dir", default=DEFAULT_RUNS_DIR,
                   help=f"where finished runs are stored, so an interrupted compare resumes "
                        f"(default {DEFAULT_RUNS_DIR})")
    p.add_argument("--fresh", action="store_true", help="ignore stored runs and run everything again")
    p.add_argument("--data-dir", default=None, help="folder with Fashion-MNIST (else $NUMPYCNN_DATA, then the "
                                                    "Debian package's folder)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def check_args(args, name, seeds=5):
    """Check the shared options and return the :class:`Runner` they describe.

    Fills in ``args.seeds`` when it was not given (``seeds``, or 2 with ``--quick``) and checks that
    it is at least 2; the :class:`Runner` checks ``--workers``. The runs are stored under
    ``<--runs-dir>/<name>`` (``<name>-quick`` with ``--quick``), emptied first with ``--fresh``.
    """
    if args.seeds is None:
        args.seeds = 2 if args.quick else seeds
    if isinstance(args.seeds, bool) or args.seeds < 2:
        raise ValueError(f"--seeds must be an integer >= 2 (a confidence interval needs two paired seeds); "
                         f"got {args.seeds}")
    store = RunStore(os.path.join(args.runs_dir, name + ("-quick" if args.quick else "")))
    runner = Runner(store, workers=args.workers, progress=not args.no_progress)     # checked before --fresh clears
    if args.fresh:
        store.clear()
    return runner
