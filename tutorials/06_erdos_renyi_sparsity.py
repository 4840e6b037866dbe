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
# **The problem.** Most weights of a trained network can be removed with little loss of accuracy —
# but finding *which* usually means training the dense network first and pruning it afterwards, which
# pays the full cost of dense training.
#
# **The idea.** Decide the sparse structure *before* training, at random, and train only the weights
# that exist. Which fraction of each layer to keep matters: a random graph in which every pair of
# units is connected with some probability is an **Erdős–Rényi** graph, and the technique gives each
# pair of adjacent layers (`n_{l−1}` inputs, `n_l` outputs) the connection probability
#
# ```
# p(l) = min(1, σ · r_l),      r_l = (n_{l−1} + n_l) / (n_{l−1} · n_l)
# ```
#
# with **one probability parameter σ** shared by all layers. `r_l` is large for small layers and small
# for big ones, so a big layer keeps a small fraction of its connections and a small layer (like the
# output layer) keeps most — each unit keeps roughly the same number of connections. σ is fixed by
# the budget: the expected number of weights must equal the target `T = (1 − sparsity) · N`. Published
# relatives: RigL's ERK initialisation (Evci et al., 2020) and "The unreasonable effectiveness of
# random pruning" (Liu et al., ICLR 2022).
#
# **The claim steps** (the source text's, in plain words): (1) from the dense architecture and a
# sparsity, the target count `T` (the text mixes "sparsity" and density; we take `density = 1 −
# sparsity`); (2) per layer the probability `p(l)` with one σ, chosen so that `Σ_l p(l)·N_l = T`
# (`N_l` the layer's weight count); (3) sample each connection with its layer's probability → a 0/1
# connection matrix (mask) per layer; (4) build the network from the masks and train it sparse; (5)
# show the structure: dense vs. actual parameters, memory, compute. A layer whose `σ·r_l` exceeds 1
# *saturates*: it stays dense, and σ is solved again for the others.
#
# In this lesson you will
# 1. solve σ yourself for a worked example, saturation included;
# 2. sample a mask and check the realised count;
# 3. train a sparse network and check that the removed weights stay exactly 0;
# 4. read the structure report and compute a CSR memory figure yourself;
# 5. learn to tell "mechanism verified" from "benefit measured".
#
# **Assignment exercises taught here:** `techniques.erdos_renyi.connection_probabilities`.
#
# *Your turn* cells are yours to write (the cell after each checks it); answers are folded. Run:
# `python tutorials/06_erdos_renyi_sparsity.py` (`NUMPYCNN_FAST=1` for a quick run), or as a notebook.
# Figures: inline in a notebook, else in `tutorials/figures/06_erdos_renyi_sparsity/`.

# %%
import inspect
import os

import numpy as np

import numpycnn as nc
from numpycnn.errors import DatasetNotFoundError
from numpycnn.lab.results import describe_result, findings
from numpycnn.techniques import erdos_renyi as C
from numpycnn.zoo import lenet5, mlp

FAST = os.environ.get("NUMPYCNN_FAST", "0") == "1"
print("fast mode" if FAST else "full mode")
print("numpycnn imported from", nc.__file__)

# %% [markdown]
# ## Where each claim step lives in numpycnn
#
# | claim step | where |
# |---|---|
# | 1. density = 1 − sparsity, target T = density·N | `connection_probabilities` |
# | 2. `r_l` per layer; `p(l) = min(1, σ r_l)` with one σ, `Σ p(l) N_l = T` (saturated layers dense) | `layer_ratios`, `solve_sigma`, `connection_probabilities` |
# | 3. sample each connection → 0/1 masks | `sample_masks` |
# | 4. train sparse: forward `W ⊙ M`, gradient and optimizer state masked | `apply_masks` (the core's parameter masks) |
# | 5. structure: dense vs. active weights, memory, multiply-adds | `structure_report`, `format_report` |
#
# ## 1. The probability parameter σ, by hand
#
# The MLP 784-300-100-10 at sparsity 0.9. Its three weight layers have `N_l = 235 200, 30 000, 1 000`
# weights. If no layer saturated, `Σ_l σ r_l N_l = T` would give `σ = T / Σ_l r_l N_l`.
#
# ### Your turn 1 — σ with saturation
#
# Compute `sigma` and the three probabilities `p` (an array) for this MLP: first σ from all three
# layers; the layers with `σ·r_l > 1` are dense (`p = 1`) — take their weights out of the budget `T`
# and solve σ again from the other layers (one round is enough here).

