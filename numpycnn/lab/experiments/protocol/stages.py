"""The protocol's stages: tune every arm on validation, run the paired final seeds, summarise.

Tuning is equal for every arm: each arm with settings to choose has its own grid, all grids of an
experiment have the same number of points, every point runs on the same tuning seeds, and the setting
with the best mean validation score is kept. When that setting sits at an edge of a log-spaced key (the
learning rate), the grid is extended **once** by one more step in that direction and the choice is made
again (:func:`extension`).
"""
import math

import numpy as np

from .stats import adjust, compare, trained_check


def grid_sizes(exp):
    """``{arm: number of grid points}`` of the arms that are tuned (a grid of more than one point)."""
    return {a.name: len(a.grid_points()) for a in exp.arms if len(a.grid_points()) > 1}


def check_equal_tuning(exp):
    """Every tuned arm's grid has the same number of points (and at least two tuning seeds); a ValueError
    naming the arms otherwise."""
    sizes = grid_sizes(exp)
    if len(set(sizes.values())) > 1:
        raise ValueError(f"{exp.name}: every tuned arm gets a grid of the same size; got {sizes}")
    if sizes and exp.tune_seeds < 2 and not exp.quick:
        raise ValueError(f"{exp.name}: tuning needs at least 2 seeds; got tune_seeds = {exp.tune_seeds}")


def extension(arm, best):
    """The one extra grid point when ``best`` sits at the edge of a log-spaced key of ``arm.extend``, else None.

    Returns ``(key, value, direction)``: the next value one grid step (the ratio of the two outermost
    values on that side) beyond the edge.
    """
    for key in arm.extend:
        values = sorted(set(arm.grid.get(key, ())))
        if len(values) < 2 or values[0] <= 0:
            continue
        if best[key] == values[0]:
            return key, values[0] * values[0] / values[1], "down"
        if best[key] == values[-1]:
            return key, values[-1] * values[-1] / values[-2], "up"
    return None


def _scored(exp, runner, jobs, seeds, desc):
    specs = [s for name, point in jobs for s in exp.specs("tune", name, point, seeds)]
    records = runner.map(specs, desc=desc)
    out = []
    for (name, point), i in zip(jobs, range(0, len(records), len(seeds))):
        runs = records[i:i + len(seeds)]
        scores = [r["metrics"][exp.select] for r in runs]
        row = {"settings": point, "scores": scores, "mean": float(np.mean(scores))}
        if exp.tune_metrics:
            row["metrics"] = {m: [r["metrics"][m] for r in runs] for m in exp.tune_metrics}
        out.append((name, row))
    return out


def tune(exp, runner):
    """Run every arm's grid on the tuning seeds (extended once at an edge); returns, per arm,
    ``{"selected": setting, "grid": [{"settings", "scores", "mean"(, "metrics")}, ...], "extended": {...} or None}``
    (``metrics``: the experiment's ``tune_metrics`` per tuning seed)."""
    check_equal_tuning(exp)
    seeds = exp.seed_sets()["tuning"]
    tuned = [a for a in exp.arms if len(a.grid_points()) > 1]
    grids = {a.name: [] for a in tuned}
    for name, row in _scored(exp, runner, [(a.name, p) for a in tuned for p in a.grid_points()], seeds,
                             f"{exp.name}: tuning"):
        grids[name].append(row)
    extra = {}
    for a in tuned:
        ext = extension(a, max(grids[a.name], key=lambda g: g["mean"])["settings"])
        if ext is not None:
            key, value, direction = ext
            best = max(grids[a.name], key=lambda g: g["mean"])["settings"]
            extra[a.name] = ({**best, key: value}, {"key": key, "value": value, "direction": direction})
    if extra:
        for name, row in _scored(exp, runner, [(n, p) for n, (p, _) in extra.items()], seeds,
                                 f"{exp.name}: tuning (grids extended at an edge)"):
            grids[name].append(row)
    out = {}
    for a in exp.arms:
        grid = grids.get(a.name, [])
        selected = max(grid, key=lambda g: g["mean"])["settings"] if grid else a.grid_points()[0]
        ext = extra.get(a.name, (None, None))[1]
        if ext is not None:
            ext["selected_extension"] = selected[ext["key"]] == ext["value"]
        out[a.name] = {"selected": selected, "grid": grid, "extended": ext}
    return out


def claims_of(exp, tuning):
    """The experiment's claims: its list, or ``exp.claims(tuning)`` when a baseline is chosen from tuning."""
    claims = exp.claims(tuning) if callable(exp.claims) else list(exp.claims)
    primary = [c for c in claims if c.primary]
    if len(primary) != 1:
        raise ValueError(f"{exp.name}: exactly one claim is the primary claim; got {len(primary)}")
    return claims


