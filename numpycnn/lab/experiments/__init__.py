"""Experiments: each technique's claims tested on real data, ``python -m numpycnn compare NAME``.

One module per technique, under the technique's name; each defines ``main(argv) -> int`` and runs
through :mod:`numpycnn.lab.experiments.protocol` (tuning on validation, paired seeds, confidence
intervals, verdicts), writing ``figures/<technique>.json``, ``.md`` and its figures.
"""
import importlib

#: the five experiments, by technique name (the module names); the short command names are aliases in
#: :data:`numpycnn.lab.commands.compare.ALIASES`
TECHNIQUES = ("branch_supervision", "gradient_direction", "erdos_renyi", "collaborative", "orthogonal_reinit")


def resolve(name, aliases=None):
    """The technique name of ``name`` (a technique name or an alias of ``aliases``); a clear error otherwise."""
    aliases = aliases or {}
    name = name.replace("-", "_")
    name = aliases.get(name, name)
    if name not in TECHNIQUES:
        raise ValueError(f"compare: unknown experiment {name!r}; choose one of {list(TECHNIQUES)}, an alias "
                         f"({', '.join(f'{a} = {t}' for a, t in aliases.items())}) or 'all'")
    return name


def experiment_module(name):
    """The experiment module of a technique name or alias (``main(argv) -> int``)."""
    return importlib.import_module(f"numpycnn.lab.experiments.{resolve(name)}")
