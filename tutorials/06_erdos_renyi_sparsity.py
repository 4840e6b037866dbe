# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # Tutorial 6 — Technique C: Erdős–Rényi sparse networks, trained sparse from the start
#
# Most weights of a trained network can be removed. Technique C (spec section C; published
# counterparts: RigL's ERK initialisation and Liu et al., ICLR 2022) does not train dense and prune:
# it draws a *random* sparse network before training. Each layer gets a **connection probability**
# `p(l) = min(1, σ·r_l)`, `r_l = (n_{l−1} + n_l)/(n_{l−1}·n_l)`, with one **probability parameter σ**
# for all layers, chosen so the network has the target number of weights. Small layers keep more of
# their connections, big layers fewer.
#
# You will
# 1. solve σ by hand for the spec's worked example and compare with the library;
# 2. sample masks and check the realised counts;
# 3. train a sparse network and check that masked weights stay exactly zero;
# 4. read the structure report (parameters, memory, multiply-adds).
#
# Run: `python tutorials/06_erdos_renyi_sparsity.py` (`NUMPYCNN_FAST=1` for a quick run).

# %%
import inspect
import os
import tempfile

import matplotlib
matplotlib.use("Agg")
import numpy as np

import numpycnn as nc
from numpycnn.plots import save_figure
from numpycnn.techniques import erdos_renyi as C
from numpycnn.zoo import lenet5, mlp

FAST = os.environ.get("NUMPYCNN_FAST", "0") == "1"
OUT = tempfile.mkdtemp(prefix="tutorial06-")

# %% [markdown]
# ## 1. The probability parameter σ, by hand
#
# Claim step 1: the text mixes "sparsity" and density; we take `density = 1 − sparsity` and the
# target count `T = density·N`. Claim step 2: `Σ_l min(1, σ r_l) N_l = T`. If no layer saturates,
# `σ = T / Σ_l r_l N_l = T / Σ_l (n_{l−1} + n_l)` for dense layers. The MLP 784-300-100-10 at
# sparsity 0.9:

# %%
widths = [784, 300, 100, 10]
N_l = np.array([a * b for a, b in zip(widths[:-1], widths[1:])])
r_l = np.array([(a + b) / (a * b) for a, b in zip(widths[:-1], widths[1:])])
T = (1 - 0.9) * N_l.sum()
sigma = T / (r_l * N_l).sum()
print("first try σ =", sigma, "→ σ·r_l =", sigma * r_l)          # the last layer exceeds 1: it saturates
# the last layer is dense (p = 1): take its weights out of the budget and solve again
sigma = (T - N_l[2]) / (r_l[:2] * N_l[:2]).sum()
p_hand = np.minimum(1, sigma * r_l)
p_hand[2] = 1.0
print("σ =", sigma, " p =", p_hand, " expected weights =", (p_hand * N_l).sum())

# %% [markdown]
# The library does the same iteration until no new layer saturates (`solve_sigma`), then
# `connection_probabilities` forms `p(l)`:

# %%
print(inspect.getsource(C.solve_sigma))
print(inspect.getsource(C.connection_probabilities))
model = mlp((1, 28, 28), 10, hidden=(300, 100), seed=0)
p, sigma_lib = C.connection_probabilities(model, 0.9, "er")
print("library σ =", sigma_lib, " p =", p)

# %% [markdown]
# ## 2. Sampling the connection matrices (claim step 3)
#
# Every connection is kept independently with its layer's probability (Bernoulli), or — an option —
# exactly `round(p_l N_l)` connections are kept per layer. The generator is explicit: same seed,
# same masks.

# %%
print(inspect.getsource(C.sample_masks))
masks = C.sample_masks(model, p, np.random.default_rng(0))
for name, M in masks.items():
    n, q = M.size, p[name]
    print(f"{name}: kept {int(M.sum()):6d}, expected {n * q:9.1f} ± {np.sqrt(n * q * (1 - q)):.1f}")

# %% [markdown]
# ## 3. Training sparse from the start (claim step 4)
#
# `apply_masks` uses the core's per-parameter masks: the layer computes with `W ⊙ M`, its gradient is
# masked, and the optimizer's state at masked positions is set to zero, so momentum cannot bring a
# removed weight back. Biases are not masked.

# %%
print(inspect.getsource(C.apply_masks))
if FAST:
    data = nc.datasets.load_dataset("digits", seed=0, val_fraction=0.0)
    shape = data.input_shape
else:
    try:
        data = nc.datasets.load_dataset("fashion-mnist", seed=0, train_limit=3000, test_limit=1000, val_fraction=0.0)
    except FileNotFoundError:
        data = nc.datasets.load_dataset("digits", seed=0, val_fraction=0.0)
    shape = data.input_shape
accs = {}
for sparsity in (0.0, 0.9):
    net = mlp(shape, data.num_classes, hidden=(300, 100), seed=0)
    opt = nc.optim.Adam(net, lr=1e-3)
    if sparsity:
        masks, p_net, sigma_net = C.sparsify(net, sparsity, "er", np.random.default_rng(0))
        C.apply_masks(net, masks, opt)
    nc.Trainer(net, opt, seed=0, batch_size=64, progress=False).fit(data.train, epochs=1)
    accs[sparsity] = net.evaluate(data.test.x, data.test.y)["accuracy"]
    print(f"sparsity {sparsity}: test accuracy {100 * accs[sparsity]:.2f} %")
removed = {n: net[n].params["W"][masks[n] == 0] for n in masks}
print("largest |W| at a removed connection after training:", max(np.abs(w).max() for w in removed.values()))

# %% [markdown]
# ## 4. The structure report (claim step 5)
#
# Per layer and in total: dense weights, active weights, density, p(l), memory as dense float32 and
# as a CSR matrix, and multiply-adds per image. For a conv network, ERK lets the kernel size join the
# ratio: `r = (c_in + c_out + k_h + k_w)/(c_in c_out k_h k_w)`.

# %%
lenet = lenet5((1, 28, 28), 10, seed=0)
_, p5, s5 = C.sparsify(lenet, 0.9, "erk", np.random.default_rng(0))
rows = C.structure_report(lenet, p5)
print(f"σ = {s5:.4g}")
print(C.format_report(rows))
path = save_figure(C.report_figure(rows, "LeNet-5, sparsity 0.9 (ERK)"), os.path.join(OUT, "structure.png"))
print("figure:", path)

# %% [markdown]
# ## Check yourself
#
# 1. Why does the last layer of the MLP saturate (p = 1) at sparsity 0.9, and what would happen to the
#    network if it were sampled at the same probability as the first layer (try `mode="uniform"`)?
# 2. CSR memory is larger than `4·active` bytes. What else does it store, and at what density does
#    CSR stop saving memory for a float32 matrix with int32 indices?
# 3. Why must the optimizer's state be zeroed at masked positions, even though the gradient there
#    is already zero?

# %%
assert abs(sigma - 17.2641509) < 1e-6 and abs(sigma_lib - sigma) < 1e-9
assert np.allclose([q for q in C.connection_probabilities(model, 0.9, "er")[0].values()], p_hand, atol=1e-12)
assert all(0 < q <= 1 for q in p5.values())
assert max(np.abs(w).max() for w in removed.values()) == 0.0
assert rows[-1]["active"] == sum(r["active"] for r in rows[:-1])
assert rows[-1]["density"] < 0.15
print("all checks passed")
