"""The protocol's runs on Dask (numpycnn/lab/experiments/protocol/cluster.py): a real scheduler and worker processes
on 127.0.0.1, never mocks. Faults are placed in a synthetic experiment (tests/cluster_synthetic.py): a worker killed
mid-run, a run that raises, the scheduler killed mid-comparison. Every executor reports a raising run the same way.

One scheduler with two worker processes is shared by the module (``dask scheduler`` / ``dask worker``, nannies
restart a killed worker); the lost-scheduler test starts its own, since it kills it.
"""
import ast
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

distributed = pytest.importorskip("distributed", reason="the cluster extra: pip install -e \".[cluster]\"")

import cluster_synthetic as synthetic  # noqa: E402  (tests/ is on sys.path: pytest's rootdir-relative import)
from numpycnn import techniques  # noqa: E402
from numpycnn.lab.commands.compare import run_guarded  # noqa: E402
from numpycnn.lab.experiments import experiment_module, protocol  # noqa: E402
from numpycnn.lab.experiments.protocol import cluster  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TESTS = ROOT / "tests"
#: the record's provenance: where, when and how long, never what was computed
PROVENANCE = {"machine", "runs", "wall_minutes", "commit", "dirty", "command"}


def numbers(record):
    """A comparison's JSON without its provenance: no machine, executor, run counts or timings (any key naming
    seconds or minutes), and no comparison of a time measure."""
    def strip(o):
        if isinstance(o, dict):
            return {k: strip(v) for k, v in o.items()
                    if k not in PROVENANCE and "seconds" not in k and "minutes" not in k}
        if isinstance(o, list):
            return [strip(v) for v in o if not (isinstance(v, dict) and "seconds" in str(v.get("metric", "")))]
        return o
    return strip(record)


def environment(flags):
    env = dict(os.environ, NUMPYCNN_TEST_FLAGS=str(flags), PYTHONPATH=os.pathsep.join([str(ROOT), str(TESTS)]))
    env.pop("NUMPYCNN_DEBUG", None)
    return env


