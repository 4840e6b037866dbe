"""The reproduction protocol every ``python -m numpycnn compare NAME`` experiment runs through.

An experiment asks whether a published claim holds. It can answer only when the run *could* have
come out either way, so every experiment here follows the same rules:

1. **Splits.** train / validation (carved from the training set) / test. Every choice — learning
   rate, c, β, λ, a schedule — is made on validation. Test is read only in the final runs, after
   every choice was made; no decision uses it.
2. **Equal tuning.** Every arm, the baseline included, gets the same kind of search: a small grid
   declared in the experiment (:class:`Arm` ``grid``), run on ``tune_seeds`` seeds, the setting with
   the best mean validation score kept. No arm runs at an untuned default while another is tuned.
3. **Paired seeds.** The final comparison runs the selected setting of every arm on ``seeds`` fresh
   seeds (≥ 5). Within a seed every arm starts from the same initial weights and sees the same data
   order (the run functions build models and trainers from the seed).
4. **Statistics.** For each :class:`Claim`: the per-seed paired differences ``arm − baseline``,
   oriented so that positive is the claimed direction; their mean, standard deviation and 95 %
   Student-t confidence interval; and a verdict (:func:`verdict`): ``supported`` (CI entirely above
   0), ``contradicted`` (CI reaches no higher than the claimed effect and does not lie above 0: no
   gain shown and the claimed size ruled out), otherwise ``inconclusive``; plus ``size_consistent``
   (the claimed effect lies inside the CI).
5. **Trained, not truncated.** Each experiment states a :class:`TrainedCheck` for its baseline (its
   validation accuracy changes by less than a stated amount over the last part of the budget, and is
   above chance). A run that fails its own check says so instead of giving a verdict.
6. **Both cores.** Runs go through a pool of worker processes (default 2), each pinned to one BLAS
   thread with ``threadpoolctl``; a run's result does not depend on the number of workers (tested:
   bit-identical to a serial run). Each finished run is stored as one JSON file, so an interrupted
   ``compare`` continues where it stopped; a damaged run file (truncated, not JSON, the wrong shape) is
   named, moved aside and its run computed again (:class:`RunStore`).
7. **Provenance.** ``figures/<technique>.json`` records the command, commit, machine, wall time,
   budget, every arm's settings and per-seed results, the comparisons and the trained check; the
   Markdown table and the README scorecard (:func:`write_scorecard`) are generated from it.

Vocabulary: an **arm** is one way of training; a **setting** is one assignment of its
hyper-parameters; a **run** is ``(stage, arm, setting, seed) -> metrics``; the **stages** are
``probe`` (finding the regime, before any arm exists), ``tune`` (validation only) and ``final``
(fresh seeds, test read once).

A run function has the signature ``fn(settings: dict, seed: int, ctx: RunContext) -> dict`` and is
defined at module level (workers import it). It returns JSON-able metrics: at least the selection
metric (``val_acc`` by default) and, in the final stage, ``test_acc``.
"""
import argparse
import glob
import hashlib
import json
import math
import os
import platform
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from itertools import product
from multiprocessing import get_context

import numpy as np
import scipy.stats

from ... import threads
from ...datasets import load_dataset
from ...errors import DatasetNotFoundError
from ...storage import atomic_write_bytes
from ...validate import integer, number
from .. import REPO_ROOT

STAGES = ("probe", "tune", "final")
VERDICTS = ("supported", "contradicted", "inconclusive")
#: where finished runs are stored (one JSON file per run) unless ``--runs-dir`` says otherwise
DEFAULT_RUNS_DIR = os.path.join("runs", "compare")


# ----------------------------------------------------------------------------------------------
# what an experiment declares
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DataSpec:
    """Which data a run trains on: a seeded subset with a validation split carved from training.

    ``name`` is a dataset of :func:`numpycnn.datasets.load_dataset`; ``train`` counts the training
    pool *before* the validation split (``val`` images of it become the validation split).
    """
    name: str = "fashion-mnist"
    train: int = 10_000
    val: int = 2_000
    test: int = 2_000
    data_dir: str = None
    seed: int = 0

    def describe(self):
        pretty = {"fashion-mnist": "Fashion-MNIST", "digits": "the embedded 8×8 digits", "mnist": "MNIST",
                  "cifar10": "CIFAR-10"}.get(self.name, self.name)
        return (f"{pretty} ({self.train - self.val:,} training / {self.val:,} validation / {self.test:,} test "
                f"images, a seeded subset)")


@dataclass(frozen=True)
class Arm:
    """One way of training.

    Parameters
    ----------
    name : str — the arm's key in tables and JSON
    fixed : dict — settings every run of this arm uses
    grid : dict — settings tuned on validation: ``{"lr": (1e-3, 3e-3)}``; the cartesian product is searched
    tune_like : str, optional — use the setting another arm selected instead of a grid of its own
        (e.g. technique E reuses the standard arm's learning rate, as the issue prescribes)
    label : str — a readable description for tables (default: the name)
    """
    name: str
    fixed: dict = field(default_factory=dict)
    grid: dict = field(default_factory=dict)
    tune_like: str = None
    label: str = ""

    def grid_points(self):
        """Every setting of the grid (``[fixed]`` when there is no grid), in declaration order."""
        if not self.grid:
            return [dict(self.fixed)]
        keys = list(self.grid)
        return [{**self.fixed, **dict(zip(keys, values))} for values in product(*(self.grid[k] for k in keys))]


