"""Every technique's experiment runs through the protocol in --quick mode (seconds to a minute) and writes
figures/<technique>.json in the protocol's schema, its Markdown table, its figures and the scorecard."""
import json
import math

import pytest

pytest.importorskip("threadpoolctl")

from numpycnn import techniques  # noqa: E402
from numpycnn.lab.experiments import experiment_module, resolve  # noqa: E402

from conftest import HAVE_FASHION, needs_fashion  # noqa: E402

ARM_KEYS = {"settings", "per_seed", "mean", "std"}
COMPARISON_KEYS = {"claim", "arm", "baseline", "metric", "diffs_per_seed", "mean_diff", "ci95", "claimed_effect",
                   "source", "verdict"}


def check_schema(rec, technique):
    for key in ("technique", "command", "commit", "machine", "wall_minutes", "budget", "arms", "comparisons",
                "trained_check"):
        assert key in rec, key
    assert rec["technique"] == technique and rec["command"].startswith("python -m numpycnn compare")
    assert {"cpu", "cores", "numpy", "blas"} <= set(rec["machine"])
    for name, arm in rec["arms"].items():
        assert ARM_KEYS <= set(arm), name
        assert len(arm["per_seed"]) == rec["seeds"] >= 2
    assert rec["comparisons"]
    for c in rec["comparisons"]:
        assert COMPARISON_KEYS <= set(c), c
        assert len(c["diffs_per_seed"]) == rec["seeds"] and len(c["ci95"]) == 2
        assert c["verdict"] in ("supported", "contradicted", "inconclusive") or c["verdict"].startswith("no verdict")
    assert set(rec["trained_check"]) >= {"criterion", "held"}


def test_a_name_or_an_alias_resolves_to_one_technique():
    assert techniques.names() == ["branch_supervision", "gradient_direction", "erdos_renyi", "collaborative",
                                  "orthogonal_reinit"]
    assert resolve("optimizers") == resolve("gradient_direction") == resolve("gradient-direction") == "gradient_direction"
    aliases = [a for t in techniques.TECHNIQUES for a in t.aliases]
    assert len(aliases) == len(set(aliases)) and not set(aliases) & set(techniques.names())
    with pytest.raises(ValueError, match="unknown technique 'nope'.*or 'all'"):
        resolve("nope")


def _without_provenance(rec):
    """An experiment's record minus what depends on the clock and on which runs were reused (wall time, run counts,
    seconds per run): the results themselves."""
    rec = {k: v for k, v in rec.items() if k not in ("wall_minutes", "runs")}
    rec["arms"] = {name: {k: v for k, v in arm.items() if k != "seconds_per_run"} for name, arm in rec["arms"].items()}
    return rec


@needs_fashion
def test_compare_with_a_run_file_truncated_to_100_bytes_names_it_keeps_it_and_gives_the_undamaged_result(
        tmp_path, capsys):
    """Regression (issue 38.1): a truncated run file stopped compare with a JSON parser's message and no file name."""
    from numpycnn.lab.cli import main
    argv = ["compare", "orthogonal_reinit", "--quick", "--workers", "1", "--no-progress",
            "--runs-dir", str(tmp_path / "runs")]
    assert main(argv + ["--out", str(tmp_path / "undamaged")]) == 0
    path = sorted((tmp_path / "runs").rglob("*.json"))[0]
    path.write_bytes(path.read_bytes()[:100])
    capsys.readouterr()
    assert main(argv + ["--out", str(tmp_path / "repaired")]) == 0
    err = capsys.readouterr().err
    kept = list(path.parent.glob(path.name + ".damaged-*"))
    assert len(kept) == 1 and len(kept[0].read_bytes()) == 100
    assert str(path) in err and str(kept[0]) in err
    undamaged = json.loads((tmp_path / "undamaged" / "orthogonal_reinit.json").read_text())
    repaired = json.loads((tmp_path / "repaired" / "orthogonal_reinit.json").read_text())
    assert repaired["runs"]["ran"] == 1
    assert _without_provenance(repaired) == _without_provenance(undamaged)


@pytest.mark.parametrize("technique,bad", [("branch_supervision", ["--steps", "0"]),
                                           ("gradient_direction", ["--target", "1.5"]),
                                           ("erdos_renyi", ["--steps", "0"]),
                                           ("collaborative", ["--steps", "0"]),
                                           ("orthogonal_reinit", ["--width", "0"]),
                                           ("orthogonal_reinit", ["--s1-epochs", "1"])])
