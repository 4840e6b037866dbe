"""Technique B tested: the gradient-direction optimizer against equally tuned optimizers, its decay actually run.

``python -m numpycnn compare gradient_direction`` (alias ``compare optimizers``) ``[--quick] [--seeds 5]``

LeNet-5 (ReLU) on Fashion-MNIST, batch 64, in two settings, both reported:

1. **As the text says.** α0 = 0.0014·√N, β = 0.0003 per iteration against Adam, RMSprop, Momentum
   and SGD at the text's learning rate 1e-3 (its baselines were untuned: its SGD scores 29 %), run long
   enough for the decay to matter (the table states the α_T/α0 reached; the text's 20 CIFAR-10 epochs
   reach about 0.009).
2. **Fair.** Every optimizer gets the same kind of tuning on validation: the direction optimizer over
   c ∈ {0.0014, 0.004, 0.01} × decay (β = 0.0003, or β chosen so that α decays to the text's α_T/α0
   within the run), 6 settings; Adam, RMSprop, Momentum and SGD over two learning rates × (constant,
   cosine decay to 0), 4 settings each. Selected on 2 tuning seeds (``--quick``: smaller grids, 1 seed),
   then each optimizer's selected setting runs on fresh paired seeds. Two controls
   separate the *direction* (unit-norm steps) from the *annealing*: Adam and Momentum at their selected
   learning rate with the direction optimizer's selected decay shape (the same exponential schedule).

Measures: final test accuracy; iterations and seconds until validation accuracy first reaches the
target; peak − final validation accuracy (the text claims no late decline); the α_t schedule.
Claims verdicted (protocol): accuracy vs the best tuned Adam (the text: +1.41 pp on CIFAR-10), and
iterations to the target vs the fastest tuned classic optimizer, chosen on the tuning runs (the text:
30–40 % less time).
"""
import time

import numpy as np

from ...plots import figure
from ...schedules import Cosine, decay_to
from ...techniques.gradient_direction import DEFAULT_BETA, DEFAULT_C, initial_step
from ...zoo import lenet5
from .. import builder
from . import protocol

NAME = "gradient_direction"
TEXT_RATIO = (1 - DEFAULT_BETA) ** 15_625      # α_T/α0 of the text's run: 20 CIFAR-10 epochs of batch 64 ≈ 0.0092
CLASSIC = ("adam", "rmsprop", "momentum", "sgd")
TEXT_ACCURACY = {"direction": 64.404, "adam": 62.99, "rmsprop": 61.35, "momentum": 59.1, "sgd": 29.06}
COLORS = {"direction": "C3", "adam": "C0", "rmsprop": "C1", "momentum": "C2", "sgd": "C7",
          "adam+decay": "C9", "momentum+decay": "C8"}


def train_options(settings, seed):
    """The ``train`` options of a setting: LeNet-5 (ReLU), batch 64, and its optimizer.

    ``settings``: ``optimizer`` (direction, adam, rmsprop, momentum, sgd), ``steps`` (the run's
    iterations), and either ``c`` and ``beta`` (direction; ``beta = "to-text-ratio"`` decays α to the
    text's α_T/α0 by the last iteration) or ``lr`` and ``schedule`` (constant, cosine over the run, or
    exponential with ``gamma``); momentum is 0.9 and RMSprop keeps torch's defaults (alpha 0.99, eps 1e-8).
    """
    name, steps = settings["optimizer"], settings["steps"]
    common = dict(model="lenet5", seed=seed, batch_size=64, no_progress=True)
    if name == "direction":
        beta = settings["beta"]
        if beta == "to-text-ratio":
            beta = 1.0 - decay_to(TEXT_RATIO, steps)
        return builder.options(optimizer="direction", direction_c=settings["c"], decay=float(beta), **common)
    momentum = dict(momentum=0.9) if name == "momentum" else {}
    return builder.options(optimizer=name, lr=settings["lr"], schedule=settings["schedule"], max_steps=steps,
                           schedule_gamma=settings.get("gamma"), **momentum, **common)


def run(settings, seed, ctx):
    """One LeNet-5 training run; returns the protocol's metrics plus time-to-target and late decline."""
    opts = train_options(settings, seed)
    model, opt = builder.build(opts, ctx.data.input_shape, ctx.data.num_classes, data=ctx.data)
    trainer = builder.trainer_for(opts, model, opt, ctx.data)
    m = protocol.fit_and_score(trainer, ctx, settings["steps"], evals=settings.get("evals", 20))
    target = settings["target"]
    m["iters_to_target"], m["reached"] = protocol.first_reaching(m["curve"], target, settings["steps"])
    m["seconds_to_target"] = protocol.seconds_reaching(m["curve"], m["curve_seconds"], target)
    accs = [a for _, a in m["curve"]]
    m["peak_minus_final"] = max(accs) - accs[-1]
    m["lr_ratio"] = float(opt.lr / opt.base_lr)           # α_T/α0 (or lr_T/lr0) at the end
    return m


