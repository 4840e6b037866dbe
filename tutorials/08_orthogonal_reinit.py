# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # Tutorial 8 — Technique E: orthogonality, the QR null space, and the drop/re-introduce schedule
#
# **The problem.** Some filters of a trained conv layer look alike: they detect nearly the same thing,
# and the capacity they take is wasted.
#
# **The idea.** Measure how *redundant* each filter is — how far it is from being orthogonal to the
# others — drop the most redundant ones for a while so the rest of the network learns without them,
# then bring them back initialised in the directions the surviving filters do *not* cover: the
# **null space** (orthogonal complement) of the survivors. Published as RePr (Prakash et al., CVPR
# 2019), which reports gains on CIFAR-10; several re-implementations could not reproduce them.
#
# **The orthogonality measure.** Flatten each of the `J` filters of a layer (`k×k×c` weights) into a
# row of `W_l`, normalise the rows (`Ŵ_l`), and
#
# ```
# P_l = | Ŵ_l Ŵ_lᵀ − I |                 (J, J): P[f, j] = |cos ∠(w_f, w_j)| off the diagonal
# O_f = Σ_j P_l[f, j] / J               the orthogonality measure of filter f — large = redundant
# ```
#
# **The claim steps** (the source text, a patent, in plain words), every S1 iterations of normal
# training: (1) flatten and normalise the filters of each conv layer; (2) compute `O` for every filter;
# (3) sort, and drop the top `p = 30 %` → a sub-network; (4) train the sub-network for S2 iterations
# (the dropped filters stay exactly 0, optimizer state included); (5) re-introduce the dropped filters,
# initialised from the null space of the surviving filters via a QR decomposition, then continue normal
# training. Repeat N times.
#
# In this lesson you will
# 1. compute O yourself and see what it rewards;
# 2. build a null-space basis with a **pivoted** QR — and see the unpivoted version fail on
#    duplicated filters, the very case this technique looks for;
# 3. make orthogonal new filters from it;
# 4. drop and re-introduce filters in a real network, run the whole schedule, and learn to tell
#    "mechanism verified" from "benefit measured".
#
# **Assignment exercises taught here:** `techniques.orthogonal_reinit.orthogonality_measure`,
# `techniques.orthogonal_reinit.complement_basis`.
#
# *Your turn* cells are yours to write (the cell after each checks it); answers are folded. Run:
# `python tutorials/08_orthogonal_reinit.py` (`NUMPYCNN_FAST=1` for a quick run), or as a notebook.

# %%
import inspect
import os

import numpy as np
import scipy.linalg

import numpycnn as nc
from numpycnn.lab.results import describe_result, findings
from numpycnn.techniques import orthogonal_reinit as E

FAST = os.environ.get("NUMPYCNN_FAST", "0") == "1"
print("fast mode" if FAST else "full mode")
print("numpycnn imported from", nc.__file__)

# %% [markdown]
# ## Where each claim step lives in numpycnn
#
# | claim step | where |
# |---|---|
# | 1. flatten each k×k×c filter to a row of `W_l`, normalise the rows → `Ŵ_l` | `filter_matrix`, `normalized_filters` |
# | 2. `P_l = abs(Ŵ_l Ŵ_lᵀ − I)`, `O_f = Σ_j P_l[f, j] / J_l` | `orthogonality_measure` (loop reference: `orthogonality_measure_loop`) |
# | 3. sort, drop the top p = 30 % → a sub-network | `rank_filters`, `drop_filters` (masks) |
# | 4. train the sub-network S2 iterations; dropped weights, bias, optimizer state stay 0 | `RePr.on_step_end`, `hold_dropped_at_zero`, core masks |
# | 5. re-introduce from the null space of the survivors (QR), repeat N times | `complement_basis`, `null_space_filters`, `reintroduce_filters`, `RePr` |
#
# ## 1. The orthogonality measure
#
# Three 2×2 filters: a horizontal edge, a vertical edge, and a *rescaled, sign-flipped copy* of the
# horizontal edge.
#
# ### Your turn 1 — O, vectorised
#
# Write `measure(W)` for filters `W` `(J, C, KH, KW)`: flatten to `(J, D)`, divide every row by its norm,
# form `P = |Ŵ Ŵᵀ − I|` and return `O = P.sum(axis=1) / J` (four lines).

