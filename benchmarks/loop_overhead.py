"""Share of a training epoch spent outside Trainer.train_step (batching, shuffling, metrics, progress bar).

Usage::

    python benchmarks/loop_overhead.py [--samples 12000] [--threads 1]

Trains LeNet-5 (ReLU, SGD lr 0.01, batch 64) for one epoch on a Fashion-MNIST subset, once with the progress
bar off and once with it on, wrapping ``Trainer.train_step`` with a timer; prints
``(fit time - time inside train_step) / fit time``. The performance issue's target is below 5 %.
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--samples", type=int, default=12000)
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args(argv)
    from threadpoolctl import threadpool_limits
    from benchmarks.run import lenet_trainer, load_fashion
    from numpycnn.datasets import Dataset
    x, y = load_fashion(a.samples)
    with threadpool_limits(a.threads):
        for progress in (False, True):
            trainer = lenet_trainer(64, 0, progress=progress)
            inside, step = [0.0], trainer.train_step

            def timed_step(xb, yb):
                t0 = time.perf_counter()
                result = step(xb, yb)
                inside[0] += time.perf_counter() - t0
                return result

            trainer.train_step = timed_step
            t0 = time.perf_counter()
            trainer.fit(Dataset(x, y), epochs=1)
            total = time.perf_counter() - t0
            print(f"progress bar {'on ' if progress else 'off'}: epoch {total:.2f} s, outside train_step "
                  f"{total - inside[0]:.3f} s = {100 * (total - inside[0]) / total:.1f} %")
    return 0


if __name__ == "__main__":
    sys.exit(main())
