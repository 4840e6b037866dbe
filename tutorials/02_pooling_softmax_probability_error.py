# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # Tutorial 2 — Pooling, sigmoid, softmax cross-entropy, the probability error, and vanishing gradients
#
# The other pieces of a CNN, each with its forward and backward pass:
#
# ```
# max pool     out = max of each K×K window          dx: dout goes to the window's maximum, 0 elsewhere
# avg pool     out = mean of each K×K window          dx: dout / K² to every position of the window
# sigmoid      y = 1 / (1 + e^(−x))                  dx = dout · y · (1 − y)        (at most dout / 4)
# softmax CE   p = softmax(z),  L = −(1/N) Σ_n log p[n, y_n]
#              dL/dz = (p − onehot(y)) / N            p − onehot(y) is the "probability error"
# ```
#
# In this tutorial you will
# 1. pool a small image by hand and see where the gradient goes;
# 2. compute softmax cross-entropy stably from logits and meet the **probability error**
#    (technique A's patent builds its branch supervision on it);
# 3. **measure** why sigmoid gradients vanish: per-layer gradient norms of a deep sigmoid CNN
#    against the same CNN with ReLU, and what that does to training.
#
# Run it with `python tutorials/02_pooling_softmax_probability_error.py` (`NUMPYCNN_FAST=1` for a
# quick run) or as a notebook: `jupytext --to ipynb tutorials/02_pooling_softmax_probability_error.py`.

# %%
import inspect
import os
import tempfile

import matplotlib
matplotlib.use("Agg")
import numpy as np
from matplotlib.figure import Figure

import numpycnn as nc
from numpycnn.losses import log_softmax, softmax
from numpycnn.pooling import (avgpool2d_backward, avgpool2d_forward, maxpool2d_backward, maxpool2d_forward,
                              maxpool2d_naive)

FAST = os.environ.get("NUMPYCNN_FAST", "0") == "1"
OUT = tempfile.mkdtemp(prefix="tutorial02-")
rng = np.random.default_rng(0)
print("fast mode" if FAST else "full mode", "| figures go to", OUT)

# %% [markdown]
# ## 1. Max pooling by hand
#
# A 4×4 image, 2×2 windows, stride 2 (the default: non-overlapping windows) → 2×2 output.

# %%
x = np.array([[1, 3, 2, 0],
              [4, 2, 1, 5],
              [0, 1, 7, 6],
              [2, 8, 3, 4]], dtype=np.float64)[None, None]       # (1, 1, 4, 4)
out, cache = maxpool2d_forward(x, kernel=2)
print("max pool:\n", out[0, 0])
assert np.array_equal(out[0, 0], [[4, 5], [8, 7]])
assert np.array_equal(out, maxpool2d_naive(x, kernel=2))

# %% [markdown]
# Backward: each window's output came from *one* input (its maximum), so the upstream gradient
# goes there and nowhere else. Everything else in the window gets 0 — max pooling is a switch.

# %%
dout = np.array([[10.0, 20.0], [30.0, 40.0]])[None, None]
dx = maxpool2d_backward(dout, cache)
print("dx:\n", dx[0, 0])
assert dx[0, 0, 1, 0] == 10 and dx[0, 0, 1, 3] == 20 and dx[0, 0, 3, 1] == 30 and dx[0, 0, 2, 2] == 40
assert np.count_nonzero(dx) == 4
print(inspect.getsource(maxpool2d_backward))

# %% [markdown]
# Average pooling spreads the gradient evenly instead: each of the 4 inputs gets `dout / 4`.

# %%
out_avg, cache_avg = avgpool2d_forward(x, kernel=2)
print("avg pool:\n", out_avg[0, 0])
print("dx:\n", avgpool2d_backward(dout, cache_avg)[0, 0])
assert np.allclose(avgpool2d_backward(dout, cache_avg)[0, 0, :2, :2], 10 / 4)

# %% [markdown]
# A gradient check of max pooling needs inputs **without ties** in a window (at a tie the max
# is not differentiable, and a nudge of `h` would flip the winner). A random permutation has no ties:

# %%
pool = nc.MaxPool2D(2)
x_perm = rng.permutation(2 * 3 * 6 * 6).reshape(2, 3, 6, 6).astype(np.float64) / 10
print("MaxPool2D:", nc.gradcheck.check_layer(pool, x_perm))
print("AvgPool2D:", nc.gradcheck.check_layer(nc.AvgPool2D(2), rng.standard_normal((2, 3, 6, 6))))

# %% [markdown]
# ## 2. Sigmoid and its derivative
#
# `σ(x) = 1 / (1 + e^(−x))`, with `σ'(x) = σ(x)(1 − σ(x))`. The derivative is largest at 0, where
# it is exactly **1/4**, and decays like `e^(−|x|)` away from it. numpycnn uses
# `scipy.special.expit`, which never overflows (try `1 / (1 + np.exp(1000))` yourself).

