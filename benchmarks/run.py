"""numpycnn vs PyTorch CPU at 1 and 2 threads, measured side by side in one process.

Usage::

    python benchmarks/run.py --quick        # about a minute: 3 repetitions, a 1 280-sample epoch, printed only
    python benchmarks/run.py --reps 20 --epoch-reps 20 --out benchmarks/RESULTS.md \\
        --summary benchmarks/summary.md --readme README.md     # the published run (about 12 min alone)

What it does (benchmarks/README.md says why each step is there; ../shared/benchmarking.md is the method):

* the threads: numpycnn's one setting (``numpycnn.threads.set_threads(T)``, which also sets NumPy's BLAS)
  and ``torch.set_num_threads(T)``, for T = 1 and T = 2, switched before every timed call;
* checks first that both libraries compute the same thing (max abs difference of every convolution's
  output and gradients; LeNet-5 logits after one identical SGD step from the same weights);
* times each case **interleaved**: numpycnn at T = 1, torch at T = 1, numpycnn at T = 2, torch at T = 2,
  the order rotated at every repetition; before each timed call it **settles** (sleeps ``--settle``
  seconds so the other library's spinning worker threads go idle, then makes one untimed call) and
  checks that no other process used the CPU meanwhile (else it waits and redoes the call);
* reports medians (and interquartile ranges), the ratio numpycnn / torch at each T, and each library's
  own speed-up from 1 to 2 threads; then torch alone, back to back, to show that the interleaving does
  not slow it down (its median should be within ~10 % of the interleaved one);
* convolution forward + backward on the four reference shapes (with the im2col floor: the ratio an
  im2col convolution would reach if its three GEMMs ran at NumPy's measured peak and nothing else cost),
  max pooling forward + backward, and a LeNet-5 Fashion-MNIST training epoch (60 000 images, batch 64,
  SGD, the same initial weights and batch order for both; ``--epoch-samples`` for a subset, whose times
  are also shown scaled to 60 000);
* peak memory of one such epoch at T = 2, each library in a fresh process (numpycnn's worker process
  counted in).
"""
import argparse
import os
import platform
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

CONV_SHAPES = [  # (N, C, H, W, F, k, pad): the four reference shapes of ../shared/benchmarking.md
    (64, 1, 28, 28, 6, 5, 0),
    (64, 6, 12, 12, 16, 5, 0),
    (64, 3, 32, 32, 32, 3, 1),
    (64, 32, 16, 16, 64, 3, 1),
]
POOL_SHAPES = [(64, 6, 28, 28, 2), (64, 16, 10, 10, 2), (64, 32, 16, 16, 2)]  # (N, C, H, W, K), stride K
FULL_EPOCH = 60_000                # Fashion-MNIST's training set
BATCH = 64
LR = 0.01
TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


# ----------------------------------------------------------------------------- timing
def use_threads(T):
    """numpycnn's setting (kernels, data-parallel workers and NumPy's BLAS) and torch's, both T."""
    import torch
    from numpycnn import threads
    threads.set_threads(T)
    torch.set_num_threads(T)


def _cpu_ticks_of(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])          # utime + stime
    except (OSError, IndexError):
        return 0


def _ours():
    """CPU ticks used by this process and its children (numpycnn's worker processes)."""
    pid, children = os.getpid(), []
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                children += f.read().split()
        except OSError:
            pass
    return _cpu_ticks_of(pid) + sum(_cpu_ticks_of(c) for c in children)


def _machine_busy():
    with open("/proc/stat") as f:
        v = [int(a) for a in f.readline().split()[1:]]
    return sum(v) - v[3] - v[4]                            # all but idle and iowait


