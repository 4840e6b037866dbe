"""Reproducible bit for bit; a divergence stops training, keeps the last good checkpoint and says what is on disk."""
import subprocess
import sys

import numpy as np
import pytest

import numpycnn as nc
from numpycnn.errors import DivergenceError
from numpycnn.storage import load_arrays


def test_same_seed_gives_bit_identical_weights_across_processes(tmp_path):
    """Bit for bit by operation order: both processes inherit this one's environment (the BLAS library, the
    kernel it picks, its thread count), so they make the same calls in the same order. Across machines
    this is not promised (docs/reliability.md, "Determinism")."""
    cmd = [sys.executable, "-m", "numpycnn", "train", "--dataset", "digits", "--epochs", "2", "--seed", "5",
           "--no-progress"]
    for name in ("a", "b"):
        proc = subprocess.run(cmd + ["--out", str(tmp_path / name)], capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr
    a, _ = load_arrays(tmp_path / "a" / "model.npz")
    b, _ = load_arrays(tmp_path / "b" / "model.npz")
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


def test_different_seeds_give_different_weights():
    data = nc.datasets.load_dataset("digits", seed=0)
    w = []
    for seed in (0, 1):
        model = nc.zoo.small_cnn(seed=seed)
        nc.Trainer(model, nc.optim.Adam(model), seed=seed, progress=False).fit(data.train, epochs=1)
        w.append(model["conv1"].params["W"].copy())
    assert not np.array_equal(*w)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")   # overflow and NaN in matmul: the divergence is the point
def test_divergence_stops_training_naming_the_step_and_keeps_the_last_good_checkpoint(tmp_path):
    data = nc.datasets.load_dataset("digits", seed=0)
    model = nc.zoo.small_cnn(seed=0)
    opt = nc.optim.SGD(model, lr=0.05)
    ckpt = tmp_path / "checkpoint.npz"
    trainer = nc.Trainer(model, opt, batch_size=32, checkpoint_path=ckpt, progress=False)
    trainer.fit(data.train, data.val, epochs=1)
    good = {k: v.copy() for k, v in model.state_dict().items()}
    good_bytes = ckpt.read_bytes()
    opt.lr = 1e30                                  # guaranteed blow-up
    with pytest.raises(DivergenceError, match=r"step \d+") as info:
        trainer.fit(data.train, data.val, epochs=3)
    message = str(info.value).lower()
    assert "nan" in message or "inf" in message
    assert ckpt.read_bytes() == good_bytes         # the last good checkpoint is untouched
    arrays, meta = load_arrays(ckpt)
    assert meta["epoch"] == 1
    assert f"the last checkpoint this trainer wrote, after step {meta['step']}, is kept at {ckpt}" in str(info.value)
    for k, v in good.items():
        assert np.array_equal(arrays[f"model/{k}"], v)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("where", ["no checkpoint_path", "nothing written yet", "a file from before"])
def test_a_divergence_before_any_checkpoint_says_none_was_written_and_what_is_on_disk(tmp_path, where):
    """Regression (issue 32.5): the message said "the last good checkpoint is kept" when none had been written."""
    data = nc.datasets.load_dataset("digits", seed=0, train_limit=256)
    ckpt = tmp_path / "checkpoint.npz"
    if where == "a file from before":
        ckpt.write_bytes(b"an earlier run's checkpoint")
    model = nc.zoo.small_cnn(seed=0)
    trainer = nc.Trainer(model, nc.optim.SGD(model, lr=1e30), batch_size=32, progress=False,
                         checkpoint_path=None if where == "no checkpoint_path" else ckpt)
    with pytest.raises(DivergenceError, match=r"step \d+") as info:
        trainer.fit(data.train, epochs=1)
    message = str(info.value)
    assert "is kept" not in message and trainer.checkpoint_written is None
    if where == "no checkpoint_path":
        assert "no checkpoint was written (this Trainer has no checkpoint_path)" in message
    elif where == "nothing written yet":
        assert f"no checkpoint was written yet ({ckpt} does not exist)" in message and not ckpt.exists()
    else:
        assert f"this trainer wrote no checkpoint; {ckpt} is a file from before it (left untouched)" in message
        assert ckpt.read_bytes() == b"an earlier run's checkpoint"


def test_divergence_message_names_the_first_layer_with_a_non_finite_gradient():
    model = nc.zoo.small_cnn(seed=0)
    trainer = nc.Trainer(model, nc.optim.SGD(model, lr=0.1), progress=False)
    x = np.random.default_rng(0).standard_normal((4, 1, 8, 8)).astype(np.float32)
    y = np.arange(4)
    trainer.model.forward(x)
    trainer.loss.forward(trainer.model.forward(x), y)
    model.backward(trainer.loss.backward())
    model["conv2"].grads["W"][0, 0, 0, 0] = np.nan
    with pytest.raises(DivergenceError, match="conv2.W"):
        trainer.check_finite(1.0)


@pytest.mark.parametrize("name", sorted(nc.optim.OPTIMIZERS))
def test_resume_from_a_checkpoint_is_bit_identical_for_every_optimizer(name, tmp_path):
    """Stop mid-epoch, save, rebuild everything from scratch, load, continue: same bits as one run."""
    data = nc.datasets.load_dataset("digits", seed=0, train_limit=400)

    def trainer():
        model = nc.zoo.small_cnn(seed=2, width=4)
        opt = nc.optim.make_optimizer(name, model, lr=0.01)
        return nc.Trainer(model, opt, seed=2, batch_size=32, progress=False)

    straight = trainer()
    straight.fit(data.train, epochs=2)
    first = trainer()
    first.fit(data.train, epochs=2, max_steps=17)
    first.save_checkpoint(tmp_path / "c.npz")
    resumed = trainer().load_checkpoint(tmp_path / "c.npz")
    resumed.fit(data.train, epochs=2)
    for (n, a, _), (_, b, _) in zip(straight.model.named_parameters(), resumed.model.named_parameters()):
        assert np.array_equal(a, b), f"{name}: {n} differs after resume"
