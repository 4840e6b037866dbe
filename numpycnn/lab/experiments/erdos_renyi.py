"""Technique C tested: Erdős–Rényi sparse networks against the published uniform baseline, trained to convergence.

``python -m numpycnn compare erdos_renyi`` (alias ``compare sparsity``) ``[--quick] [--seeds 5]``

LeNet-5 (ERK: the kernel dimensions join the ratio) and the MLP 784-300-100-10 (ER) on Fashion-MNIST,
trained sparse from the start (masks fixed) with Adam, batch 64, long enough for the dense network to
converge (the protocol's trained check), at sparsities 0.8 / 0.9 / 0.95 / 0.98, against:

* **dense**;
* **uniform** — the same density in every layer except the first, kept dense as in RigL's baseline
  ("sparsifying this layer has a disproportional effect"; in the MLP the first layer holds 88 % of the
  weights and cannot stay dense, so there every layer gets the same density); and **uniform, output dense
  too** (reported separately: the output layer of LeNet-5 keeps ~17 weights at 98 % otherwise);
* **SNIP** — one batch, saliency |g ⊙ w|, global top-κ.

The learning rate is chosen on validation per method (at sparsity 0.9, reused at the other sparsities).
Then the text's growth claim — random sparse networks catch up with dense ones as they grow wider or
deeper — at sparsity 0.95, where a small MLP clearly trails dense: the gap (dense − ER) with its CI at each
width and depth, and whether it shrinks from the smallest to the largest network. Also a row for the
text's multi-sample selection (best of K = 3 masks on validation) and the semi-supervised option
(consistency between two perturbed passes of unlabelled images, 200 labels).
"""
import argparse
import time

import numpy as np

from ...datasets import Dataset
from ...optim import Adam
from ...plots import figure, save_figure
from ...techniques import erdos_renyi as C
from ...training import Trainer
from ...zoo import lenet5, mlp
from . import protocol as P

NAME = "erdos_renyi"
SPARSITIES = (0.8, 0.9, 0.95, 0.98)
METHODS = ("er", "uniform", "uniform_fo", "snip")
METHOD_LABELS = {"dense": "dense", "er": "ER / ERK (the text)", "uniform": "uniform (LeNet-5: first layer dense)",
                 "uniform_fo": "uniform, first and output layers dense", "snip": "SNIP", "select": "ER, best of 3 masks"}
GROWTH_SPARSITY = 0.95
RIGL = {0.8: (72.1, 70.6), 0.9: (67.7, 65.8)}


def build(settings, seed, shape, K):
    if settings["net"] == "lenet5":
        return lenet5(shape, K, seed=seed)
    return mlp(shape, K, hidden=tuple(settings["hidden"]), seed=seed)


def make_sparse(model, settings, seed, train):
    """Apply the method's masks: ER/ERK, uniform (first layer dense, optionally output too), SNIP or none."""
    method, sparsity = settings["method"], settings.get("sparsity", 0.0)
    layers = C.masked_layers(model)
    rng = np.random.default_rng([seed, 7])
    er_mode = "erk" if settings["net"] == "lenet5" else "er"
    if method == "dense":
        return
    if method in ("er", "select"):
        C.sparsify(model, sparsity, er_mode, rng)
    elif method in ("uniform", "uniform_fo"):
        # RigL's uniform baseline keeps the first layer dense; in the MLP that layer holds 88 % of the weights,
        # so keeping it dense cannot reach the sparsity: there, uniform is the same density in every layer
        dense = [layers[0]] if settings["net"] == "lenet5" else []
        if method == "uniform_fo":
            dense.append(layers[-1])
        C.sparsify(model, sparsity, "uniform", rng, dense=tuple(dense))
    elif method == "snip":
        C.sparsify(model, sparsity, "snip", data=(train.x[:256], train.y[:256]))
    else:
        raise ValueError(f"unknown method {method!r}")


