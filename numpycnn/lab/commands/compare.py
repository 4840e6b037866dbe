"""``python -m numpycnn compare NAME [options]``: test a technique's claims (or ``compare all``).

``NAME`` is a technique — ``branch_supervision``, ``gradient_direction``, ``erdos_renyi``,
``collaborative``, ``orthogonal_reinit`` — or one of the short names in :data:`ALIASES`; ``all`` runs
the five in sequence. The options after it are the experiment's own (``compare NAME --help``): every
experiment runs through :mod:`numpycnn.lab.experiments.protocol` and writes ``figures/<technique>.json``.
"""
import argparse

from ..experiments import TECHNIQUES, experiment_module, resolve

NAME = "compare"
HELP = "test a technique's claims on real data: compare NAME (a technique or an alias) or compare all"

#: the short command names, one table (also accepted with '-' for '_')
ALIASES = {"branch": "branch_supervision", "optimizers": "gradient_direction", "sparsity": "erdos_renyi",
           "repr": "orthogonal_reinit"}


def add_arguments(p):
    p.add_argument("name", help=f"one of {', '.join(TECHNIQUES)}; an alias ({', '.join(ALIASES)}); or all")
    p.add_argument("rest", nargs=argparse.REMAINDER, help="options of the experiment (see compare NAME --help)")


def run(args):
    names = list(TECHNIQUES) if args.name == "all" else [resolve(args.name, ALIASES)]
    status = 0
    for name in names:
        if len(names) > 1:
            print(f"== compare {name} ==", flush=True)
        status = status or (experiment_module(name).main(args.rest) or 0)
    return status
