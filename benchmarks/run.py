"""numpycnn vs PyTorch CPU, measured side by side in one process.

Usage::

    python benchmarks/run.py [--quick] [--threads 1 2] [--reps 20] [--epoch-samples 6000]
                             [--out benchmarks/RESULTS.md] [--summary benchmarks/summary.md --readme README.md]

What it does (see benchmarks/README.md):

* pins the BLAS threads of NumPy (threadpoolctl) and torch (``torch.set_num_threads``) to the same T;
* checks that both sides compute the same outputs and gradients (max abs difference printed) before timing;
* times numpycnn and torch *interleaved* (A B A B ...) after a warm-up and reports the median and the
  minimum of the ratio numpycnn/torch — on a shared machine only these same-process ratios mean anything;
* conv forward+backward on six shapes, max pooling forward+backward, a LeNet-5 (ReLU, Adam, batch 64)
  training epoch on Fashion-MNIST, time per sample across batch sizes 16-256, NumPy's GEMM peak, and
  peak RSS of a training epoch (each side in its own subprocess, so one's memory does not count for the other).
"""
import argparse
import os
import platform
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

CONV_SHAPES = [  # (N, C, H, W, F, k, pad): the four, then LeNet's padded conv1 and a stride-2 conv
    (64, 1, 28, 28, 6, 5, 0),
    (64, 6, 12, 12, 16, 5, 0),
    (64, 3, 32, 32, 32, 3, 1),
    (64, 32, 16, 16, 64, 3, 1),
    (64, 1, 28, 28, 6, 5, 2),
    (64, 16, 16, 16, 32, 3, 1),
]
POOL_SHAPES = [(64, 6, 28, 28, 2), (64, 16, 10, 10, 2), (64, 32, 16, 16, 2)]  # (N, C, H, W, K), stride K


def interleaved(fa, fb, reps, warmup=2):
    """Time fa and fb alternately; return (times_a, times_b) in seconds."""
    for _ in range(warmup):
        fa(), fb()
    ta, tb = [], []
    for _ in range(reps):
        t0 = time.perf_counter()
        fa()
        ta.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        fb()
        tb.append(time.perf_counter() - t0)
    return np.array(ta), np.array(tb)


def machine():
    from threadpoolctl import threadpool_info
    import torch
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    blas = "; ".join(f"{i.get('internal_api')} {i.get('version')} ({i.get('threading_layer', '?')})"
                     for i in threadpool_info() if i.get("user_api") == "blas")
    return (f"CPU {cpu}, {os.cpu_count()} logical cores; Python {platform.python_version()}, NumPy {np.__version__} "
            f"(BLAS: {blas}), torch {torch.__version__}. A shared virtual machine: absolute times vary from run to "
            f"run; only the same-process interleaved ratios are meaningful.")