# %%
widths = [784, 300, 100, 10]
N_l = np.array([a * b for a, b in zip(widths[:-1], widths[1:])], dtype=np.float64)
r_l = np.array([(a + b) / (a * b) for a, b in zip(widths[:-1], widths[1:])])
T = (1 - 0.9) * N_l.sum()
print("N_l =", N_l, " r_l =", np.round(r_l, 5), " T =", T)

# %% tags=["solution"]
### BEGIN SOLUTION
sigma = T / (r_l * N_l).sum()
dense = sigma * r_l > 1
sigma = (T - N_l[dense].sum()) / (r_l[~dense] * N_l[~dense]).sum()
p = np.where(dense, 1.0, np.minimum(1.0, sigma * r_l))
### END SOLUTION

# %%
print("σ =", sigma, " p =", p, " expected weights =", (p * N_l).sum())
assert abs(sigma - 17.2641509) < 1e-6, f"σ should be 17.2641509… (the output layer saturates); got {sigma}"
assert np.allclose(p, [0.0795678, 0.2301887, 1.0], atol=1e-7) and abs((p * N_l).sum() - T) < 1e-6 * T
print("your turn 1: correct — the output layer saturates (p = 1), the other two share the rest")

# %% [markdown]
# The library iterates the same way until no new layer saturates (`solve_sigma` — RigL's procedure);
# `connection_probabilities` wraps it (the graded exercise).
#
# **Fill in now:** `techniques.erdos_renyi.connection_probabilities` in `numpycnn/techniques/erdos_renyi.py`
# — the per-layer ratio `r_l` of the chosen rule and the call to `solve_sigma`, as its docstring says.

# %%
print(inspect.getsource(C.solve_sigma))
model = mlp((1, 28, 28), 10, hidden=(300, 100), seed=0)
p_lib, sigma_lib = C.connection_probabilities(model, 0.9, "er")
print("library σ =", sigma_lib, " p =", p_lib)
assert abs(sigma_lib - sigma) < 1e-9 and np.allclose(list(p_lib.values()), p, atol=1e-12)

# %% [markdown]
# ## 2. Sampling the connection matrices (claim step 3)
#
# Every connection is kept independently with its layer's probability (a Bernoulli draw), or — an
# option — exactly `round(p_l N_l)` connections are kept per layer. The generator is explicit: same
# seed, same masks.
#
# ### Your turn 2 — one mask
#
# Draw `M`, the 0/1 mask (float array) of a `(300, 784)` weight matrix with probability `p[0]`, from
# the generator `rng` (one line: compare uniform random numbers with the probability).

# %%
rng = np.random.default_rng(0)

# %% tags=["solution"]
### BEGIN SOLUTION
M = (rng.random((300, 784)) < p[0]).astype(np.float64)
### END SOLUTION

# %%
n, q = M.size, p[0]
kept, expected, sd = M.sum(), n * q, np.sqrt(n * q * (1 - q))
print(f"kept {kept:.0f} of {n}; expected {expected:.1f} ± {sd:.1f}")
assert M.shape == (300, 784) and set(np.unique(M)) <= {0.0, 1.0}, "M must be a 0/1 array of the weight's shape"
assert abs(kept - expected) < 5 * sd, "the realised count should be within 5 standard deviations of N·p"
print("your turn 2: correct")

# %%
masks = C.sample_masks(model, p_lib, np.random.default_rng(0))
for name, Ml in masks.items():
    n, q = Ml.size, p_lib[name]
    print(f"{name}: kept {int(Ml.sum()):6d}, expected {n * q:9.1f} ± {np.sqrt(n * q * (1 - q)):.1f}")
    assert abs(Ml.sum() - n * q) <= 5 * np.sqrt(n * q * (1 - q)) + 1e-9