# %% tags=["solution"]
### BEGIN SOLUTION
def measure(W):
    W_l = W.reshape(W.shape[0], -1).astype(np.float64)
    W_hat = W_l / np.linalg.norm(W_l, axis=1, keepdims=True)
    J = W_hat.shape[0]
    return np.abs(W_hat @ W_hat.T - np.eye(J)).sum(axis=1) / J
### END SOLUTION

# %%
horizontal = np.array([[1.0, 1.0], [-1.0, -1.0]])
vertical = np.array([[1.0, -1.0], [1.0, -1.0]])
W = np.stack([horizontal, vertical, -3 * horizontal])[:, None]        # (F=3, C=1, 2, 2)
O = measure(W)
print("O =", np.round(O, 4))
assert np.allclose(O, E.orthogonality_measure_loop(W)), "your O differs from the pairwise loop reference"
W_random = np.random.default_rng(5).standard_normal((7, 2, 3, 3))
assert np.allclose(measure(W_random), E.orthogonality_measure_loop(W_random))
assert np.isclose(O[1], 0) and np.isclose(O[0], O[2]) and O[0] > 0
print("your turn 1: correct")

# %% [markdown]
# Cosine similarity ignores scale and sign (the absolute value), so the copy and the original are
# "the same filter": both get a large O; the vertical edge, orthogonal to both, gets 0. A duplicated
# filter always ranks among the most redundant.
#
# ## 2. The null space with a pivoted QR decomposition
#
# Take the kept filters as the rows of `A` (`m × D`). A full QR decomposition of `Aᵀ` (`D × m`) gives an
# orthogonal `Q` (`D × D`) and an upper-triangular `R`. If the first `r = rank(A)` columns of `Q` span
# the rows of `A`, the remaining `D − r` columns are orthogonal to every row — a basis of the
# complement, and new filters taken from there are orthogonal to all the kept ones.
#
# *If.* Without pivoting, QR processes the columns of `Aᵀ` in their given order. A filter that is a
# copy (or a multiple) of an earlier one adds nothing: its `R_ii` is 0, in the *middle* of `R`, and the
# first `r` columns of `Q` then include a direction that is *not* in the span of `A`'s rows — while one
# that is ends up after position `r`. Duplicated filters are exactly what this technique looks for:

# %%
rng = np.random.default_rng(0)
a, b, c = rng.standard_normal((3, 9))
A = np.vstack([a, a, b, c])                            # 4 kept 3×3 filters, two of them identical: rank 3
r = np.linalg.matrix_rank(A)
Q, R = scipy.linalg.qr(A.T)                            # no pivoting
print("rank(A) =", r, "| diag(R) without pivoting:", np.round(np.diag(R), 3))
wrong = Q[:, r:]
print("without pivoting: max |A @ Q[:, r:]| =", np.abs(A @ wrong).max(), "(should be 0)")
assert np.abs(A @ wrong).max() > 1e-3                  # not orthogonal to the kept filters: wrong

# %% [markdown]
# **Column pivoting** fixes it: `scipy.linalg.qr(A.T, pivoting=True)` reorders the columns so that
# `|R_00| ≥ |R_11| ≥ …`, every dependent column goes to the end, and the first `r` columns of `Q` span
# the rows of `A`. The rank is the number of `|R_ii|` above a small tolerance times `|R_00|`.
#
# ### Your turn 2 — the complement basis
#
# Write `complement(A, rtol=1e-10)`: pivoted full QR of `A.T`, `r` = the number of `|R_ii| > rtol·|R_00|`,
# return `Q[:, r:]` (three or four lines; `scipy.linalg.qr(A.T, pivoting=True)` returns `Q, R, piv`).

# %% tags=["solution"]
### BEGIN SOLUTION
def complement(A, rtol=1e-10):
    Q, R, _ = scipy.linalg.qr(A.T, pivoting=True)
    diag = np.abs(np.diag(R))
    r = int(np.sum(diag > rtol * diag[0]))
    return Q[:, r:]
### END SOLUTION

# %%
B = complement(A)
print("complement dimension:", B.shape[1], "| max |A @ B| =", np.abs(A @ B).max())
assert B.shape == (9, 9 - r), f"9 dimensions minus rank {r} leave {9 - r}; got {B.shape}"
assert np.abs(A @ B).max() < 1e-12, "B must be orthogonal to every row of A"
assert np.allclose(B.T @ B, np.eye(B.shape[1]), atol=1e-12), "B's columns must be orthonormal"
print("your turn 2: correct — with pivoting the duplicated filter does no harm")

