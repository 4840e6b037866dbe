"""Technique C's semi-supervised option: a sparse network trained on few labels, with and without consistency.

``python -m numpycnn compare sparsity_semi_supervised [--quick] [--seeds 3]``

An Erdős–Rényi sparse MLP 784-300-100-10 (sparsity 0.8) is trained on a small labelled fraction of a
Fashion-MNIST subset (the embedded digits when it is absent): supervised only, and supervised plus the
consistency loss between two randomly perturbed passes of unlabelled images (the rest of the subset,
labels unused) — :class:`numpycnn.techniques.erdos_renyi.ConsistencyTraining`. Same masks, initial
weights and labelled batches per seed. Writes ``sparsity_semi_supervised.md`` / ``.json``.
"""
import time

import numpy as np

from ..datasets import Dataset
from ..optim import Adam
from ..techniques import erdos_renyi as C
from ..training import Trainer
from ..zoo import mlp
from . import _common

NAME = "sparsity_semi_supervised"


def main(argv=None):
    p = _common.parser(NAME, __doc__.splitlines()[0])
    p.add_argument("--labelled", type=int, default=None, help="labelled training images (default 200; --quick 50)")
    p.add_argument("--weight", type=float, default=1.0, help="consistency weight w (default 1)")
    p.add_argument("--noise", type=float, default=0.5, help="std of the input perturbation (default 0.5)")
    args = _common.parse_args(p, argv)
    n_lab = args.labelled or (50 if args.quick else 200)
    data, note = _common.fashion_or_digits(args.data_dir, 0, 600 if args.quick else 4000, 200 if args.quick else 1000)
    steps = 20 if args.quick else 300
    t0 = time.perf_counter()
    res = {"supervised only": [], f"+ consistency (w = {args.weight:g}, noise {args.noise:g})": []}
    for seed in range(args.seeds):
        order = np.random.default_rng([seed, 11]).permutation(len(data.train))
        lab = Dataset(data.train.x[order[:n_lab]], data.train.y[order[:n_lab]])
        unlabelled = data.train.x[order[n_lab:]]
        for label in res:
            model = mlp(data.input_shape, data.num_classes, hidden=(300, 100), seed=seed)
            C.sparsify(model, 0.8, "er", np.random.default_rng([seed, 3]))
            callbacks = [] if label == "supervised only" else [
                C.ConsistencyTraining(unlabelled, args.weight, args.noise, batch_size=64, seed=seed)]
            Trainer(model, Adam(model, lr=1e-3), callbacks=callbacks, seed=seed, batch_size=64,
                    progress=False).fit(lab, epochs=10 ** 6, max_steps=steps)
            res[label].append(model.evaluate(data.test.x, data.test.y)["accuracy"])
            print(f"seed {seed} {label}: {100 * res[label][-1]:.2f} %", flush=True)
    seconds = time.perf_counter() - t0
    lines = [f"**Technique C, semi-supervised option.** {note}; ER sparse MLP 784-300-100-10 at sparsity 0.8, "
             f"{n_lab} labelled images, the other {len(data.train) - n_lab:,} used without labels; Adam lr 1e-3, "
             f"{steps} iterations, {args.seeds} seed(s). Test accuracy %, mean ± std. Budget {seconds / 60:.1f} min. "
             f"Command: `python -m numpycnn compare {NAME}{' --quick' if args.quick else ''}`.", "",
             "| training | test accuracy % |", "|---|---|"]
    lines += [f"| {k} | {_common.mean_std(v)} |" for k, v in res.items()]
    markdown = "\n".join(lines)
    _common.write_table(args.out, NAME, markdown, {"note": note, "labelled": n_lab, "steps": steps, "results": res,
                                                   "seconds": seconds})
    print(markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
