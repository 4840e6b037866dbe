"""numpycnn.lab.results: a technique's measured result is read from figures/<technique>.json, never typed."""
import json

import pytest

from numpycnn.lab.results import describe_result, load_result

RESULT = {"technique": "gradient_direction", "command": "python -m numpycnn compare gradient_direction",
          "commit": "abc1234", "arms": {"direction": {}, "adam": {}},
          "comparisons": [{"claim": "higher test accuracy than Adam", "arm": "direction", "baseline": "adam",
                           "mean_diff": -0.8, "ci95": [-1.5, -0.1], "claimed_effect": "+1.4 pp",
                           "source": "patent B", "verdict": "refuted"}]}


def test_a_result_under_the_protocol_is_read_and_described_with_its_interval_and_verdict(tmp_path):
    (tmp_path / "gradient_direction.json").write_text(json.dumps(RESULT))
    assert load_result("gradient_direction", tmp_path) == RESULT
    text = describe_result("gradient_direction", tmp_path)
    assert "`python -m numpycnn compare gradient_direction`" in text and "abc1234" in text
    assert "direction − adam = -0.8, 95 % CI [-1.5, -0.1] → refuted" in text
    assert "arms: direction, adam" in text


def test_a_missing_file_or_an_older_format_is_not_measured_yet(tmp_path):
    assert load_result("collaborative", tmp_path) is None
    (tmp_path / "collaborative.json").write_text(json.dumps({"results": [1, 2]}))
    assert load_result("collaborative", tmp_path) is None
    assert "not measured yet" in describe_result("collaborative", tmp_path)


def test_an_unknown_technique_is_refused_naming_the_valid_ones():
    with pytest.raises(ValueError, match=r"technique must be one of .*'orthogonal_reinit'.*got 'repr'"):
        load_result("repr")


def _comparison(claim, mean, ci, verdict, claimed=1.0, source="a paper", unit="pp", kind="gain", **extra):
    return {"claim": claim, "arm": "a", "baseline": "b", "mean_diff": mean, "ci95": ci, "verdict": verdict,
            "claimed_effect": claimed, "source": source, "unit": unit, "relative": unit == "%", "kind": kind, **extra}


def test_findings_are_generated_from_the_file_so_a_rerun_changes_the_text(tmp_path):
    from numpycnn.lab.results import findings
    result = {"seeds": 5, "comparisons": [
        _comparison("x beats y", 2.5, [1.0, 4.0], "supported", claimed=0.5),
        _comparison("x beats y at 0.9", -0.3, [-1.0, 0.4], "contradicted", claimed=4.3, source="RePr"),
        _comparison("a control", 0.1, [-0.2, 0.4], "inconclusive", source="control")]}
    (tmp_path / "orthogonal_reinit.json").write_text(json.dumps(result))
    text = findings("orthogonal_reinit", tmp_path)
    assert text.splitlines()[0] == "orthogonal_reinit: 3 comparisons over 5 paired seeds: 1 supported, " \
                                   "1 contradicted, 1 inconclusive."
    assert "supported: x beats y — a − b = +2.50 pp (95 % CI +1.00 pp to +4.00 pp); claimed +0.50 pp — our " \
           "interval lies above it (a paper)" in text
    assert "claimed +4.30 pp — our interval lies below it (RePr)" in text
    assert "inconclusive: a control — a − b = +0.10 pp (95 % CI -0.20 pp to +0.40 pp)" in text
    assert "control)" not in text                              # the project's own controls claim nothing
    result["comparisons"][0].update(mean_diff=0.2, ci95=[-0.5, 0.9], verdict="inconclusive")   # a rerun
    (tmp_path / "orthogonal_reinit.json").write_text(json.dumps(result))
    rerun = findings("orthogonal_reinit", tmp_path)
    assert "0 supported" not in rerun and "2 inconclusive" in rerun and "+2.50" not in rerun
    assert "claimed +0.50 pp — inside our interval" in rerun


def test_findings_without_a_result_say_not_measured_yet(tmp_path):
    from numpycnn.lab.results import findings
    assert "not measured yet" in findings("collaborative", tmp_path)


def test_the_findings_know_every_verdict_label_of_the_protocol():
    from numpycnn.lab import results
    from numpycnn.lab.experiments import protocol
    assert results.VERDICTS == (*protocol.VERDICTS, *protocol.CONTROL_VERDICTS)
