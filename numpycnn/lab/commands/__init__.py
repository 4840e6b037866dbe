"""The sub-commands of ``python -m numpycnn``, one module each; :mod:`numpycnn.lab.cli` assembles them.

A command module defines ``NAME`` (the sub-command), ``HELP`` (one line), ``add_arguments(parser)``
and ``run(args) -> int`` (exit status), and optionally ``PARSER`` (keyword arguments of its parser).
"""
from . import assignment, book, compare, demo, evaluate, figures, gradcheck, predict, sparsity, train, tutorials

#: the sub-commands in the order ``python -m numpycnn --help`` lists them
COMMANDS = (demo, train, evaluate, predict, gradcheck, compare, figures, sparsity, tutorials, book, assignment)
