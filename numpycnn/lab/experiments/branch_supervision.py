"""Technique A tested: a deep plain sigmoid CNN that trains slowly under SGD, with and without branch supervision.

``python -m numpycnn compare branch_supervision`` (alias ``compare branch``) ``[--quick] [--seeds 5]``

The text's mechanism is *magnitude*: the third gradient (first + second) is larger below the branch point,
so it reaches the low layers of a deep plain network trained by SGD. The claim can only show where plain
training is alive but slow, so the experiment first **probes** for that regime, on seeds of its own, and
records it:

* **Probe** (probe seeds 2000–2001, never used again). Plain sigmoid CNNs (3×3 conv layers of 8 filters, 2×2
  max pooling after the first two, no normalisation, no skips) of depth {2, 3, 4, 5} × initialisation
  (Xavier/Glorot uniform × gain {1, 2}), SGD + momentum 0.9 at lr 0.1, batch 64, 1,600 iterations, no branch.
  A setting is *alive* when validation accuracy reaches 50 % within the budget on both probe seeds, *slow*
  when the median over the probe seeds of its iterations to 50 % is at least twice the 2-layer net's (same
  gain). The regime is the deepest alive-and-slow setting (the smaller gain at equal depth).
* **Main comparison** in that regime, every arm its own 3-point learning-rate grid chosen on validation
  (2 tuning seeds, one extension at an edge), then paired final seeds: plain SGD + momentum (baseline) ·
  the text's branch at the automatically chosen point (after the first conv layer, scanning from the
  output, whose mean |gradient| is below 10 % of the top layer's; primary arm) · companions after every
  conv layer but the last (Deeply-Supervised Nets) — and an Adam pair (plain vs the automatic branch), the
  control where the text's mechanism predicts little effect (Adam normalises gradient magnitudes). SGD
  grids lr ∈ {0.05, 0.1, 0.2}; Adam grids lr ∈ {3e-4, 1e-3, 3e-3}. The first version's fixed lower branch
  and DSN's λ decay are dropped (budget).

**Measures.** Iterations (and training seconds) until validation accuracy first reaches 50 %, read
between evaluations by linear interpolation; in the final runs validation is read every 10 iterations up to
twice the probe's slow value (at least 1,000, at most half the budget), plus 40 evenly spaced evaluations
(the tuning runs, which select on the final validation accuracy, read only the 40: evaluation does not
change training). The grid step at the crossing is the time claims' ``quantum``. Also: final test accuracy, per-layer ‖∂L/∂W‖ over
training (the figure shows the mean over the final seeds, never the probe's), the branch heads' own test
accuracy.

**Claims** (Holm over all six rows; the primary on its own 95 % interval, on 8 seeds): PRIMARY — the
text's automatic branch reaches 50 % validation accuracy in fewer iterations than plain SGD (relative,
threshold (ours) 10 %: the text gives no size); DSN companions the same; each of them a higher test accuracy
(relative error reduction 7.3 %, DSN's CIFAR-10 10.41 → 9.65 %); the Adam pair on iterations and on accuracy
(controls).

**Trained check**: every arm's validation accuracy flat over the last 40 % of the iterations — the 95 % CI
of the slope ends below 1 pp per 1,000 iterations, small against the ≈ 1 pp accuracy effect tested
(7.3 % of a ≈ 14 % error) and far below the speed effect.

**Budget.** 3,200 iterations per main run: one run of the plain arm (lr 0.1, tuning seed 1000; the run
function called directly in one process, one BLAS thread) still rose 2.3 pp per 1,000 iterations over the
last 40 % of 2,400 iterations and was flat (+0.0) over the last 40 % of 3,200, in 38.6 s of CPU (the
automatic branch: 41.7 s). CPU time per step (``time.process_time``, one BLAS thread, 200 iterations of each
network): plain depth 4 10.5 ms, with the automatic branch 11.8, with the companions 14.0, depth 5 13.1,
depth 2 7.4; one evaluation of the 1,000 validation images ≈ 0.09 s. So a tuning run (3,200 iterations, 40
evaluations) ≈ 42 s, a final run (≈ 110–140 more evaluations) ≈ 53 s, a probe run (1,600 iterations, 40
evaluations) ≈ 20 s. Runs: probe 16 · tuning 5 arms × 3 × 2 seeds = 30 (+ at most 10 for edge extensions) ·
final 8 + 8 + 3 × 5 = 31. Estimate (16 × 20 + 30 × 42 + 31 × 53) / 2 ≈ 27 min with 2 workers; ≈ 30 min if
every grid extends.
"""
import time