class Clock:
    """Timed calls after a settle pause, redone while another process used the CPU (Linux; elsewhere unchecked)."""

    def __init__(self, settle, max_foreign=0.05):
        self.settle, self.max_foreign = settle, max_foreign
        self.checked = os.path.exists("/proc/stat")
        self.redone = 0

    def time(self, f, warm=True):
        """Seconds of one call of ``f``: sleep ``settle``, one untimed call (``warm``), then the timed one."""
        for _ in range(100):
            if self.checked:
                busy0, ours0 = _machine_busy(), _ours()
            start = time.perf_counter()
            time.sleep(self.settle)
            if warm:
                f()
            t0 = time.perf_counter()
            f()
            dt = time.perf_counter() - t0
            if not self.checked:
                return dt
            window = time.perf_counter() - start
            foreign = ((_machine_busy() - busy0) - (_ours() - ours0)) / TICKS / window   # cores used by others
            if foreign <= self.max_foreign:
                return dt
            self.redone += 1
        return dt


def interleaved(cases, reps, clock, warm=True):
    """Time every ``(key, f, T)`` of ``cases`` once per repetition, order rotated; returns key -> array of s."""
    times = {key: [] for key, _, _ in cases}
    for r in range(reps):
        k = r % len(cases)
        for key, f, T in cases[k:] + cases[:k]:
            use_threads(T)
            times[key].append(clock.time(f, warm))
    return {key: np.array(v) for key, v in times.items()}


def back_to_back(f, T, reps):
    """Median of ``reps`` calls of ``f`` in a row at T threads (no pause): torch's own speed, undisturbed."""
    use_threads(T)
    f()
    t = []
    for _ in range(reps):
        t0 = time.perf_counter()
        f()
        t.append(time.perf_counter() - t0)
    return float(np.median(t))


def med_iqr(t):
    q1, q2, q3 = np.percentile(t, [25, 50, 75])
    return q2, q3 - q1


# ----------------------------------------------------------------------------- the cases
def machine():
    import torch
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    try:
        from threadpoolctl import threadpool_info
        blas = "; ".join(f"{i.get('internal_api')} {i.get('version')} ({i.get('threading_layer', '?')})"
                         for i in threadpool_info() if i.get("user_api") == "blas")
    except ImportError:
        blas = "threadpoolctl not installed"
    return (f"CPU {cpu}, {os.cpu_count()} logical cores; Python {platform.python_version()}, NumPy {np.__version__} "
            f"(BLAS: {blas}), torch {torch.__version__}. Absolute times vary between runs and machines; the "
            f"same-process interleaved ratios are what this table compares.")


def gemm_peak(T, reps=8):
    """NumPy's float32 GEMM speed on one large square product at T threads, GFLOP/s (best of ``reps``)."""
    use_threads(T)
    n = 1024
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    a @ b
    t = []
    for _ in range(reps):
        t0 = time.perf_counter()
        a @ b
        t.append(time.perf_counter() - t0)
    return 2 * n ** 3 / min(t) / 1e9


def conv_case(shape):
    """``(numpycnn fn, torch fn, max abs difference, GEMM FLOPs)`` of one convolution forward + backward."""
    import torch
    from numpycnn.fast_conv import conv2d_backward_fast, conv2d_forward_fast
    N, C, H, W, F, k, pad = shape
    rng = np.random.default_rng(0)
    x = rng.standard_normal((N, C, H, W), dtype=np.float32)
    w = rng.standard_normal((F, C, k, k), dtype=np.float32) * 0.1
    b = rng.standard_normal(F, dtype=np.float32)
    out, _ = conv2d_forward_fast(x, w, b, 1, pad)
    dout = rng.standard_normal(out.shape, dtype=np.float32)
    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    dt = torch.tensor(dout)

    def npy():
        o, c = conv2d_forward_fast(x, w, b, 1, pad)
        return o, conv2d_backward_fast(dout, c)

    def tch():
        xt.grad = wt.grad = bt.grad = None
        o = torch.nn.functional.conv2d(xt, wt, bt, padding=pad)
        o.backward(dt)
        return o

    o, (dx, dw, db) = npy()
    ot = tch()
    if not o.dtype == dx.dtype == dw.dtype == np.float32:
        raise SystemExit("float32 in must give float32 out")
    err = max(np.abs(o - ot.detach().numpy()).max(), np.abs(dx - xt.grad.numpy()).max(),
              np.abs(dw - wt.grad.numpy()).max() / max(1, np.abs(dw).max()))
    OH, OW = out.shape[2:]
    return npy, tch, err, 3 * 2 * N * OH * OW * F * C * k * k      # forward, dW and dX GEMMs