# %%
sig = nc.Sigmoid()
xs = np.linspace(-8, 8, 401)
ys = sig.forward(xs)
dys = sig.backward(np.ones_like(xs))
print(f"max derivative {dys.max():.4f} at x = {xs[dys.argmax()]:.2f}; derivative at x = 5: {dys[xs == 5][0]:.4f}")
assert abs(dys.max() - 0.25) < 1e-12
print(nc.gradcheck.check_layer(nc.Sigmoid(), rng.standard_normal((4, 5))))

fig = Figure(figsize=(5, 3))
ax = fig.subplots()
ax.plot(xs, ys, label="σ(x)")
ax.plot(xs, dys, label="σ'(x) = σ(1 − σ)")
ax.axhline(0.25, color="gray", ls=":", lw=0.8)
ax.set_xlabel("x")
ax.legend()
ax.grid(alpha=0.3)
print("figure:", nc.plots.save_figure(fig, os.path.join(OUT, "sigmoid.png")))

# %% [markdown]
# ## 3. Softmax cross-entropy from logits, and the probability error
#
# The network's last layer outputs **logits** `z: (N, K)`. Softmax turns them into probabilities,
# cross-entropy scores the probability of the true class:
#
# ```
# p[n, k] = exp(z[n, k] − m_n) / Σ_j exp(z[n, j] − m_n)         m_n = max_k z[n, k]  (stability)
# L       = mean_n ( logsumexp(z_n) − z[n, y_n] )               never log(0), no "+1e-7" fudge
# ```
#
# Subtracting the row maximum changes nothing mathematically but keeps `exp` from overflowing:

# %%
z_big = np.array([[1000.0, 0.0, -1000.0]])
with np.errstate(over="ignore", invalid="ignore"):
    naive = np.exp(z_big) / np.exp(z_big).sum()
print("naive softmax:", naive, "| stable softmax:", softmax(z_big))
assert np.isnan(naive).any() and np.allclose(softmax(z_big), [[1, 0, 0]])
print(inspect.getsource(log_softmax))

# %% [markdown]
# The gradient of the mean loss with respect to the logits is remarkably simple:
#
# ```
# dL/dz[n, k] = (p[n, k] − [k == y_n]) / N
# ```
#
# `e = p − onehot(y)` is what technique A's patent calls the **probability error**: for the true
# class it is `p − 1 ≤ 0` (push the logit up), for every other class `p ≥ 0` (push it down), and
# each row sums to 0. `SoftmaxCrossEntropy.probability_error()` returns it.

# %%
loss = nc.SoftmaxCrossEntropy()
z = np.array([[2.0, 1.0, 0.1],          # confident and right (true class 0)
              [0.5, 2.5, 0.3],          # confident and wrong (true class 0)
              [0.0, 0.0, 0.0]])         # undecided (true class 2)
y = np.array([0, 0, 2])
L = loss.forward(z, y)
e = loss.probability_error()
print(f"loss = {L:.4f}")
print("p =\n", np.round(loss.p, 3))
print("probability error p − onehot(y) =\n", np.round(e, 3))
assert np.allclose(e.sum(axis=1), 0)
assert np.allclose(loss.backward(), e / len(y))
assert np.isclose(L, np.mean(loss.per_sample(z, y)))
print("check_loss:", nc.gradcheck.check_loss(nc.SoftmaxCrossEntropy(), rng.standard_normal((6, 10)),
                                             rng.integers(0, 10, 6)))

# %% [markdown]
# The wrong, confident sample (row 2) has the largest error and dominates the gradient; the
# undecided sample (row 3) has `p = 1/3` everywhere and loss `log 3 ≈ 1.10` — the loss of guessing.
# With `K` classes the loss of a network that guesses uniformly is `log K`: `log 10 ≈ 2.30` is the
# number to expect at the start of training on 10 classes.

# %%
print("per-sample losses:", np.round(loss.per_sample(z, y), 3), "| log 3 =", round(np.log(3), 3))

# %% [markdown]
# ## 4. Why sigmoid gradients vanish — measured
#
# Backpropagation multiplies the gradient by `σ'(a) ≤ 1/4` at every sigmoid layer (and by the
# weights). Through `L` layers the factor is at most `4^(−L)`: the first layers of a deep sigmoid
# network hardly receive any gradient. Let us measure it on a plain 8-layer CNN (`plain_cnn`: 8
# conv layers, no normalisation, no skips) on the embedded 8×8 digits, in float64:
# one batch, one backward pass, the norm `‖∂L/∂W‖` of every layer's weight gradient.

# %%
data = nc.datasets.load_dataset("digits", seed=0)
xb = data.train.x[:64 if FAST else 256].astype(np.float64)
yb = data.train.y[:len(xb)]


