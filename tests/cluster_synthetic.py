"""A synthetic experiment for the cluster tests (tests/test_cluster.py): the protocol's stages on a run function that
trains nothing, so a fault is easy to place and a comparison takes seconds.

Worker processes import this module by name (``PYTHONPATH`` holds tests/), so the run function is sent by reference.
Its behaviour is steered by files in the folder ``$NUMPYCNN_TEST_FLAGS`` (none of which changes a result):

* every run writes ``started-<stage>-<arm>-<seed>-<pid>`` when it starts (the test knows which process runs it);
* ``slow-<arm>-<seed>`` present: the run sleeps ``SLOW`` seconds first (time for the test to kill its process);
* ``slow-all``: every run sleeps ``SLOW_ALL`` seconds (a comparison long enough to kill its scheduler);
* ``raise-<arm>-<seed>`` present: the run raises a ValueError naming it.

``python tests/cluster_synthetic.py [compare options]`` runs it as ``compare`` would (exit status included).
"""
import math
import os
import sys
import time

import numpy as np

from numpycnn.lab.experiments import protocol

NAME = "synthetic"
BEST_LR = {"arm": 0.3, "base": 0.01}
SLOW, SLOW_ALL = 3.0, 0.4


def flags():
    return os.environ.get("NUMPYCNN_TEST_FLAGS")


def run(settings, seed, ctx):
    """No training: validation peaks at the arm's best lr; test is the arm's effect plus seed noise; the training
    split's size (loaded by the worker itself from the data spec) enters the result."""
    arm, lr = settings["arm"], settings["lr"]
    folder = flags()
    if folder:
        open(os.path.join(folder, f"started-{ctx.stage}-{arm}-{seed}-{os.getpid()}"), "w").close()
        if os.path.exists(os.path.join(folder, f"raise-{arm}-{seed}")):
            raise ValueError(f"planted failure in arm {arm}, seed {seed}")
        if os.path.exists(os.path.join(folder, f"slow-{arm}-{seed}")):
            time.sleep(SLOW)
        if os.path.exists(os.path.join(folder, "slow-all")):
            time.sleep(SLOW_ALL)
    rng = np.random.default_rng(seed)
    val = 0.8 - 0.05 * abs(math.log10(lr / BEST_LR[arm])) + 1e-6 * len(ctx.train.y)
    out = {"val_acc": val, "curve": [[s, val] for s in range(100, 1100, 100)]}
    if ctx.test is not None:
        out["test_acc"] = 0.80 + (0.01 if arm == "arm" else 0.0) + 0.002 * rng.standard_normal()
    return out


def experiment(seeds):
    arms = [protocol.Arm("arm", {"arm": "arm"}, grid={"lr": (0.03, 0.1, 0.3)}),
            protocol.Arm("base", {"arm": "base"}, grid={"lr": (0.003, 0.01, 0.03)})]
    claims = [protocol.Claim("the arm is better", "arm", "base", published=0.5, conversion="threshold (ours)",
                             primary=True, source="synthetic")]
    return protocol.Experiment(NAME, "a synthetic experiment", run, protocol.DataSpec(name="digits", train=400,
                                                                                       val=100, test=100),
                               arms, claims, seeds=seeds, primary_seeds=4, tune_seeds=2,
                               trained=protocol.TrainedCheck())


def main(argv=None):
    p = protocol.parser(NAME, __doc__)
    args = p.parse_args(argv)
    runner = protocol.check_args(args, NAME)
    exp = experiment(args.seeds)
    t0 = time.perf_counter()
    tuning, finals, claims, arms, comparisons = protocol.run_protocol(exp, runner)
    protocol.publish(exp, runner, argv, t0, args.out, arms, comparisons, intro="A synthetic experiment.", body=[])
    return 0


if __name__ == "__main__":
    from numpycnn.lab.commands.compare import run_guarded
    sys.exit(run_guarded([(NAME, main)], sys.argv[1:]))