@dataclass(frozen=True)
class Claim:
    """A published claim turned into a paired comparison.

    Parameters
    ----------
    claim : str — the claim in words
    arm, baseline : str — arm names
    metric : str — a key of the final runs' metrics (e.g. ``"test_acc"``)
    claimed_effect : float — the published effect, in the oriented display unit (percentage
        points for accuracies; a fraction for ``relative`` metrics)
    source : str — where the number comes from
    lower_is_better : bool — orient ``baseline − arm`` instead of ``arm − baseline`` (iterations, seconds)
    relative : bool — divide each difference by the baseline's value (e.g. "30 % less time")
    scale : float — display scale (100: a fraction shown as percentage points)
    kind : {"gain", "equivalence"} — ``equivalence`` claims "no difference": supported when the CI
        lies within ``± margin``, contradicted when it lies entirely outside
    margin : float — the equivalence margin, in display units
    unit : str — display unit of the difference (``"pp"`` for accuracies)
    scorecard : bool — a published claim (a README scorecard row); False for analysis comparisons
        (controls that explain a result, with no published effect to test)
    """
    claim: str
    arm: str
    baseline: str
    metric: str = "test_acc"
    claimed_effect: float = 0.0
    source: str = ""
    lower_is_better: bool = False
    relative: bool = False
    scale: float = 100.0
    kind: str = "gain"
    margin: float = 1.0
    unit: str = "pp"
    scorecard: bool = True


@dataclass(frozen=True)
class TrainedCheck:
    """The baseline must be trained, not truncated.

    Holds when, averaged over the baseline's final runs, validation accuracy rose by less than
    ``max_gain`` over the last ``window`` fraction of the budget, and ends above ``min_accuracy``.
    Runs report their validation curve as ``metrics["curve"] = [[step, val_acc], ...]``.
    """
    arm: str
    window: float = 0.2
    max_gain: float = 0.01
    min_accuracy: float = 0.2
    applies_to: str = None       # only comparisons whose arm names start with this prefix (None: all)

    def describe(self):
        return (f"the {self.arm} arm's validation accuracy rises by less than {100 * self.max_gain:g} pp over the "
                f"last {100 * self.window:g} % of the iterations (mean over seeds) and ends above "
                f"{100 * self.min_accuracy:g} %")


@dataclass
class RunContext:
    """What a run function gets besides its settings and seed.

    ``train`` and ``val`` are :class:`~numpycnn.datasets.Dataset` s; ``test`` is None except in the
    final stage; ``data`` is the whole :class:`~numpycnn.datasets.DataSplits` (shapes, classes).
    """
    stage: str
    data: object
    train: object
    val: object
    test: object
    quick: bool = False


@dataclass(frozen=True)
class RunSpec:
    """One run: the function, the stage, the arm, the full setting, the seed and the data."""
    fn: object
    stage: str
    arm: str
    settings: dict
    seed: int
    data: DataSpec
    quick: bool = False

    def key(self):
        """A stable identifier: the same spec always maps to the same stored file."""
        blob = json.dumps({"fn": f"{self.fn.__module__}.{self.fn.__qualname__}", "stage": self.stage,
                           "arm": self.arm, "settings": self.settings, "seed": self.seed,
                           "data": asdict(self.data), "quick": self.quick}, sort_keys=True, default=str)
        return hashlib.sha1(blob.encode()).hexdigest()[:16]


# ----------------------------------------------------------------------------------------------
# running: a pool of single-threaded workers, one JSON file per finished run
# ----------------------------------------------------------------------------------------------
def _threadpoolctl():
    try:
        import threadpoolctl
    except ImportError:
        raise RuntimeError("compare: the experiments pin each worker to one BLAS thread with threadpoolctl, "
                           "which is not installed; run `pip install threadpoolctl` (or "
                           "`pip install -e \".[experiments]\"`)") from None
    return threadpoolctl


def _pin_one_thread():
    """Worker initialiser: one BLAS thread and one numpycnn kernel thread per worker process, for its life."""
    _threadpoolctl().threadpool_limits(1)
    threads.set_threads(1)


@lru_cache(maxsize=4)
def load_data(spec):
    """The :class:`~numpycnn.datasets.DataSplits` of a :class:`DataSpec` (cached per process).

    Raises
    ------
    DatasetNotFoundError — with how to get the data; experiments never fall back to other data.
    """
    val_fraction = spec.val / spec.train
    return load_dataset(spec.name, data_dir=spec.data_dir, seed=spec.seed, train_limit=spec.train,
                        test_limit=spec.test, val_fraction=val_fraction)


