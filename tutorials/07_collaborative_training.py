# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # Tutorial 7 — Technique D: collaborative training and four ensemble rules
#
# **The problem.** An ensemble of several networks usually predicts better than any one of them, but
# training the members independently wastes what they could teach each other, and a large ensemble
# is expensive to run.
#
# **The idea.** Train `m` networks *together*, on the same batches. Each makes its own prediction (the
# **first prediction**, logits `z_i`); an **ensemble rule** combines them into a **second prediction**
# `z_ens`; and every network is updated from the total loss
#
# ```
# L = Σ_i CE(z_i, y)  +  CE(z_ens, y)          first losses + second loss
# ```
#
# so each network is pushed both to be right on its own and to make the ensemble right. The gradient
# of the second loss flows back *through the rule* into the networks. The inventors published the
# method as KDCL (Guo et al., CVPR 2020), where the ensemble instead acts as a detached teacher that
# each network imitates (knowledge distillation); Deep Mutual Learning (Zhang et al., 2018) is a
# relative.
#
# **The four rules** of the source text (a patent):
# 1. **min-loss** — per sample, take the prediction of the network whose loss is smallest;
# 2. **linear** — a weighted sum `Σ w_i z_i` with the weights (on the simplex) that minimise the second
#    loss;
# 3. **min-logit** — per class, the smallest value over the networks, taken on *target-subtracted*
#    logits: `z_ens[c] = min_i (z_i[c] − z_i[y])` (KDCL's MinLogit);
# 4. **validation** — weights proportional to each network's accuracy on a held-out validation split,
#    recomputed every epoch.
#
# In this lesson you will
# 1. apply the rules to a toy batch and write two of them yourself;
# 2. see why the min-logit rule subtracts the target logit;
# 3. follow the gradient back through a rule;
# 4. train three networks together on real data, and learn to tell "mechanism verified" from
#    "benefit measured".
#
# **Assignment exercises taught here:** `techniques.collaborative.combine`.
#
# *Your turn* cells are yours to write (the cell after each checks it); answers are folded. Run:
# `python tutorials/07_collaborative_training.py` (`NUMPYCNN_FAST=1` for a quick run), or as a notebook.

# %%
import os

import numpy as np

import numpycnn as nc
from numpycnn.lab.results import describe_result, findings
from numpycnn.techniques import collaborative as D

FAST = os.environ.get("NUMPYCNN_FAST", "0") == "1"
print("fast mode" if FAST else "full mode")
print("numpycnn imported from", nc.__file__)

# %% [markdown]
# ## Where each claim step lives in numpycnn
#
# | claim step | where |
# |---|---|
# | the batch goes through m networks → first predictions, first losses | `CollaborativeTrainer.train_step` (first lines) |
# | ensemble → second prediction (min-loss, linear, min-logit, validation), with its backward | `combine` |
# | second loss; all networks updated from the total | `train_step`: `dzs = [d + e ...]`, then every optimizer steps |
# | validation rule: weights from held-out accuracy, each epoch | `validation_weights` |
# | KDCL variant: detached teacher, `T²·KL` | `kd_loss`, `mode="kdcl"` |
#
# ## 1. The rules on a toy batch
#
# Two networks, two samples, three classes; the labels are 0 and 2. Network 1 is right on sample 0,
# network 2 on sample 1.

# %%
z1 = np.array([[2.0, 1.0, 0.0], [0.0, 3.0, 1.0]])
z2 = np.array([[1.0, 0.0, 2.0], [0.0, 0.0, 2.0]])
y = np.array([0, 2])
rows = np.arange(len(y))
print("per-sample CE of network 1:", np.round(D.per_sample_ce(z1, y), 4), " network 2:", np.round(D.per_sample_ce(z2, y), 4))

# %% [markdown]
# ### Your turn 1 — the min-loss rule
#
# Compute `chosen` `(N,)`, for every sample the index of the network with the smallest per-sample
# cross-entropy (`D.per_sample_ce(z, y)` gives `(N,)`), and `z_minloss` `(N, K)`, that network's logits
# for that sample.

# %% tags=["solution"]
### BEGIN SOLUTION
losses = np.stack([D.per_sample_ce(z, y) for z in (z1, z2)])     # (m, N)
chosen = losses.argmin(axis=0)
z_minloss = np.stack([z1, z2])[chosen, rows]
### END SOLUTION

# %%
assert np.array_equal(chosen, [0, 1]), f"sample 0 should come from network 1 (index 0), sample 1 from network 2; got {chosen}"
assert np.array_equal(z_minloss, np.array([z1[0], z2[1]]))
print("your turn 1: correct — each sample is taken from the network that got it right")

# %% [markdown]
# ### Your turn 2 — the min-logit rule
#
# Shift each network's logits so its target logit is 0 (`S_i = z_i − z_i[n, y_n]`, per sample), then
# take, per sample and class, the minimum over the networks: `z_minlogit` `(N, K)`.

