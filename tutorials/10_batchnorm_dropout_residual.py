# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # Tutorial 10 — BatchNorm, Dropout and residual blocks: the standard fixes, before technique A
#
# Three layers every modern CNN course teaches, each with its forward and backward pass:
#
# ```
# BatchNorm   x_hat = (x − mu_B) / sqrt(var_B + eps),  y = gamma · x_hat + beta     (mu_B, var_B: the batch's)
#             dx = (gamma / (M · sqrt(var_B + eps))) · (M · dy − Σ_m dy_m − x_hat · Σ_m (dy_m · x_hat_m))
# Dropout     y = x · keep / (1 − p),  keep ~ Bernoulli(1 − p)                         dx = dy · keep / (1 − p)
# Residual    y = F(x) + x                                                             dx = F.backward(dy) + dy
# ```
#
# In this lesson you will
# 1. normalise a batch yourself, derive and write BatchNorm's backward pass, and keep the running
#    statistics that evaluation mode uses;
# 2. write inverted dropout and see why it is scaled by `1 / (1 − p)`;
# 3. write the backward pass of a residual block — the **sum at a fork**, the same identity as
#    technique A's third gradient (first + second);
# 4. **measure** what each does to the deep plain sigmoid network of tutorial 2 (same data, same
#    optimizer): the spread between images per layer, the gradient norm per layer, and training;
#    and Dropout on a run that overfits.
#
# **Assignment exercises taught here:** `normalization.batchnorm_forward`,
# `normalization.batchnorm_backward`, `dropout.dropout_forward`, `dropout.dropout_backward`,
# `residual.ResidualBlock.backward`.
#
# *Your turn* cells are yours to write (the cell after each checks it); answers to the questions
# are folded. A line **Fill in now** says where the tutorial first runs one of the exercises above; it
# needs the layers and optimizers of tutorials 1–3, and nothing of a later tutorial. Run it with
# `python tutorials/10_batchnorm_dropout_residual.py` (`NUMPYCNN_FAST=1` for a quick run) or as a
# notebook: `jupytext --to ipynb tutorials/10_batchnorm_dropout_residual.py`. Figures: inline in a
# notebook, else in `tutorials/figures/10_batchnorm_dropout_residual/` (reference copies in
# `tutorials/reference_figures/`).

# %%
import copy
import os

import numpy as np
from matplotlib.figure import Figure

import numpycnn as nc
from numpycnn.datasets import Dataset
from numpycnn.gradcheck import numerical_gradient, relative_error

FAST = os.environ.get("NUMPYCNN_FAST", "0") == "1"
rng = np.random.default_rng(0)
print("fast mode" if FAST else "full mode")
print("numpycnn imported from", nc.__file__)


# %% [markdown]
# ## 1. Batch normalisation
#
# In a deep sigmoid network the outputs of a layer collapse towards the same value for every image
# (tutorial 2). Batch normalisation (Ioffe & Szegedy, 2015) re-centres and re-scales every channel
# **using the statistics of the current batch**, then lets the network choose its own scale `gamma`
# and shift `beta`:
#
# ```
# mu    = (1/M) Σ_m x_m                    var = (1/M) Σ_m (x_m − mu)²      (per channel, biased)
# x_hat = (x − mu) / sqrt(var + eps)       y   = gamma · x_hat + beta
# ```
#
# For a dense layer's output `(N, D)` the `M` values of a feature are the N samples
# (`BatchNorm1D`); for a conv layer's `(N, C, H, W)` they are every sample **and** every pixel,
# `M = N·H·W` (`BatchNorm2D`: one mean and variance per channel, as the channel's filter is shared).
# numpycnn's functional core takes `(M, C)` columns; `BatchNorm2D` transposes `(N, C, H, W)` to
# `(N·H·W, C)` first.
#
# ### Your turn 1 — normalise a batch
#
# `xb: (M, C)` holds 6 values of 3 channels on very different scales. Compute `mu`, `var` (biased),
# `x_hat` and `y` (eps = 1e-5).

# %%
xb = np.array([[1.0, 100.0, -0.01], [2.0, 300.0, 0.03], [3.0, 200.0, 0.01],
               [4.0, 500.0, 0.02], [5.0, 400.0, -0.02], [6.0, 600.0, 0.00]])
gamma, beta, eps = np.array([1.0, 2.0, 0.5]), np.array([0.0, -1.0, 3.0]), 1e-5

# %% tags=["solution"]
### BEGIN SOLUTION
mu = xb.mean(axis=0)
var = ((xb - mu) ** 2).mean(axis=0)
x_hat = (xb - mu) / np.sqrt(var + eps)
y = gamma * x_hat + beta
### END SOLUTION

