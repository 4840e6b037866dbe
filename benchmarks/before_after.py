"""numpycnn before and after a change: the same cases timed with two versions of the code, interleaved.

Usage::

    python benchmarks/before_after.py --before 0247612            # print the table (about 5 min alone)
    python benchmarks/before_after.py --before 0247612 --out benchmarks/RESULTS.md   # and write it there

Why a separate script: ``run.py`` compares numpycnn with PyTorch inside one process; a change to numpycnn is
compared with the code before it, which cannot share a process with it. So:

* ``--before REV`` is checked out (``git worktree add --detach``) into a temporary folder, removed at the end;
  ``--after`` is this checkout (the working tree as it is);
* every round starts one fresh process per version (``--worker ROOT`` imports ``numpycnn`` from ``ROOT``),
  in the order before, after / after, before alternating, so a drift of the machine's speed falls on both;
* each process times, at T = 1 and T = 2 threads (``numpycnn.threads.set_threads``): the fast convolution's
  forward + backward on the four reference shapes of ../shared/benchmarking.md (median of ``--reps`` calls
  after a warm-up), max pooling forward + backward (the layer), and a LeNet-5 epoch of
  ``--epoch-samples`` Fashion-MNIST images (batch 64, SGD lr 0.01, same weights and batch order);
* the table gives each version's median over the rounds and the ratio after / before with the smallest and
  largest per-round ratio. The cases are the ones both versions have: what the change must not slow down.

Only the ratios travel between machines; the CPU is named in the output.
"""
import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

CONV_SHAPES = [(64, 1, 28, 28, 6, 5, 0), (64, 6, 12, 12, 16, 5, 0), (64, 3, 32, 32, 32, 3, 1), (64, 32, 16, 16, 64, 3, 1)]
POOL_SHAPES = [(64, 6, 28, 28, 2), (64, 16, 10, 10, 2)]
BEGIN, END = "<!-- before-after: begin -->", "<!-- before-after: end -->"


# ----------------------------------------------------------------------------- one version, one process
def median_seconds(f, reps):
    """Median seconds of ``reps`` calls of ``f`` after one untimed call."""
    f()
    t = []
    for _ in range(reps):
        t0 = time.perf_counter()
        f()
        t.append(time.perf_counter() - t0)
    return float(np.median(t))


def conv_name(shape, T):
    N, C, H, W, F, k, _ = shape
    return f"conv {N}x{C}x{H}x{W}, {F} filters {k}x{k}, T={T}"


def pool_name(shape, T):
    N, C, H, W, K = shape
    return f"max pool {N}x{C}x{H}x{W} /{K}, T={T}"


def epoch_name(epoch_samples, T):
    return f"LeNet-5 epoch of {epoch_samples} images, T={T}"


def case_names(epoch_samples):
    """The name of every case the worker times, in its order (the names ``--case`` matches against)."""
    return [name for T in (1, 2) for name in
            [conv_name(s, T) for s in CONV_SHAPES] + [pool_name(s, T) for s in POOL_SHAPES] +
            [epoch_name(epoch_samples, T)]]


def wanted(name, cases):
    """Whether case ``name`` is timed: every case when ``cases`` is empty, else those containing one of them."""
    return not cases or any(c in name for c in cases)


def worker(reps, epoch_samples, cases=()):
    """Time every case (or those :func:`wanted` by ``cases``) with the ``numpycnn`` on ``sys.path``; print
    ``{case: seconds}`` as JSON."""
    from numpycnn import optim, threads, zoo
    from numpycnn.datasets import load_dataset
    from numpycnn.fast_conv import conv2d_backward_fast, conv2d_forward_fast
    from numpycnn.layers import MaxPool2D
    from numpycnn.training import Trainer, batch_indices

    rng = np.random.default_rng(0)
    # Loaded even when the epoch is not timed: every case then runs in the state of a training process. In a
    # fresh process that has made no large allocation yet, glibc hands each freed buffer of a pass back to the
    # system and the next call faults it in again (measured: the smallest convolution 5.9 ms per call instead
    # of 1.6), so a case timed without this load would measure the allocator, not numpycnn.
    d = load_dataset("fashion-mnist", train_limit=epoch_samples, test_limit=100, val_fraction=0.0, seed=0)
    x_train, y_train = d.train.x.astype(np.float32), d.train.y
    out = {}
    for T in (1, 2):
        threads.set_threads(T)
        for N, C, H, W, F, k, pad in CONV_SHAPES:
            x = rng.standard_normal((N, C, H, W), dtype=np.float32)
            w = rng.standard_normal((F, C, k, k), dtype=np.float32) * 0.1
            b = rng.standard_normal(F, dtype=np.float32)
            dout = rng.standard_normal(conv2d_forward_fast(x, w, b, 1, pad)[0].shape, dtype=np.float32)
            step = lambda: conv2d_backward_fast(dout, conv2d_forward_fast(x, w, b, 1, pad)[1])  # noqa: E731
            name = conv_name((N, C, H, W, F, k, pad), T)
            if wanted(name, cases):
                out[name] = median_seconds(step, reps)
        for N, C, H, W, K in POOL_SHAPES:
            x = rng.standard_normal((N, C, H, W), dtype=np.float32)
            layer = MaxPool2D(K)
            dout = rng.standard_normal(layer.forward(x).shape, dtype=np.float32)
            name = pool_name((N, C, H, W, K), T)
            if wanted(name, cases):
                out[name] = median_seconds(lambda: (layer.forward(x), layer.backward(dout)), reps)
        name = epoch_name(epoch_samples, T)
        if not wanted(name, cases):
            continue
        model = zoo.lenet5(seed=0)
        trainer = Trainer(model, optim.SGD(model, lr=0.01), batch_size=64, seed=0, progress=False, guard=False)

        def epoch():
            for idx in batch_indices(len(x_train), 64, seed=0, epoch=0):
                trainer.train_step(x_train[idx], y_train[idx])
        out[name] = median_seconds(epoch, 1)
    threads.set_threads(1)
    print(json.dumps(out))