def gemm_peak(reps):
    n = 1024
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    a @ b
    t = []
    for _ in range(max(3, reps // 4)):
        t0 = time.perf_counter()
        a @ b
        t.append(time.perf_counter() - t0)
    return 2 * n ** 3 / min(t) / 1e9


def bench_conv(shape, reps, peak):
    import torch
    from numpycnn.fast_conv import conv2d_backward_fast, conv2d_forward_fast
    N, C, H, W, F, k, pad = shape
    rng = np.random.default_rng(0)
    x = rng.standard_normal((N, C, H, W), dtype=np.float32)
    w = rng.standard_normal((F, C, k, k), dtype=np.float32) * 0.1
    b = rng.standard_normal(F, dtype=np.float32)
    out, cache = conv2d_forward_fast(x, w, b, 1, pad)
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
    err = max(np.abs(o - ot.detach().numpy()).max(), np.abs(dx - xt.grad.numpy()).max(),
              np.abs(dw - wt.grad.numpy()).max() / max(1, np.abs(dw).max()))
    assert o.dtype == dx.dtype == dw.dtype == np.float32, "float32 in must give float32 out"
    ta, tb = interleaved(npy, tch, reps)
    OH, OW = out.shape[2:]
    flops = 3 * 2 * N * OH * OW * F * C * k * k  # forward, dW and dX GEMMs
    torch_gflops = flops / np.median(tb) / 1e9
    # The im2col floor: the three GEMMs alone at NumPy's measured GEMM peak, over torch's whole convolution
    # (= torch's GFLOP/s as a fraction of that peak). No im2col + GEMM design, whose gathers and adds cost
    # extra, can get below this ratio.
    return dict(name=f"{N},{C},{H},{W} → {F}, {k}, {pad}", err=err, ta=ta, tb=tb,
                gflops=flops / np.median(ta) / 1e9, torch_gflops=torch_gflops, floor=torch_gflops / peak)


def bench_pool(shape, reps):
    import torch
    from numpycnn.pooling import maxpool2d_forward, maxpool2d_backward
    N, C, H, W, K = shape
    rng = np.random.default_rng(1)
    x = rng.standard_normal((N, C, H, W), dtype=np.float32)
    out, _ = maxpool2d_forward(x, K)
    dout = rng.standard_normal(out.shape, dtype=np.float32)
    xt = torch.tensor(x, requires_grad=True)
    dt = torch.tensor(dout)

    def npy():
        o, c = maxpool2d_forward(x, K)
        return o, maxpool2d_backward(dout, c)

    def tch():
        xt.grad = None
        o = torch.nn.functional.max_pool2d(xt, K)
        o.backward(dt)
        return o

    o, dx = npy()
    ot = tch()
    err = max(np.abs(o - ot.detach().numpy()).max(), np.abs(dx - xt.grad.numpy()).max())
    ta, tb = interleaved(npy, tch, reps)
    return dict(name=f"{N},{C},{H},{W}, K={K}", err=err, ta=ta, tb=tb)


# ----------------------------------------------------------------------------- LeNet-5 training
def torch_lenet(model_np):
    """A torch LeNet-5 with numpycnn's layout and the *same* initial weights."""
    import torch
    nn = torch.nn
    net = nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                        nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))
    params = dict(model_np.named_parameters_dict()) if hasattr(model_np, "named_parameters_dict") else None
    np_params = {name: p for name, p, _ in model_np.named_parameters()}
    mods = {"conv1": net[0], "conv2": net[3], "fc1": net[7], "fc2": net[9], "fc3": net[11]}
    with torch.no_grad():
        for lname, mod in mods.items():
            Wn, bn = np_params[f"{lname}.W"], np_params[f"{lname}.b"]
            if isinstance(mod, nn.Linear) and Wn.shape != tuple(mod.weight.shape):
                Wn = Wn.T  # numpycnn Dense stores W as (in, out)
            mod.weight.copy_(torch.tensor(np.ascontiguousarray(Wn)))
            mod.bias.copy_(torch.tensor(bn))
    del params
    return net


def load_fashion(n):
    from numpycnn.datasets import load_dataset
    d = load_dataset("fashion-mnist", train_limit=n, test_limit=100, val_fraction=0.0, seed=0)
    return d.train.x.astype(np.float32), d.train.y


def lenet_trainer(batch=64, seed=0, **trainer_options):
    """The benchmarked setup: LeNet-5 (ReLU) trained by Adam (lr 1e-3) with ``Trainer``."""
    from numpycnn import zoo, optim
    from numpycnn.training import Trainer
    model = zoo.lenet5(seed=seed)
    return Trainer(model, optim.Adam(model, lr=1e-3), batch_size=batch, seed=seed, **trainer_options)


def numpy_epoch(x, y, batch, seed=0):
    from numpycnn.datasets import Dataset
    tr = lenet_trainer(batch, seed, progress=False, guard=False)
    return tr.model, lambda: tr.fit(Dataset(x, y), epochs=tr_epochs(tr))


def tr_epochs(tr):
    """Run exactly one more epoch on each call (fit continues up to ``epochs``)."""
    tr._bench_epochs = getattr(tr, "_bench_epochs", 0) + 1
    return tr._bench_epochs


def torch_epoch(net, x, y, batch, seed=0):
    import torch
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    xt, yt = torch.tensor(x), torch.tensor(y.astype(np.int64))
    g = torch.Generator().manual_seed(seed)
    lossf = torch.nn.CrossEntropyLoss()

    def run():
        perm = torch.randperm(len(xt), generator=g)
        for i in range(0, len(xt), batch):
            idx = perm[i:i + batch]
            opt.zero_grad()
            lossf(net(xt[idx]), yt[idx]).backward()
            opt.step()
    return run