def execute(spec):
    """Run one :class:`RunSpec` in this process; returns ``{"metrics": ..., "seconds": ...}``."""
    data = load_data(spec.data)
    ctx = RunContext(stage=spec.stage, data=data, train=data.train, val=data.val,
                     test=data.test if spec.stage == "final" else None, quick=spec.quick)
    t0 = time.perf_counter()
    metrics = spec.fn(dict(spec.settings), spec.seed, ctx)
    return {"metrics": metrics, "seconds": time.perf_counter() - t0}


class RunStore:
    """Finished runs as JSON files ``<root>/<stage>/<arm>/<key>.json`` (written atomically).

    A run file that cannot be read back as the run it stands for — truncated or otherwise not JSON, or
    JSON of the wrong shape (not an object with ``metrics`` and ``seconds``, or the record of another
    stage, arm, setting, seed or data) — is **damaged**: :meth:`get` names it on stderr, moves it aside to
    ``<key>.json.damaged-<YYYYmmdd-HHMMSS>`` in the same folder (kept for inspection; no ``*.json`` pattern
    of the store matches it) and returns None, so the run is computed again. Runs are deterministic, so the
    comparison comes out as if the file had never been damaged.
    """

    def __init__(self, root):
        self.root = root
        self.damaged = []             # [(damaged path, where it was moved, what was wrong)]

    def path(self, spec):
        return os.path.join(self.root, spec.stage, spec.arm, f"{spec.key()}.json")

    def get(self, spec):
        """The stored record of ``spec``; None if it was never run or its file was damaged (then moved aside)."""
        path = self.path(spec)
        if not os.path.exists(path):
            return None
        try:
            with open(path, encoding="utf-8") as f:
                record = json.load(f)
        except ValueError as e:        # truncated, not JSON, not UTF-8 (JSONDecodeError, UnicodeDecodeError)
            problem = f"not readable as JSON: {e}"
        else:
            problem = self.mismatch(record, spec)
        if problem is None:
            return record
        kept = self.set_aside(path)
        self.damaged.append((path, kept, problem))
        print(f"warning: run file {path} is damaged ({problem}); moved it to {kept} and running that run again",
              file=sys.stderr, flush=True)
        return None

    @staticmethod
    def mismatch(record, spec):
        """What is wrong with a stored ``record`` for ``spec`` (a short phrase), or None if it is that run's."""
        if not isinstance(record, dict):
            return f"a JSON {type(record).__name__}, not a run record (an object)"
        if not isinstance(record.get("metrics"), dict):
            return "no 'metrics' object"
        seconds = record.get("seconds")
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
            return "no 'seconds' number"
        expected = json.loads(json.dumps({"stage": spec.stage, "arm": spec.arm, "settings": spec.settings,
                                          "seed": spec.seed, "data": asdict(spec.data), "quick": spec.quick},
                                         default=_json_default))
        wrong = [k for k, v in expected.items() if record.get(k) != v]
        if wrong:
            return f"the record of another run: its {', '.join(wrong)} differ from the run this file name stands for"
        return None

    @staticmethod
    def set_aside(path):
        """Move a damaged run file to ``<path>.damaged-<timestamp>`` (a free name); returns the new path."""
        stamp = time.strftime("%Y%m%d-%H%M%S")
        kept, n = f"{path}.damaged-{stamp}", 1
        while os.path.exists(kept):
            n += 1
            kept = f"{path}.damaged-{stamp}-{n}"
        os.replace(path, kept)
        return kept

    def put(self, spec, result):
        record = {"stage": spec.stage, "arm": spec.arm, "settings": spec.settings, "seed": spec.seed,
                  "data": asdict(spec.data), "quick": spec.quick, **result}
        path = self.path(spec)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        atomic_write_bytes(path, (json.dumps(record, indent=1, sort_keys=True, default=_json_default) + "\n")
                           .encode("utf-8"))
        return record

    def clear(self):
        for path in glob.glob(os.path.join(self.root, "*", "*", "*.json")):
            os.remove(path)


