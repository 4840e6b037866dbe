# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # Tutorial 13 — A small residual network: blocks, global pooling, counting, and normalising without the batch
#
# Tutorial 10 showed *why* residual blocks and BatchNorm let deep networks train, on a toy sigmoid
# network. This lesson builds the network people actually use — a small **ResNet** (He et al., 2016):
#
# 1. the **residual block** with BatchNorm: `conv → BN → ReLU → conv → BN`, plus the input, then ReLU;
#    where the block halves the map and doubles the channels, a **projection shortcut** (a 1×1
#    convolution with stride 2) makes the input fit;
# 2. **global average pooling**: one mean per channel instead of LeNet's flatten → large Dense head;
# 3. **counting** — parameters, multiply-adds and the receptive field, by hand and by the library
#    (`Sequential.macs`, `Sequential.receptive_fields`);
# 4. **training within a budget** on Fashion-MNIST (and CIFAR-10 when you have it), against LeNet-5;
# 5. **LayerNorm and GroupNorm** against BatchNorm when the batches are small — same seeds, same batches.
#
# **Assignment exercises taught here:** `pooling.global_avgpool_forward`, `pooling.global_avgpool_backward`,
# `normalization.standardize_rows`, `normalization.standardize_rows_backward`, `normalization.GroupNorm.forward`
#
# Data: Fashion-MNIST when it is installed (else the embedded 8×8 digits, where the numbers differ and the
# asserts about them are skipped); CIFAR-10 too when you run `python
# tutorials/13_a_small_residual_network.py --data-dir FOLDER` with the CIFAR-10 batches in `FOLDER` (in a
# notebook: set `DATA_DIR` in the first code cell). *Your turn* cells are yours to write (the cell after
# each checks it); answers are folded. `NUMPYCNN_FAST=1`: under a minute; full: about five minutes on 2
# cores (docs/tutorials.md). Figures: inline in a notebook, else in
# `tutorials/figures/13_a_small_residual_network/` (reference copies in `tutorials/reference_figures/`).

# %%
import argparse
import copy
import os
import time

import numpy as np
from matplotlib.figure import Figure

import numpycnn as nc
from numpycnn import (AdaptiveAvgPool2D, BatchNorm2D, Conv2D, Dense, Flatten, GroupNorm, LayerNorm, ReLU,
                      ResidualBlock, Sequential)
from numpycnn.errors import DatasetNotFoundError

FAST = os.environ.get("NUMPYCNN_FAST", "0") == "1"
print("fast mode" if FAST else "full mode")
print("numpycnn imported from", nc.__file__)
# --data-dir FOLDER on the command line (a notebook's own arguments are ignored); in a notebook, set it here
arguments = argparse.ArgumentParser(add_help=False)
arguments.add_argument("--data-dir", default=None)
DATA_DIR = arguments.parse_known_args()[0].data_dir

try:
    data = nc.datasets.load_dataset("fashion-mnist", train_limit=3000 if FAST else 20000,
                                    test_limit=1000 if FAST else 5000, seed=0)
except DatasetNotFoundError as err:
    print("Fashion-MNIST not found, using the embedded digits instead:", str(err).splitlines()[0])
    data = nc.datasets.load_dataset("digits", seed=0)
FASHION = data.name == "fashion-mnist"
print(data)
K = data.num_classes

# %% [markdown]
# ## 1. The residual block, with BatchNorm and a projection shortcut
#
# A block computes `y = ReLU(F(x) + s(x))` with the body
#
# ```
# F(x) = BN(conv3×3(ReLU(BN(conv3×3(x)))))          s(x) = x            (same shape)
#                                                     s(x) = conv1×1, stride 2 (x)   (the projection)
# ```
#
# The first block of a stage halves the map with a **stride-2** first convolution and doubles the
# channels; then `x` no longer has `F(x)`'s shape, and the skip path needs a **projection**: a 1×1
# convolution with the same stride, `C_in → C_out` (ResNet's "option B"; the library's
# `ResidualBlock(body, projection=...)` takes it as one layer — torchvision adds a BatchNorm after it,
# which we leave out). Tutorial 10 wrote the block's backward: the sum at a fork, `dx = dx_F + dx_s`.
#
# Our network: a 3×3 stem convolution, three stages of one block each (8, 16 and 32 channels; 28×28,
# 14×14 and 7×7 on Fashion-MNIST), global average pooling and one Dense layer. `norm` chooses the
# normalisation layer — BatchNorm now, GroupNorm and LayerNorm in section 6.

