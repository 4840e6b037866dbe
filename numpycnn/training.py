"""The training loop: ``Trainer.fit`` with callbacks, stop conditions and checkpoints.

The loop is tutorial 3's, plus what a real run needs::

    for each epoch e, until a stop condition holds:
        for each mini-batch idx of batch_indices(n, batch_size, seed, e):
            train_step(x[idx], y[idx])        # forward, loss, backward, optimizer.step(); step += 1
            on_batch_end                      # periodic evaluation, checkpoints, the progress bar
        evaluate val; on_epoch_end(logs); history row; epoch += 1

One training step (:meth:`Trainer.train_step`; :meth:`Trainer.compute_gradients` is the part a
trainer of several networks replaces)::

    logits = model.forward(x)                 # (N, K)
    loss   = loss_fn.forward(logits, y)       # scalar
    model.backward(loss_fn.backward())        # every layer's grads (and any backward hooks)
    optimizer.step()                          # x <- update(x, grad)

The first three lines are :meth:`Trainer.forward_backward`, and they run in this process unless more than
one thread was set (``numpycnn.threads.set_threads(T)``): then ``compute_gradients`` splits the batch over T
processes (:mod:`numpycnn.parallel`; see :attr:`Trainer.data_parallel`).

Techniques plug in through :class:`~numpycnn.callbacks.Callback` methods called at fixed points of
the step and the epoch (the table is in :mod:`numpycnn.callbacks`), instead of copying the loop; the
progress bar, periodic evaluation and checkpoints are callbacks too, added by ``fit`` after the
user's. ``trainer.step`` counts the optimizer updates and is incremented right after
``optimizer.step()``. A callback's ``state_dict()`` is saved in every checkpoint, so a resumed run
continues bit for bit (data order comes from :func:`batch_indices`).

Stop conditions: ``epochs``, ``max_steps``, ``target_loss`` (epoch-mean training loss at or below
it), ``target_accuracy`` (validation accuracy at or above it) and Ctrl-C (``"interrupted"``: the
step finishes and a checkpoint is written).
"""
import contextlib
import math
import os
import signal
import threading
import time

import numpy as np

from . import parallel, threads
from .callbacks import Checkpoints, PeriodicEvaluation, ProgressBar
from .errors import CheckpointError, DivergenceError
from .losses import SoftmaxCrossEntropy
from .model import EVAL_BATCH, Sequential
from .storage import load_arrays, prefixed, save_arrays, with_prefix
from .validate import count, integer

__all__ = ["History", "Trainer", "batch_indices"]


def batch_indices(n, batch_size, *, seed=0, epoch=0, shuffle=True):
    """Mini-batch index arrays for one epoch.

    Parameters
    ----------
    n : int
        Number of examples (> 0).
    batch_size : int
        Examples per batch (> 0); the last, partial batch is kept.
    seed, epoch : int
        The order is ``np.random.default_rng([seed, epoch]).permutation(n)``, so a run resumed
        at (epoch, batch) sees exactly the batches it would have seen.
    shuffle : bool
        ``False`` gives ``0 .. n-1`` in order.

    Returns
    -------
    list of np.ndarray
        ``ceil(n / batch_size)`` int64 arrays; together they hold every index exactly once.
    """
    n = count(n, "n", "batch_indices", meaning="the number of examples")
    batch_size = count(batch_size, "batch_size", "batch_indices")
    seed = integer(seed, "seed", "batch_indices", minimum=0)
    epoch = integer(epoch, "epoch", "batch_indices", minimum=0)
    order = np.random.default_rng([seed, epoch]).permutation(n) if shuffle else np.arange(n, dtype=np.int64)
    order = order.astype(np.int64, copy=False)
    return [order[i:i + batch_size] for i in range(0, n, batch_size)]


