"""Technique B side by side: the gradient-direction optimizer against Adam, RMSprop, Momentum and SGD.

``python -m numpycnn compare optimizers [--quick] [--seeds 3] [--epochs 5] [--out figures]``

The patent's table (CIFAR-10, its small CNN, batch 64, 20 epochs) is reproduced in kind on
Fashion-MNIST (or the embedded digits when it is absent; CIFAR-10 with ``--dataset cifar10
--data-dir DIR``, converted to grayscale as the text's preprocessing): the same network, the same
initial weights and the same data order for every optimizer (one seed gives both), batch 64,
the five optimizers with the text's settings. Reported, next to the patent's own numbers:

* final test accuracy (mean ± std over seeds) and how far it fell from its peak (a late decline);
* iterations and seconds to reach a target test accuracy — the text claims 30–40 % less time
  than the fastest classic method;
* figures: the five accuracy curves against iteration and against seconds; the step length
  α_t and the measured update norm ‖x_{t+1} − x_t‖ of one run (equal, by construction);
  and an ablation of ``c`` in ``α0 = c·√N``.
"""
import math
import time

import numpy as np

from .. import optim
from ..plots import _figure, save_figure
from ..techniques.gradient_direction import DEFAULT_BETA, DEFAULT_C, GradientDirection
from ..training import Callback, Trainer
from ..zoo import lenet5, small_cnn
from . import _common

NAME = "optimizers"

#: label -> (build the optimizer on a model, its settings as the text gives them, the patent's CIFAR-10 accuracy %)
OPTIMIZERS = {
    "direction": (lambda m: GradientDirection(m), f"α0 = {DEFAULT_C}·√N, β = {DEFAULT_BETA}", 64.404),
    "adam": (lambda m: optim.Adam(m, lr=1e-3, betas=(0.9, 0.999)), "lr 1e-3, betas 0.9/0.999", 62.99),
    "rmsprop": (lambda m: optim.RMSprop(m, lr=1e-3, alpha=0.9), "lr 1e-3, alpha 0.9", 61.35),
    "momentum": (lambda m: optim.Momentum(m, lr=1e-3, momentum=0.9), "lr 1e-3, momentum 0.9", 59.1),
    "sgd": (lambda m: optim.SGD(m, lr=1e-3), "lr 1e-3", 29.06),
}
COLORS = {"direction": "C3", "adam": "C0", "rmsprop": "C1", "momentum": "C2", "sgd": "C7"}
ABLATION_C = (0.0005, DEFAULT_C, 0.004, 0.01)


class StepRecorder(Callback):
    """Records the step length the optimizer meant (``α_t``, or ``lr``) and the update it made,
    ``‖x_{t+1} − x_t‖`` over all parameters together, at every iteration."""

    name = "step_recorder"

    def __init__(self):
        self.alpha, self.update_norm = [], []

    def after_backward(self, trainer):
        self._before = [p.copy() for _, p, _ in trainer.model.named_parameters()]
        self._alpha = getattr(trainer.optimizer, "alpha", trainer.optimizer.lr)

    def after_step(self, trainer):
        sq = sum(float(np.sum((p.astype(np.float64) - b) ** 2))
                 for (_, p, _), b in zip(trainer.model.named_parameters(), self._before))
        self.alpha.append(float(self._alpha))
        self.update_norm.append(math.sqrt(sq))


def build_model(data, seed):
    if data.input_shape[1] >= 28:
        return lenet5(data.input_shape, data.num_classes, activation_name="relu", seed=seed)
    return small_cnn(data.input_shape, data.num_classes, seed=seed)


def run_one(data, make_optimizer, seed, epochs, eval_every, progress=False, callbacks=()):
    """Train one network from the seed's initial weights in the seed's data order.

    Returns ``{"evals": [{"step", "seconds", "val_acc", "val_loss"}, ...], "final": test accuracy}``
    (``val_*`` here are measured on the **test** split, as the text's curves are).
    """
    model = build_model(data, seed)
    trainer = Trainer(model, make_optimizer(model), callbacks=list(callbacks), seed=seed, batch_size=64,
                      progress=progress)
    trainer.fit(data.train, data.test, epochs=epochs, eval_every=eval_every)
    evals = trainer.history["evals"]
    final = trainer.evaluate(data.test)["accuracy"]
    if not evals or evals[-1]["step"] != trainer.step:
        evals.append({"step": trainer.step, "seconds": trainer.elapsed, "val_acc": final, "val_loss": None})
    return {"evals": evals, "final": final, "optimizer": repr(trainer.optimizer)}


