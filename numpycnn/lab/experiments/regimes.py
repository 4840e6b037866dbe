"""The published regimes as presets: ``python -m numpycnn compare NAME --regime paper [--dry-run]``.

The five comparisons run by default (``--regime default``) in regimes sized for 2 cores (Fashion-MNIST subsets,
small CNNs, 5–8 seeds). The claims were published at a larger scale; each technique's **paper preset** here
(:data:`PRESETS`, one :class:`Regime` per technique) is that scale as far as numpycnn can reach it: the data set
(CIFAR-10, read from ``--data-dir`` with :func:`numpycnn.datasets.load_dataset`), the network, its width, the
epochs, the batch and the seeds — each field with its source, and ``ours`` where the source does not say or
numpycnn cannot follow it (ImageNet, ResNet-50). The protocol is unchanged: every arm tuned alike on validation,
paired final seeds (8 for the primary claim), one primary claim.

``--dry-run`` prints what a preset would run — per stage, the arms, their settings and seed counts — and its
estimated cost: **CPU-hours** = runs × iterations × the per-step CPU time of the network (:data:`STEP_COSTS`,
measured on :data:`MEASURED_ON` as :data:`HOW_MEASURED` says), and the **memory per worker** (the data set in
float32 plus the raw bytes read, plus the peak of one training step). Nothing is trained.

``--regime paper --quick`` scales a preset down to seconds (a few hundred images, a few iterations, 2 seeds) for
tests: the same data set, network and code path.
"""
import math
from dataclasses import dataclass, field, replace

from .protocol.spec import DataSpec

REGIMES = ("default", "paper")

#: the machine the per-step costs were measured on
MEASURED_ON = "AMD EPYC (2 cores, shared with other jobs; CPU time is not inflated by them), OpenBLAS, Python 3.11"
#: how :data:`STEP_COSTS` were measured (``python -m benchmarks.step_costs`` measures them again)
HOW_MEASURED = ("CPU time (time.process_time) per training step (forward, backward, optimizer update) at batch 64 "
                "on random CIFAR-size input (3×32×32), one BLAS thread and one numpycnn thread, the median of 20 steps "
                "after 3 warm-up steps (benchmarks/step_costs.py); peak memory of a step with tracemalloc (NumPy reports its arrays to it)")
#: network key -> (milliseconds of CPU per training step at batch 64, peak MB of one step); measured (see above)
STEP_COSTS = {
    "lenet5": (12.2, 24),
    "vanilla_cnn-32": (54.0, 60),
    "plain_cnn-5x32-sigmoid": (85.3, 78),
}
#: MB a worker process holds before any data: Python, NumPy, numpycnn (resident set after import)
BASE_MB = 120


@dataclass(frozen=True)
class Network:
    """A network of :func:`numpycnn.zoo.build_model`: its ``key`` in :data:`STEP_COSTS`, a readable label, how
    many copies one run trains (technique D trains 3 networks together), and ``options``: the
    :func:`numpycnn.lab.builder.options` that build it (the input shape comes from the data: 3×32×32 on CIFAR-10)."""
    key: str
    label: str
    copies: int = 1
    options: dict = field(default_factory=dict, hash=False)

    def step_ms(self):
        return self.copies * STEP_COSTS[self.key][0]

    def step_mb(self):
        return self.copies * STEP_COSTS[self.key][1]


@dataclass(frozen=True)
class Stage:
    """Runs of one stage of a preset: ``arms`` each with ``points`` settings, on ``seeds`` seeds; ``iterations`` per
    run when the stage has its own budget (a probe), else None (the preset's)."""
    stage: str
    arms: tuple
    settings: str
    points: int
    seeds: int
    iterations: int = None

    def runs(self):
        return len(self.arms) * self.points * self.seeds


@dataclass(frozen=True)
class Regime:
    """A technique's published setting, as a preset of its experiment.

    Parameters
    ----------
    technique : str
    data : DataSpec — the data set and its split (``data_dir`` comes from ``--data-dir``)
    network : Network
    batch, epochs : int — iterations per run = ``epochs × ⌈training images / batch⌉``
    seeds, primary_seeds, tune_seeds : int — final seeds of every arm, of the primary claim's arms; tuning seeds
    plan : tuple of Stage — the runs (tuning counts one edge extension per tuned arm as a possible extra point)
    sources : dict — field -> where it comes from ("ours: …" where the source does not say)
    """
    technique: str
    data: DataSpec
    network: Network
    batch: int
    epochs: int
    plan: tuple
    sources: dict = field(default_factory=dict)
    seeds: int = 5
    primary_seeds: int = 8
    tune_seeds: int = 2

    def iterations(self):
        return self.epochs * math.ceil((self.data.train - self.data.val) / self.batch)

    def runs(self):
        return sum(s.runs() for s in self.plan)

    def cpu_hours(self):
        """Estimated CPU-hours of the whole comparison: runs × iterations × per-step CPU time, summed over the
        stages (a probe at its own iterations; training only: evaluation passes add a few per cent)."""
        steps = sum(s.runs() * (s.iterations or self.iterations()) for s in self.plan)
        return steps * self.network.step_ms() / 1000 / 3600

    def memory_mb(self):
        """Estimated memory of one worker: the splits in float32, the raw uint8 files read, one step's peak,
        the interpreter."""
        pixels = 3 * 32 * 32
        data = (self.data.train + self.data.test) * pixels * 4 / 2**20
        raw = 60_000 * pixels / 2**20                       # read_cifar10_dir reads all six batches
        return data + raw + self.network.step_mb() + BASE_MB


