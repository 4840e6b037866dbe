"""Statistics and verdicts: the paired differences of a claim, their confidence interval, the verdict read
from it, and the check that the baseline was trained."""
import math

import numpy as np
import scipy.stats

VERDICTS = ("supported", "contradicted", "inconclusive")
#: the verdict of a comparison whose baseline failed its trained check
NO_VERDICT = "no verdict: the baseline is not trained"


def confidence_interval(diffs, confidence=0.95):
    """Mean, sample standard deviation and Student-t confidence interval of paired differences.

    Returns ``(mean, std, (lo, hi))``; with fewer than two values the interval is ``(nan, nan)``.
    """
    d = np.asarray(diffs, dtype=np.float64)
    if d.size == 0:
        return math.nan, math.nan, (math.nan, math.nan)
    mean = float(d.mean())
    if d.size < 2:
        return mean, math.nan, (math.nan, math.nan)
    std = float(d.std(ddof=1))
    half = float(scipy.stats.t.ppf(0.5 + confidence / 2, d.size - 1) * std / math.sqrt(d.size))
    return mean, std, (mean - half, mean + half)


def verdict(ci, claimed_effect, kind="gain", margin=1.0):
    """The protocol's verdict on a claim from the 95 % CI of the oriented paired differences.

    ``gain``: ``supported`` if the CI lies entirely above 0; ``contradicted`` if it reaches no higher
    than the claimed effect (and does not lie above 0); otherwise ``inconclusive``.
    ``equivalence`` (the claim is "no difference"): ``supported`` if the CI lies within
    ``[−margin, margin]``, ``contradicted`` if it lies entirely outside, otherwise ``inconclusive``.
    """
    lo, hi = ci
    if math.isnan(lo) or math.isnan(hi):
        return "inconclusive"
    if kind == "equivalence":
        if -margin <= lo and hi <= margin:
            return "supported"
        if lo > margin or hi < -margin:
            return "contradicted"
        return "inconclusive"
    if lo > 0:
        return "supported"
    if hi < claimed_effect:
        return "contradicted"
    return "inconclusive"


def compare(claim, arm_values, base_values):
    """The comparison record of a :class:`Claim` from per-seed values of the arm and the baseline."""
    a = np.asarray(arm_values, dtype=np.float64)
    b = np.asarray(base_values, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"compare {claim.arm} vs {claim.baseline}: {a.size} and {b.size} seeds are not paired")
    d = (b - a) if claim.lower_is_better else (a - b)
    if claim.relative:
        d = d / b
    d = d * claim.scale
    mean, std, ci = confidence_interval(d)
    v = verdict(ci, claim.claimed_effect, claim.kind, claim.margin)
    consistent = (not math.isnan(ci[0])) and ci[0] <= claim.claimed_effect <= ci[1]
    return {"claim": claim.claim, "arm": claim.arm, "baseline": claim.baseline, "metric": claim.metric,
            "unit": claim.unit, "relative": claim.relative, "lower_is_better": claim.lower_is_better,
            "diffs_per_seed": [float(x) for x in d], "mean_diff": mean, "std_diff": std, "ci95": list(ci),
            "claimed_effect": claim.claimed_effect, "source": claim.source, "kind": claim.kind,
            "margin": claim.margin if claim.kind == "equivalence" else None,
            "verdict": v, "size_consistent": bool(consistent), "scorecard": claim.scorecard}


def trained_check(check, final_records):
    """Evaluate a :class:`TrainedCheck` on the baseline's final runs; returns a JSON-able dict."""
    gains, finals = [], []
    for r in final_records:
        curve = np.asarray(r["metrics"]["curve"], dtype=np.float64)
        steps, acc = curve[:, 0], curve[:, 1]
        start = steps[-1] * (1 - check.window)
        i = int(np.searchsorted(steps, start))
        gains.append(float(acc[-1] - acc[min(i, len(acc) - 1)]))
        finals.append(float(acc[-1]))
    gain, final = float(np.mean(gains)), float(np.mean(finals))
    held = gain < check.max_gain and final > check.min_accuracy
    return {"criterion": check.describe(), "arm": check.arm, "gain_over_window_pp": 100 * gain,
            "final_val_acc": 100 * final, "held": bool(held), "applies_to": check.applies_to}


def withhold_verdicts(comparisons, checks):
    """Replace the verdict of every comparison a failed trained check applies to (the baseline is not trained)."""
    for check in checks:
        if check is None or check["held"]:
            continue
        prefix = check.get("applies_to")
        for c in comparisons:
            if prefix is None or c["arm"].startswith(prefix):
                c["verdict"] = NO_VERDICT
    return comparisons