def pool_case(shape):
    """``(numpycnn fn, torch fn, max abs difference)`` of max pooling forward + backward (the layer)."""
    import torch
    from numpycnn.layers import MaxPool2D
    N, C, H, W, K = shape
    rng = np.random.default_rng(1)
    x = rng.standard_normal((N, C, H, W), dtype=np.float32)
    layer = MaxPool2D(K)
    dout = rng.standard_normal(layer.forward(x).shape, dtype=np.float32)
    xt = torch.tensor(x, requires_grad=True)
    dt = torch.tensor(dout)

    def npy():
        return layer.forward(x), layer.backward(dout)

    def tch():
        xt.grad = None
        o = torch.nn.functional.max_pool2d(xt, K)
        o.backward(dt)
        return o

    o, dx = npy()
    ot = tch()
    return npy, tch, max(np.abs(o - ot.detach().numpy()).max(), np.abs(dx - xt.grad.numpy()).max())


# ----------------------------------------------------------------------------- LeNet-5 training
def torch_lenet(model_np):
    """A torch LeNet-5 with numpycnn's layout and the *same* initial weights."""
    import torch
    nn = torch.nn
    net = nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                        nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))
    np_params = {name: p for name, p, _ in model_np.named_parameters()}
    mods = {"conv1": net[0], "conv2": net[3], "fc1": net[7], "fc2": net[9], "fc3": net[11]}
    with torch.no_grad():
        for lname, mod in mods.items():
            mod.weight.copy_(torch.tensor(np.ascontiguousarray(np_params[f"{lname}.W"])))
            mod.bias.copy_(torch.tensor(np_params[f"{lname}.b"]))
    return net


def load_fashion(n):
    from numpycnn.datasets import load_dataset
    d = load_dataset("fashion-mnist", train_limit=n, test_limit=100, val_fraction=0.0, seed=0)
    return d.train.x.astype(np.float32), d.train.y


def lenet_trainer(batch=BATCH, seed=0, optimizer="sgd", **trainer_options):
    """The benchmarked setup: LeNet-5 (ReLU) trained with ``Trainer`` by plain SGD (lr 0.01), or Adam (lr 1e-3)."""
    from numpycnn import optim, zoo
    from numpycnn.training import Trainer
    model = zoo.lenet5(seed=seed)
    opt = optim.SGD(model, lr=LR) if optimizer == "sgd" else optim.Adam(model, lr=1e-3)
    return Trainer(model, opt, batch_size=batch, seed=seed, **trainer_options)


def numpy_epoch(x, y, batch=BATCH, seed=0):
    """``(trainer, run)``: ``run(epoch)`` trains one epoch in the order ``batch_indices(n, batch, seed, epoch)``."""
    from numpycnn.training import batch_indices
    tr = lenet_trainer(batch, seed, progress=False, guard=False)

    def run(epoch=0):
        for idx in batch_indices(len(x), batch, seed=seed, epoch=epoch):
            tr.train_step(x[idx], y[idx])
    return tr, run


def torch_epoch(net, x, y, batch=BATCH, seed=0):
    """``run(epoch)``: the same epoch for torch (same batches in the same order, plain SGD)."""
    import torch
    from numpycnn.training import batch_indices
    opt = torch.optim.SGD(net.parameters(), lr=LR)
    xt, yt = torch.tensor(x), torch.tensor(y.astype(np.int64))
    lossf = torch.nn.CrossEntropyLoss()

    def run(epoch=0):
        for idx in batch_indices(len(x), batch, seed=seed, epoch=epoch):
            i = torch.from_numpy(idx)
            opt.zero_grad()
            lossf(net(xt[i]), yt[i]).backward()
            opt.step()
    return run


def check_same_training_step(x, y, T):
    """One SGD step on the same batch from the same weights at T threads: max |logits difference| after it."""
    import torch
    use_threads(T)
    tr, _ = numpy_epoch(x, y)
    net = torch_lenet(tr.model)
    xb, yb = x[:BATCH], y[:BATCH]
    tr.train_step(xb, yb)
    opt = torch.optim.SGD(net.parameters(), lr=LR)
    torch.nn.functional.cross_entropy(net(torch.tensor(xb)), torch.tensor(yb.astype(np.int64))).backward()
    opt.step()
    with torch.no_grad():
        diff = float(np.abs(tr.model.forward(xb) - net(torch.tensor(xb)).numpy()).max())
    if tr._parallel is not None:
        tr._parallel.close()
    return diff


