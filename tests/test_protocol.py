"""The reproduction protocol: statistics and verdicts, equal tuning on validation, paired final seeds,
resumable storage, and a worker pool whose results equal a serial run's bit for bit."""
import json
import math

import numpy as np
import pytest
import scipy.stats

pytest.importorskip("threadpoolctl")

from numpycnn import threads  # noqa: E402
from numpycnn.lab.experiments import protocol  # noqa: E402
from numpycnn.optim import SGD  # noqa: E402
from numpycnn.training import Trainer  # noqa: E402
from numpycnn.zoo import small_cnn  # noqa: E402

DIGITS = protocol.DataSpec(name="digits", train=600, val=150, test=200)


def tiny_run(settings, seed, ctx):
    """A real run: a small CNN on the digits for a few steps; test is read only in the final stage."""
    assert (ctx.test is None) == (ctx.stage != "final"), "test must be hidden outside the final stage"
    model = small_cnn(ctx.data.input_shape, ctx.data.num_classes, width=4, seed=seed)
    trainer = Trainer(model, SGD(model, lr=settings["lr"]), seed=seed, batch_size=32, progress=False)
    history = trainer.fit(ctx.train, ctx.val, epochs=100, max_steps=settings.get("steps", 12), eval_every=4)
    out = {"val_acc": history["evals"][-1]["val_acc"], "curve": protocol.eval_curve(history),
           "w_sum": float(model["conv1"].params["W"].astype(np.float64).sum())}
    if ctx.stage == "final":
        out["test_acc"] = model.evaluate(ctx.test.x, ctx.test.y)["accuracy"]
    return out


def test_confidence_interval_is_the_student_t_interval_of_the_paired_differences():
    d = [1.0, 2.0, 0.5, 1.5, 3.0]
    mean, std, (lo, hi) = protocol.confidence_interval(d)
    half = scipy.stats.t.ppf(0.975, 4) * np.std(d, ddof=1) / math.sqrt(5)
    assert mean == pytest.approx(1.6) and std == pytest.approx(np.std(d, ddof=1))
    assert (lo, hi) == pytest.approx((1.6 - half, 1.6 + half))
    assert math.isnan(protocol.confidence_interval([1.0])[2][0])


def experiment(lrs=(0.001, 0.05, 0.2)):
    """Two tuned arms on the same grid (``same`` differs from ``base`` only by a setting the run ignores) and one
    arm with nothing to tune."""
    arms = [protocol.Arm("base", grid={"lr": lrs}), protocol.Arm("same", fixed={"steps": 12}, grid={"lr": lrs}),
            protocol.Arm("fixed", fixed={"lr": 0.05})]
    claims = [protocol.Claim("same as base", "same", "base", published=1.0, conversion="threshold (ours)",
                             source="test (ours)", primary=True)]
    return protocol.Experiment(name="toy", title="toy", run=tiny_run, data=DIGITS, arms=arms, claims=claims,
                               trained=protocol.TrainedCheck(threshold=1000.0), seeds=2, primary_seeds=2,
                               tune_seeds=2)


def test_tuning_selects_the_best_validation_setting_and_final_runs_use_fresh_paired_seeds(tmp_path):
    exp = experiment()
    runner = protocol.Runner(protocol.RunStore(str(tmp_path)), workers=1, progress=False)
    tuning, finals, claims, arms, comparisons = protocol.run_protocol(exp, runner)
    grid = tuning["base"]["grid"]
    best = max(grid, key=lambda g: g["mean"])
    assert tuning["base"]["selected"] == best["settings"]
    assert tuning["same"]["selected"] == {**best["settings"], "steps": 12}     # its own search, the same outcome
    assert tuning["fixed"]["selected"] == {"lr": 0.05} and tuning["fixed"]["grid"] == []
    assert [r["seed"] for r in finals["base"]] == [0, 1]                           # final seeds
    tune_files = list((tmp_path / "tune").rglob("*.json"))
    assert {json.loads(p.read_text())["seed"] for p in tune_files} == {protocol.TUNE_SEED0, protocol.TUNE_SEED0 + 1}
    # "same" runs base's selected setting on the same seeds: identical results, a zero difference
    assert comparisons[0]["diffs_per_seed"] == [0.0, 0.0] and arms["same"]["per_seed"] == arms["base"]["per_seed"]


