"""Every technique's experiment runs through the protocol in --quick mode (seconds to a minute) and writes
figures/<technique>.json in the protocol's schema, its Markdown table, its figures and the scorecard."""
import json

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
@pytest.mark.parametrize("technique", ["erdos_renyi", "collaborative",
                                       "orthogonal_reinit"])      # A and B: their v2 tests below
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
                                           ("orthogonal_reinit", ["--width", "0"])])
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
