"""The benchmark's summary table reports verdicts from the measured ratios (no timing happens here)."""
import importlib.util
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _run_module():
    pytest.importorskip("torch")          # machine() names the torch version
    spec = importlib.util.spec_from_file_location("bench_run", ROOT / "benchmarks" / "run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _measured(conv, epoch=(1.2, 1.25, 0.36, 0.30), spread=8.0, floors=(0.1, 0.5, 0.3, 0.99)):
    names = ["a", "b", "c", "d"]
    return {1: {"conv": [(n, med, mn, fl) for n, (med, mn), fl in zip(names, conv, floors)], "geomean": 1.0,
                "spread": spread, "epoch": epoch}}


RSS = (90.0, 360.0, 1)   # numpycnn MiB, torch MiB, measured at T = 1


def test_summary_marks_each_target_met_or_not_from_the_median_ratio():
    table = _run_module().summary_table(_measured([(0.4, 0.41), (2.2, 2.1), (1.0, 1.02), (1.01, 1.0)]), RSS, "cmd")
    rows = {line.split(" | ")[0]: line for line in table.splitlines() if line.startswith("| conv fwd+bwd")}
    assert "0.40× (**met**)" in rows["| conv fwd+bwd a"]
    assert "2.20× (not met)" in rows["| conv fwd+bwd b"]
    assert "1.00× (**met**)" in rows["| conv fwd+bwd c"]          # the target is <= 1.0
    assert "1.01× (not met)" in rows["| conv fwd+bwd d"]
    assert "1.00× (not met)" in table                              # geometric mean 1.0 > 0.8
    assert "±8 % (**met**)" in table and "90 MiB vs 360 MiB (**met**)" in table


def test_summary_reports_the_im2col_floor_next_to_each_conv_ratio():
    table = _run_module().summary_table(_measured([(0.4, 0.41), (2.2, 2.1), (1.0, 1.02), (1.9, 1.9)]), RSS, "cmd")
    rows = [line for line in table.splitlines() if line.startswith("| conv fwd+bwd")]
    assert [row.split("im2col floor ")[1].split("×")[0] for row in rows] == ["0.10", "0.50", "0.30", "0.99"]


def test_summary_flags_a_ratio_whose_median_and_minimum_disagree():
    table = _run_module().summary_table(_measured([(0.4, 1.9), (1, 1), (1, 1), (1, 1)]), RSS, "cmd")
    assert "0.40× (min 1.90×: median and minimum disagree, re-run)" in table
    assert "**met**" not in table.split("\n")[4]                   # no verdict on the disputed row