# ------------------------------------------------------------------------------------------------
def text_arms(steps, target):
    """The text's setting: the direction optimizer at the text's constants, the classics at lr 1e-3."""
    common = {"steps": steps, "target": target}
    direction = protocol.Arm("direction", {**common, "optimizer": "direction", "c": DEFAULT_C, "beta": DEFAULT_BETA},
                             label=f"direction (α0 = {DEFAULT_C}·√N, β = {DEFAULT_BETA})")
    return [direction] + [protocol.Arm(n, {**common, "optimizer": n, "lr": 1e-3, "schedule": "constant"},
                                       label=f"{n} (lr 1e-3)") for n in CLASSIC]


def fair_arms(steps, target, quick):
    """The fair setting: every optimizer with a grid of its own (the module docstring says which)."""
    common = {"steps": steps, "target": target}
    lrs = {"adam": (1e-3, 3e-3), "rmsprop": (3e-4, 1e-3), "momentum": (0.01, 0.03), "sgd": (0.03, 0.1)}
    cs = (DEFAULT_C, 0.004) if quick else (DEFAULT_C, 0.004, 0.01)
    betas = (DEFAULT_BETA,) if quick else (DEFAULT_BETA, "to-text-ratio")
    arms = [protocol.Arm("direction", {**common, "optimizer": "direction"}, grid={"c": cs, "beta": betas},
                         label="direction")]
    for n in CLASSIC:
        grid = {"lr": lrs[n][:1] if quick else lrs[n], "schedule": ("constant", "cosine")}
        arms.append(protocol.Arm(n, {**common, "optimizer": n}, grid=grid, label=n))
    return arms


CLAIM_ACC = dict(metric="test_acc", claimed_effect=TEXT_ACCURACY["direction"] - TEXT_ACCURACY["adam"],
                 source="the text, CIFAR-10, 64.40 vs 62.99 %")
CLAIM_TIME = dict(metric="iters_to_target", claimed_effect=30.0, lower_is_better=True, relative=True,
                  scale=100.0, unit="%", source="the text: 30–40 % less time to its target")


def decay_control_arms(tuning, steps):
    """Adam and Momentum at their selected learning rate with the direction optimizer's selected decay."""
    d = tuning["direction"]["selected"]
    beta = 1.0 - decay_to(TEXT_RATIO, steps) if d["beta"] == "to-text-ratio" else float(d["beta"])
    arms = {}
    for base in ("adam", "momentum"):
        sel = tuning[base]["selected"]
        arms[f"{base}+decay"] = {**sel, "schedule": "exponential", "gamma": 1.0 - beta}
    return arms, beta


def fastest_classic(tuning, steps):
    """The classic optimizer whose selected setting reached the target in the fewest iterations on the
    tuning runs (validation) — the baseline of the time claim, chosen before the final runs."""
    def iters(name):
        sel = tuning[name]["selected"]
        for g in tuning[name]["grid"]:
            if g["settings"] == sel:
                return np.mean(g["iters"])
        return steps
    return min(CLASSIC, key=iters)


