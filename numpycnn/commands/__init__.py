"""Extra sub-commands of ``python -m numpycnn``, one module each, found automatically.

A command module defines ``NAME`` (the sub-command), ``HELP`` (one line),
``add_arguments(parser)`` and ``run(args) -> int`` (exit status).
"""