def run(settings, seed, ctx):
    d = ctx.data
    if settings.get("labelled"):
        return run_semi_supervised(settings, seed, ctx)
    if settings["method"] == "select":               # the text's option: train K candidates briefly, keep the best
        masks, cands = C.select_masks(lambda: build(settings, seed, d.input_shape, d.num_classes), d,
                                      settings["sparsity"], K=3, steps=settings["select_steps"],
                                      mode="erk" if settings["net"] == "lenet5" else "er", seed=seed)
        model = build(settings, seed, d.input_shape, d.num_classes)
        C.apply_masks(model, masks)
    else:
        model = build(settings, seed, d.input_shape, d.num_classes)
        make_sparse(model, settings, seed, ctx.train)
        cands = None
    trainer = Trainer(model, Adam(model, lr=settings["lr"]), seed=seed, batch_size=64, progress=False)
    m = P.fit_and_score(trainer, ctx, settings["steps"], evals=settings.get("evals", 15))
    m["density"] = C.structure_report(model)[-1]["density"]
    if cands is not None:
        m["candidates"] = cands
    return m


def run_semi_supervised(settings, seed, ctx):
    """Few labels: supervised only, or + the consistency loss on the unlabelled rest (ER MLP at 0.8)."""
    d = ctx.data
    order = np.random.default_rng([seed, 11]).permutation(len(ctx.train))
    n = settings["labelled"]
    lab = Dataset(ctx.train.x[order[:n]], ctx.train.y[order[:n]])
    model = mlp(d.input_shape, d.num_classes, hidden=(300, 100), seed=seed)
    C.sparsify(model, 0.8, "er", np.random.default_rng([seed, 3]))
    callbacks = [C.ConsistencyTraining(ctx.train.x[order[n:]], 1.0, 0.5, batch_size=64, seed=seed)] \
        if settings["consistency"] else []
    trainer = Trainer(model, Adam(model, lr=settings["lr"]), callbacks=callbacks, seed=seed, batch_size=64,
                      progress=False)
    return P.fit_and_score(trainer, P.RunContext(ctx.stage, d, lab, ctx.val, ctx.test), settings["steps"])


# ------------------------------------------------------------------------------------------------
def arms_and_claims(quick, steps_lenet, steps_mlp):
    lrs = (1e-3,) if quick else (1e-3, 3e-3)
    sparsities = (0.9, 0.95) if quick else SPARSITIES
    nets = {"lenet5": {"net": "lenet5", "steps": steps_lenet}, "mlp": {"net": "mlp", "hidden": [300, 100],
                                                                       "steps": steps_mlp}}
    arms, claims = [], []
    for net, base in nets.items():
        arms.append(P.Arm(f"{net}/dense", {**base, "method": "dense"}, grid={"lr": lrs}, label=f"{net}: dense"))
        for method in METHODS:
            tuned = f"{net}/{method}@0.9"
            for sp in sparsities:
                if method == "uniform_fo" and sp not in (0.9, 0.95, 0.98):
                    continue                 # the output layer matters only when it would keep very few weights
                name = f"{net}/{method}@{sp}"
                fixed = {**base, "method": method, "sparsity": sp}
                if sp == 0.9:
                    arms.append(P.Arm(name, fixed, grid={"lr": lrs}, label=f"{net}: {METHOD_LABELS[method]} @ {sp}"))
                else:
                    arms.append(P.Arm(name, fixed, tune_like=tuned, label=f"{net}: {METHOD_LABELS[method]} @ {sp}"))
        for sp in sparsities:
            pub = RIGL.get(sp)
            claims.append(P.Claim(f"{net}: ER/ERK beats uniform density at sparsity {sp}",
                                  f"{net}/er@{sp}", f"{net}/uniform@{sp}",
                                  claimed_effect=(pub[0] - pub[1]) if pub else 1.0,
                                  source=(f"RigL, ResNet-50 ImageNet, static masks, {pub[0]} vs {pub[1]} %" if pub
                                          else "analysis (no published number at this sparsity)"),
                                  scorecard=pub is not None))
        claims.append(P.Claim(f"{net}: ER/ERK matches SNIP at sparsity 0.9", f"{net}/er@0.9", f"{net}/snip@0.9",
                              kind="equivalence", margin=1.0,
                              source="Liu et al. 2022: random ER/ERK sparse networks match SNIP"))
        claims.append(P.Claim(f"{net}: ER/ERK vs uniform with the output layer dense too, at 0.95", f"{net}/er@0.95",
                              f"{net}/uniform_fo@0.95", claimed_effect=0.0, source="analysis", scorecard=False)
                      if 0.95 in sparsities else None)
    return arms, [c for c in claims if c is not None]