def main(argv=None):
    p = protocol.parser(NAME, __doc__)
    p.add_argument("--steps", type=int, default=None, help="iterations per run in the fair setting (default 2000)")
    p.add_argument("--text-steps", type=int, default=None,
                   help="iterations per run in the text's setting (default 4000: α decays to 0.30·α0)")
    p.add_argument("--target", type=float, default=None, help="validation accuracy for time-to-target (default 0.85)")
    args = p.parse_args(argv)
    protocol.check_positive(args, NAME, "steps", "text_steps")
    protocol.check_fraction(args, NAME, "target")
    runner = protocol.check_args(args, NAME)
    quick = args.quick
    steps = args.steps or (40 if quick else 2000)
    text_steps = args.text_steps or (40 if quick else 4000)
    target = args.target or (0.5 if quick else 0.85)
    data = protocol.DataSpec(train=3000 if quick else 60_000, val=500 if quick else 2_000,
                             test=500 if quick else 10_000, data_dir=args.data_dir)
    protocol.require_data(data)
    t0 = time.perf_counter()
    text, t_finals, t_arms, t_comp, t_check = as_the_text_says(data, args.seeds, quick, text_steps, target, runner)
    fair, tuning, beta_sel, fastest = tune_fairly(data, args.seeds, quick, steps, target, runner)
    finals = protocol.final(fair, runner, tuning)
    arms, comparisons, check = protocol.summarize(fair, tuning, finals)
    N = lenet5(protocol.load_data(data).input_shape).num_params
    ratio = float(np.mean([r["metrics"]["lr_ratio"] for r in t_finals["direction"]]))
    body = [f"*Fair setting* ({steps:,} iterations per run; every optimizer tuned on validation over the same kind of "
            f"grid, 2 tuning seeds; time to target = iterations until validation accuracy first reaches "
            f"{100 * target:.0f} %, counted as the whole budget when never reached):",
            protocol.arms_table(arms, extra_columns(finals)),
            f"*As the text says* ({text_steps:,} iterations; α decays to {ratio:.3f}·α0 — the text's 20 CIFAR-10 "
            f"epochs reach {TEXT_RATIO:.4f}·α0; the text's own CIFAR-10 accuracies in the last column):",
            protocol.arms_table(t_arms, extra_columns(t_finals) + [("the text, CIFAR-10 %",
                                                                   lambda n: f"{TEXT_ACCURACY[n]}")])]
    protocol.publish(
        fair, runner, argv, t0, args.out, arms, comparisons + [dict(c) for c in t_comp], check,
        intro=f"**Technique B — gradient-direction optimizer, tested.** {data.describe()}; LeNet-5 (ReLU), "
              f"N = {N:,} parameters (α0 = 0.0014·√N = {initial_step(N, DEFAULT_C):.3f}), batch 64; "
              f"{args.seeds} paired seeds per arm (same initial weights and data order within a seed).",
        body=body, more_checks=[(t_check, "Text setting")],
        figures={"curves": lambda: curves_figure(finals, t_finals, target),
                 "schedule": lambda: schedule_figure(beta_sel, steps, text_steps, tuning)},
        settings={"fair": {"budget": fair.budget, "target": target, "fastest_classic": fastest,
                           "direction_beta_selected": beta_sel},
                  "text": {"budget": text.budget, "arms": t_arms, "comparisons": t_comp, "trained_check": t_check,
                           "text_ratio": TEXT_RATIO, "alpha_ratio_reached": ratio}},
        N=N, alpha0=initial_step(N, DEFAULT_C), curves={"fair": _curves(finals), "text": _curves(t_finals)})
    return 0


def as_the_text_says(data, seeds, quick, steps, target, runner):
    """The text's setting through the protocol, plus its time claim against the fastest classic optimizer
    (chosen on these final runs, as the text compares); returns ``(experiment, finals, arms, comparisons, check)``."""
    text = protocol.Experiment(
        name=NAME, title="Technique B as the text says", run=run, data=data, arms=text_arms(steps, target),
        claims=[protocol.Claim("as the text says: higher accuracy than Adam (lr 1e-3)", "direction", "adam",
                               **CLAIM_ACC)],
        trained=protocol.TrainedCheck("adam", min_accuracy=0.3 if quick else 0.5), seeds=seeds,
        tune_seeds=1 if quick else 2, quick=quick, budget={"iterations": steps, "batch": 64})
    _, finals, arms, comparisons, check = protocol.run_protocol(text, runner)

    def iterations(name):
        return [r["metrics"]["iters_to_target"] for r in finals[name]]
    fastest = min(CLASSIC, key=lambda n: np.mean(iterations(n)))
    claim = protocol.Claim("as the text says: less time to the target than the fastest classic", "direction",
                           fastest, **CLAIM_TIME)
    comparisons.append(protocol.compare(claim, iterations("direction"), iterations(fastest)))
    protocol.withhold_verdicts(comparisons, [check])
    return text, finals, arms, comparisons, check


def tune_fairly(data, seeds, quick, steps, target, runner):
    """The fair setting up to its final runs: every optimizer tuned on validation, the decay controls added
    (tuned like their base), and the claims; returns ``(experiment, tuning, selected β, fastest classic)``."""
    fair = protocol.Experiment(name=NAME, title="Technique B against equally tuned optimizers", run=run, data=data,
                               arms=fair_arms(steps, target, quick), claims=[],
                               trained=protocol.TrainedCheck("adam", min_accuracy=0.3 if quick else 0.5),
                               seeds=seeds, tune_seeds=1 if quick else 2, quick=quick,
                               budget={"iterations": steps, "batch": 64})
    tuning = protocol.tune(fair, runner)
    _tuning_iters(fair, runner, tuning)
    controls, beta_sel = decay_control_arms(tuning, steps)
    for name, settings in controls.items():
        fair.arms.append(protocol.Arm(name, settings, label=f"{name.split('+')[0]} + the direction's decay"))
        tuning[name] = {"selected": settings, "grid": [], "tuned_like": name.split("+")[0]}
    fastest = fastest_classic(tuning, steps)
    fair.claims = [
        protocol.Claim("higher accuracy than the best tuned Adam", "direction", "adam", **CLAIM_ACC),
        protocol.Claim(f"less time to {100 * target:.0f} % validation accuracy than the fastest tuned classic "
                       f"optimizer ({fastest})", "direction", fastest, **CLAIM_TIME),
        protocol.Claim("direction vs Adam with the same decay (is it the direction or the annealing?)", "direction",
                       "adam+decay", metric="test_acc", claimed_effect=0.0, source="control", scorecard=False),
        protocol.Claim("direction vs Momentum with the same decay", "direction", "momentum+decay", metric="test_acc",
                       claimed_effect=0.0, source="control", scorecard=False),
        protocol.Claim("Adam: the direction's decay vs its own selected schedule", "adam+decay", "adam",
                       metric="test_acc", claimed_effect=0.0, source="control", scorecard=False),
    ]
    return fair, tuning, beta_sel, fastest