def primary_arms(claims):
    """The arms that run the primary claim's seeds: its arm, its baseline and its reference arm."""
    c = next(c for c in claims if c.primary)
    return {c.arm, c.baseline} | ({c.reference} if c.reference else set())


def final(exp, runner, tuning, claims):
    """The paired final runs of every arm's selected setting; returns ``{arm: [record per seed]}``."""
    specs, owners = [], []
    for arm in exp.arms:
        for s in exp.specs("final", arm.name, tuning[arm.name]["selected"],
                           exp.final_seeds(arm.name, primary_arms(claims))):
            specs.append(s)
            owners.append(arm.name)
    records = runner.map(specs, desc=f"{exp.name}: final runs")
    out = {a.name: [] for a in exp.arms}
    for name, r in zip(owners, records):
        out[name].append(r)
    return out


def paired(finals, names, metric):
    """Per-seed values of ``metric`` for the arms ``names`` (None skipped), on the seeds all of them ran."""
    runs = {n: finals[n] for n in names if n is not None}
    n = min(len(r) for r in runs.values())
    return {k: [r["metrics"][metric] for r in v[:n]] for k, v in runs.items()}


def comparisons_of(claims, finals, derived=None):
    """The comparison records of ``claims`` on the final runs, Holm-adjusted and verdicted.

    ``derived``: ``{claim text: (arm values, baseline values, reference values or None, headroom or None)}`` for
    a claim about a quantity computed from several arms per seed (e.g. the gap to dense at two widths); its
    ``arm`` and ``baseline`` then only name it.
    """
    out = []
    for c in claims:
        if derived and c.claim in derived:
            arm_values, base_values, reference_values, headroom = derived[c.claim]
            out.append(compare(c, arm_values, base_values, reference_values, headroom=headroom))
            continue
        values = paired(finals, (c.arm, c.baseline, c.reference), c.metric)
        quantum = None
        if c.quantum is not None:
            quantum = float(np.mean([r["metrics"][c.quantum] for r in finals[c.baseline]]))
        out.append(compare(c, values[c.arm], values[c.baseline], values.get(c.reference), quantum))
    return adjust(out)


def summarize(exp, tuning, finals, claims, metric="test_acc", derived=None):
    """The ``arms`` and ``comparisons`` sections of the experiment's JSON.

    Every arm records its selected setting, its tuning grid, its per-seed ``metric`` and its trained check;
    a comparison whose arm or baseline failed its trained check says so (``trained_note``).
    """
    arms = {}
    for a in exp.arms:
        metrics = sorted({c.metric for c in claims if a.name in (c.arm, c.baseline, c.reference)
                          and not (derived and c.claim in derived)} - {metric})
        v = 100 * np.asarray([r["metrics"][metric] for r in finals[a.name]], dtype=np.float64)
        arms[a.name] = {"label": a.label or a.name, "settings": tuning[a.name]["selected"],
                        "tuning": tuning[a.name]["grid"], "extended": tuning[a.name]["extended"],
                        "seeds": [r["seed"] for r in finals[a.name]],
                        "per_seed": [float(x) for x in v], "mean": float(v.mean()),
                        "per_seed_metrics": {m: [r["metrics"][m] for r in finals[a.name]] for m in metrics},
                        "std": float(v.std(ddof=1)) if v.size > 1 else math.nan,
                        "seconds_per_run": float(np.mean([r["seconds"] for r in finals[a.name]])),
                        "trained_check": trained_check(exp.trained, finals[a.name]) if exp.trained else None,
                        "curves": [r["metrics"]["curve"] for r in finals[a.name] if "curve" in r["metrics"]]}
    comparisons = comparisons_of(claims, finals, derived)
    for c in comparisons:
        failed = [role for role, name in (("arm", c["arm"]), ("baseline", c["baseline"]))
                  if name in arms and arms[name]["trained_check"] is not None and not arms[name]["trained_check"]["held"]]
        c["trained_note"] = (f"{' and '.join(failed)} still rising at the end (trained check)" if failed else None)
    return arms, comparisons


def run_protocol(exp, runner, derive=None):
    """Tune, run the final seeds, summarise: ``(tuning, finals, claims, arms, comparisons)``.

    ``derive(finals) -> {claim text: (arm values, baseline values, reference values, headroom)}``: the values of
    the claims about quantities computed from several arms (:func:`comparisons_of`).
    """
    tuning = tune(exp, runner)
    claims = claims_of(exp, tuning)
    finals = final(exp, runner, tuning, claims)
    arms, comparisons = summarize(exp, tuning, finals, claims, derived=derive(finals) if derive else None)
    return tuning, finals, claims, arms, comparisons