# %%
assert np.allclose(mu, [3.5, 350.0, 0.005]), f"mu = {mu}: the mean of each column"
assert np.allclose(var, [35 / 12, 87500 / 3, 0.00029167], rtol=1e-4), f"var = {var}: biased (divide by M = 6)"
assert np.allclose(x_hat.mean(axis=0), 0, atol=1e-12), "each column of x_hat must have mean 0"
assert np.allclose(x_hat.var(axis=0), var / (var + eps)), "each column of x_hat must have variance var / (var + eps)"
assert np.allclose(y, gamma * x_hat + beta), "y = gamma · x_hat + beta"
assert abs(x_hat[:, 2].var() - 0.967) < 1e-3                      # the third channel: see below
print("your turn 1: correct. Channel scales before:", np.round(xb.std(axis=0), 3),
      "after:", np.round(x_hat.std(axis=0), 3))

# %% [markdown]
# The third channel shows what `eps` is for: its variance `2.9e-4` is small, and `eps = 1e-5` shrinks
# its normalised variance to `var / (var + eps)` ≈ 0.97 instead of exactly 1 — without `eps` a
# constant channel would divide by 0.
#
# ### The backward pass, derived
#
# `x_hat_m` depends on `x_m` directly **and** through `mu` and `var`, which every value of the batch
# shares. With `g = dL/dx_hat = dy · gamma` and `s = 1/sqrt(var + eps)`:
#
# ```
# ∂mu/∂x_m  = 1/M
# ∂var/∂x_m = 2 (x_m − mu) / M                      (the Σ(x − mu) term is 0)
# ∂s/∂x_m   = −½ (var + eps)^(−3/2) · ∂var/∂x_m = −s³ (x_m − mu) / M
#
# dL/dx_m = Σ_i g_i ∂x_hat_i/∂x_m
#         = g_m s − (s/M) Σ_i g_i + Σ_i g_i (x_i − mu) · (−s³ (x_m − mu) / M)
#         = s · (g_m − mean(g) − x_hat_m · mean(g · x_hat))
# ```
#
# and `dgamma = Σ_m dy_m · x_hat_m`, `dbeta = Σ_m dy_m` (as for any per-channel scale and shift).
# The two subtracted terms remove from `g` its mean and its component along `x_hat`: adding a
# constant to a channel's batch, or scaling it, changes nothing after normalisation, so the
# gradient has no such component.
#
# ### Your turn 2 — BatchNorm's backward pass
#
# Write `bn_backward(dy, x_hat, gamma, var, eps)` returning `(dx, dgamma, dbeta)` for `(M, C)` columns.

# %% tags=["solution"]
### BEGIN SOLUTION
def bn_backward(dy, x_hat, gamma, var, eps):
    s = 1 / np.sqrt(var + eps)
    g = dy * gamma
    dx = s * (g - g.mean(axis=0) - x_hat * (g * x_hat).mean(axis=0))
    return dx, (dy * x_hat).sum(axis=0), dy.sum(axis=0)
### END SOLUTION

# %%
def bn_forward(x, gamma, beta, eps=1e-5):           # your turn 1, as a function of x
    mu, var = x.mean(axis=0), x.var(axis=0)
    return gamma * (x - mu) / np.sqrt(var + eps) + beta


x_check = rng.standard_normal((7, 3)) * [1.0, 5.0, 0.2] + 1
dy_check = rng.standard_normal((7, 3))
x_hat_check = (x_check - x_check.mean(0)) / np.sqrt(x_check.var(0) + 1e-5)
dx, dgamma, dbeta = bn_backward(dy_check, x_hat_check, gamma, x_check.var(0), 1e-5)
f = lambda: float(np.sum(bn_forward(x_check, gamma, beta) * dy_check))
errors = {"dx": relative_error(dx, numerical_gradient(f, x_check)),
          "dgamma": relative_error(dgamma, numerical_gradient(f, gamma)),
          "dbeta": relative_error(dbeta, numerical_gradient(f, beta))}
print("relative errors against central differences:", {k: f"{v:.1e}" for k, v in errors.items()})
assert max(errors.values()) < 1e-7, "a term of the backward pass is missing or wrong (see the derivation above)"
print("your turn 2: correct")

# %% [markdown]
# numpycnn's `BatchNorm2D` passes the same check and agrees with `torch.nn.BatchNorm2d`
# (tests/test_normalization.py, to 1e-10 in float64).
#
# **Fill in now:** `normalization.batchnorm_forward` and `normalization.batchnorm_backward` in
# `numpycnn/normalization.py` — your turns 1 and 2 on `(M, C)` columns, with what the backward pass needs
# kept in the cache (the docstrings list it). The library's layers call them:

# %%
bn = nc.BatchNorm2D(3, dtype=np.float64)
bn.params["gamma"] = np.array([0.5, 2.0, -1.0])
x4 = rng.standard_normal((4, 3, 5, 5)) * 3 + 1
print("BatchNorm2D train mode:", nc.gradcheck.check_layer(bn, x4, seed=1))

