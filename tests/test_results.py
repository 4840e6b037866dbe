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
