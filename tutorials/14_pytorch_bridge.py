# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # Tutorial 14 — The PyTorch bridge: your NumPy network, line by line, in PyTorch
#
# Everything in tutorials 1–10 you wrote by hand: the convolution as one GEMM and its backward
# pass, pooling, the probability error of softmax cross-entropy, the optimizers' update rules, the
# training loop. PyTorch does all of it for you. This lesson shows that it does **the same
# arithmetic**, so that what you learned carries over line by line:
#
# 1. `numpycnn.export.to_torch(model)` builds the same network in PyTorch, with the same weights: the
#    two give the same logits (in float64, to about 1e-15);
# 2. a table of what each piece of your NumPy code is called in PyTorch;
# 3. one convolution, then every gradient of a whole network, computed by PyTorch's autograd instead
#    of your backward passes — the same numbers;
# 4. the same network trained in both, from the same weights, on the same batches in the same order,
#    with the same optimizer: the two loss curves agree to within 1e-12 in float64, step after step —
#    and drift apart in float32;
# 5. the one place where PyTorch behaves differently: gradients **accumulate**.
#
# **Assignment exercises taught here:** none — this lesson uses the layers and optimizers of
# tutorials 1–3 (recommended order: 1, 2, 3, 9, 10, 11, 12, 13, 14, then the techniques 4–8).
#
# **PyTorch is optional.** numpycnn never needs it; this lesson does. Install the CPU build with
# `pip install torch==2.13.0` (the version numpycnn is tested against), or on your own machine from
# PyTorch's CPU wheel index: `pip install torch --index-url https://download.pytorch.org/whl/cpu`.
# Without it, every cell that needs PyTorch prints `skipped: PyTorch is not installed` and the
# lesson still runs to the end.
#
# Data: a Fashion-MNIST subset with LeNet-5 when the data set is installed (else the embedded 8×8 digits
# with a small CNN). *Your turn* cells are yours to write (the cell after each checks it); answers are
# folded. Run it with `python tutorials/14_pytorch_bridge.py` (`NUMPYCNN_FAST=1`: a few seconds of training;
# full: about half a minute on 2 cores, docs/tutorials.md) or as a notebook. Figures: inline in a notebook,
# else in `tutorials/figures/14_pytorch_bridge/` (reference copies in `tutorials/reference_figures/`).

# %%
import os

import numpy as np
from matplotlib.figure import Figure

import numpycnn as nc
from numpycnn.errors import DatasetNotFoundError
from numpycnn.export import from_torch, to_torch
from numpycnn.training import batch_indices

FAST = os.environ.get("NUMPYCNN_FAST", "0") == "1"
print("fast mode" if FAST else "full mode")
print("numpycnn imported from", nc.__file__)

try:
    import torch
    import torch.nn.functional as F
    TORCH = True
    print("PyTorch", torch.__version__)
except ImportError:
    torch = F = None
    TORCH = False
    print("PyTorch is not installed: the cells that compare with it print 'skipped' (the lesson still runs). "
          "Install the CPU build: pip install torch==2.13.0 — on your own machine: "
          "pip install torch --index-url https://download.pytorch.org/whl/cpu")


def skipped():
    print("skipped: PyTorch is not installed (pip install torch==2.13.0)")


try:
    data = nc.datasets.load_dataset("fashion-mnist", train_limit=2000 if FAST else 6000, test_limit=500, seed=0)
except DatasetNotFoundError as err:
    print("Fashion-MNIST not found, using the embedded digits instead:", str(err).splitlines()[0])
    data = nc.datasets.load_dataset("digits", seed=0)
print(data)


def build_model(dtype, seed=0):
    """LeNet-5 (28×28) or the small CNN (8×8), in ``dtype``, its output layer scaled by 0.1 (tutorial 3)."""
    if data.input_shape[1] >= 28:
        model = nc.zoo.lenet5(data.input_shape, data.num_classes, seed=seed, dtype=dtype)
    else:
        model = nc.zoo.small_cnn(data.input_shape, data.num_classes, seed=seed, dtype=dtype)
    last = [name for name, _, _ in model.named_parameters() if name.endswith(".W")][-1]
    model.get_parameter(last)[...] *= 0.1
    return model