class DaskProcesses:
    """``dask scheduler`` and ``dask worker`` (N single-threaded worker processes under nannies) on 127.0.0.1."""

    def __init__(self, folder, flags, workers=2):
        self.folder, self.env = Path(folder), environment(flags)
        folder.mkdir(parents=True, exist_ok=True)
        file = self.folder / "scheduler.json"
        self.scheduler = subprocess.Popen([sys.executable, "-m", "dask", "scheduler", "--host", "127.0.0.1",
                                           "--port", "0", "--no-dashboard", "--scheduler-file", str(file)],
                                          env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(600):
            if file.exists() and file.read_text().strip():
                break
            time.sleep(0.1)
        self.address = json.loads(file.read_text())["address"]
        self.workers = subprocess.Popen([sys.executable, "-m", "dask", "worker", self.address, "--nthreads", "1",
                                         "--nworkers", str(workers), "--no-dashboard", "--death-timeout", "20"],
                                        env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        with distributed.Client(self.address, timeout="60s") as client:
            client.wait_for_workers(workers, timeout=120)

    def stop(self):
        for p in (self.workers, self.scheduler):
            if p.poll() is None:
                p.terminate()
        for p in (self.workers, self.scheduler):
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()


@pytest.fixture(scope="module")
def flags(tmp_path_factory):
    """The folder steering the synthetic runs (tests/cluster_synthetic.py), also in this process's environment."""
    folder = tmp_path_factory.mktemp("flags")
    before = os.environ.get("NUMPYCNN_TEST_FLAGS")
    os.environ["NUMPYCNN_TEST_FLAGS"] = str(folder)
    yield folder
    if before is None:
        os.environ.pop("NUMPYCNN_TEST_FLAGS", None)
    else:
        os.environ["NUMPYCNN_TEST_FLAGS"] = before


@pytest.fixture
def clean_flags(flags):
    for f in flags.iterdir():
        f.unlink()
    return flags


@pytest.fixture(scope="module")
def dask_cluster(tmp_path_factory, flags):
    procs = DaskProcesses(tmp_path_factory.mktemp("dask"), flags)
    yield procs
    procs.stop()


@pytest.fixture(scope="module")
def reference(tmp_path_factory, flags):
    """The synthetic comparison through the local pool, without faults (its JSON)."""
    folder = tmp_path_factory.mktemp("reference")
    for f in flags.iterdir():
        f.unlink()
    assert run_guarded([("synthetic", synthetic.main)], ["--no-progress", "--workers", "2", "--out",
                       str(folder / "out"), "--runs-dir", str(folder / "runs")]) == 0
    return json.loads((folder / "out" / "synthetic.json").read_text())


def driver(tmp_path, flags, *options):
    """``python tests/cluster_synthetic.py`` (a compare driver) in a process of its own, writing under tmp_path."""
    cmd = [sys.executable, str(TESTS / "cluster_synthetic.py"), "--no-progress", "--out", str(tmp_path / "out"),
           "--runs-dir", str(tmp_path / "runs"), *options]
    return subprocess.Popen(cmd, env=environment(flags), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def stored_runs(tmp_path):
    return [p for p in (tmp_path / "runs" / "synthetic").rglob("*.json") if ".failed-" not in p.name]


def wait_for(condition, what, timeout=120):
    for _ in range(int(timeout / 0.05)):
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"waited {timeout} s for {what}")


def specs(seeds=(0, 1, 2, 3)):
    exp = synthetic.experiment(seeds=2)
    return exp.specs("final", "arm", {"arm": "arm", "lr": 0.1}, list(seeds))


# ------------------------------------------------------------------------------------------------
# a run that raises: the same contract on every executor
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("where", ["in_process", "process_pool", "dask"])
def test_every_executor_reports_a_raising_run_as_failed_with_its_traceback_and_finishes_the_others(
        where, clean_flags, dask_cluster):
    (clean_flags / "raise-arm-2").touch()
    executor = {"in_process": lambda: protocol.InProcess(), "process_pool": lambda: protocol.ProcessPool(2),
                "dask": lambda: cluster.DaskExecutor(distributed.Client(dask_cluster.address), "test")}[where]()
    done, failed = {}, {}
    try:
        executor.run(specs(), lambda i, result: done.setdefault(i, result), lambda i, tb: failed.setdefault(i, tb))
    finally:
        if where == "dask":
            executor.client.close()
    assert sorted(done) == [0, 1, 3] and all("test_acc" in r["metrics"] for r in done.values())
    assert list(failed) == [2]
    assert "Traceback" in failed[2] and "ValueError: planted failure in arm arm, seed 2" in failed[2]


def test_a_failed_run_is_kept_beside_the_store_named_and_tried_again_by_the_next_run(tmp_path, clean_flags):
    (clean_flags / "raise-arm-2").touch()
    store = protocol.RunStore(str(tmp_path / "runs"))
    runner = protocol.Runner(store, executor=protocol.InProcess(), progress=False)
    with pytest.raises(protocol.RunsFailed) as e:
        runner.map(specs())
    message = str(e.value)
    assert "final run of arm arm, seed 2: ValueError: planted failure in arm arm, seed 2" in message
    kept = store.failures()
    assert len(kept) == 1 and kept[0] in message
    record = json.loads(Path(kept[0]).read_text())
    assert record["seed"] == 2 and record["failed"] and "Traceback" in record["traceback"]
    assert runner.ran == 3 and len(stored_runs_in(store)) == 3            # the others finished and are stored
    (clean_flags / "raise-arm-2").unlink()
    again = protocol.Runner(store, executor=protocol.InProcess(), progress=False)
    again.map(specs())
    assert again.ran == 1 and again.reused == 3                          # only the failed run, computed again
    store.clear()                                                         # --fresh
    assert store.failures() == kept                                      # a failure record is never deleted


def stored_runs_in(store):
    return [p for p in Path(store.root).rglob("*.json") if ".failed-" not in p.name]


def test_compare_exits_1_naming_the_failed_run_and_stores_every_other(tmp_path, clean_flags, dask_cluster,
                                                                       reference):
    (clean_flags / "raise-base-1").touch()                                # the final run of base, seed 1
    p = driver(tmp_path, clean_flags, "--scheduler", dask_cluster.address)
    out, err = p.communicate(timeout=300)
    assert p.returncode == 1, err
    lines = [line for line in err.splitlines() if "planted failure" in line]
    assert len(lines) == 1 and "final run of arm base, seed 1: ValueError: planted failure in arm base, seed 1" \
        in lines[0] and ".failed-" in lines[0]
    assert "Traceback" not in err
    assert len(stored_runs(tmp_path)) == reference["runs"]["ran"] - 1     # every other run is stored


# ------------------------------------------------------------------------------------------------
# faults of the cluster
# ------------------------------------------------------------------------------------------------
def test_a_worker_killed_mid_run_has_its_task_run_again_and_the_comparison_is_unchanged(tmp_path, clean_flags,
                                                                                         dask_cluster, reference):
    (clean_flags / "slow-arm-3").touch()                                  # final run of arm, seed 3: 3 s asleep
    p = driver(tmp_path, clean_flags, "--scheduler", dask_cluster.address)
    started = lambda: sorted(clean_flags.glob("started-final-arm-3-*"))  # noqa: E731
    wait_for(lambda: started() or p.poll() is not None, "the slow run to start")
    pid = int(started()[0].name.rsplit("-", 1)[1])
    os.kill(pid, signal.SIGKILL)
    out, err = p.communicate(timeout=300)
    assert p.returncode == 0, err
    assert len(started()) == 2 and {int(f.name.rsplit("-", 1)[1]) for f in started()} != {pid}   # ran again
    got = json.loads((tmp_path / "out" / "synthetic.json").read_text())
    assert numbers(got) == numbers(reference) and got["runs"]["ran"] == reference["runs"]["ran"]


def test_a_lost_scheduler_is_one_clear_line_and_running_again_finishes_without_recomputing_a_stored_run(
        tmp_path, clean_flags, dask_cluster, reference):
    own = DaskProcesses(tmp_path / "own-dask", clean_flags)
    try:
        (clean_flags / "slow-all").touch()
        p = driver(tmp_path, clean_flags, "--scheduler", own.address)
        wait_for(lambda: len(stored_runs(tmp_path)) >= 4 or p.poll() is not None, "four stored runs")
        own.scheduler.send_signal(signal.SIGKILL)
        out, err = p.communicate(timeout=300)
    finally:
        own.stop()
    assert p.returncode == 1
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "lost the Dask scheduler" in errors[0] and "running the same command again" in errors[0]
    assert "Traceback" not in err
    stored = len(stored_runs(tmp_path))
    assert 4 <= stored < reference["runs"]["ran"]
    (clean_flags / "slow-all").unlink()
    p = driver(tmp_path, clean_flags, "--resume", "--scheduler", dask_cluster.address)
    out, err = p.communicate(timeout=300)
    assert p.returncode == 0, err
    got = json.loads((tmp_path / "out" / "synthetic.json").read_text())
    assert got["runs"]["reused"] == stored and got["runs"]["ran"] == reference["runs"]["ran"] - stored
    assert numbers(got) == numbers(reference)


# ------------------------------------------------------------------------------------------------
# same numbers everywhere; Dask only when asked for
# ------------------------------------------------------------------------------------------------
def test_cluster_local_2_gives_the_same_comparison_as_the_local_pool(tmp_path, clean_flags, reference):
    status = run_guarded([("synthetic", synthetic.main)], ["--no-progress", "--cluster", "local:2", "--out",
                                                           str(tmp_path / "out"), "--runs-dir", str(tmp_path / "runs")])
    assert status == 0
    got = json.loads((tmp_path / "out" / "synthetic.json").read_text())
    assert got["runs"]["executor"].startswith("Dask (local:2") and reference["runs"]["executor"].startswith("a pool")
    assert numbers(got) == numbers(reference)
    assert cluster._OPEN == {}                                             # the LocalCluster was closed


@pytest.mark.parametrize("value", ["local", "local:0", "local:x", "tcp://h:1"])
def test_a_bad_cluster_option_names_it_and_what_was_expected(value):
    with pytest.raises(ValueError, match=r"--cluster must be local:N"):
        cluster.connect(cluster=value)


def test_only_the_cluster_module_imports_dask():
    importers = []
    for path in (ROOT / "numpycnn").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else [])
            if any(n.split(".")[0] in ("dask", "distributed") for n in names):
                importers.append(path.relative_to(ROOT).as_posix())
    assert sorted(set(importers)) == ["numpycnn/lab/experiments/protocol/cluster.py"]


def test_the_default_compare_path_never_imports_dask(tmp_path):
    code = ("import sys, numpycnn, numpycnn.lab.cli, cluster_synthetic\n"
            "from numpycnn.lab.commands.compare import run_guarded\n"
            f"assert run_guarded([('synthetic', cluster_synthetic.main)], ['--no-progress', '--workers', '1', "
            f"'--out', {str(tmp_path / 'out')!r}, '--runs-dir', {str(tmp_path / 'runs')!r}]) == 0\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')))\n")
    env = environment(tmp_path)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]"


