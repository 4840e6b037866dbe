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
# Some filters of a trained conv layer look alike: they detect nearly the same thing and waste
# capacity. Technique E (spec section E; published as RePr, CVPR 2019) finds them with an
# **orthogonality measure O**, drops the most redundant ones for a while, and brings them back
# initialised in the directions the surviving filters do *not* cover — the **null space**.
#
# You will
# 1. compute O on hand-made filters and see what it rewards;
# 2. build a null-space basis with `scipy.linalg.qr`, step by step;
# 3. drop and re-introduce filters in a real network and check every claim;
# 4. run the whole schedule during training.
#
# Run: `python tutorials/08_orthogonal_reinit.py` (`NUMPYCNN_FAST=1` for a quick run).

# %%
import inspect
import os
import tempfile

import matplotlib
matplotlib.use("Agg")
import numpy as np
import scipy.linalg

import numpycnn as nc
from numpycnn.techniques import orthogonal_reinit as E

FAST = os.environ.get("NUMPYCNN_FAST", "0") == "1"
OUT = tempfile.mkdtemp(prefix="tutorial08-")

# %% [markdown]
# ## The claim steps in code
#
# | claim step (spec section E) | where |
# |---|---|
# | 1. flatten each k×k×c filter to a row of `W_l`, normalise the rows → `Ŵ_l` | `filter_matrix`, `normalized_filters` |
# | 2. `P_l = abs(Ŵ_l Ŵ_lᵀ − I)`, `O_f = Σ_j P_l[f, j] / J_l` | `orthogonality_measure` (loop reference: `orthogonality_measure_loop`) |
# | 3. sort, drop the top p = 30 % → a sub-network | `rank_filters`, `drop_filters` (masks) |
# | 4. train the sub-network S2 iterations; dropped weights, bias, optimizer state stay 0 | `RePr.after_step`, `hold_dropped_at_zero`, core masks |
# | 5. re-introduce from the null space of the survivors (QR), repeat N times | `complement_basis`, `null_space_filters`, `reintroduce_filters`, `RePr` |

# %%
print(inspect.getsource(E.orthogonality_measure))

# %% [markdown]
# ## 1. The orthogonality measure on hand-made filters
#
# Three 2×2 filters: a horizontal edge, a vertical edge, and a *rescaled, sign-flipped copy* of the
# horizontal edge. Cosine similarity ignores scale and sign (the absolute value), so the copy and
# the original are "the same filter" — both get a large O; the vertical edge, orthogonal to both,
# gets 0.

# %%
horizontal = np.array([[1.0, 1.0], [-1.0, -1.0]])
vertical = np.array([[1.0, -1.0], [1.0, -1.0]])
W = np.stack([horizontal, vertical, -3 * horizontal])[:, None]        # (F=3, C=1, 2, 2)
O = E.orthogonality_measure(W)
print("O =", np.round(O, 4))
print("P =\n", np.round(np.abs(E.normalized_filters(W) @ E.normalized_filters(W).T - np.eye(3)), 3))
assert np.allclose(O, E.orthogonality_measure_loop(W))
assert O[1] == 0 and O[0] == O[2] > 0

# %% [markdown]
# ## 2. The null space with a QR decomposition, step by step
#
# Take K kept filters as the rows of `A` (K × D). The full QR decomposition of `Aᵀ` (D × K) gives an
# orthogonal `Q` (D × D): its first `r = rank(A)` columns span the rows of `A`, the remaining D − r
# columns are orthogonal to every row — a basis of the complement. New filters taken from there are
# orthogonal to all the kept ones.

# %%
rng = np.random.default_rng(0)
A = rng.standard_normal((4, 9))                       # 4 kept 3×3 filters, D = 9
Q, R = scipy.linalg.qr(A.T)                           # A.T = Q R, Q is 9×9
r = np.linalg.matrix_rank(A)
B = Q[:, r:]                                          # 9 × 5: the complement
print("rank(A) =", r, "| complement dimension =", B.shape[1])
print("max |A @ B| =", np.abs(A @ B).max())          # ~1e-16: orthogonal to every kept filter
print("B^T B = I ?", np.allclose(B.T @ B, np.eye(B.shape[1])))
print(inspect.getsource(E.complement_basis))

# %% [markdown]
# The library's `null_space_filters` adds three things: the dropped filters' *old* values are
# stacked into `A` too (so the new filters are not the old ones again); a random orthogonal
# rotation `H` picks a random orthonormal basis of that space; and when the space is too small — 9
# dimensions cannot hold 4 kept + 3 old + 3 new directions — it relaxes the old-value constraint, then
# falls back to random filters, and says so.

# %%
V, mode = E.null_space_filters(A, rng.standard_normal((2, 9)), 2, np.random.default_rng(1))
print("mode:", mode, "| max |kept @ new| =", np.abs(A @ V.T).max())
V, mode = E.null_space_filters(A, rng.standard_normal((3, 9)), 3, np.random.default_rng(1))
print("mode with too little room:", mode)

# %% [markdown]
# ## 3. Drop and re-introduce in a real network
#
# A vanilla CNN (three conv layers) trained briefly on the embedded digits. We measure O, drop 30 %
# of every layer, check the sub-network really ignores the dropped filters, then re-introduce them.

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
print("max |cos(new, kept)| in conv2:",
      np.abs(flat[dropped["conv2"]] @ flat[keep].T).max() / np.linalg.norm(flat, axis=1).max() ** 2)
after = E.layer_measures(model, model.conv_layers())
for name in measures:
    print(f"{name}: mean O {measures[name].mean():.3f} -> {after[name].mean():.3f}")

# %% [markdown]
# ## 4. The schedule during training
#
# `RePr` is a training callback: S1 normal iterations, drop, S2 sub-network iterations, re-introduce,
# N times. Its log records every cycle. (The full comparison with standard training, several seeds
# and the figures is `python -m numpycnn compare orthogonal_reinit`; its table is in
# `docs/orthogonal_reinit.md` and the README.) Here is the schedule itself — steps 3 to 5 as the
# callback runs them after every optimizer step:

# %%
print(inspect.getsource(E.RePr.after_step))
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
# ## Check yourself
#
# 1. Why does O use the *absolute* value of the cosine? What would happen to a filter and its
#    negative without it?
# 2. The first layer of a gray-image network has 3×3×1 = 9 weights per filter. With 32 filters,
#    why can the re-introduced filters never be orthogonal to all the kept ones?
# 3. Why is `W[idx] += V` fine but `np.add(W[idx], V, out=W[idx])` wrong?

# %%
assert len(schedule.log) == 2
assert all(set(e["modes"].values()) <= set(E.MODES) for e in schedule.log)
assert E.drop_count(0.3, 16) == 4
print("all checks passed")