_RSS_CODE = """
import sys; sys.path.insert(0, {root!r})
import numpy as np
import benchmarks.run as r
x, y = np.load({x!r}), np.load({y!r})
def hwm(pid):
    return next(int(l.split()[1]) for l in open(f'/proc/{{pid}}/status') if l.startswith('VmHWM'))
if {side!r} == 'numpycnn':
    from numpycnn import threads
    threads.set_threads({T})                          # no torch in this process
    tr, run = r.numpy_epoch(x, y)
    run()
    workers = [] if tr._parallel is None else [p.pid for p in tr._parallel.processes]
    print(hwm('self') + sum(hwm(p) for p in workers))
else:
    from numpycnn import zoo
    r.use_threads({T})
    r.torch_epoch(r.torch_lenet(zoo.lenet5(seed=0)), x, y)()
    print(hwm('self'))
"""


def peak_rss(side, x, y, T):
    """Peak RSS (MiB) of a fresh process that trains one epoch with one library (numpycnn: plus its workers').

    Read from VmHWM in /proc/<pid>/status (getrusage's ru_maxrss would be inherited from this process).
    The data is handed over as a .npy pair, so both sides hold the same arrays.
    """
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        paths = os.path.join(tmp, "x.npy"), os.path.join(tmp, "y.npy")
        np.save(paths[0], x)
        np.save(paths[1], y)
        code = _RSS_CODE.format(root=os.path.dirname(os.path.dirname(os.path.abspath(__file__))), x=paths[0],
                                y=paths[1], T=T, side=side)
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=1800)
    if out.returncode != 0:
        print(out.stderr, file=sys.stderr)
        return float("nan")
    return int(out.stdout.strip().splitlines()[-1]) / 1024