# %% [markdown]
# ### Training mode and evaluation mode: the running statistics
#
# At test time there may be one image, not a batch — and a prediction should not depend on which
# other images share its batch. So while training, each BatchNorm layer keeps exponential running
# averages of the batch statistics (PyTorch's rule, `momentum = 0.1`):
#
# ```
# running_mean <- (1 − momentum) · running_mean + momentum · mu
# running_var  <- (1 − momentum) · running_var  + momentum · var · M / (M − 1)     (unbiased)
# ```
#
# and in **evaluation mode** normalises with those instead: a fixed affine map per channel. They are
# *buffers*: state saved with the model and in checkpoints, never touched by an optimizer.
# `model.eval()` / `model.train()` switch every layer; `predict`, `evaluate` and the Trainer's
# evaluations switch to evaluation mode by themselves and switch back afterwards.
#
# ### Your turn 3 — one update of the running statistics
#
# Starting from `running_mean = 0`, `running_var = 1`, update both with the batch `xb` of your turn 1
# (`M = 6` values per channel).

# %%
running_mean, running_var, momentum = np.zeros(3), np.ones(3), 0.1

# %% tags=["solution"]
### BEGIN SOLUTION
M = xb.shape[0]
running_mean = (1 - momentum) * running_mean + momentum * xb.mean(axis=0)
running_var = (1 - momentum) * running_var + momentum * xb.var(axis=0) * M / (M - 1)
### END SOLUTION

# %%
assert np.allclose(running_mean, 0.1 * np.array([3.5, 350.0, 0.005])), f"running_mean {running_mean}"
assert np.allclose(running_var, 0.9 + 0.1 * np.array([3.5, 35000.0, 0.00035])), \
    f"running_var {running_var}: did you use the unbiased variance (divide by M − 1 = 5)?"
print("your turn 3: correct")

# %% [markdown]
# The library's layer keeps the same buffers after one training-mode forward pass:

# %%
layer = nc.BatchNorm1D(3, dtype=np.float64)
layer.forward(xb)
print(layer.buffers)
assert np.allclose(layer.buffers["running_mean"], running_mean)
assert np.allclose(layer.buffers["running_var"], running_var)

# %% [markdown]
# ## 2. Dropout
#
# Dropout (Srivastava et al., 2014) sets each value to 0 with probability `p` while training, so no
# unit can rely on any particular other unit being there. *Inverted* dropout scales the kept values
# by `1 / (1 − p)` at training time, so the expected output equals the input and evaluation mode is
# simply the identity. Its backward pass, for the mask drawn in the forward pass, is the same
# diagonal map: dropped values pass no gradient.
#
# numpycnn draws the mask of the k-th training forward pass from `np.random.default_rng([seed, k])`
# — its whole random state is the seed and the counter `k` (a buffer), so a resumed run draws the
# same masks as an uninterrupted one.
#
# ### Your turn 4 — inverted dropout
#
# Apply dropout with `p = 0.4` to `xd` using the given mask `keep` (True = kept).

# %%
p = 0.4
xd = np.full((2000, 50), 3.0)
keep = np.random.default_rng(1).random(xd.shape) >= p

# %% tags=["solution"]
### BEGIN SOLUTION
yd = xd * keep / (1 - p)
### END SOLUTION

# %%
assert set(np.unique(yd)) <= {0.0, 3.0 / (1 - p)}, "kept values must be x / (1 − p), dropped ones 0"
assert np.array_equal(yd != 0, keep), "use the given mask"
print(f"mean of x: 3.0, mean of dropout(x): {yd.mean():.4f} (kept {keep.mean():.3f} of the values)")
assert abs(yd.mean() - 3.0) < 0.05, "the scaling must keep the mean"
print("your turn 4: correct")

# %% [markdown]
# The same in the library, in both modes.
#
# **Fill in now:** `dropout.dropout_forward` and `dropout.dropout_backward` in `numpycnn/dropout.py` —
# your turn 4 with the mask the function draws, and its backward pass: the same mask, the same scale.

# %%
drop = nc.Dropout(0.4, seed=0)
out_train = drop.forward(xd[:3, :8])
dx_drop = drop.backward(np.ones_like(out_train))                 # for the mask of that forward pass
drop.training = False
out_eval = drop.forward(xd[:3, :8])
print("training mode:\n", out_train, "\nevaluation mode:\n", out_eval)
assert np.array_equal(out_eval, xd[:3, :8]) and set(np.unique(out_train)) <= {0.0, 5.0}
assert np.array_equal(dx_drop, out_train / xd[:3, :8])           # dx = dy · keep / (1 − p)

