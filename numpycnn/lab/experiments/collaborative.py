"""Technique D tested: collaborative training where students have room to learn from each other.

``python -m numpycnn compare collaborative`` ``[--quick] [--seeds 5]``

m = 3 networks with spare capacity (LeNet-5) on a few thousand Fashion-MNIST images — an over-fitting
regime — each network seeing its **own random view** of every batch (shifts of up to 2 pixels and
left-right flips, :mod:`numpycnn.augment`), trained long enough that the independent networks' validation
accuracy has converged (the protocol's trained check). Arms, each with its learning rate chosen on
validation:

* **independent** — three plain :class:`~numpycnn.training.Trainer` s (no ensemble term), with the same
  augmentation streams as the networks trained together;
* the text's four rules in ``ensemble-ce`` mode — loss ``Σ_i CE(network i) + CE(ensemble)``: min-loss (per
  sample), linear (simplex weights), min-logit (target-subtracted), validation (weights from validation
  accuracy, recomputed each epoch);
* **KDCL** — the inventors' published version: the min-logit ensemble as a detached teacher, T = 2, λ = 1
  reached after the first 10 % of the iterations;
* **DML** — Deep Mutual Learning, the published peer: each network distils the other two, no ensemble;
* a **heterogeneous trio** (``small_cnn`` of widths 4, 8, 16) trained independently and with KDCL.

Measures: the mean single-network test accuracy (the claim: every network improves), the best network,
the ensemble (mean of the logits), training time per arm. Claims verdicted: each collaborative arm's mean
single-network accuracy over independent training (KDCL: ImageNet ResNet-50 76.8 → 78.2 %, +1.4 pp;
DML: CIFAR-100 ResNet-32 68.99 → 71.19 %, +2.2 pp).
"""
import time

import numpy as np

from ...plots import figure
from ...techniques.collaborative import CollaborativeTrainer
from .. import builder
from . import protocol

NAME = "collaborative"
M = 3
KDCL = dict(claimed_effect=1.4, source="KDCL, ImageNet ResNet-50, 76.8 → 78.2 %")
DML = dict(claimed_effect=2.2, source="Deep Mutual Learning, CIFAR-100 ResNet-32, 68.99 → 71.19 %")
LABELS = {"independent": "independent (3 plain trainers)", "min-loss": "min-loss (the text)",
          "linear": "linear, simplex weights (the text)", "min-logit": "min-logit (the text)",
          "validation": "validation weights (the text)", "kdcl": "KDCL (min-logit teacher, T = 2)",
          "dml": "Deep Mutual Learning", "hetero_independent": "widths 4/8/16, independent",
          "hetero_kdcl": "widths 4/8/16, KDCL"}


def train_options(settings, seed, width=None):
    """The ``train`` options of a setting (one network of ``width`` filters, if given): Adam at ``lr``, batch 64,
    its augmentation, the trainer's seed ``seed``."""
    sizes = {} if width is None else {"width": width}
    return builder.options(model=settings["model"], optimizer="adam", lr=settings["lr"], seed=seed, batch_size=64,
                           augment=settings.get("augment"), no_progress=True, **sizes)


def networks(settings, seed, data):
    """The m networks' options, models and optimizers, each from the one builder (network i: seed 100·seed + i)."""
    out = []
    for i in range(M):
        opts = train_options(settings, seed, settings["widths"][i] if settings.get("widths") else None)
        out.append((opts, *builder.build(opts, data.input_shape, data.num_classes, seed=100 * seed + i)))
    return out


def _accuracies(models, split):
    """Each network's accuracy and the ensemble's (mean of the logits) on ``split``."""
    zs = [m.predict_logits(split.x) for m in models]
    accs = [float((z.argmax(1) == split.y).mean()) for z in zs]
    ens = float((np.mean(zs, axis=0).argmax(1) == split.y).mean())
    return accs, ens


