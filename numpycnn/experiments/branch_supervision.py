"""``python -m numpycnn compare branch_supervision``: the technique A experiment under the technique's module name.

The same experiment as ``python -m numpycnn compare branch``
(:mod:`numpycnn.experiments.branch`); it writes the same files (``figures/branch.md``,
``.json``, ``branch_gradient_flow.png`` and ``branch_curves.png``).
"""
from .branch import main

__all__ = ["main"]

if __name__ == "__main__":
    raise SystemExit(main())
