"""Training-loop plug-ins: the :class:`Callback` hooks, and the loop's own callbacks.

:class:`~numpycnn.training.Trainer` calls the hooks at fixed points of a step and an epoch, so a
technique (or the progress bar, the periodic evaluation, the checkpoints) plugs in without copying
the loop. The built-in ones are added by ``Trainer.fit`` after the user's callbacks and keep no state
of their own (nothing of theirs goes into a checkpoint).
"""
import time

from .validate import count


class Callback:
    """Base class for training-loop plug-ins; override only what you need.

    The hooks, in the order the loop calls them. ``trainer.step`` is the number of optimizer updates
    done: it is incremented right after ``optimizer.step()``, so ``on_batch_begin`` and
    ``on_backward_end`` see the updates done *before* this batch and ``on_step_end`` sees them
    *including* this one (the first ``on_step_end`` sees ``trainer.step == 1``).

    ======================  ==================================================================
    ``on_train_begin``      once, before the first step (also after a resume)
    ``on_batch_begin``      with the batch ``(x, y)`` — e.g. a branch keeps ``y``
    ``on_backward_end``     gradients are ready — record gradient flow, add a consistency loss
    ``on_step_end``         parameters were updated and counted — re-apply masks, schedules
    ``on_batch_end``        the batch is counted in the epoch's sums — evaluate, checkpoint, show
    ``on_epoch_end``        with the epoch's logs (a dict) — add metrics before the history row
    ``on_epoch_recorded``   the row is in ``history``; after a whole epoch ``trainer.epoch`` counts it
    ``on_train_end``        once, when ``fit`` stops (``trainer.stop_reason`` says why)
    ======================  ==================================================================

    ``on_batch_begin``, ``on_backward_end`` and ``on_step_end`` run inside :meth:`Trainer.train_step`
    (also when it is called on its own); the others run in :meth:`Trainer.fit`.
    """

    #: key under which the callback's state is stored in checkpoints
    name = "callback"

    #: hook names of earlier versions -> today's; a subclass defining one is refused, since the loop would
    #: silently never call it
    RENAMED_HOOKS = {"after_backward": "on_backward_end", "after_step": "on_step_end",
                     "after_epoch": "on_epoch_recorded"}

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        old = [name for name in Callback.RENAMED_HOOKS if name in vars(cls)]
        if old:
            renames = ", ".join(f"{name} -> {Callback.RENAMED_HOOKS[name]}" for name in old)
            raise TypeError(f"{cls.__name__} defines the hook(s) {old}, which the training loop no longer calls; "
                            f"rename them: {renames}")

    def on_train_begin(self, trainer):
        pass

    def on_batch_begin(self, trainer, x, y):
        pass

    def on_backward_end(self, trainer):
        pass

    def on_step_end(self, trainer):
        pass

    def on_batch_end(self, trainer):
        pass

    def on_epoch_end(self, trainer, logs):
        pass

    def on_epoch_recorded(self, trainer):
        pass

    def on_train_end(self, trainer):
        pass

    def state_dict(self):
        """Arrays (0-d for scalars) needed to resume exactly."""
        return {}

    def load_state_dict(self, state):
        pass


# -- the loop's own callbacks ---------------------------------------------------------------------
class PeriodicEvaluation(Callback):
    """Evaluate ``val`` every ``every`` updates into ``trainer.history["evals"]`` (``fit(eval_every=...)``).

    Each entry: ``{"step", "seconds" (training time so far), "val_loss", "val_acc"}``.
    """

    name = "periodic_evaluation"

    def __init__(self, val, every):
        self.val, self.every = val, count(every, "eval_every", "Trainer.fit")

    def on_batch_end(self, trainer):
        if trainer.step % self.every == 0:
            ev = trainer.evaluate(self.val)
            trainer.history["evals"].append({"step": trainer.step, "seconds": trainer.elapsed,
                                             "val_loss": ev["loss"], "val_acc": ev["accuracy"]})


class Checkpoints(Callback):
    """Write a checkpoint atomically to ``path`` after every whole epoch, every ``every`` updates (if
    given), and when Ctrl-C stops the run (``Trainer(checkpoint_path=..., checkpoint_every=...)``)."""

    name = "checkpoints"

    def __init__(self, path, every=None):
        self.path = path
        self.every = None if every is None else count(every, "checkpoint_every", "Trainer")

    def on_batch_end(self, trainer):
        if self.every and trainer.step % self.every == 0:
            trainer.save_checkpoint(self.path)

    def on_epoch_recorded(self, trainer):
        if trainer.batch_in_epoch == 0:             # a whole epoch was closed (not one stopped part-way)
            trainer.save_checkpoint(self.path)

    def on_train_end(self, trainer):
        if trainer.stop_reason == "interrupted":
            trainer.save_checkpoint(self.path)


class ProgressBar(Callback):
    """A tqdm bar per epoch with the epoch's running loss, accuracy and samples per second
    (``Trainer(progress=True)``)."""

    name = "progress_bar"

    def __init__(self, epochs, batches_per_epoch):
        self.epochs, self.batches = epochs, batches_per_epoch
        self.bar = None

    def on_batch_end(self, trainer):
        s = trainer.epoch_sums
        if self.bar is None:
            from tqdm.auto import tqdm        # here: only a run that shows a bar pays for importing tqdm
            self.bar = tqdm(total=self.batches, initial=trainer.batch_in_epoch - 1, unit="batch", leave=False,
                            desc=f"epoch {trainer.epoch + 1}/{self.epochs}", dynamic_ncols=True, mininterval=0.5)
            self.t0, self.seen0 = time.perf_counter(), s[2]
        self.bar.update(1)
        if trainer.batch_in_epoch % 20 == 0 or trainer.batch_in_epoch == self.batches:
            rate = (s[2] - self.seen0) / max(time.perf_counter() - self.t0, 1e-9)
            self.bar.set_postfix(loss=f"{s[0] / s[2]:.4f}", acc=f"{s[1] / s[2]:.3f}", samples_s=f"{rate:.0f}",
                                 refresh=False)

    def on_epoch_recorded(self, trainer):
        self.on_train_end(trainer)

    def on_train_end(self, trainer):
        if self.bar is not None:
            self.bar.close()
            self.bar = None