class Runner:
    """Run many :class:`RunSpec` s: reuse stored results, run the rest on ``workers`` processes.

    Parameters
    ----------
    store : RunStore
    workers : int >= 1 — 1 runs in this process (still pinned to one BLAS thread)
    progress : bool — one tqdm bar over runs
    """

    def __init__(self, store, workers=2, progress=True):
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise ValueError(f"--workers must be a positive integer; got {workers!r}")
        self.store, self.workers, self.progress = store, workers, progress
        self.reused = self.ran = 0
        self.busy_seconds = 0.0

    def map(self, specs, desc="runs", count=True):
        """Results (stored records) of ``specs``, in the same order (``count=False``: a re-read of runs
        this runner already has, not counted as reused)."""
        records = [self.store.get(s) for s in specs]
        todo = [i for i, r in enumerate(records) if r is None]
        self.reused += (len(specs) - len(todo)) if count else 0
        if not todo:
            return records
        bar = None
        if self.progress:
            from tqdm.auto import tqdm
            bar = tqdm(total=len(specs), initial=len(specs) - len(todo), desc=desc, unit="run", dynamic_ncols=True)
        try:
            if self.workers == 1:
                with _threadpoolctl().threadpool_limits(1), threads.limit(1):
                    for i in todo:
                        records[i] = self._finish(specs[i], execute(specs[i]), bar)
            else:
                with ProcessPoolExecutor(max_workers=min(self.workers, len(todo)), mp_context=_pool_context(),
                                         initializer=_pin_one_thread) as pool:
                    futures = {pool.submit(execute, specs[i]): i for i in todo}
                    for fut in as_completed(futures):
                        i = futures[fut]
                        records[i] = self._finish(specs[i], fut.result(), bar)
        finally:
            if bar is not None:
                bar.close()
        return records

    def _finish(self, spec, result, bar):
        self.ran += 1
        self.busy_seconds += result["seconds"]
        if bar is not None:
            bar.update(1)
        return self.store.put(spec, result)


def _pool_context():
    # fork shares the loaded data with the workers; where fork is unavailable (Windows), spawn
    try:
        return get_context("fork")
    except ValueError:
        return get_context("spawn")


# ----------------------------------------------------------------------------------------------
# statistics and verdicts
# ----------------------------------------------------------------------------------------------
def confidence_interval(diffs, confidence=0.95):
    """Mean, sample standard deviation and Student-t confidence interval of paired differences.

    Returns ``(mean, std, (lo, hi))``; with fewer than two values the interval is ``(nan, nan)``.
    """
    d = np.asarray(diffs, dtype=np.float64)
    if d.size == 0:
        return math.nan, math.nan, (math.nan, math.nan)
    mean = float(d.mean())
    if d.size < 2:
        return mean, math.nan, (math.nan, math.nan)
    std = float(d.std(ddof=1))
    half = float(scipy.stats.t.ppf(0.5 + confidence / 2, d.size - 1) * std / math.sqrt(d.size))
    return mean, std, (mean - half, mean + half)


def verdict(ci, claimed_effect, kind="gain", margin=1.0):
    """The protocol's verdict on a claim from the 95 % CI of the oriented paired differences.

    ``gain``: ``supported`` if the CI lies entirely above 0; ``contradicted`` if it reaches no higher
    than the claimed effect (and does not lie above 0); otherwise ``inconclusive``.
    ``equivalence`` (the claim is "no difference"): ``supported`` if the CI lies within
    ``[−margin, margin]``, ``contradicted`` if it lies entirely outside, otherwise ``inconclusive``.
    """
    lo, hi = ci
    if math.isnan(lo) or math.isnan(hi):
        return "inconclusive"
    if kind == "equivalence":
        if -margin <= lo and hi <= margin:
            return "supported"
        if lo > margin or hi < -margin:
            return "contradicted"
        return "inconclusive"
    if lo > 0:
        return "supported"
    if hi < claimed_effect:
        return "contradicted"
    return "inconclusive"


def compare(claim, arm_values, base_values):
    """The comparison record of a :class:`Claim` from per-seed values of the arm and the baseline."""
    a = np.asarray(arm_values, dtype=np.float64)
    b = np.asarray(base_values, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"compare {claim.arm} vs {claim.baseline}: {a.size} and {b.size} seeds are not paired")
    d = (b - a) if claim.lower_is_better else (a - b)
    if claim.relative:
        d = d / b
    d = d * claim.scale
    mean, std, ci = confidence_interval(d)
    v = verdict(ci, claim.claimed_effect, claim.kind, claim.margin)
    consistent = (not math.isnan(ci[0])) and ci[0] <= claim.claimed_effect <= ci[1]
    return {"claim": claim.claim, "arm": claim.arm, "baseline": claim.baseline, "metric": claim.metric,
            "unit": claim.unit, "relative": claim.relative, "lower_is_better": claim.lower_is_better,
            "diffs_per_seed": [float(x) for x in d], "mean_diff": mean, "std_diff": std, "ci95": list(ci),
            "claimed_effect": claim.claimed_effect, "source": claim.source, "kind": claim.kind,
            "margin": claim.margin if claim.kind == "equivalence" else None,
            "verdict": v, "size_consistent": bool(consistent), "scorecard": claim.scorecard}


def trained_check(check, final_records):
    """Evaluate a :class:`TrainedCheck` on the baseline's final runs; returns a JSON-able dict."""
    gains, finals = [], []
    for r in final_records:
        curve = np.asarray(r["metrics"]["curve"], dtype=np.float64)
        steps, acc = curve[:, 0], curve[:, 1]
        start = steps[-1] * (1 - check.window)
        i = int(np.searchsorted(steps, start))
        gains.append(float(acc[-1] - acc[min(i, len(acc) - 1)]))
        finals.append(float(acc[-1]))
    gain, final = float(np.mean(gains)), float(np.mean(finals))
    held = gain < check.max_gain and final > check.min_accuracy
    return {"criterion": check.describe(), "arm": check.arm, "gain_over_window_pp": 100 * gain,
            "final_val_acc": 100 * final, "held": bool(held), "applies_to": check.applies_to}


