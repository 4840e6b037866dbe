# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # Tutorial 9 — Initialisation and training dynamics: the numbers to check before and during training
#
# Tutorials 1–3 built and trained a CNN. Whether a run works often depends less on the architecture
# than on a handful of numbers you can check in seconds. This lesson measures each of them on real
# data:
#
# 1. **the initial loss** — `≈ log K` at initialisation, and what a much higher value means;
# 2. **variance propagation** — why Xavier and He initialisation keep the activations at one scale
#    through many layers, measured layer by layer;
# 3. **the learning rate** — a sweep from too small to divergence, with the divergence guard
#    stopping the run that blows up;
# 4. **the batch size** — the noise of a mini-batch gradient, and how it shrinks with the batch;
# 5. **the update/weight ratio** — `‖ΔW‖/‖W‖` per step and per layer as the diagnostic of the step size
#    (and what the often-quoted `1e-3` means);
# 6. **learning-rate schedules** — step and cosine decay, written by you, then `numpycnn.schedules`;
# 7. **weight decay** — on a run that really overfits (shown first, with numbers).
#
# **Assignment exercises taught here:** none — this lesson uses the layers and optimizers of
# tutorials 1–3 (recommended order: 1, 2, 3, 9, 10, then the techniques 4–8).
#
# Data: a Fashion-MNIST subset with LeNet-5 when the data set is installed, the embedded 8×8 digits with a
# small CNN in fast mode (or without it). *Your turn* cells are yours to write (the cell after each checks
# it); answers are folded. Run it with `python tutorials/09_initialisation_and_training_dynamics.py`
# (`NUMPYCNN_FAST=1`: well under a minute; full: about a minute on 2 cores, docs/tutorials.md) or as a
# notebook. Figures: inline in a notebook, else in
# `tutorials/figures/09_initialisation_and_training_dynamics/`.

# %%
import math
import os

import numpy as np
from matplotlib.figure import Figure

import numpycnn as nc
from numpycnn.errors import DatasetNotFoundError, DivergenceError

FAST = os.environ.get("NUMPYCNN_FAST", "0") == "1"
print("fast mode" if FAST else "full mode")
print("numpycnn imported from", nc.__file__)

if FAST:
    data = nc.datasets.load_dataset("digits", seed=0)
else:
    try:
        data = nc.datasets.load_dataset("fashion-mnist", train_limit=4000, test_limit=1000, seed=0)
    except DatasetNotFoundError as err:
        print("Fashion-MNIST not found, using the embedded digits instead:", str(err).splitlines()[0])
        data = nc.datasets.load_dataset("digits", seed=0)
print(data)
K = data.num_classes
LOG_K = math.log(K)


def build_model(seed=0, last_scale=0.1):
    """LeNet-5 (28×28) or the small CNN (8×8), output layer's weights scaled by ``last_scale``."""
    if data.input_shape[1] >= 28:
        model = nc.zoo.lenet5(data.input_shape, K, seed=seed)
    else:
        model = nc.zoo.small_cnn(data.input_shape, K, seed=seed)
    last = [name for name, _, _ in model.named_parameters() if name.endswith(".W")][-1]
    model.get_parameter(last)[...] *= last_scale
    return model

# %% [markdown]
# ## 1. The initial loss
#
# Before training, the network should have no opinion: about `1/K` for every class, cross-entropy
# `−log(1/K) = log K`. If the logits at initialisation are random with a small standard deviation
# `s`, a second-order expansion of `logsumexp` gives
#
# ```
# E[loss at init] ≈ log K + (1 − 1/K) · s² / 2            (small s)
# ```
#
# so the loss grows with the size of the initial logits. Measure it for a few scales of the output
# layer (1 is the zoo's default; tutorial 3 scaled it by 0.1):

# %%
xb, yb = data.train.x[:512], data.train.y[:512]
ce = nc.SoftmaxCrossEntropy()
scales = (0.01, 0.1, 0.3, 1.0, 3.0)
init_loss, logit_std = {}, {}
for scale in scales:
    z = build_model(seed=0, last_scale=scale).forward(xb)
    init_loss[scale], logit_std[scale] = ce.forward(z, yb), float(z.std())
    predicted = LOG_K + (1 - 1 / K) * logit_std[scale] ** 2 / 2
    print(f"output layer × {scale:<5g} logits std {logit_std[scale]:6.3f}   initial loss {init_loss[scale]:6.3f}   "
          f"small-s formula {predicted:6.3f}   (log K = {LOG_K:.3f})")

fig = Figure(figsize=(5, 3.2))
ax = fig.subplots()
s_grid = np.linspace(0, max(logit_std.values()), 100)
ax.plot(s_grid, LOG_K + (1 - 1 / K) * s_grid ** 2 / 2, "--", color="gray", label="log K + (1−1/K)s²/2")
ax.plot(list(logit_std.values()), list(init_loss.values()), "o", label="measured")
ax.axhline(LOG_K, color="k", lw=0.8, ls=":", label="log K")
ax.set(xlabel="standard deviation of the initial logits", ylabel="initial loss")
ax.legend()
ax.grid(alpha=0.3)
nc.plots.show(fig, "initial_loss")
assert abs(init_loss[0.01] - LOG_K) < 0.05 and abs(init_loss[0.1] - LOG_K) < 0.15
assert all(init_loss[a] < init_loss[b] for a, b in zip(scales, scales[1:]))
assert init_loss[1.0] > LOG_K + 1