# %%
WIDTHS = (8, 16, 32)


def norm_layer(kind, C, H, W):
    """The normalisation of ``C`` channels of ``H × W``: BatchNorm, GroupNorm (4 groups) or LayerNorm over (C, H, W)."""
    if kind == "batch":
        return BatchNorm2D(C)
    if kind == "group":
        return GroupNorm(min(4, C), C)
    return LayerNorm((C, H, W), elementwise_affine=False)


def residual_block(c_in, c_out, stride, size, rng, norm="batch"):
    """conv3×3(stride) → norm → ReLU → conv3×3 → norm, with a 1×1 projection when the shape changes."""
    H = W = size // stride
    body = [("conv1", Conv2D(c_in, c_out, 3, stride=stride, pad=1, rng=rng)), ("norm1", norm_layer(norm, c_out, H, W)),
            ("relu1", ReLU()),
            ("conv2", Conv2D(c_out, c_out, 3, pad=1, rng=rng)), ("norm2", norm_layer(norm, c_out, H, W))]
    projection = Conv2D(c_in, c_out, 1, stride=stride, rng=rng) if stride != 1 or c_in != c_out else None
    return ResidualBlock(body, projection=projection)


def small_resnet(input_shape, num_classes=10, widths=WIDTHS, norm="batch", seed=0):
    rng = np.random.default_rng(seed)
    C, size = input_shape[0], input_shape[1]
    layers = [("stem", Conv2D(C, widths[0], 3, pad=1, rng=rng)), ("stem_norm", norm_layer(norm, widths[0], size, size)),
              ("stem_relu", ReLU())]
    c_in = widths[0]
    for i, c_out in enumerate(widths):
        stride = 1 if i == 0 else 2
        layers += [(f"res{i + 1}", residual_block(c_in, c_out, stride, size, rng, norm)), (f"relu{i + 1}", ReLU())]
        c_in, size = c_out, size // stride
    layers += [("gap", AdaptiveAvgPool2D(1)), ("flat", Flatten()), ("fc", Dense(c_in, num_classes, rng=rng))]
    return Sequential(layers, input_shape=input_shape)


model = small_resnet(data.input_shape, K)
print(model["res2"])

# %% [markdown]
# ## 2. Global average pooling
#
# After the last block each of the 32 channels is a `7 × 7` map. LeNet-5 flattens its maps and
# feeds every value to a Dense layer; a ResNet takes **one mean per channel** and gives the classifier
# those 32 numbers (Lin et al., 2014, "Network in network"):
#
# ```
# out[n, c] = (1 / (H·W)) Σ_{i,j} x[n, c, i, j]          dx[n, c, i, j] = dout[n, c] / (H·W)
# ```
#
# `AdaptiveAvgPool2D(1)` (PyTorch's `AdaptiveAvgPool2d(1)`) does it with `pooling.global_avgpool_forward`
# and `global_avgpool_backward`.
#
# **Fill in now:** `pooling.global_avgpool_forward` and `pooling.global_avgpool_backward` in
# `numpycnn/pooling.py` (one line each; the docstrings give the equations above). The cell below runs
# the network forward and backward.

# %%
x_small = data.train.x[:4]
logits = model.forward(x_small)
dx = model.backward(np.ones_like(logits))
maps = {}
model.add_forward_hook("relu3", lambda h: maps.__setitem__("relu3", h.copy()))
model.forward(x_small)
model.remove_hooks()
assert np.allclose(model["gap"].forward(maps["relu3"])[:, :, 0, 0], maps["relu3"].mean(axis=(2, 3)), atol=1e-6)
print(f"logits {logits.shape}; last maps {maps['relu3'].shape} → global average pooling → "
      f"{model['gap'].forward(maps['relu3']).shape}; dL/dx {dx.shape}")
print(f"the classifier's weights: {model['fc'].num_params} (32·{K} + {K}); LeNet-5's first Dense layer after "
      f"its flatten: {nc.zoo.lenet5(data.input_shape, K)['fc1'].num_params if FASHION else 'n/a'}")

# %% [markdown]
# One more consequence: nothing after the pooling depends on the map's size, so the same weights take
# a **larger image** — a 36 × 36 input gives 9 × 9 maps and still 32 pooled numbers (LeNet-5's Dense
# layer would need a new shape):

# %%
bigger = small_resnet((data.input_shape[0], 36, 36), K)
print("output shape for a 36×36 input:", bigger.output_shape, "— the same", bigger.num_params, "parameters as for",
      data.input_shape, ":", model.num_params == bigger.num_params)
