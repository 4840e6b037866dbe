"""Finished runs on disk, one JSON file each, so an interrupted ``compare`` continues where it stopped (a damaged
file is named, kept aside and its run computed again); and the JSON writing every protocol file shares."""
import glob
import json
import math
import os
import sys
import time
from dataclasses import asdict

import numpy as np

from ....storage import atomic_write_bytes
from .provenance import code_hash, git_commit

#: where finished runs are stored (one JSON file per run) unless ``--runs-dir`` says otherwise
DEFAULT_RUNS_DIR = os.path.join("runs", "compare")


class RunStore:
    """Finished runs as JSON files ``<root>/<stage>/<arm>/<key>.json`` (written atomically), each with the commit
    and the code hash it was computed by; the key includes the code hash, so changed code never reuses a run
    (and the older run stays on disk under its own key).

    A run file that cannot be read back as the run it stands for — truncated or otherwise not JSON, or
    JSON of the wrong shape (not an object with ``metrics`` and ``seconds``, or the record of another
    stage, arm, setting, seed or data) — is **damaged**: :meth:`get` names it on stderr, moves it aside to
    ``<key>.json.damaged-<YYYYmmdd-HHMMSS>`` in the same folder (kept for inspection; no ``*.json`` pattern
    of the store matches it) and returns None, so the run is computed again. Runs are deterministic, so the
    comparison comes out as if the file had never been damaged.

    A run that **raised** leaves ``<key>.failed-<YYYYmmdd-HHMMSS>.json`` in the same folder (:meth:`put_failed`):
    the run's identity and its traceback. It is never read back as a result (:meth:`get` reads ``<key>.json``
    only), so re-running the command tries the run again; it is never deleted (``--fresh`` neither), so every
    failure stays on disk for inspection.
    """

    def __init__(self, root):
        self.root = root
        self.damaged = []             # [(damaged path, where it was moved, what was wrong)]

    def path(self, spec):
        return os.path.join(self.root, spec.stage, spec.arm, f"{spec.key()}.json")

    def get(self, spec):
        """The stored record of ``spec``; None if it was never run or its file was damaged (then moved aside)."""
        path = self.path(spec)
        if not os.path.exists(path):
            return None
        try:
            with open(path, encoding="utf-8") as f:
                record = json.load(f)
        except ValueError as e:        # truncated, not JSON, not UTF-8 (JSONDecodeError, UnicodeDecodeError)
            problem = f"not readable as JSON: {e}"
        else:
            problem = self.mismatch(record, spec)
        if problem is None:
            return record
        kept = self.set_aside(path)
        self.damaged.append((path, kept, problem))
        print(f"warning: run file {path} is damaged ({problem}); moved it to {kept} and running that run again",
              file=sys.stderr, flush=True)
        return None

    @staticmethod
    def mismatch(record, spec):
        """What is wrong with a stored ``record`` for ``spec`` (a short phrase), or None if it is that run's."""
        if not isinstance(record, dict):
            return f"a JSON {type(record).__name__}, not a run record (an object)"
        if not isinstance(record.get("metrics"), dict):
            return "no 'metrics' object"
        seconds = record.get("seconds")
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
            return "no 'seconds' number"
        expected = json.loads(json.dumps({"stage": spec.stage, "arm": spec.arm, "settings": spec.settings,
                                          "seed": spec.seed, "data": asdict(spec.data), "quick": spec.quick},
                                         default=json_default))
        wrong = [k for k, v in expected.items() if record.get(k) != v]
        if wrong:
            return f"the record of another run: its {', '.join(wrong)} differ from the run this file name stands for"
        return None

    @staticmethod
    def set_aside(path):
        """Move a damaged run file to ``<path>.damaged-<timestamp>`` (a free name); returns the new path."""
        stamp = time.strftime("%Y%m%d-%H%M%S")
        kept, n = f"{path}.damaged-{stamp}", 1
        while os.path.exists(kept):
            n += 1
            kept = f"{path}.damaged-{stamp}-{n}"
        os.replace(path, kept)
        return kept

    def put(self, spec, result):
        record = {"stage": spec.stage, "arm": spec.arm, "settings": spec.settings, "seed": spec.seed,
                  "data": asdict(spec.data), "quick": spec.quick, "commit": git_commit(), "code_hash": code_hash(),
                  **result}
        path = self.path(spec)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        atomic_write_bytes(path, (json.dumps(record, indent=1, sort_keys=True, default=json_default) + "\n")
                           .encode("utf-8"))
        return record

    def put_failed(self, spec, tb):
        """Record that ``spec`` raised: ``<key>.failed-<timestamp>.json`` with the run's identity and the traceback
        ``tb`` (text); returns its path. A later failure of the same run gets a file of its own."""
        record = {"stage": spec.stage, "arm": spec.arm, "settings": spec.settings, "seed": spec.seed,
                  "data": asdict(spec.data), "quick": spec.quick, "commit": git_commit(), "code_hash": code_hash(),
                  "failed": True, "error": error_line(tb), "traceback": tb,
                  "time": time.strftime("%Y-%m-%d %H:%M:%S")}
        folder = os.path.dirname(self.path(spec))
        os.makedirs(folder, exist_ok=True)
        stamp, n = time.strftime("%Y%m%d-%H%M%S"), 1
        path = os.path.join(folder, f"{spec.key()}.failed-{stamp}.json")
        while os.path.exists(path):
            n += 1
            path = os.path.join(folder, f"{spec.key()}.failed-{stamp}-{n}.json")
        atomic_write_bytes(path, (json.dumps(record, indent=1, sort_keys=True, default=json_default) + "\n")
                           .encode("utf-8"))
        return path

    def failures(self):
        """Every failed-run record in the store (the paths), oldest name first."""
        return sorted(glob.glob(os.path.join(self.root, "*", "*", "*.failed-*.json")))

    def clear(self):
        """Delete every stored run (``--fresh``); failed-run records and damaged files are kept."""
        for path in glob.glob(os.path.join(self.root, "*", "*", "*.json")):
            if ".failed-" not in os.path.basename(path):
                os.remove(path)


def error_line(tb):
    """The first line of the error a traceback ends with (``ValueError: lr must be > 0``): the first line after
    the last indented one (the frames are indented; the error's message follows them)."""
    lines = [line for line in tb.strip().splitlines() if line.strip()]
    indented = [k for k, line in enumerate(lines) if line.startswith(" ")]
    k = indented[-1] + 1 if indented and indented[-1] + 1 < len(lines) else 0
    return lines[k].strip() if lines else "(no traceback)"


def json_default(o):
    """NumPy scalars and arrays as JSON numbers and lists (``json.dumps(..., default=json_default)``)."""
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON-able: {type(o).__name__}")


def dumps(obj):
    """JSON text with NaN written as null (the files are read by other tools too)."""
    return json.dumps(nan_to_none(obj), indent=1, sort_keys=True, default=json_default, allow_nan=False) + "\n"


def nan_to_none(o):
    """``o`` with every non-finite float (also inside dicts, lists and NumPy scalars) replaced by None."""
    if isinstance(o, float) and not math.isfinite(o):
        return None
    if isinstance(o, dict):
        return {k: nan_to_none(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [nan_to_none(v) for v in o]
    if isinstance(o, np.generic):
        return nan_to_none(o.item())
    return o
