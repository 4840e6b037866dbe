"""The training loop: ``Trainer.fit`` with callbacks, stop conditions and checkpoints.

One training step (``Trainer.train_step``)::

    logits = model.forward(x)                 # (N, K)
    loss   = loss_fn.forward(logits, y)       # scalar
    model.backward(loss_fn.backward())        # every layer's grads (and any backward hooks)
    optimizer.step()                          # x <- update(x, grad)

Techniques plug in through :class:`Callback` methods, called at fixed points of
the step and the epoch, instead of copying the loop:

=====================  ==========================================================
``on_train_begin``     once, before the first step (also after a resume)
``on_batch_begin``     with the batch ``(x, y)`` — e.g. a branch keeps ``y``
``after_backward``     gradients are ready — record gradient flow, update a branch
``after_step``         parameters were updated — re-apply masks, schedules
``on_epoch_end``       with the epoch's logs — add metrics, drop/re-introduce filters
=====================  ==========================================================

A callback's ``state_dict()`` is saved in every checkpoint, so a resumed run
continues bit for bit (data order comes from ``batch_indices(seed, epoch)``).

Stop conditions: ``epochs``, ``max_steps``, ``target_loss`` (epoch-mean training
loss at or below it) and ``target_accuracy`` (validation accuracy at or above it).
"""
import math
import signal
import threading
import time

import numpy as np

from .datasets import batch_indices
from .errors import CheckpointError, DivergenceError
from .io import load_arrays, prefixed, save_arrays
from .losses import SoftmaxCrossEntropy
from .validate import count


class Callback:
    """Base class for training-loop plug-ins; override only what you need."""

    #: key under which the callback's state is stored in checkpoints
    name = "callback"

    def on_train_begin(self, trainer):
        pass

    def on_batch_begin(self, trainer, x, y):
        pass

    def after_backward(self, trainer):
        pass

    def after_step(self, trainer):
        pass

    def on_epoch_end(self, trainer, logs):
        pass

    def state_dict(self):
        """Arrays (0-d for scalars) needed to resume exactly."""
        return {}

    def load_state_dict(self, state):
        pass