# %% tags=["solution"]
### BEGIN SOLUTION
S = np.stack([z - z[rows, y][:, None] for z in (z1, z2)])         # (m, N, K)
z_minlogit = S.min(axis=0)
### END SOLUTION

# %%
print("min-logit ensemble:\n", z_minlogit)
assert np.all(z_minlogit[rows, y] == 0), "the target logit of the ensemble must be exactly 0"
ce_ens = D.per_sample_ce(z_minlogit, y)
assert np.all(ce_ens <= np.minimum(D.per_sample_ce(z1, y), D.per_sample_ce(z2, y)) + 1e-12), \
    "CE of the min-logit ensemble can be no larger than the best network's, sample by sample"
print("your turn 2: correct — per-sample CE of the ensemble", np.round(ce_ens, 4))

# %% [markdown]
# Every wrong class takes its most favourable value ("the most confident *not this class*" of any
# network), the target class sits at 0 in all of them, so the ensemble is at least as sure of the
# right answer as the best network. The library's `combine` (the graded exercise) implements all four
# rules, each with its backward pass.
#
# **Fill in now:** `techniques.collaborative.combine` in `numpycnn/techniques/collaborative.py` — the four
# rules' ensembles and their backward passes (your turn 2 is min-logit's forward), as the docstring
# lists them.

# %%
for rule in D.RULES:
    z_ens, _, info = D.combine([z1, z2], y, rule, weights=np.array([0.5, 0.5]))
    print(f"{rule:10s} second prediction:\n{np.round(z_ens, 3)}  extra: {({k: np.round(v, 3) for k, v in info.items()})}")
    print("  CE of the ensemble:", round(float(D.per_sample_ce(z_ens, y).mean()), 4))
assert np.allclose(D.combine([z1, z2], y, "min-logit")[0], z_minlogit)
assert np.array_equal(D.combine([z1, z2], y, "min-loss")[2]["chosen"], chosen)

# %% [markdown]
# ## 2. Why not the raw per-class minimum?
#
# Softmax ignores a constant added to all of a network's logits: shift network 2 down by 100 and its
# predictions do not change. A raw per-class minimum would then come entirely from network 2 —
# decided by an arbitrary offset. The target-subtracted version is immune to it:

# %%
raw = np.minimum(z1, z2 - 100)
shifted, _, _ = D.combine([z1, z2 - 100], y, "min-logit")
original, _, _ = D.combine([z1, z2], y, "min-logit")
print("raw min, argmax per sample:", raw.argmax(1), " (decided by the arbitrary offset)")
assert np.allclose(shifted, original)
print("min-logit is unchanged by the shift")

# %% [markdown]
# ## 3. The gradient through a rule
#
# `combine` returns a backward function: given `dL/dz_ens` it gives every network's share. For min-loss
# the ensemble *is* the chosen network's logits, so only that network receives the gradient, sample by
# sample.
#
# ### Your turn 3 — the backward pass of min-loss
#
# Given `dz` `(N, K)` = `dL/dz_ens`, compute `shares`, the list of the two networks' gradients: network
# `i` gets the rows of `dz` where `chosen == i`, and 0 elsewhere.

# %%
dz = np.arange(6, dtype=np.float64).reshape(2, 3) + 1

# %% tags=["solution"]
### BEGIN SOLUTION
shares = [np.where((chosen == i)[:, None], dz, 0.0) for i in range(2)]
### END SOLUTION

# %%
_, backward, _ = D.combine([z1, z2], y, "min-loss")
for i, (mine, library) in enumerate(zip(shares, backward(dz))):
    print(f"network {i + 1} gets\n{mine}")
    assert np.array_equal(mine, library), f"network {i + 1}'s share differs from combine's backward"
assert np.array_equal(shares[0] + shares[1], dz), "the shares must add up to dz"
print("your turn 3: correct")

# %% [markdown]
# ## 4. Three networks trained together
#
# Three small CNNs on the embedded digits, min-logit rule, `ensemble-ce` mode (CE of the ensemble, gradient
# through the rule).

# %%
data = nc.datasets.load_dataset("digits", seed=0)
models = [nc.zoo.small_cnn(data.input_shape, width=8, seed=s) for s in range(3)]
trainer = D.CollaborativeTrainer(models, [nc.optim.Adam(m, lr=3e-3) for m in models], rule="min-logit",
                                 batch_size=32, progress=False)
trainer.fit(data.train, data.val, epochs=2 if FAST else 10)
result = trainer.evaluate(data.test)
print("each network:", np.round(result["networks"], 3), " ensemble (mean of logits):", round(result["accuracy"], 3))
print("losses of the last step: first", np.round(trainer.last["first_losses"], 3),
      " second", round(float(trainer.last["second_loss"]), 3))

