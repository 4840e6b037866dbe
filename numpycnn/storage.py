"""Saving and loading: ``.npz`` arrays plus JSON metadata, written atomically, no pickle.

File layout: one NumPy ``.npz`` archive. Every array is stored under its name
(``model/conv1.W``, ``optim/conv1.W/exp_avg``, ...); the JSON metadata is stored
as UTF-8 bytes under ``__meta__``. Loading uses ``allow_pickle=False``, so a file
from someone else cannot run code.

Atomic writes: the archive is written to a temporary file in the same folder,
flushed to disk (``fsync``), then moved over the target with ``os.replace`` —
a crash at any moment leaves either the old file or the new one, never half of one.

A model file (:func:`numpycnn.model.save_model`), a training checkpoint
(:meth:`numpycnn.training.Trainer.save_checkpoint`) and a sparse model are such archives; this module
knows nothing about models.
"""
import io
import json
import os
import secrets
import zipfile

import numpy as np

from .errors import CheckpointError

FORMAT_VERSION = 1


def atomic_write_bytes(path, data):
    """Write ``data`` to ``path`` atomically: temporary file in the same folder, ``fsync``, ``os.replace``.

    The temporary file is created with mode ``0o666`` minus the umask, like a plain ``open``,
    so the result has the permissions any other file written by the user has.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    while True:
        tmp = os.path.join(folder, f".{os.path.basename(path)}.{secrets.token_hex(6)}.tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
        except FileExistsError:
            continue
        break
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def save_arrays(path, arrays, meta):
    """Save a dict of arrays and a JSON-able ``meta`` dict to ``path`` (``.npz``) atomically."""
    meta = {"format": "numpycnn", "format_version": FORMAT_VERSION, **meta}
    payload = {k: np.asarray(v) for k, v in arrays.items()}
    payload["__meta__"] = np.frombuffer(json.dumps(meta, sort_keys=True).encode("utf-8"), dtype=np.uint8)
    buf = io.BytesIO()
    np.savez(buf, **payload)
    atomic_write_bytes(path, buf.getvalue())


def load_arrays(path):
    """Load ``(arrays, meta)`` written by :func:`save_arrays`; any corruption raises :class:`CheckpointError`."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"no such file: {path!r}")
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError) as e:
        raise CheckpointError(f"{path}: not a readable numpycnn file (truncated or corrupted?): {e}") from None
    if "__meta__" not in arrays:
        raise CheckpointError(f"{path}: has no numpycnn metadata; it was not written by numpycnn")
    try:
        meta = json.loads(arrays.pop("__meta__").tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{path}: metadata is corrupted: {e}") from None
    if meta.get("format") != "numpycnn":
        raise CheckpointError(f"{path}: not a numpycnn file")
    return arrays, meta


def with_prefix(prefix, arrays):
    """``arrays`` with every key written ``prefix + '/' + key``: one group of a flat file (undone by
    :func:`prefixed`)."""
    return {f"{prefix}/{k}": v for k, v in arrays.items()}


def prefixed(arrays, prefix):
    """Sub-dict of ``arrays`` whose keys start with ``prefix + '/'`` (prefix stripped): the inverse of
    :func:`with_prefix`."""
    n = len(prefix) + 1
    return {k[n:]: v for k, v in arrays.items() if k.startswith(prefix + "/")}
