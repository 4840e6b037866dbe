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
# **The problem.** Tutorial 2 measured a deep *plain* sigmoid CNN: going back through each layer the
# gradient shrinks by a roughly constant factor, so the layers near the input receive almost none of
# the training signal (and the features of different images grow alike on the way up).
#
# **The idea.** Do not make the low layers wait for a signal that has to travel through the whole
# network: hang a small classifier — a **branch supervisor**, one fully connected layer or a short
# stack — off the middle of the trunk, and let it classify the image from the features there. Its own
# loss sends a second, fresh gradient into the layers below it. The branch is used for training only;
# predictions still come from the main output. Published relatives: Deeply-Supervised Nets (Lee et
# al., 2015), GoogLeNet's auxiliary classifiers, and Wang et al. (2015), who also place the branch
# where the gradient has vanished.
#
# **Three gradients.** Call `h_k` the trunk's features at the branch point (between conv `k` and conv
# `k+1`). During the backward pass `h_k` receives two gradients, and passes their sum on:
#
# ```
# first  gradient  G1 = ∂L_main/∂h_k              from conv k+1, the way backprop always goes
# second gradient  G2 = λ · ∂L_branch/∂h_k        from the branch's own backward pass (λ = 1 in the source)
# third  gradient  G3 = G1 + G2                   what is passed on to conv k and below
# ```
#
# This is not a trick but the chain rule at a fork: `h_k` feeds two paths (the rest of the trunk and
# the branch), so the gradient of `L_main + λ·L_branch` with respect to `h_k` is the sum of the two
# paths' gradients — exactly G3.
#
# **The claim steps** (the source text's, in plain words): (1) forward through all layers → main
# prediction and main loss; (2) forward from `h_k` through the branch → branch prediction and branch
# loss (its "class-probability error" is `softmax(z) − onehot(y)`, tutorial 2's probability error);
# (3) backward from the output down to conv `k+1` → first gradient; (4) the branch's backward → second
# gradient; (5) third = first + second, passed down; (6) the branch's own parameters take a step of
# length `coefficient × ‖gradient‖` against their gradient (that is plain SGD with learning rate =
# coefficient); (7) stop at a loss threshold or an iteration count. Also in the text: put the branch
# where the back-propagated gradient has fallen below a threshold.
#
# In this lesson you will
# 1. find the layer where the gradient has vanished;
# 2. compute the three gradients yourself and compare them with the library's;
# 3. check that the third gradient is the gradient of `L_main + λ·L_branch` — the chain rule at a fork;
# 4. watch the gradient flow with and without the branch during training;
# 5. learn to tell "mechanism verified" from "benefit measured".
#
# **Assignment exercises taught here:** `techniques.branch_supervision.Branch.branch_point_backward`.
#
# *Your turn* cells are yours to write (the cell after each checks it); answers are folded. Run:
# `python tutorials/04_branch_supervision.py` (`NUMPYCNN_FAST=1` for a quick run), or as a notebook.
# Figures: inline in a notebook, else in `tutorials/figures/04_branch_supervision/`.

# %%
import inspect
import os

import numpy as np
from matplotlib.figure import Figure

import numpycnn as nc
from numpycnn.gradcheck import numerical_gradient, relative_error
from numpycnn.lab.results import describe_result, findings
from numpycnn.techniques import branch_supervision as A

FAST = os.environ.get("NUMPYCNN_FAST", "0") == "1"
print("fast mode" if FAST else "full mode")
print("numpycnn imported from", nc.__file__)

# %% [markdown]
# ## Where each claim step lives in numpycnn
#
# | claim step | where |
# |---|---|
# | 1. forward through all layers → main prediction, main loss | `Trainer.train_step` (`model.forward`, `loss.forward`) |
# | 2. forward through the branch → branch prediction, branch loss | `Branch.branch_point_backward`, first lines |
# | 3. backward from the output down to conv k+1 → **first gradient** | `Sequential.backward` hands it to the backward hook at `h_k` |
# | 4. the branch's backward → **second gradient** (× λ) | `Branch.branch_point_backward` |
# | 5. **third = first + second**, passed to conv k and below | `Branch.branch_point_backward` (the sum is written out) |
# | 6. branch parameters: step of length coefficient·‖gradient‖ against the gradient (= SGD) | `Branch.update` |
# | 7. stop on a loss threshold or an iteration count | `Trainer.fit(target_loss=, max_steps=)` |
# | placement: the first layer (from the output) whose gradient fell below a threshold | `measure_gradient_profile`, `choose_branch_point` |
#
# The hook mechanism: a *forward hook* on the branch-point layer keeps `h_k`; a *backward hook* on
# the same layer receives G1 on its way down and returns G3 instead. Step 6 is three lines:

