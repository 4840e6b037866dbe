"""The published regimes as presets (numpycnn/lab/experiments/regimes.py): ``compare NAME --regime paper``, its
``--dry-run`` estimate, CIFAR-10 read from ``--data-dir``, and the cost table of docs/cluster.md."""
import json
from pathlib import Path

import numpy as np
import pytest

from numpycnn import techniques
from numpycnn.datasets import write_cifar10_batch
from numpycnn.lab.commands.compare import run_guarded
from numpycnn.lab.experiments import experiment_module, protocol, regimes

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tiny_cifar10(tmp_path_factory):
    """A CIFAR-10 folder in the real binary layout: 5 training batches of 60 random images, a test batch of 60, and
    batches.meta.txt."""
    folder = tmp_path_factory.mktemp("cifar-10-batches-bin")
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]:
        labels = np.arange(60) % 10
        x = rng.integers(0, 256, (60, 3, 32, 32), dtype=np.uint8)
        x[:, 0, :4, :4] = (25 * labels).astype(np.uint8)[:, None, None]     # a trace of the label in the pixels
        write_cifar10_batch(folder / name, x, labels)
    (folder / "batches.meta.txt").write_text("\n".join(["airplane", "automobile", "bird", "cat", "deer", "dog",
                                                         "frog", "horse", "ship", "truck"]) + "\n")
    return folder


def test_every_technique_has_a_paper_preset_stating_the_source_of_its_data_network_and_epochs():
    assert sorted(regimes.PRESETS) == sorted(techniques.names())
    for name, r in regimes.PRESETS.items():
        assert r.data.name == "cifar10" and r.batch == 64, name
        assert {"data", "network", "epochs"} <= set(r.sources), name
        assert all(s.strip() for s in r.sources.values()), name
        assert r.primary_seeds >= 8 and r.seeds >= 5 and r.tune_seeds >= 2, name


