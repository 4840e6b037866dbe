"""Technique A side by side: a deep plain sigmoid CNN trained with and without a branch supervisor.

``python -m numpycnn compare branch [--quick] [--seeds 3] [--out figures]``

A deep *plain* network — ``plain_cnn``: conv 3×3 layers with sigmoid activations, max pooling,
no normalisation, no skip connections — is where back-propagated gradients really vanish. For
each seed the same network (same initial weights, same data order, same Adam optimizer, same
number of iterations) is trained twice on a Fashion-MNIST subset (the embedded digits when it is
absent): plain, and with one branch supervisor attached by the text's automatic placement (after
the first conv layer, scanning from the output, whose mean |gradient| is below 10 % of the top
conv layer's), λ = 1, branch step coefficient 0.1.

Outputs: the table (final main-head test accuracy mean ± std, iterations and seconds to a target
accuracy, the branch's own accuracy); the per-layer gradient norm with and without the branch (log
scale — where the branch lifts it); training loss and test accuracy curves for both.
"""
import math
import time

import numpy as np

from ..optim import Adam
from ..plots import _figure, save_figure
from ..techniques.branch_supervision import (Branch, BranchSupervision, GradientFlow, branch_point_after,
                                             choose_branch_point, evaluate_branches, measure_gradient_profile)
from ..training import Trainer
from ..zoo import plain_cnn
from . import _common

NAME = "branch"