# %% [markdown]
# **How to read the initial loss.** About `log K`: fine. Much higher: the initial logits are too
# large — the untrained network is confidently wrong, and the first hundreds of steps go into
# shrinking the logits instead of learning (scale the output layer down, or check the input
# normalisation: un-normalised pixels in 0..255 do the same). Much *lower* than `log K` before any
# training cannot come from the network: its weights are random, so its logits are zero-mean and
# exchangeable across the classes whatever the inputs hold (even leaked labels: an untrained network
# cannot use them), and by Jensen's inequality `E[loss] = E[logsumexp z] − E[z_y] ≥ logsumexp(E z) −
# E[z_y] = log K`. A value far below `log K` means the *loss or its evaluation* is wrong — a logarithm
# in base 10 (1.0 instead of 2.30), a mean over `N·K` entries instead of `N`, labels matched to the
# wrong rows, or weights that are not fresh (a checkpoint loaded by mistake). Leaked labels show up
# later, as a validation accuracy too good to be true. NaN: overflow already in the forward pass. (For
# large `s` the formula no longer holds: the loss then grows like `s`, dominated by the largest wrong
# logit.)
#
# ## 2. Variance propagation: Xavier and He, measured layer by layer
#
# Take a Dense layer `a = W h` with `fan_in` inputs. With independent, zero-mean weights of variance
# `Var[W]`,
#
# ```
# Var[a] = fan_in · Var[W] · E[h²]
# ```
#
# If `h = ReLU(a_prev)` with `a_prev` symmetric around 0, half the units are zero: `E[h²] = Var[a_prev]/2`.
# So `Var[a] = Var[a_prev]` layer after layer exactly when `Var[W] = 2 / fan_in` — **He** initialisation.
# **Xavier** (Glorot) uses `Var[W] = 2 / (fan_in + fan_out)`, i.e. `1/fan_in` for a square layer: made
# for tanh, whose slope is 1 at 0 and nothing is cut away — but the slope is below 1 everywhere else, so
# with tanh the variance still shrinks, slowly; with ReLU each layer halves it. A
# fixed small Gaussian (`std = 0.01`, the old default) shrinks it by `fan_in · 1e-4 / 2` per layer.
#
# Measure it: a 10-layer MLP of width 256 on a batch of real images, the standard deviation of every
# layer's pre-activation `a`.

# %%
DEPTH, WIDTH = 10, 256
x_flat = data.train.x[:256].reshape(256, -1).astype(np.float64)


def preactivation_stds(weights, activation):
    """Std of each layer's pre-activation a_l = h_{l-1} @ W_l.T for the list of weight matrices."""
    h, stds = x_flat, []
    for W in weights:
        a = h @ W.T
        stds.append(float(a.std()))
        h = np.maximum(a, 0) if activation == "relu" else np.tanh(a)
    return np.array(stds)


def layer_shapes():
    sizes = [x_flat.shape[1]] + [WIDTH] * DEPTH
    return [(out, inp) for inp, out in zip(sizes, sizes[1:])]


rng = np.random.default_rng(0)
inits = {
    "ReLU + He": ("relu", [nc.init.he_normal(s, rng, dtype=np.float64) for s in layer_shapes()]),
    "ReLU + Xavier": ("relu", [nc.init.xavier_uniform(s, rng, dtype=np.float64) for s in layer_shapes()]),
    "ReLU + N(0, 0.01²)": ("relu", [nc.init.normal(s, rng, std=0.01, dtype=np.float64) for s in layer_shapes()]),
    "tanh + Xavier": ("tanh", [nc.init.xavier_uniform(s, rng, dtype=np.float64) for s in layer_shapes()]),
}
stds = {label: preactivation_stds(weights, act) for label, (act, weights) in inits.items()}
for label, values in stds.items():
    print(f"{label:20s}", " ".join(f"{v:8.1e}" for v in values))

# %% [markdown]
# ### Your turn 1 — He initialisation by hand
#
# Write `he(shape, rng)`: Gaussian weights of variance `2 / fan_in` for a Dense weight of shape
# `(fan_out, fan_in)` (one line). The check builds the 10-layer ReLU MLP with your weights.

# %% tags=["solution"]
### BEGIN SOLUTION
def he(shape, rng):
    return rng.standard_normal(shape) * np.sqrt(2.0 / shape[1])
### END SOLUTION

# %%
rng_mine = np.random.default_rng(1)
mine = preactivation_stds([he(s, rng_mine) for s in layer_shapes()], "relu")
W_test = he((200, 400), np.random.default_rng(2))
assert W_test.shape == (200, 400) and abs(W_test.var() / (2 / 400) - 1) < 0.05, "Var[W] should be 2 / fan_in"
assert 0.5 < mine[-1] / mine[0] < 2, f"layer 10's std should stay within 2x of layer 1's; got {mine[-1] / mine[0]:.3g}"
print("your turn 1: correct — std of layer 10 / layer 1 =", round(mine[-1] / mine[0], 3))

