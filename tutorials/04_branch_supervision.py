# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # Tutorial 4 — Technique A: branch supervision and the gradient at a fork
#
# In a deep *plain* sigmoid network the gradient shrinks layer after layer on its way down (each
# sigmoid multiplies it by at most 1/4). Technique A (spec section A; Deeply-Supervised Nets and
# GoogLeNet's auxiliary heads are its published cousins) hangs a small classifier — the **branch
# supervisor** — between two conv layers, so the low layers receive a second, fresh gradient.
#
# At the branch point `h_k` (between conv k and conv k+1):
#
# ```
# first  gradient  G1 = ∂L_main/∂h_k              from conv k+1, the way backprop always goes
# second gradient  G2 = λ · ∂L_branch/∂h_k        from the branch's own backward pass
# third  gradient  G3 = G1 + G2                   what is passed on to conv k and below
# ```
#
# You will
# 1. find the layer where the gradient has vanished;
# 2. attach a branch there and see `first + second == third`, exactly;
# 3. check that `third` is the gradient of `L_main + λ·L_branch` — the chain rule at a fork;
# 4. watch the gradient flow with and without the branch during training.
#
# Run: `python tutorials/04_branch_supervision.py` (`NUMPYCNN_FAST=1` for a quick run).

# %%
import inspect
import os
import tempfile

import matplotlib
matplotlib.use("Agg")
import numpy as np
from matplotlib.figure import Figure

import numpycnn as nc
from numpycnn.gradcheck import numerical_gradient, relative_error
from numpycnn.techniques import branch_supervision as A

FAST = os.environ.get("NUMPYCNN_FAST", "0") == "1"
OUT = tempfile.mkdtemp(prefix="tutorial04-")

# %% [markdown]
# ## The claim steps in code
#
# | claim step (spec section A) | where |
# |---|---|
# | 1. forward through all layers → main prediction, main loss | `Trainer.train_step` (`model.forward`, `loss.forward`) |
# | 2. forward through the branch → branch prediction, branch loss (its probability error is `softmax(z) − onehot(y)`) | `Branch.branch_point_backward`, first two lines |
# | 3. backward from the output down to conv k+1 → **first gradient** | `Sequential.backward` hands it to the backward hook at `h_k` |
# | 4. the branch's backward → **second gradient** (× λ) | `Branch.branch_point_backward` |
# | 5. **third = first + second**, passed to conv k and below | `Branch.branch_point_backward` (the sum is written out) |
# | 6. branch parameters: step of length coefficient·‖gradient‖ against the gradient (= SGD, lr = coefficient) | `Branch.update` |
# | 7. stop on a loss threshold or an iteration count | `Trainer.fit(target_loss=, max_steps=)` |
# | automatic placement: the first layer (from the output) whose gradient fell below a threshold | `measure_gradient_profile`, `choose_branch_point` |

# %%
print(inspect.getsource(A.Branch.branch_point_backward))
print(inspect.getsource(A.Branch.update))

# %% [markdown]
# ## 1. Where does the gradient vanish?
#
# An 8-layer plain sigmoid CNN on the embedded digits. We measure the mean |∂L/∂W| of every conv
# layer over a few batches (no update) and let the text's rule pick the branch point.

# %%
data = nc.datasets.load_dataset("digits", seed=0)
model = nc.zoo.plain_cnn(data.input_shape, depth=8, width=8, activation_name="sigmoid", seed=0)
profile = A.measure_gradient_profile(model, data.train.x, data.train.y, batches=3)
for name, value in profile.items():
    print(f"{name}: mean |dL/dW| = {value:.2e}")
conv = A.choose_branch_point(profile, ratio=0.1)
at = A.branch_point_after(model, conv)
print(f"the gradient fell below 10 % of the top layer's at {conv}: attach the branch at {at!r}")

# %% [markdown]
# ## 2. first + second = third
#
# Attach the branch, run one forward/backward of the *main* loss — the backward hook at `h_k`
# does steps 2, 4 and 5 — and look at the three gradients it kept.

