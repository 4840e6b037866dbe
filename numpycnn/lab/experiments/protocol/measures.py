"""What a run function measures: train, read validation along the way, read test once at the end."""


def eval_curve(history):
    """``[[step, val_acc], ...]`` from a Trainer history's periodic evaluations."""
    return [[e["step"], e["val_acc"]] for e in history["evals"]]


def fit_and_score(trainer, ctx, steps, evals=20):
    """Train ``trainer`` for ``steps`` iterations on ``ctx.train``, evaluating validation ``evals`` times.

    Returns the metrics every experiment reports: ``val_acc`` (at the end), ``curve``
    (``[[step, val_acc], ...]``), ``curve_seconds`` (training seconds at each evaluation),
    ``train_loss`` (per epoch), ``steps`` and, in the final stage only, ``test_acc`` (read once, at the end).
    """
    history = trainer.fit(ctx.train, ctx.val, epochs=10 ** 9, max_steps=steps, eval_every=max(1, steps // evals))
    out = {"val_acc": history["evals"][-1]["val_acc"], "curve": eval_curve(history),
           "curve_seconds": [e["seconds"] for e in history["evals"]], "train_loss": list(history["train_loss"]),
           "steps": trainer.step}
    if ctx.test is not None:
        out["test_acc"] = trainer.evaluate(ctx.test)["accuracy"]
    return out


def first_reaching(curve, target, budget):
    """Iterations until validation accuracy first reaches ``target``: ``(steps, reached)``; ``budget`` if never
    (censored: an arm that never reaches the target is counted at the whole budget)."""
    for step, acc in curve:
        if acc >= target:
            return int(step), True
    return int(budget), False


def seconds_reaching(curve, curve_seconds, target):
    """Training seconds until validation accuracy first reaches ``target`` (the whole run's if never)."""
    return next((s for (_, acc), s in zip(curve, curve_seconds) if acc >= target), curve_seconds[-1])
