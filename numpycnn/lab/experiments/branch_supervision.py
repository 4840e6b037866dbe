"""Technique A tested: a deep plain sigmoid CNN that trains slowly under SGD, with and without branch supervision.

``python -m numpycnn compare branch_supervision`` (alias ``compare branch``) ``[--quick] [--seeds 5]``

The text's mechanism is *magnitude*: the third gradient (first + second) is larger below the branch point,
so it reaches the low layers of a deep plain network trained by SGD. The claim can only show where plain
training is alive but slow, so the experiment first **probes** for that regime and records it:

* **Probe.** Plain sigmoid CNNs (3×3 conv layers of 8 filters, 2×2 max pooling after the first two, no
  normalisation, no skips) over depth × SGD + momentum learning rate × initialisation (Xavier/Glorot
  uniform, and ×2), no branch, one seed, a fixed budget. A setting is *alive* when its validation accuracy
  reaches 50 % within the budget, *slow* when it needs at least twice the iterations of the 2-layer net with
  the same initialisation. The deepest alive-but-slow setting is the regime.
* **Main comparison** in that regime, Fashion-MNIST, the learning rate chosen on validation for every arm
  separately, paired seeds: plain · a branch at the automatically chosen point (the text: after the first
  conv layer, scanning from the output, whose mean |gradient| is below 10 % of the top layer's) · a branch at
  a fixed lower point (after conv1) · companions after every conv layer but the last (Deeply-Supervised Nets)
  · the automatic branch with λ decayed linearly to 0 (DSN's schedule) — and an Adam pair (plain vs branch),
  the control where the text's mechanism predicts little effect (Adam normalises gradient magnitudes).

Measures: iterations and seconds until validation accuracy first reaches 50 % and 75 %; final test
accuracy; per-layer ‖∂L/∂W‖ over training; the branch head's own test accuracy.
"""
import time

import numpy as np

from ...plots import figure
from ...techniques.branch_supervision import (Branch, BranchSupervision, GradientFlow, branch_point_after,
                                             choose_branch_point, evaluate_branches, measure_gradient_profile)
from .. import builder
from . import protocol

NAME = "branch_supervision"
PROBE_RULE = ("alive: validation accuracy reaches 50 % within the probe budget; slow: it needs at least twice the "
              "iterations of the 2-layer net with the same initialisation; the regime is the deepest alive-but-slow "
              "setting")
TARGETS = (0.5, 0.75)
#: the probe's budget; the main comparison runs twice as long, so a setting that becomes alive late in the
#: probe still has half the main budget to converge (the protocol's trained check)
PROBE_STEPS = 1600
COLORS = {"plain": "C0", "branch_auto": "C3", "branch_low": "C1", "companions": "C2", "branch_decay": "C4",
          "adam_plain": "C7", "adam_branch": "C5"}
LABELS = {"plain": "plain (SGD + momentum)", "branch_auto": "branch at the automatic point",
          "branch_low": "branch at a fixed lower point (after conv1)",
          "companions": "companions after every conv layer but the last (DSN)",
          "branch_decay": "automatic branch, λ decayed linearly to 0 (DSN)",
          "adam_plain": "Adam control: plain", "adam_branch": "Adam control: automatic branch"}


def train_options(settings, seed):
    """The ``train`` options of a setting: the plain sigmoid trunk (``depth`` conv layers of ``width`` filters,
    a pool after each of the first two, Xavier uniform × ``gain``), SGD + momentum 0.9 or Adam at ``lr``."""
    optimizer = dict(optimizer="adam") if settings["optimizer"] == "adam" else dict(optimizer="sgd", momentum=0.9)
    return builder.options(model="plain_cnn", depth=settings["depth"], width=settings["width"], activation="sigmoid",
                           pool_every=1, init_gain=settings["gain"], lr=settings["lr"], seed=seed, batch_size=64,
                           no_progress=True, **optimizer)