def test_fresh_with_a_bad_experiment_option_deletes_no_stored_run(technique, bad, tmp_path):
    """The experiment's own options are checked before ``--fresh`` empties the run store."""
    stored = tmp_path / f"{technique}-quick" / "final" / "arm" / "key.json"
    stored.parent.mkdir(parents=True)
    stored.write_text("{}")
    with pytest.raises(ValueError, match=bad[0]):
        experiment_module(technique).main(["--quick", "--fresh", "--no-progress", "--runs-dir", str(tmp_path),
                                           "--out", str(tmp_path / "out"), *bad])
    assert stored.read_text() == "{}"


# ----------------------------------------------------------------------------------------------
# E (orthogonal_reinit) on protocol v2: one --quick record, shared by the tests below
# ----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def e_quick(tmp_path_factory):
    """``compare orthogonal_reinit --quick``, run once: ``(record, out folder)``."""
    from numpycnn.lab.experiments import orthogonal_reinit
    tmp = tmp_path_factory.mktemp("e_quick")
    out = tmp / "figures"
    assert orthogonal_reinit.main(["--quick", "--out", str(out), "--runs-dir", str(tmp / "runs"), "--no-progress"]) == 0
    return json.loads((out / "orthogonal_reinit.json").read_text()), out


@needs_fashion
def test_e_quick_writes_its_v2_json_table_figures_and_scorecard_rows(e_quick):
    rec, out = e_quick
    from numpycnn.lab.experiments.protocol import CONTROL_VERDICTS, PROTOCOL_VERSION, VERDICTS
    assert rec["protocol"] == PROTOCOL_VERSION and rec["quick"] and "--quick" in rec["command"]
    assert {"code_hash", "dirty", "seeds", "commit", "machine"} <= set(rec)
    for c in rec["comparisons"]:
        assert {"p_value", "p_holm", "primary", "claimed_effect_here", "conversion", "headroom", "mde",
                "verdict"} <= set(c), c["claim"]
        assert c["verdict"] in (CONTROL_VERDICTS if c["kind"] == "control" else VERDICTS)
    assert (out / "orthogonal_reinit.md").read_text().count("|") > 20
    assert {p.name for p in out.glob("orthogonal_reinit_*.png")} == {"orthogonal_reinit_curves.png",
                                                                      "orthogonal_reinit_orthogonality.png"}
    card = (out / "scorecard.md").read_text()
    assert card.count("compare orthogonal_reinit") == sum(
        1 for c in rec["comparisons"] if c["kind"] != "control" and (c["primary"] or c["verdict"] != "untestable here"))


@needs_fashion
def test_e_has_exactly_one_primary_claim_the_texts_variant_against_standard_training(e_quick):
    rec, _ = e_quick
    primary = [c for c in rec["comparisons"] if c["primary"]]
    assert len(primary) == 1
    assert (primary[0]["arm"], primary[0]["baseline"], primary[0]["metric"]) == ("text", "standard", "test_acc")


@needs_fashion
def test_e_every_gain_claim_carries_its_published_effect_conversion_and_source(e_quick):
    rec, _ = e_quick
    gains = {(c["arm"], c["baseline"]): c for c in rec["comparisons"] if c["kind"] == "gain"}
    assert set(gains) == {("text", "standard"), ("repr", "standard"), ("repr", "random")}
    for c in gains.values():
        assert c["published"] is not None and c["conversion"] and c["source"]
    for key in (("text", "standard"), ("repr", "standard")):   # RePr: 27.9 -> 23.6 % error, 15.4 % fewer errors
        c = gains[key]
        assert c["conversion"] == "relative error reduction" and c["published"] == 0.154
        assert c["claimed_effect_here"] == pytest.approx(0.154 * (100 - c["baseline_mean"]))
    ranking = gains[("repr", "random")]
    assert ranking["conversion"] == "threshold (ours)" and ranking["threshold_ours"] and "ours" in ranking["source"]
    controls = [c for c in rec["comparisons"] if c["kind"] == "control"]
    assert [c["metric"] for c in controls] == ["best_epoch_test_acc"] and not controls[0]["scorecard"]


