"""The five techniques, one module each (A–E); what each claims is in ``docs/claims.md``.

=====  ============================  ======================================================
A      :mod:`.branch_supervision`    branch supervision with gradient summation
B      :mod:`.gradient_direction`    the gradient-direction optimizer (unit-norm updates)
C      :mod:`.erdos_renyi`           Erdős–Rényi sparse construction
D      :mod:`.collaborative`         collaborative training of several networks
E      :mod:`.orthogonal_reinit`     filter orthogonality ranking and QR null-space re-initialisation
=====  ============================  ======================================================

Each module ends with its record, ``TECHNIQUE`` (a :class:`~numpycnn.techniques.technique.Technique`:
letter, name, title, aliases, where its experiment, tutorial and docs page are, and its hooks into
``python -m numpycnn train``). :data:`TECHNIQUES` collects the records in letter order; the builder,
``compare``, the scorecard, the result tables and the book all read it (the table above is checked
against it by a test). Importing this package imports the five modules; technique B's registers its
optimizer, ``make_optimizer("direction", ...)``, so importing this package makes that name available
(``import numpycnn`` imports no technique).
"""
from . import branch_supervision, collaborative, erdos_renyi, gradient_direction, orthogonal_reinit
from .technique import Technique

#: every technique's record, in letter order (A–E)
TECHNIQUES = tuple(sorted((module.TECHNIQUE for module in (branch_supervision, gradient_direction, erdos_renyi,
                                                            collaborative, orthogonal_reinit)),
                          key=lambda technique: technique.letter))


def names():
    """The techniques' names, in letter order."""
    return [t.name for t in TECHNIQUES]


def find(name):
    """The record of the technique called ``name`` or one of its aliases (``-`` read as ``_``).

    Raises
    ------
    ValueError — naming the techniques and aliases there are
    """
    key = name.replace("-", "_")
    for technique in TECHNIQUES:
        if key == technique.name or key in technique.aliases:
            return technique
    aliases = ", ".join(f"{a} = {t.name}" for t in TECHNIQUES for a in t.aliases)
    raise ValueError(f"unknown technique {name!r}; choose one of {names()} or an alias ({aliases})")


__all__ = ["TECHNIQUES", "Technique", "find", "names"]