def branch_points(model, kind, train):
    """Where the branches hang: ``auto`` (the text's placement), ``low`` (after conv1), ``companions``
    (after every conv layer but the last) or ``none``."""
    convs = model.conv_layers()
    if kind == "none":
        return [], None
    if kind == "low":
        return [branch_point_after(model, convs[0])], None
    if kind == "companions":
        return [branch_point_after(model, c) for c in convs[:-1]], None
    profile = measure_gradient_profile(model, train.x[:320], train.y[:320])
    conv = choose_branch_point(profile, 0.1) or convs[len(convs) // 2 - 1]
    return [branch_point_after(model, conv)], profile


def run(settings, seed, ctx):
    """One run: plain or branched trunk, SGD + momentum or Adam; returns times to targets, gradient flow."""
    opts = train_options(settings, seed)
    model, optimizer = builder.build(opts, ctx.data.input_shape, ctx.data.num_classes, data=ctx.data)
    points, profile = branch_points(model, settings.get("branch", "none"), ctx.train)
    branches = [Branch(model, at, weight=1.0, coefficient=settings.get("coefficient", 0.1), seed=seed + 17 * i)
                for i, at in enumerate(points)]
    flow = GradientFlow(layers=model.conv_layers())
    callbacks = [flow]
    if branches:
        schedule = "linear" if settings.get("decay") else "constant"
        callbacks.insert(0, BranchSupervision(branches, schedule, total_steps=settings["steps"]))
    trainer = builder.trainer_for(opts, model, optimizer, ctx.data, extra_callbacks=callbacks)
    m = protocol.fit_and_score(trainer, ctx, settings["steps"], evals=settings.get("evals", 40))
    for target in TARGETS:
        key = f"{100 * target:.0f}"
        m[f"iters_to_{key}"], m[f"reached_{key}"] = protocol.first_reaching(m["curve"], target, settings["steps"])
        m[f"seconds_to_{key}"] = protocol.seconds_reaching(m["curve"], m["curve_seconds"], target)
    every = max(1, settings["steps"] // 50)
    m["grad_norm"] = {n: [float(np.mean(v[i:i + every])) for i in range(0, len(v), every)]
                      for n, v in flow.norms.items()}
    m["branch_points"], m["profile"] = points, profile
    if branches and ctx.test is not None:
        acc = evaluate_branches(model, branches, ctx.test.x, ctx.test.y)
        m["branch_test_acc"] = {b.at: acc[f"branch@{b.at}"] for b in branches}
    return m


# ------------------------------------------------------------------------------------------------
def probe(runner, data, quick):
    """The regime search: plain nets over depth × lr × initialisation; returns (regime, records)."""
    depths = (2, 3) if quick else (2, 3, 4, 5, 6)
    gains = (1.0,) if quick else (1.0, 2.0)
    lrs = (0.1,) if quick else (0.1, 0.3)
    steps = 40 if quick else PROBE_STEPS
    specs, keys = [], []
    for gain in gains:
        for depth in depths:
            for lr in lrs:
                s = {"depth": depth, "width": 4 if quick else 8, "gain": gain, "lr": lr, "optimizer": "momentum",
                     "branch": "none", "steps": steps, "evals": 20}
                specs.append(protocol.RunSpec(run, "probe", f"d{depth}-g{gain:g}", s, 0, data, quick))
                keys.append((gain, depth, lr))
    records = runner.map(specs, desc=f"{NAME}: probe")
    best = {}                                    # (gain, depth) -> the fastest lr's iterations to 50 %
    for (gain, depth, lr), r in zip(keys, records):
        it, reached = r["metrics"]["iters_to_50"], r["metrics"]["reached_50"]
        if reached and ((gain, depth) not in best or it < best[(gain, depth)][0]):
            best[(gain, depth)] = (it, lr)
    rows = []
    chosen = None
    for gain in gains:
        shallow = best.get((gain, depths[0]))
        for depth in depths:
            alive = (gain, depth) in best
            slow = alive and shallow is not None and best[(gain, depth)][0] >= 2 * shallow[0]
            rows.append({"gain": gain, "depth": depth, "alive": alive, "slow": bool(slow),
                         "iters_to_50": best[(gain, depth)][0] if alive else None,
                         "best_lr": best[(gain, depth)][1] if alive else None})
            if alive and slow and (chosen is None or depth > chosen["depth"]
                                   or (depth == chosen["depth"] and gain < chosen["gain"])):
                chosen = {"depth": depth, "gain": gain}
    if chosen is None:          # nothing alive and slow: the deepest alive setting (said in the table)
        alive = [r for r in rows if r["alive"]]
        pick = max(alive, key=lambda r: (r["depth"], -r["gain"])) if alive else rows[0]
        chosen = {"depth": pick["depth"], "gain": pick["gain"], "fallback": "no alive-but-slow setting"}
    return chosen, rows, [{"settings": r["settings"], "curve": r["metrics"]["curve"]} for r in records], steps


def main(argv=None):
    p = protocol.parser(NAME, __doc__)
    p.add_argument("--steps", type=int, default=None,
                   help=f"iterations per run of the main comparison (default {2 * PROBE_STEPS}: twice the probe's)")
    args = p.parse_args(argv)
    protocol.check_positive(args, NAME, "steps")
    runner = protocol.check_args(args, NAME)
    quick = args.quick
    data = protocol.DataSpec(train=800 if quick else 12_000, val=200 if quick else 1_500,
                             test=300 if quick else 5_000, data_dir=args.data_dir)
    protocol.require_data(data)
    t0 = time.perf_counter()
    regime, probe_rows, probe_curves, probe_steps = probe(runner, data, quick)
    steps = args.steps or (60 if quick else 2 * PROBE_STEPS)
    base = {"depth": regime["depth"], "gain": regime["gain"], "width": 4 if quick else 8, "steps": steps,
            "coefficient": 0.1}
    exp = protocol.Experiment(name=NAME, title="Technique A, tested", run=run, data=data, arms=arms(base, quick),
                              claims=claims(), seeds=args.seeds, tune_seeds=1 if quick else 2, quick=quick,
                              trained=protocol.TrainedCheck("plain", min_accuracy=0.3 if quick else 0.5),
                              budget={"iterations": steps, "batch": 64, "probe_iterations": probe_steps})
    tuning, finals, arm_rows, comparisons, check = protocol.run_protocol(exp, runner)
    table = protocol.arms_table(arm_rows, extra_columns(finals), hide=protocol.HIDDEN_SETTINGS + (
        "depth", "gain", "width", "coefficient", "branch", "decay"))
    protocol.publish(
        exp, runner, argv, t0, args.out, arm_rows, comparisons, check,
        intro=intro(data, probe_rows, probe_steps, regime, base, exp.seeds), body=[table],
        figures={"curves": lambda: curves_figure(finals), "gradient_flow": lambda: gradient_figure(finals),
                 "probe": lambda: probe_figure(probe_curves, regime)},
        probe={"rule": PROBE_RULE, "regime": regime, "rows": probe_rows, "curves": probe_curves},
        curves={a: [r["metrics"]["curve"] for r in finals[a]] for a in finals},
        grad_norm={a: finals[a][0]["metrics"]["grad_norm"] for a in finals},
        branch_points={a: finals[a][0]["metrics"]["branch_points"] for a in finals},
        branch_test_acc={a: [r["metrics"].get("branch_test_acc") for r in finals[a]] for a in finals})
    return 0


def arms(base, quick):
    """Five SGD + momentum arms (plain, and the branch variants) and the Adam pair, each tuning its learning rate."""
    sgd_lrs = (0.1,) if quick else (0.05, 0.1)
    adam_lrs = (3e-3,) if quick else (1e-3, 3e-3)
    sgd = {**base, "optimizer": "momentum"}
    adam = {**base, "optimizer": "adam"}
    fixed = {"plain": {**sgd, "branch": "none"}, "branch_auto": {**sgd, "branch": "auto"},
             "branch_low": {**sgd, "branch": "low"}, "companions": {**sgd, "branch": "companions"},
             "branch_decay": {**sgd, "branch": "auto", "decay": True},
             "adam_plain": {**adam, "branch": "none"}, "adam_branch": {**adam, "branch": "auto"}}
    return [protocol.Arm(name, settings, grid={"lr": adam_lrs if name.startswith("adam") else sgd_lrs},
                         label=LABELS[name]) for name, settings in fixed.items()]


def claims():
    """The published claims (fewer iterations, higher accuracy; the branch and DSN's companions) and the analyses."""
    faster = dict(metric="iters_to_50", lower_is_better=True, relative=True, unit="%", claimed_effect=10.0,
                  source="the text: a deeper gradient, faster training (no size given; we test for ≥ 10 % fewer "
                         "iterations)")
    better = dict(metric="test_acc", claimed_effect=0.76, source="Deeply-Supervised Nets, CIFAR-10 error "
                                                                 "10.41 → 9.65 %")
    Claim = protocol.Claim
    return [Claim("the branch reaches 50 % validation accuracy in fewer iterations (SGD)", "branch_auto", "plain",
                  **faster),
            Claim("the branch gives a higher final test accuracy (SGD)", "branch_auto", "plain", **better),
            Claim("DSN companions reach 50 % in fewer iterations (SGD)", "companions", "plain", **faster),
            Claim("DSN companions give a higher final test accuracy (SGD)", "companions", "plain", **better),
            Claim("fixed lower branch: fewer iterations to 50 %", "branch_low", "plain",
                  **dict(faster, source="analysis"), scorecard=False),
            Claim("λ decayed to 0: final test accuracy", "branch_decay", "plain", metric="test_acc",
                  claimed_effect=0.0, source="analysis", scorecard=False),
            Claim("fewer iterations to 75 % (SGD)", "branch_auto", "plain",
                  **dict(faster, metric="iters_to_75", source="analysis"), scorecard=False),
            Claim("Adam control: the branch's effect on iterations to 50 %", "adam_branch", "adam_plain",
                  **dict(faster, source="control: the text's mechanism predicts little effect"), scorecard=False),
            Claim("Adam control: the branch's effect on final test accuracy", "adam_branch", "adam_plain",
                  metric="test_acc", claimed_effect=0.0, source="control", scorecard=False)]


def extra_columns(finals):
    """The arms table's columns besides accuracy: iterations and seconds to the targets, the branch heads."""
    def reach(a, key):
        recs = finals[a]
        n = sum(r["metrics"][f"reached_{key}"] for r in recs)
        return f"{np.mean([r['metrics'][f'iters_to_{key}'] for r in recs]):,.0f} ({n}/{len(recs)})"

    def branch_acc(a):
        accs = [v for r in finals[a] for v in (r["metrics"].get("branch_test_acc") or {}).values()]
        return f"{100 * np.mean(accs):.1f}" if accs else "–"

    return [("iterations to 50 % (reached)", lambda a: reach(a, "50")),
            ("iterations to 75 %", lambda a: reach(a, "75")),
            ("seconds to 50 %", lambda a: f"{np.mean([r['metrics']['seconds_to_50'] for r in finals[a]]):.1f}"),
            ("branch head test acc. %", branch_acc),
            ("branch point(s)", lambda a: ", ".join(finals[a][0]["metrics"]["branch_points"]) or "–")]


def intro(data, probe_rows, probe_steps, regime, base, seeds):
    """The report's first paragraph: the data, the probe and the regime it chose, the main comparison."""
    probe_md = " · ".join(f"depth {r['depth']}, gain {r['gain']:g}: " +
                          (f"50 % after {r['iters_to_50']} its (lr {r['best_lr']}){' — slow' if r['slow'] else ''}"
                           if r["alive"] else "not alive") for r in probe_rows)
    return (f"**Technique A — branch supervision, tested.** {data.describe()}. Probe ({probe_steps:,} iterations, "
            f"plain sigmoid CNNs of width {base['width']}, SGD + momentum 0.9, lr ∈ {{0.1, 0.3}}, Xavier uniform × "
            f"gain): {probe_md}. Regime chosen: **depth {regime['depth']}, gain {regime['gain']:g}**"
            f"{' (' + regime['fallback'] + ')' if 'fallback' in regime else ''}. Main comparison: "
            f"{base['steps']:,} iterations, batch 64, branch = one FC layer + softmax, λ = 1, branch SGD coefficient "
            f"0.1; the learning rate of every arm chosen on validation; {seeds} paired seeds (same trunk weights and "
            f"data order within a seed).")


def curves_figure(finals):
    fig = figure(figsize=(11, 3.8))
    ax1, ax2 = fig.subplots(1, 2)
    for a, recs in finals.items():
        curve = np.array([r["metrics"]["curve"] for r in recs], dtype=np.float64)
        ax = ax2 if a.startswith("adam") else ax1
        ax.plot(curve[0, :, 0], 100 * curve[:, :, 1].mean(axis=0), color=COLORS[a], lw=1.4, label=LABELS[a])
    for ax, title in ((ax1, "SGD + momentum: the regime of the claim"), (ax2, "Adam: the control")):
        ax.axhline(50, color="k", lw=0.5, ls=":")
        ax.set_xlabel("iteration")
        ax.set_ylabel("validation accuracy % (mean over seeds)")
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle("Technique A: deep plain sigmoid CNN with and without branch supervision")
    fig.tight_layout()
    return fig


def gradient_figure(finals):
    fig = figure(figsize=(7.5, 3.8))
    ax = fig.subplots()
    for a in ("plain", "branch_auto", "companions"):
        g = finals[a][0]["metrics"]["grad_norm"]
        names = list(g)
        x = np.arange(1, len(names) + 1)
        first = [np.mean(g[n][:max(1, len(g[n]) // 10)]) for n in names]      # the first 10 % of training
        ax.semilogy(x, first, "o-", color=COLORS[a], label=LABELS[a])
        ax.set_xticks(x, names)
    ax.set_xlabel("conv layer (input → output)")
    ax.set_ylabel("mean ‖∂L/∂W‖, first 10 % of training")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7)
    ax.set_title("The third gradient lifts the layers below the branch point (first seed)", fontsize=10)
    fig.tight_layout()
    return fig


def probe_figure(curves, regime):
    fig = figure(figsize=(7.5, 3.8))
    ax = fig.subplots()
    for c in curves:
        s = c["settings"]
        if s["lr"] != 0.1:
            continue
        curve = np.asarray(c["curve"], dtype=np.float64)
        chosen = s["depth"] == regime["depth"] and s["gain"] == regime["gain"]
        ax.plot(curve[:, 0], 100 * curve[:, 1], lw=2.2 if chosen else 1, ls="-" if s["gain"] == 1 else "--",
                color=f"C{s['depth']}",
                label=f"depth {s['depth']}, gain {s['gain']:g}" + (" (chosen)" if chosen else ""))
    ax.set_xlabel("iteration")
    ax.set_ylabel("validation accuracy %")
    ax.set_title("Probe: plain sigmoid CNNs, SGD + momentum, lr 0.1", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return fig


if __name__ == "__main__":
    raise SystemExit(main())
