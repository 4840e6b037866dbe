"""``python -m numpycnn compare NAME [options]``: run a technique's experiment against its baseline.

``NAME`` is a module of :mod:`numpycnn.experiments`; the options after it are the experiment's own
(``compare NAME --help``).
"""
import argparse
import importlib
import pkgutil
import sys

from .. import experiments

NAME = "compare"
HELP = "run a technique's experiment: branch, optimizers, sparsity, collaborative, repr"


def add_arguments(p):
    p.add_argument("name")
    p.add_argument("rest", nargs=argparse.REMAINDER, help="options of the experiment (see compare NAME --help)")


def run(args):
    try:
        mod = importlib.import_module(f"numpycnn.experiments.{args.name.replace('-', '_')}")
    except ModuleNotFoundError:
        names = sorted(i.name for i in pkgutil.iter_modules(experiments.__path__) if not i.name.startswith("_"))
        print(f"compare: unknown experiment {args.name!r}; choose one of {names}", file=sys.stderr)
        return 2
    return mod.main(args.rest)
