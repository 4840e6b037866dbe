"""The protocol's stages (numpycnn/lab/experiments/protocol/stages.py) on a synthetic run function — no training:
equal tuning with one extension at an edge, disjoint seed sets, the primary claim's seeds, claims chosen after
tuning."""
import math

import numpy as np
import pytest

from numpycnn.lab.experiments import protocol
from numpycnn.lab.experiments.protocol import Arm, Claim, DataSpec, Experiment, InProcess, RunStore, Runner

BEST_LR = {"arm": 0.3, "base": 0.01}                  # where each arm's validation score peaks


def synthetic_run(settings, seed, ctx):
    """A run with no training: validation peaks at the arm's best lr (in log distance), and test is the arm's
    effect plus seed noise. Records the seed and stage it saw."""
    lr, arm = settings["lr"], settings["arm"]
    val = 0.8 - 0.05 * abs(math.log10(lr / BEST_LR[arm]))
    rng = np.random.default_rng(seed)
    out = {"val_acc": val, "curve": [[s, 0.8] for s in range(100, 1100, 100)], "seed_seen": seed}
    if ctx.test is not None:
        out["test_acc"] = 0.80 + (0.01 if arm == "arm" else 0.0) + 0.001 * rng.standard_normal()
    return out


class NoData:
    """A stand-in for load_data: the synthetic run reads nothing."""


@pytest.fixture
def runner(tmp_path, monkeypatch):
    import numpycnn.lab.experiments.protocol.runner as runner_module
    splits = type("Splits", (), {"train": None, "val": None, "test": "TEST"})()
    monkeypatch.setattr(runner_module, "load_data", lambda spec: splits)
    monkeypatch.setattr(runner_module.dataclasses, "replace", lambda d, test: type("S", (), {
        "train": None, "val": None, "test": test})())
    return Runner(RunStore(str(tmp_path / "runs")), executor=InProcess(), progress=False)


def experiment(grid_arm=(0.01, 0.03, 0.1), grid_base=(0.003, 0.01, 0.03), claims=None, **kw):
    arms = [Arm("arm", {"arm": "arm"}, grid={"lr": grid_arm}), Arm("base", {"arm": "base"}, grid={"lr": grid_base})]
    claims = claims if claims is not None else [
        Claim("the arm is better", "arm", "base", published=0.5, conversion="threshold (ours)", primary=True)]
    return Experiment("synthetic", "a synthetic experiment", synthetic_run, DataSpec(name="digits"), arms, claims,
                      **kw)


def test_a_best_setting_at_the_top_edge_extends_the_grid_once_by_one_step_upward(runner):
    tuning = protocol.tune(experiment(), runner)
    ext = tuning["arm"]["extended"]
    assert ext["key"] == "lr" and ext["direction"] == "up" and ext["value"] == pytest.approx(0.1 * 0.1 / 0.03)
    assert tuning["arm"]["selected"]["lr"] == pytest.approx(ext["value"]) and ext["selected_extension"]
    assert len(tuning["arm"]["grid"]) == 4                       # three points and one extension, never a second
    assert tuning["base"]["extended"] is None and tuning["base"]["selected"]["lr"] == 0.01


def test_every_tuned_arm_gets_a_grid_of_the_same_size(runner):
    with pytest.raises(ValueError, match="same size"):
        protocol.tune(experiment(grid_base=(0.01, 0.03)), runner)


def test_probe_tuning_and_final_seeds_are_disjoint_and_the_primary_claims_arms_run_eight(runner):
    exp = experiment(seeds=5, primary_seeds=8, probe_seeds=3)
    tuning, finals, claims, arms, comparisons = protocol.run_protocol(exp, runner)
    sets = exp.seed_sets()
    assert not (set(sets["probe"]) & set(sets["tuning"]) or set(sets["probe"]) & set(sets["final"])
                or set(sets["tuning"]) & set(sets["final"]))
    assert sets["tuning"] == [1000, 1001] and sets["final"] == list(range(8)) and sets["probe"] == [2000, 2001, 2002]
    assert arms["arm"]["seeds"] == list(range(8)) and arms["base"]["seeds"] == list(range(8))
    assert comparisons[0]["n"] == 8 and comparisons[0]["primary"]


