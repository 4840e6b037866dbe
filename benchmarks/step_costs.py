"""The per-step CPU cost of each paper preset's network (numpycnn/lab/experiments/regimes.py, ``STEP_COSTS``).

Usage::

    python benchmarks/step_costs.py [--steps 20]

For each network: a training step (forward, backward, optimizer update) at batch 64 on random CIFAR-size input
(3×32×32), one BLAS thread and one numpycnn thread; CPU time (``time.process_time``, so other processes on a
shared machine do not count) of each of ``--steps`` steps after 3 warm-up steps, the median printed; and the
peak memory of one step (``tracemalloc``: NumPy reports its arrays to it). Paste the printed dict into
``STEP_COSTS`` with the CPU it ran on (``MEASURED_ON``).
"""
import argparse
import os
import sys
import time
import tracemalloc

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from numpycnn import threads  # noqa: E402
from numpycnn.lab import builder  # noqa: E402
from numpycnn.lab.experiments.protocol.provenance import machine  # noqa: E402
from numpycnn.training import Trainer  # noqa: E402

#: network key of regimes.STEP_COSTS -> builder options
NETWORKS = {"lenet5": dict(model="lenet5"),
            "vanilla_cnn-32": dict(model="vanilla_cnn", width=32),
            "plain_cnn-5x32-sigmoid": dict(model="plain_cnn", depth=5, width=32, activation="sigmoid", pool_every=1)}


def measure(options, steps, batch=64):
    """(median CPU ms per step, peak MB of one step) of a network given by builder ``options``."""
    opts = builder.options(optimizer="sgd", momentum=0.9, lr=0.01, batch_size=batch, no_progress=True, **options)
    model, optimizer = builder.build(opts, (3, 32, 32), 10, seed=0)
    trainer = Trainer(model, optimizer, batch_size=batch)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, 3, 32, 32)).astype(np.float32)
    y = rng.integers(0, 10, batch)
    for _ in range(3):
        trainer.train_step(x, y)
    times = []
    for _ in range(steps):
        t0 = time.process_time()
        trainer.train_step(x, y)
        times.append(time.process_time() - t0)
    tracemalloc.start()
    trainer.train_step(x, y)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return 1000 * float(np.median(times)), peak / 2**20


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=20)
    args = p.parse_args(argv)
    import threadpoolctl
    with threadpoolctl.threadpool_limits(1), threads.limit(1):
        costs = {key: measure(options, args.steps) for key, options in NETWORKS.items()}
    print(f"# measured on {machine()['cpu']}, batch 64, one thread, median of {args.steps} steps (CPU time)")
    print("STEP_COSTS = {")
    for key, (ms, mb) in costs.items():
        print(f"    {key!r}: ({ms:.1f}, {mb:.0f}),")
    print("}")


if __name__ == "__main__":
    main()