# %%
fig = Figure(figsize=(6, 3.4))
ax = fig.subplots()
for label, values in stds.items():
    ax.semilogy(range(1, DEPTH + 1), values / values[0], "o-", label=label)
ax.set(xlabel="layer", ylabel="std of pre-activation / layer 1's", title=f"{DEPTH}-layer MLP, width {WIDTH}")
ax.legend(fontsize=8)
ax.grid(alpha=0.3, which="both")
nc.plots.show(fig, "variance_propagation")
ratio = {label: values[-1] / values[0] for label, values in stds.items()}
print({label: f"{r:.2g}" for label, r in ratio.items()})
assert 0.5 < ratio["ReLU + He"] < 2                                  # He: the scale is kept
assert 0.02 < ratio["ReLU + Xavier"] < 0.2                            # Xavier + ReLU: ≈ (1/√2)^9 ≈ 0.044
assert ratio["ReLU + N(0, 0.01²)"] < 1e-6                             # collapses: ≈ 0.113^9
assert 0.1 < ratio["tanh + Xavier"] < 1                               # tanh: shrinks, slowly

# %% [markdown]
# He keeps the scale; Xavier with ReLU loses a factor √2 per layer in theory (`(1/√2)^9 ≈ 0.044` after ten
# layers; the measured ratio, printed above, comes out a little higher — the theory assumes independent
# inputs); Xavier with tanh loses less, but loses (the ratio printed above is below 1: tanh's slope is below
# 1 away from 0); the fixed small Gaussian collapses the signal to almost nothing — the same collapse
# tutorial 2 saw with eight sigmoid layers, and the gradients shrink with it. numpycnn's zoo uses He for
# ReLU networks and Xavier for sigmoid/tanh ones (`nc.init`). The backward pass has the same arithmetic with
# `fan_out` in place of `fan_in`; Xavier's `2/(fan_in + fan_out)` is the compromise between the two.
#
# ## 3. The learning rate: a sweep, and divergence
#
# The same network (He initialisation, small output layer), plain SGD, the same batches; only the
# learning rate changes, over four orders of magnitude. The Trainer's **divergence guard** checks the
# loss and every gradient after each backward pass and stops with a `DivergenceError` naming the step —
# and the layer, when a gradient is the first value that is not finite — instead of training on silently
# on NaN.

# %%
LRS = (0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0)
SWEEP_STEPS = 100 if FAST else 300
sweep = {}
for lr in LRS:
    model = build_model(seed=0)
    trainer = nc.Trainer(model, nc.optim.SGD(model, lr=lr), seed=0, batch_size=32, progress=False)
    try:
        with np.errstate(over="ignore", invalid="ignore"):          # the overflow is the point here
            history = trainer.fit(data.train, epochs=1000, max_steps=SWEEP_STEPS)
            ce.forward(model.forward(xb), yb)                       # is any gradient left in the hidden layers?
            model.backward(ce.backward())
        alive = any(np.any(g != 0) for n, _, g in model.named_parameters() if n.startswith("conv"))
        sweep[lr] = ("learns" if alive else "dead", history["train_loss"][-1])
    except DivergenceError as err:
        sweep[lr] = ("diverged", float("nan"))
        print(f"lr {lr:g}: DivergenceError: {str(err).splitlines()[0]}")
for lr, (status, final) in sweep.items():
    print(f"lr {lr:6g}: {status:8s} mean training loss over the last (partial) epoch {final:.3f}")

# %%
fig = Figure(figsize=(6, 3.2))
ax = fig.subplots()
ok = [lr for lr in LRS if sweep[lr][0] != "diverged"]
learned = [lr for lr in LRS if sweep[lr][0] == "learns"]
dead = [lr for lr in LRS if sweep[lr][0] == "dead"]
ax.semilogx(ok, [sweep[lr][1] for lr in ok], "-", color="C0", lw=0.8)
ax.semilogx(learned, [sweep[lr][1] for lr in learned], "o", color="C0", label="learns")
ax.semilogx(dead, [sweep[lr][1] for lr in dead], "x", color="C3", ms=9, mew=2, label="dead (hidden gradients all 0)")
for lr in LRS:
    if sweep[lr][0] == "diverged":
        ax.axvline(lr, color="red", ls=":", lw=1)
ax.axhline(LOG_K, color="k", lw=0.8, ls=":", label="log K")
ax.set(xlabel="learning rate (SGD)", ylabel=f"training loss after {SWEEP_STEPS} steps",
       title="red dotted: diverged (DivergenceError)")
ax.legend()
ax.grid(alpha=0.3, which="both")
nc.plots.show(fig, "learning_rate_sweep")
best_lr = min(learned, key=lambda lr: sweep[lr][1])
print("best learning rate of the sweep:", best_lr)
assert sweep[LRS[-1]][0] == "diverged"                                 # the largest one blows up
assert sweep[best_lr][1] < 0.5 * LOG_K                                 # a middle one learns
assert sweep[LRS[0]][0] == "learns" and sweep[LRS[0]][1] > sweep[best_lr][1] + 0.3   # the smallest: slow
assert LRS[0] < best_lr < LRS[-1]