class History(dict):
    """Per-epoch metrics (``epoch, train_loss, train_acc, val_loss, val_acc, seconds, steps``) as lists,
    plus ``evals``: one dict per evaluation when ``eval_every`` is set."""

    KEYS = ("epoch", "steps", "train_loss", "train_acc", "val_loss", "val_acc", "seconds")

    def __init__(self, data=None):
        super().__init__({k: [] for k in self.KEYS})
        self["evals"] = []
        if data:
            self.update(data)

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
    """

    def __init__(self, model, optimizer, loss=None, callbacks=(), seed=0, batch_size=64,
                 checkpoint_path=None, checkpoint_every=None, progress=True, guard=True):
        batch_size = count(batch_size, "batch_size", "Trainer")
        self.model = model
        self.optimizer = optimizer
        self.loss = loss or SoftmaxCrossEntropy()
        self.callbacks = list(callbacks)
        self.seed = int(seed)
        self.batch_size = batch_size
        self.checkpoint_path = checkpoint_path
        self.checkpoint_every = checkpoint_every
        self.progress = progress
        self.guard = guard
        self.history = History()
        self.step = 0             # optimizer steps done
        self.epoch = 0            # completed epochs
        self.batch_in_epoch = 0   # batches done in the current epoch
        self.epoch_sums = np.zeros(3)   # running (loss*n, correct, n) of the current epoch
        self.elapsed = 0.0        # training seconds so far (excluding evaluation)
        self.stop_reason = None
        self._interrupted = False
        self.last_x = self.last_y = self.last_logits = None

    # -- one step -------------------------------------------------------------------
    def train_step(self, x, y):
        """Forward, loss, backward, callbacks, update. Returns ``(loss, number correct)``."""
        for cb in self.callbacks:
            cb.on_batch_begin(self, x, y)
        logits = self.model.forward(x, check=False)
        loss = self.loss.forward(logits, y)
        self.model.backward(self.loss.backward(), input_grad=False)   # nothing needs dL/dx of the images
        self.last_x, self.last_y, self.last_logits = x, y, logits
        for cb in self.callbacks:
            cb.after_backward(self)
        if self.guard:
            self.check_finite(loss)
        self.optimizer.step()
        for cb in self.callbacks:
            cb.after_step(self)
        return loss, int((logits.argmax(axis=1) == y).sum())

    def check_finite(self, loss):
        """Divergence guard: raise :class:`DivergenceError` naming the step and the first layer
        (from the output down, the order backprop computes them) whose gradient is not finite."""
        if not math.isfinite(loss):
            raise DivergenceError(f"training diverged at step {self.step + 1} (epoch {self.epoch + 1}): "
                                  f"the loss is {loss}. Lower the learning rate; the last good checkpoint is kept"
                                  + (f" at {self.checkpoint_path}" if self.checkpoint_path else ""))
        for model in self.trained_models():
            for name, _, g in reversed(list(model.named_parameters())):
                if not np.isfinite(g).all():
                    raise DivergenceError(f"training diverged at step {self.step + 1} (epoch {self.epoch + 1}): "
                                          f"the gradient of {name} contains NaN or inf. Lower the learning rate")

    def trained_models(self):
        """The models this trainer updates (one here; several for technique D)."""
        return [self.model]

    # -- evaluation -----------------------------------------------------------------
    def evaluate(self, data, batch_size=512):
        """``{"loss", "accuracy"}`` of the model on a Dataset (``x``, ``y``), in evaluation mode
        (``Sequential.evaluate``; the model's mode is restored after)."""
        return self.model.evaluate(data.x, data.y, batch_size=batch_size)

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
        for cb in self.callbacks:
            cb.on_train_begin(self)
        handler_installed = self._install_sigint()
        try:
            self._loop(train, val, epochs, max_steps, target_loss, target_accuracy, eval_every)
        finally:
            if handler_installed:
                signal.signal(signal.SIGINT, self._old_handler)
        return self.history

    def _loop(self, train, val, epochs, max_steps, target_loss, target_accuracy, eval_every):
        n = len(train)
        bar = None
        while self.epoch < epochs:
            batches = batch_indices(n, self.batch_size, seed=self.seed, epoch=self.epoch)
            if self.progress:
                from tqdm.auto import tqdm
                bar = tqdm(total=len(batches), initial=self.batch_in_epoch, desc=f"epoch {self.epoch + 1}/{epochs}",
                           unit="batch", leave=False, dynamic_ncols=True, mininterval=0.5)
            t0 = time.perf_counter()
            while self.batch_in_epoch < len(batches):
                idx = batches[self.batch_in_epoch]
                loss, correct = self.train_step(train.x[idx], train.y[idx])
                self.step += 1
                self.batch_in_epoch += 1
                self.epoch_sums += (loss * len(idx), correct, len(idx))
                if bar is not None:
                    bar.update(1)
                    if self.batch_in_epoch % 20 == 0 or self.batch_in_epoch == len(batches):
                        s = self.epoch_sums
                        bar.set_postfix(loss=f"{s[0] / s[2]:.4f}", acc=f"{s[1] / s[2]:.3f}",
                                        samples_s=f"{s[2] / max(time.perf_counter() - t0, 1e-9):.0f}", refresh=False)
                if eval_every and val is not None and self.step % eval_every == 0:
                    self.elapsed += time.perf_counter() - t0
                    ev = self.evaluate(val)
                    self.history["evals"].append({"step": self.step, "seconds": self.elapsed,
                                                  "val_loss": ev["loss"], "val_acc": ev["accuracy"]})
                    t0 = time.perf_counter()
                if self.checkpoint_every and self.step % self.checkpoint_every == 0 and self.checkpoint_path:
                    self.elapsed += time.perf_counter() - t0
                    self.save_checkpoint(self.checkpoint_path)
                    t0 = time.perf_counter()
                if self._interrupted:
                    self.elapsed += time.perf_counter() - t0
                    self.stop_reason = "interrupted"
                    if self.checkpoint_path:
                        self.save_checkpoint(self.checkpoint_path)
                    if bar is not None:
                        bar.close()
                    return
                if max_steps is not None and self.step >= max_steps:
                    break
            self.elapsed += time.perf_counter() - t0
            if bar is not None:
                bar.close()
            if self.batch_in_epoch < len(batches):      # stopped by max_steps mid-epoch
                self.stop_reason = "max_steps"
                self._end_epoch(val, partial=True)
                return
            self._end_epoch(val)
            logs = {k: self.history[k][-1] for k in History.KEYS}
            if max_steps is not None and self.step >= max_steps:
                self.stop_reason = "max_steps"
            elif target_loss is not None and logs["train_loss"] <= target_loss:
                self.stop_reason = "target_loss"
            elif target_accuracy is not None and logs["val_acc"] is not None and logs["val_acc"] >= target_accuracy:
                self.stop_reason = "target_accuracy"
            if self.stop_reason:
                return
        self.stop_reason = self.stop_reason or "epochs"

    def _end_epoch(self, val, partial=False):
        s = self.epoch_sums
        logs = {"epoch": self.epoch + 1, "steps": self.step, "train_loss": float(s[0] / max(s[2], 1)),
                "train_acc": float(s[1] / max(s[2], 1)), "val_loss": None, "val_acc": None,
                "seconds": self.elapsed}
        if val is not None and len(val):
            ev = self.evaluate(val)
            logs["val_loss"], logs["val_acc"] = ev["loss"], ev["accuracy"]
        for cb in self.callbacks:
            cb.on_epoch_end(self, logs)
        if self.history["epoch"] and self.history["epoch"][-1] == logs["epoch"]:
            # the previous row was this same epoch stopped part-way (max_steps), then resumed: replace it
            rows = len(self.history["epoch"])
            for k, v in self.history.items():
                if k != "evals" and isinstance(v, list) and len(v) == rows:
                    v.pop()
        for k in History.KEYS:
            self.history[k].append(logs[k])
        for k, v in logs.items():
            if k not in History.KEYS:
                self.history.setdefault(k, []).append(v)
        if not partial:
            self.epoch += 1
            self.batch_in_epoch = 0
            self.epoch_sums = np.zeros(3)
            if self.checkpoint_path:
                self.save_checkpoint(self.checkpoint_path)

    def _install_sigint(self):
        if threading.current_thread() is not threading.main_thread():
            return False

        def handler(signum, frame):
            if self._interrupted:          # second Ctrl-C: stop now
                raise KeyboardInterrupt
            self._interrupted = True
            print("\nInterrupted: finishing this step and saving a checkpoint (Ctrl-C again to abort)...", flush=True)

        self._interrupted = False
        self._old_handler = signal.signal(signal.SIGINT, handler)
        return True

    # -- checkpoints ----------------------------------------------------------------
    def state_dict(self):
        """Everything needed to resume: arrays (flat dict) and JSON metadata."""
        arrays = {f"model/{k}": v for k, v in self.model.state_dict().items()}
        arrays.update({f"optim/{k}": v for k, v in self.optimizer.state_dict().items()})
        for cb in self.callbacks:
            arrays.update({f"cb/{cb.name}/{k}": v for k, v in cb.state_dict().items()})
        arrays["trainer/epoch_sums"] = self.epoch_sums
        meta = {"kind": "checkpoint", "architecture": self.model.config(), "metadata": self.model.metadata,
                "optimizer": type(self.optimizer).__name__, "step": self.step, "epoch": self.epoch,
                "batch_in_epoch": self.batch_in_epoch, "seed": self.seed, "batch_size": self.batch_size,
                "elapsed": self.elapsed, "history": dict(self.history),
                "callbacks": [cb.name for cb in self.callbacks], "dtype": str(self.model.dtype)}
        return arrays, meta

    def save_checkpoint(self, path):
        """Write the checkpoint atomically to ``path``."""
        arrays, meta = self.state_dict()
        save_arrays(path, arrays, meta)

    def load_checkpoint(self, path):
        """Restore model, optimizer, callbacks and loop position from ``path``; checks they match."""
        arrays, meta = load_arrays(path)
        if meta.get("kind") != "checkpoint":
            raise CheckpointError(f"{path}: is a {meta.get('kind')!r} file, not a training checkpoint")
        if meta["architecture"]["layers"] != self.model.config()["layers"]:
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
