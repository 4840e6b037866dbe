"""Finished runs on disk, one JSON file each, so an interrupted ``compare`` continues where it stopped;
and the JSON writing every protocol file shares."""
import glob
import json
import math
import os
from dataclasses import asdict

import numpy as np

from ....storage import atomic_write_bytes

#: where finished runs are stored (one JSON file per run) unless ``--runs-dir`` says otherwise
DEFAULT_RUNS_DIR = os.path.join("runs", "compare")


class RunStore:
    """Finished runs as JSON files ``<root>/<stage>/<arm>/<key>.json`` (written atomically)."""

    def __init__(self, root):
        self.root = root

    def path(self, spec):
        return os.path.join(self.root, spec.stage, spec.arm, f"{spec.key()}.json")

    def get(self, spec):
        path = self.path(spec)
        if not os.path.exists(path):
            return None
        with open(path, encoding="utf-8") as f:
            return json.load(f)

    def put(self, spec, result):
        record = {"stage": spec.stage, "arm": spec.arm, "settings": spec.settings, "seed": spec.seed,
                  "data": asdict(spec.data), "quick": spec.quick, **result}
        path = self.path(spec)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        atomic_write_bytes(path, (json.dumps(record, indent=1, sort_keys=True, default=json_default) + "\n")
                           .encode("utf-8"))
        return record

    def clear(self):
        for path in glob.glob(os.path.join(self.root, "*", "*", "*.json")):
            os.remove(path)


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