def growth_arms(quick, steps):
    widths = ((50, 16), (300, 100)) if quick else ((100, 33), (300, 100), (1000, 333))
    depths = (1, 2) if quick else (1, 2, 3, 4)
    sp = GROWTH_SPARSITY
    arms = []
    for kind, sizes in (("width", widths), ("depth", depths)):
        for size in sizes:
            hidden = list(size) if kind == "width" else [300] * size
            for method in ("dense", "er"):
                fixed = {"net": "mlp", "hidden": hidden, "steps": steps, "method": method, "sparsity": sp}
                if method == "dense":
                    fixed.pop("sparsity")
                arms.append(P.Arm(f"{kind}/{size if kind == 'depth' else size[0]}/{method}", fixed,
                                  tune_like="mlp/dense" if method == "dense" else "mlp/er@0.9",
                                  label=f"MLP {'-'.join(map(str, hidden))}, {method}"))
    return arms, widths, depths


def main(argv=None):
    p = argparse.ArgumentParser(prog=f"python -m numpycnn compare {NAME}", description=__doc__.splitlines()[0])
    P.add_arguments(p)
    p.add_argument("--steps", type=int, default=None, help="iterations per LeNet-5 run (default 1500)")
    args = p.parse_args(argv)
    runner = P.check_args(args, NAME)
    P.check_positive(args, NAME, "steps")
    quick = args.quick
    steps_lenet = args.steps or (40 if quick else 1500)
    steps_mlp = 40 if quick else 2000
    data = P.DataSpec(train=1000 if quick else 22_000, val=200 if quick else 2_000, test=300 if quick else 10_000,
                      data_dir=args.data_dir)
    P.require_data(data)
    t0 = time.perf_counter()
    arms, claims = arms_and_claims(quick, steps_lenet, steps_mlp)
    g_arms, widths, depths = growth_arms(quick, steps_mlp)
    arms += g_arms
    sel = {"net": "mlp", "hidden": [300, 100], "steps": steps_mlp, "method": "select", "sparsity": 0.9,
           "select_steps": 20 if quick else 300}
    arms.append(P.Arm("mlp/select@0.9", sel, tune_like="mlp/er@0.9", label=f"mlp: {METHOD_LABELS['select']} @ 0.9"))
    semi = {"labelled": 50 if quick else 200, "steps": 40 if quick else 600, "method": "er", "net": "mlp"}
    arms.append(P.Arm("semi/supervised", {**semi, "consistency": False}, grid={"lr": (1e-3, 3e-3)},
                      label="200 labels, supervised only"))
    arms.append(P.Arm("semi/consistency", {**semi, "consistency": True}, grid={"lr": (1e-3, 3e-3)},
                      label="200 labels + consistency on the unlabelled rest"))
    claims.append(P.Claim("best of 3 masks (validation) vs one mask", "mlp/select@0.9", "mlp/er@0.9",
                          claimed_effect=0.0, source="analysis: does selection help beyond seed noise?",
                          scorecard=False))
    claims.append(P.Claim("semi-supervised consistency vs supervised only (200 labels)", "semi/consistency",
                          "semi/supervised", claimed_effect=0.0, source="analysis (the text gives no number)",
                          scorecard=False))
    exp = P.Experiment(name=NAME, title="Technique C, tested", run=run, data=data, arms=arms, claims=claims,
                       trained=P.TrainedCheck("lenet5/dense", min_accuracy=0.3 if quick else 0.6, applies_to="lenet5/"),
                       seeds=args.seeds, tune_seeds=1 if quick else 2, quick=quick,
                       budget={"lenet5_iterations": steps_lenet, "mlp_iterations": steps_mlp, "batch": 64})
    tuning, finals, arm_rows, comparisons, check = P.run_protocol(exp, runner)
    mlp_check = P.trained_check(P.TrainedCheck("mlp/dense", min_accuracy=0.3 if quick else 0.6), finals["mlp/dense"])
    mlp_check["applies_to"] = "every comparison not on LeNet-5"
    growth = growth_comparisons(finals, widths, depths)
    comparisons += growth["claims"]
    P.withhold_verdicts([c for c in comparisons if not c["arm"].startswith("lenet5/")], [mlp_check])
    command = P.command_line(NAME, argv)
    rec = P.record(exp, command, t0, runner, arm_rows, comparisons, check, trained_check_mlp=mlp_check,
                   growth=growth["gaps"], densities={a: finals[a][0]["metrics"].get("density") for a in finals})
    md = markdown(rec, arm_rows, comparisons, growth, check, mlp_check, data, steps_lenet, steps_mlp, quick)
    P.write_results(args.out, NAME, rec, md)
    save_figure(accuracy_figure(arm_rows, quick), f"{args.out}/{NAME}_accuracy.png")
    save_figure(growth_figure(growth), f"{args.out}/{NAME}_growth.png")
    model = lenet5(P.load_data(data).input_shape)
    _, prob, _ = C.sparsify(model, 0.9, "erk", np.random.default_rng(0))
    save_figure(C.report_figure(C.structure_report(model, prob), "LeNet-5 at sparsity 0.9 (ERK)"),
                f"{args.out}/{NAME}_structure.png")
    print(md)
    return 0