# %%
print(inspect.getsource(A.Branch.update))

# %% [markdown]
# ## 1. Where does the gradient vanish?
#
# An 8-layer plain sigmoid CNN on the embedded digits. We measure the mean |∂L/∂W| of every conv
# layer over a few batches (no update) and let the text's rule pick the branch point: scanning from
# the output, the first conv layer whose value is below 10 % of the top conv layer's.

# %%
data = nc.datasets.load_dataset("digits", seed=0)
model = nc.zoo.plain_cnn(data.input_shape, depth=8, width=8, activation_name="sigmoid", seed=0)
profile = A.measure_gradient_profile(model, data.train.x, data.train.y, batches=3)
for name, value in profile.items():
    print(f"{name}: mean |dL/dW| = {value:.2e}")
conv = A.choose_branch_point(profile, ratio=0.1)
at = A.branch_point_after(model, conv)
print(f"the gradient fell below 10 % of the top layer's at {conv}: attach the branch at {at!r}")
assert profile[conv] < 0.1 * profile[model.conv_layers()[-1]]

# %% [markdown]
# ## 2. The three gradients, by hand
#
# Attach the branch (one hidden layer of 32 units, λ = 1) and run one forward/backward pass of the
# *main* loss: the backward hook at `h_k` does steps 2, 4 and 5 and keeps the three gradients in
# `branch.first`, `branch.second`, `branch.third`. We work in float64 so that every comparison can be
# exact or tight.
#
# **Fill in now:** `techniques.branch_supervision.Branch.branch_point_backward` in
# `numpycnn/techniques/branch_supervision.py` — the hook's steps 2, 4 and 5 as its docstring numbers them
# (the third gradient is the sum at the fork, first + second).

# %%
model64 = nc.zoo.plain_cnn(data.input_shape, depth=8, width=8, activation_name="sigmoid", seed=0,
                           dtype=np.float64)
branch = A.Branch(model64, at, hidden=(32,), weight=1.0)
print(branch)
loss = nc.losses.SoftmaxCrossEntropy()
x, y = data.train.x[:64].astype(np.float64), data.train.y[:64]
branch.set_labels(y)
loss.forward(model64.forward(x), y)
model64.backward(loss.backward())
print("‖first‖ =", np.linalg.norm(branch.first), " ‖second‖ =", np.linalg.norm(branch.second))
names = list(model64.layers)
k = names.index(at)
h_k = branch.h                                    # the features the forward hook kept (N, C, H, W)

# %% [markdown]
# ### Your turn 1 — the first, second and third gradient
#
# Recompute them yourself from `h_k`:
# * `G1`: run the layers above the branch point forward from `h_k` (`model64[n].forward` for `n` in
#   `names[k + 1:]`), take the main loss `loss.forward(z, y)`, then go back with `loss.backward()` and
#   each layer's `backward` in reverse order down to (not through) the branch point;
# * `G2 = λ · ∂L_branch/∂h_k`: `branch.net.forward(h_k)`, `loss.forward(z_b, y)`, then
#   `branch.net.backward(loss.backward())`, times `branch.weight`;
# * `G3 = G1 + G2`.

# %% tags=["solution"]
### BEGIN SOLUTION
z = h_k
for n in names[k + 1:]:
    z = model64[n].forward(z)
loss.forward(z, y)
G1 = loss.backward()
for n in reversed(names[k + 1:]):
    G1 = model64[n].backward(G1)
z_b = branch.net.forward(h_k)
loss.forward(z_b, y)
G2 = branch.weight * branch.net.backward(loss.backward())
G3 = G1 + G2
### END SOLUTION

# %%
for label, mine, library in (("first", G1, branch.first), ("second", G2, branch.second), ("third", G3, branch.third)):
    assert np.shape(mine) == h_k.shape, f"{label} gradient must have h_k's shape {h_k.shape}; got {np.shape(mine)}"
    assert np.allclose(mine, library, rtol=1e-12, atol=1e-20), f"your {label} gradient differs from the library's"
assert np.array_equal(branch.third, branch.first + branch.second)
print("your turn 1: correct — and the library's third gradient is first + second exactly (bit for bit)")

