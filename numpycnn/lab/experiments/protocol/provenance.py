"""Provenance for the record: the commit, the machine and the command that reproduces a run."""
import os
import platform
import subprocess
import sys

import numpy as np

from ... import REPO_ROOT
from .runner import require_threadpoolctl

#: options that say where files go or how many processes run, not what is computed: left out of the command
OUTPUT_OPTIONS = ("--out", "--runs-dir", "--data-dir", "--workers")
OUTPUT_FLAGS = ("--no-progress", "--fresh")


def git_commit():
    """``HEAD``'s hash, with ``+dirty`` when the package has uncommitted changes; None outside git."""
    root = str(REPO_ROOT)
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                              timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "numpycnn"], cwd=root, capture_output=True,
                               text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return (head + ("+dirty" if dirty else "")) if head else None


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
