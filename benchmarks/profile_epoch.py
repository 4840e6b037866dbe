"""Where the time of a LeNet-5 training epoch goes, layer by layer.

Usage::

    python benchmarks/profile_epoch.py [--samples 1280] [--threads 1]

Trains LeNet-5 (ReLU, SGD lr 0.01, batch 64) for one warm-up epoch and one profiled epoch on a
Fashion-MNIST subset (the digits if Fashion-MNIST is not installed) with Trainer.fit, progress bar
off, and prints the call tree of the profiled epoch: pyinstrument's if it is installed
(``pip install pyinstrument``), else cProfile's 15 most expensive functions.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--samples", type=int, default=1280)
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args(argv)
    from threadpoolctl import threadpool_limits
    from benchmarks.run import load_fashion, numpy_epoch
    x, y = load_fashion(a.samples)
    with threadpool_limits(a.threads):
        _, epoch = numpy_epoch(x, y, 64)
        epoch()                                            # warm-up
        try:
            from pyinstrument import Profiler
        except ImportError:
            import cProfile
            import pstats
            prof = cProfile.Profile()
            prof.runcall(epoch)
            pstats.Stats(prof).sort_stats("cumulative").print_stats(15)
            return 0
        prof = Profiler(interval=0.0005)
        prof.start()
        epoch()
        prof.stop()
        print(prof.output_text(unicode=False, color=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
