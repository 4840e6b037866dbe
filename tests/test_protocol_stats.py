"""The protocol's decision rules (numpycnn/lab/experiments/protocol/stats.py), on synthetic experiments with
planted effects of known size — no training: a verdict must be one that could have come out either way."""
import math

import numpy as np
import pytest
import scipy.stats

from numpycnn.lab.experiments.protocol import Claim, adjust, compare, decide, holm, mde, paired_t, stats

PUBLISHED = 1.0       # a claimed effect of 1 (display units), as a threshold of ours: converted as stated


def claim(primary=True, **kw):
    return Claim("the arm beats the baseline", "arm", "base", published=kw.pop("published", PUBLISHED),
                 conversion=kw.pop("conversion", "threshold (ours)"), primary=primary, scale=1.0, **kw)


def simulate(effect, sd, n, trials=200, primary=True, others=0, seed=0):
    """Verdicts of ``trials`` simulated experiments: the claim's per-seed differences ~ N(effect, sd), beside
    ``others`` secondary claims with no effect (the Holm family); returns the claim's verdicts."""
    rng = np.random.default_rng(seed)
    verdicts = []
    for _ in range(trials):
        base = rng.normal(50.0, 2.0, n)
        rows = [compare(claim(primary), base + rng.normal(effect, sd, n), base)]
        rows += [compare(claim(False), base + rng.normal(0.0, sd, n), base) for _ in range(others)]
        verdicts.append(adjust(rows)[0]["verdict"])
    return verdicts


def share(verdicts, label):
    return sum(v == label for v in verdicts) / len(verdicts)


def test_a_planted_effect_of_the_published_size_is_supported_in_at_least_80_percent_of_200_experiments():
    """The primary claim at 8 seeds, with a noise the design was sized for (its 80 %-power mde below the effect)."""
    sd = 0.6
    assert mde(sd, 8) < PUBLISHED
    assert share(simulate(PUBLISHED, sd, 8), "supported") >= 0.8


def test_a_planted_effect_of_the_published_size_on_a_secondary_claim_is_supported_after_holm():
    """A secondary claim at 5 seeds among three others with no effect: Holm costs power, the design pays for it."""
    assert share(simulate(PUBLISHED, 0.25, 5, primary=False, others=3), "supported") >= 0.8


@pytest.mark.parametrize("primary, n, others", [(True, 8, 0), (False, 5, 3)])
def test_no_effect_is_called_supported_in_at_most_5_percent_of_200_experiments(primary, n, others):
    verdicts = simulate(0.0, 0.6, n, primary=primary, others=others)
    assert share(verdicts, "supported") + share(verdicts, "supported, smaller than published") <= 0.05


def test_a_claim_larger_than_the_regimes_headroom_is_untestable_here_never_contradicted():
    """The reference arm (dense, say) is 0.5 above the baseline: a claimed +1 has no room, whatever the data."""
    rng = np.random.default_rng(1)
    base = rng.normal(80, 0.3, 8)
    c = claim(reference="ref")
    for diff in (-0.2, 0.0, 0.2):
        row = adjust([compare(c, base + diff + rng.normal(0, 0.05, 8), base, reference_values=base + 0.5)])[0]
        assert row["headroom"] == pytest.approx(0.5) and row["verdict"] == "untestable here"


def test_an_effect_below_the_designs_detectable_size_is_untestable_here_when_no_gain_is_shown():
    d = np.array([0.5, -1.0, 1.5, -2.0, 0.3, 2.2, -1.1, 0.4])       # spread ~1.4: mde ~1.6 at 8 seeds
    m, s, ci, p = paired_t(d)
    assert mde(s, 8) > PUBLISHED and ci[0] < 0
    assert decide("gain", True, m, ci, p, p, claimed=PUBLISHED, mde_=mde(s, 8)) == "untestable here"