# %% [markdown]
# ## 3. The residual block
#
# A residual block (He et al., 2016) computes `y = F(x) + x`: the layers `F` (e.g. conv → BatchNorm
# → ReLU → conv) learn a *correction* to the identity. When `F` changes the shape, the skip path
# becomes a projection `P` (a 1×1 convolution with the same stride): `y = F(x) + P(x)`.
#
# Backward: `x` feeds **two** paths, so by the chain rule its gradient is the sum of the gradients
# through each — the **sum at a fork**:
#
# ```
# dL/dx = F.backward(dy) + dy          (identity skip: its Jacobian is I)
# ```
#
# This is exactly technique A's *third gradient = first + second* (tutorial 4): there the fork is a
# layer's output feeding both the rest of the trunk and a branch. The `+ dy` term hands the gradient
# to the layers below unchanged, whatever `F` does to it.
#
# ### Your turn 5 — the backward pass of `y = tanh(x) + x`
#
# `body` is a `Tanh` layer (its forward pass already ran on `xr`). Compute `dx` for the upstream
# gradient `dyr`.

# %%
body = nc.Tanh()
xr = rng.standard_normal((4, 5))
yr = body.forward(xr) + xr
dyr = rng.standard_normal((4, 5))

# %% tags=["solution"]
### BEGIN SOLUTION
dx_body = body.backward(dyr)
dx = dx_body + dyr                 # the sum at the fork
### END SOLUTION

# %%
numeric = numerical_gradient(lambda: float(np.sum((np.tanh(xr) + xr) * dyr)), xr)
print("relative error against central differences:", f"{relative_error(dx, numeric):.1e}")
assert relative_error(dx, numeric) < 1e-7, "did you add the gradient of the skip path?"
print("your turn 5: correct")

# %% [markdown]
# `ResidualBlock` does this for any body and projection, and it is one layer of a `Sequential`:
# its sub-layers' parameters appear in the model as `res1.conv1.W`, so every optimizer, mask,
# checkpoint and gradient check sees them.
#
# **Fill in now:** `residual.ResidualBlock.backward` in `numpycnn/residual.py` — the body's layers
# backwards, then your turn 5's sum at the fork (with the projection's backward pass in place of `dy`
# when there is one).

# %%
block = nc.ResidualBlock([("conv1", nc.Conv2D(3, 3, 3, pad=1, dtype=np.float64)), ("relu1", nc.ReLU()),
                          ("conv2", nc.Conv2D(3, 3, 3, pad=1, dtype=np.float64))])
model = nc.Sequential([("res1", block), ("flat", nc.Flatten()), ("fc", nc.Dense(3 * 5 * 5, 4, dtype=np.float64))],
                      input_shape=(3, 5, 5))
print([name for name, _, _ in model.named_parameters()])
print(nc.gradcheck.check_model(model, rng.standard_normal((4, 3, 5, 5)), np.arange(4)))

# %% [markdown]
# ## 4. What each does to the deep plain sigmoid network of tutorial 2
#
# Tutorial 2's network: `plain_cnn`, 8 conv layers of 8 3×3 filters, sigmoid after each, on the
# embedded 8×8 digits, trained with Adam (lr 1e-3, batch 32). It fails because the **forward
# signal collapses**: the outputs of different images become almost identical layer after layer,
# and the gradient shrinks by a similar factor per layer on its way down.
#
# Four versions with the **same conv and fc weights** (copied from one `plain_cnn`):
#
# * `plain` — tutorial 2's network;
# * `batchnorm` — a `BatchNorm2D` between each conv and its sigmoid;
# * `residual` — each conv + sigmoid after the first wrapped in a `ResidualBlock`:
#   `h_k = h_(k−1) + σ(conv_k(h_(k−1)))`;
# * `residual+bn` — both: `h_k = h_(k−1) + σ(BN(conv_k(h_(k−1))))`.

# %%
data = nc.datasets.load_dataset("digits", seed=0)


def variants(dtype):
    """The four networks, sharing the conv and fc weights of one plain_cnn."""
    base = nc.zoo.plain_cnn(data.input_shape, depth=8, width=8, activation_name="sigmoid", seed=0, dtype=dtype)

    def build(batchnorm, residual):
        layers, items, i = [], list(base.layers.items()), 0
        while i < len(items):
            name, layer = items[i]
            if not name.startswith("conv"):
                layers.append((name, copy.deepcopy(layer)))
                i += 1
                continue
            k = name[4:]
            stage = [(name, copy.deepcopy(layer))]
            if batchnorm:
                stage.append((f"bn{k}", nc.BatchNorm2D(layer.out_channels, dtype=dtype)))
            stage.append((f"act{k}", copy.deepcopy(items[i + 1][1])))
            # conv1 maps 1 channel to 8: no identity skip there (it would need a projection)
            layers += [(f"res{k}", nc.ResidualBlock(stage))] if residual and k != "1" else stage
            i += 2
        return nc.Sequential(layers, input_shape=base.input_shape)

    return {"plain": base, "batchnorm": build(True, False), "residual": build(False, True),
            "residual+bn": build(True, True)}