assert bigger.num_params == model.num_params

# %% [markdown]
# ## 3. Counting by hand, and by the library
#
# A convolution `C_in → C_out` with a `k × k` kernel has `C_out·C_in·k²` weights and `C_out` biases; on
# an `OH × OW` output it does `C_out·OH·OW·C_in·k²` multiply-adds (MACs; FLOPs ≈ 2 × MACs). BatchNorm
# has 2 parameters per channel (`gamma`, `beta`; its running statistics are buffers, not parameters)
# and, like ReLU and pooling, no MACs in the usual count (`Layer.macs`).
#
# ### Your turn 1 — the parameters of a block
#
# Write `block_params(c_in, c_out, projection)`: the parameters of one residual block of section 1 —
# two 3×3 convolutions with biases, two BatchNorms, and (if `projection`) a 1×1 convolution with bias.

# %% tags=["solution"]
### BEGIN SOLUTION
def block_params(c_in, c_out, projection):
    convs = c_out * c_in * 9 + c_out + c_out * c_out * 9 + c_out
    norms = 2 * (2 * c_out)
    return convs + norms + (c_out * c_in + c_out if projection else 0)
### END SOLUTION

# %%
for name, (c_in, c_out) in zip(("res1", "res2", "res3"), zip((8,) + WIDTHS[:-1], WIDTHS)):
    mine, library = block_params(c_in, c_out, model[name].projection is not None), model[name].num_params
    assert mine == library, f"{name} ({c_in} → {c_out}): you count {mine}, the block has {library}"
print("your turn 1: correct —", {n: model[n].num_params for n in ("res1", "res2", "res3")})

# %% [markdown]
# ### Your turn 2 — the multiply-adds of a block
#
# Write `block_macs(c_in, c_out, size, stride, projection)` for an input map `size × size`: the first
# convolution's output is `size/stride` on a side (padding 1 keeps it there), the second keeps it, the
# projection (if any) is 1×1 with the same stride.

# %% tags=["solution"]
### BEGIN SOLUTION
def block_macs(c_in, c_out, size, stride, projection):
    out = size // stride
    macs = c_out * out * out * c_in * 9 + c_out * out * out * c_out * 9
    return macs + (c_out * out * out * c_in if projection else 0)
### END SOLUTION

# %%
macs = model.macs()
size = data.input_shape[1]
for name, (c_in, c_out), stride in zip(("res1", "res2", "res3"), zip((8,) + WIDTHS[:-1], WIDTHS), (1, 2, 2)):
    mine = block_macs(c_in, c_out, size, stride, model[name].projection is not None)
    assert mine == macs[name], f"{name}: you count {mine:,} MACs, Sequential.macs says {macs[name]:,}"
    size //= stride
print("your turn 2: correct")
print(model.summary())

# %% [markdown]
# Compare with LeNet-5 on the same images (the table above has the ResNet's rows):

# %%
lenet = nc.zoo.lenet5(data.input_shape, K) if FASHION else nc.zoo.small_cnn(data.input_shape, K)
counts = {"small ResNet": (model.num_params, sum(model.macs().values())),
          "LeNet-5" if FASHION else "small CNN": (lenet.num_params, sum(lenet.macs().values()))}
for name, (params, mac) in counts.items():
    print(f"{name:12s} {params:8,} parameters  {mac:11,} MACs per image  ({mac / params:6.1f} MACs per parameter)")
(p_res, m_res), (p_le, m_le) = counts.values()
print(f"the ResNet has {p_res / p_le:.2f}× the parameters and {m_res / m_le:.1f}× the multiply-adds; "
      f"res1 does {macs['res1'] / m_res:.0%} of its MACs")
if FASHION:
    assert p_res < 0.5 * p_le and m_res > 4 * m_le

# %% [markdown]
# The ResNet has about a third of LeNet-5's parameters but more than four times its multiply-adds
# (both printed above). The two counts measure different things: a convolution's weights are used at
# every position of its map (in the first stage, 784 positions), a Dense layer's once. LeNet-5's
# parameters sit mostly in its Dense layers (`fc1` alone: 48 120 of them); the ResNet's Dense layer
# has 330, and its compute sits in the full-resolution first stage (`res1`'s share is printed below).
# Memory for the weights (and the optimizer's state) follows the parameters; the arithmetic of a
# training step follows the MACs.
#
# ## 4. The receptive field
#
# Through a layer with window `k` and stride `s` the receptive field grows as
#
# ```
# size ← size + (k − 1) · jump          jump ← jump · s                 from (size, jump) = (1, 1)
# ```
#
# (tutorial 1). A residual block's body is two 3×3 convolutions, the first with the block's stride; the
# library follows the **body**, the longest path (the skip path reads a smaller field, which the sum
# includes). Global average pooling reads every position: the field ends there.
#
# ### Your turn 3 — the receptive field by hand
#
# Write `receptive_field(windows)`: given the `(k, s)` of each layer in order, return the list of
# `(size, jump)` after each one.