def growth_comparisons(finals, widths, depths):
    """The gap dense − ER at each size, and whether it shrinks from the smallest to the largest network."""
    gaps, claims = {}, []
    for kind, sizes in (("width", [w[0] for w in widths]), ("depth", list(depths))):
        per = {}
        for size in sizes:
            d = np.array([r["metrics"]["test_acc"] for r in finals[f"{kind}/{size}/dense"]])
            e = np.array([r["metrics"]["test_acc"] for r in finals[f"{kind}/{size}/er"]])
            per[size] = 100 * (d - e)
            mean, std, ci = P.confidence_interval(per[size])
            gaps.setdefault(kind, {})[str(size)] = {"gap_per_seed": per[size].tolist(), "mean": mean, "ci95": list(ci)}
        small, large = sizes[0], sizes[-1]
        claim = P.Claim(f"the gap to dense shrinks as the MLP grows {'wider' if kind == 'width' else 'deeper'} "
                        f"(gap at {small} − gap at {large}, sparsity {GROWTH_SPARSITY})",
                        arm=f"{kind}/{small}", baseline=f"{kind}/{large}", metric="gap", claimed_effect=1.0,
                        scale=1.0, source="the text; Liu et al. 2022 (we test for ≥ 1 pp of shrinkage)")
        claims.append(P.compare(claim, per[small], per[large]))
    return {"gaps": gaps, "claims": claims}