# %% [markdown]
# Three regimes. **Too small**: the loss creeps down — every step is correct but tiny. **About
# right**: fast progress (for SGD here around the best value printed above). **Too large**: the
# steps overshoot; far too large, the weights and logits overflow, the loss becomes NaN and the guard
# stops the run at the first bad step. Between the two there can be a quieter failure, printed as
# `dead` when it happens: one huge early step pushes the ReLUs into the region where they output 0
# for every image, every gradient below them is exactly 0, and the loss sits near `log K` for ever —
# no NaN, nothing for the guard to see. The update/weight ratio of section 5 catches it (exactly 0).
#
# ## 4. The batch size: how noisy is a mini-batch gradient?
#
# A mini-batch gradient `g_B` estimates the gradient of the whole training set `g`. Its error is an
# average of `B` per-example errors, so (drawing the batch without replacement from `n` examples)
#
# ```
# E ‖g_B − g‖² = (σ² / B) · (n − B)/(n − 1)        σ² = mean per-example ‖g_i − g‖²
# ```
#
# — the noise falls like `1/√B`. Measure it at the weights of a briefly trained network:

# %%
POOL = 1024
pool_x, pool_y = data.train.x[:POOL], data.train.y[:POOL]
model = build_model(seed=0)
nc.Trainer(model, nc.optim.SGD(model, lr=0.05), seed=0, batch_size=32, progress=False).fit(
    data.train, epochs=1000, max_steps=30)


def gradient(idx):
    """The mean-loss gradient of ``model`` on examples ``idx`` of the pool, as one float64 vector."""
    ce.forward(model.forward(pool_x[idx]), pool_y[idx])
    model.backward(ce.backward())
    return np.concatenate([g.ravel().astype(np.float64) for _, _, g in model.named_parameters()])


g_full = gradient(np.arange(POOL))
print(f"‖g‖ over all {POOL} examples: {np.linalg.norm(g_full):.4f}")

# %% [markdown]
# ### Your turn 2 — measure the noise
#
# Write `gradient_noise(B, draws, rng)`: draw `draws` batches of `B` distinct indices from
# `range(POOL)` (`rng.choice(POOL, B, replace=False)`), and return `sqrt(mean ‖gradient(idx) − g_full‖²)`.

# %% tags=["solution"]
### BEGIN SOLUTION
def gradient_noise(B, draws, rng):
    squared = [np.sum((gradient(rng.choice(POOL, B, replace=False)) - g_full) ** 2) for _ in range(draws)]
    return float(np.sqrt(np.mean(squared)))
### END SOLUTION

# %%
BATCHES = (8, 32, 128)
noise = {B: gradient_noise(B, 40, np.random.default_rng(B)) for B in BATCHES}
for B in BATCHES:
    predicted = noise[BATCHES[0]] * math.sqrt((BATCHES[0] / B) * (POOL - B) / (POOL - BATCHES[0]))
    print(f"B = {B:4d}: noise {noise[B]:.4f}   predicted from B = {BATCHES[0]} by the formula: {predicted:.4f}   "
          f"(‖g‖ = {np.linalg.norm(g_full):.4f})")
measured_ratio = noise[8] / noise[128]
predicted_ratio = math.sqrt(128 / 8 * (POOL - 8) / (POOL - 128))
print(f"noise(8) / noise(128): measured {measured_ratio:.2f}, predicted {predicted_ratio:.2f}")
assert noise[8] > noise[32] > noise[128], "the noise must fall as the batch grows"
assert abs(measured_ratio / predicted_ratio - 1) < 0.25, "the 1/sqrt(B) law should hold within 25 %"
assert noise[8] > np.linalg.norm(g_full)                               # at B = 8 the noise exceeds the gradient
print("your turn 2: correct")

# %% [markdown]
# At `B = 8` the noise is larger than the gradient itself: single steps point in fairly random
# directions, and only their average goes downhill. Larger batches give cleaner steps but cost
# proportionally more per step; at a fixed number of epochs, small batches take more (noisier)
# steps. A common heuristic when changing the batch size is to scale the learning rate with it
# (Goyal et al., 2017) — a rule of thumb to check with a sweep like section 3's, not a law.
#
# ## 5. The update/weight ratio
#
# The learning rate's scale means little on its own (the right value depends on the optimizer, the
# loss scale, the layer). What the network feels is how much each weight matrix changes per step
# *relative to its size*. A widely quoted rule of thumb (CS231n's notes) is `‖ΔW‖/‖W‖ ≈ 1e-3` per step.
# Read it as an order of magnitude for long runs of large networks, not as a target: the ratio is most
# useful *comparatively* — across layers, over time — and to catch the two failures it shows at once,
# exactly 0 (a dead layer) and about 1e-1 or more (a step that throws the weights around, before
# divergence).
#
# ### Your turn 3 — the ratio
#
# Write `update_ratio(before, after)` = `‖after − before‖ / ‖before‖` (Frobenius norms; one line).