# %% [markdown]
# **Fill in now:** `techniques.orthogonal_reinit.complement_basis` in `numpycnn/techniques/orthogonal_reinit.py`
# — your turn 2, with the tolerance its docstring gives. It must span the same space as yours:

# %%
B_lib = E.complement_basis(A)
assert np.allclose(B @ B.T, B_lib @ B_lib.T, atol=1e-12), "same space as the library's complement_basis"

# %% [markdown]
# ### Your turn 3 — new filters from the null space
#
# The library adds a random rotation: with `H` a random orthogonal matrix of size `B.shape[1]`, the
# columns of `B @ H` are another orthonormal basis of the same space. Make `n_new = 3` new filters
# `V` (rows, `(3, 9)`) from the first 3 columns of `B @ H`, scaled to the kept filters' mean norm
# `scale` (one scalar for all — never clip per element).

# %%
H = E.random_orthogonal(B.shape[1], np.random.default_rng(1))
scale = float(np.linalg.norm(A, axis=1).mean())
n_new = 3

# %% tags=["solution"]
### BEGIN SOLUTION
V = scale * (B @ H[:, :n_new]).T
### END SOLUTION

# %%
assert V.shape == (n_new, 9)
assert np.abs(A @ V.T).max() < 1e-10 * scale ** 2, "the new filters must be orthogonal to every kept filter"
assert np.allclose(V @ V.T, scale ** 2 * np.eye(n_new)), "the new filters must be mutually orthogonal, of norm scale"
print("your turn 3: correct — new filters orthogonal to the kept ones and to each other")

# %% [markdown]
# The library's `null_space_filters` also stacks the dropped filters' *old* values into `A` (so the
# new filters are not the old ones again), and when the space is too small — 9 dimensions cannot hold
# the 3 directions of the kept filters + 4 old + 4 new ones — it relaxes the old-value constraint
# (orthogonal to the kept filters only), then falls back to random filters, and says so:

# %%
V_lib, mode = E.null_space_filters(A, rng.standard_normal((2, 9)), 2, np.random.default_rng(1))
print("mode:", mode, "| max |kept @ new| =", np.abs(A @ V_lib.T).max())
_, mode_small = E.null_space_filters(A, rng.standard_normal((4, 9)), 4, np.random.default_rng(1))
print("mode with too little room:", mode_small)
assert mode == "kept+old" and mode_small == "kept"

# %% [markdown]
# ## 3. Drop and re-introduce in a real network
#
# A vanilla CNN (three conv layers) trained briefly on the embedded digits. We measure O, drop 30 %
# of every layer, check the sub-network really ignores the dropped filters, then re-introduce them.
#
# **Fill in now:** `techniques.orthogonal_reinit.orthogonality_measure` in
# `numpycnn/techniques/orthogonal_reinit.py` — your turn 1's O for every filter of a layer, as its
# docstring gives it.

# %%
data = nc.datasets.load_dataset("digits", seed=0)
model = nc.zoo.vanilla_cnn(data.input_shape, width=16, seed=0)
opt = nc.optim.Adam(model, lr=3e-3)
nc.Trainer(model, opt, batch_size=32, progress=False).fit(data.train, epochs=1 if FAST else 4)

measures = E.layer_measures(model, model.conv_layers())
dropped = E.rank_filters(measures, p=0.3)
print({name: idx.tolist() for name, idx in dropped.items()})
old, prior = E.drop_filters(model, opt, dropped)

x = data.test.x[:32]
conv2_out = {}
model.add_forward_hook("conv2", lambda h: conv2_out.__setitem__("h", h))
logits = model.forward(x)
model.remove_hooks("conv2")
print("dropped conv2 feature maps exactly 0:", np.all(conv2_out["h"][:, dropped["conv2"]] == 0))
assert np.all(conv2_out["h"][:, dropped["conv2"]] == 0)
model["conv2"].params["W"][dropped["conv2"]] += 100.0            # perturb a dropped filter...
assert np.array_equal(model.forward(x), logits)                  # ...the sub-network does not see it
model["conv2"].params["W"][dropped["conv2"]] = 0.0

