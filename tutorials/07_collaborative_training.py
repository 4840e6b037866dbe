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
# Technique D (spec section D; published as KDCL) trains several networks *together*: each makes a
# **first prediction**, an ensemble rule combines them into a **second prediction**, and every network
# is updated from `Σ_i CE(first_i) + CE(second)`.
#
# You will
# 1. apply the four ensemble rules to a toy batch you can check by hand;
# 2. see why the min-logit rule subtracts the target logit;
# 3. follow the gradient through a rule;
# 4. train three networks together on real data.
#
# Run: `python tutorials/07_collaborative_training.py` (`NUMPYCNN_FAST=1` for a quick run).

# %%
import inspect
import os

import numpy as np

import numpycnn as nc
from numpycnn.techniques import collaborative as D

FAST = os.environ.get("NUMPYCNN_FAST", "0") == "1"

# %% [markdown]
# ## The claim steps in code
#
# | claim step (spec section D) | where |
# |---|---|
# | the batch goes through m networks → first predictions, first losses | `CollaborativeTrainer.train_step` (first lines) |
# | ensemble → second prediction (min-loss, linear, min-logit, validation) | `combine` |
# | second loss; all networks updated from the total | `train_step`: `dzs = [d + e ...]`, then every optimizer steps |
# | validation rule: weights from held-out accuracy, each epoch | `CollaborativeTrainer.evaluate`, `validation_weights` |
# | KDCL variant: detached teacher, `T²·KL` | `kd_loss`, `mode="kdcl"` |

# %%
print(inspect.getsource(D.combine))

# %% [markdown]
# ## 1. The rules on a toy batch
#
# Two networks, two samples, three classes; the labels are 0 and 2.

# %%
z1 = np.array([[2.0, 1.0, 0.0], [0.0, 3.0, 1.0]])
z2 = np.array([[1.0, 0.0, 2.0], [0.0, 0.0, 2.0]])
y = np.array([0, 2])
for rule in D.RULES:
    z_ens, _, info = D.combine([z1, z2], y, rule, weights=np.array([0.5, 0.5]))
    print(f"{rule:10s} second prediction:\n{np.round(z_ens, 3)}  extra: {({k: np.round(v, 3) for k, v in info.items()})}")
    print("  CE of each network:", np.round([D.per_sample_ce(z, y).mean() for z in (z1, z2)], 4),
          " CE of the ensemble:", round(float(D.per_sample_ce(z_ens, y).mean()), 4))

# %% [markdown]
# Sample 0 is right for network 1, sample 1 for network 2: **min-loss** takes each sample from the
# network that got it right. **min-logit** first shifts every network so its target logit is 0, then
# takes, per wrong class, the smallest value — the most confident "not this class" — so its CE is
# never above any single network's.
#
# ## 2. Why not the raw per-class minimum?
#
# Softmax ignores a constant added to all of a network's logits. Shift network 2 down by 100: its
# predictions do not change, but a raw per-class minimum would now come entirely from network 2.

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
# `combine` returns a backward function: given `dL/dz_ens` it gives every network's share. For
# min-loss only the chosen network receives it.

# %%
z_ens, backward, info = D.combine([z1, z2], y, "min-loss")
print("chosen network per sample:", info["chosen"])
for i, g in enumerate(backward(np.ones_like(z_ens))):
    print(f"network {i + 1} gets\n{g}")

# %% [markdown]
# ## 4. Three networks trained together
#
# Three small CNNs on the embedded digits, min-logit rule, patent mode. (The comparison with
# independent training, every rule, KDCL and a heterogeneous trio is `python -m numpycnn compare
# collaborative`; its table is in the README.)

# %%
data = nc.datasets.load_dataset("digits", seed=0)
models = [nc.zoo.small_cnn(data.input_shape, width=8, seed=s) for s in range(3)]
trainer = D.CollaborativeTrainer(models, [nc.optim.Adam(m, lr=3e-3) for m in models], rule="min-logit",
                                 batch_size=32, progress=False)
trainer.fit(data.train, data.val, epochs=2 if FAST else 10)
result = trainer.evaluate(data.test)
print("each network:", np.round(result["networks"], 3), " ensemble (mean of logits):", round(result["accuracy"], 3))

# %% [markdown]
# ## Check yourself
#
# 1. Show that `CE(min-logit ensemble) ≤ min_i CE(network i)` for every sample.
# 2. Why are the linear weights held fixed during backpropagation?
# 3. Why do identical networks trained on identical data gain nothing from each other?

# %%
zm, _, _ = D.combine([z1, z2], y, "min-logit")
assert np.all(zm[np.arange(2), y] == 0)
assert all(0 <= a <= 1 for a in result["networks"])
print("all checks passed")