# %% [markdown]
# ## 3. The chain rule at a fork
#
# `h_k` feeds two paths, so `G3` should be the gradient of `L_main + λ·L_branch` with respect to `h_k`.
# Check it with central differences on a small float64 copy (3 conv layers of 3 filters, branch at
# `act2`, λ = 0.5).
#
# ### Your turn 2 — the total loss as a function of `h`
#
# Write `total_loss()`: run `h` (kept below; the central differences nudge it in place) through the
# layers above the branch point (`small[n].forward` for `n` in `small_names[j + 1:]`) to the main loss,
# and add `0.5 ×` the branch loss of `b.net.forward(h)`; return the sum.

# %%
small = nc.zoo.plain_cnn(data.input_shape, depth=3, width=3, activation_name="sigmoid", seed=1, dtype=np.float64)
b = A.Branch(small, "act2", weight=0.5)
xs, ys = data.train.x[:4].astype(np.float64), data.train.y[:4]
b.set_labels(ys)
loss.forward(small.forward(xs), ys)
small.backward(loss.backward())
small_names = list(small.layers)
j = small_names.index("act2")
h = b.h.copy()

# %% tags=["solution"]
### BEGIN SOLUTION
def total_loss():
    z = h
    for n in small_names[j + 1:]:
        z = small[n].forward(z)
    return loss.forward(z, ys) + 0.5 * loss.forward(b.net.forward(h), ys)
### END SOLUTION

# %%
numeric = numerical_gradient(total_loss, h)
err = relative_error(b.third, numeric)
print("relative error of the third gradient vs central differences of L_main + λ·L_branch:", err)
assert err < 1e-7, "total_loss should be L_main + 0.5·L_branch, both computed from h"
print("your turn 2: correct — G3 is the gradient of the total loss")

# %% [markdown]
# Two more exact consequences. With λ = 0 the second gradient is 0 and every trunk gradient equals
# the plain network's **bit for bit**; and the branch never changes a prediction (inference does not
# run it):

# %%
def trunk_gradients(weight):
    m = nc.zoo.plain_cnn(data.input_shape, depth=8, width=8, activation_name="sigmoid", seed=0, dtype=np.float64)
    if weight is not None:
        br = A.Branch(m, at, hidden=(32,), weight=weight)
        br.set_labels(y)
    loss.forward(m.forward(x), y)
    m.backward(loss.backward())
    return {n: g.copy() for n, _, g in m.named_parameters()}, m


plain_grads, plain_model = trunk_gradients(None)
zero_grads, zero_model = trunk_gradients(0.0)
assert all(np.array_equal(plain_grads[n], zero_grads[n]) for n in plain_grads)
assert np.array_equal(plain_model.predict(x), zero_model.predict(x))
print("λ = 0: every trunk gradient bitwise equal to the plain network's; predictions unchanged")

# %% [markdown]
# ## 4. Gradient flow during training
#
# Train the 8-layer network twice — plain and with the branch — recording ‖∂L/∂W‖ of every conv
# layer at every step (`GradientFlow`), and compare the means.

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
nc.plots.show(fig, "gradient_flow")
for n in flows[False]:
    print(f"{n}: plain {flows[False][n]:.2e}   with branch {flows[True][n]:.2e}")
below = model.conv_layers()[:model.conv_layers().index(conv) + 1]
lift = min(flows[True][n] / flows[False][n] for n in below)
print(f"below the branch point every conv layer receives at least {lift:.1f}x the plain network's gradient")
assert lift > 1

# %% [markdown]
# The branch lifts the gradient of every layer below the branch point. That is the mechanism at
# work — it is *not* yet evidence that the network ends up better.
#
# ## 5. Mechanism verified, benefit measured
#
# Two different kinds of statements are easy to mix up:
#
# * **Mechanism verified** — the code does what the technique describes. These are exact identities
#   that hold by construction and can be checked to rounding error: `G3 == G1 + G2` bit for bit;
#   `G3` equals the central-difference gradient of `L_main + λ·L_branch`; with λ = 0 every trunk
#   gradient is the plain network's; predictions never use the branch; the branch's update has length
#   `coefficient·‖∇θ‖`. This tutorial asserted several of them, `tests/test_branch_supervision.py`
#   asserts all of them. They say nothing about whether the technique *helps*.
# * **Benefit measured** — does a network trained with a branch end up more accurate (or get there
#   sooner) than the same network trained without? That is an experiment, and it can only answer if
#   the baseline is trained properly (a tuned learning rate, not stalled), every arm is tuned the same
#   way on the validation split (never on test), the seeds are paired (same initial weights and data
#   order in every arm), there are enough of them (≥ 5), and the verdict comes from a 95 % confidence
#   interval of the paired differences — not from one run, and not from a lifted gradient curve.
#
# The project's experiment for this technique writes its result to `figures/branch_supervision.json`;
# this cell reads it (and says so when it has not been measured yet):

