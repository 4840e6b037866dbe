"""The training loop: stop conditions, callbacks at their points, evaluation, checkpoints and resume."""
import numpy as np
import pytest

import numpycnn as nc
from numpycnn.lab.commands.demo import demo_args
from numpycnn.lab.commands.train import run_training
from numpycnn.datasets import Dataset, load_dataset
from numpycnn.errors import CheckpointError
from numpycnn.callbacks import Callback
from numpycnn.training import Trainer, batch_indices
from numpycnn.zoo import small_cnn


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
