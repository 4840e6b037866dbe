"""Technique E tested: orthogonality-guided drop and QR re-initialisation against standard training, over-parameterised.

Does dropping the most redundant filters and re-introducing them orthogonally beat standard training, in an
over-parameterised CNN?

``python -m numpycnn compare orthogonal_reinit`` (alias ``compare repr``) ``[--quick] [--seeds 5]``
``[--only ARM --seed S]``

**The regime.** RePr's vanilla CNN at RePr's width — three conv layers of 32 3×3 filters, ReLU, 2×2 max
pooling, one dense layer — on 4,000 Fashion-MNIST training images (1,000 validation, 10,000 test), no
augmentation, SGD + momentum 0.9, batch 64. The technique's schedule: S1 = 5 epochs of normal training,
S2 = 2 epochs of the sub-network with 30 % of the filters dropped, re-introduction from the QR null space,
N = 2 cycles, then 10 epochs of normal training; standard training runs the same 24 epochs (1,512 iterations).

Why these numbers. At width 32 the dropped filters are close to redundant, the premise of RePr: measured here
(one seed, 4,000 images, RePr's global ranking, the first drop), dropping 30 % of conv2/conv3's filters cost
4.5 pp of validation accuracy after S1 = 6 epochs (84.0 → 79.5 %), 7.7 pp after S1 = 5 (83.7 → 76.0 %) and
8.6 pp after S1 = 4 — a few pp, where at width 16 the first version of this experiment lost about 32 pp. The
design's first schedule (S1 = 6, S2 = 3, N = 2, then 6 epochs) put the second cycle's drop and re-introduction
inside the last 40 % of the evaluations, the trained check's window: measured on one seed, the text's arm
there reads 86 → 62 % at its second drop and 70 % after its second re-introduction, so the check would have
read the recovery from a drop as "still rising" for every technique arm. The final phase is therefore twice
S1 (10 of 24 epochs, the last 40 %), and S1 = 5, S2 = 2 keep the run at the design's 1,512 iterations (a final
phase of 12 epochs after S1 = 6, S2 = 3 would take the run to 1,890 iterations and the experiment past 32
minutes; 3,000 training images instead cost about 38 pp at the first drop on one seed). Each arm's table row
reports its dips (the monitor's accuracy just after minus just before each drop and each re-introduction, mean
over seeds and events). "A few pp" is RePr's ranking, which leaves conv1 alone; the text's per-layer ranking
also drops 9 of conv1's 32 filters, whose 9-dimensional null space is full, so they come back as random filters
under conv2's old weights: measured in this schedule (seeds 0 and 1000), its drops cost 7, 21, 21 and 36 pp and
its re-introductions 12 to 68 pp, each recovered within an epoch or two — the text as written, reported as it is.

**Arms**, each with its own 3-point learning-rate grid {0.003, 0.01, 0.03} (equal tuning; an optimum at an
edge extends the grid once), tuned on 2 seeds:

* ``standard`` — standard training (the baseline);
* ``text`` — the text's variant: per-layer ranking, every conv layer, the next layer's weights kept at
  re-introduction (``keep``) — the primary claim's arm;
* ``repr`` — RePr as published: global ranking, the first conv layer excluded, ``keep``;
* ``random`` — the ranking control: as ``repr``, but the dropped filters chosen at random in the same
  number per layer as the ranking chose.

The function-preserving arms of the first version (the next layer's weights on re-introduced channels set to
0) are dropped for budget; the re-introduction choice is documented in docs/orthogonal_reinit.md.

**Claims** (one primary, declared here before any run; the published effect converted by the relative
error reduction, RePr's vanilla CNN on CIFAR-10: 72.1 → 76.4 %, 27.9 → 23.6 % error, 15.4 % fewer errors):

* PRIMARY — the text's variant (per-layer ranking) beats standard training (test accuracy; 8 seeds);
* RePr (global ranking, conv1 excluded) beats standard training (the same conversion);
* ranking by orthogonality beats dropping as many filters at random (``repr`` − ``random``, a threshold of
  ours, 1 pp: RePr compares ranking criteria but gives no size that converts);
* control: the test accuracy at the epoch of best validation accuracy, text − standard (tells
  regularisation from under-training; claimed effect 0, not on the scorecard).

**Trained check** (every arm): the slope of validation accuracy over the last 40 % of its evaluations — one per
epoch, so the 10 epochs of the final phase, after the last re-introduction — has a 95 % CI across seeds that must
end below 2.5 pp per 1,000 iterations. Why 2.5: it is about the smallest threshold a flat arm passes nine times in
ten here. One flat run's slope over 10 epoch evaluations has a standard error of about 1.4 pp per 1,000
iterations (the standard arm, seed 0, in this regime: a residual of 0.8 pp per evaluation around a slope of
−0.7 — the epoch-to-epoch wobble of SGD at a constant learning rate, which more validation images would not
remove), so the CI's upper end lies about 1.7 above the mean slope with 5 seeds and 1.2 with 8; a threshold of 1
would call flat arms rising. An arm that holds rose, at the CI's upper end, by less than 1.4 pp over its last
567 iterations — less than the primary claim's converted effect (15.4 % of a ≈ 14 % error ≈ 2.2 pp).

**Budget** (designed for ≤ 32 min on 2 cores, 2 workers). Runs: tuning 4 arms × 3 learning rates × 2 seeds =
24, plus at most 4 × 2 = 8 when grids extend at an edge; final 8 + 8 seeds (text, standard) + 5 + 5 (repr,
random) = 26; at most 58 runs. One run's CPU time (``time.process_time``, one BLAS thread), measured here with
``python /work/notes/explore/curve.py orthogonal_reinit '{"variant": V, "width": 32, "s1_epochs": 5,
"s2_epochs": 2, "n": 2, "final_epochs": 10, "lr": 0.01}' SEED 5000,1000,10000 STAGE`` on a shared machine
(load 10–16 on its 2 cores, so these are upper ends): standard, final stage, seed 0: 64 s; text, final stage,
seed 0: 73 s (68 s for the same run at the design's first schedule); text, tuning stage (no test set read),
seed 1000: 68 s — a technique run costs ~10 % more than a standard one (the monitor's 8 evaluations, the QR),
a final run ~5 s more than a tuning run (two passes over 10,000 test images). Estimate: tuning 8 standard runs
× 60 s + 24 technique runs × 66 s, final 8 × 64 s + 18 × 70 s: 3,836 CPU-seconds / 2 workers ≈ 32 min if every
grid extends, ≈ 28 min if none does (24 tuning runs).

Measures: final test accuracy, and the test accuracy at the epoch of best validation accuracy; validation
accuracy every epoch (the curves, the trained check); the monitor's accuracy just before and after each drop
and re-introduction (the dips); the orthogonality measure O of every filter before the first drop and after
the last re-introduction, beside standard training at the same iterations; which re-initialisation path each
layer took (null space of kept + old filters, of kept only, or random).
"""
import math
import time