# %% [markdown]
# ## 1. The same network, the same logits
#
# `to_torch` walks the layers of a `Sequential` and builds a `torch.nn.Sequential` with the same layer
# names: each `Conv2D` becomes an `nn.Conv2d`, each `Dense` an `nn.Linear`, and so on, and copies
# every weight. The layouts are PyTorch's already (conv weights `(F, C, KH, KW)`, dense weights
# `(out_features, in_features)`), so nothing is transposed. We work in **float64**: two correct
# implementations add the same numbers in different orders, and in float32 that alone makes them
# differ by about 1e-7 to 1e-6 of the logits' size — enough to hide a small bug. In float64 they agree
# to about 1e-15.

# %%
model = build_model(np.float64)
print(model.summary())
x_batch = data.train.x[:64].astype(np.float64)
y_batch = data.train.y[:64]
logits = model.predict_logits(x_batch)
if TORCH:
    net = to_torch(model)
    print(net)
    with torch.no_grad():
        logits_torch = net(torch.from_numpy(x_batch)).numpy()
    logit_diff = float(np.abs(logits - logits_torch).max())
    print(f"float64: max |logits(numpycnn) − logits(PyTorch)| = {logit_diff:.1e}  (logits of size up to "
          f"{np.abs(logits).max():.1f})")
    assert logit_diff < 1e-10
    model32 = build_model(np.float32)
    with torch.no_grad():
        logits32 = to_torch(model32)(torch.from_numpy(x_batch.astype(np.float32))).numpy()
    logit_diff32 = float(np.abs(model32.predict_logits(x_batch) - logits32).max())
    print(f"float32: max |difference| = {logit_diff32:.1e}, {logit_diff32 / np.abs(logits32).max():.0e} of the largest logit")
    assert 1e3 * logit_diff < logit_diff32 < 1e-4
else:
    skipped()

# %% [markdown]
# The float32 difference is rounding, not a bug: the same network, the same weights, only the order
# of the additions inside the two libraries' matrix products differs.
#
# ## 2. What your NumPy code is called in PyTorch
#
# | numpycnn — what you wrote | PyTorch | note |
# |---|---|---|
# | `Conv2D.forward` → `conv.conv2d_forward(x, W, b, stride, pad)`: im2col, one GEMM | `nn.Conv2d`, `F.conv2d(x, weight, bias, stride, padding)` | both compute cross-correlation; weights `(F, C, KH, KW)` in both |
# | `Conv2D.backward` → `conv.conv2d_backward`: `dx` (col2im), `dW`, `db` | autograd's `ConvolutionBackward0` node, run by `loss.backward()` | you never write it in PyTorch |
# | `Dense.forward`: `x @ W.T + b` | `nn.Linear`, `F.linear(x, weight, bias)` | weight `(out, in)` in both |
# | `ReLU`, `MaxPool2D(2)`, `Flatten` | `F.relu`, `F.max_pool2d(x, 2)`, `torch.flatten(x, 1)` | |
# | `BatchNorm2D`, `Dropout` (`model.train()` / `model.eval()`) | `nn.BatchNorm2d`, `nn.Dropout` (`net.train()` / `net.eval()`) | same momentum convention; each draws its own dropout masks |
# | `SoftmaxCrossEntropy().forward(z, y)`: mean of `−log softmax(z)_y` | `F.cross_entropy(z, y)` | `reduction="mean"` in both |
# | `SoftmaxCrossEntropy().backward()`: `(softmax(z) − onehot(y)) / N` | part of `loss.backward()` | tutorial 2's probability error |
# | `Sequential.forward(x)` | `net(x)` — also records the graph of operations | |
# | `Sequential.backward(dz)`: each layer's `backward`, last to first | `loss.backward()`: the recorded graph, last to first | |
# | `layer.grads["W"]`, **overwritten** by every backward pass | `param.grad`, **added to** by every backward pass | `optimizer.zero_grad()` first (section 5) |
# | `model.named_parameters()` → `("conv1.W", W, dW)` | `net.named_parameters()` → `("conv1.weight", weight)` | `W` ↔ `weight`, `b` ↔ `bias` |
# | `optim.SGD(model, lr, momentum, weight_decay).step()` → `update(p, g, st)` | `torch.optim.SGD(net.parameters(), lr, momentum, weight_decay=…).step()` | the same rule and state (`"momentum_buffer"`) |
# | `optim.Adam(model, lr).step()` | `torch.optim.Adam(net.parameters(), lr).step()` | the same bias correction |
# | `Trainer.fit`: `batch_indices(n, B, seed, epoch)`, then `train_step` per batch | a `for` loop over a `DataLoader` | the data order comes from a different generator |
# | `interpret.input_gradient(model, x, t)` (tutorial 12) | `x.requires_grad_()`, `net(x)[range(N), t].sum().backward()`, `x.grad` | |
#
# ## 3. One layer, then every gradient
#
# ### Your turn 1 — a convolution in PyTorch
#
# Write `conv_in_torch(x, W, b, stride, pad)`: the output of `F.conv2d` for NumPy arrays, as a NumPy
# array (`torch.from_numpy` turns an array into a tensor sharing its memory, `.numpy()` goes back).