def test_an_interrupted_experiment_resumes_from_the_stored_runs(tmp_path):
    exp = experiment()
    first = protocol.Runner(protocol.RunStore(str(tmp_path)), workers=1, progress=False)
    protocol.run_protocol(exp, first)
    again = protocol.Runner(protocol.RunStore(str(tmp_path)), workers=1, progress=False)
    protocol.run_protocol(exp, again)
    assert first.ran > 0 and again.ran == 0 and again.reused == first.ran


def test_two_workers_give_bit_identical_results_to_a_serial_run(tmp_path):
    """Bit for bit by operation order: every run, serial or in a worker, has one numpycnn thread and one BLAS
    thread (the next test checks it), so it makes the same calls whatever the number of workers."""
    exp = experiment()
    serial = protocol.Runner(protocol.RunStore(str(tmp_path / "serial")), workers=1, progress=False)
    pooled = protocol.Runner(protocol.RunStore(str(tmp_path / "pooled")), workers=2, progress=False)
    *_, arms1, comp1 = protocol.run_protocol(exp, serial)
    *_, arms2, comp2 = protocol.run_protocol(exp, pooled)
    for a in arms1:
        assert arms1[a]["per_seed"] == arms2[a]["per_seed"]
    files = sorted(p.relative_to(tmp_path / "serial") for p in (tmp_path / "serial").rglob("*.json"))
    for rel in files:
        m1 = json.loads((tmp_path / "serial" / rel).read_text())["metrics"]
        m2 = json.loads((tmp_path / "pooled" / rel).read_text())["metrics"]
        assert m1 == m2, rel


def threads_seen(settings, seed, ctx):
    """A run that reports how many threads numpycnn's kernels and NumPy's BLAS would use in it."""
    return {"kernel_threads": threads.get_threads(), "blas_threads": threads.blas_threads()}


@pytest.mark.parametrize("workers", [1, 2])
def test_every_run_uses_one_kernel_thread_and_one_blas_thread_so_workers_never_oversubscribe(tmp_path, workers):
    specs = [protocol.RunSpec(threads_seen, "probe", "a", {"k": k}, 0, DIGITS) for k in range(2)]
    with threads.limit(2):                                   # the parent allows 2; each run must still see 1
        records = protocol.Runner(protocol.RunStore(str(tmp_path)), workers=workers, progress=False).map(specs)
        assert threads.get_threads() == 2
    assert [r["metrics"] for r in records] == [{"kernel_threads": 1, "blas_threads": 1}] * 2


def test_bad_protocol_options_name_the_option():
    with pytest.raises(ValueError, match="--workers"):
        protocol.Runner(protocol.RunStore("x"), workers=0)
    with pytest.raises(ValueError, match="--seeds"):
        args = type("A", (), {"seeds": 1, "quick": False, "workers": 2, "runs_dir": "x", "fresh": False,
                              "no_progress": True})()
        protocol.check_args(args, "toy")


def test_json_records_write_nan_as_null():
    assert json.loads(protocol.dumps({"x": float("nan"), "y": [1.0, float("inf")]})) == {"x": None, "y": [1.0, None]}


class RecordingExecutor(protocol.Executor):
    """An executor of its own: runs in this process and remembers what it was given."""

    def __init__(self):
        self.seen = []

    def run(self, specs, done, failed):
        for i, spec in reversed(list(enumerate(specs))):            # finishing out of order is allowed
            self.seen.append(spec.arm)
            done(i, protocol.execute(spec))