import numpy as np

from ...callbacks import Callback
from ...datasets import Dataset
from ...plots import figure
from ...techniques.orthogonal_reinit import RePr, layer_measures
from .. import builder
from . import protocol, regimes

NAME = "orthogonal_reinit"
#: the regime (the module docstring): training images before the validation split is carved, and the schedule
TRAIN, VAL, TEST = 5_000, 1_000, 10_000
WIDTH = 32
#: S1 in epochs (``--s1-epochs``; --quick 2); S2 = S1/2 rounded down, N = 2 cycles, then a final phase of 2·S1 epochs
S1_EPOCHS, QUICK_S1_EPOCHS, N_CYCLES = 5, 2, 2
#: every arm's own learning-rate grid (the same size for every arm: equal tuning)
LRS = (0.003, 0.01, 0.03)
#: the trained check: its threshold, pp of validation accuracy per 1,000 iterations (the module docstring says why),
#: and its window (the protocol's)
THRESHOLD, WINDOW = 2.5, 0.4
RER = dict(published=0.154, conversion="relative error reduction",
           source="RePr, vanilla CNN on CIFAR-10, 72.1 → 76.4 %: 15.4 % fewer errors")
VARIANTS = {  # arm -> RePr options (None: standard training)
    "standard": None,
    "text": dict(ranking="per-layer", exclude_first=False, reintroduce="keep", selection="orthogonality"),
    "repr": dict(ranking="global", exclude_first=True, reintroduce="keep", selection="orthogonality"),
    "random": dict(ranking="global", exclude_first=True, reintroduce="keep", selection="random"),
}
LABELS = {"standard": "standard training", "text": "the text: per-layer ranking, keep",
          "repr": "RePr: global ranking, conv1 excluded, keep",
          "random": "random drop (RePr's counts per layer), keep"}
