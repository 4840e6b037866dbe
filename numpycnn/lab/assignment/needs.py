"""Which exercises each tutorial runs, and where: ``python -m numpycnn assignment needs``.

Each tutorial is run once (fast mode, in a subprocess) cell by cell (:func:`percent_cells`), with
every exercise function wrapped so that a call is recorded with the cell that made it first. A
student who has not written one of the exercises a tutorial records gets ``NotImplementedError:
exercise <id>`` in that cell when running it on their copy. The README's table is this command's
output; ``tests/test_tutorials.py`` runs each tutorial the same way in a student copy with only the
exercises of the tutorials up to it done, and checks that the cell where a tutorial first needs one
of its own exercises says "fill in now".
"""
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from .course import in_order, taught_by
from .make import PACKAGE_DIR, find_exercises

TAG = "@@NEEDS@@"
#: the table's file (``--write``), copied into the README between include markers
NEEDS_FILE = "docs/exercises_by_tutorial.md"

#: runs in the subprocess: wrap every exercise, run the tutorial cell by cell, print {exercise: first cell}
BOOTSTRAP = r'''
import atexit, functools, importlib, json, sys, types
from numpycnn.lab.assignment.make import exercises_of_package
from numpycnn.lab.assignment.needs import percent_cells
first, cell = {}, [0]

def wrap(ex):
    mod = importlib.import_module("numpycnn." + ex.module)
    *owner_path, name = ex.qualname.split(".")
    owner = mod
    for part in owner_path:
        owner = getattr(owner, part)
    old = owner.__dict__[name] if owner_path else getattr(owner, name)

    @functools.wraps(old)
    def recorded(*args, **kwargs):
        first.setdefault(ex.id, cell[0])
        return old(*args, **kwargs)
    if owner_path:
        setattr(owner, name, recorded)
        return
    for mname, m in list(sys.modules.items()):
        if (mname == "numpycnn" or mname.startswith("numpycnn.")) and m is not None:
            for attr, val in list(vars(m).items()):
                if val is old:
                    setattr(m, attr, recorded)

for ex in exercises_of_package(kept=True):      # the regions, or a student copy's list of them
    wrap(ex)
atexit.register(lambda: print(TAG + json.dumps(first), flush=True))
path = sys.argv[1]
main = types.ModuleType("__main__")
main.__file__, main.__builtins__ = path, __builtins__
sys.modules["__main__"], sys.argv = main, [path]
with open(path, encoding="utf-8") as f:
    text = f.read()
for k, (kind, line, source) in enumerate(percent_cells(text)):
    cell[0] = k
    exec(compile("\n" * (line - 1) + source, path, "exec"), main.__dict__)
'''


def percent_cells(text):
    """The cells of a jupytext percent-format file: ``[(kind, first line, source)]``.

    A cell starts at a line ``# %%`` (``kind`` ``"markdown"`` when the line says ``[markdown]``, else
    ``"code"``); the lines before the first one (the jupytext header) are a cell of kind ``"header"``.
    ``first line`` is 1-based, so ``"\\n" * (first line - 1) + source`` compiles with the file's line numbers.
    """
    cells, kind, start, lines = [], "header", 1, []
    for i, line in enumerate(text.splitlines(keepends=True), 1):
        if line.startswith("# %%"):
            if lines or kind != "header":
                cells.append((kind, start, "".join(lines)))
            kind, start, lines = ("markdown" if "[markdown]" in line else "code"), i, []
        lines.append(line)
    cells.append((kind, start, "".join(lines)))
    return cells


def tutorial_needs(root=None, tutorials=None, fast=True, timeout=600):
    """``{tutorial file name: {exercise id it calls: index of the cell that calls it first}}`` for every
    ``tutorials/*.py`` (or those given); cell indices are those of :func:`percent_cells`."""
    root = Path(root) if root else PACKAGE_DIR.parent
    paths = [Path(p) for p in tutorials] if tutorials else sorted((root / "tutorials").glob("*.py"))
    env = {**os.environ, "PYTHONPATH": str(PACKAGE_DIR.parent), "MPLBACKEND": "Agg",
           "NUMPYCNN_FAST": "1" if fast else "0"}
    out = {}
    for path in paths:
        with tempfile.TemporaryDirectory() as cwd:
            code = BOOTSTRAP.replace("TAG", repr(TAG))
            proc = subprocess.run([sys.executable, "-c", code, str(path.resolve())], cwd=cwd, env=env,
                                  capture_output=True, text=True, timeout=timeout)
        line = next((l for l in proc.stdout.splitlines() if l.startswith(TAG)), None)
        if proc.returncode != 0 or line is None:
            raise RuntimeError(f"{path.name} failed while recording its exercises:\n{proc.stderr[-2000:]}")
        out[path.name] = json.loads(line[len(TAG):])
    return out


def needs_table(needs):
    """The Markdown table of :func:`tutorial_needs`: one row per tutorial in the course order, with the
    exercises it teaches (its header line) and those it was measured to run (exercise ids in the package's
    order). In a student copy of release ``--through N`` a tutorial up to ``N`` runs once the exercises of
    its own row and of the rows above it are done."""
    order = {e.id: i for i, e in enumerate(find_exercises())}
    teaches = {}
    for exercise, stems in taught_by().items():
        for stem in stems:
            teaches.setdefault(f"{stem}.py", []).append(exercise)
    ranked = [p.name for p in in_order()]
    names = sorted(needs, key=lambda n: ranked.index(n) if n in ranked else len(ranked))

    def ids(items):
        return ", ".join(f"`{i}`" for i in sorted(items, key=lambda i: order.get(i, len(order)))) or "none"

    lines = ["| tutorial (course order) | exercises it teaches | exercises it runs (a student copy needs them done "
             "to run it; each is taught here or in a row above) |", "|---|---|---|"]
    for name in names:
        lines.append(f"| `{name}` | {ids(teaches.get(name, []))} | {ids(needs[name])} |")
    return "\n".join(lines)
