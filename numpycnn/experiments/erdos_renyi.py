"""``python -m numpycnn compare erdos_renyi``: the technique C experiment under the technique's module name.

The same experiment as ``python -m numpycnn compare sparsity``
(:mod:`numpycnn.experiments.sparsity`); it writes the same files (``figures/sparsity.md``,
``.json`` and ``sparsity_*.png``).
"""
from .sparsity import main

__all__ = ["main"]

if __name__ == "__main__":
    raise SystemExit(main())