COLORS = {"standard": "C0", "text": "C1", "repr": "C3", "random": "C7"}


class MeasureAt(Callback):
    """The orthogonality measures of every conv layer after chosen iterations (standard arm's histograms)."""

    name = "measure_at"

    def __init__(self, steps):
        self.steps, self.measures = set(steps), {}
        self.t = 0

    def on_step_end(self, trainer):
        self.t += 1
        if self.t in self.steps:
            self.measures[self.t] = {n: O.tolist() for n, O in
                                     layer_measures(trainer.model, trainer.model.conv_layers()).items()}


def schedule_steps(settings, steps_per_epoch):
    """``(s1, s2, total)`` in iterations: S1 and S2 of one cycle, and the whole run (N cycles, then the final
    phase); the standard arm trains ``total`` iterations too."""
    s1, s2 = settings["s1_epochs"] * steps_per_epoch, settings["s2_epochs"] * steps_per_epoch
    total = settings["n"] * (s1 + s2) + settings["final_epochs"] * steps_per_epoch
    return s1, s2, total


def train_options(settings, seed):
    """The ``train`` options of a setting: the vanilla CNN of ``width`` filters, SGD + momentum 0.9 at ``lr``,
    batch 64 (the RePr schedule is the experiment's callback, with its own monitor)."""
    return builder.options(model="vanilla_cnn", width=settings["width"], optimizer="momentum", momentum=0.9,
                           lr=settings["lr"], seed=seed, batch_size=64, no_progress=True)