# %% [markdown]
# ## 3. Training sparse from the start (claim step 4)
#
# `apply_masks` uses the core's per-parameter masks: the layer computes with `W ⊙ M`, its gradient is
# masked, and the optimizer's state at masked positions is set to zero. Biases are not masked. Here the
# masks are set before the first step, so there is no optimizer state yet to zero: that step matters
# when a mask is put on a network that has already trained, whose momentum or Adam moments would keep
# moving the removed weights. Even then a masked weight that moves changes nothing the network
# computes — the forward pass uses `W ⊙ M` — until its mask is lifted, as technique E's re-introduction
# (tutorial 8) lifts it; from then on the stored value counts.

# %%
print(inspect.getsource(C.apply_masks))
if FAST:
    data = nc.datasets.load_dataset("digits", seed=0, val_fraction=0.0)
else:
    try:
        data = nc.datasets.load_dataset("fashion-mnist", seed=0, train_limit=3000, test_limit=1000, val_fraction=0.0)
    except DatasetNotFoundError:
        data = nc.datasets.load_dataset("digits", seed=0, val_fraction=0.0)
accs = {}
for sparsity in (0.0, 0.9):
    net = mlp(data.input_shape, data.num_classes, hidden=(300, 100), seed=0)
    opt = nc.optim.Adam(net, lr=1e-3)
    if sparsity:
        net_masks, p_net, sigma_net = C.sparsify(net, sparsity, "er", np.random.default_rng(0))
        C.apply_masks(net, net_masks, opt)
    nc.Trainer(net, opt, seed=0, batch_size=64, progress=False).fit(data.train, epochs=1)
    accs[sparsity] = net.evaluate(data.test.x, data.test.y)["accuracy"]
    print(f"sparsity {sparsity}: test accuracy {100 * accs[sparsity]:.2f} % (one epoch, one seed)")
removed = {n: net[n].params["W"][net_masks[n] == 0] for n in net_masks}
largest = max(float(np.abs(w).max(initial=0.0)) for w in removed.values())
print("largest |W| at a removed connection after training:", largest)
assert largest == 0.0

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
nc.plots.show(C.report_figure(rows, "LeNet-5, sparsity 0.9 (ERK)"), "structure")

# %% [markdown]
# ### Your turn 3 — the CSR memory of one layer
#
# A CSR (compressed sparse row) matrix stores, for an `(R, ·)` matrix with `a` non-zero entries: the
# `a` values (float32, 4 bytes each), their `a` column indices (int32, 4 bytes each) and `R + 1` row
# pointers (int32). Compute `csr_bytes` for LeNet-5's `fc1` from its mask (`lenet["fc1"].masks["W"]`).

# %%
M_fc1 = lenet["fc1"].masks["W"]

# %% tags=["solution"]
### BEGIN SOLUTION
a = int(np.count_nonzero(M_fc1))
csr_bytes = 4 * a + 4 * a + 4 * (M_fc1.shape[0] + 1)
### END SOLUTION

# %%
row = next(r for r in rows if r["layer"] == "fc1")
print(f"fc1: dense {row['dense_bytes']:,} bytes, CSR {csr_bytes:,} bytes (report: {row['csr_bytes']:,})")
assert csr_bytes == row["csr_bytes"], "values + column indices + row pointers, 4 bytes each"
print("your turn 3: correct — CSR costs 8 bytes per kept weight: it saves memory only below 50 % density")

# %% [markdown]
# ## 5. Mechanism verified, benefit measured
#
# * **Mechanism verified** — exact properties: σ solves `Σ_l min(1, σ r_l) N_l = T` (to 1e-9·T), every
#   `p` is in (0, 1], saturated layers are exactly 1, the unsaturated ratios `p_l/p_k = r_l/r_k`; the
#   worked example above; the realised counts are within a few standard deviations of `N_l p_l`; the
#   removed weights stay exactly 0 through training with every optimizer. This tutorial asserted
#   several; `tests/test_erdos_renyi.py` asserts all of them. None of them says the sparse network is
#   *good*.
# * **Benefit measured** — the claim is that ER sparse networks keep the accuracy of the dense one
#   (for deep or wide networks) and beat other ways of spending the same number of weights (the same
#   density in every layer; SNIP). Checking it needs each arm trained well and tuned the same way on
#   validation, paired seeds (same data order; for random masks, several mask draws), at least five
#   seeds, and a 95 % confidence interval of the paired differences. The one-epoch, one-seed numbers
#   of section 3 are an illustration, not that experiment.
#
# The project's experiment writes its result to `figures/erdos_renyi.json`; this cell reads it (or
# says it has not been measured yet):