# %% tags=["solution"]
### BEGIN SOLUTION
def receptive_field(windows):
    size, jump, out = 1, 1, []
    for k, s in windows:
        size, jump = size + (k - 1) * jump, jump * s
        out.append((size, jump))
    return out
### END SOLUTION

# %%
# the stem, then each block's two convolutions (ReLU and norm layers have window (1, 1) and change nothing)
windows = [(3, 1), (3, 1), (3, 1), (3, 2), (3, 1), (3, 2), (3, 1)]
mine = receptive_field(windows)
library = model.receptive_fields()
assert mine[0] == library["stem"] and mine[2] == library["res1"] and mine[4] == library["res2"] \
    and mine[6] == library["res3"], f"you get {mine}; the library: {dict(library)}"
assert "gap" not in library, "global pooling reads every position: the field ends before it"
print("your turn 3: correct — receptive field (size, jump) after each block:",
      {name: library[name] for name in ("stem", "res1", "res2", "res3")})

# %% [markdown]
# After the last block each position sees a `25 × 25` patch (on Fashion-MNIST nearly the whole
# 28 × 28 image) with neighbours 4 pixels apart (printed above); the global pooling then mixes all
# positions. A plain stack with the same seven 3×3 convolutions has the same field — residual
# connections add paths, not reach. In tutorial 1 the field was measured with the backward pass; here
# is the same check on the ResNet's last block: the gradient of one central position of `relu3`
# reaches the pixels of its field and no others.

# %%
trunk = Sequential([(n, model[n]) for n in list(model.layers)[:list(model.layers).index("relu3") + 1]],
                   input_shape=data.input_shape)