@needs_fashion
def test_e_every_arm_is_tuned_on_its_own_grid_of_the_same_learning_rates(e_quick):
    rec, _ = e_quick
    from numpycnn.lab.experiments.orthogonal_reinit import LRS
    assert set(rec["arms"]) == {"standard", "text", "repr", "random"}
    for name, arm in rec["arms"].items():
        first = [g["settings"]["lr"] for g in arm["tuning"]][:len(LRS)]
        assert first == list(LRS), name                        # its own search, not the baseline's learning rate
        assert len(arm["tuning"]) == len(LRS) + (arm["extended"] is not None)
        assert all(len(g["scores"]) == len(rec["seeds"]["tuning"]) for g in arm["tuning"])
        assert arm["settings"]["lr"] == max(arm["tuning"], key=lambda g: g["mean"])["settings"]["lr"]


@needs_fashion
def test_e_seed_sets_are_disjoint_and_the_primary_claims_arms_run_more_seeds(e_quick):
    rec, _ = e_quick
    seeds = rec["seeds"]
    assert not set(seeds["tuning"]) & set(seeds["final"]) and not seeds["probe"]
    assert rec["arms"]["text"]["seeds"] == rec["arms"]["standard"]["seeds"] == [0, 1, 2]     # --quick: 3 and 2
    assert rec["arms"]["repr"]["seeds"] == rec["arms"]["random"]["seeds"] == [0, 1]
    primary = next(c for c in rec["comparisons"] if c["primary"])
    assert primary["n"] == 3 and all(c["n"] == 2 for c in rec["comparisons"] if "repr" in (c["arm"], c["baseline"]))


@needs_fashion
def test_e_every_arm_has_its_trained_check_and_trains_as_many_iterations(e_quick):
    rec, _ = e_quick
    iterations = rec["budget"]["iterations"]
    for name, arm in rec["arms"].items():
        check = arm["trained_check"]
        assert {"slope_pp_per_1k", "ci", "held"} <= set(check) and len(check["per_seed"]) == len(arm["seeds"]), name
        assert check["window"] == 0.4
        assert [curve[-1][0] for curve in arm["curves"]] == [iterations] * len(arm["seeds"]), name
    assert "Trained check (" in (e_quick[1] / "orthogonal_reinit.md").read_text()


@needs_fashion
def test_e_trained_checks_window_lies_in_the_final_phase_after_the_last_reintroduction(e_quick):
    """The check reads the end of training, not the recovery from a drop or a re-introduction."""
    rec, _ = e_quick
    b = rec["budget"]
    last_event = b["n"] * (b["s1"] + b["s2"])
    for name, arm in rec["arms"].items():
        for curve in arm["curves"]:
            window = max(3, math.ceil(arm["trained_check"]["window"] * len(curve)))
            assert curve[-window][0] > last_event, name


@needs_fashion
def test_e_reports_the_dip_of_every_technique_arm_and_the_best_epoch_accuracy_of_every_arm(e_quick):
    rec, out = e_quick
    n_events = {a: rec["budget"]["n"] * len(rec["arms"][a]["seeds"]) for a in ("text", "repr", "random")}
    assert set(rec["dips"]) == set(n_events)
    for a, n in n_events.items():
        assert len(rec["dips"][a]["per_event_drop"]) == len(rec["dips"][a]["per_event_reintroduce"]) == n
        assert rec["dips"][a]["drop"] == pytest.approx(sum(rec["dips"][a]["per_event_drop"]) / n)
    assert {a: len(v) for a, v in rec["best_epoch_test_acc"].items()} == {
        a: len(arm["seeds"]) for a, arm in rec["arms"].items()}
    assert "mean dip at drop / re-introduction (pp)" in (out / "orthogonal_reinit.md").read_text()
# ----------------------------------------------------------------------------------------------
# technique C (erdos_renyi) on protocol v2: one --quick run, read by the tests below
# ----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def er_quick(tmp_path_factory):
    """The --quick record of technique C and the folder it was written to (run once for this module)."""
    tmp = tmp_path_factory.mktemp("er_quick")
    out = tmp / "figures"
    mod = experiment_module("erdos_renyi")
    assert mod.main(["--quick", "--out", str(out), "--runs-dir", str(tmp / "runs"), "--no-progress"]) == 0
    return json.loads((out / "erdos_renyi.json").read_text()), out


