"""Dask's overhead on one machine: ``compare branch_supervision --quick`` through the local pool vs ``--cluster
local:2``, on the same 2 cores.

Usage::

    python benchmarks/cluster.py [--reps 3] [--name branch_supervision]

Each repetition runs both, in alternating order (pool first on even repetitions, Dask first on odd ones), each as
a fresh ``python -m numpycnn compare NAME --quick`` process with a fresh run store and output folder, and times
its wall clock (start of the process to its exit: Dask's LocalCluster start-up counts, as it does for a user).
Prints every time, the medians and the ratio Dask / pool (the target: within 15 %, ratio ≤ 1.15). A ratio is
meaningful only on an otherwise idle machine; the numbers are printed, never asserted.
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def timed(name, executor, folder):
    """Wall seconds of one fresh ``compare NAME --quick`` with ``executor`` options, writing under ``folder``."""
    cmd = [sys.executable, "-m", "numpycnn", "compare", name, "--quick", "--no-progress", "--out",
           os.path.join(folder, "out"), "--runs-dir", os.path.join(folder, "runs"), *executor]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([ROOT, os.environ.get("PYTHONPATH", "")]))
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--reps", type=int, default=3, help="repetitions of each (at least 3; default 3)")
    p.add_argument("--name", default="branch_supervision", help="the comparison (default branch_supervision)")
    args = p.parse_args(argv)
    if args.reps < 3:
        p.error(f"--reps must be at least 3; got {args.reps}")
    ways = {"pool": ["--workers", "2"], "dask": ["--cluster", "local:2"]}
    times = {way: [] for way in ways}
    for rep in range(args.reps):
        order = list(ways) if rep % 2 == 0 else list(reversed(ways))
        for way in order:
            with tempfile.TemporaryDirectory(prefix=f"numpycnn-bench-{way}-") as folder:
                seconds = timed(args.name, ways[way], folder)
            times[way].append(seconds)
            print(f"repetition {rep + 1}, {way}: {seconds:.1f} s", flush=True)
    median = {way: statistics.median(t) for way, t in times.items()}
    print(f"compare {args.name} --quick, {args.reps} repetitions each, interleaved, fresh run stores:")
    for way in ways:
        print(f"  {way:<5} median {median[way]:.1f} s  ({', '.join(f'{t:.1f}' for t in times[way])})")
    ratio = median["dask"] / median["pool"]
    print(f"  Dask / pool = {ratio:.3f} ({'within' if ratio <= 1.15 else 'outside'} the 15 % target)")


if __name__ == "__main__":
    main()