def test_a_runner_runs_what_is_not_stored_on_the_executor_it_is_given(tmp_path):
    specs = [protocol.RunSpec(tiny_run, "tune", arm, {"lr": 0.05}, protocol.TUNE_SEED0, DIGITS) for arm in ("a", "b")]
    plain = protocol.Runner(protocol.RunStore(str(tmp_path / "plain")), workers=1, progress=False).map(specs)
    executor = RecordingExecutor()
    runner = protocol.Runner(protocol.RunStore(str(tmp_path / "own")), progress=False, executor=executor)
    got = runner.map(specs)
    assert executor.seen == ["b", "a"] and runner.ran == 2
    assert [r["metrics"] for r in got] == [r["metrics"] for r in plain]        # in the order of the specs
    runner.map(specs)
    assert executor.seen == ["b", "a"] and runner.reused == 2                  # stored runs never reach it


def test_fresh_with_a_bad_option_deletes_no_stored_run(tmp_path):
    store = protocol.RunStore(str(tmp_path / "toy"))
    spec = protocol.RunSpec(tiny_run, "tune", "a", {"lr": 0.05}, 0, DIGITS)
    protocol.Runner(store, workers=1, progress=False).map([spec])
    args = type("A", (), {"seeds": 2, "quick": False, "workers": 0, "runs_dir": str(tmp_path), "fresh": True,
                          "no_progress": True})()
    with pytest.raises(ValueError, match="--workers"):
        protocol.check_args(args, "toy")
    assert list((tmp_path / "toy").rglob("*.json"))


def _damaged_bytes(kind, path):
    """The bytes a run file is replaced with to simulate each kind of damage."""
    original = path.read_bytes()
    other = next(p for p in sorted(path.parent.parent.rglob("*.json")) if p != path)
    return {"truncated_to_100_bytes": original[:100],
            "not_json": b"\x00\xff garbage from a disk fault",
            "a_json_list": b"[1, 2, 3]\n",
            "no_metrics": json.dumps({k: v for k, v in json.loads(original).items() if k != "metrics"}).encode(),
            "another_runs_record": other.read_bytes()}[kind]


@pytest.mark.parametrize("kind", ["truncated_to_100_bytes", "not_json", "a_json_list", "no_metrics",
                                  "another_runs_record"])
def test_a_damaged_run_file_is_named_kept_aside_and_its_run_computed_again_to_the_same_result(tmp_path, capsys, kind):
    exp = experiment()
    first = protocol.Runner(protocol.RunStore(str(tmp_path)), workers=1, progress=False)
    *_, arms1, comp1 = protocol.run_protocol(exp, first)
    path = sorted((tmp_path / "final").rglob("*.json"))[0]
    original = json.loads(path.read_text())
    damaged = _damaged_bytes(kind, path)
    path.write_bytes(damaged)
    capsys.readouterr()
    again = protocol.Runner(protocol.RunStore(str(tmp_path)), workers=1, progress=False)
    *_, arms2, comp2 = protocol.run_protocol(exp, again)
    err = capsys.readouterr().err
    kept = list(path.parent.glob(path.name + ".damaged-*"))
    assert len(kept) == 1 and kept[0].read_bytes() == damaged              # kept for inspection, unchanged
    assert f"run file {path} is damaged" in err and str(kept[0]) in err and "running that run again" in err
    assert again.ran == 1 and again.reused == first.ran - 1                 # only that run was computed again
    assert json.loads(path.read_text())["metrics"] == original["metrics"]
    assert comp2 == comp1
    assert {a: v["per_seed"] for a, v in arms2.items()} == {a: v["per_seed"] for a, v in arms1.items()}


@pytest.mark.parametrize("quick,out,want", [(True, None, "figures-quick"), (False, None, "figures"),
                                            (True, "mine", "mine")])
def test_quick_results_go_to_figures_quick_unless_out_is_given(tmp_path, quick, out, want):
    """--quick never overwrites the committed figures/; compare's folder check sees the folder the experiment uses."""
    args = type("A", (), {"seeds": None, "quick": quick, "workers": 1, "out": out, "runs_dir": str(tmp_path),
                          "fresh": False, "no_progress": True,
                          "allow_dirty": True, "only": None})()      # the dirty-tree rule has its own tests
    protocol.check_args(args, "toy")
    assert args.out == want
    argv = ["--steps", "3"] + (["--quick"] if quick else []) + ([] if out is None else ["--out", out])
    assert protocol.output_options(argv, "toy") == (want, protocol.DEFAULT_RUNS_DIR)