def test_the_estimate_is_runs_times_iterations_times_the_measured_step_cost():
    r = regimes.PRESETS["gradient_direction"]
    assert r.iterations() == 20 * -(-45_000 // 64)
    assert r.runs() == sum(len(s.arms) * s.points * s.seeds for s in r.plan)
    assert r.cpu_hours() == pytest.approx(r.runs() * r.iterations() * regimes.STEP_COSTS["lenet5"][0] / 3.6e6)
    three = regimes.PRESETS["collaborative"].network
    assert three.step_ms() == 3 * regimes.STEP_COSTS["lenet5"][0]          # three networks per step


def test_every_network_of_a_preset_has_a_measured_step_cost_and_the_machine_is_named():
    assert {r.network.key for r in regimes.PRESETS.values()} <= set(regimes.STEP_COSTS)
    assert regimes.MEASURED_ON and "CPU time" in regimes.HOW_MEASURED and "one BLAS thread" in regimes.HOW_MEASURED


def test_dry_run_prints_the_runs_the_cpu_hours_and_the_memory_and_trains_nothing(tmp_path, capsys):
    args = protocol.parser("orthogonal_reinit", "E").parse_args(
        ["--regime", "paper", "--dry-run", "--runs-dir", str(tmp_path / "runs"), "--data-dir", "/data/cifar"])
    with pytest.raises(protocol.DryRun):
        protocol.check_args(args, "orthogonal_reinit")
    out = capsys.readouterr().out
    r = regimes.PRESETS["orthogonal_reinit"]
    assert "nothing is trained" in out and "/data/cifar" in out
    for s in r.plan:
        assert f"{', '.join(s.arms)}" in out and f"= {s.runs()} runs" in out
    assert f"{r.cpu_hours():,.0f} CPU-hours" in out and f"{r.memory_mb():,.0f} MB" in out
    assert regimes.MEASURED_ON in out
    assert not (tmp_path / "runs").exists()                                # no run stored, no store made


def test_dry_run_without_a_preset_is_an_error_naming_regime(tmp_path):
    args = protocol.parser("erdos_renyi", "C").parse_args(["--dry-run", "--runs-dir", str(tmp_path)])
    with pytest.raises(ValueError, match="--regime paper"):
        protocol.check_args(args, "erdos_renyi")


def test_regime_paper_quick_keeps_the_data_set_and_network_at_a_budget_of_seconds():
    for name, full in regimes.PRESETS.items():
        quick = regimes.preset(name, "paper", quick=True)
        assert quick.data.name == "cifar10" and quick.network == full.network
        assert quick.iterations() <= 10 and quick.data.train <= 300
    assert regimes.preset("erdos_renyi", "default") is None


def test_a_paper_preset_reads_cifar10_from_data_dir(tiny_cifar10):
    args = protocol.parser("gradient_direction", "B").parse_args(["--regime", "paper", "--quick", "--data-dir",
                                                                  str(tiny_cifar10), "--runs-dir", "unused"])
    args.preset = regimes.preset("gradient_direction", "paper", quick=True)
    data = protocol.preset_data(args, protocol.DataSpec())
    assert data.name == "cifar10" and data.data_dir == str(tiny_cifar10)
    splits = protocol.load_data(data)
    assert splits.input_shape == (3, 32, 32) and splits.num_classes == 10
    assert (len(splits.train.y), len(splits.val.y), len(splits.test.y)) == (180, 60, 60)
    assert protocol.preset_iterations(args, 1234) == args.preset.iterations()
    args.preset = None
    assert protocol.preset_data(args, protocol.DataSpec()) == protocol.DataSpec()   # --regime default


def test_the_cost_table_in_docs_cluster_md_is_the_one_the_presets_give():
    text = (ROOT / "docs" / "cluster.md").read_text(encoding="utf-8")
    assert regimes.cost_table() in text, "regenerate it: python -c 'from numpycnn.lab.experiments import regimes; " \
                                         "print(regimes.cost_table())'"


@pytest.mark.parametrize("name", techniques.names())
def test_the_paper_preset_runs_end_to_end_on_a_tiny_cifar10_folder(name, tiny_cifar10, tmp_path):
    """``compare NAME --regime paper --quick --data-dir <tiny CIFAR-10>``: the experiment trains on CIFAR-10 at the
    preset's network (fails until the experiment reads its preset: protocol.preset_data / preset_iterations)."""
    status = run_guarded([(name, experiment_module(name).main)],
                         ["--regime", "paper", "--quick", "--no-progress", "--workers", "1", "--allow-dirty",
                          "--data-dir", str(tiny_cifar10), "--out", str(tmp_path / "out"),
                          "--runs-dir", str(tmp_path / "runs")])
    assert status == 0
    rec = json.loads((tmp_path / "out" / f"{name}.json").read_text())
    assert rec["data"]["name"] == "cifar10" and rec["data"]["train"] == 240
    assert "--regime paper" in rec["command"]


def test_each_preset_plan_runs_the_arms_grid_sizes_and_seed_counts_of_its_experiment():
    """The plans were first copied by hand from a design note: each must run what its experiment runs — every tuned
    arm's grid plus one edge extension (every grid point of the other keys at one more learning rate), every arm in
    a final stage, 8 seeds exactly for the primary claim's arms (arm, baseline, reference)."""
    from numpycnn.lab.experiments.protocol.stages import primary_arms
    a, b, c, d, e = (experiment_module(n) for n in ("branch_supervision", "gradient_direction", "erdos_renyi",
                                                    "collaborative", "orthogonal_reinit"))
    seconds = {"selected": {"lr": 1}, "grid": [{"settings": {"lr": 1}, "metrics": {"seconds_to_target": [1.0]}}]}
    built = {"branch_supervision": (a.arms({}), a.claims()),
             "gradient_direction": (b.arms({}), b.claims(0.85)({n: seconds for n in b.CLASSIC})),
             "erdos_renyi": (c.arms(1, 1, 1), c.claims()), "collaborative": (d.arms({}), d.claims()),
             "orthogonal_reinit": (e.arms({}), e.claims())}
    for name, (arms, claims) in built.items():
        plan = regimes.PRESETS[name].plan
        tuned = {arm.name: len(arm.grid_points()) for arm in arms if arm.grid}
        extension = {arm.name: len(arm.grid_points()) // len(arm.grid[arm.extend[0]]) for arm in arms if arm.grid}
        tune = {arm: s.points for s in plan if s.stage == "tune" for arm in s.arms}
        assert tune == {arm: tuned[arm] + extension[arm] for arm in tuned}, name
        finals = {arm: s.seeds for s in plan if s.stage == "final" for arm in s.arms}
        assert sorted(finals) == sorted(arm.name for arm in arms), name
        primary = primary_arms(claims)
        assert {arm for arm, seeds in finals.items() if seeds == 8} == primary, name
        assert all(seeds == 5 for arm, seeds in finals.items() if arm not in primary), name
