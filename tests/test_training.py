"""The training loop: stop conditions, callbacks at their points, evaluation, checkpoints and resume.

Reproducible bit for bit; a divergence stops training, keeps the last good checkpoint and says what is on disk."""
import subprocess
import sys

import numpy as np
import pytest

import numpycnn as nc
from numpycnn import SoftmaxCrossEntropy
from numpycnn.callbacks import Callback
from numpycnn.datasets import Dataset, load_dataset
from numpycnn.errors import CheckpointError, DivergenceError
from numpycnn.lab.commands.demo import demo_args
from numpycnn.lab.commands.train import run_training
from numpycnn.optim import Adam, SGD
from numpycnn.storage import load_arrays
from numpycnn.training import Trainer, batch_indices
from numpycnn.zoo import small_cnn

from conftest import BAD_INPUT_FIELDS, assert_bad_input, bad_input_cases, fit_quietly, img, lenet


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", seed=0)


def make_trainer(seed=0, callbacks=(), **kw):
    model = small_cnn((1, 8, 8), width=8, seed=seed)
    return Trainer(model, nc.optim.Adam(model, lr=3e-3), callbacks=callbacks, seed=seed, batch_size=32,
                   progress=False, **kw)


def weights(trainer):
    return {n: p.copy() for n, p, _ in trainer.model.named_parameters()}


def test_the_demo_configuration_reaches_95_percent_on_digits(tmp_path):
    """``python -m numpycnn`` (the README's first command) trains to >= 95 % test accuracy."""
    _, _, test = run_training(demo_args(["--no-progress", "--out", str(tmp_path)]))
    assert test["accuracy"] >= 0.95
    for name in ("model.npz", "checkpoint.npz", "results.json", "curves.png", "filters.png"):
        assert (tmp_path / name).exists(), name


def test_max_steps_stops_after_exactly_that_many_updates(digits):
    trainer = make_trainer()
    trainer.fit(digits.train, epochs=5, max_steps=7)
    assert trainer.step == 7 and trainer.stop_reason == "max_steps"


def test_target_loss_stops_at_the_first_epoch_at_or_below_it(digits):
    trainer = make_trainer()
    history = trainer.fit(digits.train, epochs=30, target_loss=0.5)
    assert trainer.stop_reason == "target_loss"
    assert history["train_loss"][-1] <= 0.5 < min(history["train_loss"][:-1], default=np.inf)


def test_target_accuracy_stops_at_the_first_epoch_reaching_it(digits):
    trainer = make_trainer()
    history = trainer.fit(digits.train, digits.val, epochs=30, target_accuracy=0.8)
    assert trainer.stop_reason == "target_accuracy"
    assert history["val_acc"][-1] >= 0.8 > max(history["val_acc"][:-1], default=-1)


def test_history_has_one_row_per_epoch_and_a_readable_table(digits):
    trainer = make_trainer()
    history = trainer.fit(digits.train, digits.val, epochs=2)
    assert history["epoch"] == [1, 2]
    assert all(len(history[k]) == 2 for k in ("train_loss", "train_acc", "val_loss", "val_acc", "seconds"))
    assert "val_acc" in history.table() or "val acc" in history.table()


def test_eval_every_records_validation_metrics_every_n_steps(digits):
    trainer = make_trainer()
    history = trainer.fit(digits.train, digits.val, epochs=1, eval_every=10)
    steps = [e["step"] for e in history["evals"]]
    assert steps == list(range(10, trainer.step + 1, 10))


class Recorder(Callback):
    name = "recorder"

    def __init__(self):
        self.events = []

    def on_train_begin(self, trainer):
        self.events.append("begin")

    def on_batch_begin(self, trainer, x, y):
        self.events.append("batch")

    def on_backward_end(self, trainer):
        # gradients are ready and the parameters not yet updated
        self.events.append("backward")
        self.grads_ready = all(np.any(g != 0) for n, _, g in trainer.model.named_parameters() if n.endswith(".W"))

    def on_step_end(self, trainer):
        self.events.append("step")

    def on_epoch_end(self, trainer, logs):
        self.events.append(f"epoch{logs['epoch']}")


def test_callbacks_run_at_their_points_in_order(digits):
    rec = Recorder()
    trainer = make_trainer(callbacks=[rec])
    trainer.fit(digits.train, epochs=1, max_steps=2)
    assert rec.events == ["begin", "batch", "backward", "step", "batch", "backward", "step", "epoch1"]
    assert rec.grads_ready