def withhold_verdicts(comparisons, checks):
    """Replace the verdict of every comparison a failed trained check applies to (the baseline is not trained)."""
    for check in checks:
        if check is None or check["held"]:
            continue
        prefix = check.get("applies_to")
        for c in comparisons:
            if prefix is None or c["arm"].startswith(prefix):
                c["verdict"] = "no verdict: the baseline is not trained"
    return comparisons


# ----------------------------------------------------------------------------------------------
# the whole protocol: tune every arm on validation, then the paired final runs
# ----------------------------------------------------------------------------------------------
@dataclass
class Experiment:
    """An experiment: data, arms, claims, a run function and the protocol's settings.

    ``seeds`` final seeds are ``0 .. seeds−1``; tuning uses seeds ``1000, 1001, …`` (fresh: the final
    comparison never reuses a tuning run). ``select`` is the metric maximised when tuning.
    """
    name: str
    title: str
    run: object
    data: DataSpec
    arms: list
    claims: list
    trained: TrainedCheck = None
    seeds: int = 5
    tune_seeds: int = 2
    select: str = "val_acc"
    budget: dict = field(default_factory=dict)
    quick: bool = False

    def arm(self, name):
        for a in self.arms:
            if a.name == name:
                return a
        raise KeyError(f"{self.name}: no arm {name!r}; arms are {[a.name for a in self.arms]}")

    def specs(self, stage, arm, settings, seeds):
        return [RunSpec(self.run, stage, arm, settings, s, self.data, self.quick) for s in seeds]


TUNE_SEED0 = 1000


def tune(exp, runner):
    """Run every arm's grid on the tuning seeds; returns ``{arm: {"selected": setting, "grid": [...]}}``."""
    tune_seeds = [TUNE_SEED0 + i for i in range(exp.tune_seeds)]
    jobs = []
    for arm in exp.arms:
        if arm.tune_like is None and len(arm.grid_points()) > 1:
            for point in arm.grid_points():
                jobs.append((arm.name, point))
    specs = [s for name, point in jobs for s in exp.specs("tune", name, point, tune_seeds)]
    records = runner.map(specs, desc=f"{exp.name}: tuning")
    by_point = {}
    for (name, point), i in zip(jobs, range(0, len(records), len(tune_seeds))):
        scores = [r["metrics"][exp.select] for r in records[i:i + len(tune_seeds)]]
        by_point.setdefault(name, []).append({"settings": point, "scores": scores, "mean": float(np.mean(scores))})
    out = {}
    for arm in exp.arms:
        if arm.tune_like is None:
            grid = by_point.get(arm.name, [])
            best = max(grid, key=lambda g: g["mean"])["settings"] if grid else arm.grid_points()[0]
            out[arm.name] = {"selected": best, "grid": grid}
    for arm in exp.arms:
        if arm.tune_like is not None:
            src = out[arm.tune_like]["selected"]
            out[arm.name] = {"selected": {**src, **arm.fixed}, "grid": [], "tuned_like": arm.tune_like}
    return out


def final(exp, runner, tuning):
    """The paired final runs of every arm's selected setting; returns ``{arm: [record per seed]}``."""
    seeds = list(range(exp.seeds))
    specs, owners = [], []
    for arm in exp.arms:
        for s in exp.specs("final", arm.name, tuning[arm.name]["selected"], seeds):
            specs.append(s)
            owners.append(arm.name)
    records = runner.map(specs, desc=f"{exp.name}: final runs")
    out = {a.name: [] for a in exp.arms}
    for name, r in zip(owners, records):
        out[name].append(r)
    return out


def summarize(exp, tuning, finals, metric="test_acc"):
    """The ``arms``, ``comparisons`` and ``trained_check`` sections of the experiment's JSON."""
    arms = {}
    for a in exp.arms:
        per_seed = [r["metrics"][metric] for r in finals[a.name]]
        v = 100 * np.asarray(per_seed, dtype=np.float64)
        arms[a.name] = {"label": a.label or a.name, "settings": tuning[a.name]["selected"],
                        "tuning": tuning[a.name]["grid"], "tuned_like": tuning[a.name].get("tuned_like"),
                        "per_seed": [float(x) for x in v], "mean": float(v.mean()),
                        "std": float(v.std(ddof=1)) if v.size > 1 else math.nan,
                        "seconds_per_run": float(np.mean([r["seconds"] for r in finals[a.name]]))}
    comparisons = [compare(c, [r["metrics"][c.metric] for r in finals[c.arm]],
                           [r["metrics"][c.metric] for r in finals[c.baseline]]) for c in exp.claims]
    check = trained_check(exp.trained, finals[exp.trained.arm]) if exp.trained else None
    withhold_verdicts(comparisons, [check])
    return arms, comparisons, check