class History(dict):
    """Per-epoch metrics (``epoch, train_loss, train_acc, val_loss, val_acc, seconds, steps``) as lists,
    plus ``evals``: one dict per evaluation when ``eval_every`` is set."""

    KEYS = ("epoch", "steps", "train_loss", "train_acc", "val_loss", "val_acc", "seconds")

    def __init__(self, data=None):
        super().__init__({k: [] for k in self.KEYS})
        self["evals"] = []
        if data:
            self.update(data)

    def record(self, logs):
        """Append one epoch's row (``logs``: the KEYS and any metrics callbacks added).

        A row of the same epoch already at the end (an epoch stopped part-way by ``max_steps``, then
        resumed) is replaced.
        """
        if self["epoch"] and self["epoch"][-1] == logs["epoch"]:
            rows = len(self["epoch"])
            for k, v in self.items():
                if k != "evals" and isinstance(v, list) and len(v) == rows:
                    v.pop()
        for k in self.KEYS:
            self[k].append(logs[k])
        for k, v in logs.items():
            if k not in self.KEYS:
                self.setdefault(k, []).append(v)

    def table(self):
        """The per-epoch table as text."""
        lines = ["epoch   steps  train loss  train acc  val loss  val acc   time s"]
        for i in range(len(self["epoch"])):
            vl, va = self["val_loss"][i], self["val_acc"][i]
            lines.append(f"{self['epoch'][i]:>5d} {self['steps'][i]:>7d} {self['train_loss'][i]:>11.4f} "
                         f"{self['train_acc'][i]:>10.4f} {'' if vl is None else f'{vl:>9.4f}':>9} "
                         f"{'' if va is None else f'{va:>8.4f}':>8} {self['seconds'][i]:>8.1f}")
        return "\n".join(lines)