def extra_columns(finals):
    """The arms tables' columns besides accuracy: time to target, late decline, the lr reached."""
    return [("iterations to target (reached)", lambda n: _reach(finals[n])),
            ("peak − final val. (pp)",
             lambda n: f"{100 * np.mean([r['metrics']['peak_minus_final'] for r in finals[n]]):.2f}"),
            ("lr_T / lr_0", lambda n: f"{np.mean([r['metrics']['lr_ratio'] for r in finals[n]]):.3g}")]


def _tuning_iters(exp, runner, tuning):
    """Add each grid point's iterations-to-target (from the stored tuning runs) to the tuning record."""
    seeds = [protocol.TUNE_SEED0 + i for i in range(exp.tune_seeds)]
    for arm in exp.arms:
        for g in tuning[arm.name]["grid"]:
            recs = runner.map(exp.specs("tune", arm.name, g["settings"], seeds), count=False)
            g["iters"] = [r["metrics"]["iters_to_target"] for r in recs]


def _reach(records):
    its = [r["metrics"]["iters_to_target"] for r in records]
    n = sum(r["metrics"]["reached"] for r in records)
    return f"{np.mean(its):,.0f} ({n}/{len(records)})"


def _curves(finals):
    return {name: [r["metrics"]["curve"] for r in recs] for name, recs in finals.items()}


def curves_figure(finals, t_finals, target):
    fig = figure(figsize=(11, 3.8))
    axes = fig.subplots(1, 2)
    for ax, fin, title in ((axes[0], finals, "fair: every optimizer tuned on validation"),
                           (axes[1], t_finals, "as the text says (lr 1e-3 baselines)")):
        for name, recs in fin.items():
            curves = np.array([r["metrics"]["curve"] for r in recs], dtype=np.float64)   # (seeds, evals, 2)
            ls = "--" if "+decay" in name else "-"
            ax.plot(curves[0, :, 0], 100 * curves[:, :, 1].mean(axis=0), ls, color=COLORS.get(name, "k"),
                    lw=2 if name == "direction" else 1.2, label=name)
        ax.axhline(100 * target, color="k", lw=0.6, ls=":")
        ax.set_xlabel("iteration")
        ax.set_ylabel("validation accuracy % (mean over seeds)")
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3)
        ax.set_ylim(max(0, ax.get_ylim()[0]), None)
        ax.legend(fontsize=7)
    fig.suptitle("Technique B: gradient direction vs classic optimizers (LeNet-5, Fashion-MNIST)")
    fig.tight_layout()
    return fig


def schedule_figure(beta, steps, text_steps, tuning):
    fig = figure(figsize=(7, 3.6))
    ax = fig.subplots()
    t = np.arange(max(steps, text_steps))
    ax.semilogy(t[:text_steps], (1 - DEFAULT_BETA) ** t[:text_steps], color="C3", ls="--",
                label="text setting: β = 0.0003")
    ax.semilogy(t[:steps], (1 - beta) ** t[:steps], color="C3", label=f"fair setting, selected β = {beta:.2g}")
    sel = tuning["adam"]["selected"]
    if sel.get("schedule") == "cosine":
        ax.semilogy(t[:steps], [max(Cosine(steps)(i), 1e-4) for i in t[:steps]], color="C0",
                    label="Adam's selected schedule (cosine)")
    ax.axhline(TEXT_RATIO, color="k", lw=0.6, ls=":", label=f"the text's α_T/α0 ≈ {TEXT_RATIO:.4f}")
    ax.set_xlabel("iteration t")
    ax.set_ylabel("α_t / α0  (lr_t / lr_0)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7)
    ax.set_title("Step-length schedules", fontsize=10)
    fig.tight_layout()
    return fig


if __name__ == "__main__":
    raise SystemExit(main())