def markdown(rec, arms, comparisons, growth, check, mlp_check, data, steps_lenet, steps_mlp, quick):
    sparsities = (0.9, 0.95) if quick else SPARSITIES
    lines = [f"**Technique C — Erdős–Rényi sparse networks, tested.** {data.describe()}; Adam, batch 64, LeNet-5 "
             f"{steps_lenet:,} and MLP {steps_mlp:,} iterations, every network sparse from the start (masks fixed); "
             f"learning rate chosen on validation per method (at sparsity 0.9, reused at the others); "
             f"{rec['seeds']} paired seeds. Test accuracy %, mean ± std:", "",
             "| network | method | " + " | ".join(f"sparsity {sp}" for sp in sparsities) + " |",
             "|---|---|" + "---|" * len(sparsities)]
    for net in ("lenet5", "mlp"):
        dense = arms[f"{net}/dense"]
        lines.append(f"| {net} | dense (sparsity 0) | {dense['mean']:.2f} ± {dense['std']:.2f} |" +
                     " |" * (len(sparsities) - 1))
        for m in METHODS:
            cells = [f"{arms[f'{net}/{m}@{sp}']['mean']:.2f} ± {arms[f'{net}/{m}@{sp}']['std']:.2f}"
                     if f"{net}/{m}@{sp}" in arms else "–" for sp in sparsities]
            lines.append(f"| {net} | {METHOD_LABELS[m]} | " + " | ".join(cells) + " |")
    lines += ["", f"Growth (MLP, ER at sparsity {GROWTH_SPARSITY} vs dense; gap = dense − ER in pp, mean [95 % CI]):", "",
              "| sweep | size | gap |", "|---|---|---|"]
    for kind, g in growth["gaps"].items():
        for size, v in g.items():
            lo, hi = v["ci95"]
            lines.append(f"| {kind} | {size if kind == 'width' else size + ' × 300'} | {v['mean']:+.2f} "
                         f"[{lo:+.2f}, {hi:+.2f}] |")
    sel, semi_s, semi_c = arms["mlp/select@0.9"], arms["semi/supervised"], arms["semi/consistency"]
    lines += ["", f"Multi-sample selection (MLP, 0.9): best of 3 masks {sel['mean']:.2f} ± {sel['std']:.2f} vs one mask "
              f"{arms['mlp/er@0.9']['mean']:.2f} ± {arms['mlp/er@0.9']['std']:.2f}. Semi-supervised option (ER MLP at 0.8, "
              f"200 labels): supervised {semi_s['mean']:.2f} ± {semi_s['std']:.2f}, + consistency "
              f"{semi_c['mean']:.2f} ± {semi_c['std']:.2f}.", "", P.comparisons_table(comparisons), "",
              P.trained_line(check) + " " + P.trained_line(mlp_check).replace("Trained check", "MLP"), "",
              P.provenance_line(rec)]
    return "\n".join(lines)


def accuracy_figure(arms, quick):
    sparsities = (0.9, 0.95) if quick else SPARSITIES
    fig = figure(figsize=(10, 3.6))
    for ax, net in zip(fig.subplots(1, 2), ("lenet5", "mlp")):
        ax.axhline(arms[f"{net}/dense"]["mean"], color="k", ls="--", label="dense")
        for m, color in zip(METHODS, ("C2", "C0", "C9", "C1")):
            sps = [sp for sp in sparsities if f"{net}/{m}@{sp}" in arms]
            ax.errorbar(sps, [arms[f"{net}/{m}@{sp}"]["mean"] for sp in sps],
                        yerr=[arms[f"{net}/{m}@{sp}"]["std"] for sp in sps], marker="o", color=color,
                        label=METHOD_LABELS[m], capsize=3)
        ax.set_title(net)
        ax.set_xlabel("sparsity (fraction of absent weights)")
        ax.set_ylabel("test accuracy % (mean ± std)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle("Technique C: accuracy vs sparsity, every method tuned on validation")
    fig.tight_layout()
    return fig


def growth_figure(growth):
    fig = figure(figsize=(10, 3.4))
    for ax, (kind, g) in zip(fig.subplots(1, 2), growth["gaps"].items()):
        sizes = list(g)
        mean = [g[s]["mean"] for s in sizes]
        lo = [g[s]["mean"] - g[s]["ci95"][0] for s in sizes]
        hi = [g[s]["ci95"][1] - g[s]["mean"] for s in sizes]
        ax.errorbar(range(len(sizes)), mean, yerr=[lo, hi], marker="o", capsize=3, color="C2")
        ax.axhline(0, color="k", lw=0.6)
        ax.set_xticks(range(len(sizes)), [f"{s}" if kind == "width" else f"{s}×300" for s in sizes])
        ax.set_xlabel("first hidden width" if kind == "width" else "hidden layers")
        ax.set_ylabel("dense − ER test accuracy (pp), 95 % CI")
        ax.grid(alpha=0.3)
        ax.set_title(f"{kind} sweep at sparsity {GROWTH_SPARSITY}", fontsize=10)
    fig.suptitle("Does the random sparse network catch up with dense as it grows?")
    fig.tight_layout()
    return fig


if __name__ == "__main__":
    raise SystemExit(main())