with trunk.evaluation_mode():
    h = trunk.forward(data.train.x[:1].astype(np.float64))
    g = np.zeros_like(h)
    g[0, :, h.shape[2] // 2, h.shape[3] // 2] = 1                      # every channel of the central position
    reach = np.abs(trunk.backward(g))[0].max(axis=0) > 0
rows, cols = np.flatnonzero(reach.any(axis=1)), np.flatnonzero(reach.any(axis=0))
print(f"pixels the central position of relu3 depends on: rows {rows.min()}–{rows.max()}, columns {cols.min()}–"
      f"{cols.max()} ({rows.max() - rows.min() + 1} × {cols.max() - cols.min() + 1}; the field is "
      f"{library['res3'][0]} × {library['res3'][0]})")
assert rows.max() - rows.min() + 1 <= library["res3"][0] and cols.max() - cols.min() + 1 <= library["res3"][0]
if FASHION:
    assert rows.max() - rows.min() + 1 == library["res3"][0]

# %% [markdown]
# ## 5. Training within a budget
#
# The **budget** is stated in arithmetic, which does not depend on the machine: a training step costs
# about three forward passes (the forward, and a backward that computes both `dx` and `dW`), so
#
# ```
# training FLOPs ≈ 2 · 3 · MACs per image · images per epoch · epochs
# ```
#
# Fast mode: 2 700 training images, 2 epochs; full mode: 18 000 images, 6 epochs. Both networks get the
# same data, the same batches (batch size 32, seed 0) and Adam at `lr = 3e-3`; the test set is read once,
# at the end of the section. The CPU time is printed too — yours, on your machine.

# %%
EPOCHS = 2 if FAST else 6


def train(model, data, epochs=EPOCHS, lr=3e-3, batch_size=32):
    trainer = nc.Trainer(model, nc.optim.Adam(model, lr=lr), seed=0, batch_size=batch_size, progress=False)
    start = time.process_time()
    history = trainer.fit(data.train, data.val, epochs=epochs)
    flops = 2 * 3 * sum(model.macs().values()) * len(data.train) * epochs
    return history, flops, time.process_time() - start


runs = {}
for name, net in (("small ResNet", model), (list(counts)[1], lenet)):
    history, flops, cpu = train(net, data)
    runs[name] = (history, flops)
    print(f"{name:12s} budget {flops / 1e12:.3f} TFLOP ({len(data.train)} images × {EPOCHS} epochs); CPU {cpu:.0f} s; "
          f"validation accuracy by epoch {np.round(history['val_acc'], 3)}")

# %%
fig = Figure(figsize=(8, 3))
ax1, ax2 = fig.subplots(1, 2)
for name, (history, flops) in runs.items():
    spent = np.arange(1, EPOCHS + 1) * flops / EPOCHS / 1e12
    ax1.plot(history["epoch"], history["val_acc"], "o-", label=name)
    ax2.plot(spent, history["val_acc"], "o-", label=name)
ax1.set(xlabel="epoch", ylabel="validation accuracy", title="per epoch")
ax2.set(xlabel="training compute (TFLOP)", title="per unit of compute")
for ax in (ax1, ax2):
    ax.grid(alpha=0.3)
    ax.legend()
fig.tight_layout()
nc.plots.show(fig, "resnet_vs_lenet")
tests = {name: net.evaluate(data.test.x, data.test.y)["accuracy"] for name, net in (("small ResNet", model),
                                                                                    (list(counts)[1], lenet))}
print("test accuracy (read once):", {k: round(v, 3) for k, v in tests.items()})
gain = {name: history["val_acc"][-1] - history["val_acc"][-2] for name, (history, _) in runs.items()}
print("gain in validation accuracy over the last epoch:", {k: round(v, 3) for k, v in gain.items()})
flops_lenet, flops_resnet = runs[list(counts)[1]][1], runs["small ResNet"][1]
resnet_epochs = flops_lenet / (flops_resnet / EPOCHS)      # LeNet-5's whole run, in epochs of the ResNet
print(f"LeNet-5's whole run: {flops_lenet / 1e12:.3f} TFLOP; one epoch of the ResNet: "
      f"{flops_resnet / EPOCHS / 1e12:.3f} TFLOP; so LeNet-5's {EPOCHS} epochs cost {resnet_epochs:.2f} of the "
      f"ResNet's (= {EPOCHS} × {counts[list(counts)[1]][1]:,} / {counts['small ResNet'][1]:,} MACs)")
assert np.isclose(resnet_epochs, EPOCHS * counts[list(counts)[1]][1] / counts["small ResNet"][1])
if FASHION:
    assert tests["small ResNet"] > 0.6
    if FAST:
        assert runs["LeNet-5"][0]["val_acc"][-1] > runs["small ResNet"][0]["val_acc"][-1]

# %% [markdown]
# Read the two panels and the printed numbers. Per unit of compute (right) the comparison is lopsided:
# an epoch of LeNet-5 costs 0.18 of an epoch of the ResNet (the ratio of their MACs per image), so
# LeNet-5's **whole run** costs about **one epoch** of the ResNet (printed: a third of one in fast mode's
# 2 epochs, just over one in full mode's 6): at every budget LeNet-5 reached, the ResNet had done at
# most about one epoch. Per epoch (left), in fast mode LeNet-5 is still
# ahead after 2 epochs of 2 700 images (asserted in fast mode): a small, short run does not show what
# the deeper network can do, and full mode (more data, more epochs) prints its own numbers — compare
# them. Which network "is better" depends on what the budget counts — epochs, FLOPs, seconds or
# parameters — a question to ask of every comparison of architectures.
#
# And the CPU seconds? They are printed for your machine, and they are far from the ratio of the MACs:
# with layers this small, NumPy's time goes as much to the overhead of each operation and to moving
# memory as to the arithmetic. The MAC count is the budget that does not depend on the machine; the
# seconds are what your machine makes of it.
#
# ### CIFAR-10 (when you have it)
#
# The same builder takes colour images: `small_resnet((3, 32, 32))` — only the stem's weights change
# shape (`3·8·9`), the rest of the network, and thanks to the global pooling its head, are as before.
# Pass `--data-dir FOLDER` with the CIFAR-10 batches (`data_batch_1` … `test_batch`, binary or Python
# version) in `FOLDER`; the run loads 5 000 training images (fast: 1 000; a tenth held out for validation)
# for 4 epochs (fast: 1) — its budget is printed. CIFAR-10 is much harder than Fashion-MNIST: expect far lower accuracy from so
# small a budget (chance is 0.10).

# %%
if DATA_DIR is None:
    print("CIFAR-10: skipped — run this file with --data-dir FOLDER (the folder holding the CIFAR-10 batches)")
else:
    cifar = nc.datasets.load_dataset("cifar10", data_dir=DATA_DIR, train_limit=1000 if FAST else 5000,
                                     test_limit=500 if FAST else 2000, seed=0)
    print(cifar)
    colour = small_resnet(cifar.input_shape, cifar.num_classes)
    history, flops, cpu = train(colour, cifar, epochs=1 if FAST else 4)
    print(f"CIFAR-10 small ResNet: {colour.num_params:,} parameters, budget {flops / 1e12:.3f} TFLOP, CPU {cpu:.0f} s; "
          f"validation accuracy by epoch {np.round(history['val_acc'], 3)}; test accuracy "
          f"{colour.evaluate(cifar.test.x, cifar.test.y)['accuracy']:.3f} (chance {1 / cifar.num_classes:.2f})")

# %% [markdown]
# ## 6. Normalising without the batch: LayerNorm and GroupNorm
#
# BatchNorm normalises each channel with the mean and variance of the **batch** (tutorial 10). Two
# consequences appear when batches are small: the statistics are noisy, and training (batch
# statistics) and evaluation (running averages) compute different functions. **LayerNorm** (Ba et al.,
# 2016) and **GroupNorm** (Wu & He, 2018) normalise each *sample* on its own — all its values, or each
# group of its channels — so nothing depends on the batch, and training and evaluation agree:
#
# ```
# BatchNorm2D:  one mean per channel c,           over (n, i, j) — the batch and the map
# LayerNorm:    one mean per sample n,            over (c, i, j)
# GroupNorm:    one mean per sample n and group g, over (c in group g, i, j)     G = 1: LayerNorm, G = C: instance norm
# ```
#
# In the library both view the input as rows — one row per sample (and group) — and call the same
# two functions, `standardize_rows` and `standardize_rows_backward`: BatchNorm's forward and backward
# with the axes turned round (the statistics along a row, not down a column).
#
# **Fill in now:** `normalization.standardize_rows` and `normalization.standardize_rows_backward` (the
# backward is `batchnorm_backward`'s formula with the means taken over a row), and
# `normalization.GroupNorm.forward` (view `x` as `N·G` rows, standardise, view back) in
# `numpycnn/normalization.py`. The cell below checks the three against each other and against loops.

# %%
x4 = np.random.default_rng(3).standard_normal((2, 8, 5, 5)) * 3 + 1
layer_norm = LayerNorm((8, 5, 5), elementwise_affine=False, dtype=np.float64).forward(x4)
group1 = GroupNorm(1, 8, affine=False, dtype=np.float64).forward(x4)
group4 = GroupNorm(4, 8, affine=False, dtype=np.float64).forward(x4)
assert np.allclose(layer_norm, group1), "GroupNorm with one group is LayerNorm over (C, H, W)"
block = x4[1, 2:4]                                                # sample 1, group 1 = channels 2 and 3
assert np.allclose(group4[1, 2:4], (block - block.mean()) / np.sqrt(block.var() + 1e-5))
for norm in (LayerNorm((8, 5, 5), dtype=np.float64), GroupNorm(4, 8, dtype=np.float64)):
    result = nc.gradcheck.check_layer(norm, x4, seed=0)
    assert result.passed, result
print(f"LayerNorm = GroupNorm(1): yes; gradient checks: {result.max_rel_error:.1e} (GroupNorm(4, 8))")

# %% [markdown]
# **How noisy are a small batch's statistics?** The mean of one channel entering the last block
# (`relu2`'s output), over a batch of `B` images, for 200 random batches of each size:

# %%
acts = {}
model.add_forward_hook("relu2", lambda h: acts.__setitem__("relu2", h.copy()))
model.predict_logits(data.train.x[:1600])
model.remove_hooks()
per_image = acts["relu2"][:, 0].mean(axis=(1, 2)).astype(np.float64)   # channel 0: its mean over the map, per image
rng, n = np.random.default_rng(0), len(per_image)
for B in (1, 2, 8, 32):
    measured = np.std([per_image[rng.choice(n, B, replace=False)].mean() for _ in range(2000)])
    predicted = per_image.std() / np.sqrt(B) * np.sqrt((n - B) / (n - 1))     # σ/√B (drawn without replacement)
    print(f"batch size {B:2d}: std of the batch mean {measured:.4f}, σ/√B = {predicted:.4f}")
    assert abs(measured / predicted - 1) < 0.1

# %% [markdown]
# The noise falls like `σ/√B` (measured and predicted agree within 10 %, asserted): a batch of 2 gives
# statistics more than 4 times as noisy as a batch of 32, and every step normalises with them.
#
# **Training at small batch sizes.** The same small ResNet with BatchNorm, GroupNorm (4 groups) and
# LayerNorm, each trained for one epoch (two in full mode) at batch sizes 1, 2 and 8 — the same initial
# convolution weights, the same batches (seed 0), Adam at `lr = 1e-3`. The validation accuracy is
# measured in evaluation mode, as a deployed network runs; for BatchNorm we also measure it in
# **training mode** (batch statistics of `B` validation images at a time) on a copy of the network.

# %%
n_small = 1000 if FAST else 3000
small_train = nc.datasets.Dataset(data.train.x[:n_small], data.train.y[:n_small])
BATCHES, KINDS = (1, 2, 8), ("batch", "group", "layer")
val_x, val_y = data.val.x[:len(data.val) // 8 * 8], data.val.y[:len(data.val) // 8 * 8]   # whole batches of 1, 2, 8
results = {}
for B in BATCHES:
    for kind in KINDS:
        net = small_resnet(data.input_shape, K, norm=kind)
        trainer = nc.Trainer(net, nc.optim.Adam(net, lr=1e-3), seed=0, batch_size=B, progress=False)
        trainer.fit(small_train, epochs=1 if FAST else 2)
        evaluation = net.evaluate(val_x, val_y)["accuracy"]
        in_training_mode = copy.deepcopy(net).train()                  # a copy: training mode updates statistics
        hits = [in_training_mode.forward(val_x[i:i + B]).argmax(axis=1) == val_y[i:i + B]
                for i in range(0, len(val_y), B)]
        results[kind, B] = (evaluation, float(np.concatenate(hits).mean()))
print("validation accuracy, evaluation mode (training mode)")
for B in BATCHES:
    print(f"  batch size {B}: " + ", ".join(f"{kind.capitalize()}Norm {results[kind, B][0]:.3f} ({results[kind, B][1]:.3f})"
                                             for kind in KINDS))

# %%
fig = Figure(figsize=(7, 3))
ax = fig.subplots()
width = 0.25
for k, kind in enumerate(KINDS):
    ax.bar(np.arange(len(BATCHES)) + (k - 1) * width, [results[kind, B][0] for B in BATCHES], width,
           label=f"{kind.capitalize()}Norm")
ax.scatter(np.arange(len(BATCHES)) - width, [results["batch", B][1] for B in BATCHES], color="k", marker="x",
           zorder=3, label="BatchNorm in training mode")
ax.set(xticks=range(len(BATCHES)), xticklabels=[f"batch size {B}" for B in BATCHES], ylabel="validation accuracy",
       ylim=(0, 1))
ax.legend(fontsize=8)
ax.grid(alpha=0.3, axis="y")
fig.tight_layout()
nc.plots.show(fig, "normalisation_at_small_batches")
for kind in ("group", "layer"):
    for B in BATCHES:
        assert results[kind, B][0] == results[kind, B][1], "GroupNorm and LayerNorm: the same in both modes"
bn1, gn1 = results["batch", 1], results["group", 1]
print(f"batch size 1: BatchNorm {bn1[0]:.3f} in evaluation mode but {bn1[1]:.3f} in training mode; "
      f"GroupNorm {gn1[0]:.3f}")
if FASHION:
    # far below: at least 10 pp under its own training mode, 5 pp under GroupNorm (full mode measured 14 and 11
    # pp on a 2-core AMD EPYC, fast mode 36 and 27; another CPU trains slightly other weights)
    assert bn1[0] < bn1[1] - 0.10 and bn1[0] < gn1[0] - 0.05
    assert results["batch", 8][0] > results["batch", 1][0] + 0.10
    if FAST:
        assert all(results["batch", B][0] >= results[kind, B][0] for B in (2, 8) for kind in ("group", "layer"))

# %% [markdown]
# Read the bars and the printed table. At **batch size 1** BatchNorm breaks: in training mode (the
# crosses) the network classifies well, but in evaluation mode — with the running averages — it falls
# far below (both printed). Each training step normalised one image with that image's own
# statistics; the running averages describe the data set, a different normalisation, and the
# following layers were never trained on it. GroupNorm and LayerNorm compute the same function in
# both modes (asserted: their two accuracies are equal) and do not break. At batch size 8, and
# already at 2 on this network, BatchNorm is back — in fast mode even ahead of the other two (asserted
# there; full mode prints its own numbers): its batch statistics come from `B·H·W` values per channel,
# plenty for a conv layer, and its noise acts as a regulariser. So the rule is not "GroupNorm is better", but: **when the batch is tiny or its samples
# are not independent — detection and segmentation with one or two large images per GPU, or
# per-sample computation — normalise per sample.** (Wu & He measured this on ImageNet: GroupNorm
# ahead of BatchNorm below batch size 8 per device.)
#
# ## Check yourself
#
# 1. Why does the first block of stage 2 need a projection, and why a *1×1* convolution *with stride 2*?
#
#    <details><summary>Answer</summary>
#
#    <!-- BEGIN GRADED ANSWER -->
#    The body halves the map (stride-2 first convolution) and changes the channels (8 → 16), so `F(x)`
#    has shape `(16, 14, 14)` while `x` is `(8, 28, 28)`: the sum is undefined. The skip path must map
#    `x` to the body's shape while changing it as little as possible: a 1×1 convolution mixes channels
#    only (no spatial filtering: `C_in·C_out` weights, 128 here), and its stride 2 picks the same
#    grid of positions the body's strided convolution keeps. An identity skip is kept wherever the
#    shapes agree, because it passes the gradient unchanged (tutorial 10).
#
#    Rubric:
#    - 1 point: the shapes differ (channels and map size), so x cannot be added to F(x)
#    - 2 points: 1×1 mixes channels only with few weights; stride 2 samples the same positions as the body
#    - 1 point: the identity skip is kept elsewhere because it passes the gradient unchanged
#    <!-- END GRADED ANSWER -->
#
#    </details>
#
# 2. The ResNet has about a third of LeNet-5's parameters and more than four times its multiply-adds.
#    How can both be true, and which count predicts the training time?
#
#    <details><summary>Answer</summary>
#
#    <!-- BEGIN GRADED ANSWER -->
#    A convolution's weights are shared across positions: each is used `OH·OW` times per image (784
#    times in the first stage), so few parameters can cost many MACs. A Dense layer uses each weight
#    once; LeNet-5's parameters sit mostly in its Dense layers (`fc1`: 48 000 weights for 48 000 MACs).
#    Global average pooling shrinks the ResNet's head to 330 parameters. The arithmetic of a training
#    step follows the MACs (about 3× the forward's), not the parameter count; the parameters set the
#    memory for the weights and the optimizer's state. The seconds follow the MACs only when the
#    arithmetic dominates — large layers in an optimised library; in NumPy at this size the overhead
#    of each operation and memory traffic count as much (the printed CPU times).
#
#    Rubric:
#    - 2 points: weight sharing — a conv weight is used at every output position, a Dense weight once
#    - 1 point: global average pooling removes the large Dense head
#    - 1 point: the arithmetic follows MACs, memory follows parameters; seconds follow MACs only when
#      the arithmetic dominates
#    <!-- END GRADED ANSWER -->
#
#    </details>
#
# 3. At batch size 1, BatchNorm's network classifies the validation set well in training mode and badly
#    in evaluation mode. Explain.
#
#    <details><summary>Answer</summary>
#
#    In training mode each image is normalised with its own mean and variance per channel (a batch of
#    one image: `H·W` values per channel), which is what every training step did — the later layers
#    learned to read those normalised maps. Evaluation mode uses the running averages over many
#    images: a different shift and scale for each image (images differ in brightness and contrast), so
#    the later layers get inputs unlike any they were trained on. GroupNorm and LayerNorm have no such
#    switch: both modes use the sample's own statistics.
#
#    </details>
#
# 4. Does a residual connection enlarge the receptive field?
#
#    <details><summary>Answer</summary>
#
#    No: the body's path is the longest and sets the field (`Sequential.receptive_fields` follows it);
#    the skip path reads a smaller field (the input itself, or the 1×1 projection's). Residual
#    connections add *shorter* paths — which is why the *effective* receptive field of a ResNet, where
#    the gradient is large, is smaller than the theoretical one.
#
#    </details>
#
# 5. Why can the same weights of this network classify a 36×36 image, and LeNet-5's not?
#
#    <details><summary>Answer</summary>
#
#    Every layer before the global pooling is a convolution (or works position by position) and
#    accepts any map size; the pooling always gives one number per channel, so the Dense layer sees 32
#    numbers whatever the image size. LeNet-5 flattens its maps: a larger image gives a longer vector
#    and its first Dense layer's weight matrix no longer fits.
#
#    </details>

# %%
assert model["res2"].projection is not None and model["res1"].projection is None             # 1.
assert p_res < p_le and m_res > m_le                                                            # 2.
assert results["group", 1][0] == results["group", 1][1]                                         # 3.
assert library["res3"] == receptive_field(windows)[-1]                                          # 4.
assert bigger.output_shape == model.output_shape                                                # 5.
print("all checks passed")