def curves_figure(runs, note):
    fig = _figure(figsize=(10, 3.8))
    ax1, ax2 = fig.subplots(1, 2)
    for label, seeds in runs.items():
        for i, r in enumerate(seeds):
            steps = [e["step"] for e in r["evals"]]
            secs = [e["seconds"] for e in r["evals"]]
            acc = [100 * e["val_acc"] for e in r["evals"]]
            kw = dict(color=COLORS[label], alpha=1.0 if i == 0 else 0.35, lw=1.8 if i == 0 else 0.8,
                      label=label if i == 0 else None)
            ax1.plot(steps, acc, **kw)
            ax2.plot(secs, acc, **kw)
    ax1.set_xlabel("iteration")
    ax2.set_xlabel("training seconds")
    for ax in (ax1, ax2):
        ax.set_ylabel("test accuracy (%)")
        ax.grid(alpha=0.3)
    ax1.legend()
    fig.suptitle(f"Technique B: test accuracy during training (first seed bold) — {note.split(' (')[0]}")
    fig.tight_layout()
    return fig


def schedule_figure(recorders):
    fig = _figure(figsize=(9, 3.6))
    ax = fig.subplots()
    d = recorders["direction"]
    t = np.arange(len(d.alpha))
    ax.plot(t, d.alpha, color="k", lw=3, alpha=0.35, label="direction: planned step α_t = α0(1−β)^t")
    ax.plot(t, d.update_norm, color=COLORS["direction"], lw=1, label="direction: measured ‖x_{t+1} − x_t‖")
    if "adam" in recorders:
        a = recorders["adam"]
        ax.plot(np.arange(len(a.update_norm)), a.update_norm, color=COLORS["adam"], lw=0.8,
                label="adam (lr 1e-3): measured ‖x_{t+1} − x_t‖")
    ax.set_xlabel("iteration")
    ax.set_ylabel("length of the update")
    ax.set_yscale("log")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    ax.set_title("Every direction step has length exactly α_t; Adam's length follows the gradients")
    fig.tight_layout()
    return fig