# %%
print(describe_result("branch_supervision"))

# %% [markdown]
# **What the full run found**, in sentences generated from the same file by
# `numpycnn.lab.results.findings` — nothing below is typed, so it stays true when the experiment is
# rerun (the tables and curves are in `docs/branch_supervision.md`):

# %%
print(findings("branch_supervision"))

# %% [markdown]
# How to read it. The regime was chosen by a probe: a sigmoid CNN under SGD + momentum, alive but
# slow — where a larger gradient in the low layers *could* show. Three questions: is any *speed* claim
# (the iterations to an accuracy target) supported — that is what the larger low-layer gradient you
# verified can buy under SGD; does any *final accuracy* differ; and what does the Adam control say — the
# branch's effect under an optimizer that already rescales every layer's step? Read the speed rows and
# the accuracy rows apart: a supported speed claim says the mechanism buys speed; only an accuracy row
# says whether it buys a better network — and the single branch and the DSN companions need not agree
# (compare their two accuracy rows above).

# %% [markdown]
# ## Check yourself
#
# 1. Why is G3 = G1 + G2 not a "trick" but simply the chain rule? What loss does it differentiate?
#
#    <details><summary>Answer</summary>
#
#    <!-- BEGIN GRADED ANSWER -->
#    `h_k` is used twice — by conv `k+1` and by the branch — so `L = L_main + λ·L_branch` depends on
#    `h_k` along two paths, and the chain rule adds the derivatives along the paths. G3 is `∂L/∂h_k` for
#    that total loss (your turn 2 checked it numerically).
#
#    Rubric:
#    - 2 points: h_k feeds two paths (the rest of the trunk and the branch), and the chain rule sums the
#      derivatives along them
#    - 2 points: the loss differentiated is the total L = L_main + λ·L_branch (G3 = ∂L/∂h_k of that sum)
#    <!-- END GRADED ANSWER -->
#
#    </details>
#
# 2. With λ = 0, what are the trunk's gradients?
#
#    <details><summary>Answer</summary>
#
#    Exactly the plain network's: G2 = 0 · (…) = 0 and G3 = G1, so nothing changes below the branch
#    point (checked bit for bit above).
#
#    </details>
#
# 3. The text says the branch moves "towards the gradient direction" by "a step of length
#    coefficient × ‖gradient‖". Why do we descend, and why is that just SGD?
#
#    <details><summary>Answer</summary>
#
#    Moving along `+∇θ` would *increase* the branch loss; the only reading that trains the branch is
#    a step against the gradient. A step of length `c·‖∇θ‖` along `−∇θ/‖∇θ‖` is `−c·∇θ`: SGD with
#    learning rate `c`.
#
#    </details>
#
# 4. Why is the branch never used by `model.predict`?
#
#    <details><summary>Answer</summary>
#
#    It is a training device: its only job is to inject a gradient into the lower layers. Inference
#    runs the main path only (the forward hook merely keeps `h_k`), so adding a branch does not change
#    a single prediction.
#
#    </details>
#
# 5. Section 4 shows the lower layers receive a larger gradient with the branch. Is that evidence
#    that the technique improves accuracy?
#
#    <details><summary>Answer</summary>
#
#    No — it verifies the mechanism. A benefit needs the experiment of section 5: a tuned baseline,
#    paired seeds, and a confidence interval of the accuracy differences.
#
#    </details>

# %%
assert relative_error(b.third, numeric) < 1e-7                                   # 1.
assert all(np.array_equal(plain_grads[n], zero_grads[n]) for n in plain_grads)   # 2.
theta_before = [p.copy() for _, p, _ in branch.net.named_parameters()]           # 3. SGD with lr = coefficient
lengths = branch.update()
for (_, p, g), before, length in zip(branch.net.named_parameters(), theta_before, lengths):
    assert np.allclose(before - p, branch.coefficient * g) and np.isclose(length, branch.coefficient * np.linalg.norm(g))
assert np.array_equal(plain_model.predict(x), zero_model.predict(x))             # 4.
print("all checks passed")