class StepCounts(Callback):
    name = "step_counts"

    def __init__(self):
        self.seen = {"on_batch_begin": [], "on_backward_end": [], "on_step_end": [], "optimizer_t": []}

    def on_batch_begin(self, trainer, x, y):
        self.seen["on_batch_begin"].append(trainer.step)

    def on_backward_end(self, trainer):
        self.seen["on_backward_end"].append(trainer.step)

    def on_step_end(self, trainer):
        self.seen["on_step_end"].append(trainer.step)
        self.seen["optimizer_t"].append(trainer.optimizer.t)


def test_on_step_end_callbacks_see_the_number_of_updates_including_this_one(digits):
    """Regression (issue 18.7): ``trainer.step`` was incremented after the ``on_step_end`` callbacks."""
    counts = StepCounts()
    make_trainer(callbacks=[counts]).fit(digits.train, epochs=1, max_steps=3)
    assert counts.seen["on_batch_begin"] == counts.seen["on_backward_end"] == [0, 1, 2]   # updates done before
    assert counts.seen["on_step_end"] == counts.seen["optimizer_t"] == [1, 2, 3]          # ... and including this one


def test_a_training_step_lowers_the_loss_on_its_batch(digits):
    trainer = make_trainer()
    x, y = digits.train.x[:64], digits.train.y[:64]
    first = trainer.train_step(x, y)[0]
    for _ in range(20):
        trainer.train_step(x, y)
    assert trainer.loss.forward(trainer.model.forward(x), y) < first


def test_resuming_from_a_mid_epoch_checkpoint_gives_bit_identical_weights(digits, tmp_path):
    straight = make_trainer(seed=5)
    straight.fit(digits.train, epochs=2)

    first = make_trainer(seed=5)
    first.fit(digits.train, epochs=2, max_steps=40)        # stops inside epoch 1 (51 batches per epoch)
    first.save_checkpoint(tmp_path / "ckpt.npz")
    resumed = make_trainer(seed=5).load_checkpoint(tmp_path / "ckpt.npz")
    assert resumed.step == 40
    resumed.fit(digits.train, epochs=2)
    a, b = weights(straight), weights(resumed)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    assert straight.history["train_loss"] == resumed.history["train_loss"]


def test_every_epoch_writes_a_checkpoint_atomically(digits, tmp_path):
    trainer = make_trainer(checkpoint_path=tmp_path / "c.npz")
    trainer.fit(digits.train, epochs=1)
    assert make_trainer().load_checkpoint(tmp_path / "c.npz").epoch == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.npz"]


def test_a_checkpoint_from_another_optimizer_is_refused_naming_both(digits, tmp_path):
    trainer = make_trainer(checkpoint_path=tmp_path / "c.npz")
    trainer.fit(digits.train, epochs=1, max_steps=2)
    trainer.save_checkpoint(tmp_path / "c.npz")
    model = small_cnn((1, 8, 8), width=8)
    other = Trainer(model, nc.optim.SGD(model, lr=0.1), progress=False)
    with pytest.raises(CheckpointError, match="Adam"):
        other.load_checkpoint(tmp_path / "c.npz")


def test_a_checkpoint_from_another_architecture_is_refused(digits, tmp_path):
    trainer = make_trainer(checkpoint_path=tmp_path / "c.npz")
    trainer.fit(digits.train, epochs=1, max_steps=2)
    trainer.save_checkpoint(tmp_path / "c.npz")
    model = small_cnn((1, 8, 8), width=16)
    other = Trainer(model, nc.optim.Adam(model, lr=0.1), progress=False)
    with pytest.raises(CheckpointError, match="different architecture"):
        other.load_checkpoint(tmp_path / "c.npz")


def test_fit_rejects_an_empty_training_set_and_bad_epochs(digits):
    trainer = make_trainer()
    empty = Dataset(digits.train.x[:0], digits.train.y[:0])
    with pytest.raises(ValueError, match="empty"):
        trainer.fit(empty, epochs=1)
    with pytest.raises(ValueError, match="epochs"):
        trainer.fit(digits.train, epochs=0)


def test_batch_indices_cover_every_index_once_per_epoch_and_keep_last_partial_batch():
    batches = batch_indices(103, 10, seed=4, epoch=2)
    assert [len(b) for b in batches] == [10] * 10 + [3]
    np.testing.assert_array_equal(np.sort(np.concatenate(batches)), np.arange(103))


def test_batch_indices_same_for_same_seed_and_epoch_and_differ_across_epochs():
    a = np.concatenate(batch_indices(50, 8, seed=1, epoch=3))
    b = np.concatenate(batch_indices(50, 8, seed=1, epoch=3))
    c = np.concatenate(batch_indices(50, 8, seed=1, epoch=4))
    d = np.concatenate(batch_indices(50, 8, seed=2, epoch=3))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c) and not np.array_equal(a, d)


def test_batch_indices_without_shuffle_is_in_order():
    np.testing.assert_array_equal(np.concatenate(batch_indices(7, 3, shuffle=False)), np.arange(7))