print(inspect.getsource(E.reintroduce_filters).split('    """', 2)[-1])      # step 5 (the body)
modes = E.reintroduce_filters(model, dropped, old, prior, lambda name: np.random.default_rng(0))
print("re-initialisation modes:", modes)
flat = model["conv2"].params["W"].reshape(16, -1).astype(np.float64)
keep = np.setdiff1d(np.arange(16), dropped["conv2"])
unit = flat / np.linalg.norm(flat, axis=1, keepdims=True)          # rows of norm 1: their dot products are cosines
cos = np.abs(unit[dropped["conv2"]] @ unit[keep].T).max()
print("max |cos(new, kept)| in conv2:", cos)
assert cos < 1e-5                                                  # float32 weights: orthogonal to rounding
after = E.layer_measures(model, model.conv_layers())
for name in measures:
    print(f"{name}: mean O {measures[name].mean():.3f} -> {after[name].mean():.3f}")

# %% [markdown]
# ### Re-introduction without breaking the function
#
# Look at what happens to the layer *after* conv2 when the filters come back. While a filter is
# dropped its channel is `relu(0) = 0`, so conv3's weights that read that channel see zeros and do
# not matter. The re-introduced filter produces a brand-new feature — and by default (`keep`, what the
# text and RePr do) conv3 reads it through weights fitted to the *old* filter: the network's output
# jumps. The `function-preserving` re-introduction also sets those conv3 weights (and their optimizer
# state) to 0, so at that moment the output is exactly unchanged, and training then decides how much
# of the new feature to use — like a channel added with zero outgoing weights.

# %%
outputs = {}
for mode in E.REINTRODUCTIONS:
    net = nc.zoo.vanilla_cnn(data.input_shape, width=16, seed=0)
    net_opt = nc.optim.Adam(net, lr=3e-3)
    nc.Trainer(net, net_opt, batch_size=32, progress=False).fit(data.train, epochs=1 if FAST else 4)
    net_dropped = E.rank_filters(E.layer_measures(net, net.conv_layers()), p=0.3)
    net_old, net_prior = E.drop_filters(net, net_opt, net_dropped)
    before = net.forward(x).copy()                                 # the sub-network's output
    E.reintroduce_filters(net, net_dropped, net_old, net_prior, lambda name: np.random.default_rng(0))
    if mode == "function-preserving":
        for name, idx in net_dropped.items():
            E.silence_outgoing(net, net_opt, name, idx)           # the next layer's weights on those channels = 0
    outputs[mode] = np.abs(net.forward(x) - before).max()
    print(f"{mode:20s}: largest change of a logit at re-introduction {outputs[mode]:.3g}")
assert outputs["function-preserving"] == 0.0 and outputs["keep"] > 0.01

# %% [markdown]
# `E.RePr(..., reintroduce="function-preserving")` does this at every re-introduction
# (`python -m numpycnn train --repr --repr-reintroduce function-preserving`); the project's experiment
# compares both (and a random-drop control that tells whether ranking by O matters at all).
#
# ## 4. The schedule during training
#
# `RePr` is a training callback: S1 normal iterations, drop, S2 sub-network iterations, re-introduce,
# N times. Its log records every cycle. Here is the schedule itself — steps 3 to 5 as the callback runs
# them after every optimizer step:

# %%
print(inspect.getsource(E.RePr.on_step_end))
print(inspect.getsource(E.drop_filters))

# %%
model = nc.zoo.vanilla_cnn(data.input_shape, width=16, seed=1)
schedule = E.RePr(s1=10 if FAST else 40, s2=5 if FAST else 20, n_cycles=2, p=0.3, monitor=data.val)
trainer = nc.Trainer(model, nc.optim.Adam(model, lr=3e-3), callbacks=[schedule], batch_size=32, progress=False)
trainer.fit(data.train, data.val, epochs=1 if FAST else 4)
for entry in schedule.log:
    print(f"cycle {entry['cycle']}: dropped at step {entry['drop_step']}, re-introduced at step "
          f"{entry['reintroduce_step']}, accuracy {entry['acc_before_reintroduce']:.3f} -> "
          f"{entry['acc_after_reintroduce']:.3f}, modes {entry['modes']}")
print("test accuracy:", model.evaluate(data.test.x, data.test.y)["accuracy"])