# %%
branch = A.Branch(model, at, hidden=(32,), weight=1.0)
print(branch)
loss = nc.losses.SoftmaxCrossEntropy()
x, y = data.train.x[:64], data.train.y[:64]
branch.set_labels(y)
loss.forward(model.forward(x), y)
model.backward(loss.backward())
print("‖first‖ =", np.linalg.norm(branch.first), " ‖second‖ =", np.linalg.norm(branch.second))
assert np.array_equal(branch.third, branch.first + branch.second)
print("third == first + second: exactly")

# %% [markdown]
# ## 3. The chain rule at a fork
#
# `h_k` feeds two paths — the rest of the trunk and the branch — so the gradient of
# `L_main + λ·L_branch` with respect to `h_k` is the sum of the two paths' gradients: exactly G3.
# Check it with central differences in float64 on a small copy.

# %%
small = nc.zoo.plain_cnn(data.input_shape, depth=3, width=3, activation_name="sigmoid", seed=1, dtype=np.float64)
b = A.Branch(small, "act2", weight=0.5)
xs, ys = data.train.x[:4].astype(np.float64), data.train.y[:4]
b.set_labels(ys)
loss.forward(small.forward(xs), ys)
small.backward(loss.backward())
names = list(small.layers)
k = names.index("act2")
h = xs
for n in names[:k + 1]:
    h = small[n].forward(h)


def total_loss():
    z = h
    for n in names[k + 1:]:
        z = small[n].forward(z)
    return loss.forward(z, ys) + 0.5 * loss.forward(b.net.forward(h, check=False), ys)


numeric = numerical_gradient(total_loss, h)
print("relative error of third vs central differences:", relative_error(b.third, numeric))

# %% [markdown]
# ## 4. Gradient flow during training
#
# Train the 8-layer network twice — plain and with the branch — recording ‖∂L/∂W‖ of every conv
# layer at every step (`GradientFlow`). The branch lifts the gradient of the layers below it.
# (The full experiment on Fashion-MNIST with seeds, curves and the table is
# `python -m numpycnn compare branch`; its result is in the README.)

# %%
steps = 20 if FAST else 200
flows = {}
for use_branch in (False, True):
    m = nc.zoo.plain_cnn(data.input_shape, depth=8, width=8, activation_name="sigmoid", seed=0)
    flow = A.GradientFlow(layers=m.conv_layers())
    callbacks = [flow]
    if use_branch:
        callbacks.insert(0, A.BranchSupervision([A.Branch(m, at, hidden=(32,))]))
    nc.Trainer(m, nc.optim.Adam(m, lr=1e-3), callbacks=callbacks, batch_size=64, progress=False).fit(
        data.train, epochs=100, max_steps=steps)
    flows[use_branch] = {n: np.mean(v) for n, v in flow.norms.items()}

fig = Figure(figsize=(6, 3.2))
ax = fig.subplots()
for use_branch, label in ((False, "plain"), (True, f"branch at {at}")):
    ax.semilogy(list(flows[use_branch].values()), "o-", label=label)
ax.set_xticks(range(8), list(flows[False]))
ax.set_ylabel("mean ‖∂L/∂W‖")
ax.legend()
nc.plots.save_figure(fig, os.path.join(OUT, "gradient_flow.png"))
print("gradient flow figure:", os.path.join(OUT, "gradient_flow.png"))
for n in flows[False]:
    print(f"{n}: plain {flows[False][n]:.2e}   with branch {flows[True][n]:.2e}")

# %% [markdown]
# ## Check yourself
#
# 1. Why is G3 = G1 + G2 not a "trick" but simply the chain rule? What is the loss it differentiates?
# 2. With λ = 0, what are the trunk's gradients? (Test it: they are bitwise those of the plain net.)
# 3. The text says the branch moves "towards the gradient direction". Why do we descend instead, and
#    why is "a step of length coefficient × ‖gradient‖" just SGD?
# 4. Why is the branch never used by `model.predict`?

# %%
assert relative_error(b.third, numeric) < 1e-7
assert flows[True]["conv1"] > flows[False]["conv1"]
print("all checks passed")