import numpy as np

from ...plots import figure
from ...techniques.branch_supervision import (Branch, BranchSupervision, GradientFlow, branch_point_after,
                                             choose_branch_point, evaluate_branches, measure_gradient_profile)
from .. import builder
from . import protocol

NAME = "branch_supervision"
TARGET = 0.5
PROBE_DEPTHS, PROBE_GAINS, PROBE_LR, PROBE_STEPS, PROBE_SEEDS = (2, 3, 4, 5), (1.0, 2.0), 0.1, 1600, 2
PROBE_RULE = ("alive: validation accuracy reaches 50 % within the probe budget on every probe seed; slow: the median "
              "over the probe seeds of its iterations to 50 % is at least twice the 2-layer net's (same gain); the "
              "regime is the deepest alive-and-slow setting (the smaller gain at equal depth)")
#: the main comparison's iterations per run
STEPS = 3200
SGD_LRS, ADAM_LRS = (0.05, 0.1, 0.2), (3e-4, 1e-3, 3e-3)
#: validation read every DENSE_EVERY iterations early in the final runs (the time measure), plus EVALS evenly spaced
DENSE_EVERY, DENSE_MIN, EVALS = 10, 1000, 40
COLORS = {"plain": "C0", "branch_auto": "C3", "companions": "C2", "adam_plain": "C7", "adam_branch": "C5"}
LABELS = {"plain": "plain (SGD + momentum)", "branch_auto": "the text's branch at the automatic point",
          "companions": "companions after every conv layer but the last (DSN)",
          "adam_plain": "Adam control: plain", "adam_branch": "Adam control: automatic branch"}


def train_options(settings, seed):
    """The ``train`` options of a setting: the plain sigmoid trunk (``depth`` conv layers of ``width`` filters,
    a pool after each of the first two, Xavier uniform × ``gain``), SGD + momentum 0.9 or Adam at ``lr``."""
    optimizer = dict(optimizer="adam") if settings["optimizer"] == "adam" else dict(optimizer="sgd", momentum=0.9)
    return builder.options(model="plain_cnn", depth=settings["depth"], width=settings["width"], activation="sigmoid",
                           pool_every=1, init_gain=settings["gain"], lr=settings["lr"], seed=seed, batch_size=64,
                           no_progress=True, **optimizer)