class Trainer:
    """Train a model on a dataset with an optimizer, callbacks and checkpoints.

    Parameters
    ----------
    model : Sequential
    optimizer : Optimizer (built on ``model``)
    loss : loss object with ``forward(z, y)`` / ``backward()``; softmax cross-entropy by default
    callbacks : list of Callback
    seed : int — data order is ``batch_indices(n, batch_size, seed=seed, epoch=e)``
    batch_size : int
    checkpoint_path : path, optional — written atomically at the end of every epoch
        (and every ``checkpoint_every`` steps, and on Ctrl-C)
    progress : bool — show a tqdm progress bar
    guard : bool — stop with :class:`DivergenceError` on a NaN/inf loss or gradient
    augment : callable ``(x, rng) -> x``, optional — e.g. :class:`numpycnn.augment.Augment`: every batch is
        replaced by a random view before the forward pass, with ``rng = default_rng([seed, step, stream])``
        (the same views on a resumed run)
    augment_stream : int — the ``stream`` of that seed (technique D gives network ``i`` stream ``i``, so m plain
        trainers with streams 0 … m−1 see the same views as the m networks trained together)

    Attributes
    ----------
    step : int — optimizer updates done (see :class:`~numpycnn.callbacks.Callback` for when it is incremented)
    epoch : int — whole epochs done; ``batch_in_epoch``: batches done in the current one
    elapsed : float — training seconds so far (the steps only: no evaluation, no checkpoints)
    history : History; ``stop_reason`` : why the last ``fit`` stopped
    checkpoint_written : ``(path, step)`` of the last checkpoint this trainer wrote, or None
    """

    #: Whether :meth:`compute_gradients` may split a step over worker processes when more than one thread is
    #: set (:mod:`numpycnn.parallel`). Each worker runs the lines of :meth:`forward_backward` on its shard, and
    #: only the main process's shard fills the layers' caches and the loss's state; a subclass whose step
    #: differs from that, or that reads those caches, sets this to False.
    data_parallel = True

    def __init__(self, model, optimizer, loss=None, callbacks=(), seed=0, batch_size=64,
                 checkpoint_path=None, checkpoint_every=None, progress=True, guard=True, augment=None,
                 augment_stream=0):
        self.batch_size = count(batch_size, "batch_size", "Trainer")
        self.model, self.optimizer = model, optimizer
        self.loss = loss or SoftmaxCrossEntropy()
        if getattr(self.loss, "reduction", "mean") == "none":
            raise ValueError(f"Trainer: loss must reduce the batch to one number (reduction 'mean' or 'sum'); "
                             f"got {self.loss!r}")
        self.callbacks = list(callbacks)
        self.seed = int(seed)
        self.checkpoint_path = checkpoint_path
        self.checkpoint_every = checkpoint_every
        self.progress = progress
        self.guard = guard
        if augment is not None and not callable(augment):
            raise TypeError(f"Trainer: augment must be callable (x, rng) -> x, e.g. numpycnn.augment.Augment; "
                            f"got {type(augment).__name__}")
        self.augment, self.augment_stream = augment, int(augment_stream)
        self.history = History()
        self.step = 0             # optimizer updates done
        self.epoch = 0            # completed epochs
        self.batch_in_epoch = 0   # batches done in the current epoch
        self.epoch_sums = np.zeros(3)   # running (loss*n, correct, n) of the current epoch
        self.elapsed = 0.0        # training seconds so far (excluding evaluation)
        self.stop_reason = None
        self.checkpoint_written = None  # (path, step) of the last checkpoint this trainer wrote
        self._interrupted = False
        self.last_x = self.last_y = self.last_logits = None
        self._parallel = None     # numpycnn.parallel.Workers, made at the first data-parallel step

    # -- one step -------------------------------------------------------------------
    def train_step(self, x, y):
        """One update from the batch ``(x, y)``: gradients, callbacks, optimizer step. Returns ``(loss, correct)``."""
        for cb in self.callbacks:
            cb.on_batch_begin(self, x, y)
        loss, logits = self.compute_gradients(x, y)
        self.last_x, self.last_y, self.last_logits = x, y, logits
        for cb in self.callbacks:
            cb.on_backward_end(self)
        if self.guard:
            self.check_finite(loss)
        for optimizer in self.trained_optimizers():
            optimizer.step()
        self.step += 1
        for cb in self.callbacks:
            cb.on_step_end(self)
        return loss, int((logits.argmax(axis=1) == y).sum())

    def augmented(self, x, stream=None):
        """The batch as network ``stream`` sees it: ``augment(x, default_rng([seed, step, stream]))``, or ``x``."""
        if self.augment is None:
            return x
        stream = self.augment_stream if stream is None else stream
        return self.augment(x, np.random.default_rng([self.seed, self.step, stream]))

    def compute_gradients(self, x, y):
        """Forward, loss, backward on the batch as this trainer sees it: fills every parameter's gradient.
        Returns ``(loss, logits)``.

        Unless threads are set, the step that runs is tutorial 3's, :meth:`forward_backward`, in this process.
        Only when more than one thread was set (``numpycnn.threads.set_threads(T)``, ``limit(T)``,
        ``NUMPYCNN_THREADS``, ``--threads``), this trainer allows it (:attr:`data_parallel`) and the network's
        samples are computed independently (:func:`numpycnn.parallel.eligible`), the batch is split over T
        processes instead (:class:`numpycnn.parallel.Workers`): the same gradients up to float rounding.
        """
        x = self.augmented(x)                                   # the batch as this trainer sees it
        if self.data_parallel and parallel.eligible(self, x):   # threads set: T processes, 1/T of the batch each
            return self._workers(x.shape[0]).compute_gradients(x, y, self.loss)
        return self.forward_backward(x, y)                      # tutorial 3's step, in this process

    def forward_backward(self, x, y):
        """Tutorial 3's step in this process: forward, loss, backward. Returns ``(loss, logits)``."""
        logits = self.model.forward(x, check=False)
        loss = self.loss.forward(logits, y)
        self.model.backward(self.loss.backward(), input_grad=False)   # nothing needs dL/dx of the images
        return loss, logits

    def _workers(self, rows):
        """The data-parallel worker processes for this trainer (started at the first parallel step)."""
        T, rows = threads.get_threads(), max(rows, self.batch_size)
        if self._parallel is None or not self._parallel.fits(self.model, T, rows):
            if self._parallel is not None:
                self._parallel.close()
            self._parallel = parallel.Workers(self.model, T, rows)
        return self._parallel

    def check_finite(self, loss):
        """Divergence guard: raise :class:`DivergenceError` naming the step, and — when a gradient is the
        first value that is not finite — the first layer (from the output down, the order backprop computes
        them) whose gradient is not finite. The message mentions the last good checkpoint only when the
        trainer writes checkpoints (``checkpoint_path``)."""
        if not math.isfinite(loss):
            raise DivergenceError(f"training diverged at step {self.step + 1} (epoch {self.epoch + 1}): "
                                  f"the loss is {loss}. Lower the learning rate; {self.checkpoint_on_disk()}")
        for model in self.trained_models():
            for name, _, g in reversed(list(model.named_parameters())):
                if not np.isfinite(g).all():
                    raise DivergenceError(f"training diverged at step {self.step + 1} (epoch {self.epoch + 1}): "
                                          f"the gradient of {name} contains NaN or inf. Lower the learning rate; "
                                          f"{self.checkpoint_on_disk()}")

    def checkpoint_on_disk(self):
        """What a divergence leaves on disk, in words: the checkpoint this trainer wrote last (its path and
        step), or that it wrote none — and then whether a file from before is at ``checkpoint_path``."""
        if self.checkpoint_written is not None:
            path, step = self.checkpoint_written
            return f"the last checkpoint this trainer wrote, after step {step}, is kept at {path}"
        if not self.checkpoint_path:
            return "no checkpoint was written (this Trainer has no checkpoint_path)"
        if os.path.exists(self.checkpoint_path):
            return (f"this trainer wrote no checkpoint; {self.checkpoint_path} is a file from before it "
                    f"(left untouched)")
        return f"no checkpoint was written yet ({self.checkpoint_path} does not exist)"

    def trained_models(self):
        """The models this trainer updates (one here; several for technique D)."""
        return [self.model]

    def trained_optimizers(self):
        """Their optimizers, stepped after every backward pass (one here; one per network for technique D)."""
        return [self.optimizer]

    # -- evaluation -----------------------------------------------------------------
    def evaluate(self, data, batch_size=EVAL_BATCH):
        """``{"loss", "accuracy"}`` of the model on a Dataset (``x``, ``y``), in evaluation mode
        (``Sequential.evaluate``; the model's mode is restored after)."""
        return self.model.evaluate(data.x, data.y, batch_size=batch_size)

    def epoch_logs(self, val):
        """The row of the epoch so far: training loss and accuracy, validation loss and accuracy, time."""
        s = self.epoch_sums
        logs = {"epoch": self.epoch + 1, "steps": self.step, "train_loss": float(s[0] / max(s[2], 1)),
                "train_acc": float(s[1] / max(s[2], 1)), "val_loss": None, "val_acc": None,
                "seconds": self.elapsed}
        if val is not None and len(val):
            ev = self.evaluate(val)
            logs["val_loss"], logs["val_acc"] = ev["loss"], ev["accuracy"]
        return logs

    # -- the loop -------------------------------------------------------------------
    def fit(self, train, val=None, epochs=10, max_steps=None, target_loss=None, target_accuracy=None,
            eval_every=None):
        """Train until a stop condition holds; returns the :class:`History`.

        The trained models are put in training mode first; evaluations on ``val`` run in
        evaluation mode (:meth:`evaluate`).

        Parameters
        ----------
        train, val : Dataset (``x: (N, C, H, W)``, ``y: (N,)``); val optional
        epochs : int — total epochs (a resumed trainer continues up to this number)
        max_steps : int, optional — stop after this many optimizer steps in total
        target_loss : float, optional — stop when an epoch's mean training loss is <= it
        target_accuracy : float, optional — stop when validation accuracy is >= it
        eval_every : int, optional — also evaluate ``val`` every this many steps (``history["evals"]``)
        """
        if len(train) == 0:
            raise ValueError("Trainer.fit: the training set is empty")
        epochs = count(epochs, "epochs", "Trainer.fit")
        self.model.check_input(train.x[:1])
        for model in self.trained_models():
            model.train()          # BatchNorm uses batch statistics and Dropout drops, whatever mode came before
        self.stop_reason = None
        batches_per_epoch = math.ceil(len(train) / self.batch_size)
        hooks = self.callbacks + self.builtin_callbacks(val, epochs, eval_every, batches_per_epoch)
        for cb in hooks:
            cb.on_train_begin(self)
        try:
            with self._ctrl_c_finishes_the_step():
                while self.epoch < epochs and self.stop_reason is None:
                    batches = batch_indices(len(train), self.batch_size, seed=self.seed, epoch=self.epoch)
                    for idx in batches[self.batch_in_epoch:]:
                        t0 = time.perf_counter()
                        loss, correct = self.train_step(train.x[idx], train.y[idx])
                        self.elapsed += time.perf_counter() - t0
                        self.batch_in_epoch += 1
                        self.epoch_sums += (loss * len(idx), correct, len(idx))
                        for cb in hooks:
                            cb.on_batch_end(self)
                        if self._interrupted or (max_steps is not None and self.step >= max_steps):
                            break
                    if self._interrupted:
                        self.stop_reason = "interrupted"
                    else:
                        self.stop_reason = self._end_epoch(val, hooks, self.batch_in_epoch == len(batches),
                                                           max_steps, target_loss, target_accuracy)
            self.stop_reason = self.stop_reason or "epochs"
        finally:
            for cb in hooks:
                cb.on_train_end(self)
        return self.history

    def builtin_callbacks(self, val, epochs, eval_every, batches_per_epoch):
        """The loop's own callbacks, run after the user's: periodic evaluation, checkpoints, the bar."""
        out = []
        if eval_every and val is not None:
            out.append(PeriodicEvaluation(val, eval_every))
        if self.checkpoint_path:
            out.append(Checkpoints(self.checkpoint_path, self.checkpoint_every))
        if self.progress:
            out.append(ProgressBar(epochs, batches_per_epoch))
        return out

    def _end_epoch(self, val, hooks, whole, max_steps, target_loss, target_accuracy):
        """Close the epoch (or the part of it that ran); returns the stop reason, or None to go on."""
        logs = self.epoch_logs(val)
        for cb in hooks:
            cb.on_epoch_end(self, logs)
        self.history.record(logs)
        if whole:
            self.epoch += 1
            self.batch_in_epoch = 0
            self.epoch_sums = np.zeros(3)
        for cb in hooks:
            cb.on_epoch_recorded(self)
        if not whole or (max_steps is not None and self.step >= max_steps):
            return "max_steps"
        if target_loss is not None and logs["train_loss"] <= target_loss:
            return "target_loss"
        if target_accuracy is not None and logs["val_acc"] is not None and logs["val_acc"] >= target_accuracy:
            return "target_accuracy"
        return None

    @contextlib.contextmanager
    def _ctrl_c_finishes_the_step(self):
        """While training, a first Ctrl-C lets the current step finish (``fit`` then stops as
        ``"interrupted"`` and a checkpoint is written); a second one aborts at once."""
        self._interrupted = False
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def handler(signum, frame):
            if self._interrupted:          # second Ctrl-C: stop now
                raise KeyboardInterrupt
            self._interrupted = True
            print("\nInterrupted: finishing this step and saving a checkpoint (Ctrl-C again to abort)...", flush=True)

        old_handler = signal.signal(signal.SIGINT, handler)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, old_handler)

    # -- checkpoints ----------------------------------------------------------------
    def state_dict(self):
        """Everything needed to resume: arrays (flat dict) and JSON metadata."""
        arrays = {**with_prefix("model", self.model.state_dict()), **with_prefix("optim", self.optimizer.state_dict())}
        for cb in self.callbacks:
            arrays.update(with_prefix(f"cb/{cb.name}", cb.state_dict()))
        arrays["trainer/epoch_sums"] = self.epoch_sums
        meta = {"kind": "checkpoint", "architecture": self.model.config(), "metadata": self.model.metadata,
                "optimizer": type(self.optimizer).__name__, "step": self.step, "epoch": self.epoch,
                "batch_in_epoch": self.batch_in_epoch, "seed": self.seed, "batch_size": self.batch_size,
                "elapsed": self.elapsed, "history": dict(self.history),
                "callbacks": [cb.name for cb in self.callbacks], "dtype": str(self.model.dtype)}
        return arrays, meta

    def save_checkpoint(self, path):
        """Write the checkpoint atomically to ``path`` (remembered in ``checkpoint_written``)."""
        arrays, meta = self.state_dict()
        save_arrays(path, arrays, meta)
        self.checkpoint_written = (os.fspath(path), self.step)

    def load_checkpoint(self, path):
        """Restore model, optimizer, callbacks and loop position from ``path``; checks they match."""
        arrays, meta = load_arrays(path)
        if meta.get("kind") != "checkpoint":
            raise CheckpointError(f"{path}: is a {meta.get('kind')!r} file, not a training checkpoint")
        if _layer_configs(meta["architecture"], path) != self.model.config()["layers"]:
            raise CheckpointError(f"{path}: was saved from a different architecture; "
                                  f"use the same --model/--activation options as the original run")
        if meta["optimizer"] != type(self.optimizer).__name__:
            raise CheckpointError(f"{path}: was saved with optimizer {meta['optimizer']}, "
                                  f"not {type(self.optimizer).__name__}")
        if sorted(meta["callbacks"]) != sorted(cb.name for cb in self.callbacks):
            raise CheckpointError(f"{path}: was saved with techniques {meta['callbacks']}, "
                                  f"not {[cb.name for cb in self.callbacks]}")
        self.model.load_state_dict(prefixed(arrays, "model"))
        self.optimizer.load_state_dict(prefixed(arrays, "optim"))
        return self.restore_loop(arrays, meta)

    def restore_loop(self, arrays, meta):
        """Restore the callbacks' state and the loop position (step, epoch, batch, sums, history) of a
        checkpoint; shared by trainers that save their models differently."""
        for cb in self.callbacks:
            cb.load_state_dict(prefixed(arrays, f"cb/{cb.name}"))
        self.epoch_sums = np.array(arrays["trainer/epoch_sums"], dtype=np.float64)
        self.step, self.epoch, self.batch_in_epoch = meta["step"], meta["epoch"], meta["batch_in_epoch"]
        self.seed, self.batch_size, self.elapsed = meta["seed"], meta["batch_size"], meta["elapsed"]
        self.history = History(meta["history"])
        return self


def _layer_configs(architecture, path):
    """The layers of a saved architecture as :meth:`Sequential.config` writes them today (a layer's
    ``from_config`` reads the keys of older files, e.g. ``Conv2D``'s ``"kernel"``)."""
    try:
        return Sequential.from_config(architecture).config()["layers"]
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"{path}: architecture description is invalid: {e}") from None