# ----------------------------------------------------------------------------- the report
def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="3 repetitions, a 1 280-sample epoch (about a minute)")
    p.add_argument("--reps", type=int, default=20, help="repetitions of each convolution and pooling case")
    p.add_argument("--epoch-samples", type=int, default=FULL_EPOCH, help="Fashion-MNIST training images per epoch")
    p.add_argument("--epoch-reps", type=int, default=20, help="repetitions of the epoch")
    p.add_argument("--settle", type=float, default=0.2, help="seconds of idle before each timed call")
    p.add_argument("--no-memory", action="store_true", help="skip the peak-memory processes")
    p.add_argument("--out", default=None, help="Markdown file for the results (e.g. benchmarks/RESULTS.md)")
    p.add_argument("--summary", default=None,
                   help="Markdown file for the targets-vs-measured table (e.g. benchmarks/summary.md)")
    p.add_argument("--readme", default=None,
                   help="README whose include blocks are refreshed after writing --summary (e.g. README.md)")
    a = p.parse_args(argv)
    if a.readme and not a.summary:
        p.error("--readme refreshes the README from the --summary file: give --summary too")
    if a.quick:
        a.reps, a.epoch_samples, a.epoch_reps = 3, 1280, 3
    command = f"python benchmarks/run.py {' '.join(argv if argv is not None else sys.argv[1:])}"
    started = time.perf_counter()
    clock = Clock(a.settle)
    lines = ["# numpycnn vs PyTorch CPU at 1 and 2 threads — benchmark results", "",
             f"Command: `{command}`  ", f"Machine: {machine()}", "",
             f"Each case is timed interleaved in one process — numpycnn T=1, torch T=1, numpycnn T=2, torch T=2, "
             f"order rotated every repetition — with a {a.settle} s settle pause and one untimed call before each "
             f"timed call. **ratio** = numpycnn median / torch median at the same T (< 1: numpycnn faster); "
             f"**speed-up** = a library's median at T=1 / its median at T=2. IQR = interquartile range.", ""]

    def emit(s=""):
        print(s, flush=True)
        lines.append(s)

    x, y = load_fashion(a.epoch_samples)
    for T in (1, 2):
        emit(f"Max |logits difference| after one identical SGD step on LeNet-5 from the same weights, T = {T}: "
             f"{check_same_training_step(x, y, T):.2e}")
    emit()
    peak = {T: gemm_peak(T) for T in (1, 2)}
    emit(f"NumPy float32 GEMM peak (1024³): {peak[1]:.0f} GFLOP/s at T = 1, {peak[2]:.0f} at T = 2.")
    emit()
    measured = {"conv": [], "pool": []}

    emit(f"## Convolution forward + backward (float32, stride 1), median of {a.reps}")
    emit()
    emit("| shape (N,C,H,W → F, k, pad) | max abs diff | torch ms T=1 | numpycnn ms T=1 | ratio T=1 | torch ms T=2 "
         "| numpycnn ms T=2 (IQR) | ratio T=2 | speed-up numpycnn | speed-up torch | im2col floor T=1 / T=2 |")
    emit("|---|---|---|---|---|---|---|---|---|---|---|")
    b2b = []
    for s in CONV_SHAPES:
        npy, tch, err, flops = conv_case(s)
        t = interleaved([("n1", npy, 1), ("t1", tch, 1), ("n2", npy, 2), ("t2", tch, 2)], a.reps, clock)
        m = {k: med_iqr(v)[0] for k, v in t.items()}
        floor = {T: flops / m[f"t{T}"] / 1e9 / peak[T] for T in (1, 2)}
        row = dict(name=f"{s[0]},{s[1]},{s[2]},{s[3]} → {s[4]}, {s[5]}, {s[6]}",
                   ratio={T: m[f"n{T}"] / m[f"t{T}"] for T in (1, 2)},
                   speedup=(m["n1"] / m["n2"], m["t1"] / m["t2"]), floor=floor)
        measured["conv"].append(row)
        emit(f"| {row['name']} | {err:.1e} | {1e3 * m['t1']:.2f} | {1e3 * m['n1']:.2f} | {row['ratio'][1]:.2f} "
             f"| {1e3 * m['t2']:.2f} | {1e3 * m['n2']:.2f} ({1e3 * med_iqr(t['n2'])[1]:.2f}) | {row['ratio'][2]:.2f} "
             f"| {row['speedup'][0]:.2f} | {row['speedup'][1]:.2f} | {floor[1]:.2f} / {floor[2]:.2f} |")
        b2b.append((row["name"], m["t1"], back_to_back(tch, 1, a.reps), m["t2"], back_to_back(tch, 2, a.reps)))
    measured["geomean"] = {T: float(np.exp(np.mean([np.log(r["ratio"][T]) for r in measured["conv"]])))
                           for T in (1, 2)}
    emit(f"| geometric mean of the ratios | | | | {measured['geomean'][1]:.2f} | | | {measured['geomean'][2]:.2f} "
         f"| | | |")
    emit()
    emit("im2col floor = (forward, dW and dX GEMM FLOPs at NumPy's GEMM peak) / torch's median time: the ratio an "
         "im2col + GEMM convolution would reach if its three products ran at peak and its gathers and adds cost "
         "nothing. No im2col design gets below it.")
    emit()
    emit("### Interleaving check: torch alone, back to back (no pause), vs torch interleaved (ms)")
    emit()
    emit("| shape | interleaved T=1 | back to back T=1 | interleaved T=2 | back to back T=2 | "
         "interleaved / back to back, T=1 / T=2 |")
    emit("|---|---|---|---|---|---|")
    for name, i1, s1, i2, s2 in b2b:
        emit(f"| {name} | {1e3 * i1:.2f} | {1e3 * s1:.2f} | {1e3 * i2:.2f} | {1e3 * s2:.2f} "
             f"| {i1 / s1:.2f} / {i2 / s2:.2f} |")
    emit()

    emit(f"## Max pooling forward + backward (float32, stride = kernel), median of {a.reps}")
    emit()
    emit("| shape (N,C,H,W, K) | max abs diff | torch ms T=1 | numpycnn ms T=1 | ratio T=1 | torch ms T=2 "
         "| numpycnn ms T=2 | ratio T=2 | speed-up numpycnn | speed-up torch |")
    emit("|---|---|---|---|---|---|---|---|---|---|")
    for s in POOL_SHAPES:
        npy, tch, err = pool_case(s)
        t = interleaved([("n1", npy, 1), ("t1", tch, 1), ("n2", npy, 2), ("t2", tch, 2)], a.reps, clock)
        m = {k: med_iqr(v)[0] for k, v in t.items()}
        row = dict(name=f"{s[0]},{s[1]},{s[2]},{s[3]}, K={s[4]}", ratio={T: m[f"n{T}"] / m[f"t{T}"] for T in (1, 2)})
        measured["pool"].append(row)
        emit(f"| {row['name']} | {err:.1e} | {1e3 * m['t1']:.2f} | {1e3 * m['n1']:.2f} | {row['ratio'][1]:.2f} "
             f"| {1e3 * m['t2']:.2f} | {1e3 * m['n2']:.2f} | {row['ratio'][2]:.2f} | {m['n1'] / m['n2']:.2f} "
             f"| {m['t1'] / m['t2']:.2f} |")
    emit()

    n = len(x)
    tr, np_run = numpy_epoch(x, y)
    t_run = torch_epoch(torch_lenet(tr.model), x, y)
    for T in (1, 2):                                   # warm-up: numpycnn's worker process starts here
        use_threads(T)
        np_run()
        t_run()
    t = interleaved([("n1", np_run, 1), ("t1", t_run, 1), ("n2", np_run, 2), ("t2", t_run, 2)], a.epoch_reps, clock,
                    warm=False)                        # every call: the same batch order for both libraries
    m = {k: med_iqr(v) for k, v in t.items()}
    scale = FULL_EPOCH / n
    measured["epoch"] = dict(samples=n, ratio={T: m[f"n{T}"][0] / m[f"t{T}"][0] for T in (1, 2)},
                             seconds={k: v[0] * scale for k, v in m.items()},
                             speedup=(m["n1"][0] / m["n2"][0], m["t1"][0] / m["t2"][0]))
    emit(f"## LeNet-5 training epoch (Fashion-MNIST, {n} images, batch {BATCH}, SGD lr {LR}, same initial weights "
         f"and batch order), median of {a.epoch_reps}")
    emit()
    emit("| | numpycnn T=1 | torch T=1 | numpycnn T=2 | torch T=2 |")
    emit("|---|---|---|---|---|")
    emit("| seconds per epoch (IQR) | " + " | ".join(f"{m[k][0]:.2f} ({m[k][1]:.2f})" for k in ("n1", "t1", "n2", "t2"))
         + " |")
    if scale != 1:
        emit(f"| scaled to {FULL_EPOCH} images | " + " | ".join(f"{measured['epoch']['seconds'][k]:.2f}"
                                                            for k in ("n1", "t1", "n2", "t2")) + " |")
    emit(f"| ratio numpycnn / torch | {measured['epoch']['ratio'][1]:.2f} | | {measured['epoch']['ratio'][2]:.2f} | |")
    emit(f"| speed-up from 1 to 2 threads | numpycnn {measured['epoch']['speedup'][0]:.2f} | "
         f"torch {measured['epoch']['speedup'][1]:.2f} | | |")
    emit()
    if tr._parallel is not None:
        tr._parallel.close()

    measured["rss"] = None
    if not a.no_memory:
        m_np, m_t = peak_rss("numpycnn", x, y, 2), peak_rss("torch", x, y, 2)
        measured["rss"] = (m_np, m_t, 2)
        emit(f"## Peak memory of one training epoch ({n} images, T = 2, fresh process each; numpycnn's worker "
             f"process included)")
        emit()
        emit(f"| numpycnn MiB | torch MiB | ratio |\n|---|---|---|\n| {m_np:.0f} | {m_t:.0f} | {m_np / m_t:.2f} |")
        emit()
    emit(f"Timed calls redone because another process used the CPU: {clock.redone}. "
         f"Wall time of this run: {(time.perf_counter() - started) / 60:.1f} min.")
    if a.out:
        from numpycnn.storage import atomic_write_bytes
        atomic_write_bytes(a.out, ("\n".join(lines) + "\n").encode())
        print(f"wrote {a.out}")
    if a.summary:
        from numpycnn.storage import atomic_write_bytes
        atomic_write_bytes(a.summary, summary_table(measured, command, machine(), a.out).encode())
        print(f"wrote {a.summary}")
    if a.readme:
        from numpycnn.lab.commands.figures import sync_includes
        print(f"{a.readme}: refreshed include blocks {sync_includes(a.readme)}")
    return 0


