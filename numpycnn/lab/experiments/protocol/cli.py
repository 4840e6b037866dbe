"""The command line every ``compare`` experiment shares."""
import argparse
import os

from ....validate import integer, number
from .runner import Runner
from .store import DEFAULT_RUNS_DIR, RunStore

#: where the JSON, the table and the figures go unless ``--out`` says otherwise (``--quick`` never overwrites the
#: committed figures: it writes to ``figures-quick/``, as ``python -m numpycnn figures --quick`` does)
DEFAULT_OUT, DEFAULT_QUICK_OUT = "figures", "figures-quick"


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
    p.add_argument("--out", default=None, help=f"folder for the JSON, table and figures (default {DEFAULT_OUT}/, "
                                               f"or {DEFAULT_QUICK_OUT}/ with --quick)")
    p.add_argument("--runs-dir", default=DEFAULT_RUNS_DIR,
                   help=f"where finished runs are stored, so an interrupted compare resumes "
                        f"(default {DEFAULT_RUNS_DIR})")
    p.add_argument("--fresh", action="store_true", help="ignore stored runs and run everything again")
    p.add_argument("--data-dir", default=None, help="folder with Fashion-MNIST (else $NUMPYCNN_DATA, then the "
                                                    "Debian package's folder)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def output_options(argv, name):
    """``(out, runs_dir)`` as the experiment ``name`` will use them with the command line ``argv`` (its own options
    are skipped), so the ``compare`` command can check both folders before the experiment runs."""
    p = argparse.ArgumentParser(prog=f"python -m numpycnn compare {name}", add_help=False)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--out", default=None)
    p.add_argument("--runs-dir", default=DEFAULT_RUNS_DIR)
    args, _ = p.parse_known_args(argv)
    return args.out or (DEFAULT_QUICK_OUT if args.quick else DEFAULT_OUT), args.runs_dir


def check_positive(args, name, *options):
    """Each of ``options`` (attribute names such as ``"steps"``) that was given must be an integer >= 1."""
    for option in options:
        value = getattr(args, option)
        if value is not None:
            integer(value, "--" + option.replace("_", "-"), f"compare {name}")


def check_fraction(args, name, option):
    """The option ``option`` (an attribute name), if given, must be a number in (0, 1]."""
    value = getattr(args, option)
    if value is not None:
        number(value, "--" + option.replace("_", "-"), f"compare {name}", low=0, high=1, low_open=True,
               meaning="a validation accuracy")


def check_args(args, name, seeds=5):
    """Check the shared options and return the :class:`Runner` they describe.

    Fills in ``args.seeds`` when it was not given (``seeds``, or 2 with ``--quick``) and checks that
    it is at least 2; the :class:`Runner` checks ``--workers``; then fills in ``args.out`` when it was
    not given (``figures/``, or ``figures-quick/`` with ``--quick``). The runs are stored under
    ``<--runs-dir>/<name>`` (``<name>-quick`` with ``--quick``), emptied first with ``--fresh``.
    """
    if args.seeds is None:
        args.seeds = 2 if args.quick else seeds
    if isinstance(args.seeds, bool) or args.seeds < 2:
        raise ValueError(f"--seeds must be an integer >= 2 (a confidence interval needs two paired seeds); "
                         f"got {args.seeds}")
    store = RunStore(os.path.join(args.runs_dir, name + ("-quick" if args.quick else "")))
    runner = Runner(store, workers=args.workers, progress=not args.no_progress)     # checked before --fresh clears
    if args.out is None:
        args.out = DEFAULT_QUICK_OUT if args.quick else DEFAULT_OUT
    if args.fresh:
        store.clear()
    return runner
