"""``python -m numpycnn compare repr``: the technique E experiment under the issue's name (RePr).

The same experiment as ``python -m numpycnn compare orthogonal_reinit``
(:mod:`numpycnn.experiments.orthogonal_reinit`); it writes the same files
(``figures/orthogonal_reinit.md``, ``.json`` and ``orthogonal_reinit_*.png``).
"""
from .orthogonal_reinit import main

__all__ = ["main"]

if __name__ == "__main__":
    raise SystemExit(main())