# %% tags=["solution"]
### BEGIN SOLUTION
def conv_in_torch(x, W, b, stride, pad):
    out = F.conv2d(torch.from_numpy(x), torch.from_numpy(W), torch.from_numpy(b), stride=stride, padding=pad)
    return out.numpy()
### END SOLUTION

# %%
rng = np.random.default_rng(0)
conv = nc.Conv2D(3, 5, 3, stride=2, pad=1, rng=rng, dtype=np.float64)
x_conv = rng.standard_normal((4, 3, 9, 9))
if TORCH:
    conv_diff = float(np.abs(conv_in_torch(x_conv, conv.params["W"], conv.params["b"], 2, 1)
                             - conv.forward(x_conv)).max())
    print(f"max |Conv2D.forward − F.conv2d| = {conv_diff:.1e}")
    assert conv_diff < 1e-12, "the same weights, stride and padding must give the same output"
    print("your turn 1: correct")
else:
    skipped()

# %% [markdown]
# The gradients: in numpycnn you call `model.backward(loss.backward())` and each layer's backward pass
# fills its `grads`; in PyTorch `loss.backward()` runs the graph that the forward pass recorded, and
# each parameter's gradient lands in its `.grad`. The names differ: numpycnn's `"conv1.W"` is
# PyTorch's `"conv1.weight"`, and `"conv1.b"` is `"conv1.bias"`.
#
# ### Your turn 2 — every gradient from autograd
#
# Write `torch_gradients(net, x, y)`: the mean cross-entropy of `net` on the NumPy batch `(x, y)`,
# back-propagated by PyTorch, returned as `{numpycnn name: gradient as a NumPy array}`. Set every
# `.grad` to `None` first (`net.zero_grad(set_to_none=True)`).

# %% tags=["solution"]
### BEGIN SOLUTION
def torch_gradients(net, x, y):
    net.zero_grad(set_to_none=True)
    F.cross_entropy(net(torch.from_numpy(x)), torch.from_numpy(y)).backward()
    return {name.replace(".weight", ".W").replace(".bias", ".b"): p.grad.numpy()
            for name, p in net.named_parameters()}
### END SOLUTION

# %%
ce = nc.SoftmaxCrossEntropy()
ce.forward(model.forward(x_batch), y_batch)
model.backward(ce.backward())
if TORCH:
    grads_torch = torch_gradients(net, x_batch, y_batch)
    assert sorted(grads_torch) == sorted(n for n, _, _ in model.named_parameters()), sorted(grads_torch)
    grad_errors = {n: nc.gradcheck.relative_error(g, grads_torch[n]) for n, _, g in model.named_parameters()}
    print("relative error, your backward passes vs autograd:",
          "  ".join(f"{n} {e:.0e}" for n, e in grad_errors.items()))
    assert max(grad_errors.values()) < 1e-10
    print("your turn 2: correct")
else:
    skipped()

# %% [markdown]
# Every backward pass you derived — the convolution's col2im, max pooling's routing, the probability
# error — gives what autograd gives, to rounding. Autograd does not know better formulas: it applies
# the same chain rule, one recorded operation at a time.
#
# ## 4. The same training, in both
#
# A training step in numpycnn is `Trainer.train_step(x, y)`: forward, loss, backward, `optimizer.step()`.
# In PyTorch it is four lines, and the first is new (section 5 says why).
#
# ### Your turn 3 — a PyTorch training step
#
# Write `torch_step(net, optimizer, x, y)` for NumPy `x, y`: zero the gradients, compute the mean
# cross-entropy, back-propagate, step; return the loss as a Python float (`loss.item()`).