def run_protocol(exp, runner):
    """Tune, run the final seeds, summarise: ``(tuning, finals, arms, comparisons, trained_check)``."""
    tuning = tune(exp, runner)
    finals = final(exp, runner, tuning)
    arms, comparisons, check = summarize(exp, tuning, finals)
    return tuning, finals, arms, comparisons, check


# ----------------------------------------------------------------------------------------------
# provenance, the JSON, the tables
# ----------------------------------------------------------------------------------------------
def git_commit():
    """``HEAD``'s hash, with ``+dirty`` when the package has uncommitted changes; None outside git."""
    root = str(REPO_ROOT)
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                              timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "numpycnn"], cwd=root, capture_output=True,
                               text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return (head + ("+dirty" if dirty else "")) if head else None


def machine():
    """CPU model, cores, Python, NumPy and its BLAS, for the record."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    blas = []
    try:
        blas = [f"{i.get('internal_api')} {i.get('version')} ({i.get('threading_layer', '?')})"
                for i in _threadpoolctl().threadpool_info() if i.get("user_api") == "blas"]
    except RuntimeError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(), "numpy": np.__version__,
            "blas": sorted(set(blas))}


def _json_default(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON-able: {type(o).__name__}")


def dumps(obj):
    """JSON text with NaN written as null (the files are read by other tools too)."""
    return json.dumps(_nan_to_none(obj), indent=1, sort_keys=True, default=_json_default, allow_nan=False) + "\n"


def _nan_to_none(o):
    if isinstance(o, float) and not math.isfinite(o):
        return None
    if isinstance(o, dict):
        return {k: _nan_to_none(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_nan_to_none(v) for v in o]
    if isinstance(o, np.generic):
        return _nan_to_none(o.item())
    return o


def write_results(out, technique, record, markdown):
    """Write ``<out>/<technique>.json`` and ``.md`` atomically and refresh ``<out>/scorecard.md``."""
    os.makedirs(out, exist_ok=True)
    atomic_write_bytes(os.path.join(out, f"{technique}.json"), dumps(record).encode("utf-8"))
    atomic_write_bytes(os.path.join(out, f"{technique}.md"), (markdown.rstrip("\n") + "\n").encode("utf-8"))
    write_scorecard(out)


def record(exp, command, t0, runner, arms, comparisons, check, **extra):
    """The experiment's JSON record (the schema of the protocol issue), plus ``extra`` sections."""
    return {"technique": exp.name, "title": exp.title, "command": command, "commit": git_commit(),
            "machine": machine(), "wall_minutes": (time.perf_counter() - t0) / 60,
            "runs": {"ran": runner.ran, "reused": runner.reused, "workers": runner.workers,
                     "run_minutes": runner.busy_seconds / 60},
            "data": {**asdict(exp.data), "description": exp.data.describe()},
            "budget": exp.budget, "seeds": exp.seeds, "tune_seeds": exp.tune_seeds, "select": exp.select,
            "quick": exp.quick, "arms": arms, "comparisons": comparisons, "trained_check": check, **extra}


def fmt_ci(c):
    """``+1.23 [−0.40, +2.86]`` in the comparison's unit."""
    unit = "%" if c["relative"] else (" pp" if c["unit"] == "pp" else f" {c['unit']}")
    lo, hi = c["ci95"]
    if lo is None or (isinstance(lo, float) and math.isnan(lo)):
        return f"{c['mean_diff']:+.2f}{unit} (one seed: no interval)"
    return f"{c['mean_diff']:+.2f}{unit} [{lo:+.2f}, {hi:+.2f}]"


def fmt_claimed(c):
    unit = "%" if c["relative"] else (" pp" if c["unit"] == "pp" else f" {c['unit']}")
    if c["kind"] == "equivalence":
        return f"no difference (within ±{c['margin']:g}{unit})"
    return f"{c['claimed_effect']:+g}{unit}"


HIDDEN_SETTINGS = ("steps", "target", "evals", "optimizer")


def arms_table(arms, extra_columns=(), hide=HIDDEN_SETTINGS):
    """Markdown rows: arm, selected settings, test accuracy mean ± std, per seed (+ extra columns).

    ``extra_columns``: ``(title, fn(arm name) -> cell text)`` pairs; ``hide``: settings keys not shown
    (those every arm shares, stated in the caption instead)."""
    head = "| arm | selected settings (on validation) | test acc. % (mean ± std) | per seed |"
    sep = "|---|---|---|---|"
    for title, _ in extra_columns:
        head += f" {title} |"
        sep += "---|"
    lines = [head, sep]
    for name, a in arms.items():
        settings = ", ".join(f"{k} = {v}" for k, v in a["settings"].items() if k not in hide) or "–"
        if a.get("tuned_like"):
            settings += f" (as {a['tuned_like']})"
        std = "–" if a["std"] is None or (isinstance(a["std"], float) and math.isnan(a["std"])) else f"{a['std']:.2f}"
        row = (f"| {a['label']} | {settings} | {a['mean']:.2f} ± {std} | "
               f"{' '.join(f'{v:.2f}' for v in a['per_seed'])} |")
        for _, fn in extra_columns:
            row += f" {fn(name)} |"
        lines.append(row)
    return "\n".join(lines)