@needs_fashion
def test_erdos_renyi_quick_writes_a_v2_record_its_table_four_figures_and_its_scorecard_rows(er_quick):
    from numpycnn.lab.experiments.protocol import CONTROL_VERDICTS, PROTOCOL_VERSION, VERDICTS
    from numpycnn.lab.experiments.protocol.report import on_scorecard
    rec, out = er_quick
    assert rec["protocol"] == PROTOCOL_VERSION and rec["quick"] and "--quick" in rec["command"]
    assert {"code_hash", "dirty", "seeds", "growth", "densities"} <= set(rec)
    for c in rec["comparisons"]:
        assert {"p_value", "p_holm", "primary", "claimed_effect_here", "conversion", "headroom", "mde",
                "verdict"} <= set(c), c["claim"]
        assert c["verdict"] in VERDICTS + CONTROL_VERDICTS
    assert (out / "erdos_renyi.md").read_text().count("|") > 50
    assert sorted(p.name for p in out.glob("erdos_renyi_*.png")) == [
        "erdos_renyi_accuracy.png", "erdos_renyi_curves.png", "erdos_renyi_growth.png", "erdos_renyi_structure.png"]
    card = (out / "scorecard.md").read_text()
    assert card.count("compare erdos_renyi") == sum(on_scorecard(c) for c in rec["comparisons"]) >= 1


@needs_fashion
def test_erdos_renyi_has_one_primary_claim_er_over_uniform_at_095_as_a_fraction_of_the_gap_to_dense(er_quick):
    rec, _ = er_quick
    primary = [c for c in rec["comparisons"] if c["primary"]]
    assert len(primary) == 1
    c = primary[0]
    assert (c["arm"], c["baseline"], c["reference"]) == ("lenet5/er@0.95", "lenet5/uniform@0.95", "lenet5/dense")
    arms = rec["arms"]
    headroom = arms["lenet5/dense"]["mean"] - arms["lenet5/uniform@0.95"]["mean"]
    assert c["headroom"] == pytest.approx(headroom)
    assert c["conversion"] == "fraction of gap closed" and c["published"] == 0.17
    assert c["claimed_effect_here"] == pytest.approx(0.17 * headroom)


@needs_fashion
def test_erdos_renyi_every_gain_claim_carries_its_published_effect_conversion_and_source(er_quick):
    rec, _ = er_quick
    gains = [c for c in rec["comparisons"] if c["kind"] == "gain"]
    assert len(gains) == 6                  # ER vs uniform: LeNet-5 and MLP at 0.95 and 0.98; width and depth growth
    for c in gains:
        assert c["published"] is not None and c["conversion"] and c["source"], c["claim"]
        assert c["conversion"] != "threshold (ours)" or "threshold (ours)" in c["source"], c["claim"]
    snip = [c for c in rec["comparisons"] if c["kind"] == "equivalence"]
    assert [(c["arm"], c["baseline"], c["margin"]) for c in snip] == [("lenet5/er@0.95", "lenet5/snip@0.95", 1.0)]


@needs_fashion
def test_erdos_renyi_every_arm_is_tuned_on_its_own_grid_of_the_same_three_learning_rates(er_quick):
    from numpycnn.lab.experiments import erdos_renyi
    rec, _ = er_quick
    assert len(rec["arms"]) == 19
    for name, arm in rec["arms"].items():
        lrs = [g["settings"]["lr"] for g in arm["tuning"]]
        assert lrs[:3] == list(erdos_renyi.LRS), name
        assert len(lrs) == 3 + (arm["extended"] is not None), name        # an edge extends the grid once
        assert arm["settings"] in [g["settings"] for g in arm["tuning"]], name


@needs_fashion
def test_erdos_renyi_seed_sets_are_disjoint_and_the_primary_claims_three_arms_run_the_primary_seeds(er_quick):
    rec, _ = er_quick
    seeds = rec["seeds"]
    assert not (set(seeds["tuning"]) & set(seeds["final"])) and not (set(seeds["probe"]) & set(seeds["final"]))
    assert seeds["tuning"] == [1000]                                   # --quick: one tuning seed
    for name, arm in rec["arms"].items():
        assert arm["seeds"] == seeds["final"][:len(arm["seeds"])] and len(arm["seeds"]) >= 2, name