def test_an_arm_outside_the_primary_claim_runs_the_ordinary_number_of_seeds(runner):
    claims = [Claim("primary", "arm", "base", published=0.5, conversion="threshold (ours)", primary=True)]
    exp = experiment(claims=claims, seeds=5)
    exp.arms.append(Arm("other", {"arm": "base"}, grid={"lr": (0.003, 0.01, 0.03)}))
    _, _, _, arms, _ = protocol.run_protocol(exp, runner)
    assert arms["other"]["seeds"] == list(range(5))


def test_the_final_runs_read_test_and_the_tuning_runs_never_see_it(runner):
    exp = experiment()
    tuning, finals, *_ = protocol.run_protocol(exp, runner)
    assert all("test_acc" in r["metrics"] for runs in finals.values() for r in runs)
    stored = runner.store.get(exp.specs("tune", "arm", exp.arm("arm").grid_points()[0], [1000])[0])
    assert "test_acc" not in stored["metrics"] and stored["metrics"]["seed_seen"] == 1000


def test_claims_may_be_chosen_from_the_tuning_runs_and_exactly_one_is_primary(runner):
    seen = {}

    def claims(tuning):
        seen["tuning"] = tuning
        return [Claim("primary", "arm", "base", published=0.5, conversion="threshold (ours)", primary=True)]
    protocol.run_protocol(experiment(claims=claims), runner)
    assert set(seen["tuning"]) == {"arm", "base"}
    with pytest.raises(ValueError, match="exactly one claim is the primary"):
        protocol.run_protocol(experiment(claims=[Claim("x", "arm", "base", published=0.5,
                                                       conversion="threshold (ours)")]), runner)


#: a test accuracy (25 of 300 images) that ``100 * x / 100`` does not give back exactly
ODD_ACCURACY = 25 / 300


def run_scoring_odd_accuracy(settings, seed, ctx):
    """A run whose test accuracy is :data:`ODD_ACCURACY`."""
    return {"val_acc": 0.5, "test_acc": ODD_ACCURACY}


def test_rerunning_one_cell_compares_test_accuracy_in_the_unit_it_was_stored_in(tmp_path, capsys):
    """The record keeps test accuracy in per cent, and per cent / 100 is not always the accuracy it came from: the
    re-run of the very same run must still read "same"."""
    assert 100 * ODD_ACCURACY / 100 != ODD_ACCURACY
    import argparse
    import json
    rec = {"quick": True, "data": {"name": "digits", "train": 200, "val": 50, "test": 50, "data_dir": None, "seed": 0,
                                   "description": "digits"},
           "arms": {"arm": {"settings": {"lr": 0.1}, "seeds": [0, 1], "per_seed": [100 * ODD_ACCURACY, 100 * ODD_ACCURACY]}}}
    (tmp_path / "synthetic.json").write_text(json.dumps(rec))
    args = argparse.Namespace(out=str(tmp_path), only="arm", seed=1, data_dir=None)
    assert protocol.rerun_cell(args, "synthetic", run_scoring_odd_accuracy) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.strip().startswith("test_acc"))
    assert line.rstrip().endswith("same")


def test_tuning_records_the_experiments_tune_metrics_per_grid_point_for_a_claim_to_choose_from(runner):
    seen = {}

    def claims(tuning):
        seen["tuning"] = tuning
        return [Claim("primary", "arm", "base", published=0.5, conversion="threshold (ours)", primary=True)]
    protocol.run_protocol(experiment(claims=claims, tune_metrics=("seed_seen",)), runner)
    for row in seen["tuning"]["arm"]["grid"]:
        assert row["metrics"] == {"seed_seen": [1000, 1001]}
    tuning = protocol.tune(experiment(), runner)
    assert "metrics" not in tuning["arm"]["grid"][0]
