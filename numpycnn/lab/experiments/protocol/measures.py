"""What a run function measures: train, read validation along the way, read test once at the end."""
from ....callbacks import Callback


class EvaluateAt(Callback):
    """Evaluate ``val`` after the updates listed in ``steps`` into ``trainer.history["evals"]`` (the entries
    of :class:`~numpycnn.callbacks.PeriodicEvaluation`: step, training seconds so far, loss, accuracy)."""

    name = "evaluate_at"

    def __init__(self, val, steps):
        self.val, self.steps = val, set(int(s) for s in steps)

    def on_batch_end(self, trainer):
        if trainer.step in self.steps:
            ev = trainer.evaluate(self.val)
            trainer.history["evals"].append({"step": trainer.step, "seconds": trainer.elapsed,
                                             "val_loss": ev["loss"], "val_acc": ev["accuracy"]})


def evaluation_steps(steps, evals=20, dense=None):
    """The updates after which validation is read: ``evals`` evenly spaced over the run, plus — with
    ``dense = (every, until)`` — every ``every`` updates up to ``until`` (where a time-to-target is measured)."""
    at = {max(1, round(k * steps / evals)) for k in range(1, evals + 1)}
    if dense is not None:
        every, until = dense
        at |= set(range(every, min(until, steps) + 1, every))
    return sorted(at)


def eval_curve(history):
    """``[[step, val_acc], ...]`` from a Trainer history's evaluations."""
    return [[e["step"], e["val_acc"]] for e in history["evals"]]


def fit_and_score(trainer, ctx, steps, evals=20, dense=None):
    """Train ``trainer`` for ``steps`` iterations on ``ctx.train``, reading validation at
    :func:`evaluation_steps` (``evals`` evenly spaced; densely early with ``dense = (every, until)``).

    Returns the metrics every experiment reports: ``val_acc`` (at the end), ``curve``
    (``[[step, val_acc], ...]``), ``curve_seconds`` (training seconds at each evaluation),
    ``train_loss`` (per epoch), ``steps``, ``eval_spacing`` (the spacing of the early evaluations: the
    grid a time-to-target is read on) and, in the final stage only, ``test_acc`` (read once, at the end).
    """
    at = evaluation_steps(steps, evals, dense)
    trainer.callbacks.append(EvaluateAt(ctx.val, at))
    try:
        history = trainer.fit(ctx.train, epochs=10 ** 9, max_steps=steps)
    finally:
        trainer.callbacks.pop()
    out = {"val_acc": history["evals"][-1]["val_acc"], "curve": eval_curve(history),
           "curve_seconds": [e["seconds"] for e in history["evals"]], "train_loss": list(history["train_loss"]),
           "steps": trainer.step, "eval_spacing": dense[0] if dense else at[0]}
    if ctx.test is not None:
        out["test_acc"] = trainer.evaluate(ctx.test)["accuracy"]
    return out


def first_reaching(curve, target, budget):
    """Iterations until validation accuracy first reaches ``target``: ``(steps, reached)``.

    Read between evaluations by linear interpolation (the crossing of the line from the last evaluation
    below the target to the first at or above it), so the measure is not quantised to the evaluation grid;
    an arm above the target at its first evaluation counts that evaluation's step, and one that never
    reaches it the whole ``budget`` (censored; ``reached`` is False).
    """
    previous = None
    for step, acc in curve:
        if acc >= target:
            if previous is None:
                return float(step), True
            (s0, a0), (s1, a1) = previous, (step, acc)
            return float(s0 + (target - a0) / (a1 - a0) * (s1 - s0)), True
        previous = (step, acc)
    return float(budget), False


def spacing_at(curve, target):
    """The spacing of the evaluation grid where ``curve`` first reaches ``target``: how finely
    :func:`first_reaching` was read there (a time claim's ``quantum``).

    ``curve``: ``[[x, val_acc], ...]`` with ``x`` the step (or the training seconds, for a time in seconds).
    Returns the distance between the two evaluations that bracket the crossing; the first evaluation's ``x``
    when it is already at the target (the crossing lies anywhere before it); the last spacing when the
    target is never reached.
    """
    previous = 0.0
    for x, acc in curve:
        if acc >= target:
            return float(x - previous)
        previous = x
    return float(curve[-1][0] - curve[-2][0]) if len(curve) > 1 else float(curve[-1][0])


def seconds_reaching(curve, curve_seconds, target):
    """Training seconds until validation accuracy first reaches ``target``, interpolated between evaluations
    as :func:`first_reaching` (the whole run's if never)."""
    seconds = dict((s, t) for (s, _), t in zip(curve, curve_seconds))
    steps, reached = first_reaching(curve, target, curve[-1][0])
    if not reached:
        return curve_seconds[-1]
    below = [(s, t) for s, t in seconds.items() if s <= steps]
    above = [(s, t) for s, t in seconds.items() if s >= steps]
    (s0, t0), (s1, t1) = (below[-1] if below else above[0]), above[0]
    return t0 if s1 == s0 else t0 + (steps - s0) / (s1 - s0) * (t1 - t0)