def run(settings, seed, ctx):
    """One vanilla-CNN run, standard or with a RePr variant; validation read after every epoch.

    Returns ``val_acc`` (the last epoch's), ``curve`` (``[[step, val_acc], ...]`` per epoch), ``curve_seconds``,
    ``best_epoch``, the schedule, and the standard arm's ``measures`` (O at the first drop's and the last
    re-introduction's iterations) or a RePr arm's cycle ``log``; in the final stage ``test_acc`` (the last
    weights) and ``best_epoch_test_acc`` (the weights of the epoch of best validation accuracy).
    """
    opts = train_options(settings, seed)
    model, opt = builder.build(opts, ctx.data.input_shape, ctx.data.num_classes, data=ctx.data)
    steps_per_epoch = -(-len(ctx.train) // 64)
    s1, s2, total = schedule_steps(settings, steps_per_epoch)
    variant = VARIANTS[settings["variant"]]
    monitor = Dataset(ctx.val.x[:1000], ctx.val.y[:1000])
    if variant is None:
        cb = MeasureAt([s1, settings["n"] * (s1 + s2)])
    else:
        cb = RePr(s1, s2, settings["n"], p=0.3, seed=seed, monitor=monitor, **variant)
    trainer = builder.trainer_for(opts, model, opt, ctx.data, extra_callbacks=[cb])
    curve, seconds, best = [], [], (-1.0, 0, None)
    for epoch in range(1, total // steps_per_epoch + 1):
        trainer.fit(ctx.train, epochs=epoch)
        acc = trainer.evaluate(ctx.val)["accuracy"]
        curve.append([trainer.step, acc])
        seconds.append(trainer.elapsed)
        if acc > best[0]:                  # the epoch of best validation accuracy: keep its weights
            best = (acc, epoch, {k: v.copy() for k, v in model.state_dict().items()})
    out = {"val_acc": curve[-1][1], "curve": curve, "curve_seconds": seconds, "steps": trainer.step,
           "train_acc": trainer.history["train_acc"],
           "schedule": {"s1": s1, "s2": s2, "n": settings["n"], "total": total}, "best_epoch": best[1]}
    if ctx.test is not None:               # test is read at the end: the final weights, then the best epoch's
        out["test_acc"] = trainer.evaluate(ctx.test)["accuracy"]
        model.load_state_dict(best[2])
        out["best_epoch_test_acc"] = trainer.evaluate(ctx.test)["accuracy"]
    if variant is None:
        out["measures"] = {str(k): v for k, v in cb.measures.items()}
    else:
        out["log"] = cb.log
    return out


def schedule_of(s1_epochs):
    """The schedule in epochs: S1, S2 = S1/2 (rounded down, at least 1), N = 2 cycles, then 2·S1 epochs of normal
    training — so that the final phase holds the last 40 % of the epochs, the trained check's window, and the check
    reads the end of training after the last re-introduction, not the recovery from a drop."""
    return {"s1_epochs": s1_epochs, "s2_epochs": max(1, s1_epochs // 2), "n": N_CYCLES, "final_epochs": 2 * s1_epochs}


def epochs_of(schedule):
    """The epochs of a schedule: N cycles of S1 + S2, then the final phase."""
    return schedule["n"] * (schedule["s1_epochs"] + schedule["s2_epochs"]) + schedule["final_epochs"]


def check_window(schedule, window, where):
    """The trained check's window (the last ``window`` of the per-epoch evaluations) lies in the final phase: a
    ValueError naming ``where`` (the option that set the schedule) otherwise."""
    epochs = epochs_of(schedule)
    if math.ceil(window * epochs) > schedule["final_epochs"]:
        raise ValueError(f"{where}: a schedule of {epochs} epochs ending with {schedule['final_epochs']} of normal "
                         f"training leaves a drop or a re-introduction inside the trained check's window (the last "
                         f"{math.ceil(window * epochs)} epochs); expected S1 of at least 2 epochs")


def settings_of(quick, width=None, s1_epochs=None):
    """The settings every arm shares: the width and the schedule (:func:`schedule_of`)."""
    schedule = schedule_of(s1_epochs or (QUICK_S1_EPOCHS if quick else S1_EPOCHS))
    check_window(schedule, WINDOW, f"compare {NAME} --s1-epochs {schedule['s1_epochs']}")
    return {"width": width or (8 if quick else WIDTH), **schedule}


def arms(base):
    """The four arms, each with its own learning-rate grid of the same size (equal tuning)."""
    return [protocol.Arm(v, {**base, "variant": v}, grid={"lr": LRS}, label=LABELS[v]) for v in VARIANTS]


def claims():
    """The primary claim (the text's variant), RePr's, the ranking against its random control, one control."""
    Claim = protocol.Claim
    return [
        Claim("the text's variant (per-layer ranking) beats standard training", "text", "standard", primary=True,
              **RER),
        Claim("RePr (global ranking, first conv layer excluded) beats standard training", "repr", "standard", **RER),
        Claim("ranking by orthogonality beats dropping as many filters at random", "repr", "random",
              published=1.0, conversion="threshold (ours)",
              source="threshold (ours): RePr ranks its criterion above random drop, with no size that converts"),
        Claim("test accuracy at the epoch of best validation accuracy: the text vs standard", "text", "standard",
              metric="best_epoch_test_acc", kind="control", source="analysis: regularisation or under-training?",
              scorecard=False),
    ]


def main(argv=None):
    p = protocol.parser(NAME, __doc__)
    p.add_argument("--width", type=int, default=None,
                   help=f"filters per conv layer (default {WIDTH}, RePr's; --quick 8)")
    p.add_argument("--s1-epochs", type=int, default=None,
                   help=f"S1, epochs of normal training before each drop (default {S1_EPOCHS}; --quick "
                        f"{QUICK_S1_EPOCHS}); S2 is half of it, the final phase twice it")
    args = p.parse_args(argv)
    protocol.check_positive(args, NAME, "width", "s1_epochs")
    quick = args.quick
    width, s1_epochs = args.width, args.s1_epochs
    preset = regimes.preset(NAME, args.regime, quick)               # the Regime check_args puts in args.preset
    if preset is not None:      # RePr's width (32), and S1 = the largest whose schedule, 5·S1 epochs (S1 even) or
        width = width or preset.network.options["width"]      # 5·S1 − 1 (odd), fits the preset's (24 → S1 = 5);
        s1_epochs = s1_epochs or (None if quick else max(     # --quick keeps the quick schedule
            s1 for s1 in range(2, preset.epochs) if epochs_of(schedule_of(s1)) <= preset.epochs))
    base = settings_of(quick, width, s1_epochs)                       # checked before --fresh empties the store
    runner = protocol.check_args(args, NAME)
    if args.only:
        return protocol.rerun_cell(args, NAME, run)
    data = protocol.preset_data(args, protocol.DataSpec(train=600, val=200, test=300, data_dir=args.data_dir) if quick
                                else protocol.DataSpec(train=TRAIN, val=VAL, test=TEST, data_dir=args.data_dir))
    protocol.require_data(data)
    steps_per_epoch = -(-(data.train - data.val) // 64)
    s1_steps, s2_steps, total = schedule_steps(base, steps_per_epoch)
    primary_seeds, tune_seeds = protocol.preset_seeds(
        args, 3 if quick else max(protocol.PRIMARY_SEEDS, args.seeds), 1 if quick else 2)
    t0 = time.perf_counter()
    exp = protocol.Experiment(
        name=NAME, title="Technique E, tested", run=run, data=data, arms=arms(base), claims=claims(),
        trained=protocol.TrainedCheck(threshold=THRESHOLD, window=WINDOW), seeds=args.seeds,
        primary_seeds=max(primary_seeds, args.seeds), tune_seeds=tune_seeds,
        quick=quick,
        budget={"iterations": total, "epochs": total // steps_per_epoch, "batch": 64, "s1": s1_steps,
                "s2": s2_steps, "n": base["n"], "p": 0.3, "width": base["width"],
                "optimizer": "SGD + momentum 0.9", "lr_grid": list(LRS)})
    tuning, finals, _, arm_rows, comparisons = protocol.run_protocol(exp, runner)
    technique_arms = [a for a in VARIANTS if a != "standard"]
    dips = {a: _dips(finals[a]) for a in technique_arms}
    modes = {a: _modes(finals[a]) for a in technique_arms}
    best_epoch = {a: [r["metrics"]["best_epoch_test_acc"] for r in finals[a]] for a in VARIANTS}
    table = protocol.arms_table(arm_rows, extra_columns(best_epoch, dips), hide=protocol.HIDDEN_SETTINGS + (
        "width", "s1_epochs", "s2_epochs", "n", "final_epochs", "variant"))
    protocol.publish(
        exp, runner, argv, t0, args.out, arm_rows, comparisons,
        intro=intro(data, base, s1_steps, s2_steps, total, steps_per_epoch, exp),
        body=[table], notes=[reinit_paths(modes)],
        figures={"curves": lambda: curves_figure(finals, s1_steps, s2_steps),
                 "orthogonality": lambda: histogram_figure(finals)},
        dips=dips, reinit_paths=modes, best_epoch_test_acc=best_epoch)
    return 0


def intro(data, base, s1_steps, s2_steps, total, steps_per_epoch, exp):
    """The report's first paragraph: the regime, the schedule, the tuning and the seeds."""
    return (f"**Technique E — orthogonality-guided drop and QR re-initialisation, tested** (in this regime: "
            f"RePr's vanilla CNN, {base['width']} filters per conv layer, on {data.describe()}, no augmentation). "
            f"Three conv layers × {base['width']} 3×3 filters, ReLU, max pooling, one dense layer; SGD + momentum "
            f"0.9, batch 64, {total:,} iterations ({total // steps_per_epoch} epochs) for every arm. The technique: "
            f"N = {base['n']} cycles of S1 = {s1_steps:,} normal iterations ({base['s1_epochs']} epochs) and "
            f"S2 = {s2_steps:,} sub-network iterations ({base['s2_epochs']} epochs) with 30 % of the filters "
            f"dropped, then {base['final_epochs']} epochs of normal training. Every arm chose its own learning rate "
            f"on validation from the same grid {{{', '.join(f'{x:g}' for x in LRS)}}} ({exp.tune_seeds} tuning "
            f"seed(s)); {exp.primary_seeds} paired final seeds for the primary claim's arms (the text, standard), "
            f"{exp.seeds} for the others. The dips are the monitor's validation accuracy just after minus just "
            f"before each drop and each re-introduction, mean over seeds and events.")


def extra_columns(best_epoch, dips):
    """The arms table's columns besides accuracy: test accuracy at the epoch of best validation accuracy (mean over
    seeds), the dips."""
    return [("best-epoch test acc. %", lambda a: f"{100 * np.mean(best_epoch[a]):.2f}"),
            ("mean dip at drop / re-introduction (pp)",
             lambda a: "–" if a not in dips else f"{dips[a]['drop']:+.2f} / {dips[a]['reintroduce']:+.2f}")]


def reinit_paths(modes):
    """One paragraph: how often each layer's re-initialisation took each path, per arm."""
    return ("Re-initialisation path per layer (null space of kept + old filters / of kept only / random fallback), "
            "counted over every re-introduction of the final runs: " + "; ".join(
                f"{a}: " + ", ".join(f"{layer} {'/'.join(str(c.get(m, 0)) for m in ('kept+old', 'kept', 'random'))}"
                                    for layer, c in modes[a].items()) for a in modes) + ".")


def _dips(records):
    """The dips of an arm's final runs, in pp: the mean at the drop and at the re-introduction, and every event's."""
    drop, rein = [], []
    for r in records:
        for e in r["metrics"]["log"]:
            drop.append(e["acc_after_drop"] - e["acc_before_drop"])
            rein.append(e["acc_after_reintroduce"] - e["acc_before_reintroduce"])
    return {"drop": 100 * float(np.mean(drop)), "reintroduce": 100 * float(np.mean(rein)),
            "per_event_drop": [100 * x for x in drop], "per_event_reintroduce": [100 * x for x in rein]}


def _modes(records):
    out = {}
    for r in records:
        for e in r["metrics"]["log"]:
            for layer, mode in e["modes"].items():
                out.setdefault(layer, {}).setdefault(mode, 0)
                out[layer][mode] += 1
    return out


def curves_figure(finals, s1, s2):
    """Every arm's mean validation curve, the sub-network phases of the schedule (:meth:`RePr.phases`) in grey."""
    fig = figure(figsize=(9, 3.8))
    ax = fig.subplots()
    n = finals["text"][0]["metrics"]["schedule"]["n"]
    for start, end in RePr(s1, s2, n).phases():
        ax.axvspan(start, end, color="0.9", lw=0)
    for a, recs in finals.items():
        curve = np.array([r["metrics"]["curve"] for r in recs], dtype=np.float64)
        ax.plot(curve[0, :, 0], 100 * curve[:, :, 1].mean(axis=0), color=COLORS[a], lw=1.4, label=LABELS[a])
    ax.set_xlabel("iteration (grey: sub-network phases)")
    ax.set_ylabel("validation accuracy % (mean over seeds)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    ax.set_title("Technique E: drop / re-introduce cycles vs standard training", fontsize=10)
    fig.tight_layout()
    return fig


def histogram_figure(finals):
    """Histograms of O: before the first drop, and after the last re-introduction beside standard training at
    the same iteration (RePr's arm, first final seed)."""
    std = finals["standard"][0]["metrics"]["measures"]
    log = finals["repr"][0]["metrics"]["log"]
    pooled = lambda d: np.concatenate([np.asarray(v) for v in d.values()])  # noqa: E731
    first, last = pooled(log[0]["O_before"]), pooled(log[-1]["O_after"])
    steps = sorted(int(k) for k in std)
    base_last = pooled({k: v for k, v in std[str(steps[-1])].items() if k in log[-1]["O_after"]})
    fig = figure(figsize=(9, 3.4))
    ax1, ax2 = fig.subplots(1, 2, sharey=True)
    bins = np.linspace(0, max(first.max(), last.max(), base_last.max()) * 1.05, 25)
    ax1.hist(first, bins=bins, color="C3", alpha=0.8)
    ax1.set_title(f"before the first drop (iteration {log[0]['drop_step']})", fontsize=9)
    ax2.hist(base_last, bins=bins, color="C0", alpha=0.5, label="standard training")
    ax2.hist(last, bins=bins, color="C3", alpha=0.6, label="RePr, after the last re-introduction")
    ax2.set_title(f"iteration {log[-1]['reintroduce_step']}", fontsize=9)
    ax2.legend(fontsize=7)
    for ax in (ax1, ax2):
        ax.set_xlabel("orthogonality measure O of a filter (eligible conv layers)")
    ax1.set_ylabel("filters")
    fig.suptitle("Re-introduced filters are orthogonal to the kept ones: the measure O moves down (first seed)",
                 fontsize=9)
    fig.tight_layout()
    return fig


if __name__ == "__main__":
    raise SystemExit(main())