def run(settings, seed, ctx):
    """Train the trio (independently or together) in ``evals`` chunks, recording validation accuracy."""
    built = networks(settings, seed, ctx.data)
    models = [m for _, m, _ in built]
    steps, evals = settings["steps"], settings.get("evals", 20)
    if settings["mode"] == "independent":
        trainers = [builder.trainer_for(opts, m, o, augment_stream=i) for i, (opts, m, o) in enumerate(built)]
    else:
        trainers = [CollaborativeTrainer(models, [o for _, _, o in built], rule=settings.get("rule", "min-logit"),
                                         mode=settings["mode"], temperature=2.0, ramp_steps=max(1, steps // 10),
                                         **builder.trainer_options(built[0][0]))]
    curve, ens_curve = [], []
    t0 = time.perf_counter()
    val = ctx.val if settings.get("rule") == "validation" and settings["mode"] != "independent" else None
    for k in range(1, evals + 1):
        for tr in trainers:
            tr.fit(ctx.train, val, epochs=10 ** 9, max_steps=k * steps // evals)   # val: the weights of that rule
        accs, ens = _accuracies(models, ctx.val)
        curve.append([k * steps // evals, float(np.mean(accs))])
        ens_curve.append([k * steps // evals, ens])
    out = {"val_acc": curve[-1][1], "curve": curve, "ensemble_curve": ens_curve, "train_seconds":
           sum(tr.elapsed for tr in trainers), "wall_seconds": time.perf_counter() - t0}
    if ctx.test is not None:
        accs, ens = _accuracies(models, ctx.test)
        out.update(test_acc=float(np.mean(accs)), best_test_acc=max(accs), ensemble_test_acc=ens,
                   network_test_acc=accs)
    return out


def main(argv=None):
    p = protocol.parser(NAME, __doc__)
    p.add_argument("--steps", type=int, default=None, help="iterations per run (default 1000)")
    args = p.parse_args(argv)
    protocol.check_positive(args, NAME, "steps")
    runner = protocol.check_args(args, NAME)
    quick = args.quick
    steps = args.steps or (30 if quick else 1000)
    data = protocol.DataSpec(train=600 if quick else 4_000, val=200 if quick else 1_000, test=300 if quick else 5_000,
                             data_dir=args.data_dir)
    protocol.require_data(data)
    t0 = time.perf_counter()
    base = {"model": "lenet5", "steps": steps, "augment": "shift:2,flip", "evals": 5 if quick else 20}
    trained = protocol.TrainedCheck("independent", min_accuracy=0.3 if quick else 0.6)
    exp = protocol.Experiment(name=NAME, title="Technique D, tested", run=run, data=data, arms=arms(base, quick),
                              claims=claims(), trained=trained, seeds=args.seeds, tune_seeds=1, quick=quick,
                              budget={"iterations": steps, "batch": 64, "networks": M, "augment": base["augment"]})
    tuning, finals, arm_rows, comparisons, check = protocol.run_protocol(exp, runner)
    train_seconds = {a: float(np.mean([r["metrics"]["train_seconds"] for r in finals[a]])) for a in finals}
    table = protocol.arms_table(arm_rows, extra_columns(finals, train_seconds),
                                hide=protocol.HIDDEN_SETTINGS + ("model", "augment", "mode", "rule", "widths"))
    protocol.publish(
        exp, runner, argv, t0, args.out, arm_rows, comparisons, check,
        intro=f"**Technique D — collaborative training, tested.** {data.describe()}; three LeNet-5 (the "
              f"heterogeneous trio: `small_cnn` of widths 4, 8, 16), Adam, batch 64, {steps:,} iterations, every "
              f"network seeing its own random view of each batch (shifts ≤ 2 px, left-right flips); learning rate chosen on validation "
              f"for every arm; {exp.seeds} paired seeds. Test accuracy % = the mean of the three networks (the "
              f"claim: every network improves); the ensemble is the mean of their logits.",
        body=[table], figures={"curves": lambda: curves_figure(finals)},
        ensemble={a: [r["metrics"]["ensemble_test_acc"] for r in finals[a]] for a in finals},
        best_network={a: [r["metrics"]["best_test_acc"] for r in finals[a]] for a in finals},
        train_seconds=train_seconds, curves={a: [r["metrics"]["curve"] for r in finals[a]] for a in finals})
    return 0


def arms(base, quick):
    """Independent training, the text's four rules, KDCL, DML, and the heterogeneous trio; each tunes its lr."""
    lrs = (2e-3,) if quick else (1e-3, 2e-3)
    fixed = {"independent": {**base, "mode": "independent"}}
    for rule in ("min-loss", "linear", "min-logit", "validation"):
        fixed[rule] = {**base, "mode": "ensemble-ce", "rule": rule}
    fixed["kdcl"] = {**base, "mode": "kdcl", "rule": "min-logit"}
    fixed["dml"] = {**base, "mode": "dml", "rule": "min-logit"}
    hetero = {**base, "model": "small_cnn", "widths": [4, 8, 16]}
    fixed["hetero_independent"] = {**hetero, "mode": "independent"}
    fixed["hetero_kdcl"] = {**hetero, "mode": "kdcl", "rule": "min-logit"}
    return [protocol.Arm(name, settings, grid={"lr": lrs}, label=LABELS[name]) for name, settings in fixed.items()]


def claims():
    """Every collaborative arm against independent training (the published gains), and three analyses."""
    Claim = protocol.Claim
    return ([Claim(f"{LABELS[a]}: every network improves over independent training", a, "independent", **KDCL)
             for a in ("min-loss", "linear", "min-logit", "validation", "kdcl")] +
            [Claim(f"{LABELS['dml']}: every network improves over independent training", "dml", "independent",
                   **DML),
             Claim("heterogeneous trio: KDCL over independent", "hetero_kdcl", "hetero_independent", **KDCL),
             Claim("ensemble accuracy: KDCL vs independent", "kdcl", "independent", metric="ensemble_test_acc",
                   claimed_effect=0.0, source="analysis", scorecard=False),
             Claim("ensemble accuracy: min-logit (the text) vs independent", "min-logit", "independent",
                   metric="ensemble_test_acc", claimed_effect=0.0, source="analysis", scorecard=False),
             Claim("best network: KDCL vs independent", "kdcl", "independent", metric="best_test_acc",
                   claimed_effect=0.0, source="analysis", scorecard=False)])


def extra_columns(finals, train_seconds):
    """The arms table's columns besides accuracy: the best network, the ensemble, training seconds."""
    def mean_of(a, key):
        return 100 * float(np.mean([r["metrics"][key] for r in finals[a]]))
    return [("best network %", lambda a: f"{mean_of(a, 'best_test_acc'):.2f}"),
            ("ensemble %", lambda a: f"{mean_of(a, 'ensemble_test_acc'):.2f}"),
            ("training s per run", lambda a: f"{train_seconds[a]:.0f}")]


def curves_figure(finals):
    fig = figure(figsize=(8, 3.8))
    ax = fig.subplots()
    for k, (a, recs) in enumerate(finals.items()):
        curve = np.array([r["metrics"]["curve"] for r in recs], dtype=np.float64)
        ax.plot(curve[0, :, 0], 100 * curve[:, :, 1].mean(axis=0), color=f"C{k}", lw=2 if a == "independent" else 1.1,
                ls="--" if a.startswith("hetero") else "-", label=LABELS[a])
    ax.set_xlabel("iteration")
    ax.set_ylabel("mean single-network validation accuracy %")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    ax.set_title("Technique D: three networks trained together vs independently (mean over seeds)", fontsize=10)
    fig.tight_layout()
    return fig


if __name__ == "__main__":
    raise SystemExit(main())