def cifar10(train=50_000, val=5_000, test=10_000):
    return DataSpec(name="cifar10", train=train, val=val, test=test)


LENET = Network("lenet5", "LeNet-5 on RGB 32×32 (62,006 parameters: the text's small CNN)", options={"model": "lenet5"})
TUNE, FINAL = "tune (validation, 3-point lr grid + 1 extension)", "final (selected setting)"
#: C's arms on LeNet-5 and on the MLP (its growth sweeps are MLPs too): the primary claim's three, and the others
ER_PRIMARY = ("lenet5/dense", "lenet5/uniform@0.95", "lenet5/er@0.95")
ER_OTHERS = ("lenet5/snip@0.95", "lenet5/uniform@0.98", "lenet5/er@0.98", "mlp/dense", "mlp/uniform@0.95",
             "mlp/er@0.95", "mlp/uniform@0.98", "mlp/er@0.98", "width/100/dense", "width/100/er", "width/1000/dense",
             "width/1000/er", "depth/1/dense", "depth/1/er", "depth/4/dense", "depth/4/er")

#: one preset per technique (the arms of each plan are those of its experiment module on protocol v2)
PRESETS = {
    "branch_supervision": Regime(
        "branch_supervision", cifar10(),
        Network("plain_cnn-5x32-sigmoid", "plain sigmoid CNN of 32 filters, depth ≤ 5 chosen by the probe (costed at 5)",
                options={"model": "plain_cnn", "depth": 5, "width": 32, "activation": "sigmoid"}),
        batch=64, epochs=20,
        plan=(Stage("probe", ("plain",), "probe (depth 2–5 × gain 1, 2; SGD + momentum, lr 0.1)", 8, 2,
                    iterations=1600),
              Stage("tune", ("plain", "branch_auto", "companions", "adam_plain", "adam_branch"), TUNE, 4, 2),
              Stage("final", ("plain", "branch_auto"), FINAL, 1, 8),
              Stage("final", ("companions", "adam_plain", "adam_branch"), FINAL, 1, 5)),
        sources={"data": "Deeply-Supervised Nets (Lee et al. 2015): CIFAR-10, error 10.41 → 9.65 %",
                 "network": "ours: the experiment's deep plain sigmoid CNN (where the text's mechanism can show), "
                            "widened to 32 filters, its depth chosen by the experiment's probe (≤ 5); DSN's own network "
                            "is not in our sources",
                 "epochs": "ours: 20 epochs, as the gradient-direction text trains on CIFAR-10", "batch": "ours: 64"}),
    "gradient_direction": Regime(
        "gradient_direction", cifar10(), LENET, batch=64, epochs=20,
        plan=(Stage("tune", ("direction", "adam", "rmsprop"),
                    "tune (validation, 3 lr × 2 schedules + 1 lr extension × 2 schedules)", 8, 2),
              Stage("final", ("direction", "adam"), FINAL, 1, 8), Stage("final", ("rmsprop",), FINAL, 1, 5),
              Stage("final", ("text_direction", "text_adam", "text_rmsprop"), "final (the text's settings, untuned)",
                    1, 5)),
        sources={"data": "the text: CIFAR-10", "network": "the text: its small CNN, N = 62,006 parameters (α0 = 0.34)",
                 "epochs": "the text: 20 epochs", "batch": "the text: batch 64",
                 "settings": "the text: α0 = 0.34, β = 0.0003; Adam, RMSprop lr 1e-3"}),
    "erdos_renyi": Regime(
        "erdos_renyi", cifar10(), LENET, batch=64, epochs=20,
        plan=(Stage("tune", ER_PRIMARY + ER_OTHERS, TUNE, 4, 2),
              Stage("final", ER_PRIMARY, FINAL, 1, 8), Stage("final", ER_OTHERS, FINAL, 1, 5)),
        sources={"data": "ours: CIFAR-10 (RigL's comparison is ResNet-50 on ImageNet, which numpycnn cannot read)",
                 "sparsity": "ours: 95 % and 98 %, where uniform trails dense with room for the claim (RigL (Evci et "
                             "al. 2020): 80 % and 90 %, static ERK vs uniform, first layer dense)",
                 "network": "ours: LeNet-5 on RGB, and the experiment's MLPs (300-100, the growth sweeps; costed at "
                            "LeNet-5's step, not measured)", "epochs": "ours: 20", "batch": "ours: 64"}),
    "collaborative": Regime(
        "collaborative", cifar10(), Network("lenet5", "three LeNet-5 trained together", copies=3, options={"model": "lenet5"}), batch=64,
        epochs=20,
        plan=(Stage("tune", ("independent", "min-loss", "linear", "min-logit", "validation", "kdcl", "dml"), TUNE, 4,
                    2),
              Stage("final", ("independent", "kdcl"), FINAL, 1, 8),
              Stage("final", ("min-loss", "linear", "min-logit", "validation", "dml"), FINAL, 1, 5)),
        sources={"data": "KDCL (Guo et al. 2020) and DML report CIFAR-100 and ImageNet; ours: CIFAR-10 (the data set "
                         "numpycnn reads)", "network": "ours: m = 3 LeNet-5 (KDCL's students are ResNets)",
                 "epochs": "ours: 20", "batch": "ours: 64"}),
    "orthogonal_reinit": Regime(
        "orthogonal_reinit", cifar10(), Network("vanilla_cnn-32", "RePr's 3-layer vanilla CNN, 32 filters",
                                              options={"model": "vanilla_cnn", "width": 32}), batch=64,
        epochs=24,
        plan=(Stage("tune", ("standard", "text", "repr", "random"), TUNE, 4, 2),
              Stage("final", ("standard", "text"), FINAL, 1, 8), Stage("final", ("repr", "random"), FINAL, 1, 5)),
        sources={"data": "RePr (Prakash et al. 2019): CIFAR-10, vanilla CNN 72.1 → 76.4 %",
                 "network": "RePr: a 3-layer vanilla CNN (32 filters per layer as in our experiment)",
                 "schedule": "RePr: p = 30 %; ours: N = 2 cycles of S1 = 5, S2 = 2 epochs, then 10 (the experiment's)",
                 "epochs": "ours: 24 epochs in all", "batch": "ours: 64"}),
}


