"""Technique C side by side: accuracy against sparsity for Erdős–Rényi, uniform and SNIP sparse networks.

``python -m numpycnn compare sparsity [--quick] [--seeds 3] [--out figures]``

An MLP 784-300-100-10 (ER) and LeNet-5 (ERK: the kernel dims join the ratio) are built sparse
from the start at sparsities 0 (dense), 0.5, 0.8, 0.9, 0.95 and 0.98 with the Erdős–Rényi
probabilities of the text, with the same density in every layer (uniform) and with SNIP (one batch,
global top-κ of |g ⊙ w|), and trained on a Fashion-MNIST subset (the embedded digits when it is
absent) with Adam for the same number of iterations. A width sweep and a depth sweep of the MLP at
50 % sparsity test the text's claim that random sparse networks catch up with dense ones as the
network grows. Outputs: the table, ``sparsity_accuracy.png`` (accuracy vs. sparsity),
``sparsity_sweeps.png`` and ``sparsity_structure.png`` (the structure report of LeNet-5 at 0.9).
"""
import time

import numpy as np

from ..optim import Adam
from ..plots import _figure, save_figure
from ..techniques import erdos_renyi as C
from ..training import Trainer
from ..zoo import lenet5, mlp
from . import _common

NAME = "sparsity"
SPARSITIES = (0.5, 0.8, 0.9, 0.95, 0.98)


def run_one(data, make, sparsity, mode, seed, epochs, progress):
    model = make(seed)
    if sparsity > 0:
        batch = (data.train.x[:256], data.train.y[:256])
        C.sparsify(model, sparsity, mode, np.random.default_rng([seed, 7]), data=batch)
    trainer = Trainer(model, Adam(model, lr=1e-3), seed=seed, batch_size=64, progress=progress)
    trainer.fit(data.train, epochs=epochs)
    rows = C.structure_report(model)
    return {"acc": trainer.evaluate(data.test)["accuracy"], "density": rows[-1]["density"]}