@needs_fashion
def test_erdos_renyi_every_arm_records_its_trained_check_and_validation_curves(er_quick):
    rec, _ = er_quick
    for name, arm in rec["arms"].items():
        check = arm["trained_check"]
        assert {"slope_pp_per_1k", "ci", "held", "threshold", "per_seed"} <= set(check), name
        assert check["threshold"] == 1.0 and check["window"] == 0.4
        assert len(arm["curves"]) == len(arm["seeds"]) and len(check["per_seed"]) == len(arm["seeds"])


@needs_fashion
def test_erdos_renyi_growth_claims_are_the_shrinkage_of_the_gap_with_the_starting_gap_as_headroom(er_quick):
    rec, _ = er_quick
    for kind, (small, large) in (("width", ("100", "1000")), ("depth", ("1", "4"))):
        c = next(c for c in rec["comparisons"] if c["arm"] == f"{kind}/{small}")
        g = rec["growth"][kind]
        assert c["baseline"] == f"{kind}/{large}" and c["conversion"] == "threshold (ours)"
        assert c["diffs_per_seed"] == pytest.approx([a - b for a, b in zip(g[small]["gap_per_seed"],
                                                                           g[large]["gap_per_seed"])])
        assert c["headroom"] == pytest.approx(g[small]["mean"])
        dense = rec["arms"][f"{kind}/{small}/dense"]["per_seed"]
        er = rec["arms"][f"{kind}/{small}/er"]["per_seed"]
        assert g[small]["gap_per_seed"] == pytest.approx([d - e for d, e in zip(dense, er)])



def test_erdos_renyi_primary_claims_three_arms_run_eight_final_seeds_and_the_others_five():
    from numpycnn.lab.experiments import erdos_renyi
    from numpycnn.lab.experiments.protocol import Experiment
    from numpycnn.lab.experiments.protocol.stages import check_equal_tuning, claims_of, primary_arms
    exp = Experiment(name="erdos_renyi", title="", run=erdos_renyi.run, data=None, arms=erdos_renyi.arms(10, 10, 2),
                     claims=erdos_renyi.claims())
    check_equal_tuning(exp)                                            # raises on unequal grids or one tuning seed
    chosen = primary_arms(claims_of(exp, tuning=None))
    assert chosen == {"lenet5/er@0.95", "lenet5/uniform@0.95", "lenet5/dense"}
    seeds = {a.name: len(exp.final_seeds(a.name, chosen)) for a in exp.arms}
    assert seeds == {name: 8 if name in chosen else 5 for name in seeds} and len(seeds) == 19

# ----------------------------------------------------------------------------------------------
# technique D (collaborative) on protocol v2: one --quick run, read by the tests below
# ----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def collab_quick(tmp_path_factory):
    """The --quick record of technique D and the folder it was written to (run once for this module)."""
    tmp = tmp_path_factory.mktemp("collab_quick")
    out = tmp / "figures"
    mod = experiment_module("collaborative")
    assert mod.main(["--quick", "--out", str(out), "--runs-dir", str(tmp / "runs"), "--no-progress"]) == 0
    return json.loads((out / "collaborative.json").read_text()), out


@needs_fashion
def test_collaborative_quick_writes_a_v2_record_its_table_its_curves_and_its_scorecard_rows(collab_quick):
    from numpycnn.lab.experiments.protocol import CONTROL_VERDICTS, PROTOCOL_VERSION, VERDICTS
    from numpycnn.lab.experiments.protocol.report import on_scorecard
    rec, out = collab_quick
    assert rec["protocol"] == PROTOCOL_VERSION and rec["quick"] and "--quick" in rec["command"]
    assert {"code_hash", "dirty", "seeds", "ensemble", "best_network", "networks"} <= set(rec)
    for c in rec["comparisons"]:
        assert {"p_value", "p_holm", "primary", "claimed_effect_here", "conversion", "headroom", "mde",
                "verdict"} <= set(c), c["claim"]
        assert c["verdict"] in (CONTROL_VERDICTS if c["kind"] == "control" else VERDICTS), c["claim"]
    text = (out / "collaborative.md").read_text()
    assert "in the regime tested" in text and text.count("|") > 50
    assert [p.name for p in out.glob("collaborative_*.png")] == ["collaborative_curves.png"]
    card = (out / "scorecard.md").read_text()
    assert card.count("compare collaborative") == sum(on_scorecard(c) for c in rec["comparisons"]) >= 1


