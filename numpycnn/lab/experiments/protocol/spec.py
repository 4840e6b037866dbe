"""What an experiment declares: its data, arms, claims and trained check; a run and what it is given."""
import hashlib
import json
from dataclasses import asdict, dataclass, field
from itertools import product

STAGES = ("probe", "tune", "final")
#: the seed of the first tuning run; tuning seeds are ``TUNE_SEED0, TUNE_SEED0 + 1, …`` (final seeds start at 0)
TUNE_SEED0 = 1000


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
        (e.g. technique E's variants reuse the standard arm's learning rate)
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
