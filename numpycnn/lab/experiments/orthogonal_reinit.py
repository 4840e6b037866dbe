"""Technique E tested: converge before pruning, re-introduce without breaking the function, a random-drop control.

``python -m numpycnn compare orthogonal_reinit`` (alias ``compare repr``) ``[--quick] [--seeds 5]``

RePr's vanilla CNN (three conv layers of 3×3 filters — 16 here, RePr's 32 would not fit the 30-minute budget
on 2 cores —, ReLU, max pooling, one dense layer) on a few
thousand Fashion-MNIST images without augmentation — the over-fitting regime where RePr reports its
gain — trained with SGD + momentum 0.9, batch 64. The learning rate is chosen on validation for the
standard arm and reused by every arm (the protocol's ``tune_like``). The technique's schedule: S1 epochs
of normal training (long enough that training accuracy has nearly converged), S2 = S1/2 epochs of the
sub-network with 30 % of the filters dropped, re-introduction from the QR null space, N = 3 times, then a
final normal phase; the standard arm trains for the same total number of iterations.

Arms: standard · the text (per-layer ranking, ``keep``) · RePr (global ranking, first layer excluded) with
``keep`` and with ``function-preserving`` re-introduction · random drop (same counts per layer) with
``function-preserving`` — the control that isolates the ranking.

Measures: final test accuracy and the test accuracy at the epoch of best validation accuracy (to tell
regularisation from under-training); the validation accuracy just before/after each drop and each
re-introduction (the dips); orthogonality histograms before the first drop and after the last
re-introduction, next to standard training at the same iterations; which re-initialisation path each
layer took (null space of kept + old filters, of kept only, or random).
"""
import time

import numpy as np

from ...callbacks import Callback
from ...datasets import Dataset
from ...plots import figure
from ...techniques.orthogonal_reinit import RePr, layer_measures
from .. import builder
from . import protocol

NAME = "orthogonal_reinit"
PUBLISHED = dict(claimed_effect=4.3, source="RePr, vanilla CNN on CIFAR-10, 72.1 → 76.4 %")
VARIANTS = {  # arm -> RePr options (None: standard training)
    "standard": None,
    "text": dict(ranking="per-layer", exclude_first=False, reintroduce="keep", selection="orthogonality"),
    "repr_keep": dict(ranking="global", exclude_first=True, reintroduce="keep", selection="orthogonality"),
    "repr_fp": dict(ranking="global", exclude_first=True, reintroduce="function-preserving",
                    selection="orthogonality"),
    "random_fp": dict(ranking="global", exclude_first=True, reintroduce="function-preserving", selection="random"),
}
LABELS = {"standard": "standard training", "text": "the text: per-layer ranking, keep",
          "repr_keep": "RePr: global ranking, conv1 excluded, keep",
          "repr_fp": "RePr ranking, function-preserving re-introduction",
          "random_fp": "random drop (same counts), function-preserving"}
COLORS = {"standard": "C0", "text": "C1", "repr_keep": "C3", "repr_fp": "C2", "random_fp": "C7"}


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
    s1, s2 = settings["s1_epochs"] * steps_per_epoch, settings["s2_epochs"] * steps_per_epoch
    total = settings["n"] * (s1 + s2) + settings["final_epochs"] * steps_per_epoch
    return s1, s2, total


def train_options(settings, seed):
    """The ``train`` options of a setting: the vanilla CNN of ``width`` filters, SGD + momentum 0.9 at ``lr``,
    batch 64 (the RePr schedule is the experiment's callback, with its own monitor)."""
    return builder.options(model="vanilla_cnn", width=settings["width"], optimizer="momentum", momentum=0.9,
                           lr=settings["lr"], seed=seed, batch_size=64, no_progress=True)