# ----------------------------------------------------------------------------- the driver
def run_worker(root, args):
    """One fresh process timing every case with the code under ``root``."""
    env = dict(os.environ, PYTHONPATH=root)
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", root, "--reps", str(args.reps),
           "--epoch-samples", str(args.epoch_samples)] + [a for c in args.case for a in ("--case", c)]
    done = subprocess.run(cmd, env=env, cwd=root, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"the worker for {root} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            return next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or "unknown"


def median_ci(ratios, level=0.95, draws=4000, seed=0):
    """A bootstrap confidence interval of the median of ``ratios`` (the rounds resampled with replacement)."""
    ratios = np.asarray(ratios, dtype=float)
    rng = np.random.default_rng(seed)
    medians = np.median(rng.choice(ratios, (draws, len(ratios))), axis=1)
    return tuple(np.quantile(medians, [(1 - level) / 2, (1 + level) / 2]))


def table(before, after, args, rev, head):
    """Markdown: each case's median over rounds, before and after, the ratio after / before, the per-round
    ratios' range, and their median with a 95 % bootstrap interval (a paired comparison: each round's two
    processes ran back to back)."""
    cases = "".join(f" --case '{c}'" for c in args.case)
    lines = [BEGIN, f"## Before and after: `{rev}` vs `{head}` (numpycnn alone)", "",
             f"Command: `python benchmarks/before_after.py --before {rev} --rounds {args.rounds} --reps {args.reps} "
             f"--epoch-samples {args.epoch_samples}{cases}`  ",
             f"Machine: {cpu_name()}, {os.cpu_count()} logical cores; Python {platform.python_version()}, "
             f"NumPy {np.__version__}. Fresh process per version and round, the order alternated; convolution "
             f"and pooling rows are medians of {args.reps} calls per round, the epoch one call per round; the "
             f"table gives the median over {args.rounds} rounds, and the ratio's smallest and largest per-round "
             f"value.", "",
             "| case | before (ms) | after (ms) | after / before | per-round range | per-round median [95 % CI] |",
             "|---|---:|---:|---:|---:|---:|"]
    for case in before[0]:
        b = np.array([r[case] for r in before])
        a = np.array([r[case] for r in after])
        ratios = a / b
        lo, hi = median_ci(ratios)
        lines.append(f"| {case} | {1e3 * np.median(b):.2f} | {1e3 * np.median(a):.2f} | "
                     f"{np.median(a) / np.median(b):.3f} | {ratios.min():.3f}–{ratios.max():.3f} | "
                     f"{np.median(ratios):.3f} [{lo:.3f}, {hi:.3f}] |")
    lines.append(END)
    return "\n".join(lines)


def write_section(path, text):
    """Replace the before/after section of ``path`` (or append it); the rest of the file is kept."""
    old = open(path).read() if os.path.exists(path) else ""
    if BEGIN in old and END in old:
        new = old[:old.index(BEGIN)] + text + old[old.index(END) + len(END):]
    else:
        new = old.rstrip("\n") + "\n\n" + text + "\n"
    with open(path, "w") as f:
        f.write(new)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--before", help="the git revision to compare with (e.g. a commit before the change)")
    p.add_argument("--rounds", type=int, default=7, help="fresh-process pairs (before, after)")
    p.add_argument("--reps", type=int, default=20, help="calls per convolution and pooling case in one process")
    p.add_argument("--epoch-samples", type=int, default=12800, help="Fashion-MNIST images in the timed epoch")
    p.add_argument("--case", action="append", default=[],
                   help="time only the cases whose name contains this text (repeatable; e.g. '64x1x28x28')")
    p.add_argument("--out", help="Markdown file to write the section into (e.g. benchmarks/RESULTS.md)")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    for name in ("rounds", "reps", "epoch_samples"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be a positive integer, got {getattr(args, name)}")
    for c in args.case:
        if not any(c in name for name in case_names(args.epoch_samples)):
            p.error(f"--case {c!r} matches no case; expected part of one of: "
                    f"{', '.join(case_names(args.epoch_samples))}")
    if args.worker:
        return worker(args.reps, args.epoch_samples, args.case)
    if not args.before:
        p.error("--before is required: the git revision to compare this checkout with")
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    git = lambda *a: subprocess.run(["git", "-C", repo, *a], capture_output=True, text=True)  # noqa: E731
    if git("rev-parse", "--verify", args.before + "^{commit}").returncode != 0:
        p.error(f"--before {args.before!r} is not a commit of {repo}")
    head = git("rev-parse", "--short", "HEAD").stdout.strip() + (" + uncommitted changes" if git(
        "status", "--porcelain", "--untracked-files=no").stdout.strip() else "")
    tmp = tempfile.mkdtemp(prefix="numpycnn-before-")
    old = os.path.join(tmp, "before")
    if git("worktree", "add", "--detach", old, args.before).returncode != 0:
        raise SystemExit(f"could not check out {args.before} into {old}")
    try:
        before, after = [], []
        for r in range(args.rounds):
            order = [(old, before), (repo, after)]
            for root, results in (order if r % 2 == 0 else order[::-1]):
                results.append(run_worker(root, args))
            print(f"round {r + 1}/{args.rounds} done", file=sys.stderr)
    finally:
        git("worktree", "remove", "--force", old)
        shutil.rmtree(tmp, ignore_errors=True)
    text = table(before, after, args, args.before, head)
    print(text)
    if args.out:
        write_section(args.out, text)


if __name__ == "__main__":
    main()