def test_no_gain_shown_with_the_published_size_excluded_is_contradicted():
    d = np.array([0.1, -0.1, 0.05, 0.0, -0.05, 0.1, 0.0, -0.1])
    m, s, ci, p = paired_t(d)
    assert ci[1] < PUBLISHED and mde(s, 8) < PUBLISHED
    assert decide("gain", True, m, ci, p, p, claimed=PUBLISHED, mde_=mde(s, 8)) == "contradicted"


def test_a_gain_whose_interval_lies_below_the_published_size_is_supported_smaller_than_published():
    d = np.array([0.3, 0.35, 0.4, 0.3, 0.25, 0.4, 0.35, 0.3])
    m, s, ci, p = paired_t(d)
    assert 0 < ci[0] and ci[1] < PUBLISHED
    assert decide("gain", True, m, ci, p, p, claimed=PUBLISHED, mde_=mde(s, 8)) == "supported, smaller than published"


def test_a_loss_shown_is_worse():
    d = -np.array([0.3, 0.35, 0.4, 0.3, 0.25, 0.4, 0.35, 0.3])
    m, s, ci, p = paired_t(d)
    assert decide("gain", True, m, ci, p, p, claimed=PUBLISHED, mde_=mde(s, 8)) == "worse"


def test_a_secondary_claim_is_supported_only_when_its_holm_adjusted_p_is_below_5_percent():
    d = np.array([0.9, 1.3, 0.2, 1.6, 0.7])
    m, s, ci, p = paired_t(d)
    assert ci[0] > 0 and p < 0.05
    assert decide("gain", False, m, ci, p, p_holm=0.2, claimed=PUBLISHED, mde_=mde(s, 5)) != "supported"
    assert decide("gain", False, m, ci, p, p_holm=0.01, claimed=PUBLISHED, mde_=mde(s, 5)) == "supported"


def test_a_time_measure_coarser_than_a_tenth_of_the_baseline_cannot_contradict():
    """A 200-iteration grid against a baseline at 600 iterations cannot resolve 30 %: untestable here."""
    c = Claim("fewer iterations", "arm", "base", metric="iters", published=30.0, conversion="as published (relative)",
              lower_is_better=True, relative=True, unit="%", primary=True)
    base = np.full(8, 600.0)
    row = adjust([compare(c, base, base, quantum=200.0)])[0]
    assert row["resolution"] == pytest.approx(1 / 3) and row["verdict"] == "untestable here"
    fine = adjust([compare(c, base + np.array([10, -10, 0, 5, -5, 0, 10, -10]), base, quantum=20.0)])[0]
    assert fine["verdict"] == "contradicted"


def test_holm_adjusts_the_sorted_p_values_by_the_remaining_count_and_keeps_them_monotone():
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.02, 0.5, math.nan]) == pytest.approx([0.04, 0.5, math.nan], nan_ok=True)


def test_the_paired_p_value_is_scipys_one_sample_t_test():
    d = np.array([0.4, -0.2, 1.1, 0.7, 0.3])
    assert paired_t(d)[3] == pytest.approx(scipy.stats.ttest_1samp(d, 0.0).pvalue, rel=1e-12)


def test_the_mde_is_the_effect_a_paired_design_detects_four_times_in_five():
    """At a true effect equal to the design's mde (true spread), the 95 % interval excludes 0 in ~80 % of runs."""
    rng = np.random.default_rng(3)
    sd, n = 1.0, 8
    effect = mde(sd, n)
    hits = [paired_t(rng.normal(effect, sd, n))[2][0] > 0 for _ in range(4000)]
    assert 0.75 < np.mean(hits) < 0.85


def test_equivalence_is_supported_inside_the_margin_and_untestable_when_the_interval_is_wider_than_it():
    tight = np.array([0.1, -0.1, 0.05, 0.0, -0.05, 0.1, 0.0, -0.1])
    m, s, ci, _ = paired_t(tight)
    assert decide("equivalence", True, m, ci, stats.tost_p(tight, 1.0), 0.0, margin=1.0) == "supported"
    wide = tight * 30
    m, s, ci, _ = paired_t(wide)
    assert decide("equivalence", True, m, ci, stats.tost_p(wide, 1.0), 0.0, margin=1.0) == "untestable here"


