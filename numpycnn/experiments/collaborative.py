"""Technique D side by side: three networks trained independently vs. together under each ensemble rule.

``python -m numpycnn compare collaborative [--quick] [--seeds 3] [--out figures]``

Three small CNNs (``small_cnn``, different initial weights) are trained on a Fashion-MNIST subset
(the embedded digits when it is absent) with Adam for the same number of iterations: independently
(the baseline), and together with loss ``Σ_i CE(network i) + CE(ensemble)`` under each rule
(min-loss, linear, min-logit, validation) in the patent's mode, plus min-logit in the KDCL mode
(detached teacher, T = 3). One heterogeneous trio (widths 4, 8, 16) is trained with min-logit.
Each network sees a seeded random half of every batch ("partly different data", against
homogenisation). Reported: each network's test accuracy (mean and best of the three) and the
ensemble's (average of logits), mean ± std over seeds; a figure of the ensemble's validation accuracy.
"""
import sys
import time

import numpy as np

from ..optim import Adam
from ..plots import _figure, save_figure
from ..techniques.collaborative import CollaborativeTrainer
from ..zoo import small_cnn
from . import _common

NAME = "collaborative"


def run(data, seed, epochs, rule, mode, widths, progress):
    models = [small_cnn(data.input_shape, data.num_classes, width=w, seed=100 * seed + i) for i, w in enumerate(widths)]
    opts = [Adam(m, lr=1e-3) for m in models]
    if rule is None:           # independent training: the same trainer with no ensemble term
        histories = []
        for m, o in zip(models, opts):
            t = CollaborativeTrainer([m], [o], rule="linear", mode="patent", seed=seed, batch_size=64,
                                     progress=progress, data_split="halves")
            histories.append(t.fit(data.train, data.val, epochs=epochs))
        trainer = CollaborativeTrainer(models, opts, rule="linear", seed=seed, progress=False)
        trainer.weights = np.full(len(models), 1 / len(models))
        curve = histories[0]["val_acc"]
    else:
        trainer = CollaborativeTrainer(models, opts, rule=rule, mode=mode, seed=seed, batch_size=64,
                                       progress=progress, data_split="halves", ramp_steps=50)
        curve = trainer.fit(data.train, data.val, epochs=epochs)["val_acc"]
        trainer.weights = np.full(len(models), 1 / len(models))          # ensemble at test time: mean of logits
    test = trainer.evaluate(data.test)
    return {"networks": test["networks"], "ensemble": test["accuracy"], "curve": curve}


def main(argv=None):
    p = _common.parser(NAME, __doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=None, help="epochs per run (default 2; --quick 1)")
    p.add_argument("--train-limit", type=int, default=None, help="training images (default 4000; --quick 400)")
    p.add_argument("--test-limit", type=int, default=None, help="test images (default 1000; --quick 200)")
    args = _common.parse_args(p, argv)
    epochs = args.epochs or (1 if args.quick else 2)
    train_limit, test_limit = (400, 200) if args.quick else (4000, 1000)
    train_limit, test_limit = args.train_limit or train_limit, args.test_limit or test_limit
    data, note = _common.fashion_or_digits(args.data_dir, 0, train_limit, test_limit, val_fraction=0.1)
    settings = [("independent", None, None, (8, 8, 8))] + [(f"{r} (patent)", r, "patent", (8, 8, 8)) for r in
                                                            ("min-loss", "linear", "min-logit", "validation")]
    settings += [("min-logit (kdcl, T = 3)", "min-logit", "kdcl", (8, 8, 8)),
                 ("heterogeneous 4/8/16, independent", None, None, (4, 8, 16)),
                 ("heterogeneous 4/8/16, min-logit (patent)", "min-logit", "patent", (4, 8, 16))]
    if args.quick:
        settings = settings[:2] + settings[3:4]
    t0 = time.perf_counter()
    results = {}
    for label, rule, mode, widths in settings:
        results[label] = []
        for s in range(args.seeds):
            results[label].append(run(data, s, epochs, rule, mode, widths, not args.no_progress))
            print(f"  {label}, seed {s}: {time.perf_counter() - t0:.0f} s", flush=True)
        r = results[label]
        print(f"{label}: networks {100 * np.mean([x['networks'] for x in r]):.2f} %, "
              f"ensemble {100 * np.mean([x['ensemble'] for x in r]):.2f} %", flush=True)
    seconds = time.perf_counter() - t0
    lines = [
        f"**Technique D — collaborative training of three networks vs. independent training.** {note}; three "
        f"`small_cnn` (width 8 unless noted), Adam lr 1e-3, batch 64, {epochs} epoch(s) each, every network "
        f"learning from a seeded random half of each batch; {args.seeds} seed(s). Test accuracy %, mean ± std over "
        f"seeds; the ensemble is the mean of the three networks' logits. Budget: {seconds / 60:.1f} min on this "
        f"machine (2 cores). Command: `python -m numpycnn compare collaborative {' '.join(argv if argv is not None else sys.argv[1:])}`.",
        "",
        "| training | mean of the 3 networks | best network | ensemble |",
        "|---|---|---|---|",
    ]
    for label, r in results.items():
        lines.append(f"| {label} | {_common.mean_std([np.mean(x['networks']) for x in r])} | "
                     f"{_common.mean_std([np.max(x['networks']) for x in r])} | "
                     f"{_common.mean_std([x['ensemble'] for x in r])} |")
    lines += ["", "Published (not this data set): KDCL, ImageNet ResNet-50 76.8 → 78.2 %; Deep Mutual Learning, "
                  "CIFAR-100 ResNet-32 68.99 → 71.19 %."]
    markdown = "\n".join(lines)
    fig = _figure(figsize=(7, 3.6))
    ax = fig.subplots()
    for label, r in results.items():
        ax.plot(np.arange(1, epochs + 1), [100 * v for v in r[0]["curve"]], "o-", label=label)
    ax.set_xlabel("epoch")
    ax.set_ylabel("validation accuracy % (first seed)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    ax.set_title("Technique D: ensemble (or first network, independent) validation accuracy")
    fig.tight_layout()
    save_figure(fig, f"{args.out}/{NAME}_curves.png")
    _common.write_table(args.out, NAME, markdown, {"note": note, "epochs": epochs, "seeds": args.seeds,
                                                   "seconds": seconds, "results": results})
    print(markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