for name, m in variants(np.float64).items():
    print(f"{name:12s}", " → ".join(m.layers), f"| {m.num_params} parameters")

# %% [markdown]
# **Measured at initialisation** (float64, one batch, training mode): for every stage `k`, the spread
# between images of its output (the standard deviation over the images of each unit, averaged over
# units — tutorial 2's measure) and the norm of conv `k`'s weight gradient.

# %%
xm = data.train.x[:64 if FAST else 256].astype(np.float64)
ym = data.train.y[:len(xm)]


def measure(model):
    """(spread between images at each stage's output, mean of that output, ‖dL/dW‖ of each conv) for one batch."""
    spread, mean = {}, {}

    def record(h, k):
        spread[k], mean[k] = float(h.std(axis=0).mean()), float(h.mean())

    for n in model.layers:
        if n.startswith(("act", "res")):                         # act1 ... act8, or act1, res2 ... res8
            model.add_forward_hook(n, lambda h, k=int(n[3:]): record(h, k))
    ce = nc.SoftmaxCrossEntropy()
    ce.forward(model.forward(xm), ym)
    model.backward(ce.backward())
    model.remove_hooks()
    grads = {int(n.split("conv")[-1][:-2]): float(np.linalg.norm(g))   # "conv3.W" or "res3.conv3.W" -> 3
             for n, _, g in model.named_parameters() if "conv" in n and n.endswith(".W")}
    return spread, mean, grads


spread, mean, grads = {}, {}, {}
for name, m in variants(np.float64).items():
    spread[name], mean[name], grads[name] = measure(m)
    print(f"{name:12s} spread  ", "  ".join(f"{spread[name][k]:.1e}" for k in range(1, 9)))
    print(f"{'':12s} ‖dL/dW‖ ", "  ".join(f"{grads[name][k]:.1e}" for k in range(1, 9)))

fig = Figure(figsize=(10, 3.4))
ax1, ax2 = fig.subplots(1, 2)
for name, marker in zip(spread, ("o-", "s-", "^-", "d-")):
    ax1.semilogy(range(1, 9), [spread[name][k] for k in range(1, 9)], marker, label=name)
    ax2.semilogy(range(1, 9), [grads[name][k] for k in range(1, 9)], marker, label=name)
ax1.set_title("spread between images after stage k")
ax2.set_title("‖dL/dW‖ of conv k")
for ax in (ax1, ax2):
    ax.set_xlabel("stage k")
    ax.grid(alpha=0.3, which="both")
ax1.legend()
nc.plots.show(fig, "spread_and_gradient_per_layer")

# %%
collapse = {name: spread[name][8] / spread[name][1] for name in spread}
flow = {name: grads[name][1] / grads[name][8] for name in grads}
print("spread at stage 8 / stage 1: ", {k: f"{v:.1e}" for k, v in collapse.items()})
print("‖dW‖ of conv1 / of conv8:    ", {k: f"{v:.1e}" for k, v in flow.items()})
assert collapse["plain"] < 1e-3 and flow["plain"] < 1e-3          # tutorial 2's collapse, both ways
assert collapse["batchnorm"] > 0.1 and flow["batchnorm"] > 0.1
assert collapse["residual"] > 0.5 and flow["residual"] > 0.1
assert collapse["residual+bn"] > 0.5 and flow["residual+bn"] > 0.1
offset = (mean["residual"][8] - mean["residual"][1]) / 7
print(f"residual: each block adds {offset:.2f} to the mean activation")
assert 0.4 < offset < 0.6 and 0.5 < collapse["residual"] < 2

# %% [markdown]
# Read the two panels:
#
# * **plain**: the spread falls by more than a factor 1000 from stage 1 to stage 8, and `conv1`'s
#   gradient is more than 1000 times smaller than `conv8`'s — tutorial 2's collapse.
# * **batchnorm**: each conv output is re-standardised before its sigmoid (mean 0, variance 1 per
#   channel at initialisation, where `gamma = 1`, `beta = 0`), however small the differences it
#   received were. The spread at stage 8 stays within a factor 10 of stage 1, and `conv1`'s gradient
#   within a factor 10 of `conv8`'s.
# * **residual**: `h_k = h_(k−1) + σ(…)` carries every image's features up unchanged, so the spread
#   cannot collapse (stage 8 keeps more than half of stage 1's), and the `+ dy` of the sum at the
#   fork carries the gradient down: `conv1`'s is again within a factor 10 of `conv8`'s. But nothing
#   re-scales: each block adds about 0.5 (a sigmoid's mean) to every unit, while the differences
#   between images stay as small as at stage 1 (within a factor 2) on top of that growing offset.
#
# **Training**: the same four networks (float32), Adam lr 1e-3, batch 32, the same data order,
# validation accuracy every 50 steps.

