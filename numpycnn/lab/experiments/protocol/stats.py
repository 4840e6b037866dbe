"""Statistics and verdicts: a verdict that could have come out either way.

A claim becomes a paired comparison: per final seed ``i`` the difference ``d_i`` between the arm and
its baseline, oriented so that positive is the claimed direction, in the claim's display unit
(percentage points for accuracies, per cent of the baseline for relative measures such as
"30 % fewer iterations"). From the ``n`` differences (mean ``m``, sample standard deviation ``s``)::

    CI95    = m ± t(0.975, n−1) · s/√n                        Student-t, paired
    p       = 2 · P(T(n−1) > |m| / (s/√n))                    two-sided paired t (TOST for "no difference")
    p_holm  = Holm's step-down adjustment of p over the technique's comparisons
    mde     = (t(0.975, n−1) + t(0.80, n−1)) · s/√n            the smallest effect this design detects with
                                                               80 % power at 5 % (two-sided)

The published effect is first **converted into this regime's units** by a stated rule
(:data:`CONVERSIONS`). **Headroom** is how far the baseline is from the claim's reference arm (dense
for sparse training, say), ``None`` without one.

A gain claim gets one of six labels (:data:`VERDICTS`), decided in this order:

1. ``untestable here`` — the converted effect exceeds the headroom: the regime has no room for it;
2. a gain is *shown* when the CI lies above 0 (the primary claim) or ``p_holm < 0.05`` with ``m > 0``
   (a secondary claim): ``supported`` when the CI reaches the converted effect, else ``supported,
   smaller than published`` (the CI lies below it);
3. ``worse`` — a loss shown the same way (the CI below 0, or ``p_holm < 0.05`` with ``m < 0``);
4. ``untestable here`` — no gain shown, and the converted effect is below the design's ``mde`` (it could
   not have been seen) or finer than the measure resolves (an evaluation grid coarser than a tenth of
   the baseline's value);
5. ``contradicted`` — no gain shown and the CI lies below the converted effect: the published size is
   excluded;
6. ``inconclusive`` — otherwise.

Control rows (a claimed effect of 0: a difference that would explain a result) read ``differs`` when
``p_holm < 0.05`` and ``no difference shown`` otherwise (:data:`CONTROL_VERDICTS`). A claim of "no
difference within ``± margin``" is tested with two one-sided t-tests (TOST): ``supported`` when the
CI lies within the margin (and, for a secondary claim, the TOST ``p_holm < 0.05``), ``contradicted``
when it lies entirely outside, ``untestable here`` when the CI's half-width alone reaches the margin
(equivalence could not be shown even at a zero difference), otherwise ``inconclusive``.
"""
import math

import numpy as np
import scipy.stats

ALPHA = 0.05
POWER = 0.80
#: the labels of a claim, defined once (the module docstring says when each applies)
VERDICTS = ("supported", "supported, smaller than published", "contradicted", "inconclusive", "worse",
            "untestable here")
#: the labels of a control row (a claimed effect of 0)
CONTROL_VERDICTS = ("no difference shown", "differs")
#: how a published effect becomes an effect in this regime's units
CONVERSIONS = {
    "relative error reduction": "the published relative error reduction × this baseline's error (100 − accuracy)",
    "fraction of gap closed": "the published fraction × (reference arm − baseline)",
    "as published (relative)": "a relative effect (per cent of the baseline's value), taken as published",
    "threshold (ours)": "a threshold we chose where the source gives no size, taken as stated",
}


def paired_t(d, confidence=1 - ALPHA):
    """Mean, sample standard deviation, Student-t interval and two-sided p of paired differences ``d``.

    Returns ``(mean, std, (lo, hi), p)``; with fewer than two values the std, interval and p are NaN; with
    zero spread the interval has zero width and ``p`` is 0 (1 at a zero mean).
    """
    d = np.asarray(d, dtype=np.float64)
    if d.size == 0:
        return math.nan, math.nan, (math.nan, math.nan), math.nan
    mean = float(d.mean())
    if d.size < 2:
        return mean, math.nan, (math.nan, math.nan), math.nan
    std = float(d.std(ddof=1))
    se = std / math.sqrt(d.size)
    if se == 0:
        return mean, std, (mean, mean), (1.0 if mean == 0 else 0.0)
    half = float(scipy.stats.t.ppf(0.5 + confidence / 2, d.size - 1)) * se
    p = float(2 * scipy.stats.t.sf(abs(mean) / se, d.size - 1))
    return mean, std, (mean - half, mean + half), p


def confidence_interval(diffs, confidence=1 - ALPHA):
    """``(mean, std, (lo, hi))`` of paired differences: :func:`paired_t` without its p-value."""
    mean, std, ci, _ = paired_t(diffs, confidence)
    return mean, std, ci