def run_one(data, seed, epochs, depth, width, eval_every, with_branch, ratio, progress):
    model = plain_cnn(data.input_shape, data.num_classes, depth=depth, width=width, activation_name="sigmoid",
                      pool_every=1, seed=seed)
    flow = GradientFlow(layers=model.conv_layers())
    callbacks, branch, profile, at = [flow], None, None, None
    if with_branch:
        profile = measure_gradient_profile(model, data.train.x[:320], data.train.y[:320])
        conv = choose_branch_point(profile, ratio) or model.conv_layers()[len(model.conv_layers()) // 2]
        at = branch_point_after(model, conv)
        branch = Branch(model, at, hidden=(), weight=1.0, coefficient=0.1, seed=seed)
        callbacks.insert(0, BranchSupervision([branch]))
    trainer = Trainer(model, Adam(model, lr=1e-3), callbacks=callbacks, seed=seed, batch_size=64, progress=progress)
    history = trainer.fit(data.train, data.test, epochs=epochs, eval_every=eval_every)
    out = {"final": trainer.evaluate(data.test)["accuracy"], "evals": history["evals"],
           "train_loss": history["train_loss"], "epoch_seconds": history["seconds"],
           "grad_norm": {n: float(np.mean(v)) for n, v in flow.norms.items()},
           "grad_norm_first_epoch": {n: float(np.mean(v[:len(v) // max(epochs, 1)])) for n, v in flow.norms.items()},
           "at": at, "profile": profile}
    if branch is not None:
        out["branch_acc"] = evaluate_branches(model, [branch], data.test.x, data.test.y)[f"branch@{at}"]
    return out


def gradient_figure(runs):
    fig = _figure(figsize=(7, 3.8))
    ax = fig.subplots()
    plain, branched = runs["plain"][0], runs["branch"][0]
    names = list(plain["grad_norm_first_epoch"])
    x = np.arange(1, len(names) + 1)
    ax.semilogy(x, [plain["grad_norm_first_epoch"][n] for n in names], "o-", color="C0", label="plain")
    ax.semilogy(x, [branched["grad_norm_first_epoch"][n] for n in names], "s-", color="C3",
                label=f"with a branch at {branched['at']}")
    k = names.index(branched["at"].replace("act", "conv")) + 1 if branched["at"].startswith("act") else None
    if k:
        ax.axvline(k + 0.5, ls="--", color="C3", alpha=0.5)
    ax.set_xticks(x, names)
    ax.set_xlabel("conv layer (input → output)")
    ax.set_ylabel("mean ‖∂L/∂W‖ over the first epoch")
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    ax.set_title("Technique A: the branch lifts the gradient below the branch point (first seed)")
    fig.tight_layout()
    return fig


def curves_figure(runs):
    fig = _figure(figsize=(10, 3.6))
    ax1, ax2 = fig.subplots(1, 2)
    for method, color in (("plain", "C0"), ("branch", "C3")):
        for i, r in enumerate(runs[method]):
            kw = dict(color=color, lw=1.6 if i == 0 else 0.7, alpha=1 if i == 0 else 0.4,
                      label=method if i == 0 else None)
            ax1.plot(np.arange(1, len(r["train_loss"]) + 1), r["train_loss"], "o-", **kw)
            ax2.plot([e["step"] for e in r["evals"]], [100 * e["val_acc"] for e in r["evals"]], **kw)
    ax1.set_xlabel("epoch")
    ax1.set_ylabel("training loss (main head)")
    ax2.set_xlabel("iteration")
    ax2.set_ylabel("test accuracy % (main head)")
    for ax in (ax1, ax2):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle("Technique A: deep plain sigmoid CNN with and without branch supervision (first seed bold)")
    fig.tight_layout()
    return fig


def main(argv=None):
    p = _common.parser(NAME, __doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=None, help="epochs per run (default 4; --quick 1)")
    p.add_argument("--depth", type=int, default=6, help="conv layers of the plain CNN (default 6)")
    p.add_argument("--width", type=int, default=None, help="filters per conv layer (default 8; --quick 4)")
    p.add_argument("--ratio", type=float, default=0.1, help="automatic placement threshold (default 0.1)")
    p.add_argument("--target", type=float, default=None, help="test accuracy for the time-to-reach column")
    args = _common.parse_args(p, argv)
    epochs = args.epochs or (1 if args.quick else 4)
    width = args.width or (4 if args.quick else 8)
    train_limit, test_limit = (400, 200) if args.quick else (3000, 1000)
    data, note = _common.fashion_or_digits(args.data_dir, 0, train_limit, test_limit)
    total = epochs * -(-len(data.train) // 64)
    eval_every = max(1, total // 30)
    target = args.target if args.target is not None else (0.2 if args.quick else 0.5)
    t0 = time.perf_counter()
    runs = {"plain": [], "branch": []}
    for seed in range(args.seeds):
        for method in ("plain", "branch"):
            r = run_one(data, seed, epochs, args.depth, width, eval_every, method == "branch", args.ratio,
                        not args.no_progress)
            runs[method].append(r)
            extra = f", branch at {r['at']} ({100 * r['branch_acc']:.2f} % on its own)" if method == "branch" else ""
            print(f"seed {seed} {method:6s}: final test accuracy {100 * r['final']:.2f} %{extra}", flush=True)
    seconds = time.perf_counter() - t0

    def reach(r):
        return _common.first_reaching(r["evals"], target)

    lines = [
        f"**Technique A — branch supervision on a deep plain sigmoid CNN.** {note}; plain CNN with {args.depth} conv "
        f"layers × {width} 3×3 filters, sigmoid, max pooling, no normalisation; Adam lr 1e-3, batch 64, {epochs} "
        f"epoch(s) = {total} iterations for both; the branch: one FC layer + softmax at the automatically placed "
        f"point (mean |gradient| < {args.ratio:g} × the top conv layer's), λ = 1, branch SGD coefficient 0.1. "
        f"{args.seeds} seed(s), same initial weights and data order per seed. Budget: {seconds / 60:.1f} min on this "
        f"machine (2 cores). Command: `python -m numpycnn compare branch{' --quick' if args.quick else ''}`.",
        "",
        f"| training | main-head test acc. % (mean ± std) | iterations to {100 * target:.0f} % | seconds to "
        f"{100 * target:.0f} % | branch's own test acc. % | mean ‖∂L/∂W‖ of conv1, first epoch |",
        "|---|---|---|---|---|---|",
    ]
    for method, rs in runs.items():
        hits = [reach(r) for r in rs if not math.isnan(reach(r)[0])]
        its = "not reached" if not hits else f"{np.mean([h[0] for h in hits]):.0f} ({len(hits)}/{len(rs)} seeds)"
        secs = "not reached" if not hits else f"{np.mean([h[1] for h in hits]):.1f}"
        bacc = _common.mean_std([r["branch_acc"] for r in rs]) if method == "branch" else "–"
        g1 = np.mean([r["grad_norm_first_epoch"]["conv1"] for r in rs])
        label = "plain" if method == "plain" else f"with a branch at {rs[0]['at']}"
        lines.append(f"| {label} | {_common.mean_std([r['final'] for r in rs])} | {its} | {secs} | {bacc} | {g1:.2e} |")
    markdown = "\n".join(lines)
    save_figure(gradient_figure(runs), f"{args.out}/{NAME}_gradient_flow.png")
    save_figure(curves_figure(runs), f"{args.out}/{NAME}_curves.png")
    _common.write_table(args.out, NAME, markdown, {"note": note, "epochs": epochs, "depth": args.depth,
                                                   "width": width, "seeds": args.seeds, "target": target,
                                                   "seconds": seconds, "runs": runs})
    print(markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