# %%
steps = 200 if FAST else 600
histories = {}
for name, m in variants(np.float32).items():
    trainer = nc.Trainer(m, nc.optim.Adam(m, lr=1e-3), seed=0, batch_size=32, progress=False)
    trainer.fit(data.train, data.val, epochs=100, max_steps=steps, eval_every=50)
    histories[name] = trainer.history
    print(f"{name:12s} after {trainer.step} steps: validation accuracy {trainer.history['val_acc'][-1]:.3f}, "
          f"loss {trainer.history['val_loss'][-1]:.3f}")
final = {name: h["val_acc"][-1] for name, h in histories.items()}

fig = Figure(figsize=(6, 3.4))
ax = fig.subplots()
for name, marker in zip(histories, ("o-", "s-", "^-", "d-")):
    evals = histories[name]["evals"]
    ax.plot([e["step"] for e in evals], [e["val_acc"] for e in evals], marker, label=name)
ax.set_xlabel("step")
ax.set_ylabel("validation accuracy")
ax.set_title("deep plain sigmoid CNN on digits, Adam lr 1e-3")
ax.grid(alpha=0.3)
ax.legend()
nc.plots.show(fig, "training_plain_batchnorm_residual")

# %%
assert final["batchnorm"] > final["plain"] + 0.3 and final["residual+bn"] > final["plain"] + 0.3
assert final["plain"] <= final["residual"] < final["batchnorm"]
if not FAST:
    assert final["residual"] > final["plain"] + 0.3 and final["batchnorm"] > 0.9
    assert abs(final["residual+bn"] - final["batchnorm"]) < 0.05

# %% [markdown]
# With BatchNorm the network learns quickly: it ends more than 30 points of validation accuracy
# above the plain network (above 90 % in the full run). The residual network learns too, but more
# slowly than with BatchNorm (in the full run it also ends more than 30 points above the plain
# one): the skip connections keep the gradient and the signal alive, normalisation makes the signal
# *usable*. That is why ResNets put both in every block (conv → BatchNorm → ReLU inside, the skip
# around it); in the full run the `residual+bn` version ends within 5 points of `batchnorm`.
#
# These are the standard fixes for depth. Technique A (tutorial 4) is a different one: it keeps the
# plain network and adds a second loss in its middle.
#
# ### BatchNorm in evaluation mode
#
# After training, the `batchnorm` network classifies an image the same way whatever batch it comes
# in — in evaluation mode. In training mode the output of an image depends on the other images of
# its batch:

# %%
bn_model = variants(np.float32)["batchnorm"]
nc.Trainer(bn_model, nc.optim.Adam(bn_model, lr=1e-3), seed=0, batch_size=32,
           progress=False).fit(data.train, epochs=100, max_steps=100)
x8 = data.val.x[:8]
alone = bn_model.predict_logits(x8[:1])                       # evaluation mode, a batch of one
in_batch = bn_model.predict_logits(x8)[:1]                    # evaluation mode, in a batch of 8
train_a = bn_model.forward(x8[:4])[:1]                        # training mode: normalised with 4 images
train_b = bn_model.forward(x8)[:1]                            # ... or with 8
print("evaluation mode, alone vs in a batch: max difference", float(np.abs(alone - in_batch).max()))
print("training mode, batch of 4 vs of 8:    max difference", float(np.abs(train_a - train_b).max()))
assert np.allclose(alone, in_batch, atol=1e-5) and np.abs(train_a - train_b).max() > 1e-3
assert bn_model.training                                      # predict_logits switched back

# %% [markdown]
# ## 5. Dropout on a run that overfits
#
# Dropout fights overfitting, so it needs a run that overfits: an MLP (64 → 256 → 256 → 10, ReLU)
# on only **100** training digits, Adam lr 1e-3, 100 epochs, validated on 794 other digits of the
# training split (never used for training). The same network with `Dropout(0.5)` after each hidden
# layer; the same initial weights and data order for both (paired seeds).

# %%
train_small = Dataset(data.train.x[:100], data.train.y[:100])
held_out = Dataset(data.train.x[500:], data.train.y[500:])
seeds = [0] if FAST else [0, 1, 2]


def mlp(p, seed):
    init = np.random.default_rng(seed)
    layers, d = [("flat", nc.Flatten())], 64
    for i in (1, 2):
        layers += [(f"fc{i}", nc.Dense(d, 256, rng=init)), (f"relu{i}", nc.ReLU())]
        if p:
            layers.append((f"drop{i}", nc.Dropout(p, seed=10 * seed + i)))
        d = 256
    layers.append(("out", nc.Dense(d, 10, init="xavier", rng=init)))
    return nc.Sequential(layers, input_shape=(1, 8, 8))


