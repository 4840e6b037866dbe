"""Technique C tested: Erdős–Rényi sparse networks against the published uniform baseline, trained to convergence.

``python -m numpycnn compare erdos_renyi`` (alias ``compare er``) ``[--quick] [--seeds 5]``

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
import time

import numpy as np

from ...datasets import Dataset
from ...plots import figure
from ...techniques import erdos_renyi
from ...zoo import lenet5
from .. import builder
from . import protocol

NAME = "erdos_renyi"
SPARSITIES = (0.8, 0.9, 0.95, 0.98)
METHODS = ("er", "uniform", "uniform_fo", "snip")
METHOD_LABELS = {"dense": "dense", "er": "ER / ERK (the text)", "uniform": "uniform (LeNet-5: first layer dense)",
                 "uniform_fo": "uniform, first and output layers dense", "snip": "SNIP",
                 "select": "ER, best of 3 masks"}
GROWTH_SPARSITY = 0.95
RIGL = {0.8: (72.1, 70.6), 0.9: (67.7, 65.8)}


#: the layers RigL's uniform baseline keeps dense: LeNet-5's first layer (in the MLP, where the first layer holds
#: 88 % of the weights, keeping it dense cannot reach the sparsity: there every layer gets the same density)
FIRST_DENSE = {"lenet5": ("conv1",), "mlp": ()}


def train_options(settings, seed):
    """The ``train`` options of a setting: LeNet-5 or the MLP, sparse from the start by its method, Adam at ``lr``.

    ``method``: ``dense``; ``er`` (ERK for LeNet-5, ER for the MLP); ``uniform`` (:data:`FIRST_DENSE` kept
    dense); ``uniform_fo`` (the output layer kept dense too); ``snip`` (one batch of the training data);
    ``select`` (best of 3 ER/ERK masks after ``select_steps`` iterations each, on validation). One mask is
    drawn from the stream ``[seed, 7]`` of the model's seed (the semi-supervised MLP: ``[seed, 3]``).
    """
    net = settings["net"]
    model = dict(model="lenet5") if net == "lenet5" else dict(model="mlp", hidden=tuple(settings["hidden"]))
    common = dict(optimizer="adam", lr=settings["lr"], seed=seed, batch_size=64, no_progress=True, quiet=True, **model)
    method = settings["method"]
    er = "erk" if net == "lenet5" else "er"
    if method == "dense":
        return builder.options(**common)
    if method == "select":
        return builder.options(sparsity=settings["sparsity"], sparse_mode=er, mask_candidates=3,
                               mask_steps=settings["select_steps"], **common)
    if method == "snip":
        return builder.options(sparsity=settings["sparsity"], sparse_mode="snip", **common)
    dense = FIRST_DENSE[net] if method.startswith("uniform") else ()
    if method == "uniform_fo":
        dense += ("fc3" if net == "lenet5" else f"fc{len(settings['hidden']) + 1}",)      # the output layer
    if method not in ("er", "uniform", "uniform_fo"):
        raise ValueError(f"unknown method {method!r}")
    return builder.options(sparsity=settings["sparsity"], sparse_mode=er if method == "er" else "uniform",
                           dense_layers=",".join(dense), mask_stream=7, **common)


def run(settings, seed, ctx):
    """One run: a sparse (or dense) network trained on the training split; its density is recorded too."""
    if settings.get("labelled"):
        return run_semi_supervised(settings, seed, ctx)
    opts = train_options(settings, seed)
    model, optimizer = builder.build(opts, ctx.data.input_shape, ctx.data.num_classes, data=ctx.data)
    trainer = builder.trainer_for(opts, model, optimizer, ctx.data)
    m = protocol.fit_and_score(trainer, ctx, settings["steps"], evals=settings.get("evals", 15))
    m["density"] = erdos_renyi.structure_report(model)[-1]["density"]
    if "mask_candidates" in model.metadata:
        m["candidates"] = model.metadata["mask_candidates"]
    return m


def run_semi_supervised(settings, seed, ctx):
    """Few labels: supervised only, or + the consistency loss on the unlabelled rest (ER MLP at 0.8)."""
    d = ctx.data
    order = np.random.default_rng([seed, 11]).permutation(len(ctx.train))
    n = settings["labelled"]
    lab = Dataset(ctx.train.x[order[:n]], ctx.train.y[order[:n]])
    opts = builder.options(model="mlp", hidden=(300, 100), sparsity=0.8, sparse_mode="er", mask_stream=3,
                           optimizer="adam", lr=settings["lr"], seed=seed, batch_size=64, no_progress=True, quiet=True)
    model, optimizer = builder.build(opts, d.input_shape, d.num_classes, data=d)
    consistency = [erdos_renyi.ConsistencyTraining(ctx.train.x[order[n:]], 1.0, 0.5, batch_size=64, seed=seed)] \
        if settings["consistency"] else []
    trainer = builder.trainer_for(opts, model, optimizer, d, extra_callbacks=consistency)
    return protocol.fit_and_score(trainer, protocol.RunContext(ctx.stage, d, lab, ctx.val, ctx.test), settings["steps"])


# ------------------------------------------------------------------------------------------------
def arms_and_claims(quick, steps_lenet, steps_mlp):
    """Dense and every method at every sparsity, for LeNet-5 and the MLP (the learning rate tuned at 0.9), with the
    claims: ER/ERK vs uniform (RigL's numbers), ER/ERK vs SNIP (equivalence), and the output-dense analysis."""
    lrs = (1e-3,) if quick else (1e-3, 3e-3)
    sparsities = (0.9, 0.95) if quick else SPARSITIES
    nets = {"lenet5": {"net": "lenet5", "steps": steps_lenet},
            "mlp": {"net": "mlp", "hidden": [300, 100], "steps": steps_mlp}}
    arms, claims = [], []
    for net, base in nets.items():
        arms.append(protocol.Arm(f"{net}/dense", {**base, "method": "dense"}, grid={"lr": lrs}, label=f"{net}: dense"))
        for method in METHODS:
            for sp in sparsities:
                if method == "uniform_fo" and sp not in (0.9, 0.95, 0.98):
                    continue                 # the output layer matters only when it would keep very few weights
                tuning = dict(grid={"lr": lrs}) if sp == 0.9 else dict(tune_like=f"{net}/{method}@0.9")
                arms.append(protocol.Arm(f"{net}/{method}@{sp}", {**base, "method": method, "sparsity": sp},
                                         label=f"{net}: {METHOD_LABELS[method]} @ {sp}", **tuning))
        for sp in sparsities:
            pub = RIGL.get(sp)
            source = (f"RigL, ResNet-50 ImageNet, static masks, {pub[0]} vs {pub[1]} %" if pub
                      else "analysis (no published number at this sparsity)")
            claims.append(protocol.Claim(f"{net}: ER/ERK beats uniform density at sparsity {sp}", f"{net}/er@{sp}",
                                         f"{net}/uniform@{sp}", claimed_effect=(pub[0] - pub[1]) if pub else 1.0,
                                         source=source, scorecard=pub is not None))
        claims.append(protocol.Claim(f"{net}: ER/ERK matches SNIP at sparsity 0.9", f"{net}/er@0.9", f"{net}/snip@0.9",
                                     kind="equivalence", margin=1.0,
                                     source="Liu et al. 2022: random ER/ERK sparse networks match SNIP"))
        if 0.95 in sparsities:
            claims.append(protocol.Claim(f"{net}: ER/ERK vs uniform with the output layer dense too, at 0.95",
                                         f"{net}/er@0.95", f"{net}/uniform_fo@0.95", claimed_effect=0.0,
                                         source="analysis", scorecard=False))
    return arms, claims


def growth_arms(quick, steps):
    """Dense and ER MLPs at sparsity 0.95, growing wider and deeper, tuned like the 300-100 MLP."""
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
                arms.append(protocol.Arm(f"{kind}/{size if kind == 'depth' else size[0]}/{method}", fixed,
                                         tune_like="mlp/dense" if method == "dense" else "mlp/er@0.9",
                                         label=f"MLP {'-'.join(map(str, hidden))}, {method}"))
    return arms, widths, depths


def main(argv=None):
    p = protocol.parser(NAME, __doc__)
    p.add_argument("--steps", type=int, default=None, help="iterations per LeNet-5 run (default 1500)")
    args = p.parse_args(argv)
    protocol.check_positive(args, NAME, "steps")
    runner = protocol.check_args(args, NAME)
    quick = args.quick
    steps_lenet = args.steps or (40 if quick else 1500)
    steps_mlp = 40 if quick else 2000
    data = protocol.DataSpec(train=1000 if quick else 22_000, val=200 if quick else 2_000,
                             test=300 if quick else 10_000, data_dir=args.data_dir)
    protocol.require_data(data)
    t0 = time.perf_counter()
    arms, claims, widths, depths = all_arms_and_claims(quick, steps_lenet, steps_mlp)
    exp = protocol.Experiment(name=NAME, title="Technique C, tested", run=run, data=data, arms=arms, claims=claims,
                              trained=protocol.TrainedCheck("lenet5/dense", min_accuracy=0.3 if quick else 0.6,
                                                            applies_to="lenet5/"),
                              seeds=args.seeds, tune_seeds=1 if quick else 2, quick=quick,
                              budget={"lenet5_iterations": steps_lenet, "mlp_iterations": steps_mlp, "batch": 64})
    tuning, finals, arm_rows, comparisons, check = protocol.run_protocol(exp, runner)
    mlp_check = protocol.trained_check(protocol.TrainedCheck("mlp/dense", min_accuracy=0.3 if quick else 0.6),
                                       finals["mlp/dense"])
    mlp_check["applies_to"] = "every comparison not on LeNet-5"
    growth = growth_comparisons(finals, widths, depths)
    comparisons += growth["claims"]
    protocol.withhold_verdicts([c for c in comparisons if not c["arm"].startswith("lenet5/")], [mlp_check])
    protocol.publish(
        exp, runner, argv, t0, args.out, arm_rows, comparisons, check,
        intro=f"**Technique C — Erdős–Rényi sparse networks, tested.** {data.describe()}; Adam, batch 64, "
              f"LeNet-5 {steps_lenet:,} and MLP {steps_mlp:,} iterations, every network sparse from the start (masks "
              f"fixed); "
              f"learning rate chosen on validation per method (at sparsity 0.9, reused at the others); "
              f"{exp.seeds} paired seeds. Test accuracy %, mean ± std:",
        body=tables(arm_rows, growth, quick), more_checks=[(mlp_check, "MLP")],
        figures={"accuracy": lambda: accuracy_figure(arm_rows, quick), "growth": lambda: growth_figure(growth),
                 "structure": lambda: structure_figure(data)},
        trained_check_mlp=mlp_check, growth=growth["gaps"],
        densities={a: finals[a][0]["metrics"].get("density") for a in finals})
    return 0


def all_arms_and_claims(quick, steps_lenet, steps_mlp):
    """Every arm and claim: methods × sparsities, the growth sweeps, mask selection and the semi-supervised pair;
    returns ``(arms, claims, widths, depths)``."""
    arms, claims = arms_and_claims(quick, steps_lenet, steps_mlp)
    growth, widths, depths = growth_arms(quick, steps_mlp)
    arms += growth
    sel = {"net": "mlp", "hidden": [300, 100], "steps": steps_mlp, "method": "select", "sparsity": 0.9,
           "select_steps": 20 if quick else 300}
    arms.append(protocol.Arm("mlp/select@0.9", sel, tune_like="mlp/er@0.9",
                             label=f"mlp: {METHOD_LABELS['select']} @ 0.9"))
    semi = {"labelled": 50 if quick else 200, "steps": 40 if quick else 600, "method": "er", "net": "mlp"}
    arms.append(protocol.Arm("semi/supervised", {**semi, "consistency": False}, grid={"lr": (1e-3, 3e-3)},
                             label="200 labels, supervised only"))
    arms.append(protocol.Arm("semi/consistency", {**semi, "consistency": True}, grid={"lr": (1e-3, 3e-3)},
                             label="200 labels + consistency on the unlabelled rest"))
    claims.append(protocol.Claim("best of 3 masks (validation) vs one mask", "mlp/select@0.9", "mlp/er@0.9",
                                 claimed_effect=0.0, source="analysis: does selection help beyond seed noise?",
                                 scorecard=False))
    claims.append(protocol.Claim("semi-supervised consistency vs supervised only (200 labels)", "semi/consistency",
                                 "semi/supervised", claimed_effect=0.0, source="analysis (the text gives no number)",
                                 scorecard=False))
    return arms, claims, widths, depths


def growth_comparisons(finals, widths, depths):
    """The gap dense − ER at each size, and whether it shrinks from the smallest to the largest network."""
    gaps, claims = {}, []
    for kind, sizes in (("width", [w[0] for w in widths]), ("depth", list(depths))):
        per = {}
        for size in sizes:
            d = np.array([r["metrics"]["test_acc"] for r in finals[f"{kind}/{size}/dense"]])
            e = np.array([r["metrics"]["test_acc"] for r in finals[f"{kind}/{size}/er"]])
            per[size] = 100 * (d - e)
            mean, std, ci = protocol.confidence_interval(per[size])
            gaps.setdefault(kind, {})[str(size)] = {"gap_per_seed": per[size].tolist(), "mean": mean, "ci95": list(ci)}
        small, large = sizes[0], sizes[-1]
        claim = protocol.Claim(f"the gap to dense shrinks as the MLP grows {'wider' if kind == 'width' else 'deeper'} "
                        f"(gap at {small} − gap at {large}, sparsity {GROWTH_SPARSITY})",
                        arm=f"{kind}/{small}", baseline=f"{kind}/{large}", metric="gap", claimed_effect=1.0,
                        scale=1.0, source="the text; Liu et al. 2022 (we test for ≥ 1 pp of shrinkage)")
        claims.append(protocol.compare(claim, per[small], per[large]))
    return {"gaps": gaps, "claims": claims}


def tables(arms, growth, quick):
    """The report's tables: accuracy per method and sparsity, the growth gaps, and the two options' rows."""
    sparsities = (0.9, 0.95) if quick else SPARSITIES
    lines = ["| network | method | " + " | ".join(f"sparsity {sp}" for sp in sparsities) + " |",
             "|---|---|" + "---|" * len(sparsities)]
    for net in ("lenet5", "mlp"):
        dense = arms[f"{net}/dense"]
        lines.append(f"| {net} | dense (sparsity 0) | {dense['mean']:.2f} ± {dense['std']:.2f} |" +
                     " |" * (len(sparsities) - 1))
        for m in METHODS:
            cells = [f"{arms[f'{net}/{m}@{sp}']['mean']:.2f} ± {arms[f'{net}/{m}@{sp}']['std']:.2f}"
                     if f"{net}/{m}@{sp}" in arms else "–" for sp in sparsities]
            lines.append(f"| {net} | {METHOD_LABELS[m]} | " + " | ".join(cells) + " |")
    growth_rows = ["| sweep | size | gap |", "|---|---|---|"]
    for kind, g in growth["gaps"].items():
        for size, v in g.items():
            lo, hi = v["ci95"]
            growth_rows.append(f"| {kind} | {size if kind == 'width' else size + ' × 300'} | {v['mean']:+.2f} "
                               f"[{lo:+.2f}, {hi:+.2f}] |")
    sel, one = arms["mlp/select@0.9"], arms["mlp/er@0.9"]
    semi_s, semi_c = arms["semi/supervised"], arms["semi/consistency"]
    options = (f"Multi-sample selection (MLP, 0.9): best of 3 masks {sel['mean']:.2f} ± {sel['std']:.2f} vs one mask "
               f"{one['mean']:.2f} ± {one['std']:.2f}. Semi-supervised option (ER MLP at 0.8, 200 labels): "
               f"supervised {semi_s['mean']:.2f} ± {semi_s['std']:.2f}, + consistency "
               f"{semi_c['mean']:.2f} ± {semi_c['std']:.2f}.")
    return ["\n".join(lines),
            f"Growth (MLP, ER at sparsity {GROWTH_SPARSITY} vs dense; gap = dense − ER in pp, mean [95 % CI]):",
            "\n".join(growth_rows), options]


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


def structure_figure(data):
    """The structure report of LeNet-5 at sparsity 0.9 (ERK), mask seed 0."""
    model = lenet5(protocol.load_data(data).input_shape)
    _, prob, _ = erdos_renyi.sparsify(model, 0.9, "erk", np.random.default_rng(0))
    return erdos_renyi.report_figure(erdos_renyi.structure_report(model, prob), "LeNet-5 at sparsity 0.9 (ERK)")


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