def comparisons_table(comparisons):
    lines = ["| claim | arm − baseline | published effect (source) | our effect, mean [95 % CI] | verdict |",
             "|---|---|---|---|---|"]
    for c in comparisons:
        lines.append(f"| {c['claim']} | {c['arm']} − {c['baseline']} | {fmt_claimed(c)} ({c['source']}) | "
                     f"{fmt_ci(c)} | **{c['verdict']}** |")
    return "\n".join(lines)


def trained_line(check):
    if check is None:
        return ""
    state = "held" if check["held"] else "**did not hold — no verdict is given**"
    return (f"Trained check ({check['criterion']}): {state} (gain over the window "
            f"{check['gain_over_window_pp']:+.2f} pp, final validation accuracy {check['final_val_acc']:.2f} %).")


def provenance_line(rec):
    m = rec["machine"]
    commit = rec["commit"] or "unknown"
    commit = commit[:12] + (" with uncommitted changes" if commit.endswith("+dirty") else "")
    return (f"Command: `{rec['command']}` · commit `{commit}` · "
            f"{rec['wall_minutes']:.1f} min wall on {m['cpu']} ({m['cores']} cores, {rec['runs']['workers']} "
            f"worker(s); {rec['runs']['ran']} runs, {rec['runs']['reused']} reused from an earlier interrupted run).")


# ----------------------------------------------------------------------------------------------
# the README scorecard: one row per claim, generated from figures/*.json
# ----------------------------------------------------------------------------------------------
TECHNIQUE_LETTERS = {"branch_supervision": "A", "gradient_direction": "B", "erdos_renyi": "C",
                     "collaborative": "D", "orthogonal_reinit": "E"}


def scorecard(records):
    """Markdown scorecard from the experiments' JSON records (technique order A–E)."""
    lines = ["| technique | claim | published effect (source) | our effect, mean [95 % CI] | verdict | command |",
             "|---|---|---|---|---|---|"]
    order = sorted(records, key=lambda r: TECHNIQUE_LETTERS.get(r["technique"], "Z"))
    for rec in order:
        letter = TECHNIQUE_LETTERS.get(rec["technique"], "?")
        for c in rec["comparisons"]:
            if not c.get("scorecard", True):
                continue
            lines.append(f"| {letter} | {c['claim']} | {fmt_claimed(c)} ({c['source']}) | {fmt_ci(c)} | "
                         f"**{c['verdict']}** | `{rec['command']}` |")
    return "\n".join(lines)


def write_scorecard(out):
    """Write ``<out>/scorecard.md`` from every ``<out>/<technique>.json`` of a full (not --quick) run."""
    records = []
    for name in TECHNIQUE_LETTERS:
        path = os.path.join(out, f"{name}.json")
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                rec = json.load(f)
            if rec.get("comparisons") is not None:
                records.append(rec)
    text = ("Every row is a paired comparison on ≥ 5 seeds after equal tuning on validation; the verdict comes from "
            "the 95 % confidence interval (`supported`: entirely above 0; `contradicted`: no gain shown and the "
            "claimed size ruled out; otherwise `inconclusive`). Generated from `figures/<technique>.json` by "
            "`python -m numpycnn compare NAME`.\n\n" + scorecard(records))
    if any(r.get("quick") for r in records):
        text += "\n\n(--quick runs: tiny data and budgets, for testing the pipeline only.)"
    atomic_write_bytes(os.path.join(out, "scorecard.md"), (text + "\n").encode("utf-8"))
    return records


# ----------------------------------------------------------------------------------------------
# the command line every experiment shares
# ----------------------------------------------------------------------------------------------
#: where the JSON, the table and the figures go unless ``--out`` says otherwise (``--quick`` never overwrites the
#: committed figures: it writes to ``figures-quick/``, as ``python -m numpycnn figures --quick`` does)
DEFAULT_OUT, DEFAULT_QUICK_OUT = "figures", "figures-quick"