# %% [markdown]
# ## 5. Mechanism verified, benefit measured
#
# * **Mechanism verified** — exact properties: O is 0 for an orthonormal set, invariant to rescaling
#   and sign flips, equal to the pairwise loop; duplicated filters rank first; the number dropped is
#   `⌊p · eligible⌋`; during S2 the dropped weights, biases and optimizer state stay exactly 0 and
#   perturbing them leaves the logits unchanged; re-introduced filters are orthogonal to the kept ones
#   (and the old values, when there is room) and to each other. This tutorial asserted several;
#   `tests/test_orthogonal_reinit.py` asserts all of them. They say the code does what the text says
#   — not that the network ends up more accurate.
# * **Benefit measured** — the claim is higher accuracy than standard training with the same budget.
#   Checking it needs the baseline trained just as well (tuned on validation, the same iterations),
#   paired seeds (same initial weights and data order), at least five of them, and the verdict read off
#   a 95 % confidence interval of the paired accuracy differences. The accuracy dip printed in the
#   cycle log above is part of the story; the end-of-training difference over seeds is the verdict.
#
# The project's experiment writes its result to `figures/orthogonal_reinit.json`; this cell reads it
# (or says it has not been measured yet):

# %%
print(describe_result("orthogonal_reinit"))

# %% [markdown]
# **What the full run found**, in sentences generated from the same file by
# `numpycnn.lab.results.findings` — nothing below is typed, so it stays true when the experiment is
# rerun (the tables and curves are in `docs/orthogonal_reinit.md`):

# %%
print(findings("orthogonal_reinit"))

# %% [markdown]
# How to read it. Every arm trains the same budget at its own tuned learning rate, and is compared
# with standard training on paired seeds. Besides the variants against standard training, two controls
# isolate the mechanism: ranking by orthogonality against dropping as many filters at random (is the
# ranking what matters?), and the test accuracy at the epoch of best validation accuracy (is a verdict
# an artefact of where training stopped?). The dip columns say what each drop and re-introduction cost;
# section 3's function-preserving re-introduction removes the dip at re-introduction exactly.

# %% [markdown]
# ## Check yourself
#
# 1. Why does O use the *absolute* value of the cosine? What would happen to a filter and its negative
#    without it?
#
#    <details><summary>Answer</summary>
#
#    A filter and its negative detect the same pattern (with opposite sign; the next layer can undo
#    the sign), so they are redundant. Their cosine is −1; without the absolute value it would
#    *lower* their O and make them look like the most useful filters.
#
#    </details>
#
# 2. The first layer of a gray-image network has 3×3×1 = 9 weights per filter. With 32 filters, why
#    can the re-introduced filters never be orthogonal to all the kept ones?
#
#    <details><summary>Answer</summary>
#
#    The kept filters (23 of them after dropping 9) live in a 9-dimensional space and almost surely
#    span all of it: the complement is `{0}`. The library falls back to random filters there and logs
#    it.
#
#    </details>
#
# 3. Why does the complement need a *pivoted* QR?
#
#    <details><summary>Answer</summary>
#
#    Without pivoting, a dependent (e.g. duplicated) filter early in `Aᵀ` puts a zero in the middle of
#    `diag(R)`; the first `r` columns of `Q` then miss part of the span of `A`, and `Q[:, r:]` is not
#    orthogonal to the kept filters (section 2 measured it). Pivoting moves dependent columns to the
#    end, so the first `r` columns span exactly the rows of `A`.
#
#    </details>
#
# 4. Why is `W[idx] = V` right but `np.add(W[idx], V, out=W[idx])` wrong?
#
#    <details><summary>Answer</summary>
#
#    `W[idx]` with an index array is a *copy*: writing into it (`out=`) changes the copy, not `W`.
#    Assignment `W[idx] = …` calls `__setitem__` on `W` itself.
#
#    </details>

# %%
assert np.isclose(measure(np.stack([horizontal, -horizontal, vertical])[:, None])[0], 1 / 3)   # 1. |cos| = 1
first = np.random.default_rng(2).standard_normal((23, 9))                                      # 2. no room
assert E.complement_basis(first).shape[1] == 0
assert np.abs(A @ wrong).max() > 1e-3 and np.abs(A @ complement(A)).max() < 1e-12               # 3.
W_copy = np.zeros((4, 2))                                                                      # 4.
np.add(W_copy[[0, 2]], 1.0, out=W_copy[[0, 2]])
assert W_copy.sum() == 0
W_copy[[0, 2]] = 1.0
assert W_copy.sum() == 4
assert len(schedule.log) == 2 and all(set(e["modes"].values()) <= set(E.MODES) for e in schedule.log)
assert E.drop_count(0.3, 16) == 4
print("all checks passed")
