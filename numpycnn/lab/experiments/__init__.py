"""Experiments: each technique's claims tested on real data, ``python -m numpycnn compare NAME``.

One module per technique, the one its record names (:data:`numpycnn.techniques.TECHNIQUES`,
``experiment``); each defines ``main(argv) -> int`` and runs through :mod:`numpycnn.lab.experiments.protocol`
(tuning on validation, paired seeds, confidence intervals, verdicts), writing
``figures/<technique>.json``, ``.md`` and its figures.
"""
import importlib

from ... import techniques


def resolve(name):
    """The technique name of ``name`` (a technique's name or one of its aliases); a clear error otherwise."""
    try:
        return techniques.find(name).name
    except ValueError as e:
        raise ValueError(f"compare: {e}, or 'all'") from None


def experiment_module(name):
    """The experiment module of a technique name or alias (``main(argv) -> int``)."""
    return importlib.import_module(techniques.find(resolve(name)).experiment)
