"""``python -m numpycnn gradcheck``: every layer type and loss, analytic vs central differences (a table)."""
from ..gradcheck_table import gradcheck_table

NAME = "gradcheck"
HELP = "check every layer's backward pass numerically"


def add_arguments(p):
    p.add_argument("--seed", type=int, default=0)


def run(args):
    return 0 if gradcheck_table(seed=args.seed, verbose=True) else 1