def check_same_training_step(x, y):
    """One Adam step on the same batch from the same weights: compare the logits after the step."""
    import torch
    from numpycnn import zoo, optim
    from numpycnn.losses import SoftmaxCrossEntropy
    model = zoo.lenet5(seed=0)
    net = torch_lenet(model)
    xb, yb = x[:64], y[:64]
    loss = SoftmaxCrossEntropy()
    opt = optim.Adam(model, lr=1e-3)
    logits = model.forward(xb)
    loss.forward(logits, yb)
    model.backward(loss.backward())
    opt.step()
    topt = torch.optim.Adam(net.parameters(), lr=1e-3)
    torch.nn.functional.cross_entropy(net(torch.tensor(xb)), torch.tensor(yb.astype(np.int64))).backward()
    topt.step()
    with torch.no_grad():
        return float(np.abs(model.forward(xb) - net(torch.tensor(xb)).numpy()).max())


def peak_rss(side, x, y, threads):
    """Peak RSS (MiB) of a fresh process that trains one epoch with one library.

    Read from VmHWM in /proc/self/status: getrusage's ru_maxrss is inherited from the parent at fork,
    so it would report this (torch-loaded) process's peak for both sides.

    The data is handed over as a small .npy pair (loading the whole IDX file would dominate the peak).
    """
    import tempfile
    tmp = tempfile.mkdtemp()
    np.save(os.path.join(tmp, "x.npy"), x)
    np.save(os.path.join(tmp, "y.npy"), y)
    code = f"""
import sys, resource; sys.path.insert(0, {os.path.dirname(os.path.dirname(os.path.abspath(__file__)))!r})
from threadpoolctl import threadpool_limits
sys.argv = ['x']
import benchmarks.run as r
import numpy as np
x, y = np.load({os.path.join(tmp, "x.npy")!r}), np.load({os.path.join(tmp, "y.npy")!r})
with threadpool_limits({threads}):
    if {side!r} == 'numpycnn':
        r.numpy_epoch(x, y, 64)[1]()
    else:
        import torch; torch.set_num_threads({threads})
        from numpycnn import zoo
        r.torch_epoch(r.torch_lenet(zoo.lenet5(seed=0)), x, y, 64)()
print(next(int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmHWM')))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=900)
    for f in ("x.npy", "y.npy"):
        os.remove(os.path.join(tmp, f))
    os.rmdir(tmp)
    if out.returncode != 0:
        return float("nan")
    return int(out.stdout.strip().splitlines()[-1]) / 1024


def ratio_row(r):
    med = np.median(r["ta"]) / np.median(r["tb"])
    mn = r["ta"].min() / r["tb"].min()
    return med, mn


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="few repetitions, small epoch (seconds)")
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--reps", type=int, default=20)
    p.add_argument("--epoch-samples", type=int, default=6000, help="Fashion-MNIST training samples per epoch")
    p.add_argument("--epoch-reps", type=int, default=3)
    p.add_argument("--no-memory", action="store_true")
    p.add_argument("--memory-only", action="store_true", help="only the peak-RSS measurement")
    p.add_argument("--out", default=None, help="Markdown file for the results (e.g. benchmarks/RESULTS.md)")
    p.add_argument("--summary", default=None,
                   help="Markdown file for the targets-vs-measured table (e.g. benchmarks/summary.md)")
    p.add_argument("--readme", default=None,
                   help="README whose include blocks are refreshed after writing --summary (e.g. README.md)")
    a = p.parse_args(argv)
    if a.readme and not a.summary:
        p.error("--readme refreshes the README from the --summary file: give --summary too")
    if a.quick:
        a.reps, a.epoch_samples, a.epoch_reps, a.threads = 5, 640, 1, a.threads[:1]
    import torch
    from threadpoolctl import threadpool_limits
    lines = ["# numpycnn vs PyTorch CPU — benchmark results", "",
             f"Command: `python benchmarks/run.py {' '.join(argv if argv is not None else sys.argv[1:])}`  ",
             f"Machine: {machine()}", "",
             "Ratios are numpycnn time / torch time, measured interleaved in one process (A B A B …, after a "
             f"warm-up); **med** = ratio of medians, **min** = ratio of minimums, over {a.reps} repetitions. "
             "< 1 means numpycnn is faster.", ""]

    def emit(s=""):
        print(s, flush=True)
        lines.append(s)

    x, y = load_fashion(a.epoch_samples)
    emit(f"Max |logits difference| after one identical Adam step on LeNet-5 (numpycnn vs torch, same weights): "
         f"{check_same_training_step(x, y):.2e}")
    emit()
    measured, rss = {}, None   # T -> what the summary table reports; peak RSS (numpycnn, torch, T)
    for T in ([] if a.memory_only else a.threads):
        got = measured[T] = {"conv": []}
        with threadpool_limits(T):
            torch.set_num_threads(T)
            peak = gemm_peak(a.reps)
            emit(f"## T = {T} thread(s) (threadpoolctl for NumPy's BLAS, torch.set_num_threads)")
            emit()
            emit(f"NumPy float32 GEMM peak (1024³): {peak:.0f} GFLOP/s")
            emit()
            emit("### Convolution forward + backward (float32, stride 1)")
            emit()
            emit("| shape (N,C,H,W → F, k, pad) | max abs diff | torch ms (med) | numpycnn ms (med) | ratio med | ratio min "
                 "| numpycnn GFLOP/s (% of GEMM peak) | torch GFLOP/s | im2col floor |")
            emit("|---|---|---|---|---|---|---|---|---|")
            meds = []
            for s in CONV_SHAPES:
                r = bench_conv(s, a.reps, peak)
                med, mn = ratio_row(r)
                meds.append(med)
                got["conv"].append((r["name"], med, mn, r["floor"]))
                emit(f"| {r['name']} | {r['err']:.1e} | {1e3 * np.median(r['tb']):.2f} | {1e3 * np.median(r['ta']):.2f} "
                     f"| {med:.2f} | {mn:.2f} | {r['gflops']:.0f} ({100 * r['gflops'] / peak:.0f} %) "
                     f"| {r['torch_gflops']:.0f} | {r['floor']:.2f} |")
            got["geomean"] = np.exp(np.mean(np.log(meds[:4])))
            emit(f"| geometric mean (issue's four) | | | | {got['geomean']:.2f} | | | | |")
            emit()
            emit("im2col floor = (forward, dW and dX GEMM FLOPs at NumPy's GEMM peak) / torch's median time: the "
                 "ratio an im2col + GEMM convolution would reach if its three products ran at peak and its "
                 "gathers and adds cost nothing.")
            emit()
            emit("### Max pooling forward + backward (float32, stride = kernel)")
            emit()
            emit("| shape (N,C,H,W, K) | max abs diff | torch ms (med) | numpycnn ms (med) | ratio med | ratio min |")
            emit("|---|---|---|---|---|---|")
            for s in POOL_SHAPES:
                r = bench_pool(s, a.reps)
                med, mn = ratio_row(r)
                emit(f"| {r['name']} | {r['err']:.1e} | {1e3 * np.median(r['tb']):.2f} | {1e3 * np.median(r['ta']):.2f} "
                     f"| {med:.2f} | {mn:.2f} |")
            emit()
            emit("### Conv time per sample across batch sizes (LeNet conv2: C=6, 12×12 → 16, 5×5; fwd+bwd)")
            emit()
            emit("| batch | numpycnn µs/sample | torch µs/sample | ratio med |")
            emit("|---|---|---|---|")
            per = []
            for Nb in (16, 32, 64, 128, 256):
                r = bench_conv((Nb, 6, 12, 12, 16, 5, 0), a.reps, peak)
                per.append(np.median(r["ta"]) / Nb)
                emit(f"| {Nb} | {1e6 * per[-1]:.1f} | {1e6 * np.median(r['tb']) / Nb:.1f} | {ratio_row(r)[0]:.2f} |")
            got["spread"] = 100 * (max(per) - min(per)) / (2 * np.median(per))
            emit(f"| spread | ±{got['spread']:.0f} % of median | | |")
            emit()
            model, np_run = numpy_epoch(x, y, 64)
            t_run = torch_epoch(torch_lenet(model), x, y, 64)
            ta, tb = interleaved(np_run, t_run, a.epoch_reps, warmup=1)
            emit(f"### LeNet-5 training epoch (ReLU, Adam, batch 64, Fashion-MNIST {len(x)} samples, Trainer.fit "
                 f"with progress bar off)")
            emit()
            emit("| | numpycnn | torch | ratio med | ratio min |")
            emit("|---|---|---|---|---|")
            emit(f"| seconds per epoch (med of {a.epoch_reps}) | {np.median(ta):.2f} | {np.median(tb):.2f} "
                 f"| {np.median(ta) / np.median(tb):.2f} | {ta.min() / tb.min():.2f} |")
            emit(f"| samples / s | {len(x) / np.median(ta):.0f} | {len(x) / np.median(tb):.0f} | | |")
            got["epoch"] = (np.median(ta) / np.median(tb), ta.min() / tb.min(), np.median(ta), np.median(tb))
            emit()
    if not a.no_memory:
        T = a.threads[-1]
        m_np, m_t = peak_rss("numpycnn", x, y, T), peak_rss("torch", x, y, T)
        emit(f"### Peak RSS of one training epoch ({a.epoch_samples} samples, T = {T}, fresh process each)")
        emit()
        emit(f"| numpycnn MiB | torch MiB | ratio |\n|---|---|---|\n| {m_np:.0f} | {m_t:.0f} | {m_np / m_t:.2f} |")
        emit()
        rss = (m_np, m_t, T)
    if a.out:
        from numpycnn.storage import atomic_write_bytes
        atomic_write_bytes(a.out, ("\n".join(lines) + "\n").encode())
        print(f"wrote {a.out}")
    if a.summary:
        from numpycnn.storage import atomic_write_bytes
        command = f"python benchmarks/run.py {' '.join(argv if argv is not None else sys.argv[1:])}"
        atomic_write_bytes(a.summary, summary_table(measured, rss, command, a.out).encode())
        print(f"wrote {a.summary}")
    if a.readme:
        from numpycnn.commands.figures import sync_includes
        print(f"{a.readme}: refreshed include blocks {sync_includes(a.readme)}")
    return 0


def summary_table(measured, rss, command, full_results=None):
    """The issue's targets next to what this run measured (Markdown, included in the README).

    ``measured``: thread count T -> ratios of that run (each conv row ``(name, median ratio, min ratio,
    im2col floor)``); ``rss``: ``(numpycnn MiB, torch MiB, T)`` or None.
    """
    def verdict(ok):
        return "**met**" if ok else "not met"

    def ratio_cell(med, mn, target):
        """Median ratio and its verdict; flagged when median and minimum tell different stories."""
        if max(med, mn) / min(med, mn) > 1.3:
            return f"{med:.2f}× (min {mn:.2f}×: median and minimum disagree, re-run)"
        return f"{med:.2f}× ({verdict(med <= target)})"

    threads = list(measured)
    rows = ["| measure | target | " + " | ".join(f"T = {T}" for T in threads) + " |",
            "|---|---|" + "---|" * len(threads)]
    if not threads:
        raise SystemExit("--summary needs the timing runs: drop --memory-only")
    def conv_cell(row):
        _, med, mn, floor = row
        return ratio_cell(med, mn, 1.0) + f"; im2col floor {floor:.2f}×"

    for k in range(4):
        name = measured[threads[0]]["conv"][k][0]
        rows.append(f"| conv fwd+bwd {name} | ≤ 1.0× | "
                    + " | ".join(conv_cell(measured[T]["conv"][k]) for T in threads) + " |")
    rows.append("| conv geometric mean of the four | ≤ 0.8× | " + " | ".join(
        f"{measured[T]['geomean']:.2f}× ({verdict(measured[T]['geomean'] <= 0.8)})" for T in threads) + " |")
    rows.append("| LeNet-5 Fashion-MNIST epoch, batch 64 | ≤ 1.5× | " + " | ".join(
        f"{ratio_cell(measured[T]['epoch'][0], measured[T]['epoch'][1], 1.5)}; "
        f"{measured[T]['epoch'][2]:.2f} s vs {measured[T]['epoch'][3]:.2f} s" for T in threads) + " |")
    rows.append("| conv time per sample, batch 16–256 | within ±25 % | " + " | ".join(
        f"±{measured[T]['spread']:.0f} % ({verdict(measured[T]['spread'] <= 25)})" for T in threads) + " |")
    if rss is not None:
        m_np, m_t, T_rss = rss
        rows.append("| peak RSS of one epoch | below PyTorch's | " + " | ".join(
            f"{m_np:.0f} MiB vs {m_t:.0f} MiB ({verdict(m_np < m_t)})" if T == T_rss else "" for T in threads) + " |")
    head = (f"Ratios numpycnn / PyTorch CPU (median of the interleaved repetitions; < 1 means numpycnn is "
            f"faster). Command: `{command}`. Machine: {machine()}"
            + (f" Full tables: [{full_results}]({full_results})." if full_results else ""))
    return head + "\n\n" + "\n".join(rows) + "\n"


if __name__ == "__main__":
    sys.exit(main())
