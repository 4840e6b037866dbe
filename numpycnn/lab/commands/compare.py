"""``python -m numpycnn compare NAME [options]``: test a technique's claims (or ``compare all``).

``NAME`` is a technique of :data:`numpycnn.techniques.TECHNIQUES` — ``branch_supervision``,
``gradient_direction``, ``erdos_renyi``, ``collaborative``, ``orthogonal_reinit`` — or one of its aliases;
``all`` runs every technique's experiment in letter order. The options after it are the experiment's own
(``compare NAME --help``): every experiment runs through :mod:`numpycnn.lab.experiments.protocol` and writes
``figures/<technique>.json`` (``figures-quick/`` with ``--quick``). Before anything runs, ``--out`` and
``--runs-dir`` are checked (:mod:`numpycnn.lab.commands.outputs`): each must be a new or empty folder, or one
holding only what compare writes.

Runs that raise do not stop the others: every other run finishes and is stored, then compare prints one line
per failed run (stage, arm, seed, the error, where its traceback is kept) and exits with status 1; a lost Dask
scheduler (``--scheduler``/``--cluster``) is one line and status 1 too. Re-running the same command computes
only what is missing.
"""
import argparse
import sys

from ... import techniques
from ..experiments import experiment_module, resolve
from ..experiments.protocol import DryRun, ExecutorLost, RunsFailed, output_options
from .figures import FIGURE_KIND, FIGURE_OUTPUTS
from .outputs import output_folder

NAME = "compare"
HELP = "test a technique's claims on real data: compare NAME (a technique or an alias) or compare all"


def run_stores():
    """What a ``--runs-dir`` holds: one run store per experiment (``<technique>`` and ``<technique>-quick``)."""
    return (*techniques.names(), *(f"{t}-quick" for t in techniques.names()))


def add_arguments(p):
    aliases = ", ".join(a for t in techniques.TECHNIQUES for a in t.aliases)
    p.add_argument("name", metavar="NAME",
                   help=f"one of {', '.join(techniques.names())}; an alias ({aliases}); or all")
    p.add_argument("rest", nargs=argparse.REMAINDER, help="options of the experiment (see compare NAME --help)")


def run(args):
    names = techniques.names() if args.name == "all" else [resolve(args.name)]
    for name in names if not {"-h", "--help"} & set(args.rest) else ():   # every folder checked before anything runs
        out, runs_dir = output_options(args.rest, name)
        output_folder(out, "--out", f"compare {name}", FIGURE_OUTPUTS, FIGURE_KIND)
        output_folder(runs_dir, "--runs-dir", f"compare {name}", run_stores(), "compare's run stores (one folder "
                      "per experiment)")
    return run_guarded([(name, experiment_module(name).main) for name in names], args.rest)


def run_guarded(experiments, argv):
    """Run ``main(argv)`` of each ``(name, main)`` of ``experiments``; the exit status.

    A :class:`~numpycnn.lab.experiments.protocol.RunsFailed` is one line per failed run on stderr and status 1 (the
    next experiment still runs); a lost Dask scheduler (:class:`~numpycnn.lab.experiments.protocol.ExecutorLost`) is
    one line and status 1. Any Dask client or LocalCluster opened meanwhile is closed at the end.
    """
    status, name = 0, None
    try:
        for name, main in experiments:
            if len(experiments) > 1:
                print(f"== compare {name} ==", flush=True)
            try:
                status = main(argv) or status
            except DryRun:                               # --dry-run printed the plan; nothing ran
                pass
            except RunsFailed as e:                      # the other experiments of `compare all` still run
                print(f"error: compare {name}: {e}", file=sys.stderr, flush=True)
                status = 1
    except ExecutorLost as e:
        print(f"error: compare {name}: {e}", file=sys.stderr, flush=True)
        status = 1
    finally:
        cluster = sys.modules.get("numpycnn.lab.experiments.protocol.cluster")
        if cluster is not None:                          # Dask was used: close the clients and LocalClusters
            cluster.close_all()
    return status