runs, fit = {}, {}
for seed in seeds:
    for p in (0.0, 0.5):
        m = mlp(p, seed)
        trainer = nc.Trainer(m, nc.optim.Adam(m, lr=1e-3), seed=seed, batch_size=32, progress=False)
        runs[p, seed] = trainer.fit(train_small, held_out, epochs=100)
        fit[p, seed] = m.evaluate(train_small.x, train_small.y)["loss"]     # evaluation mode: no dropout
        h = runs[p, seed]
        best = int(np.argmin(h["val_loss"]))
        print(f"seed {seed}, dropout p = {p}: final training loss {h['train_loss'][-1]:.4f} as trained "
              f"(training mode), {fit[p, seed]:.4f} in evaluation mode; validation loss {h['val_loss'][-1]:.3f} "
              f"(lowest {h['val_loss'][best]:.3f} at epoch {best + 1}), validation accuracy {h['val_acc'][-1]:.3f}")

fig = Figure(figsize=(6, 3.4))
ax = fig.subplots()
for p, style in ((0.0, "-"), (0.5, "--")):
    h = runs[p, seeds[0]]
    ax.plot(h["epoch"], h["train_loss"], style, color="C0", label=f"train (training mode), p = {p}")
    ax.plot(h["epoch"], h["val_loss"], style, color="C1", label=f"validation, p = {p}")
ax.set_yscale("log")
ax.set_xlabel("epoch")
ax.set_ylabel("cross-entropy")
ax.set_title(f"MLP on 100 digits (seed {seeds[0]})")
ax.grid(alpha=0.3, which="both")
ax.legend()
nc.plots.show(fig, "dropout_overfitting")

# %%
for seed in seeds:
    plain, dropped = runs[0.0, seed], runs[0.5, seed]
    assert plain["train_loss"][-1] < 0.01 and plain["val_loss"][-1] > 0.3          # memorised, not learned
    assert np.argmin(plain["val_loss"]) < 80 and plain["val_loss"][-1] > min(plain["val_loss"])   # turned up
    gap = {p: runs[p, seed]["val_loss"][-1] - fit[p, seed] for p in (0.0, 0.5)}   # both losses in evaluation mode
    print(f"seed {seed}: validation − training loss, both in evaluation mode: without dropout {gap[0.0]:.3f}, "
          f"with {gap[0.5]:.3f}")
    assert gap[0.5] < gap[0.0]                                                      # a smaller gap
    assert runs[0.5, seed]["train_loss"][-1] > fit[0.5, seed]                      # thinned nets fit worse
loss_change = [runs[0.5, s]["val_loss"][-1] - runs[0.0, s]["val_loss"][-1] for s in seeds]
acc_change = [runs[0.5, s]["val_acc"][-1] - runs[0.0, s]["val_acc"][-1] for s in seeds]
print("final validation loss with dropout minus without, per seed:    ", np.round(loss_change, 3))
print("final validation accuracy with dropout minus without, per seed:", np.round(acc_change, 3))
assert np.mean(loss_change) < 0 and max(np.abs(acc_change)) < 0.03