@pytest.mark.parametrize("n, batch_size", [(0, 4), (10, 0), (10, -1), (10, 2.0)])
def test_batch_indices_rejects_non_positive_sizes(n, batch_size):
    with pytest.raises(ValueError):
        batch_indices(n, batch_size)


def test_resuming_a_model_with_batchnorm_dropout_and_a_residual_block_is_bit_identical(digits, tmp_path):
    """Running statistics (also inside a residual block), the dropout draw counter and the optimizer state
    of the block's parameters are in the checkpoint, so the resumed run normalises with the same
    statistics and draws the same masks as the uninterrupted one."""
    def trainer():
        rng = np.random.default_rng(0)
        model = nc.Sequential([("conv1", nc.Conv2D(1, 4, 3, pad=1, rng=rng)), ("bn1", nc.BatchNorm2D(4)),
                               ("relu1", nc.ReLU()),
                               ("res1", nc.ResidualBlock([("conv", nc.Conv2D(4, 4, 3, pad=1, rng=rng)),
                                                          ("bn", nc.BatchNorm2D(4)), ("relu", nc.ReLU())])),
                               ("drop1", nc.Dropout2D(0.2, seed=1)), ("flat", nc.Flatten()),
                               ("fc1", nc.Dense(256, 16, rng=rng)), ("bn2", nc.BatchNorm1D(16)), ("relu2", nc.ReLU()),
                               ("drop2", nc.Dropout(0.5, seed=2)), ("fc2", nc.Dense(16, 10, rng=rng))],
                              input_shape=(1, 8, 8))
        return Trainer(model, nc.optim.Adam(model, lr=3e-3), seed=3, batch_size=64, progress=False)

    straight = trainer()
    straight.fit(digits.train, digits.val, epochs=2)
    first = trainer()
    first.fit(digits.train, digits.val, epochs=2, max_steps=15)      # stops inside epoch 1 (21 batches)
    first.save_checkpoint(tmp_path / "ckpt.npz")
    resumed = trainer().load_checkpoint(tmp_path / "ckpt.npz")
    assert int(resumed.model["drop2"].buffers["draws"]) == 15
    resumed.fit(digits.train, digits.val, epochs=2)
    a, b = straight.model.state_dict(), resumed.model.state_dict()
    assert {"bn1.running_mean", "bn2.running_var", "res1.bn.running_var", "drop1.draws"} <= set(a)
    assert "res1.conv.W/exp_avg" in resumed.optimizer.state_dict()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    assert straight.history["val_loss"] == resumed.history["val_loss"]


def test_a_callback_defining_a_hook_under_its_old_name_is_refused_naming_the_new_one():
    """A hook under a name the loop no longer calls (``after_epoch``) would never run: it is a TypeError instead."""
    with pytest.raises(TypeError, match=r"after_epoch -> on_epoch_recorded"):
        class Late(nc.Callback):
            def after_epoch(self, trainer):
                pass


# -- reproducible bit for bit, and a divergence stops training -----------------------------------------------------------


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


# -- bad input: fit, the trainer, batches ------------------------------------------------------------------------
#: one row per bad input, in the format of ``BAD_INPUT_FIELDS`` (tests/conftest.py)
BAD_INPUTS = [
    ("fit_empty_dataset", lambda t: fit_quietly(lenet(), img((0, 1, 28, 28)), np.zeros(0, np.int64)), ValueError, ["empty"]),
    ("fit_zero_epochs", lambda t: fit_quietly(lenet(), img((2, 1, 28, 28)), np.zeros(2, np.int64), epochs=0),
     ValueError, ["epochs", "0"]),
    ("fit_integer_images", lambda t: fit_quietly(lenet(), img((2, 1, 28, 28), np.uint8), np.zeros(2, np.int64)),
     TypeError, ["uint8"]),
    ("trainer_zero_batch_size", lambda t: nc.Trainer(lenet(), Adam(lenet()), batch_size=0), ValueError,
     ["batch_size", "0"]),
    ("batch_indices_zero_batch", lambda t: batch_indices(10, 0), ValueError, ["batch_size", "0"]),
    ("trainer_with_a_loss_that_does_not_reduce",
     lambda t: nc.Trainer(lenet(), SGD(lenet()), loss=SoftmaxCrossEntropy(reduction="none")), ValueError,
     ["Trainer", "reduction 'mean' or 'sum'", "reduction='none'"]),
]


@pytest.mark.parametrize(BAD_INPUT_FIELDS, bad_input_cases(BAD_INPUTS))
def test_bad_input_raises_the_documented_error_naming_the_argument(call, exc, needles, tmp_path):
    assert_bad_input(call, exc, needles, tmp_path)