def main(argv=None):
    p = _common.parser(NAME, __doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=None, help="epochs per run (default 2; --quick 1)")
    args = _common.parse_args(p, argv)
    epochs = args.epochs or (1 if args.quick else 2)
    train_limit, test_limit = (500, 200) if args.quick else (4000, 1000)
    data, note = _common.fashion_or_digits(args.data_dir, 0, train_limit, test_limit)
    shape, K = data.input_shape, data.num_classes
    sparsities = SPARSITIES[1:3] if args.quick else SPARSITIES
    nets = {"MLP 784-300-100-10": (lambda s: mlp(shape, K, hidden=(300, 100), seed=s), "er"),
            "LeNet-5": (lambda s: lenet5(shape, K, seed=s) if shape[1] >= 28 else mlp(shape, K, seed=s), "erk")}
    t0 = time.perf_counter()
    results = {}
    for net, (make, er_mode) in nets.items():
        res = results[net] = {"dense": [run_one(data, make, 0, "er", s, epochs, not args.no_progress)["acc"]
                                        for s in range(args.seeds)]}
        for mode in (er_mode, "uniform", "snip"):
            for sp in sparsities:
                res[f"{mode}@{sp}"] = [run_one(data, make, sp, mode, s, epochs, not args.no_progress)["acc"]
                                       for s in range(args.seeds)]
                print(f"{net} {mode} {sp}: {100 * np.mean(res[f'{mode}@{sp}']):.2f} %", flush=True)
    # width and depth sweeps of the MLP at 50 % sparsity (ER) vs dense
    sweeps = {"width": {}, "depth": {}}
    widths = (100, 300) if args.quick else (50, 150, 300, 1000)
    for h in widths:
        make = lambda s, h=h: mlp(shape, K, hidden=(h, max(h // 3, 10)), seed=s)  # noqa: E731
        sweeps["width"][h] = {m: [run_one(data, make, sp, "er", s, epochs, False)["acc"] for s in range(args.seeds)]
                              for m, sp in (("dense", 0.0), ("ER 50 %", 0.5))}
    for d in ((1, 2) if args.quick else (1, 2, 3, 4)):
        make = lambda s, d=d: mlp(shape, K, hidden=(300,) * d, seed=s)  # noqa: E731
        sweeps["depth"][d] = {m: [run_one(data, make, sp, "er", s, epochs, False)["acc"] for s in range(args.seeds)]
                              for m, sp in (("dense", 0.0), ("ER 50 %", 0.5))}
    seconds = time.perf_counter() - t0

    modes_of = {net: (er_mode, "uniform", "snip") for net, (_, er_mode) in nets.items()}
    lines = [
        f"**Technique C — Erdős–Rényi sparse networks vs. uniform density and SNIP.** {note}; Adam lr 1e-3, "
        f"batch 64, {epochs} epoch(s), every network trained sparse from the start (masks fixed), "
        f"{args.seeds} seed(s). Test accuracy %, mean ± std. Budget: {seconds / 60:.1f} min on this machine "
        f"(2 cores). Command: `python -m numpycnn compare sparsity{' --quick' if args.quick else ''}`.",
        "",
        "| network | method | " + " | ".join(f"sparsity {sp}" for sp in sparsities) + " |",
        "|---|---|" + "---|" * len(sparsities),
    ]
    for net, res in results.items():
        lines.append(f"| {net} | dense (sparsity 0) | " + " | ".join([_common.mean_std(res["dense"])] +
                                                                    [""] * (len(sparsities) - 1)) + " |")
        for mode in modes_of[net]:
            lines.append(f"| {net} | {mode} | " + " | ".join(_common.mean_std(res[f"{mode}@{sp}"])
                                                            for sp in sparsities) + " |")
    lines += ["", "Width and depth sweeps (MLP, ER at 50 % sparsity vs. dense, test accuracy %; the text claims "
                  "random sparse networks approach dense ones as they get wider or deeper):", "",
              "| sweep | size | dense | ER 50 % | gap (pp) |", "|---|---|---|---|---|"]
    for kind, sw in sweeps.items():
        for size, r in sw.items():
            label = f"hidden ({size}, {max(size // 3, 10)})" if kind == "width" else f"{size} × 300 hidden"
            gap = 100 * (np.mean(r["dense"]) - np.mean(r["ER 50 %"]))
            lines.append(f"| {kind} | {label} | {_common.mean_std(r['dense'])} | {_common.mean_std(r['ER 50 %'])} | "
                         f"{gap:+.2f} |")
    lines += ["", "Published (not this data set): RigL, ResNet-50 on ImageNet at 80 % sparsity, ERK 75.12 % vs. "
                  "uniform 74.60 % (dense 76.8 %); Liu et al. 2022: random ER/ERK sparse networks approach dense "
                  "ones as they grow and match SNIP."]
    markdown = "\n".join(lines)

    fig = _figure(figsize=(10, 3.6))
    for ax, (net, res) in zip(fig.subplots(1, 2), results.items()):
        ax.axhline(100 * np.mean(res["dense"]), color="k", ls="--", label="dense")
        for mode, color in zip(modes_of[net], ("C2", "C0", "C1")):
            m = [100 * np.mean(res[f"{mode}@{sp}"]) for sp in sparsities]
            s = [100 * np.std(res[f"{mode}@{sp}"]) for sp in sparsities]
            ax.errorbar(sparsities, m, yerr=s, marker="o", color=color, label=mode, capsize=3)
        ax.set_title(net)
        ax.set_xlabel("sparsity (fraction of absent weights)")
        ax.set_ylabel("test accuracy (%)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle("Technique C: accuracy vs. sparsity (mean ± std over seeds)")
    fig.tight_layout()
    save_figure(fig, f"{args.out}/{NAME}_accuracy.png")

    fig = _figure(figsize=(10, 3.4))
    for ax, (kind, sw) in zip(fig.subplots(1, 2), sweeps.items()):
        sizes = list(sw)
        for m, color in (("dense", "k"), ("ER 50 %", "C2")):
            ax.plot(sizes, [100 * np.mean(sw[z][m]) for z in sizes], "o-", color=color, label=m)
        ax.set_xlabel("first hidden width" if kind == "width" else "hidden layers of 300")
        if kind == "width":
            ax.set_xscale("log")
        ax.set_ylabel("test accuracy (%)")
        ax.grid(alpha=0.3)
        ax.legend()
        ax.set_title(f"{kind} sweep at 50 % sparsity")
    fig.tight_layout()
    save_figure(fig, f"{args.out}/{NAME}_sweeps.png")

    model = nets["LeNet-5"][0](0)
    _, prob, _ = C.sparsify(model, 0.9, nets["LeNet-5"][1], np.random.default_rng(0))
    save_figure(C.report_figure(C.structure_report(model, prob), "LeNet-5 at sparsity 0.9 (ERK)"),
                f"{args.out}/{NAME}_structure.png")
    _common.write_table(args.out, NAME, markdown, {"note": note, "epochs": epochs, "seeds": args.seeds,
                                                   "seconds": seconds, "results": results,
                                                   "sweeps": {k: {str(z): v for z, v in sw.items()}
                                                              for k, sw in sweeps.items()}})
    print(markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