@needs_fashion
def test_collaborative_has_one_primary_claim_kdcls_mean_network_over_independent_as_an_error_reduction(
        collab_quick):
    rec, _ = collab_quick
    primary = [c for c in rec["comparisons"] if c["primary"]]
    assert len(primary) == 1
    c = primary[0]
    assert (c["arm"], c["baseline"], c["metric"]) == ("kdcl", "independent", "test_acc")
    assert "(the inventors' published version of the text): the mean network" in c["claim"]
    assert c["conversion"] == "relative error reduction" and c["published"] == 0.060
    assert c["claimed_effect_here"] == pytest.approx(0.060 * (100 - rec["arms"]["independent"]["mean"]))


@needs_fashion
def test_collaborative_every_gain_claim_is_about_the_mean_network_and_carries_published_conversion_source(
        collab_quick):
    rec, _ = collab_quick
    gains = [c for c in rec["comparisons"] if c["kind"] == "gain"]
    assert sorted(c["arm"] for c in gains) == sorted(["kdcl", "min-loss", "linear", "min-logit", "validation", "dml"])
    for c in gains:
        assert "(mean network)" in c["claim"] or "the mean network" in c["claim"], c["claim"]
        assert c["baseline"] == "independent" and c["metric"] == "test_acc"
        assert c["published"] is not None and c["conversion"] == "relative error reduction" and c["source"]
    assert next(c for c in gains if c["arm"] == "dml")["published"] == 0.071
    controls = [c for c in rec["comparisons"] if c["kind"] == "control"]
    assert sorted(c["metric"] for c in controls) == ["best_test_acc", "ensemble_test_acc"]
    assert not any(c["scorecard"] for c in controls)


@needs_fashion
def test_collaborative_every_arm_is_tuned_on_its_own_grid_of_the_same_three_learning_rates(collab_quick):
    from numpycnn.lab.experiments import collaborative
    rec, _ = collab_quick
    assert sorted(rec["arms"]) == sorted(["independent", "min-loss", "linear", "min-logit", "validation", "kdcl",
                                          "dml"])
    for name, arm in rec["arms"].items():
        lrs = [g["settings"]["lr"] for g in arm["tuning"]]
        assert lrs[:3] == list(collaborative.LRS), name
        assert len(lrs) == 3 + (arm["extended"] is not None), name
        assert arm["settings"]["schedule"] == "cosine"                   # the same annealing for every arm


@needs_fashion
def test_collaborative_seed_sets_are_disjoint_and_every_arm_records_its_trained_check(collab_quick):
    rec, _ = collab_quick
    seeds = rec["seeds"]
    assert not set(seeds["tuning"]) & set(seeds["final"]) and seeds["probe"] == []
    for name, arm in rec["arms"].items():
        assert arm["seeds"] == seeds["final"][:len(arm["seeds"])], name
        check = arm["trained_check"]
        assert {"slope_pp_per_1k", "ci", "held"} <= set(check) and check["threshold"] == 1.0, name
        assert len(arm["curves"]) == len(arm["seeds"]) == len(rec["networks"][name])
        assert all(len(n) == 3 for n in rec["networks"][name])            # three networks per seed


def test_collaborative_primary_arms_run_eight_final_seeds_and_the_others_five():
    from numpycnn.lab.experiments import collaborative
    from numpycnn.lab.experiments.protocol import Experiment
    from numpycnn.lab.experiments.protocol.stages import check_equal_tuning, claims_of, primary_arms
    base = {"model": "lenet5", "steps": 10, "augment": "shift:2,flip", "evals": 2, "schedule": "cosine"}
    exp = Experiment(name="collaborative", title="", run=collaborative.run, data=None, arms=collaborative.arms(base),
                     claims=collaborative.claims())
    check_equal_tuning(exp)                                            # raises on unequal grids or one tuning seed
    chosen = primary_arms(claims_of(exp, tuning=None))
    assert chosen == {"kdcl", "independent"}
    assert {a.name: len(exp.final_seeds(a.name, chosen)) for a in exp.arms} == {
        "independent": 8, "kdcl": 8, "min-loss": 5, "linear": 5, "min-logit": 5, "validation": 5, "dml": 5}