def ablation_figure(ablation, adam_mean, N):
    fig = _figure(figsize=(6, 3.6))
    ax = fig.subplots()
    cs = [a["c"] for a in ablation]
    ax.plot(cs, [100 * a["final"] for a in ablation], "o-", color=COLORS["direction"], label="direction")
    ax.axhline(100 * adam_mean, ls="--", color=COLORS["adam"], label="adam lr 1e-3 (mean over seeds)")
    for a in ablation:
        ax.annotate(f"α0={a['alpha0']:.3g}", (a["c"], 100 * a["final"]), textcoords="offset points",
                    xytext=(0, 6), ha="center", fontsize=7)
    ax.set_xscale("log")
    ax.set_xlabel(f"c in α0 = c·√N   (N = {N:,})")
    ax.set_ylabel("final test accuracy (%)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    ax.set_title("How sensitive is the method to α0? (first seed)")
    fig.tight_layout()
    return fig


def table(runs, ablation, args, note, target, N, seconds):
    finals = {k: [r["final"] for r in v] for k, v in runs.items()}
    reach = {k: [_common.first_reaching(r["evals"], target) for r in v] for k, v in runs.items()}
    classic = [k for k in runs if k != "direction"]

    def mean_reached(k, i):
        vals = [r[i] for r in reach[k] if not math.isnan(r[i])]
        return (float(np.mean(vals)), len(vals)) if vals else (math.nan, 0)

    fastest = min(classic, key=lambda k: (mean_reached(k, 1)[1] < len(runs[k]), mean_reached(k, 1)[0]))
    lines = [
        f"**Technique B — gradient-direction optimizer vs. classic optimizers.** {note}; "
        f"{'LeNet-5 (ReLU)' if 'LeNet' in runs['direction'][0]['model'] else 'small CNN'}, "
        f"N = {N:,} parameters, batch 64, {args.epochs} epoch(s), {len(runs['direction'])} seed(s) "
        f"(each seed: the same initial weights and data order for every optimizer). "
        f"Test accuracy measured every {args.eval_every} iterations. "
        f"Budget: {seconds / 60:.1f} min on this machine (2 cores). "
        f"Command: `python -m numpycnn compare optimizers{' --quick' if args.quick else ''}"
        f"{'' if args.seeds == 3 else f' --seeds {args.seeds}'}`.",
        "",
        f"| optimizer | settings | final test acc. % (mean ± std) | peak − final (pp) | "
        f"iterations to {100 * target:.0f} % | seconds to {100 * target:.0f} % | patent, CIFAR-10 20 epochs % |",
        "|---|---|---|---|---|---|---|",
    ]
    for k, v in runs.items():
        drop = np.mean([100 * (max(e["val_acc"] for e in r["evals"]) - r["final"]) for r in v])
        it, n_it = mean_reached(k, 0)
        sec, _ = mean_reached(k, 1)
        reached = f" ({n_it}/{len(v)} seeds)" if 0 < n_it < len(v) else ""
        its = "not reached" if n_it == 0 else f"{it:.0f}{reached}"
        secs = "not reached" if n_it == 0 else f"{sec:.1f}"
        lines.append(f"| {k} | {OPTIMIZERS[k][1]} | {_common.mean_std(finals[k])} | {drop:.2f} | {its} | {secs} | "
                     f"{OPTIMIZERS[k][2]} |")
    d_sec, d_n = mean_reached("direction", 1)
    f_sec, f_n = mean_reached(fastest, 1)
    lines.append("")
    if d_n and f_n:
        lines.append(f"Time to {100 * target:.0f} %: direction {d_sec:.1f} s ({d_n} seed(s)) vs. the fastest classic "
                     f"method ({fastest}) {f_sec:.1f} s ({f_n} seed(s)) of wall clock on a shared machine — too few "
                     f"runs and too noisy a clock to confirm or refute the patent's claim of 30–40 % less time.")
    else:
        lines.append(f"Target {100 * target:.0f} % reached by direction in {d_n} seed(s), by {fastest} in {f_n}.")
    lines.append("Ablation of c (first seed): " + ", ".join(
        f"c = {a['c']:g} (α0 = {a['alpha0']:.3g}): {100 * a['final']:.2f} %" for a in ablation) + ".")
    return "\n".join(lines), finals


def main(argv=None):
    p = _common.parser(NAME, __doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=None, help="epochs per run (default 5; --quick 1)")
    p.add_argument("--eval-every", type=int, default=None, help="iterations between test evaluations")
    p.add_argument("--target", type=float, default=None,
                   help="test accuracy whose time-to-reach is compared (default 0.85 on Fashion-MNIST)")
    p.add_argument("--dataset", default="auto", choices=["auto", "fashion-mnist", "digits", "cifar10"],
                   help="auto: Fashion-MNIST when found, else the embedded digits")
    p.add_argument("--train-limit", type=int, default=None, help="training images (default 10 000; --quick 1 000)")
    p.add_argument("--only", action="append", choices=sorted(OPTIMIZERS), default=None,
                   help="run only these optimizers (repeatable)")
    args = _common.parse_args(p, argv)
    args.epochs = args.epochs or (1 if args.quick else 5)
    if args.epochs < 1:
        raise ValueError(f"--epochs must be a positive integer; got {args.epochs}")
    train_limit = args.train_limit or (1000 if args.quick else 10_000)
    test_limit = 300 if args.quick else 2000
    if args.dataset == "auto":
        data, note = _common.fashion_or_digits(args.data_dir, 0, train_limit, test_limit)
    else:
        from ..datasets import load_dataset
        data = load_dataset(args.dataset, data_dir=args.data_dir, seed=0, train_limit=train_limit,
                            test_limit=test_limit, val_fraction=0.0, grayscale=args.dataset == "cifar10")
        note = f"{args.dataset} ({len(data.train):,} training / {len(data.test):,} test images)"
    args.eval_every = args.eval_every or (5 if args.quick else 40)
    target = args.target if args.target is not None else (0.5 if args.quick else
                                                          0.85 if data.name == "fashion-mnist" else 0.9)
    names = [k for k in OPTIMIZERS if not args.only or k in args.only or k == "direction"]
    t0 = time.perf_counter()
    runs, recorders = {k: [] for k in names}, {}
    for seed in range(args.seeds):
        for k in names:
            callbacks = []
            if seed == 0 and k in ("direction", "adam"):
                recorders[k] = StepRecorder()
                callbacks = [recorders[k]]
            r = run_one(data, OPTIMIZERS[k][0], seed, args.epochs, args.eval_every, not args.no_progress, callbacks)
            r["model"] = "LeNet-5" if data.input_shape[1] >= 28 else "small_cnn"
            runs[k].append(r)
            print(f"seed {seed} {k:9s} final test accuracy {100 * r['final']:.2f} %", flush=True)
    N = build_model(data, 0).num_params
    ablation = []
    for c in (ABLATION_C[1:3] if args.quick else ABLATION_C):
        if c == DEFAULT_C:                     # the main table's first direction run is this setting
            r = runs["direction"][0]
        else:
            r = run_one(data, lambda m, c=c: GradientDirection(m, c=c), 0, args.epochs, args.eval_every,
                        not args.no_progress)
        ablation.append({"c": c, "alpha0": c * math.sqrt(N), "final": r["final"], "evals": r["evals"]})
        print(f"ablation c = {c:g}: final test accuracy {100 * r['final']:.2f} %", flush=True)
    seconds = time.perf_counter() - t0
    markdown, finals = table(runs, ablation, args, note, target, N, seconds)
    adam_mean = float(np.mean(finals["adam"])) if "adam" in finals else float("nan")
    save_figure(curves_figure(runs, note), f"{args.out}/optimizers_curves.png")
    save_figure(schedule_figure(recorders), f"{args.out}/optimizers_schedule.png")
    save_figure(ablation_figure(ablation, adam_mean, N), f"{args.out}/optimizers_ablation.png")
    raw = {"note": note, "target": target, "epochs": args.epochs, "seeds": args.seeds, "N": N,
           "runs": runs, "ablation": ablation, "seconds": seconds,
           "schedule": {k: {"alpha": r.alpha, "update_norm": r.update_norm} for k, r in recorders.items()},
           "patent": {k: v[2] for k, v in OPTIMIZERS.items()}}
    _common.write_table(args.out, NAME, markdown, raw)
    print(markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
