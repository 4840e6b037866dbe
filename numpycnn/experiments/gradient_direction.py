"""``python -m numpycnn compare gradient_direction`` — an alias of ``compare optimizers``.

Technique B's side-by-side experiment lives in :mod:`numpycnn.experiments.optimizers` (the
issue's name); this alias lets the technique's module name be used too. Same options, same
outputs (``figures/optimizers.md``, ``.json`` and ``optimizers_*.png``).
"""
from .optimizers import main  # noqa: F401

NAME = "gradient_direction"
