"""Every technique's experiment runs through the protocol in --quick mode (seconds to a minute) and writes
figures/<technique>.json in the protocol's schema, its Markdown table, its figures and the scorecard."""
import json
import math

import pytest

pytest.importorskip("threadpoolctl")

from numpycnn.datasets import find_dataset_dir  # noqa: E402
from numpycnn.errors import DatasetNotFoundError  # noqa: E402
from numpycnn import techniques  # noqa: E402
from numpycnn.lab.experiments import experiment_module, resolve  # noqa: E402

try:
    find_dataset_dir("fashion-mnist")
    HAVE_FASHION = True
except DatasetNotFoundError:
    HAVE_FASHION = False
needs_fashion = pytest.mark.skipif(not HAVE_FASHION, reason="Fashion-MNIST is not installed "
                                   "(apt-get install dataset-fashion-mnist, or set NUMPYCNN_DATA)")

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


@needs_fashion
@pytest.mark.parametrize("technique", ["branch_supervision", "gradient_direction", "erdos_renyi", "collaborative"])
def test_quick_experiment_writes_its_json_table_figures_and_scorecard(technique, tmp_path):
    mod = experiment_module(technique)
    out, runs = tmp_path / "figures", tmp_path / "runs"
    assert mod.main(["--quick", "--out", str(out), "--runs-dir", str(runs), "--no-progress"]) == 0
    rec = json.loads((out / f"{technique}.json").read_text())
    check_schema(rec, technique)
    assert rec["quick"] and "--quick" in rec["command"]
    assert (out / f"{technique}.md").read_text().count("|") > 20
    assert list(out.glob(f"{technique}_*.png"))
    card = (out / "scorecard.md").read_text()
    assert sum(1 for c in rec["comparisons"] if c.get("scorecard", True)) == card.count(f"compare {technique}")


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