def add_arguments(p, seeds=5):
    """The options of every ``compare`` experiment."""
    p.add_argument("--quick", action="store_true", help="tiny data and budgets (seconds to a minute; for tests/CI)")
    p.add_argument("--seeds", type=int, default=None, help=f"final paired seeds (default {seeds}; --quick 2)")
    p.add_argument("--workers", type=int, default=2, help="worker processes, one BLAS thread each (default 2)")
    p.add_argument("--out", default=None, help=f"folder for the JSON, table and figures (default {DEFAULT_OUT}/, "
                                               f"or {DEFAULT_QUICK_OUT}/ with --quick)")
    p.add_argument("--runs-dir", default=DEFAULT_RUNS_DIR,
                   help=f"where finished runs are stored, so an interrupted compare resumes (default {DEFAULT_RUNS_DIR})")
    p.add_argument("--fresh", action="store_true", help="ignore stored runs and run everything again")
    p.add_argument("--data-dir", default=None, help="folder with Fashion-MNIST (else $NUMPYCNN_DATA, then the "
                                                    "Debian package's folder)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def output_options(argv, name):
    """``(out, runs_dir)`` as the experiment ``name`` will use them with the command line ``argv`` (its own options
    are skipped), so the ``compare`` command can check both folders before the experiment runs."""
    p = argparse.ArgumentParser(prog=f"python -m numpycnn compare {name}", add_help=False)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--out", default=None)
    p.add_argument("--runs-dir", default=DEFAULT_RUNS_DIR)
    args, _ = p.parse_known_args(argv)
    return args.out or (DEFAULT_QUICK_OUT if args.quick else DEFAULT_OUT), args.runs_dir


def check_positive(args, name, *options):
    """Each of ``options`` (attribute names such as ``"steps"``) that was given must be an integer >= 1."""
    for option in options:
        value = getattr(args, option)
        if value is not None:
            integer(value, "--" + option.replace("_", "-"), f"compare {name}")


def check_fraction(args, name, option):
    """The option ``option`` (an attribute name), if given, must be a number in (0, 1]."""
    value = getattr(args, option)
    if value is not None:
        number(value, "--" + option.replace("_", "-"), f"compare {name}", low=0, high=1, low_open=True,
               meaning="a validation accuracy")


def check_args(args, name, seeds=5):
    """Validate the shared options (and fill in the defaults of ``--seeds`` and ``--out``); returns the runner."""
    if args.seeds is None:
        args.seeds = 2 if args.quick else seeds
    if isinstance(args.seeds, bool) or args.seeds < 2:
        raise ValueError(f"--seeds must be an integer >= 2 (a confidence interval needs two paired seeds); "
                         f"got {args.seeds}")
    if args.workers < 1:
        raise ValueError(f"--workers must be a positive integer; got {args.workers}")
    if args.out is None:
        args.out = DEFAULT_QUICK_OUT if args.quick else DEFAULT_OUT
    store = RunStore(os.path.join(args.runs_dir, name + ("-quick" if args.quick else "")))
    if args.fresh:
        store.clear()
    return Runner(store, workers=args.workers, progress=not args.no_progress)


def command_line(name, argv=None):
    """The command that reproduces this run, for the record (output options dropped)."""
    argv = sys.argv[1:] if argv is None else argv
    keep, skip = [], False
    for a in argv:
        if skip:
            skip = False
            continue
        if a in ("--out", "--runs-dir", "--data-dir", "--workers"):
            skip = True
            continue
        if a in ("--no-progress", "--fresh") or a.startswith(("--out=", "--runs-dir=", "--data-dir=", "--workers=")):
            continue
        keep.append(a)
    return " ".join(["python -m numpycnn compare", name] + keep)


def require_data(spec):
    """Load the experiment's data in the parent (so forked workers share it); a clear error if it is missing."""
    try:
        return load_data(spec)
    except DatasetNotFoundError as e:
        raise DatasetNotFoundError(f"compare needs {spec.name}: {e}") from None


def eval_curve(history):
    """``[[step, val_acc], ...]`` from a Trainer history's periodic evaluations."""
    return [[e["step"], e["val_acc"]] for e in history["evals"]]


def fit_and_score(trainer, ctx, steps, evals=20):
    """Train ``trainer`` for ``steps`` iterations on ``ctx.train``, evaluating validation ``evals`` times.

    Returns the metrics every experiment reports: ``val_acc`` (at the end), ``curve``
    (``[[step, val_acc], ...]``), ``curve_seconds`` (training seconds at each evaluation),
    ``train_loss`` (per epoch) and, in the final stage only, ``test_acc`` (read once, at the end).
    """
    history = trainer.fit(ctx.train, ctx.val, epochs=10 ** 9, max_steps=steps, eval_every=max(1, steps // evals))
    out = {"val_acc": history["evals"][-1]["val_acc"], "curve": eval_curve(history),
           "curve_seconds": [e["seconds"] for e in history["evals"]], "train_loss": list(history["train_loss"]),
           "steps": trainer.step}
    if ctx.test is not None:
        out["test_acc"] = trainer.evaluate(ctx.test)["accuracy"]
    return out


def first_reaching(curve, target, budget):
    """Iterations until validation accuracy first reaches ``target``: ``(steps, reached)``; ``budget`` if never
    (censored: an arm that never reaches the target is counted at the whole budget)."""
    for step, acc in curve:
        if acc >= target:
            return int(step), True
    return int(budget), False


__all__ = ["Arm", "Claim", "DataSpec", "Experiment", "RunContext", "RunSpec", "RunStore", "Runner", "TrainedCheck",
           "compare", "confidence_interval", "execute", "final", "record", "run_protocol", "scorecard", "summarize",
           "trained_check", "tune", "verdict", "write_results", "write_scorecard"]
if __name__ == "__main__":   # pragma: no cover
    sys.exit("run an experiment with: python -m numpycnn compare NAME")