def tost_p(d, margin):
    """Two one-sided t-tests of ``−margin < effect < margin``: the larger of the two one-sided p-values."""
    d = np.asarray(d, dtype=np.float64)
    if d.size < 2:
        return math.nan
    mean, se = float(d.mean()), float(d.std(ddof=1)) / math.sqrt(d.size)
    if se == 0:
        return 0.0 if abs(mean) < margin else 1.0
    below = scipy.stats.t.sf((mean + margin) / se, d.size - 1)       # H0: effect <= −margin
    above = scipy.stats.t.cdf((mean - margin) / se, d.size - 1)      # H0: effect >= +margin
    return float(max(below, above))


def mde(std, n, alpha=ALPHA, power=POWER):
    """The smallest true effect a paired design of ``n`` seeds detects with ``power`` at two-sided ``alpha``:
    ``(t(1 − α/2, n−1) + t(power, n−1)) · s/√n`` (NaN for ``n < 2`` or an unknown ``s``)."""
    if n < 2 or not math.isfinite(std):
        return math.nan
    t = scipy.stats.t.ppf(1 - alpha / 2, n - 1) + scipy.stats.t.ppf(power, n - 1)
    return float(t * std / math.sqrt(n))


def holm(pvalues):
    """Holm's step-down adjusted p-values, in the order given (a NaN stays NaN and is not counted).

    With ``m`` p-values sorted ascending, the ``k``-th (from 0) becomes ``max_{j ≤ k} min(1, (m − j)·p_(j))``.
    """
    p = np.asarray(pvalues, dtype=np.float64)
    out = np.full(p.shape, np.nan)
    finite = np.flatnonzero(np.isfinite(p))
    running = 0.0
    for rank, i in enumerate(finite[np.argsort(p[finite], kind="stable")]):
        running = max(running, min(1.0, (finite.size - rank) * p[i]))
        out[i] = running
    return [float(x) for x in out]


def convert(published, conversion, baseline=None, reference=None):
    """A published effect in this regime's units, by the rule ``conversion`` (:data:`CONVERSIONS`).

    ``baseline`` and ``reference``: this regime's mean accuracies in per cent, of the baseline and of
    the reference arm (``"fraction of gap closed"`` only).
    """
    if conversion not in CONVERSIONS:
        raise ValueError(f"conversion must be one of {list(CONVERSIONS)}; got {conversion!r}")
    if conversion == "relative error reduction":
        return published * (100.0 - baseline)
    if conversion == "fraction of gap closed":
        if reference is None:
            raise ValueError("conversion 'fraction of gap closed' needs the reference arm's accuracy")
        return published * (reference - baseline)
    return published


def decide(kind, primary, mean, ci, p, p_holm, claimed=0.0, headroom=None, mde_=math.nan, margin=None,
           resolved=True):
    """The verdict of one comparison, by the rules of the module docstring.

    Parameters
    ----------
    kind : {"gain", "control", "equivalence"}
    primary : bool — the technique's one primary claim (tested at 5 %, no adjustment)
    mean, ci, p, p_holm : float, (float, float), float, float — the paired statistics (``p`` is the TOST
        p-value of an equivalence claim)
    claimed : float — the converted published effect (gain claims)
    headroom : float or None; ``mde_`` : float; margin : float (equivalence claims)
    resolved : bool — False when the measure cannot resolve the claimed effect

    Returns
    -------
    str — one of :data:`VERDICTS` (:data:`CONTROL_VERDICTS` for a control)
    """
    lo, hi = ci
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return "no difference shown" if kind == "control" else "inconclusive"

    def shown(sign):
        if primary:
            return lo > 0 if sign > 0 else hi < 0
        return p_holm < ALPHA and (mean > 0 if sign > 0 else mean < 0)

    if kind == "control":
        return "differs" if shown(+1) or shown(-1) else "no difference shown"
    if kind == "equivalence":
        if (hi - lo) / 2 >= margin:
            return "untestable here"
        if -margin <= lo and hi <= margin and (primary or p_holm < ALPHA):
            return "supported"
        if lo > margin or hi < -margin:
            return "contradicted"
        return "inconclusive"
    if headroom is not None and claimed > headroom:
        return "untestable here"
    if shown(+1):
        return "supported, smaller than published" if hi < claimed else "supported"
    if shown(-1):
        return "worse"
    if not resolved or not claimed >= mde_:
        return "untestable here"
    if hi < claimed:
        return "contradicted"
    return "inconclusive"