@pytest.mark.slow
def test_every_technique_quick_gives_the_same_json_through_cluster_local_2_as_through_the_pool(tmp_path):
    """All five ``compare NAME --quick``: the local pool, then one LocalCluster of 2 workers for the five; the JSON
    is the same bit for bit apart from provenance (one machine).

    One exception, by design, not by the executor: technique B chooses its fair time claim's baseline (Adam or
    RMSprop) by the mean *training seconds* to the target in its tuning runs (``choices.fastest_classic``), a wall
    time that differs from one run to the next on any executor. That choice changes the stripped time row, and
    through Holm's step-down it changes every B row's ``p_holm`` and so the verdict of every B row but the primary
    (which reads its own 95 % interval). For B those three (:func:`time_dependent`) are left out; every run's
    metrics, every arm, selection, mean difference, interval, raw p-value and the primary verdict still must
    match."""
    names = techniques.names()
    mains = [(name, experiment_module(name).main) for name in names]
    common = ["--quick", "--no-progress", "--allow-dirty"]
    assert run_guarded(mains, common + ["--workers", "2", "--out", str(tmp_path / "pool"),
                                        "--runs-dir", str(tmp_path / "pool-runs")]) == 0
    assert run_guarded(mains, common + ["--cluster", "local:2", "--out", str(tmp_path / "dask"),
                                        "--runs-dir", str(tmp_path / "dask-runs")]) == 0
    for name in names:
        pool = json.loads((tmp_path / "pool" / f"{name}.json").read_text())
        dask = json.loads((tmp_path / "dask" / f"{name}.json").read_text())
        assert dask["runs"]["executor"].startswith("Dask"), name
        if name == "gradient_direction":
            dask, pool = time_dependent(dask), time_dependent(pool)
        assert numbers(dask) == numbers(pool), name


def time_dependent(record):
    """Technique B's record without what follows from a wall time: the time claim's baseline chosen by tuning
    seconds (``choices``), the Holm-adjusted p-values it enters, and the verdicts of the rows judged by them (every
    row but the primary)."""
    out = {k: v for k, v in record.items() if k != "choices"}
    out["comparisons"] = [{k: v for k, v in c.items() if k != "p_holm" and not (k == "verdict" and not c["primary"])}
                          for c in record["comparisons"]]
    return out