# %% tags=["solution"]
### BEGIN SOLUTION
def update_ratio(before, after):
    return float(np.linalg.norm(after - before) / np.linalg.norm(before))
### END SOLUTION

# %%
assert math.isclose(update_ratio(np.array([3.0, 4.0]), np.array([3.0, 4.05])), 0.01)
print("your turn 3: correct")


class UpdateRatios(nc.Callback):
    """Records update_ratio of every weight matrix at every step."""

    def __init__(self):
        self.ratios = {}

    def on_batch_begin(self, trainer, x, y):
        self.before = {n: p.copy() for n, p, _ in trainer.model.named_parameters() if n.endswith(".W")}

    def on_step_end(self, trainer):
        for n, p, _ in trainer.model.named_parameters():
            if n.endswith(".W"):
                self.ratios.setdefault(n[:-2], []).append(update_ratio(self.before[n], p))


RATIO_STEPS = 100 if FAST else 200
ratio_runs = {"SGD lr 0.001": lambda m: nc.optim.SGD(m, lr=0.001), f"SGD lr {best_lr:g}": lambda m: nc.optim.SGD(m, lr=best_lr),
              "Adam lr 1e-3": lambda m: nc.optim.Adam(m, lr=1e-3)}
medians = {}
for label, make in ratio_runs.items():
    model = build_model(seed=0)
    recorder = UpdateRatios()
    nc.Trainer(model, make(model), callbacks=[recorder], seed=0, batch_size=32, progress=False).fit(
        data.train, epochs=1000, max_steps=RATIO_STEPS)
    medians[label] = {n: float(np.median(v)) for n, v in recorder.ratios.items()}
    print(f"{label:14s} median ‖ΔW‖/‖W‖ per step:", "  ".join(f"{n}={v:.1e}" for n, v in medians[label].items()))
    if label == "Adam lr 1e-3":
        adam_ratios = recorder.ratios

fig = Figure(figsize=(6, 3.2))
ax = fig.subplots()
for n, v in adam_ratios.items():
    ax.semilogy(v, lw=0.8, label=n)
ax.axhline(1e-3, color="k", ls=":", lw=0.8)
ax.set(xlabel="step", ylabel="‖ΔW‖ / ‖W‖", title="update/weight ratio per layer, Adam lr 1e-3")
ax.legend(fontsize=8)
ax.grid(alpha=0.3, which="both")
nc.plots.show(fig, "update_ratio")
hidden = [n for n in medians["Adam lr 1e-3"]][:-1]                    # every layer but the output layer
assert all(medians["SGD lr 0.001"][n] < 2e-4 for n in hidden)        # too small a step: far below 1e-3
assert all(3e-4 < medians["Adam lr 1e-3"][n] < 3e-2 for n in hidden)  # around 1e-3
assert all(3e-4 < medians[f"SGD lr {best_lr:g}"][n] < 5e-2 for n in hidden)
output = list(medians["Adam lr 1e-3"])[-1]
assert medians["Adam lr 1e-3"][output] > max(medians["Adam lr 1e-3"][n] for n in hidden)
best_hidden = max(medians[f"SGD lr {best_lr:g}"][n] for n in hidden)
print(f"the sweep's best rate ({best_lr:g}): largest hidden-layer median ratio {best_hidden:.1e}, "
      f"{best_hidden / 1e-3:.0f}x the rule of thumb's 1e-3")
assert best_hidden > 1e-3

# %% [markdown]
# With SGD at `lr = 0.001` the hidden layers move by less than 2e-4 of their size per step (printed) —
# the learning rate is far too small, as the sweep said. Adam at `1e-3` and SGD at the sweep's best
# learning rate sit between about 1e-3 and a few 1e-2. The best rate of this short run on a small
# network moves its hidden layers by *more* than the rule's 1e-3 (the largest hidden median is
# printed above): the rule is a scale to start from, and the sweep is what decides. (The output
# layer's ratio is larger still: section 1 started it ten times smaller.) A ratio of exactly 0 for
# every hidden layer is the "dead" network of section 3.
# Tracking this ratio during a run costs one copy of the weights per step and tells you, per layer,
# whether the step size is sane — long before the loss curve does.
#
# ## 6. Learning-rate schedules: step and cosine
#
# A large learning rate early makes fast progress; a small one late lets the weights settle into a
# minimum instead of bouncing around it. Two common schedules over `T` steps, from `lr0`:
#
# ```
# step     lr_t = lr0 · 0.1^(number of milestones ≤ t),  milestones at 50 % and 75 % of T
# cosine   lr_t = lr0 · (1 + cos(π t / T)) / 2             (lr0 at t = 0, 0 at t = T)
# ```
#
# In numpycnn a schedule is an object of `numpycnn.schedules` given to the optimizer
# (`SGD(model, lr=lr0, schedule=...)`): before update `t` the optimizer sets `lr = lr0 · f(t)`, and the
# schedule is saved with the optimizer, so a resumed run continues it exactly. You write the two
# formulas first; the library's `MultiStep` and `Cosine` must agree with them.
#
# ### Your turn 4 — the two schedules
#
# Write `step_lr(t, T, lr0)` and `cosine_lr(t, T, lr0)` (one or two lines each).

