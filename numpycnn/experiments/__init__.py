"""Experiments: each technique's claims tested on real data, ``python -m numpycnn compare NAME``.

One module per technique, under the technique's name; each defines ``main(argv) -> int`` and runs
through :mod:`numpycnn.experiments.protocol` (tuning on validation, paired seeds, confidence
intervals, verdicts), writing ``figures/<technique>.json``, ``.md`` and its figures.
"""
import importlib

#: the five experiments, by technique name (the module names)
TECHNIQUES = ("branch_supervision", "gradient_direction", "erdos_renyi", "collaborative", "orthogonal_reinit")
#: short command names accepted by ``compare`` (the names the issues and older docs use)
ALIASES = {"branch": "branch_supervision", "optimizers": "gradient_direction", "sparsity": "erdos_renyi",
           "repr": "orthogonal_reinit"}


def resolve(name):
    """The technique name of ``name`` (a technique name or an alias); a clear error otherwise."""
    name = name.replace("-", "_")
    name = ALIASES.get(name, name)
    if name not in TECHNIQUES:
        raise ValueError(f"compare: unknown experiment {name!r}; choose one of {list(TECHNIQUES)} "
                         f"(aliases: {', '.join(f'{a} = {t}' for a, t in ALIASES.items())}) or 'all'")
    return name


def experiment_module(name):
    """The experiment module of a technique name or alias (``main(argv) -> int``)."""
    return importlib.import_module(f"numpycnn.experiments.{resolve(name)}")
