"""Command line: ``python -m numpycnn [command] [options]``; this module only assembles the parser.

Every sub-command is a module of :mod:`numpycnn.lab.commands` (``demo`` — the default —, ``train``,
``evaluate``, ``predict``, ``gradcheck``, ``compare``, ``figures``, ``sparsity``, ``tutorials``, ``book``,
``assignment``).
Errors a user can cause (a bad option value, a missing file, a folder that cannot be written) are one line on
stderr and exit status 2; ``NUMPYCNN_DEBUG=1`` shows the traceback instead.
"""
import argparse
import os
import sys

from .commands import COMMANDS
from ..errors import NumpyCNNError


def make_parser():
    """The ``python -m numpycnn`` parser: one sub-parser per module of ``COMMANDS``."""
    p = argparse.ArgumentParser(prog="python -m numpycnn", description="numpycnn: a readable NumPy CNN library.")
    sub = p.add_subparsers(dest="command")
    for mod in COMMANDS:
        sp = sub.add_parser(mod.NAME, help=mod.HELP, **getattr(mod, "PARSER", {}))
        mod.add_arguments(sp)
        sp.set_defaults(func=mod.run)
    return p


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = make_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        args = parser.parse_args(["demo"])
    try:
        return args.func(args)
    except (NumpyCNNError, ValueError, TypeError, OSError) as e:      # OSError: a path (missing, a file, not writable)
        if os.environ.get("NUMPYCNN_DEBUG"):
            raise
        print(f"error: {e}", file=sys.stderr)
        return 2
