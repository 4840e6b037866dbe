"""Which exercises each tutorial runs: ``python -m numpycnn assignment needs``.

Each tutorial is run once (fast mode, in a subprocess, with the reference package) with every
exercise function wrapped so that a call is recorded. A student who has not written one of the
exercises a tutorial records gets ``NotImplementedError: exercise <id>`` when running it on their
copy. The README's table is this command's output.
"""
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from .make import PACKAGE_DIR, find_exercises

TAG = "@@NEEDS@@"
#: the table's file (``--write``), copied into the README between include markers
NEEDS_FILE = "docs/exercises_by_tutorial.md"

#: runs in the subprocess: wrap every exercise, run the tutorial, print the exercises called
BOOTSTRAP = r'''
import atexit, functools, importlib, json, runpy, sys
from numpycnn.lab.assignment.make import find_exercises
called = set()

def wrap(ex):
    mod = importlib.import_module("numpycnn." + ex.module)
    *owner_path, name = ex.qualname.split(".")
    owner = mod
    for part in owner_path:
        owner = getattr(owner, part)
    old = owner.__dict__[name] if owner_path else getattr(owner, name)

    @functools.wraps(old)
    def recorded(*args, **kwargs):
        called.add(ex.id)
        return old(*args, **kwargs)
    if owner_path:
        setattr(owner, name, recorded)
        return
    for mname, m in list(sys.modules.items()):
        if (mname == "numpycnn" or mname.startswith("numpycnn.")) and m is not None:
            for attr, val in list(vars(m).items()):
                if val is old:
                    setattr(m, attr, recorded)

for ex in find_exercises():
    wrap(ex)
atexit.register(lambda: print(TAG + json.dumps(sorted(called))))
sys.argv = [sys.argv[1]]
runpy.run_path(sys.argv[0], run_name="__main__")
'''


def tutorial_needs(root=None, tutorials=None, fast=True, timeout=600):
    """``{tutorial file name: [exercise ids it calls]}`` for every ``tutorials/*.py`` (or those given)."""
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
    """The markdown table of :func:`tutorial_needs` (exercise ids in the package's order)."""
    order = {e.id: i for i, e in enumerate(find_exercises())}
    lines = ["| tutorial | exercises it runs (a student copy needs them done to run it) |", "|---|---|"]
    for name, ids in needs.items():
        ids = sorted(ids, key=lambda i: order.get(i, len(order)))
        lines.append(f"| `{name}` | " + (", ".join(f"`{i}`" for i in ids) or "none") + " |")
    return "\n".join(lines)