# %%
print(describe_result("erdos_renyi"))

# %% [markdown]
# **What the full run found**, in sentences generated from the same file by
# `numpycnn.lab.results.findings` — nothing below is typed, so it stays true when the experiment is
# rerun (the tables and curves are in `docs/erdos_renyi.md`):

# %%
print(findings("erdos_renyi"))

# %% [markdown]
# How to read it. The experiment tests sparsities 0.95 and 0.98, where the probe found uniform density
# clearly below dense (so there is room for the claimed gain; the dense and uniform accuracies are in
# `docs/erdos_renyi.md`): where do the Erdős–Rényi densities beat the same density
# in every layer, and where not — and is it where uniform density starves the small layers (the
# σ-with-saturation arithmetic you did by hand says which layers those are)? A row marked *untestable
# here* had no room for the claim in this regime: that is not evidence against it. Then the
# structural claims: does a random mask with the right per-layer densities match SNIP, and does the gap
# to dense close as the MLP gets wider, or deeper?

# %% [markdown]
# ## Check yourself
#
# 1. Why does the output layer of the MLP saturate (p = 1) at sparsity 0.9?
#
#    <details><summary>Answer</summary>
#
#    Its `r = (100 + 10)/(100·10) = 0.11` is much larger than the others', so `σ·r > 1`: with the σ the
#    budget asks for it would need more than all of its connections. It is kept dense and σ is solved
#    again for the remaining layers.
#
#    </details>
#
# 2. What would happen if the output layer got the same probability as the first layer
#    (`mode="uniform"`)?
#
#    <details><summary>Answer</summary>
#
#    It would keep 10 % of its 1 000 weights: each class output would read only about 10 of the 100
#    hidden units — a bottleneck that costs accuracy while saving almost nothing (1 000 weights out of
#    266 200). Small layers are cheap to keep dense; that is the point of `r_l`.
#
#    </details>
#
# 3. At what density does CSR stop saving memory for a float32 matrix with int32 indices?
#
#    <details><summary>Answer</summary>
#
#    CSR costs 8 bytes per kept weight (value + column index) plus the row pointers; dense costs 4 bytes
#    per weight. So above about 50 % density CSR is larger (your turn 3).
#
#    </details>
#
# 4. Why must the optimizer's state be zeroed at masked positions, even though the gradient there is
#    already zero?
#
#    <details><summary>Answer</summary>
#
#    A momentum buffer (or Adam's moments) built up before the mask was applied would keep moving the
#    stored weight even with a zero gradient: `b ← μ b + 0` stays non-zero, and `W ← W − lr·b` moves it.
#    While the mask is on, the forward pass uses `W ⊙ M` and the moved weight is invisible; the moment the
#    mask is lifted (technique E's re-introduction) it counts again, with a value nobody chose. Zeroing
#    the state at masked positions keeps the stored weight exactly 0. (In this tutorial the masks come
#    before the first step, so there was no state to zero yet.)
#
#    </details>

# %%
assert abs(sigma - 17.2641509) < 1e-6 and abs(sigma_lib - sigma) < 1e-9                    # 1.
p_uniform, _ = C.connection_probabilities(model, 0.9, "uniform")                            # 2.
assert np.isclose(p_uniform["fc3"], 0.1) and np.isclose(p_uniform["fc1"], 0.1) and p_lib["fc3"] == 1.0
assert all(0 < q <= 1 for q in p5.values())
assert csr_bytes > 4 * a and rows[-1]["active"] == sum(r["active"] for r in rows[:-1])      # 3.
assert rows[-1]["density"] < 0.15
assert largest == 0.0                                                                       # 4.
print("all checks passed")