# %% tags=["solution"]
### BEGIN SOLUTION
def step_lr(t, T, lr0):
    return lr0 * 0.1 ** sum(t >= m for m in (0.5 * T, 0.75 * T))


def cosine_lr(t, T, lr0):
    return lr0 * (1 + math.cos(math.pi * t / T)) / 2
### END SOLUTION

# %%
assert step_lr(0, 100, 1.0) == 1.0 and math.isclose(step_lr(50, 100, 1.0), 0.1)
assert math.isclose(step_lr(99, 100, 1.0), 0.01) and math.isclose(step_lr(74, 100, 2.0), 0.2)
assert cosine_lr(0, 100, 1.0) == 1.0 and math.isclose(cosine_lr(50, 100, 1.0), 0.5)
assert abs(cosine_lr(100, 100, 1.0)) < 1e-15
print("your turn 4: correct")


class LearningRates(nc.Callback):
    """Records the learning rate of every update (the optimizer sets it from its schedule)."""

    def __init__(self):
        self.used = []

    def on_step_end(self, trainer):
        self.used.append(trainer.optimizer.lr)


EPOCHS = 8 if FAST else 6
BATCH = 64
TOTAL = EPOCHS * -(-len(data.train) // BATCH)
LR0 = 0.05
library = {"constant": nc.schedules.Constant(), "step": nc.schedules.MultiStep([math.ceil(TOTAL / 2), math.ceil(3 * TOTAL / 4)], 0.1),
           "cosine": nc.schedules.Cosine(TOTAL)}
yours = {"constant": lambda t, T, lr0: lr0, "step": step_lr, "cosine": cosine_lr}
scheduled = {}
for label, schedule in library.items():
    model = build_model(seed=0)
    recorder = LearningRates()
    trainer = nc.Trainer(model, nc.optim.SGD(model, lr=LR0, momentum=0.9, schedule=schedule), callbacks=[recorder],
                         seed=0, batch_size=BATCH, progress=False)
    history = trainer.fit(data.train, data.val, epochs=EPOCHS)
    scheduled[label] = (history, recorder.used)
    assert np.allclose(recorder.used, [yours[label](t, TOTAL, LR0) for t in range(TOTAL)], rtol=1e-12)  # = yours
    print(f"{label:8s}: final training loss {history['train_loss'][-1]:.4f}, validation loss "
          f"{history['val_loss'][-1]:.4f}, validation accuracy {history['val_acc'][-1]:.3f}")

fig = Figure(figsize=(9, 3.2))
ax1, ax2 = fig.subplots(1, 2)
for label, (history, used) in scheduled.items():
    ax1.plot(used, label=label)
    ax2.plot(history["epoch"], history["train_loss"], "o-", label=label)
ax1.set(xlabel="step", ylabel="learning rate", title="the schedules (SGD, momentum 0.9)")
ax2.set(xlabel="epoch", ylabel="training loss", yscale="log", title="training loss per epoch")
for ax in (ax1, ax2):
    ax.legend()
    ax.grid(alpha=0.3)
fig.tight_layout()
nc.plots.show(fig, "schedules")
first_cut_epoch = int(0.5 * TOTAL) // -(-len(data.train) // BATCH)        # epochs completed before the first cut
assert scheduled["step"][0]["train_loss"][:first_cut_epoch] == scheduled["constant"][0]["train_loss"][:first_cut_epoch]
after_cut = {label: scheduled[label][0]["train_loss"][first_cut_epoch] for label in ("constant", "step")}
print(f"training loss in epoch {first_cut_epoch + 1}, the epoch of the first cut: "
      f"constant {after_cut['constant']:.4f}, step {after_cut['step']:.4f}; at the end: "
      f"constant {scheduled['constant'][0]['train_loss'][-1]:.4f}, step {scheduled['step'][0]['train_loss'][-1]:.4f}")
assert after_cut["step"] < after_cut["constant"]                   # the first cut: a drop

# %% [markdown]
# Read the curves: the constant and the step run are the same run, bit for bit, until the first milestone
# (same seed, same batches — checked above); cosine departs from the first step. In the epoch of the first
# cut the step run's training loss drops below the constant run's (printed and asserted): a smaller rate
# lets the weights stop bouncing across the bottom of a valley. The second cut leaves `lr0 · 0.01`, steps a
# hundred times smaller: compare the two runs' final losses (printed) — if the step run ends higher, its
# second cut came too deep for this budget, a common way for a schedule to go wrong; if it ends lower, the
# cuts were placed where the loss could still gain from smaller steps. Whether a schedule gives a *better
# network* is a question for the validation split, over several seeds and with each arm's `lr0` tuned; one
# seed, as here, shows the mechanism, not the benefit.
#
# ## 7. Weight decay, on a run that really overfits
#
# First the overfitting, with numbers: a tiny training set, many epochs, Adam.

# %%
TINY = 50 if data.input_shape[1] < 28 else 100
OVERFIT_EPOCHS = 60
tiny = nc.datasets.Dataset(data.train.x[:TINY], data.train.y[:TINY])


def overfit_run(weight_decay):
    model = build_model(seed=0)
    trainer = nc.Trainer(model, nc.optim.Adam(model, lr=3e-3, weight_decay=weight_decay), seed=0,
                         batch_size=10, progress=False)
    history = trainer.fit(tiny, data.val, epochs=OVERFIT_EPOCHS)
    weight_norm = math.sqrt(sum(float(np.sum(p.astype(np.float64) ** 2))
                                for n, p, _ in model.named_parameters() if n.endswith(".W")))
    return model, history, weight_norm


plain_model, plain, plain_norm = overfit_run(0.0)
val_loss = np.array(plain["val_loss"])
print(f"no weight decay, {TINY} images, {OVERFIT_EPOCHS} epochs: training loss {plain['train_loss'][-1]:.4f} "
      f"(accuracy {plain['train_acc'][-1]:.2f}); validation loss lowest {val_loss.min():.3f} at epoch "
      f"{val_loss.argmin() + 1}, at the end {val_loss[-1]:.3f} ({100 * (val_loss[-1] / val_loss.min() - 1):.0f} % higher)")
assert val_loss.argmin() + 1 <= OVERFIT_EPOCHS // 2 and val_loss[-1] > 1.1 * val_loss.min()   # it really overfits

# %% [markdown]
# The training loss goes to almost 0 while the validation loss, after its minimum, climbs: the network
# memorises the tiny set and grows ever more confident, also on the validation images it gets wrong.
# **Weight decay** adds `λ·‖W‖²/2` to the loss (`g ← g + λ·W` in every optimizer of numpycnn, as in
# `torch.optim`): every step also pulls each weight towards 0, so the network cannot grow its weights —
# and its confidence — without limit. Two details: numpycnn decays *every* parameter, biases included
# (as `torch.optim` does unless told otherwise), and under Adam this is the coupled L2 of the original
# Adam — the `λ·W` term is divided by Adam's running RMS like the rest of the gradient — not AdamW's
# decoupled decay. Try a few `λ` and choose on the **validation** split:

# %%
DECAYS = (1e-3, 1e-2, 3e-2)
decayed = {0.0: (plain_model, plain, plain_norm)}
for wd in DECAYS:
    decayed[wd] = overfit_run(wd)
print(f"{'λ':>7s} {'‖W‖':>6s} {'train loss':>10s} {'val loss: min':>13s} {'end':>6s} {'val acc':>8s}")
for wd, (_, h, norm) in decayed.items():
    vl = np.array(h["val_loss"])
    print(f"{wd:7g} {norm:6.1f} {h['train_loss'][-1]:10.4f} {vl.min():13.3f} {vl[-1]:6.3f} {h['val_acc'][-1]:8.3f}")
chosen = min(DECAYS, key=lambda wd: decayed[wd][1]["val_loss"][-1])
print("chosen on validation: λ =", chosen)

fig = Figure(figsize=(6, 3.2))
ax = fig.subplots()
for wd, (_, h, _) in decayed.items():
    ax.plot(h["epoch"], h["val_loss"], label=f"λ = {wd:g}")
ax.set(xlabel="epoch", ylabel="validation loss", title=f"{TINY} training images, Adam lr 3e-3")
ax.legend()
ax.grid(alpha=0.3)
nc.plots.show(fig, "weight_decay")
norms = [decayed[wd][2] for wd in (0.0,) + DECAYS]
assert all(a > b for a, b in zip(norms, norms[1:]))                   # larger λ, smaller weights
assert decayed[chosen][1]["val_loss"][-1] < plain["val_loss"][-1]     # less validation loss at the end

# %% [markdown]
# The chosen `λ` was picked on the validation split, so its validation numbers flatter it; the test
# split, used once, says how much of the gain is real:

# %%
test_plain = plain_model.evaluate(data.test.x, data.test.y)
test_chosen = decayed[chosen][0].evaluate(data.test.x, data.test.y)
print(f"test: no decay loss {test_plain['loss']:.3f}, accuracy {test_plain['accuracy']:.3f}; "
      f"λ = {chosen:g} loss {test_chosen['loss']:.3f}, accuracy {test_chosen['accuracy']:.3f}")
assert test_chosen["loss"] < test_plain["loss"]

# %% [markdown]
# Weight decay keeps the weights small and the late-training confidence in check, so the loss on
# unseen images stays lower at the end. Two numbers of the table above qualify that. The *lowest*
# validation loss (the `min` column) is about the same with and without decay: here decay mostly slows
# the late rise — which early stopping (tutorial 3) would have cut off anyway. And accuracy is a
# different matter: the largest `λ` shrinks the weights so much that it costs validation accuracy
# (printed below), whether or not it is the one chosen — choosing `λ` by the validation *loss* rewards
# calibrated confidence, not more correct answers, and with this little data no regulariser replaces
# the missing examples. Tutorial 10 adds Dropout.

# %%
lowest = {wd: min(h["val_loss"]) for wd, (_, h, _) in decayed.items()}
accuracy = {wd: h["val_acc"][-1] for wd, (_, h, _) in decayed.items()}
print(f"lowest validation loss: no decay {lowest[0.0]:.3f}, chosen λ = {chosen:g} {lowest[chosen]:.3f}; "
      f"final validation accuracy: no decay {accuracy[0.0]:.3f}, chosen {accuracy[chosen]:.3f}, "
      f"λ = {DECAYS[-1]:g} {accuracy[DECAYS[-1]]:.3f}")
assert abs(lowest[chosen] - lowest[0.0]) < 0.1 * lowest[0.0]           # the minimum: about the same
assert accuracy[DECAYS[-1]] < accuracy[0.0]                             # the largest λ costs accuracy
#
# ## Check yourself
#
# 1. A fresh 10-class network starts at loss 9.5. What do you check first? And if it started at 0.4?
#
#    <details><summary>Answer</summary>
#
#    <!-- BEGIN GRADED ANSWER -->
#    The size of the initial logits: `log 10 ≈ 2.30` is expected, 9.5 means large, confidently wrong
#    logits — an output layer initialised too large, or inputs that are not normalised (pixels in
#    0..255). Scale the output layer down / normalise the inputs and check again. A start at 0.4 is
#    impossible for a fresh network (random logits give at least `log K` on average, by Jensen): the
#    loss computation is wrong (log base 10, a mean over the wrong count, labels on the wrong rows) or
#    the weights are not fresh.
#
#    Rubric:
#    - 1 point: 9.5 ≫ log 10 ≈ 2.30 means large, confidently wrong initial logits
#    - 1 point: the causes to check: an output layer initialised too large, or unnormalised inputs
#    - 2 points: 0.4 < log K cannot come from an untrained network (≥ log K on average); suspect the loss code or
#      stale weights
#    <!-- END GRADED ANSWER -->
#
#    </details>
#
# 2. Why does He initialisation use `2/fan_in` and not `1/fan_in`?
#
#    <details><summary>Answer</summary>
#
#    ReLU sets half of its inputs to zero, so `E[h²] = Var[a]/2`; the factor 2 makes up for it and
#    keeps `Var[a]` the same from layer to layer. With `1/fan_in` (Xavier for a square layer) each
#    ReLU layer halves the variance.
#
#    </details>
#
# 3. Your run's loss becomes NaN at step 120. What does the divergence guard tell you, and what do you
#    change?
#
#    <details><summary>Answer</summary>
#
#    `DivergenceError` names the step — and, when a gradient is the first value that is not finite, the
#    first layer (from the output down) whose gradient it is; if the trainer writes checkpoints
#    (`checkpoint_path`), the last good one is kept. Lower the learning rate (a sweep as in section 3
#    shows where divergence starts), then look at the update/weight ratios of the layers.
#
#    </details>
#
# 4. You go from batch 32 to batch 128. By how much does the gradient noise change?
#
#    <details><summary>Answer</summary>
#
#    It halves (`1/√B`: `√(128/32) = 2`), a little more when the batch is a large part of the data
#    set (the `(n − B)/(n − 1)` factor).
#
#    </details>
#
# 5. The update/weight ratio of one layer is 1e-6 while the others are near 1e-3. What is going on?
#
#    <details><summary>Answer</summary>
#
#    <!-- BEGIN GRADED ANSWER -->
#    That layer hardly learns: its gradient is tiny (vanishing gradients, dead ReLUs, a saturated
#    sigmoid) or its weights are huge. Look at its gradient norm and its activations; a per-layer
#    step (an adaptive optimizer) or a better initialisation fixes the symptom, but find the cause.
#
#    Rubric:
#    - 2 points: that layer barely learns: its steps are a thousand times smaller relative to its weights than the
#      others'
#    - 1 point: a cause: a tiny gradient (vanishing, dead ReLUs, saturated sigmoid) or huge weights
#    - 1 point: what to look at next: that layer's gradient norm and activations (not just raise the learning rate)
#    <!-- END GRADED ANSWER -->
#
#    </details>
#
# 6. Why did section 7 choose `λ` on the validation split and look at the test split only once?
#
#    <details><summary>Answer</summary>
#
#    Any choice made by looking at a split fits that split a little; the test split stays an honest
#    estimate only if nothing was chosen on it.
#
#    </details>

# %%
assert init_loss[1.0] > LOG_K + 1 and abs(init_loss[0.01] - LOG_K) < 0.05              # 1.
assert min(init_loss.values()) >= LOG_K - 0.05                                         # 1. never far below log K
assert 0.5 < ratio["ReLU + He"] < 2 and ratio["ReLU + Xavier"] < 0.2                   # 2.
assert sweep[LRS[-1]][0] == "diverged"                                                  # 3.
assert abs(noise[32] / noise[128] / math.sqrt(4 * (POOL - 32) / (POOL - 128)) - 1) < 0.25   # 4.
assert all(medians["SGD lr 0.001"][n] < 2e-4 for n in hidden)                           # 5.
print("all checks passed")
