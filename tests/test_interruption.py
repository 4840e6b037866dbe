"""Nothing is lost on interruption: Ctrl-C saves a checkpoint, kill -9 never leaves a broken one,
and --resume reaches the same final weights, bit for bit, as an uninterrupted run."""
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from numpycnn.storage import load_arrays

TRAIN = [sys.executable, "-m", "numpycnn", "train", "--dataset", "digits", "--model", "small_cnn", "--width", "8",
         "--epochs", "40", "--batch-size", "16", "--seed", "3", "--checkpoint-every", "7", "--no-progress"]


def _run(out, *extra, **kw):
    return subprocess.run(TRAIN + ["--out", str(out), *extra], capture_output=True, text=True, timeout=300, **kw)


def _weights(path):
    arrays, _ = load_arrays(path)
    return {k: v for k, v in arrays.items() if k.startswith("model/")}


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("reference")
    proc = _run(out)
    assert proc.returncode == 0, proc.stderr
    return _weights(out / "model.npz")


def _wait_for_training(proc, out, timeout=120):
    """Wait until the run has written a checkpoint newer than the process start (it is training)."""
    start = time.time()
    ckpt = out / "checkpoint.npz"
    while time.time() - start < timeout and proc.poll() is None:
        if ckpt.exists() and ckpt.stat().st_mtime >= start:
            return
        time.sleep(0.05)


def _assert_same(a, b):
    """Bit for bit by operation order: every run is a process started from this one's environment (same BLAS
    kernel and thread count), and a resumed run replays the same steps from the saved state."""
    assert a.keys() == b.keys()
    for k in a:
        assert np.array_equal(a[k], b[k]), k


def test_sigkill_at_random_moments_leaves_a_loadable_checkpoint_and_resume_is_bit_identical(tmp_path, reference):
    rng = np.random.default_rng(0)
    out = tmp_path / "run"
    kills = 0
    for attempt in range(6):                      # bounded: at most 6 kills
        args = ["--resume"] if (out / "checkpoint.npz").exists() else []
        proc = subprocess.Popen(TRAIN + ["--out", str(out), *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        _wait_for_training(proc, out)
        time.sleep(rng.uniform(0.0, 1.5))
        if proc.poll() is not None:
            assert proc.returncode == 0, proc.stderr.read()
            break
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        kills += 1
        if (out / "checkpoint.npz").exists():
            load_arrays(out / "checkpoint.npz")   # raises CheckpointError if broken
        leftovers = [p.name for p in out.glob(".tmp-*")]
        for name in leftovers:                    # a killed writer may leave its temp file; never the target
            os.unlink(out / name)
    if not (out / "model.npz").exists():
        proc = _run(out, *(["--resume"] if (out / "checkpoint.npz").exists() else []))
        assert proc.returncode == 0, proc.stderr
    assert kills >= 1
    _assert_same(_weights(out / "model.npz"), reference)


def test_ctrl_c_saves_a_checkpoint_exits_cleanly_and_resume_is_bit_identical(tmp_path, reference):
    out = tmp_path / "run"
    proc = subprocess.Popen(TRAIN + ["--out", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for_training(proc, out)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr
    assert "interrupted: checkpoint saved" in stdout
    assert "Traceback" not in stderr
    assert not (out / "model.npz").exists()
    resumed = _run(out, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed from" in resumed.stdout
    _assert_same(_weights(out / "model.npz"), reference)
