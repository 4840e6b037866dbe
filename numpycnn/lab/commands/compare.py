"""``python -m numpycnn compare NAME [options]``: test a technique's claims (or ``compare all``).

``NAME`` is a technique of :data:`numpycnn.techniques.TECHNIQUES` — ``branch_supervision``,
``gradient_direction``, ``erdos_renyi``, ``collaborative``, ``orthogonal_reinit`` — or one of its aliases;
``all`` runs every technique's experiment in letter order. The options after it are the experiment's own
(``compare NAME --help``): every experiment runs through :mod:`numpycnn.lab.experiments.protocol` and writes
``figures/<technique>.json``.
"""
import argparse

from ... import techniques
from ..experiments import experiment_module, resolve

NAME = "compare"
HELP = "test a technique's claims on real data: compare NAME (a technique or an alias) or compare all"


def add_arguments(p):
    aliases = ", ".join(a for t in techniques.TECHNIQUES for a in t.aliases)
    p.add_argument("name", help=f"one of {', '.join(techniques.names())}; an alias ({aliases}); or all")
    p.add_argument("rest", nargs=argparse.REMAINDER, help="options of the experiment (see compare NAME --help)")


def run(args):
    names = techniques.names() if args.name == "all" else [resolve(args.name)]
    status = 0
    for name in names:
        if len(names) > 1:
            print(f"== compare {name} ==", flush=True)
        status = status or (experiment_module(name).main(args.rest) or 0)
    return status