# %% [markdown]
# Without dropout the training loss falls below 0.01 — the network has memorised its 100 images —
# while the validation loss reaches its lowest point before the end (by epoch 80) and then creeps
# up: overfitting. With dropout, two training losses must be told apart. The one the Trainer reports
# is the mean over the epoch's batches *in training mode*: each batch ran through a different thinned
# network, half of its units dropped, so it is higher than the loss of the network used at test time —
# the classic "why is my training loss above my validation loss?". The fair comparison evaluates the
# training images in evaluation mode (dropout off), as the validation images are: printed above. On that
# footing the gap between validation and training loss is smaller with dropout in every seed, and the
# final validation loss is lower on average over the seeds run here (per seed: printed above; some
# differences are small). The validation
# *accuracy* changes little (under 3 points): a lower cross-entropy (the mean of `−log p(true
# class)`) at about the same accuracy means that here dropout mostly raises the probability the
# network gives the true class, not the number of images it gets right. Whether it helps accuracy
# is a question for a
# proper experiment — at least 5 paired seeds, `p` tuned on validation, a confidence interval of
# the paired differences — not of one demonstration.
#
# ## Check yourself
#
# 1. Why does `BatchNorm2D` normalise over `N·H·W` values per channel instead of over `N` values per
#    unit, as `BatchNorm1D` does?
#
#    <details><summary>Answer</summary>
#
#    A conv channel applies one filter at every position; its outputs at different positions are
#    the same feature. One mean and one variance per channel keeps the layer a convolution (the same
#    affine map everywhere) and gives far more values to estimate the statistics from.
#
#    </details>
#
# 2. The conv layer before a BatchNorm has a bias `b`. What is `dL/db`, and why?
#
#    <details><summary>Answer</summary>
#
#    0 (up to rounding): adding `b` to a channel shifts its batch mean by `b`, and the normalisation
#    subtracts it again. `beta` takes over its role, which is why ResNets build such convs without a
#    bias (tests/test_normalization.py checks it).
#
#    </details>
#
# 3. You evaluate a BatchNorm network in training mode by mistake, one image at a time. What happens?
#
#    <details><summary>Answer</summary>
#
#    <!-- BEGIN GRADED ANSWER -->
#    For `BatchNorm1D`, one value per feature has no variance: numpycnn (like PyTorch) refuses it.
#    For `BatchNorm2D`, with one image per batch each channel is normalised over that image's own
#    `H·W` pixels (like instance normalisation), not with the statistics the network was trained
#    with, so the predictions change; in larger batches they would also depend on the other images
#    (section 4 measured that). And every such forward pass moves the running statistics. `predict`
#    and `evaluate` switch to evaluation mode for you.
#
#    Rubric:
#    - 2 points: each image is normalised with its own statistics (its channel's H·W pixels), not the running ones the
#      network was trained with, so the predictions change
#    - 1 point: BatchNorm1D refuses a batch of one (no variance); or: in larger batches the output depends on the
#      other images
#    - 1 point: the running statistics are updated by these passes; the fix is evaluation mode (predict/evaluate
#      switch to it)
#    <!-- END GRADED ANSWER -->
#
#    </details>
#
# 4. Why is dropout scaled by `1/(1 − p)` during training rather than by `(1 − p)` at test time?
#
#    <details><summary>Answer</summary>
#
#    Both give the same expected activations; scaling at training time (inverted dropout) leaves the
#    evaluation-mode network untouched — no dropout-specific code in inference, and a model saved
#    from training is ready to use.
#
#    </details>
#
# 5. In the residual block's backward pass, what would go wrong if you returned only
#    `F.backward(dy)`?
#
#    <details><summary>Answer</summary>
#
#    The gradient through the skip path would be lost: the result is the gradient of `F(x)`, not of
#    `F(x) + x`, and a gradient check fails (your turn 5). It is the same mistake as technique A
#    returning only the first gradient instead of first + second.
#
#    </details>
#
# 6. In section 4, the residual network keeps its gradient but still learns more slowly than the
#    BatchNorm one. Why?
#
#    <details><summary>Answer</summary>
#
#    <!-- BEGIN GRADED ANSWER -->
#    Its signal does not collapse, but it is not rescaled either: the differences between images stay
#    at stage 1's small spread while each block adds a common offset of about 0.5. The classifier on
#    top must amplify small differences on a large shared value. BatchNorm gives every stage inputs
#    of unit spread.
#
#    Rubric:
#    - 2 points: the skip keeps the signal and the gradient alive, but nothing rescales the signal: the spread stays
#      small
#    - 1 point: the growing common offset (≈ 0.5 per block, a sigmoid's mean) that the small differences ride on
#    - 1 point: BatchNorm re-standardises every stage (unit spread), which makes the signal usable
#    <!-- END GRADED ANSWER -->
#
#    </details>

# %%
bn2 = nc.BatchNorm2D(3, dtype=np.float64)                             # 1. one mean per channel over N·H·W
y4 = bn2.forward(x4)
assert np.allclose(y4.mean(axis=(0, 2, 3)), 0, atol=1e-12) and not np.allclose(y4.mean(axis=(0,)), 0, atol=1e-3)
conv_bn = nc.Sequential([("conv", nc.Conv2D(3, 4, 3, pad=1, dtype=np.float64)),
                         ("bn", nc.BatchNorm2D(4, dtype=np.float64)), ("flat", nc.Flatten()),
                         ("fc", nc.Dense(4 * 5 * 5, 2, dtype=np.float64))], input_shape=(3, 5, 5))
ce_q = nc.SoftmaxCrossEntropy()                                       # 2. dL/db = 0 before a BatchNorm
ce_q.forward(conv_bn.forward(x4), np.array([0, 1, 0, 1]))
conv_bn.backward(ce_q.backward())
db_conv = conv_bn["conv"].grads["b"]
print("dL/db of the conv before BatchNorm:", db_conv,
      "| dL/dW norm:", f"{np.linalg.norm(conv_bn['conv'].grads['W']):.2e}")
assert np.abs(db_conv).max() < 1e-12 * np.linalg.norm(conv_bn["conv"].grads["W"])
one_alone = bn_model.forward(x8[:1])                                   # 3. training mode, a batch of one
assert np.abs(one_alone - bn_model.predict_logits(x8[:1])).max() > 1e-3
assert abs(yd.mean() - xd.mean()) < 0.05 and np.array_equal(out_eval, xd[:3, :8])     # 4. the mean kept
skipless = relative_error(body.backward(dyr), numeric)                 # 5. without the skip's gradient
print(f"your turn 5 without '+ dy': relative error {skipless:.2f} against central differences")
assert skipless > 0.1
assert final["residual"] < final["batchnorm"] and 0.5 < collapse["residual"] < 2     # 6. kept, not rescaled
print("all checks passed")