def weight_gradient_norms(activation_name):
    """‖dL/dW‖ of every conv/fc layer, and ‖dL/d(activation output)‖ of every activation layer."""
    model = nc.zoo.plain_cnn(data.input_shape, depth=8, width=8, activation_name=activation_name, seed=0,
                             dtype=np.float64)
    arriving = {}
    for name in model.layers:
        if name.startswith("act"):
            # a backward hook sees the gradient arriving at the layer's output; we record it and pass it on
            model.add_backward_hook(name, lambda g, name=name: arriving.__setitem__(name, np.linalg.norm(g)) or g)
    ce = nc.SoftmaxCrossEntropy()
    ce.forward(model.forward(xb), yb)
    model.backward(ce.backward())
    weights = {n[:-2]: float(np.linalg.norm(g)) for n, _, g in model.named_parameters() if n.endswith(".W")}
    return model, weights, arriving


norms, arriving = {}, {}
for act in ("sigmoid", "relu"):
    model, norms[act], arriving[act] = weight_gradient_norms(act)
    print(f"{act:8s} ‖dL/dW‖   ", "  ".join(f"{k}={v:.1e}" for k, v in norms[act].items()))
    print(f"{act:8s} ‖dL/d act‖", "  ".join(f"{k}={v:.1e}" for k, v in sorted(arriving[act].items())))
print(model.summary())

# %%
layers = list(norms["sigmoid"])
fig = Figure(figsize=(7, 3.2))
ax = fig.subplots()
for act, marker in (("sigmoid", "o-"), ("relu", "s-")):
    ax.semilogy(range(len(layers)), [norms[act][k] for k in layers], marker, label=act)
ax.set_xticks(range(len(layers)), layers)
ax.set_ylabel("‖dL/dW‖ (log scale)")
ax.set_title("weight-gradient norm per layer, plain 8-layer CNN, one batch")
ax.legend()
ax.grid(alpha=0.3, which="both")
print("figure:", nc.plots.save_figure(fig, os.path.join(OUT, "gradient_norms_per_layer.png")))
ratio = norms["sigmoid"]["conv8"] / norms["sigmoid"]["conv1"]
print(f"sigmoid: conv8 receives {ratio:.0f}x the gradient of conv1 "
      f"(per layer a factor ~{ratio ** (1 / 7):.1f}); relu: {norms['relu']['conv8'] / norms['relu']['conv1']:.1f}x")

# %% [markdown]
# With sigmoid the norm shrinks by a roughly constant factor per layer from the output down to
# `conv1` — a straight line on the log scale. With ReLU (derivative 1 where active, He
# initialisation) it stays within one order of magnitude. Technique A (tutorial 4) attacks exactly
# this: it finds the layer where the gradient has vanished and attaches a second loss there.
#
# What it does to training: the same two networks, the same data order, Adam, a few hundred steps.

# %%
steps = 30 if FAST else 300
curves = {}
for act in ("sigmoid", "relu"):
    model = nc.zoo.plain_cnn(data.input_shape, depth=8, width=8, activation_name=act, seed=0)
    trainer = nc.Trainer(model, nc.optim.Adam(model, lr=1e-3), seed=0, batch_size=32, progress=False)
    trainer.fit(data.train, data.val, epochs=100, max_steps=steps)
    curves[act] = trainer.history
    print(f"{act:8s} after {trainer.step} steps: train loss {trainer.history['train_loss'][-1]:.3f}, "
          f"val accuracy {trainer.history['val_acc'][-1]:.3f}")

# %% [markdown]
# The ReLU network learns; the sigmoid network's loss stays near `log 10 ≈ 2.30` for much
# longer, because its first layers barely move.
#
# ## Check yourself
#
# 1. Max pooling a window with a tie (two equal maxima): where does the gradient go in numpycnn?
# 2. What is the largest value of `σ'(x)`, and what bound does it give for 8 sigmoid layers?
# 3. Why does each row of the probability error sum to 0?
# 4. What loss do you expect at initialisation on 10 classes, and why?
# 5. In the measurement above, which layer received the smallest gradient, and by how much?

# %%
tie = np.array([[[[2.0, 2.0], [1.0, 0.0]]]])                          # 1. the first maximum wins
_, c = maxpool2d_forward(tie, 2)
assert np.array_equal(maxpool2d_backward(np.ones((1, 1, 1, 1)), c)[0, 0], [[1, 0], [0, 0]])
assert 0.25 ** 8 < 2e-5                                               # 2. σ' ≤ 1/4 per layer
assert np.allclose(e.sum(axis=1), 0)                                  # 3. Σ_k p = 1 and Σ_k onehot = 1
ce = nc.SoftmaxCrossEntropy()                                         # 4. uniform guess: log K
assert np.isclose(ce.forward(np.zeros((5, 10)), np.arange(5)), np.log(10))
assert min(norms["sigmoid"], key=norms["sigmoid"].get) == "conv1"     # 5. the first layer
assert norms["sigmoid"]["conv1"] < 1e-2 * norms["sigmoid"]["conv8"]
assert norms["relu"]["conv1"] > 10 * norms["sigmoid"]["conv1"]
if not FAST:
    assert curves["relu"]["val_acc"][-1] > curves["sigmoid"]["val_acc"][-1]
print("all checks passed")