# techniques A and B on protocol v2: what their --quick records promise
# ----------------------------------------------------------------------------------------------
def _quick_v2(technique, tmp_path_factory):
    """Run ``compare technique --quick`` once; returns (record, out folder, runs folder)."""
    root = tmp_path_factory.mktemp(technique)
    out, runs = root / "figures", root / "runs"
    assert experiment_module(technique).main(["--quick", "--out", str(out), "--runs-dir", str(runs),
                                              "--no-progress"]) == 0
    return json.loads((out / f"{technique}.json").read_text()), out, runs


def check_v2_record(rec, technique, primary_arm, primary_baseline):
    """The v2 promises every experiment of A and B keeps: one primary claim, published effects with their
    conversion and source, equal grids, disjoint seed sets, a trained check and curves per arm."""
    from numpycnn.lab.experiments.protocol import CONTROL_VERDICTS, PROTOCOL_VERSION, VERDICTS
    from numpycnn.lab.experiments.protocol.report import on_scorecard
    assert rec["protocol"] == PROTOCOL_VERSION and rec["technique"] == technique and rec["quick"]
    primary = [c for c in rec["comparisons"] if c["primary"]]
    assert len(primary) == 1 and (primary[0]["arm"], primary[0]["baseline"]) == (primary_arm, primary_baseline)
    for c in rec["comparisons"]:
        assert c["verdict"] in (CONTROL_VERDICTS if c["kind"] == "control" else VERDICTS), c
        assert {"p_value", "p_holm", "mde", "claimed_effect_here", "headroom"} <= set(c)
        if c["kind"] == "gain":
            assert c["published"] is not None and c["conversion"] and c["source"], c
    grids = {name: len(a["tuning"]) - (1 if a["extended"] else 0) for name, a in rec["arms"].items() if a["tuning"]}
    assert len(set(grids.values())) == 1 and min(grids.values()) >= 3, grids
    seeds = rec["seeds"]
    assert not (set(seeds["probe"]) & set(seeds["tuning"]) or set(seeds["probe"]) & set(seeds["final"])
                or set(seeds["tuning"]) & set(seeds["final"]))
    primary_arms = {primary_arm, primary_baseline}
    for name, arm in rec["arms"].items():
        assert {"slope_pp_per_1k", "ci", "held"} <= set(arm["trained_check"]), name
        assert len(arm["curves"]) == len(arm["seeds"]) == len(arm["per_seed"])
        assert len(arm["seeds"]) > 2 if name in primary_arms else len(arm["seeds"]) == 2
    return sum(on_scorecard(c) for c in rec["comparisons"])


@pytest.fixture(scope="module")
def quick_a(tmp_path_factory):
    if not HAVE_FASHION:
        pytest.skip("Fashion-MNIST is not installed")
    return _quick_v2("branch_supervision", tmp_path_factory)


@needs_fashion
def test_branch_supervision_quick_record_has_one_primary_speed_claim_equal_grids_and_checks_every_arm(quick_a):
    rec, out, _ = quick_a
    rows = check_v2_record(rec, "branch_supervision", "branch_auto", "plain")
    primary = next(c for c in rec["comparisons"] if c["primary"])
    assert primary["metric"] == "iters_to_50" and primary["lower_is_better"] and primary["relative"]
    assert primary["conversion"] == "threshold (ours)" and primary["resolution"] is not None
    assert set(rec["arms"]) == {"plain", "branch_auto", "companions", "adam_plain", "adam_branch"}
    assert {c["kind"] for c in rec["comparisons"] if c["arm"] == "adam_branch"} == {"control"}
    for name in ("curves", "gradient_flow", "probe"):
        assert (out / f"branch_supervision_{name}.png").exists()
    assert (out / "scorecard.md").read_text().count("compare branch_supervision") == rows >= 1


@needs_fashion
def test_branch_supervision_probe_runs_on_its_own_seeds_and_its_rows_and_curves_are_recorded(quick_a):
    rec, _, runs = quick_a
    probe = rec["probe"]
    assert probe["seeds"] == rec["seeds"]["probe"] and len(probe["seeds"]) == 2
    assert len(probe["curves"]) == 2 * len(probe["rows"])
    assert {c["seed"] for c in probe["curves"]} == set(rec["seeds"]["probe"])
    assert all(len(r["iters_to_50"]) == 2 for r in probe["rows"])
    probe_runs = (runs / "branch_supervision-quick" / "probe").rglob("*.json")
    stored = {json.loads(p.read_text())["seed"] for p in probe_runs}
    assert stored == set(rec["seeds"]["probe"])
    assert {"median_iters_to_50", "slow", "slow_threshold"} <= set(rec["baseline_slow"])
    for name, arm in rec["arms"].items():                 # iterations and seconds to 50 %, every final seed
        assert len(rec["time_to_50"][name]["iterations"]) == len(rec["time_to_50"][name]["seconds"]) == len(
            arm["seeds"])