# %% tags=["solution"]
### BEGIN SOLUTION
def torch_step(net, optimizer, x, y):
    optimizer.zero_grad()
    loss = F.cross_entropy(net(torch.from_numpy(x)), torch.from_numpy(y))
    loss.backward()
    optimizer.step()
    return loss.item()
### END SOLUTION

# %%
if TORCH:
    check_model = build_model(np.float64, seed=3)
    check_net = to_torch(check_model).train()
    np_loss, _ = nc.Trainer(check_model, nc.optim.SGD(check_model, lr=0.1), progress=False).train_step(x_batch, y_batch)
    torch_loss = torch_step(check_net, torch.optim.SGD(check_net.parameters(), lr=0.1), x_batch, y_batch)
    weights_after = {n.replace(".weight", ".W").replace(".bias", ".b"): p.detach().numpy()
                     for n, p in check_net.named_parameters()}
    step_diff = max(float(np.abs(p - weights_after[n]).max()) for n, p, _ in check_model.named_parameters())
    print(f"loss: numpycnn {np_loss:.12f}, PyTorch {torch_loss:.12f}; weights after one SGD step differ by at most "
          f"{step_diff:.1e}")
    assert abs(np_loss - torch_loss) < 1e-12 and step_diff < 1e-12
    print("your turn 3: correct")
else:
    skipped()

# %% [markdown]
# Now whole runs. Two copies of one network (float64, same initial weights), two optimizers with the
# same settings, and the **same batches in the same order**: numpycnn's `Trainer` draws the order of
# epoch `e` as `batch_indices(n, B, seed=seed, epoch=e)`, and the PyTorch loop is fed exactly those
# index arrays (a `DataLoader` with `shuffle=True` would draw its own order from PyTorch's generator —
# the one thing we do not share). Two optimizers, SGD with momentum and weight decay, and Adam.

# %%
N_TRAIN = 256 if FAST else 2048
EPOCHS = 2 if FAST else 3
BATCH = 32
train = nc.datasets.Dataset(data.train.x[:N_TRAIN].astype(np.float64), data.train.y[:N_TRAIN])
optimizers = {
    "SGD, momentum 0.9, weight decay 5e-4": (lambda m: nc.optim.SGD(m, lr=0.05, momentum=0.9, weight_decay=5e-4),
                                             lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, weight_decay=5e-4)),
    "Adam, lr 1e-3": (lambda m: nc.optim.Adam(m, lr=1e-3), lambda p: torch.optim.Adam(p, lr=1e-3)),
}


def train_both(dtype, make_numpycnn, make_torch, seed=0):
    """Loss per step of the same network trained by numpycnn's Trainer and by your PyTorch loop."""
    np_model = build_model(dtype, seed=seed)
    torch_net = to_torch(np_model).train()           # copied before the first step
    trainer = nc.Trainer(np_model, make_numpycnn(np_model), seed=seed, batch_size=BATCH, progress=False)
    optimizer = make_torch(torch_net.parameters())
    x, losses_np, losses_torch = train.x.astype(dtype), [], []
    for epoch in range(EPOCHS):
        for idx in batch_indices(len(train), BATCH, seed=seed, epoch=epoch):   # the order fit() uses
            losses_np.append(trainer.train_step(x[idx], train.y[idx])[0])
            losses_torch.append(torch_step(torch_net, optimizer, x[idx], train.y[idx]))
    return np.array(losses_np), np.array(losses_torch), np_model, torch_net