def summary_table(measured, command, machine_line, full_results=None):
    """The performance issue's targets next to what this run measured (Markdown, included in the README).

    ``measured``: ``conv`` — one dict per shape with ``name``, ``ratio`` {T: numpycnn / torch}, ``speedup``
    (numpycnn, torch) and ``floor`` {T: im2col floor}; ``geomean`` {T: ratio}; ``pool`` — ``name`` and
    ``ratio``; ``epoch`` — ``samples``, ``ratio``, ``seconds`` (keys n1 t1 n2 t2, scaled to a full epoch),
    ``speedup``; ``rss`` — (numpycnn MiB, torch MiB, T) or None.
    """
    def verdict(value, target, below=True):
        ok = value <= target if below else value >= target
        return f"{value:.2f}× ({'**met**' if ok else 'not met'})"

    e = measured["epoch"]
    subset = "" if e["samples"] == FULL_EPOCH else f" ({e['samples']} images, times scaled to {FULL_EPOCH})"
    rows = ["| measure | target | T = 1 | T = 2 |", "|---|---|---|---|",
            f"| LeNet-5 Fashion-MNIST epoch{subset}, numpycnn / PyTorch | ≤ 1.0× at T = 1, ≤ 1.3× at T = 2 "
            f"| {verdict(e['ratio'][1], 1.0)}; {e['seconds']['n1']:.1f} s vs {e['seconds']['t1']:.1f} s "
            f"| {verdict(e['ratio'][2], 1.3)}; {e['seconds']['n2']:.1f} s vs {e['seconds']['t2']:.1f} s |",
            f"| numpycnn's epoch speed-up from 1 to 2 threads | ≥ 1.6× | | {verdict(e['speedup'][0], 1.6, below=False)} "
            f"(PyTorch's: {e['speedup'][1]:.2f}×) |"]
    for r in measured["conv"]:
        rows.append(f"| conv fwd+bwd {r['name']} | ≤ 2.0× at T = 2 | {r['ratio'][1]:.2f}× (im2col floor "
                    f"{r['floor'][1]:.2f}×) | {verdict(r['ratio'][2], 2.0)}; im2col floor {r['floor'][2]:.2f}×; "
                    f"speed-up {r['speedup'][0]:.2f}× (PyTorch {r['speedup'][1]:.2f}×) |")
    rows.append(f"| conv geometric mean of the four | ≤ 1.3× at T = 2 | {measured['geomean'][1]:.2f}× "
                f"| {verdict(measured['geomean'][2], 1.3)} |")
    for r in measured["pool"]:
        rows.append(f"| max pool fwd+bwd {r['name']} | (reported) | {r['ratio'][1]:.2f}× | {r['ratio'][2]:.2f}× |")
    if measured.get("rss") is not None:
        m_np, m_t, T = measured["rss"]
        cell = f"{m_np:.0f} MiB vs {m_t:.0f} MiB ({'**met**' if m_np < m_t else 'not met'})"
        rows.append(f"| peak memory of one epoch | below PyTorch's | {cell if T == 1 else ''} | {cell if T == 2 else ''} |")
    head = (f"Ratios numpycnn / PyTorch CPU with the same number of threads T (medians of repetitions interleaved "
            f"in one process; < 1 means numpycnn is faster). Command: `{command}`. Machine: {machine_line}"
            + (f" Full tables: [{full_results}]({full_results})." if full_results else ""))
    return head + "\n\n" + "\n".join(rows) + "\n"


if __name__ == "__main__":
    sys.exit(main())
