# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # Tutorial 5 — Technique B: the gradient-direction optimizer
#
# Plain gradient descent moves by `lr · g`: a big gradient means a big step, a tiny gradient a
# tiny one. Technique B (patent "基于梯度方向参数优化的神经网络的图像分类方法", spec section B)
# keeps only the gradient's **direction** and chooses the **length** itself:
#
# ```
# ‖g‖     = sqrt(sum of g² over ALL parameters of the model)      total gradient norm
# x_{t+1} = x_t − α_t · g / ‖g‖                                   every step has length α_t
# α_0     = c · √N,   c = 0.0014, N = number of parameters        initial step (S1031)
# α_{t+1} = α_t · (1 − β),  β = 0.0003                            step decay (S1033)
# ```
#
# In this tutorial you will
# 1. read the real implementation, claim step by claim step;
# 2. check with your own eyes that every step has length α_t;
# 3. see why α0 grows like √N;
# 4. train the same network with direction and with Adam and compare.
#
# Run it with `python tutorials/05_gradient_direction.py` (set `NUMPYCNN_FAST=1` for a quick run)
# or open it as a notebook: `jupytext --to ipynb tutorials/05_gradient_direction.py`.

# %%
import inspect
import math
import os
import tempfile

import matplotlib
matplotlib.use("Agg")
import numpy as np
from matplotlib.figure import Figure

import numpycnn as nc
from numpycnn.techniques import gradient_direction as B

FAST = os.environ.get("NUMPYCNN_FAST", "0") == "1"
OUT = tempfile.mkdtemp(prefix="tutorial05-")

# %% [markdown]
# ## 1. The claim steps in code
#
# | claim step (spec section B) | where |
# |---|---|
# | S1031 initial step α0 from the parameter count N | `initial_step(N, c)`, called by `GradientDirection.__init__` |
# | S1032 gradient direction `g/‖g‖` with the **total** gradient norm; `x ← x − α_t·g/‖g‖` | `global_gradient_norm`, `GradientDirection.step` |
# | S1033 step decay `α ← α(1−β)` when the step is above the set threshold (two readings) | end of `GradientDirection.step` |
# | S1034 end condition: epochs, a loss value or a test accuracy | `Trainer.fit(epochs=, target_loss=, target_accuracy=)` |
#
# Here is the whole update — S1032 then S1033:

# %%
print(inspect.getsource(B.GradientDirection.step))
print(inspect.getsource(B.global_gradient_norm))

# %% [markdown]
# ## 2. Every step has length α_t
#
# Take a small CNN on the embedded digits, one batch, and do a few updates by hand. We measure
# `‖x_{t+1} − x_t‖` over all parameters together and compare it with `α_t`.

# %%
data = nc.datasets.load_dataset("digits", seed=0)
model = nc.zoo.small_cnn(data.input_shape, seed=0)
opt = B.GradientDirection(model)
loss = nc.losses.SoftmaxCrossEntropy()
print(opt)

for t in range(5):
    x, y = data.train.x[64 * t:64 * (t + 1)], data.train.y[64 * t:64 * (t + 1)]
    loss.forward(model.forward(x), y)          # forward pass and loss
    model.backward(loss.backward())            # fills every layer's grads
    before = np.concatenate([p.ravel().astype(np.float64) for _, p, _ in model.named_parameters()])
    alpha = opt.alpha
    opt.step()
    after = np.concatenate([p.ravel().astype(np.float64) for _, p, _ in model.named_parameters()])
    print(f"t={t}: α_t = {alpha:.6f}   ‖x_(t+1) − x_t‖ = {np.linalg.norm(after - before):.6f}")

# %% [markdown]
# The two columns agree to float32 rounding, whatever the size of the gradient. Multiply the loss
# by 1000 and the direction — hence the whole trajectory — does not change; Adam would not move
# either (it is scale-invariant too), but SGD would take steps 1000 times longer.

# %% [markdown]
# ## 3. Why α0 = c·√N?
#
# A step of length α spread over N entries has a root-mean-square of `α/√N` **per entry**.
# Choosing `α0 = c·√N` therefore gives every parameter an RMS step of `c = 0.0014`, whatever the
# network size — about what Adam does at `lr = 1e-3`. The patent's LeNet-size CIFAR-10 network
# has N = 62 006 parameters:

# %%
for N in (1_000, 62_006, 1_000_000):
    a0 = B.initial_step(N)
    print(f"N = {N:>9,}: α0 = {a0:.4f},  per-entry RMS step α0/√N = {a0 / math.sqrt(N):.4f}")
assert abs(B.initial_step(62_006) - 0.0014 * math.sqrt(62_006)) < 1e-15

# %% [markdown]
# The decay is tiny per step — β = 0.0003 — but it compounds: after 10 000 iterations
# `α = α0 · 0.9997^10000 ≈ 0.05 α0`. Here is the schedule, under both readings of S1033
# (decide once from α0 vs. decay while above the threshold and then hold):

# %%
literal = B.GradientDirection(model, alpha0=0.35, threshold=0.1, decay_mode="initial").alphas(10_000)
above = B.GradientDirection(model, alpha0=0.35, threshold=0.1, decay_mode="above").alphas(10_000)
fig = Figure(figsize=(6, 3))
ax = fig.subplots()
ax.plot(literal, label="'initial': decay for ever (α0 > threshold)")
ax.plot(above, "--", label="'above': decay, then hold at the threshold")
ax.set_xlabel("iteration")
ax.set_ylabel("α_t")
ax.legend(fontsize=8)
nc.plots.save_figure(fig, os.path.join(OUT, "schedule.png"))
print("schedule figure:", os.path.join(OUT, "schedule.png"))

# %% [markdown]
# ## 4. Direction vs. Adam on real data
#
# The same network, the same initial weights, the same batch order: only the optimizer differs.
# (The full side-by-side table with five optimizers, several seeds and time-to-target is
# `python -m numpycnn compare optimizers`; its result is in the README.)

# %%
epochs = 2 if FAST else 10
results = {}
for name in ("direction", "adam"):
    m = nc.zoo.small_cnn(data.input_shape, seed=1)
    o = B.GradientDirection(m) if name == "direction" else nc.optim.Adam(m, lr=1e-3)
    trainer = nc.Trainer(m, o, seed=1, batch_size=64, progress=False)
    history = trainer.fit(data.train, data.val, epochs=epochs)
    results[name] = m.evaluate(data.test.x, data.test.y)["accuracy"]
    print(f"{name:9s}: validation accuracy per epoch {np.round(history['val_acc'], 3).tolist()}, "
          f"test {results[name]:.3f}")

# %% [markdown]
# ## Check yourself
#
# 1. Why must the norm be taken over **all** parameters together, not per layer? (Hint: what
#    would LARS do to a layer whose gradients are 1e-6 while another's are 1e3?)
# 2. What happens to a parameter whose gradient is exactly 0 in every step?
# 3. If you double N (a wider network), how does α0 change, and how does the per-entry step change?

# %%
assert math.isclose(B.initial_step(62_006), 0.348614, rel_tol=1e-5)
assert B.global_gradient_norm([np.array([3.0]), np.array([[4.0]])]) == 5.0
assert all(0 <= v <= 1 for v in results.values())
print("all checks passed")