if TORCH:
    runs = {label: train_both(np.float64, *makers) for label, makers in optimizers.items()}
    curve_diff = {}
    for label, (l_np, l_torch, np_model, torch_net) in runs.items():
        curve_diff[label] = np.abs(l_np - l_torch)
        w_torch = {n.replace(".weight", ".W").replace(".bias", ".b"): p.detach().numpy()
                   for n, p in torch_net.named_parameters()}
        w_diff = max(float(np.abs(p - w_torch[n]).max()) for n, p, _ in np_model.named_parameters())
        print(f"{label}: {len(l_np)} steps, loss {l_np[0]:.3f} → {l_np[-1]:.3f}; max |loss difference| "
              f"{curve_diff[label].max():.1e}; weights at the end differ by at most {w_diff:.1e}")
        assert curve_diff[label].max() < 1e-10 and w_diff < 1e-9
        assert l_np[-5:].mean() < l_np[:5].mean()                  # and it did train
    sgd32 = train_both(np.float32, *optimizers["SGD, momentum 0.9, weight decay 5e-4"])
    diff32 = np.abs(sgd32[0] - sgd32[1])
    quarter = len(diff32) // 4
    print(f"the same SGD run in float32: max |loss difference| {diff32.max():.1e} (first quarter of the steps "
          f"{diff32[:quarter].max():.1e}, last quarter {diff32[-quarter:].max():.1e})")
    assert diff32.max() > 100 * max(d.max() for d in curve_diff.values())
    if not FAST:                                    # 192 steps: the float32 runs have become different runs
        assert diff32[-quarter:].max() > 100 * diff32[:quarter].max()
else:
    skipped()

# %%
if TORCH:
    fig = Figure(figsize=(9, 3.2))
    ax1, ax2 = fig.subplots(1, 2)
    label = next(iter(runs))
    ax1.plot(runs[label][0], "o-", ms=3, label="numpycnn (Trainer)")
    ax1.plot(runs[label][1], "--", label="PyTorch (your loop)")
    ax1.set(xlabel="step", ylabel="training loss of the batch", title=f"float64, {label}")
    ax1.legend()
    for name, diff in list(curve_diff.items()) + [("SGD in float32", diff32)]:
        ax2.semilogy(np.maximum(diff, 1e-17), ".-", label=name)
    ax2.set(xlabel="step", ylabel="|loss(numpycnn) − loss(PyTorch)|", title="the difference (1e-17: equal)")
    ax2.legend(fontsize=8)
    for ax in (ax1, ax2):
        ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    nc.plots.show(fig, "loss_curves")
else:
    skipped()

# %% [markdown]
# Read the right panel: in float64 the two implementations stay within 1e-12 of each other for every step of
# both runs (the largest difference is printed above; asserted below 1e-10) — the same arithmetic, to
# rounding; the left panel's two curves are one. In float32 the difference starts at the level of float32
# rounding, about 1e-7 of the loss, and over a long enough run it grows: compare the first and the last
# quarter of the run printed above. In the full run (192 steps) the last quarter's difference reaches about
# half the loss itself (0.54 against a final loss of 1.08 on a 2-core AMD EPYC; float32's last bits, and
# so this number, depend on the CPU): somewhere the two implementations rounded
# differently near a decision — a ReLU input at 0, a near-tie in a max-pool window — the next step started
# from slightly different weights, and training amplified the gap until the float32 runs had become two
# different runs (the float64 difference grows too, to about 1e-13 — printed above — still far below
# anything a bug would cause). That is why comparisons like this one run in float64, and why two float32
# runs on different machines (different BLAS kernels) end up apart without either being wrong.
#
# ## 5. The one difference that bites: gradients accumulate
#
# numpycnn's backward pass **overwrites** `grads` (calling it twice gives the same gradients). PyTorch
# **adds** into `.grad`, so that a parameter used in two places gets both contributions — and so that
# forgetting `optimizer.zero_grad()` silently sums the gradients of every batch so far:

# %%
ce.forward(model.forward(x_batch), y_batch)
model.backward(ce.backward())
once = model["conv1"].grads["W"].copy()
ce.forward(model.forward(x_batch), y_batch)
model.backward(ce.backward())
overwrite_ratio = float(np.linalg.norm(model["conv1"].grads["W"]) / np.linalg.norm(once))
print(f"numpycnn, backward twice: ‖dW‖ / ‖dW after one backward‖ = {overwrite_ratio:.6f}")
assert overwrite_ratio == 1.0
if TORCH:
    net.zero_grad(set_to_none=True)
    for _ in range(2):
        F.cross_entropy(net(torch.from_numpy(x_batch)), torch.from_numpy(y_batch)).backward()
    accumulate_ratio = float(np.linalg.norm(net.conv1.weight.grad.numpy()) / np.linalg.norm(once))
    print(f"PyTorch, backward twice without zero_grad: ratio {accumulate_ratio:.6f}")
    assert abs(accumulate_ratio - 2) < 1e-9
else:
    skipped()

