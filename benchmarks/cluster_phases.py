"""Where the Dask path's fixed cost goes: each phase of a ``--cluster local:2`` comparison's start and end, timed.

Usage::

    python benchmarks/cluster_phases.py [--reps 3]

Each repetition, in a fresh process (so no import is already done): import ``distributed``; start a LocalCluster of
2 single-threaded worker processes and its client (as ``compare --cluster local:2`` does); a first no-op round
trip to both workers; importing the experiments in the workers; loading ``compare branch_supervision --quick``'s
data in the workers; closing the client and the cluster. Prints the median of every phase, next to what the local
pool pays for the same things (it forks the driver after the data is loaded, so its workers import and load
nothing). Numbers are printed, never asserted; meaningful only on an otherwise idle machine.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CHILD = r"""
import json, sys, time
t = {}
t0 = time.perf_counter()
import distributed
from distributed import Client, LocalCluster
t["import distributed"] = time.perf_counter() - t0
t0 = time.perf_counter()
cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
client = Client(cluster)
client.wait_for_workers(2)
t["start a LocalCluster of 2 workers"] = time.perf_counter() - t0
t0 = time.perf_counter()
client.run(lambda: 0)
t["first round trip"] = time.perf_counter() - t0

def import_experiments():
    import numpycnn.lab.experiments.branch_supervision  # noqa: F401
    return 0

t0 = time.perf_counter()
client.run(import_experiments)
t["import the experiments in the workers"] = time.perf_counter() - t0

def load():
    from numpycnn.lab.experiments.protocol.runner import load_data
    from numpycnn.lab.experiments.protocol.spec import DataSpec
    load_data(DataSpec(train=800, val=200, test=300))
    return 0

t0 = time.perf_counter()
client.run(load)
t["load the --quick data in the workers"] = time.perf_counter() - t0
t0 = time.perf_counter()
client.close()
cluster.close()
t["close the client and the cluster"] = time.perf_counter() - t0
print(json.dumps(t))
"""


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--reps", type=int, default=3, help="fresh processes to time (default 3)")
    p.add_argument("--method", choices=["spawn", "forkserver", "fork"], default=None,
                   help="how the worker processes start (Dask's distributed.worker.multiprocessing-method; "
                        "default: Dask's own, spawn)")
    args = p.parse_args(argv)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([ROOT, os.environ.get("PYTHONPATH", "")]))
    if args.method:
        env["DASK_DISTRIBUTED__WORKER__MULTIPROCESSING_METHOD"] = args.method
    runs = []
    for rep in range(args.reps):
        out = subprocess.run([sys.executable, "-c", CHILD], check=True, cwd=ROOT, env=env, capture_output=True,
                             text=True).stdout
        runs.append(json.loads(out.strip().splitlines()[-1]))
        print(f"repetition {rep + 1}: {sum(runs[-1].values()):.2f} s", flush=True)
    method = args.method or "spawn, Dask's default"
    print(f"Dask LocalCluster phases ({method}), median of {args.reps} fresh processes (seconds):")
    for phase in runs[0]:
        print(f"  {phase:<42} {statistics.median(r[phase] for r in runs):6.2f}")
    print(f"  {'total':<42} {statistics.median(sum(r.values()) for r in runs):6.2f}")


if __name__ == "__main__":
    main()