def run(settings, seed, ctx):
    """One vanilla-CNN run, standard or with a RePr variant; evaluates every epoch."""
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
    curve, best = [], (-1.0, 0, None)
    for epoch in range(1, total // steps_per_epoch + 1):
        trainer.fit(ctx.train, epochs=epoch)
        acc = trainer.evaluate(ctx.val)["accuracy"]
        curve.append([trainer.step, acc])
        if acc > best[0]:                  # the epoch of best validation accuracy: keep its weights
            best = (acc, epoch, {k: v.copy() for k, v in model.state_dict().items()})
    out = {"val_acc": curve[-1][1], "curve": curve, "train_acc": trainer.history["train_acc"],
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


def main(argv=None):
    p = protocol.parser(NAME, __doc__)
    p.add_argument("--width", type=int, default=None,
                   help="filters per conv layer (default 16 — RePr's has 32, which would take this run past its "
                        "30-minute budget on 2 cores; --quick 4)")
    p.add_argument("--s1-epochs", type=int, default=None, help="epochs of normal training per cycle (default 8)")
    args = p.parse_args(argv)
    protocol.check_positive(args, NAME, "width", "s1_epochs")
    runner = protocol.check_args(args, NAME)
    quick = args.quick
    s1 = args.s1_epochs or (1 if quick else 8)
    base = {"width": args.width or (4 if quick else 16), "s1_epochs": s1, "s2_epochs": max(1, s1 // 2), "n": 3,
            "final_epochs": s1}
    data = protocol.DataSpec(train=600 if quick else 5_000, val=200 if quick else 1_000,
                             test=300 if quick else 10_000, data_dir=args.data_dir)
    protocol.require_data(data)
    steps_per_epoch = -(-(data.train - data.val) // 64)
    s1_steps, s2_steps, total = schedule_steps(base, steps_per_epoch)
    t0 = time.perf_counter()
    exp = protocol.Experiment(name=NAME, title="Technique E, tested", run=run, data=data, arms=arms(base, quick),
                              claims=claims(),
                              trained=protocol.TrainedCheck("standard", min_accuracy=0.3 if quick else 0.6),
                              seeds=args.seeds, tune_seeds=1 if quick else 2, quick=quick,
                              budget={"iterations": total, "batch": 64, "s1": s1_steps, "s2": s2_steps, "n": 3,
                                      "epochs": total // steps_per_epoch, "optimizer": "SGD + momentum 0.9"})
    tuning, finals, arm_rows, comparisons, check = protocol.run_protocol(exp, runner)
    dips = {a: _dips(finals[a]) for a in VARIANTS if a != "standard"}
    modes = {a: _modes(finals[a]) for a in VARIANTS if a != "standard"}
    best_epoch = {a: [r["metrics"]["best_epoch_test_acc"] for r in finals[a]] for a in VARIANTS}
    table = protocol.arms_table(arm_rows, extra_columns(best_epoch, dips), hide=protocol.HIDDEN_SETTINGS + (
        "width", "s1_epochs", "s2_epochs", "n", "final_epochs", "variant"))
    protocol.publish(
        exp, runner, argv, t0, args.out, arm_rows, comparisons, check,
        intro=f"**Technique E — orthogonality-guided drop and QR re-initialisation, tested.** {data.describe()}, no "
              f"augmentation; vanilla CNN (3 conv layers × {base['width']} 3×3 filters, ReLU, max pooling, one dense "
              f"layer), SGD + momentum 0.9, batch 64, {total:,} iterations ({total // steps_per_epoch} epochs) for "
              f"every arm; the technique: N = 3 cycles of S1 = {s1_steps} normal iterations ({base['s1_epochs']} "
              f"epochs) and S2 = {s2_steps} sub-network iterations with 30 % of the filters dropped, then "
              f"{base['final_epochs']} epochs of normal training. Learning rate chosen on validation for standard "
              f"training and reused by every arm; {exp.seeds} paired seeds.",
        body=[table], notes=[reinit_paths(modes)],
        figures={"curves": lambda: curves_figure(finals, s1_steps, s2_steps),
                 "orthogonality": lambda: histogram_figure(finals)},
        dips=dips, reinit_paths=modes, best_epoch=best_epoch,
        curves={a: [r["metrics"]["curve"] for r in finals[a]] for a in VARIANTS})
    return 0


def arms(base, quick):
    """Standard training, its learning rate tuned on validation, and each RePr variant at that learning rate."""
    standard = protocol.Arm("standard", {**base, "variant": "standard"}, label=LABELS["standard"],
                            grid={"lr": (0.03,) if quick else (0.01, 0.03, 0.1)})
    return [standard] + [protocol.Arm(v, {"variant": v}, tune_like="standard", label=LABELS[v])
                         for v in VARIANTS if v != "standard"]


def extra_columns(best_epoch, dips):
    """The arms table's columns besides accuracy: test accuracy at the best epoch, the dips."""
    return [("best-epoch test acc. %", lambda a: f"{100 * np.mean(best_epoch[a]):.2f}"),
            ("mean dip at drop / re-introduction (pp)",
             lambda a: "–" if a == "standard" else f"{dips[a]['drop']:+.2f} / {dips[a]['reintroduce']:+.2f}")]


def claims():
    """The published gain for each variant, the ranking against its random control, and two analyses."""
    Claim = protocol.Claim
    return [
        Claim("the text's variant (per-layer ranking) beats standard training", "text", "standard", **PUBLISHED),
        Claim("RePr (global ranking, first layer excluded) beats standard training", "repr_keep", "standard",
              **PUBLISHED),
        Claim("RePr with function-preserving re-introduction beats standard training", "repr_fp", "standard",
              **PUBLISHED),
        Claim("ranking by orthogonality beats dropping as many filters at random", "repr_fp", "random_fp",
              claimed_effect=1.0, source="RePr: the ranking is what matters (we test for ≥ 1 pp)"),
        Claim("function-preserving vs keep re-introduction (RePr ranking)", "repr_fp", "repr_keep",
              claimed_effect=0.0, source="analysis", scorecard=False),
        Claim("best-epoch test accuracy: RePr (keep) vs standard", "repr_keep", "standard",
              metric="best_epoch_test_acc", claimed_effect=0.0, source="analysis", scorecard=False),
    ]


def reinit_paths(modes):
    """One paragraph: how often each layer's re-initialisation took each path, per arm."""
    return ("Re-initialisation path per layer (null space of kept + old filters / of kept only / random fallback), "
            "counted over every re-introduction of the final runs: " + "; ".join(
                f"{a}: " + ", ".join(f"{layer} {'/'.join(str(c.get(m, 0)) for m in ('kept+old', 'kept', 'random'))}"
                                    for layer, c in modes[a].items()) for a in modes) + ".")


def _dips(records):
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
    std = finals["standard"][0]["metrics"]["measures"]
    log = finals["repr_keep"][0]["metrics"]["log"]
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