# %% [markdown]
# The way back exists too: `from_torch(net, input_shape)` builds a numpycnn `Sequential` from a
# `torch.nn.Sequential` of the layer types numpycnn has — train in PyTorch, then look at the network
# with numpycnn's tools (its filters, tutorial 12's saliency maps):

# %%
if TORCH:
    back = from_torch(runs[label][3], data.input_shape, dtype=np.float64)
    with torch.no_grad():
        round_trip = float(np.abs(back.predict_logits(x_batch)
                                  - runs[label][3].eval()(torch.from_numpy(x_batch)).numpy()).max())
    print(f"from_torch: max |logits difference| = {round_trip:.1e}")
    assert round_trip < 1e-10
else:
    skipped()

# %% [markdown]
# ## Check yourself
#
# 1. Why does this lesson compare numpycnn and PyTorch in float64, when both train in float32?
#
#    <details><summary>Answer</summary>
#
#    In float32 two correct implementations already differ by rounding (about 1e-7 relative, more
#    after many steps: section 4's float32 curve), so a small bug — a missing term worth 1e-5 — would
#    hide in that noise. In float64 correct code agrees to about 1e-12, and anything larger is a real
#    difference.
#
#    </details>
#
# 2. You port your loop to PyTorch and forget `optimizer.zero_grad()`. What does step 3 use as its
#    gradient, and why does numpycnn not have this pitfall?
#
#    <details><summary>Answer</summary>
#
#    <!-- BEGIN GRADED ANSWER -->
#    The sum of the gradients of batches 1, 2 and 3: `loss.backward()` adds into `.grad`, so the
#    gradients of every batch so far pile up (section 5 measured a ratio of 2 after two backward
#    passes), and the steps grow and point in a stale direction. numpycnn's backward passes overwrite
#    `grads` (the layer contract), so each step sees only its own batch's gradient. PyTorch
#    accumulates on purpose: a parameter used in two places gets both contributions, and several
#    small batches can be summed into one step.
#
#    Rubric:
#    - 2 points: step 3 uses g1 + g2 + g3 (the gradients accumulate in `.grad`)
#    - 1 point: numpycnn overwrites `grads` in every backward pass
#    - 1 point: why PyTorch accumulates: a parameter used twice, or summing several batches into one step
#    <!-- END GRADED ANSWER -->
#
#    </details>
#
# 3. Section 4 fed the PyTorch loop the index arrays of `batch_indices`. What would change with a
#    `DataLoader(..., shuffle=True)`, and would it be wrong?
#
#    <details><summary>Answer</summary>
#
#    The batches would come in another order (PyTorch's generator, not NumPy's), so the two loss
#    curves would differ from the first step on — not a bug, just a different (equally valid) run.
#    To compare implementations, share everything but the implementation: weights, data order,
#    optimizer settings, dtype.
#
#    </details>
#
# 4. A model trained with technique C (sparse connectivity: `conv1.W` masked) is exported with
#    `to_torch` and trained further in PyTorch. What happens to the masked weights?
#
#    <details><summary>Answer</summary>
#
#    `to_torch` copies `W * M`, so they start at 0, but PyTorch knows nothing of the mask: they get
#    gradients and move, and the network stops being sparse. (numpycnn keeps them at 0 because the
#    forward pass uses `W * M` and the stored gradient is `dW * M`.) To keep the sparsity in PyTorch,
#    multiply the weights (or the gradients) by the mask after every step.
#
#    </details>

# %%
if TORCH:
    assert logit_diff < 1e-10 < logit_diff32                                             # 1.
    assert abs(accumulate_ratio - 2) < 1e-9 and overwrite_ratio == 1.0                   # 2.
    sparse = build_model(np.float64)                                                     # 4.
    sparse["conv1"].set_mask("W", np.random.default_rng(0).random(sparse["conv1"].params["W"].shape) < 0.5)
    sparse_net = to_torch(sparse).train()
    masked = sparse["conv1"].masks["W"] == 0
    assert np.all(sparse_net.conv1.weight.detach().numpy()[masked] == 0)
    torch_step(sparse_net, torch.optim.SGD(sparse_net.parameters(), lr=0.1), x_batch, y_batch)
    moved = float(np.abs(sparse_net.conv1.weight.detach().numpy()[masked]).max())
    print(f"4. after one PyTorch step the largest masked weight is {moved:.1e}, no longer 0")
    assert moved > 0
else:
    skipped()
print("all checks passed")