def preset(technique, regime="default", quick=False):
    """The :class:`Regime` of ``technique`` under ``--regime`` (None for ``default``: the experiment's own);
    ``quick`` scales a paper preset down to seconds (the same data set and network)."""
    if regime not in REGIMES:
        raise ValueError(f"compare {technique}: --regime must be one of {list(REGIMES)}; got {regime!r}")
    if regime == "default":
        return None
    if technique not in PRESETS:
        raise ValueError(f"compare {technique}: no paper preset; presets exist for {sorted(PRESETS)}")
    r = PRESETS[technique]
    if quick:
        r = replace(r, data=cifar10(train=240, val=60, test=60), epochs=1, seeds=2, primary_seeds=2, tune_seeds=1)
    return r


def dry_run(r, data_dir=None):
    """The ``--dry-run`` report of a preset (text): the regime with its sources, the runs, the estimate."""
    d = r.data
    where = data_dir or "(not given: $NUMPYCNN_DATA, then the usual folders)"
    lines = [f"compare {r.technique} --regime paper (dry run: nothing is trained)",
             f"  data: {d.describe()}, read from --data-dir {where}",
             f"  network: {r.network.label}; batch {r.batch}; {r.epochs} epochs = {r.iterations():,} iterations per run"]
    lines += [f"  source of the {k}: {v}" for k, v in r.sources.items()]
    lines.append("  runs:")
    for s in r.plan:
        own = f", {s.iterations:,} iterations each" if s.iterations else ""
        lines.append(f"    {s.stage:<6} {', '.join(s.arms)} — {s.settings}: {s.points} setting(s) × {s.seeds} seed(s) "
                     f"= {s.runs()} runs{own}")
    probe = " (a probe at its own iterations)" if any(s.iterations for s in r.plan) else ""
    lines.append(f"  estimate: {r.runs()} runs × {r.iterations():,} iterations{probe} × {r.network.step_ms():.1f} ms per "
                 f"step = {r.cpu_hours():,.0f} CPU-hours (per-step CPU time measured on {MEASURED_ON}, one BLAS "
                 f"thread); memory per worker ≈ {r.memory_mb():,.0f} MB")
    return "\n".join(lines)


def cost_table():
    """Markdown: each paper preset's runs, iterations, CPU-hours and memory per worker (docs/cluster.md holds it)."""
    rows = ["| technique | data | network | runs | iterations per run | CPU-hours (estimate) | memory per worker |",
            "|---|---|---|---|---|---|---|"]
    for name, r in PRESETS.items():
        rows.append(f"| {name} | {r.data.describe()} | {r.network.label} | {r.runs()} | {r.iterations():,} | "
                    f"{r.cpu_hours():,.0f} | {r.memory_mb():,.0f} MB |")
    return "\n".join(rows)