@needs_fashion
def test_branch_supervision_reads_validation_densely_early_in_the_final_runs_only(quick_a):
    rec, _, runs = quick_a
    every, until = rec["budget"]["dense_evaluation"]["every"], rec["budget"]["dense_evaluation"]["until"]
    final_steps = [s for s, _ in rec["arms"]["plain"]["curves"][0]]
    assert set(range(every, until + 1, every)) <= set(final_steps)
    tune = [json.loads(p.read_text()) for p in (runs / "branch_supervision-quick" / "tune" / "plain").glob("*.json")]
    assert tune and all(len(r["metrics"]["curve"]) == r["settings"]["evals"] for r in tune)
    assert rec["arms"]["plain"]["trained_check"]["span"] == "iterations"


@pytest.fixture(scope="module")
def quick_b(tmp_path_factory):
    if not HAVE_FASHION:
        pytest.skip("Fashion-MNIST is not installed")
    return _quick_v2("gradient_direction", tmp_path_factory)


@needs_fashion
def test_gradient_direction_quick_record_has_one_primary_accuracy_claim_and_six_point_grids_for_every_optimizer(
        quick_b):
    rec, out, _ = quick_b
    rows = check_v2_record(rec, "gradient_direction", "direction", "adam")
    primary = next(c for c in rec["comparisons"] if c["primary"])
    assert primary["metric"] == "test_acc" and primary["published"] == 0.038
    assert primary["conversion"] == "relative error reduction"
    schedules = set()
    for name in ("direction", "adam", "rmsprop"):
        points = [g["settings"] for g in rec["arms"][name]["tuning"]][:6]
        assert len({(p.get("c", p.get("lr")), p["schedule"]) for p in points}) == 6, name
        schedules.add(frozenset(p["schedule"] for p in points))
    assert schedules == {frozenset({"constant", "decay"})}               # the same schedule options for all
    for name in ("text_direction", "text_adam", "text_rmsprop"):
        assert rec["arms"][name]["tuning"] == []                          # as the text says: nothing tuned
    assert rec["arms"]["text_adam"]["settings"]["lr"] == 1e-3
    for name in ("curves", "schedule"):
        assert (out / f"gradient_direction_{name}.png").exists()
    assert (out / "scorecard.md").read_text().count("compare gradient_direction") == rows >= 1


@needs_fashion
def test_gradient_direction_time_claims_are_in_seconds_with_the_fair_baseline_chosen_from_the_tuning_runs(quick_b):
    rec, _, _ = quick_b
    time_claims = [c for c in rec["comparisons"] if c["metric"] == "seconds_to_target"]
    assert len(time_claims) == 2 and all(c["published"] == 30.0 and c["conversion"] == "as published (relative)"
                                         and c["resolution"] is not None for c in time_claims)
    seconds = {}
    for name in ("adam", "rmsprop"):
        arm = rec["arms"][name]
        row = next(g for g in arm["tuning"] if g["settings"] == arm["settings"])
        seconds[name] = sum(row["metrics"]["seconds_to_target"]) / len(row["metrics"]["seconds_to_target"])
    assert rec["choices"]["fastest_classic"] == min(seconds, key=seconds.get)
    fair, text = time_claims
    assert (fair["arm"], fair["baseline"]) == ("direction", rec["choices"]["fastest_classic"])
    assert (text["arm"], text["baseline"]) == ("text_direction", "text_adam")
    for name in ("direction", "text_direction", "text_adam", rec["choices"]["fastest_classic"]):
        seeds = rec["arms"][name]["seeds"]
        assert len(rec["arms"][name]["per_seed_metrics"]["seconds_to_target"]) == len(seeds)
        assert len(rec["time_to_target"][name]["iterations"]) == len(rec["time_to_target"][name]["seconds"]) == len(
            seeds)