def test_a_control_row_reads_differs_or_no_difference_shown():
    shift = np.array([0.3, 0.35, 0.4, 0.3, 0.25])
    m, s, ci, p = paired_t(shift)
    assert decide("control", False, m, ci, p, p_holm=p) == "differs"
    m, s, ci, p = paired_t(shift - shift.mean())
    assert decide("control", False, m, ci, p, p_holm=p) == "no difference shown"


def test_published_effects_are_converted_by_the_rule_named():
    assert stats.convert(0.051, "relative error reduction", baseline=86.0) == pytest.approx(0.051 * 14.0)
    assert stats.convert(0.17, "fraction of gap closed", baseline=78.0, reference=87.0) == pytest.approx(0.17 * 9.0)
    assert stats.convert(30.0, "as published (relative)") == 30.0
    with pytest.raises(ValueError, match="conversion must be one of"):
        stats.convert(1.0, "as I like it")


def test_a_claim_refuses_a_gain_without_its_published_effect_or_conversion():
    with pytest.raises(ValueError, match="published effect and a conversion"):
        Claim("x", "a", "b", published=1.0)
    with pytest.raises(ValueError, match="needs a reference arm"):
        Claim("x", "a", "b", published=0.2, conversion="fraction of gap closed")


def test_the_trained_check_flags_a_rising_end_and_holds_a_flat_one():
    from numpycnn.lab.experiments.protocol import TrainedCheck, trained_check
    steps = np.arange(100, 2100, 100)
    rising = [{"metrics": {"curve": [[s, 0.5 + 0.0001 * s + 0.001 * k] for s in steps]}} for k in range(5)]
    flat = [{"metrics": {"curve": [[s, min(0.8, 0.5 + 0.001 * s) + 0.001 * (k - 2)] for s in steps]}}
            for k in range(5)]
    check = TrainedCheck(threshold=1.0, window=0.4)
    assert not trained_check(check, rising)["held"]                    # 10 pp per 1,000 iterations
    got = trained_check(check, flat)
    assert got["held"] and abs(got["slope_pp_per_1k"]) < 1e-9


def test_the_trained_check_over_iterations_ignores_dense_early_evaluations():
    """With validation read every 10 iterations early (a time-to-target) the last 40 % of the *evaluations* reach
    back into the rise; ``span="iterations"`` reads the last 40 % of the budget only."""
    from numpycnn.lab.experiments.protocol import TrainedCheck, trained_check
    steps = sorted(set(range(10, 1010, 10)) | set(range(100, 2100, 100)))
    rise_then_flat = [{"metrics": {"curve": [[s, min(0.8, 0.3 + 0.0005 * s) + 0.001 * k] for s in steps]}}
                      for k in range(5)]
    assert not trained_check(TrainedCheck(1.0, 0.4), rise_then_flat)["held"]
    got = trained_check(TrainedCheck(1.0, 0.4, span="iterations"), rise_then_flat)
    assert got["held"] and abs(got["slope_pp_per_1k"]) < 1e-9 and got["span"] == "iterations"
    with pytest.raises(ValueError, match="span"):
        TrainedCheck(1.0, 0.4, span="seconds")


def test_spacing_at_is_the_evaluation_grid_step_where_the_target_is_first_reached():
    from numpycnn.lab.experiments.protocol import spacing_at
    curve = [[10, 0.2], [20, 0.4], [30, 0.6], [110, 0.7], [190, 0.9]]
    assert spacing_at(curve, 0.5) == 10                   # bracketed by 20 and 30
    assert spacing_at(curve, 0.8) == 80                   # past the dense part: the coarse grid
    assert spacing_at(curve, 0.1) == 10                   # at the first evaluation: anywhere before it
    assert spacing_at(curve, 0.95) == 80                  # never reached: the last spacing
