"""``python -m numpycnn compare NAME [options]``: test a technique's claims (or ``compare all``).

``NAME`` is a technique of :data:`numpycnn.techniques.TECHNIQUES` — ``branch_supervision``,
``gradient_direction``, ``erdos_renyi``, ``collaborative``, ``orthogonal_reinit`` — or one of its aliases;
``all`` runs every technique's experiment in letter order. The options after it are the experiment's own
(``compare NAME --help``): every experiment runs through :mod:`numpycnn.lab.experiments.protocol` and writes
``figures/<technique>.json`` (``figures-quick/`` with ``--quick``). Before anything runs, ``--out`` and
``--runs-dir`` are checked (:mod:`numpycnn.lab.commands.outputs`): each must be a new or empty folder, or one
holding only what compare writes.
"""
import argparse

from ... import techniques
from ..experiments import experiment_module, resolve
from ..experiments.protocol import output_options
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
    status = 0
    for name in names:
        if len(names) > 1:
            print(f"== compare {name} ==", flush=True)
        status = status or (experiment_module(name).main(args.rest) or 0)
    return status