def branch_points(model, kind, train):
    """Where the branches hang: ``auto`` (the text's placement), ``companions`` (after every conv layer but
    the last) or ``none``; returns ``(points, gradient profile or None)``."""
    convs = model.conv_layers()
    if kind == "none":
        return [], None
    if kind == "companions":
        return [branch_point_after(model, c) for c in convs[:-1]], None
    profile = measure_gradient_profile(model, train.x[:320], train.y[:320])
    conv = choose_branch_point(profile, 0.1) or convs[len(convs) // 2 - 1]
    return [branch_point_after(model, conv)], profile


def run(settings, seed, ctx):
    """One run: plain or branched trunk, SGD + momentum or Adam.

    Returns the protocol's metrics plus ``iters_to_50`` / ``seconds_to_50`` (interpolated; the whole budget
    when never reached, ``reached_50`` False), ``spacing_at_50`` (the evaluation grid step at the crossing),
    ``iters_to_75``, the per-layer gradient norms (``grad_norm``: 50 means over equal stretches of training),
    the branch points and, in the final stage, each branch head's test accuracy. Validation is read densely
    early (``settings["dense"] = [every, until]``) in the final stage only.
    """
    opts = train_options(settings, seed)
    model, optimizer = builder.build(opts, ctx.data.input_shape, ctx.data.num_classes, data=ctx.data)
    points, profile = branch_points(model, settings.get("branch", "none"), ctx.train)
    branches = [Branch(model, at, weight=1.0, coefficient=settings.get("coefficient", 0.1), seed=seed + 17 * i)
                for i, at in enumerate(points)]
    flow = GradientFlow(layers=model.conv_layers())
    callbacks = [flow]
    if branches:
        callbacks.insert(0, BranchSupervision(branches, "constant", total_steps=settings["steps"]))
    trainer = builder.trainer_for(opts, model, optimizer, ctx.data, extra_callbacks=callbacks)
    dense = tuple(settings["dense"]) if settings.get("dense") and ctx.stage == "final" else None
    m = protocol.fit_and_score(trainer, ctx, settings["steps"], evals=settings.get("evals", EVALS), dense=dense)
    m["iters_to_50"], m["reached_50"] = protocol.first_reaching(m["curve"], TARGET, settings["steps"])
    m["seconds_to_50"] = protocol.seconds_reaching(m["curve"], m["curve_seconds"], TARGET)
    m["spacing_at_50"] = protocol.spacing_at(m["curve"], TARGET)
    m["iters_to_75"], m["reached_75"] = protocol.first_reaching(m["curve"], 0.75, settings["steps"])
    every = max(1, settings["steps"] // 50)
    m["grad_norm"] = {n: [float(np.mean(v[i:i + every])) for i in range(0, len(v), every)]
                      for n, v in flow.norms.items()}
    m["branch_points"], m["profile"] = points, profile
    if branches and ctx.test is not None:
        acc = evaluate_branches(model, branches, ctx.test.x, ctx.test.y)
        m["branch_test_acc"] = {b.at: acc[f"branch@{b.at}"] for b in branches}
    return m


# ------------------------------------------------------------------------------------------------
def probe_settings(quick, width=None):
    """The probe's grid: ``[(depth, gain, settings), ...]`` (plain nets of ``width`` filters, default 8, 4 with
    ``quick``; SGD + momentum at lr 0.1)."""
    depths, gains = ((2, 3), (1.0,)) if quick else (PROBE_DEPTHS, PROBE_GAINS)
    steps = 40 if quick else PROBE_STEPS
    return [(depth, gain, {"depth": depth, "width": width or (4 if quick else 8), "gain": gain, "lr": PROBE_LR,
                           "optimizer": "momentum", "branch": "none", "steps": steps, "evals": 20 if quick else EVALS})
            for gain in gains for depth in depths]


def probe(exp, runner, width=None):
    """The regime search on the probe seeds (nets of ``width`` filters: :func:`probe_settings`); returns
    ``(regime, rows, curves)``.

    ``rows``: per (depth, gain) the iterations to 50 % per probe seed, their median, alive and slow;
    ``curves``: every probe run's validation curve with its settings and seed.
    """
    seeds = exp.seed_sets()["probe"]
    grid = probe_settings(exp.quick, width)
    specs = [s for depth, gain, settings in grid
             for s in exp.specs("probe", f"probe-d{depth}-g{gain:g}", settings, seeds)]
    records = runner.map(specs, desc=f"{NAME}: probe")
    rows, curves = [], []
    for i, (depth, gain, _) in enumerate(grid):
        runs = records[i * len(seeds):(i + 1) * len(seeds)]
        its = [r["metrics"]["iters_to_50"] for r in runs]
        alive = all(r["metrics"]["reached_50"] for r in runs)
        rows.append({"depth": depth, "gain": gain, "iters_to_50": its, "median": float(np.median(its)),
                     "alive": alive})
        curves += [{"settings": r["settings"], "seed": r["seed"], "curve": r["metrics"]["curve"]} for r in runs]
    for row in rows:
        shallow = next(r for r in rows if r["gain"] == row["gain"] and r["depth"] == min(d for d, _, _ in grid))
        row["slow"] = bool(row["alive"] and shallow["alive"] and row["median"] >= 2 * shallow["median"])
    candidates = [r for r in rows if r["slow"]]
    if candidates:
        pick = max(candidates, key=lambda r: (r["depth"], -r["gain"]))
        regime = {"depth": pick["depth"], "gain": pick["gain"], "median_iters_to_50": pick["median"]}
    else:                       # nothing alive and slow: the deepest alive setting (said in the report)
        alive = [r for r in rows if r["alive"]] or rows[:1]
        pick = max(alive, key=lambda r: (r["depth"], -r["gain"]))
        regime = {"depth": pick["depth"], "gain": pick["gain"], "median_iters_to_50": pick["median"],
                  "fallback": "no alive-and-slow setting: the deepest alive one"}
    shallow = next(r for r in rows if r["gain"] == regime["gain"] and r["depth"] == min(d for d, _, _ in grid))
    regime["shallow_median_iters_to_50"] = shallow["median"]
    return regime, rows, curves


def dense_until(regime, steps, quick):
    """The last iteration read densely: twice the probe's median iterations to 50 % in the regime, at least
    :data:`DENSE_MIN`, at most half the budget (half the budget in --quick), a multiple of the spacing."""
    low = steps // 2 if quick else DENSE_MIN
    until = min(max(low, 2 * regime["median_iters_to_50"]), steps // 2)
    return int(DENSE_EVERY * np.ceil(until / DENSE_EVERY))


def arms(base):
    """Three SGD + momentum arms (plain, the text's automatic branch, DSN companions) and the Adam pair, each
    its own 3-point learning-rate grid."""
    sgd = {**base, "optimizer": "momentum"}
    adam = {**base, "optimizer": "adam"}
    fixed = {"plain": {**sgd, "branch": "none"}, "branch_auto": {**sgd, "branch": "auto"},
             "companions": {**sgd, "branch": "companions"},
             "adam_plain": {**adam, "branch": "none"}, "adam_branch": {**adam, "branch": "auto"}}
    return [protocol.Arm(name, settings, grid={"lr": ADAM_LRS if name.startswith("adam") else SGD_LRS},
                         label=LABELS[name]) for name, settings in fixed.items()]


FASTER = dict(metric="iters_to_50", lower_is_better=True, relative=True, unit="%", quantum="spacing_at_50")
SPEED_SOURCE = "the text: a deeper gradient, faster training — no size given; threshold (ours): 10 % fewer iterations"
DSN_SOURCE = "Deeply-Supervised Nets vs plain, CIFAR-10 error 10.41 → 9.65 % (7.3 % fewer errors)"


def claims():
    """The primary claim (the text's automatic branch is faster), DSN's companions, accuracy, the Adam controls."""
    Claim = protocol.Claim
    return [
        Claim("the text's automatic branch reaches 50 % validation accuracy in fewer iterations than plain SGD",
              "branch_auto", "plain", published=10.0, conversion="threshold (ours)", source=SPEED_SOURCE,
              primary=True, **FASTER),
        Claim("DSN companions reach 50 % validation accuracy in fewer iterations than plain SGD", "companions",
              "plain", published=10.0, conversion="threshold (ours)", source=SPEED_SOURCE, **FASTER),
        Claim("the text's automatic branch gives a higher test accuracy than plain SGD", "branch_auto", "plain",
              published=0.073, conversion="relative error reduction", source=DSN_SOURCE),
        Claim("DSN companions give a higher test accuracy than plain SGD", "companions", "plain", published=0.073,
              conversion="relative error reduction", source=DSN_SOURCE),
        Claim("Adam control: the automatic branch's effect on iterations to 50 %", "adam_branch", "adam_plain",
              kind="control", source="control: Adam normalises gradient magnitudes, so the text's mechanism "
                                     "predicts little effect", scorecard=False, **FASTER),
        Claim("Adam control: the automatic branch's effect on test accuracy", "adam_branch", "adam_plain",
              kind="control", source="control", scorecard=False)]


def main(argv=None):
    p = protocol.parser(NAME, __doc__)
    p.add_argument("--steps", type=int, default=None,
                   help=f"iterations per run of the main comparison (default {STEPS})")
    args = p.parse_args(argv)
    protocol.check_positive(args, NAME, "steps")
    runner = protocol.check_args(args, NAME)
    if args.only:
        return protocol.rerun_cell(args, NAME, run)
    quick = args.quick
    # --regime paper: CIFAR-10, the preset's width (32) for the probe and the main runs (the probe still chooses the
    # depth, up to the preset's 5, and the gain), and its 20 epochs as iterations (epochs × ⌈training images / 64⌉)
    data = protocol.preset_data(args, protocol.DataSpec(train=800 if quick else 12_000, val=200 if quick else 1_000,
                                                        test=300 if quick else 5_000, data_dir=args.data_dir))
    width = protocol.preset_network(args, {"width": 4 if quick else 8})["width"]
    protocol.require_data(data)
    t0 = time.perf_counter()
    steps = args.steps or protocol.preset_iterations(args, 60 if quick else STEPS)
    primary_seeds, tune_seeds = protocol.preset_seeds(args, 3 if quick else protocol.PRIMARY_SEEDS, 1 if quick else 2)
    exp = protocol.Experiment(name=NAME, title="Technique A, tested", run=run, data=data, arms=[], claims=claims(),
                              seeds=args.seeds, primary_seeds=primary_seeds,
                              tune_seeds=tune_seeds, probe_seeds=PROBE_SEEDS, quick=quick,
                              trained=protocol.TrainedCheck(threshold=1.0, window=0.4, span="iterations"))
    regime, probe_rows, probe_curves = probe(exp, runner, width)
    until = dense_until(regime, steps, quick)
    base = {"depth": regime["depth"], "gain": regime["gain"], "width": width, "steps": steps,
            "coefficient": 0.1, "evals": 20 if quick else EVALS, "dense": [DENSE_EVERY if not quick else 2, until]}
    exp.arms = arms(base)
    exp.budget = {"iterations": steps, "batch": 64, "probe_iterations": probe_settings(quick, width)[0][2]["steps"],
                  "dense_evaluation": {"every": base["dense"][0], "until": until}, "evaluations": base["evals"]}
    tuning, finals, claim_list, arm_rows, comparisons = protocol.run_protocol(exp, runner)
    table = protocol.arms_table(arm_rows, extra_columns(finals), hide=protocol.HIDDEN_SETTINGS + (
        "depth", "gain", "width", "coefficient", "branch", "dense", "evals"))
    protocol.publish(
        exp, runner, argv, t0, args.out, arm_rows, comparisons,
        intro=intro(exp, probe_rows, regime, base), body=[table],
        notes=[baseline_slow_line(finals, regime)],
        figures={"curves": lambda: curves_figure(finals, steps), "gradient_flow": lambda: gradient_figure(finals),
                 "probe": lambda: probe_figure(probe_curves, regime)},
        probe={"rule": PROBE_RULE, "seeds": exp.seed_sets()["probe"], "regime": regime, "rows": probe_rows,
               "curves": probe_curves},
        baseline_slow=baseline_slow(finals, regime),
        time_to_50={a: {"iterations": [r["metrics"]["iters_to_50"] for r in recs],
                        "seconds": [r["metrics"]["seconds_to_50"] for r in recs],
                        "reached": [r["metrics"]["reached_50"] for r in recs]} for a, recs in finals.items()},
        grad_norm={a: [r["metrics"]["grad_norm"] for r in finals[a]] for a in finals},
        branch_points={a: finals[a][0]["metrics"]["branch_points"] for a in finals},
        branch_test_acc={a: [r["metrics"].get("branch_test_acc") for r in finals[a]] for a in finals})
    return 0


def baseline_slow(finals, regime):
    """Whether the final plain runs are slow too (the probe's rule on the final seeds; reported, not a gate)."""
    its = [r["metrics"]["iters_to_50"] for r in finals["plain"]]
    reached = sum(r["metrics"]["reached_50"] for r in finals["plain"])
    threshold = 2 * regime["shallow_median_iters_to_50"]
    return {"median_iters_to_50": float(np.median(its)), "reached": int(reached), "seeds": len(its),
            "slow_threshold": threshold, "slow": bool(np.median(its) >= threshold),
            "slow_seeds": int(sum(i >= threshold for i in its))}


def baseline_slow_line(finals, regime):
    b = baseline_slow(finals, regime)
    return (f"Is the final baseline slow too? Plain SGD reached 50 % validation accuracy in {b['reached']} of "
            f"{b['seeds']} final seeds, after a median of {b['median_iters_to_50']:,.0f} iterations: "
            f"{'slow' if b['slow'] else 'not slow'} by the probe's rule (≥ {b['slow_threshold']:,.0f}, twice the "
            f"2-layer net's median on the probe seeds; {b['slow_seeds']} of {b['seeds']} seeds slow). Each arm runs "
            f"at its own selected learning rate, so a speed difference is the technique's at its best setting.")


def extra_columns(finals):
    """The arms table's columns besides accuracy: iterations and seconds to 50 %, the branch heads."""
    def reach(a, key):
        recs = finals[a]
        n = sum(r["metrics"][f"reached_{key}"] for r in recs)
        return f"{np.median([r['metrics'][f'iters_to_{key}'] for r in recs]):,.0f} ({n}/{len(recs)})"

    def branch_acc(a):
        accs = [v for r in finals[a] for v in (r["metrics"].get("branch_test_acc") or {}).values()]
        return f"{100 * np.mean(accs):.1f}" if accs else "–"

    return [("iterations to 50 %, median (reached)", lambda a: reach(a, "50")),
            ("iterations to 75 %, median", lambda a: reach(a, "75")),
            ("seconds to 50 %, median",
             lambda a: f"{np.median([r['metrics']['seconds_to_50'] for r in finals[a]]):.1f}"),
            ("branch head test acc. %", branch_acc),
            ("branch point(s)", lambda a: ", ".join(finals[a][0]["metrics"]["branch_points"]) or "–")]


def intro(exp, probe_rows, regime, base):
    """The report's first paragraph: the data, the probe and the regime it chose, the main comparison."""
    def row_text(r):
        its = ", ".join(f"{i:,.0f}" for i in r["iters_to_50"])
        state = ("not alive" if not r["alive"] else "alive" + (", slow" if r["slow"] else ""))
        return f"depth {r['depth']}, gain {r['gain']:g}: {its} its ({state})"
    seeds = exp.seed_sets()
    fallback = f" ({regime['fallback']})" if "fallback" in regime else ""
    return (f"**Technique A — branch supervision, tested.** {exp.data.describe()}. In this regime: a plain sigmoid "
            f"CNN of depth {regime['depth']} and width {base['width']} (Xavier uniform × {regime['gain']:g}), batch "
            f"64, {base['steps']:,} iterations — chosen by a probe on seeds of its own "
            f"({', '.join(map(str, seeds['probe']))}; {exp.budget['probe_iterations']:,} iterations, SGD + momentum "
            f"0.9 at lr {PROBE_LR}; iterations to 50 % validation accuracy per probe seed: "
            f"{' · '.join(row_text(r) for r in probe_rows)}). Regime: **depth {regime['depth']}, gain "
            f"{regime['gain']:g}**{fallback}. Every arm tuned its own 3-point learning-rate grid on validation "
            f"({len(seeds['tuning'])} tuning seed(s)); branch = one FC layer + softmax, λ = 1, branch SGD coefficient "
            f"0.1. Time to 50 %: validation read every {base['dense'][0]} iterations up to {base['dense'][1]:,} "
            f"(and {base['evals']} times evenly), interpolated between readings. {exp.primary_seeds} paired final "
            f"seeds for the primary claim's arms, {exp.seeds} for the others (same trunk weights and data order "
            f"within a seed).")


def curves_figure(finals, steps):
    fig = figure(figsize=(11, 3.8))
    ax1, ax2 = fig.subplots(1, 2)
    for a, recs in finals.items():
        curve = np.array([r["metrics"]["curve"] for r in recs], dtype=np.float64)
        ax = ax2 if a.startswith("adam") else ax1
        ax.plot(curve[0, :, 0], 100 * curve[:, :, 1].mean(axis=0), color=COLORS[a], lw=1.4,
                label=f"{LABELS[a]} ({len(recs)} seeds)")
    for ax, title in ((ax1, "SGD + momentum: the regime of the claim"), (ax2, "Adam: the control")):
        ax.axhline(100 * TARGET, color="k", lw=0.5, ls=":")
        ax.set_xscale("symlog", linthresh=100)
        ax.set_xlim(10, steps)
        ax.set_xlabel("iteration (log scale above 100)")
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
        per_seed = [r["metrics"]["grad_norm"] for r in finals[a]]
        names = list(per_seed[0])
        x = np.arange(1, len(names) + 1)
        first = [np.mean([np.mean(g[n][:max(1, len(g[n]) // 10)]) for g in per_seed]) for n in names]
        ax.semilogy(x, first, "o-", color=COLORS[a], label=f"{LABELS[a]} ({len(per_seed)} seeds)")
        ax.set_xticks(x, names)
    ax.set_xlabel("conv layer (input → output)")
    ax.set_ylabel("mean ‖∂L/∂W‖, first 10 % of training")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7)
    ax.set_title("The third gradient lifts the layers below the branch point (mean over the final seeds)",
                 fontsize=10)
    fig.tight_layout()
    return fig


def probe_figure(curves, regime):
    fig = figure(figsize=(7.5, 3.8))
    ax = fig.subplots()
    seen = set()
    for c in curves:
        s = c["settings"]
        curve = np.asarray(c["curve"], dtype=np.float64)
        chosen = s["depth"] == regime["depth"] and s["gain"] == regime["gain"]
        key = (s["depth"], s["gain"])
        label = None if key in seen else f"depth {s['depth']}, gain {s['gain']:g}" + (" (chosen)" if chosen else "")
        seen.add(key)
        ax.plot(curve[:, 0], 100 * curve[:, 1], lw=2.2 if chosen else 1, ls="-" if s["gain"] == 1 else "--",
                color=f"C{s['depth']}", label=label)
    ax.axhline(100 * TARGET, color="k", lw=0.5, ls=":")
    ax.set_xlabel("iteration")
    ax.set_ylabel("validation accuracy %")
    ax.set_title(f"Probe (its own seeds, one line each): plain sigmoid CNNs, SGD + momentum, lr {PROBE_LR}",
                 fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return fig


if __name__ == "__main__":
    raise SystemExit(main())
