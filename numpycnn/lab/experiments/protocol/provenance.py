"""Provenance for the record: the commit, the machine and the command that reproduces a run."""
import hashlib
import os
import platform
import subprocess
import sys
from functools import lru_cache

import numpy as np

from ... import REPO_ROOT

def require_threadpoolctl():
    """The ``threadpoolctl`` module, or a RuntimeError saying how to install it."""
    try:
        import threadpoolctl
    except ImportError:
        raise RuntimeError("compare: the experiments pin each worker to one BLAS thread with threadpoolctl, "
                           "which is not installed; run `pip install threadpoolctl` (or "
                           "`pip install -e \".[experiments]\"`)") from None
    return threadpoolctl


#: options that say where files go or how many processes run, not what is computed: left out of the command
OUTPUT_OPTIONS = ("--out", "--runs-dir", "--data-dir", "--workers", "--cluster", "--scheduler")
OUTPUT_FLAGS = ("--no-progress", "--fresh", "--resume")


#: the sources a run's result depends on (the library, the builder, the experiments), relative to the package
#: folder; the code hash of a run is taken over them, so a run is reused only by the code that made it
RUN_SOURCES = ("*.py", "datasets/*.py", "techniques/*.py", "lab/builder.py", "lab/experiments/*.py",
               "lab/experiments/protocol/*.py")


def _git(*args):
    return subprocess.run(["git", *args], cwd=str(REPO_ROOT), capture_output=True, text=True, timeout=10).stdout


def git_commit():
    """``HEAD``'s hash, with ``+dirty`` when the package has uncommitted changes; None outside git."""
    try:
        head, dirty = _git("rev-parse", "HEAD").strip(), is_dirty()
    except (OSError, subprocess.SubprocessError):
        return None
    return (head + ("+dirty" if dirty else "")) if head else None


def is_dirty():
    """True when ``numpycnn/`` has uncommitted changes (git's view; False outside a git checkout)."""
    try:
        return bool(_git("status", "--porcelain", "--", "numpycnn").strip())
    except (OSError, subprocess.SubprocessError):
        return False


@lru_cache(maxsize=1)
def code_hash():
    """SHA-1 (16 hex digits) of the :data:`RUN_SOURCES` files' paths and bytes, in sorted order: the code that
    computes a run. Stored in every run record; a stored run is reused only under the same hash."""
    package = REPO_ROOT / "numpycnn"
    h = hashlib.sha1()
    for path in sorted({p for pattern in RUN_SOURCES for p in package.glob(pattern)}):
        h.update(path.relative_to(package).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def machine():
    """CPU model, cores, Python, NumPy and its BLAS, for the record."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    blas = []
    try:
        blas = [f"{i.get('internal_api')} {i.get('version')} ({i.get('threading_layer', '?')})"
                for i in require_threadpoolctl().threadpool_info() if i.get("user_api") == "blas"]
    except RuntimeError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(), "numpy": np.__version__,
            "blas": sorted(set(blas))}


def command_line(name, argv=None):
    """The command that reproduces this run, for the record (:data:`OUTPUT_OPTIONS` and :data:`OUTPUT_FLAGS`
    dropped: they change where the files go, not the result)."""
    argv = sys.argv[1:] if argv is None else argv
    keep, skip = [], False
    for a in argv:
        if skip:
            skip = False
            continue
        if a in OUTPUT_OPTIONS:
            skip = True
            continue
        if a in OUTPUT_FLAGS or a.startswith(tuple(f"{o}=" for o in OUTPUT_OPTIONS)):
            continue
        keep.append(a)
    return " ".join(["python -m numpycnn compare", name] + keep)
