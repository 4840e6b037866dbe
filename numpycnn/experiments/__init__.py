"""Experiments: each technique against its baseline, run by ``python -m numpycnn compare NAME``.

Each module defines ``main(argv) -> int`` and writes its figures to ``figures/`` and its
table (Markdown) to ``figures/<name>.md``, so the README's numbers are reproducible.
"""