def oriented_differences(claim, arm_values, base_values):
    """The per-seed differences of a claim, oriented (positive = the claimed direction) and in its display unit."""
    a = np.asarray(arm_values, dtype=np.float64)
    b = np.asarray(base_values, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"compare {claim.arm} vs {claim.baseline}: {a.size} and {b.size} seeds are not paired")
    d = (b - a) if claim.lower_is_better else (a - b)
    if claim.relative:
        d = d / b
    return d * claim.scale


def compare(claim, arm_values, base_values, reference_values=None, quantum=None, headroom=None):
    """The comparison record of a :class:`~.spec.Claim`, before multiplicity (``p_holm`` and the verdict of a
    secondary claim come from :func:`adjust`).

    ``reference_values``: the reference arm's per-seed values on the same seeds (headroom, gap conversion);
    ``quantum``: the measure's grid step in the metric's raw unit (time claims), checked against a tenth of
    the baseline's mean value; ``headroom``: given explicitly instead (a derived claim, e.g. a gap that can
    shrink by no more than its starting size), in display units.
    """
    d = oriented_differences(claim, arm_values, base_values)
    base = float(np.mean(base_values)) * claim.scale
    ref = None if reference_values is None else float(np.mean(reference_values)) * claim.scale
    if headroom is None and ref is not None:
        headroom = base - ref if claim.lower_is_better else ref - base
    claimed = (convert(claim.published, claim.conversion, base, ref) if claim.kind == "gain" else
               (0.0 if claim.kind == "control" else None))
    if claim.kind == "equivalence":
        mean, std, ci, _ = paired_t(d)
        p = tost_p(d, claim.margin)
    else:
        mean, std, ci, p = paired_t(d)
    resolution = None if quantum is None else float(quantum) / float(np.mean(base_values))
    return {"claim": claim.claim, "arm": claim.arm, "baseline": claim.baseline, "reference": claim.reference,
            "metric": claim.metric, "unit": claim.unit, "relative": claim.relative,
            "lower_is_better": claim.lower_is_better, "kind": claim.kind, "primary": claim.primary,
            "published": claim.published, "conversion": claim.conversion, "source": claim.source,
            "threshold_ours": claim.conversion == "threshold (ours)",
            "margin": claim.margin if claim.kind == "equivalence" else None,
            "diffs_per_seed": [float(x) for x in d], "n": int(d.size), "mean_diff": mean, "std_diff": std,
            "ci95": list(ci), "p_value": p, "baseline_mean": base, "reference_mean": ref,
            "claimed_effect_here": claimed, "headroom": headroom, "mde": mde(std, d.size),
            "resolution": resolution, "scorecard": claim.scorecard}


def adjust(comparisons):
    """Holm over a technique's comparisons, then every verdict (:func:`decide`); returns the comparisons.

    The primary claim is judged on its own 95 % interval; every other row on ``p_holm``.
    """
    for c, ph in zip(comparisons, holm([c["p_value"] for c in comparisons])):
        c["p_holm"] = ph
        resolved = c["resolution"] is None or c["resolution"] <= 0.1
        c["verdict"] = decide(c["kind"], c["primary"], c["mean_diff"], tuple(c["ci95"]), c["p_value"], ph,
                              claimed=c["claimed_effect_here"] or 0.0, headroom=c["headroom"], mde_=c["mde"],
                              margin=c["margin"], resolved=resolved)
    return comparisons


def slope_per_1k(curve, window, span="evaluations"):
    """The least-squares slope of validation accuracy (pp per 1,000 iterations) over the last ``window``
    fraction of a curve's evaluations (at least 3 of them); with ``span="iterations"``, over the evaluations
    in the last ``window`` fraction of the iterations (step ≥ (1 − window)·last step; at least 3)."""
    c = np.asarray(curve, dtype=np.float64)
    k = max(3, int(math.ceil(window * len(c))))
    if span == "iterations":
        k = max(3, int(np.count_nonzero(c[:, 0] >= (1 - window) * c[-1, 0])))
    steps, acc = c[-k:, 0], 100 * c[-k:, 1]
    return float(np.polyfit(steps / 1000.0, acc, 1)[0])


def trained_check(check, records):
    """The :class:`~.spec.TrainedCheck` of one arm: the slope over the window per seed, their mean and 95 % CI
    across seeds, and whether it held (the CI's upper end below the threshold); a JSON-able dict."""
    slopes = [slope_per_1k(r["metrics"]["curve"], check.window, check.span)
              for r in records]
    mean, _, ci = confidence_interval(slopes)
    upper = ci[1] if math.isfinite(ci[1]) else mean
    return {"slope_pp_per_1k": mean, "ci": list(ci), "per_seed": slopes, "held": bool(upper < check.threshold),
            "threshold": check.threshold, "window": check.window, "span": check.span}
