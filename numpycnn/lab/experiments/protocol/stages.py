"""The protocol's stages: tune every arm on validation, run the paired final seeds, summarise."""
import math

import numpy as np

from .spec import TUNE_SEED0
from .stats import compare, trained_check, withhold_verdicts


def tune(exp, runner):
    """Run every arm's grid on the tuning seeds; returns ``{arm: {"selected": setting, "grid": [...]}}``.

    An arm with one grid point is not run here (its setting is selected without a choice); an arm
    ``tune_like`` another takes that arm's selected setting, updated with its own fixed settings.
    """
    tune_seeds = [TUNE_SEED0 + i for i in range(exp.tune_seeds)]
    jobs = []
    for arm in exp.arms:
        if arm.tune_like is None and len(arm.grid_points()) > 1:
            for point in arm.grid_points():
                jobs.append((arm.name, point))
    specs = [s for name, point in jobs for s in exp.specs("tune", name, point, tune_seeds)]
    records = runner.map(specs, desc=f"{exp.name}: tuning")
    by_point = {}
    for (name, point), i in zip(jobs, range(0, len(records), len(tune_seeds))):
        scores = [r["metrics"][exp.select] for r in records[i:i + len(tune_seeds)]]
        by_point.setdefault(name, []).append({"settings": point, "scores": scores, "mean": float(np.mean(scores))})
    out = {}
    for arm in exp.arms:
        if arm.tune_like is None:
            grid = by_point.get(arm.name, [])
            best = max(grid, key=lambda g: g["mean"])["settings"] if grid else arm.grid_points()[0]
            out[arm.name] = {"selected": best, "grid": grid}
    for arm in exp.arms:
        if arm.tune_like is not None:
            src = out[arm.tune_like]["selected"]
            out[arm.name] = {"selected": {**src, **arm.fixed}, "grid": [], "tuned_like": arm.tune_like}
    return out


def final(exp, runner, tuning):
    """The paired final runs of every arm's selected setting; returns ``{arm: [record per seed]}``."""
    seeds = list(range(exp.seeds))
    specs, owners = [], []
    for arm in exp.arms:
        for s in exp.specs("final", arm.name, tuning[arm.name]["selected"], seeds):
            specs.append(s)
            owners.append(arm.name)
    records = runner.map(specs, desc=f"{exp.name}: final runs")
    out = {a.name: [] for a in exp.arms}
    for name, r in zip(owners, records):
        out[name].append(r)
    return out


def summarize(exp, tuning, finals, metric="test_acc"):
    """The ``arms``, ``comparisons`` and ``trained_check`` sections of the experiment's JSON."""
    arms = {}
    for a in exp.arms:
        per_seed = [r["metrics"][metric] for r in finals[a.name]]
        v = 100 * np.asarray(per_seed, dtype=np.float64)
        arms[a.name] = {"label": a.label or a.name, "settings": tuning[a.name]["selected"],
                        "tuning": tuning[a.name]["grid"], "tuned_like": tuning[a.name].get("tuned_like"),
                        "per_seed": [float(x) for x in v], "mean": float(v.mean()),
                        "std": float(v.std(ddof=1)) if v.size > 1 else math.nan,
                        "seconds_per_run": float(np.mean([r["seconds"] for r in finals[a.name]]))}
    comparisons = [compare(c, [r["metrics"][c.metric] for r in finals[c.arm]],
                           [r["metrics"][c.metric] for r in finals[c.baseline]]) for c in exp.claims]
    check = trained_check(exp.trained, finals[exp.trained.arm]) if exp.trained else None
    withhold_verdicts(comparisons, [check])
    return arms, comparisons, check


def run_protocol(exp, runner):
    """Tune, run the final seeds, summarise: ``(tuning, finals, arms, comparisons, trained_check)``."""
    tuning = tune(exp, runner)
    finals = final(exp, runner, tuning)
    arms, comparisons, check = summarize(exp, tuning, finals)
    return tuning, finals, arms, comparisons, check
