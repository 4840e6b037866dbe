"""What an experiment declares: its data, arms, claims and trained check; a run and what it is given."""
import hashlib
import json
from dataclasses import asdict, dataclass, field
from itertools import product

from ....validate import choice
from .provenance import code_hash
from .stats import CONVERSIONS

STAGES = ("probe", "tune", "final")
#: the first seed of each stage: final seeds are ``0, 1, …``, tuning seeds ``1000, 1001, …`` and probe seeds
#: ``2000, 2001, …`` — three disjoint sets, so no final run repeats a run that chose a setting or a regime
FINAL_SEED0, TUNE_SEED0, PROBE_SEED0 = 0, 1000, 2000
#: the least final seeds of the primary claim's two arms, and of every other arm
PRIMARY_SEEDS, SEEDS = 8, 5


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
    grid : dict — settings tuned on validation, e.g. ``{"lr": (1e-3, 3e-3, 1e-2)}``; the cartesian product is
        searched. Every tuned arm of an experiment has a grid of the same size (equal tuning)
    extend : tuple of str — log-spaced grid keys extended once by one step when the best setting sits at
        their edge (default: the learning rate)
    label : str — a readable description for tables (default: the name)
    """
    name: str
    fixed: dict = field(default_factory=dict)
    grid: dict = field(default_factory=dict)
    extend: tuple = ("lr",)
    label: str = ""

    def grid_points(self):
        """Every setting of the grid (``[fixed]`` when there is no grid), in declaration order."""
        if not self.grid:
            return [dict(self.fixed)]
        keys = list(self.grid)
        return [{**self.fixed, **dict(zip(keys, values))} for values in product(*(self.grid[k] for k in keys))]


@dataclass(frozen=True)
class Claim:
    """A published claim turned into a paired comparison (the rules: :mod:`.stats`).

    Parameters
    ----------
    claim : str — the claim in words ("… in this regime" is added where a verdict is shown)
    arm, baseline : str — arm names
    metric : str — a key of the final runs' metrics (e.g. ``"test_acc"``)
    published : float — the published effect in its own unit: a fraction for ``"relative error
        reduction"`` and ``"fraction of gap closed"`` (0.051 for 5.1 %), per cent for a relative claim, the
        display unit for a threshold of ours; None for a control
    conversion : str — how ``published`` becomes this regime's effect (:data:`.stats.CONVERSIONS`)
    reference : str, optional — the reference arm (e.g. ``dense``): the headroom is its distance from the
        baseline, and ``"fraction of gap closed"`` is a fraction of that distance
    source : str — where the published number comes from
    primary : bool — the technique's one primary claim, declared before any run (tested at 5 % on ≥ 8 seeds;
        every other comparison is judged after Holm's adjustment)
    kind : {"gain", "equivalence", "control"} — a gain in the claimed direction; "no difference within
        ``± margin``"; or a control row (a difference that would explain a result, claimed effect 0)
    lower_is_better : bool — orient ``baseline − arm`` (iterations, seconds)
    relative : bool — divide each difference by the baseline's value (e.g. "30 % less time")
    scale : float — display scale (100: a fraction shown as percentage points or per cent)
    margin : float — the equivalence margin, in display units
    unit : str — display unit of the difference (``"pp"`` for accuracies)
    quantum : str, optional — the name of the metric holding the measure's grid step (the evaluation spacing of
        an iterations-to-target measure), checked against a tenth of the baseline's value
    scorecard : bool — may appear on the README scorecard (controls and analysis rows never do)
    """
    claim: str
    arm: str
    baseline: str
    metric: str = "test_acc"
    published: float = None
    conversion: str = None
    reference: str = None
    source: str = ""
    primary: bool = False
    kind: str = "gain"
    lower_is_better: bool = False
    relative: bool = False
    scale: float = 100.0
    margin: float = 1.0
    unit: str = "pp"
    quantum: str = None
    scorecard: bool = True

    def __post_init__(self):
        choice(self.kind, "kind", f"Claim {self.claim!r}", ("gain", "equivalence", "control"))
        if self.kind == "gain":
            if self.published is None or self.conversion is None:
                raise ValueError(f"Claim {self.claim!r}: a gain claim needs its published effect and a conversion "
                                 f"(one of {list(CONVERSIONS)})")
            choice(self.conversion, "conversion", f"Claim {self.claim!r}", tuple(CONVERSIONS))
        if self.conversion == "fraction of gap closed" and self.reference is None:
            raise ValueError(f"Claim {self.claim!r}: 'fraction of gap closed' needs a reference arm")
        if self.kind == "control" and self.primary:
            raise ValueError(f"Claim {self.claim!r}: a control row cannot be the primary claim")


@dataclass(frozen=True)
class TrainedCheck:
    """Every arm must be trained, not truncated: flat over the end of its budget.

    For each arm and final seed, the least-squares slope of validation accuracy over the last ``window``
    fraction of its evaluations (pp per 1,000 iterations); the check *holds* when the 95 % CI of those slopes
    across seeds ends below ``threshold``. Runs report ``metrics["curve"] = [[step, val_acc], ...]``.

    ``span = "iterations"`` takes the window over the last ``window`` fraction of the *iterations* instead
    (the evaluations at step ≥ (1 − window)·last step): the same for evenly spaced evaluations, and the one
    that means "the end of the budget" when validation is also read densely early (a time-to-target).
    """
    threshold: float = 1.0
    window: float = 0.4
    span: str = "evaluations"

    def __post_init__(self):
        choice(self.span, "span", "TrainedCheck", ("evaluations", "iterations"))

    def describe(self):
        return (f"the slope of validation accuracy over the last {100 * self.window:g} % of the {self.span}, "
                f"95 % CI across seeds, ends below {self.threshold:g} pp per 1,000 iterations")


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
        """A stable identifier: the same spec, computed by the same code (:func:`~.provenance.code_hash`), always
        maps to the same stored file — and a change of the code to another, so a run is never reused by code
        that did not compute it."""
        blob = json.dumps({"fn": f"{self.fn.__module__}.{self.fn.__qualname__}", "stage": self.stage,
                           "arm": self.arm, "settings": self.settings, "seed": self.seed,
                           "data": asdict(self.data), "quick": self.quick, "code": code_hash()},
                          sort_keys=True, default=str)
        return hashlib.sha1(blob.encode()).hexdigest()[:16]


@dataclass
class Experiment:
    """An experiment: data, arms, claims, a run function and the protocol's settings.

    Seeds (:meth:`seed_sets`): every arm runs the final seeds ``0 .. seeds−1``; the primary claim's arm and
    baseline run ``0 .. primary_seeds−1`` (≥ 8); tuning uses ``tune_seeds`` seeds from 1000 and a probe its
    seeds from 2000 — three disjoint sets. ``claims`` is a list of :class:`Claim`, or a function
    ``claims(tuning) -> list`` when a claim's baseline is chosen from the tuning runs (never from the final
    runs). ``select`` is the metric maximised when tuning. ``probe_seeds``: how many seeds the experiment's
    own probe used (recorded). ``tune_metrics``: metrics of the tuning runs recorded per grid point besides the
    selection score (``grid[i]["metrics"][name]``, one value per tuning seed), e.g. a time to target from which
    ``claims(tuning)`` chooses a baseline.
    """
    name: str
    title: str
    run: object
    data: DataSpec
    arms: list
    claims: object
    trained: TrainedCheck = None
    seeds: int = SEEDS
    primary_seeds: int = PRIMARY_SEEDS
    tune_seeds: int = 2
    probe_seeds: int = 0
    select: str = "val_acc"
    tune_metrics: tuple = ()
    budget: dict = field(default_factory=dict)
    quick: bool = False

    def arm(self, name):
        for a in self.arms:
            if a.name == name:
                return a
        raise KeyError(f"{self.name}: no arm {name!r}; arms are {[a.name for a in self.arms]}")

    def specs(self, stage, arm, settings, seeds):
        return [RunSpec(self.run, stage, arm, settings, s, self.data, self.quick) for s in seeds]

    def seed_sets(self):
        """``{"probe": [...], "tuning": [...], "final": [...]}``: the seeds of each stage (disjoint)."""
        return {"probe": [PROBE_SEED0 + i for i in range(self.probe_seeds)],
                "tuning": [TUNE_SEED0 + i for i in range(self.tune_seeds)],
                "final": list(range(FINAL_SEED0, FINAL_SEED0 + max(self.seeds, self.primary_seeds)))}

    def final_seeds(self, arm, primary_arms=()):
        """The final seeds of ``arm``: ``primary_seeds`` of them for the primary claim's arms, else ``seeds``."""
        n = self.primary_seeds if arm in primary_arms else self.seeds
        return list(range(FINAL_SEED0, FINAL_SEED0 + n))