# %% [markdown]
# ## 5. Mechanism verified, benefit measured
#
# * **Mechanism verified** — exact properties of the rules: min-logit gives `z_ens[y] == 0` and
#   `CE(z_ens) ≤ min_i CE(z_i)` for every sample; min-loss picks the argmin network per sample and
#   sends the gradient only there; the linear weights lie on the simplex with
#   `CE(Σ w_i z_i) ≤ min_i CE(z_i)`; identical networks make every rule return that network's
#   prediction; a gradient check of the total loss with respect to every network's parameters passes.
#   This tutorial asserted several; `tests/test_collaborative.py` asserts all of them. None says the
#   networks end up better than networks trained alone.
# * **Benefit measured** — the claim is that collaboratively trained networks (and their ensemble)
#   beat independently trained ones. The fair comparison trains the independent networks just as well
#   (tuned on validation, the same budget), pairs the seeds (same initial weights and data order in
#   both arms), uses at least five of them, and reads the verdict off a 95 % confidence interval of the
#   paired accuracy differences. Beware a known pitfall: identical students on identical data become
#   alike and have little to teach each other.
#
# The project's experiment writes its result to `figures/collaborative.json`; this cell reads it (or
# says it has not been measured yet):

# %%
print(describe_result("collaborative"))

# %% [markdown]
# **What the full run found**, in sentences generated from the same file by
# `numpycnn.lab.results.findings` — nothing below is typed, so it stays true when the experiment is
# rerun (the tables and curves are in `docs/collaborative.md`):

# %%
print(findings("collaborative"))

# %% [markdown]
# How to read it. Every rule is compared with independent training of the same networks, on the same
# seeds; where a paper published a gain, it is printed with its source and whether our interval contains
# it. The mechanism you verified is exact — the min-logit ensemble is at least as good as the best
# network, sample by sample — but that is a statement about one batch's ensemble; whether training the
# networks through it makes *them* better is what these verdicts answer.

# %% [markdown]
# ## Check yourself
#
# 1. Show that `CE(min-logit ensemble) ≤ min_i CE(network i)` for every sample.
#
#    <details><summary>Answer</summary>
#
#    For network `i` the per-sample CE is `log Σ_c exp(z_i[c] − z_i[y])` (target-subtracted logits,
#    target term `exp 0 = 1`). The ensemble's terms are `exp(min_j (z_j[c] − z_j[y])) ≤ exp(z_i[c] − z_i[y])`
#    for every class and every `i`, so its sum — and its log — is no larger than any network's.
#
#    </details>
#
# 2. Why are the linear weights held fixed during backpropagation?
#
#    <details><summary>Answer</summary>
#
#    The weights are chosen to minimise the second loss over the simplex, `w*(z) = argmin_w L(w, z)`,
#    so the networks are trained on the value `min_w L(w, z)`. By Danskin's (envelope) theorem, when the
#    minimiser is unique the gradient of that minimum with respect to `z` is `∂L/∂z` taken at `w = w*`:
#    how `w*` moves with `z` does not enter. That holds at a vertex of the simplex too (one network
#    better on the whole batch puts all the weight on it), where "the derivative with respect to `w`
#    vanishes" would not. The gradient reaching network `i` is then just `w_i · dL/dz_ens`. Note that
#    the linear rule, like min-loss and min-logit, uses the labels to build the ensemble: none of the
#    three can run at test time, which is why evaluation uses a weighted mean of the logits (section 4).
#
#    </details>
#
# 3. Why would identical networks trained on identical data gain nothing from each other?
#
#    <details><summary>Answer</summary>
#
#    Same initial weights and same batches give the same logits; every rule then returns that
#    network's prediction (min-logit of identical logits is the network's own shifted logits), and
#    all networks get the same gradient and stay identical. Different seeds, data subsets or
#    augmentations are what give them something to share.
#
#    </details>
#
# 4. The ensemble of the three networks above is more accurate than its weakest member. Is that the
#    technique's benefit?
#
#    <details><summary>Answer</summary>
#
#    No: an ensemble of independently trained networks is usually more accurate than its members too.
#    The question is whether *collaborative* training beats *independent* training of the same
#    networks — the experiment of section 5.
#
#    </details>

# %%
same = [z1, z1.copy()]                                                  # 3. identical networks
for rule in D.RULES:
    z_same, _, _ = D.combine(same, y, rule, weights=np.array([0.5, 0.5]))
    assert np.allclose(D.per_sample_ce(z_same, y), D.per_sample_ce(z1, y)), rule
assert np.all(z_minlogit[rows, y] == 0)                                 # 1.
w = D.combine([z1, z2], y, "linear")[2]["weights"]                      # 2. on the simplex, no worse than the best
assert np.all(w >= 0) and np.isclose(w.sum(), 1)
assert D.per_sample_ce(w[0] * z1 + w[1] * z2, y).mean() <= min(D.per_sample_ce(z, y).mean() for z in (z1, z2)) + 1e-12
assert all(0 <= a <= 1 for a in result["networks"])
assert result["accuracy"] > min(result["networks"])                   # 4.
print("all checks passed")
