# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # Tutorial 2 — Pooling, activations, softmax cross-entropy, the probability error, and vanishing gradients
#
# The other pieces of a CNN, each with its forward and backward pass:
#
# ```
# max pool     out = max of each K×K window          dx: dout goes to the window's maximum, 0 elsewhere
# avg pool     out = mean of each K×K window          dx: dout / K² to every position of the window
# ReLU         y = max(x, 0)                          dx = dout · [x > 0]
# sigmoid      y = σ(x) = 1 / (1 + e^(−x))            dx = dout · y · (1 − y)        (y(1 − y) ≤ 1/4)
# softmax CE   p = softmax(z),  L = −(1/N) Σ_n log p[n, y_n]
#              dL/dz = (p − onehot(y)) / N            p − onehot(y) is the "probability error"
# ```
#
# In this lesson you will
# 1. pool a small image by hand and route its gradient yourself;
# 2. derive and write the ReLU backward pass, and a sigmoid that never overflows;
# 3. compute softmax cross-entropy stably from logits and meet the **probability error**
#    (technique A builds its branch supervision on it);
# 4. **measure** what goes wrong in a deep sigmoid CNN: how much the gradient shrinks per layer
#    (and which factor does the shrinking), and why it still fails to learn when every weight takes a
#    step of the same size, however small its gradient.
#
# **Assignment exercises taught here:** `pooling.maxpool2d_forward`, `pooling.maxpool2d_backward`,
# `layers.ReLU.forward`, `layers.ReLU.backward`, `layers.Sigmoid.forward`, `layers.Sigmoid.backward`.
#
# *Your turn* cells are yours to write (the cell after each checks it); answers to the questions
# are folded. A line **Fill in now** says where the tutorial first runs one of the exercises above;
# no exercise of a later tutorial is needed (section 4 writes its two update rules itself). Run it
# with `python tutorials/02_pooling_softmax_probability_error.py` (`NUMPYCNN_FAST=1` for a quick run)
# or as a notebook. Figures: inline in a notebook, else in
# `tutorials/figures/02_pooling_softmax_probability_error/` (reference copies in
# `tutorials/reference_figures/`).

# %%
import inspect
import os

import numpy as np
from matplotlib.figure import Figure
from scipy.special import expit

import numpycnn as nc
from numpycnn.gradcheck import numerical_gradient, relative_error
from numpycnn.losses import log_softmax, softmax
from numpycnn.im2col import windows, windows_adjoint
from numpycnn.pooling import avgpool2d_backward, avgpool2d_forward, maxpool2d_forward, maxpool2d_naive

FAST = os.environ.get("NUMPYCNN_FAST", "0") == "1"
rng = np.random.default_rng(0)
print("fast mode" if FAST else "full mode")
print("numpycnn imported from", nc.__file__)

# %% [markdown]
# ## 1. Max pooling by hand
#
# A 4×4 image, 2×2 windows, stride 2 (the default: non-overlapping windows) → 2×2 output.
# The loop reference says it all:
#
# **Fill in now:** `pooling.maxpool2d_forward` in `numpycnn/pooling.py` (its docstring gives the layout).

# %%
print(inspect.getsource(maxpool2d_naive))
x = np.array([[1, 3, 2, 0],
              [4, 2, 1, 5],
              [0, 1, 7, 6],
              [2, 8, 3, 4]], dtype=np.float64)[None, None]       # (1, 1, 4, 4)
out, cache = maxpool2d_forward(x, kernel_size=2)
print("max pool:\n", out[0, 0])
assert np.array_equal(out[0, 0], [[4, 5], [8, 7]])
assert np.array_equal(out, maxpool2d_naive(x, kernel_size=2))

# %% [markdown]
# Backward: each window's output came from *one* input (its maximum), so a small change of any other
# input in the window changes nothing — its derivative is 0 — while the maximum passes its change on
# one for one. The upstream gradient goes to the maximum and nowhere else: max pooling is a switch.
#
# ### Your turn 1 — route the gradient of max pooling
#
# Given `dout` `(1, 1, 2, 2)`, fill `dx` `(1, 1, 4, 4)`: for each window `(i, j)`, put `dout[0, 0, i, j]`
# at the position of the window's maximum (`np.argmax` of the window and `np.unravel_index` help).

# %%
dout = np.array([[10.0, 20.0], [30.0, 40.0]])[None, None]
dx = np.zeros_like(x)

# %% tags=["solution"]
### BEGIN SOLUTION
for i in range(2):
    for j in range(2):
        window = x[0, 0, 2 * i:2 * i + 2, 2 * j:2 * j + 2]
        p, q = np.unravel_index(np.argmax(window), window.shape)
        dx[0, 0, 2 * i + p, 2 * j + q] = dout[0, 0, i, j]
### END SOLUTION

# %%
print("dx:\n", dx[0, 0])
assert dx[0, 0, 1, 0] == 10 and dx[0, 0, 1, 3] == 20 and dx[0, 0, 3, 1] == 30 and dx[0, 0, 2, 2] == 40, \
    "each window's gradient must land on that window's maximum (4 at (1,0), 5 at (1,3), 8 at (3,1), 7 at (2,2))"
assert np.count_nonzero(dx) == 4, "everything but the four maxima must get 0"
print("your turn 1: correct")

# %% [markdown]
# ### Without loops: the window view, one argmax
#
# The loops visit one window at a time. `numpycnn.im2col.windows` (tutorial 1) gives every window at once,
# as a *view* of `x` of shape `(N, C, OH, OW, K, K)`. Flatten each window to one row of `K·K` values, and
# one `argmax` over that last axis finds every window's maximum — its flat index `p·K + q` inside the
# window (`np.argmax` picks the **first** maximum on ties):

# %%
win = windows(x, 2, 2, stride=2)                     # (1, 1, 2, 2, 2, 2): every 2×2 window
flat = win.reshape(1, 1, 2, 2, 4)                    # (N, C, OH, OW, K*K): one row per window
argmax = flat.argmax(axis=-1)                        # (1, 1, 2, 2): where each maximum sits, p*K + q
print("windows as rows:\n", flat[0, 0])
print("argmax:\n", argmax[0, 0])
assert np.array_equal(flat.max(axis=-1), out)

# %% [markdown]
# The backward pass is your turn 1 without loops: a one-hot row per window (1 at the argmax) times that
# window's `dout` is the gradient of every window entry; `windows_adjoint` adds each entry's gradient back
# where the window read it (summing where windows overlap):

# %%
onehot = argmax[..., None] == np.arange(4)           # (1, 1, 2, 2, 4)
dwin = (onehot * dout[..., None]).reshape(1, 1, 2, 2, 2, 2)
assert np.array_equal(windows_adjoint(dwin, x.shape, 2, 2, stride=2), dx)

# %% [markdown]
# These lines are `pooling.maxpool2d_forward` and `pooling.maxpool2d_backward`: the assignment's exercise
# (with padding, strides and the cache `(x_shape, argmax, kernel_size, stride, pad)`). `nc.MaxPool2D` trains
# with a faster implementation by default (`numpycnn.fast_pooling`: a running maximum over the `K·K` offsets,
# with no copy of the windows). One switch makes every `Conv2D` and `MaxPool2D` train on the textbook code
# — your convolution from tutorial 1 and your max pooling — to the same numbers:
#
# **Fill in now:** `pooling.maxpool2d_backward` in `numpycnn/pooling.py` — your turn 1 for every window,
# the one-hot rows and `windows_adjoint` above.

# %%
data = nc.datasets.load_dataset("digits", seed=0, train_limit=400)
ce, losses = nc.SoftmaxCrossEntropy(), {}
for implementation in ("fast", "textbook"):
    with nc.layers.use_implementation(implementation):
        net = nc.Sequential([("conv", nc.Conv2D(1, 4, 3, pad=1, rng=np.random.default_rng(0), dtype=np.float64)),
                             ("pool", nc.MaxPool2D(2)), ("flat", nc.Flatten()),
                             ("fc", nc.Dense(4 * 4 * 4, 10, rng=np.random.default_rng(1), dtype=np.float64))],
                            input_shape=data.input_shape)        # tutorial 1's network with your max pooling
        for at in range(0, len(data.train) - 32 + 1, 32):       # one epoch of plain gradient steps (as tutorial 1)
            xb, yb = data.train.x[at:at + 32].astype(np.float64), data.train.y[at:at + 32]
            loss = ce.forward(net.forward(xb), yb)
            net.backward(ce.backward())
            for name, W, dW in list(net.named_parameters()):
                net.set_parameter(name, W - 0.05 * dW)
        losses[implementation] = loss
print(losses)
assert abs(losses["fast"] - losses["textbook"]) < 1e-9 * losses["fast"]   # the same network, the same numbers

# %% [markdown]
# Average pooling spreads the gradient evenly instead: each of the 4 inputs gets `dout / 4`.

# %%
out_avg, cache_avg = avgpool2d_forward(x, kernel_size=2)
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
# ## 2. Activations: ReLU and sigmoid
#
# An activation acts on every entry alone, `y = φ(x)`, so its backward pass is the chain rule entry
# by entry: `∂L/∂x = ∂L/∂y · φ'(x)`.
#
# **ReLU**, `y = max(x, 0)`: `φ'(x) = 1` for `x > 0`, `0` for `x < 0` (at exactly 0 it has no
# derivative; numpycnn, like PyTorch, uses 0). So `dx = dout · [x > 0]` — it passes the gradient
# where the unit was active and blocks it elsewhere. Keep the mask from the forward pass, and never
# write into `dout` (a classic bug: `dout[x <= 0] = 0` changes the caller's array).
#
# ### Your turn 2 — ReLU forward and backward
#
# Write `relu_forward(x)` returning `(y, mask)` and `relu_backward(dout, mask)` returning `dx`
# (one line each).

# %% tags=["solution"]
### BEGIN SOLUTION
def relu_forward(x):
    mask = x > 0
    return np.maximum(x, 0), mask


def relu_backward(dout, mask):
    return dout * mask
### END SOLUTION

# %%
xr = rng.standard_normal((4, 6))
xr[np.abs(xr) < 0.1] = 0.5                       # keep away from the kink at 0 (central differences)
dout_r = rng.standard_normal((4, 6))
dout_r.setflags(write=False)                      # backward must not write into dout
yr, mask = relu_forward(xr)
assert np.array_equal(yr, np.where(xr > 0, xr, 0)), "relu_forward: y must be max(x, 0)"
dxr = relu_backward(dout_r, mask)
numeric = numerical_gradient(lambda: np.sum(relu_forward(xr)[0] * dout_r), xr)
print("ReLU backward vs central differences: relative error", relative_error(dxr, numeric))
assert relative_error(dxr, numeric) < 1e-9
print("your turn 2: correct — this is what layers.ReLU.forward/backward compute")

# %% [markdown]
# **Sigmoid**, `σ(x) = 1 / (1 + e^(−x))`, with `σ'(x) = σ(x)(1 − σ(x))` (differentiate
# `(1 + e^(−x))^(−1)`: `e^(−x)/(1 + e^(−x))² = σ · (1 − σ)`). The derivative is largest at 0, where
# it is exactly **1/4**, and decays like `e^(−|x|)` away from it.
#
# Computing σ is a small lesson in floating point. `np.exp(1000)` overflows to `inf`. The textbook
# form survives it: `1 / (1 + inf) = 0.0`, the correct value (NumPy warns about the overflow, the
# result is right). The *other* textbook form, `e^x / (1 + e^x)`, gives `inf / inf = nan`:

# %%
with np.errstate(over="ignore", invalid="ignore"):
    form1 = 1 / (1 + np.exp(-np.array([-1000.0, 1000.0])))        # 1/(1 + e^(−x))
    form2 = np.exp(np.array([-1000.0, 1000.0])) / (1 + np.exp(np.array([-1000.0, 1000.0])))   # e^x/(1 + e^x)
print("1/(1+e^-x) at x = −1000, 1000:", form1, "  e^x/(1+e^x):", form2, "  expit:", expit([-1000.0, 1000.0]))
assert np.array_equal(form1, [0.0, 1.0])           # right, despite the overflow warning at x = −1000
assert form2[0] == 0.0 and np.isnan(form2[1])      # nan at x = +1000: this is the form that fails
with np.errstate(over="raise"):
    try:
        1 / (1 + np.exp(1000.0))
        raise AssertionError("np.exp(1000) should overflow")
    except FloatingPointError:
        print("with overflow made an error, even the right form fails: the exp itself overflows")

# %% [markdown]
# ### Your turn 3 — a sigmoid that never overflows
#
# Use each form where it is safe: `1/(1 + e^(−x))` for `x ≥ 0` (there `e^(−x) ≤ 1`) and
# `e^x/(1 + e^x)` for `x < 0` (there `e^x < 1`). Write `stable_sigmoid(x)` so that **no** `exp` ever
# sees a large positive argument — compute each branch only on its own entries (boolean masks),
# not with `np.where` on both branches (that evaluates both everywhere).

# %% tags=["solution"]
### BEGIN SOLUTION
def stable_sigmoid(x):
    y = np.empty_like(x)
    pos = x >= 0
    y[pos] = 1 / (1 + np.exp(-x[pos]))
    e = np.exp(x[~pos])
    y[~pos] = e / (1 + e)
    return y
### END SOLUTION

# %%
xs_test = np.array([-1000.0, -30.0, -1.0, 0.0, 1.0, 30.0, 1000.0])
with np.errstate(over="raise", invalid="raise"):   # any overflow or nan is now an error
    ys_test = stable_sigmoid(xs_test)
assert np.allclose(ys_test, expit(xs_test), rtol=1e-15, atol=0), f"{ys_test} vs expit {expit(xs_test)}"
print("your turn 3: correct — no overflow from −1000 to 1000; numpycnn's Sigmoid uses scipy's expit, same idea")

# %% [markdown]
# **Fill in now:** `layers.Sigmoid.forward` and `layers.Sigmoid.backward` in `numpycnn/layers.py` —
# `y = σ(x)` with `scipy.special.expit` (a stable sigmoid, like yours), kept for the backward pass
# `dx = dout · y · (1 − y)`. The cell below plots both and checks them.

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
nc.plots.show(fig, "sigmoid")

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
# The gradient of the mean loss with respect to the logits is remarkably simple. For one sample,
# `L_n = logsumexp(z_n) − z[n, y_n]`; the derivative of `logsumexp` is softmax, and of `z[n, y_n]` it
# is 1 at the true class:
#
# ```
# dL/dz[n, k] = (p[n, k] − [k == y_n]) / N
# ```
#
# `e = p − onehot(y)` is what technique A's source calls the **probability error**: for the true
# class it is `p − 1 ≤ 0` (push the logit up), for every other class `p ≥ 0` (push it down), and
# each row sums to 0.
#
# ### Your turn 4 — the probability error and the gradient of the loss
#
# For the logits `z` and labels `y` below, compute `e` (the probability error, `(N, K)`; use
# `softmax`) and `dz` = dL/dz of the *mean* loss.

# %%
z = np.array([[2.0, 1.0, 0.1],          # confident and right (true class 0)
              [0.5, 2.5, 0.3],          # confident and wrong (true class 0)
              [0.0, 0.0, 0.0]])         # undecided (true class 2)
y = np.array([0, 0, 2])

# %% tags=["solution"]
### BEGIN SOLUTION
onehot = np.zeros_like(z)
onehot[np.arange(len(y)), y] = 1
e = softmax(z) - onehot
dz = e / len(y)
### END SOLUTION

# %%
mean_ce = lambda: float(np.mean(-log_softmax(z)[np.arange(len(y)), y]))
assert np.allclose(e.sum(axis=1), 0), "each row of the probability error must sum to 0"
err = relative_error(dz, numerical_gradient(mean_ce, z))
print("dz vs central differences of the mean loss: relative error", err)
assert err < 1e-8
loss = nc.SoftmaxCrossEntropy()
L = loss.forward(z, y)
assert np.allclose(loss.probability_error(), e) and np.allclose(loss.backward(), dz)
print(f"loss = {L:.4f}")
print("p =\n", np.round(loss.p, 3))
print("probability error p − onehot(y) =\n", np.round(e, 3))
print("your turn 4: correct — SoftmaxCrossEntropy.probability_error() returns the same e")
print("check_loss:", nc.gradcheck.check_loss(nc.SoftmaxCrossEntropy(), rng.standard_normal((6, 10)),
                                             rng.integers(0, 10, 6)))

# %% [markdown]
# The wrong, confident sample (row 2) has the largest error and dominates the gradient; the
# undecided sample (row 3) has `p = 1/3` everywhere and loss `log 3 ≈ 1.10` — the loss of guessing.
# With `K` classes the loss of a network that guesses uniformly is `log K`: `log 10 ≈ 2.30` is the
# number to expect at the start of training on 10 classes (tutorials 3 and 9 use it as a check).

# %%
print("per-sample losses:", np.round(loss.per_sample(z, y), 3), "| log 3 =", round(np.log(3), 3))
assert np.isclose(loss.per_sample(z, y)[2], np.log(3))

# %% [markdown]
# ## 4. A deep sigmoid network, measured
#
# A plain 8-layer CNN (`plain_cnn`: 8 conv layers of 8 filters, each followed by a sigmoid, two max
# pools, no normalisation, no skips) on the embedded 8×8 digits, in float64. One batch, one backward
# pass: the norm of the gradient `g_l = ∂L/∂h_l` arriving at each sigmoid's output `h_l`, and of
# every layer's weight gradient — and the same network with ReLU in place of the sigmoids.
#
# **Fill in now:** `layers.ReLU.forward` and `layers.ReLU.backward` in `numpycnn/layers.py` — your turn 2,
# with the mask kept in `self.positive` by the lines before yours.

# %%
data = nc.datasets.load_dataset("digits", seed=0)
xb = data.train.x[:64 if FAST else 256].astype(np.float64)
yb = data.train.y[:len(xb)]


def measure(activation_name):
    """One forward/backward pass; returns the model, ‖dL/dW‖ per layer, g_l and the outputs h_l per activation."""
    model = nc.zoo.plain_cnn(data.input_shape, depth=8, width=8, activation_name=activation_name, seed=0,
                             dtype=np.float64)
    arriving, outputs = {}, {}
    for name in model.layers:
        if name.startswith("act"):
            # a forward hook sees the layer's output; a backward hook sees the gradient arriving there
            model.add_forward_hook(name, lambda h, name=name: outputs.__setitem__(name, h.copy()))
            model.add_backward_hook(name, lambda g, name=name: arriving.__setitem__(name, g.copy()) or g)
    ce = nc.SoftmaxCrossEntropy()
    ce.forward(model.forward(xb), yb)
    model.backward(ce.backward())
    model.remove_hooks()
    weights = {n[:-2]: float(np.linalg.norm(g)) for n, _, g in model.named_parameters() if n.endswith(".W")}
    return model, weights, arriving, outputs


norms, arriving, outputs, models = {}, {}, {}, {}
for act in ("sigmoid", "relu"):
    models[act], norms[act], arriving[act], outputs[act] = measure(act)
    print(f"{act:8s} ‖dL/dW‖", "  ".join(f"{k}={v:.1e}" for k, v in norms[act].items()))
    print(f"{act:8s} ‖g_l‖  ", "  ".join(f"{k}={np.linalg.norm(v):.1e}" for k, v in sorted(arriving[act].items())))
print(models["sigmoid"].summary())

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
nc.plots.show(fig, "gradient_norms_per_layer")

# %% [markdown]
# With sigmoid the gradient shrinks by a roughly constant factor per layer from the output down to
# `conv1` — a straight line on the log scale; with ReLU (derivative 1 where active, He
# initialisation) it stays within about an order of magnitude.
#
# **What does the shrinking?** Going back through layer `l` (conv `W_l`, then the sigmoid), the
# gradient is multiplied by the sigmoid's derivative entry by entry and then by `W_lᵀ`:
#
# ```
# g_{l−1} = W_lᵀ (σ'(a_l) ⊙ g_l)      →      ‖g_{l−1}‖ ≤ ‖W_l‖ · max σ'(a_l) · ‖g_l‖ ≤ ‖W_l‖/4 · ‖g_l‖
# ```
#
# where `‖W_l‖` is the **operator norm** of the convolution (the most it can stretch a vector; the max
# pools between layers only move values around and keep the norm). So the `σ'` factors alone shrink the
# gradient by at least 4 per layer, `4^L` through `L` layers — but the weights multiply it too, and the
# product is only bounded by `∏_l ‖W_l‖/4`: with large weights the gradient need not vanish at all.
# Which factor wins is a measurement. Split each step in two: the σ′ part `‖g_l‖ / ‖σ'(a_l) ⊙ g_l‖`
# (at least 4), and the gain of `W_lᵀ` on the vector it actually receives, `‖g_{l−1}‖ / ‖σ'(a_l) ⊙ g_l‖`
# (at most the operator norm). A convolution is linear, so its operator norm is the largest singular
# value of its matrix, which we can build by feeding it every unit image:

# %%
def conv_operator_norm(model, name):
    """Largest singular value of conv layer ``name`` as a linear map (bias removed), from its full matrix."""
    layer = model[name]
    names = list(model.layers)
    in_shape = model.input_shape if names.index(name) == 0 else model.shapes[names[names.index(name) - 1]]
    D = int(np.prod(in_shape))
    basis = np.eye(D).reshape(D, *in_shape)                              # every unit image at once
    columns = layer.forward(basis) - layer.params["b"][None, :, None, None]
    return float(np.linalg.norm(columns.reshape(D, -1).T, 2))


sig_model = models["sigmoid"]
g = arriving["sigmoid"]
print(" l   shrink ‖g_l‖/‖g_(l−1)‖   σ' part   Wᵀ gain   operator norm ‖W_l‖   max σ'")
rows = []
for l in range(2, 9):
    op = conv_operator_norm(sig_model, f"conv{l}")
    h = outputs["sigmoid"][f"act{l}"]
    slope = h * (1 - h)                                                   # σ'(a_l) from the output h_l = σ(a_l)
    g_l, g_below = np.linalg.norm(g[f"act{l}"]), np.linalg.norm(g[f"act{l - 1}"])
    through_sigma = np.linalg.norm(slope * g[f"act{l}"])
    rows.append((g_l / g_below, g_l / through_sigma, g_below / through_sigma, op, float(slope.max())))
    print(f" {l}   {rows[-1][0]:22.3f}   {rows[-1][1]:7.3f}   {rows[-1][2]:7.3f}   {op:19.3f}   {rows[-1][4]:6.3f}")
    assert rows[-1][1] >= 1 / rows[-1][4] * (1 - 1e-9) >= 4 * (1 - 1e-9)   # σ' ≤ max σ' ≤ 1/4: at least 4x
    assert rows[-1][2] <= op * (1 + 1e-9)                                   # the operator norm bounds the gain
shrink, sigma_part, w_gain, op_norm = (float(np.exp(np.mean(np.log([r[i] for r in rows])))) for i in range(4))
print(f"geometric means over layers 2–8: shrink {shrink:.2f}x = σ' part {sigma_part:.2f}x / Wᵀ gain {w_gain:.2f}; "
      f"operator norm {op_norm:.2f}, so the bound ‖W_l‖/4 allows a gain of {op_norm / 4:.2f} per layer")

# %% [markdown]
# Read the table. The σ′ part is a little above 4 in every layer: the activations sit near 0.5, where
# the sigmoid is steepest, so `σ'` is close to its maximum 1/4. The operator norms are above 1, but
# that is only the worst case: on the gradient it actually receives, `W_lᵀ` has a gain *below* 1 in
# this network (the geometric mean, asserted at the end) — the weights shrink the gradient a little
# further. Together: the shrink per layer is
# the σ′ part divided by the `Wᵀ` gain, more than the 4 that σ′ alone forces (the geometric means are
# printed under the table). The bound `∏‖W_l‖/4` is far from tight here; the gradient vanishes because
# of σ′, and the weights do not undo it.
#
# **And training?** If the small gradient were the whole story, a step whose size does not depend on the
# size of the gradient should fix it. The simplest such step moves every weight by the same amount `lr`,
# in the direction that lowers the loss: `W ← W − lr · sign(dW)` (the *sign step*). Adam, which
# tutorial 3 writes, divides each gradient entry by a running average of its size: with no averaging it
# *is* the sign step, and its first step is exactly one (tutorial 3's your turn 4). Below, the two update
# rules are written here, as `numpycnn` optimizers (an optimizer only has to say how one parameter
# moves; `Optimizer.step` hands it every parameter and its gradient): plain gradient descent and the
# sign step. Train the sigmoid and the ReLU network with each, and measure how far each layer's weights
# moved (`‖W − W_0‖/‖W_0‖`):

# %%
class GradientStep(nc.optim.Optimizer):
    """W ← W − lr · dW (plain gradient descent; tutorial 3 writes the library's SGD, with momentum)."""

    def update(self, p, g, st):
        p[...] = p - self.lr * g


class SignStep(nc.optim.Optimizer):
    """W ← W − lr · sign(dW): every weight moves by lr, however small its gradient."""

    def update(self, p, g, st):
        p[...] = p - self.lr * np.sign(g)


steps = 30 if FAST else 300
moved, curves, trained = {}, {}, {}
for opt_name in ("gradient", "sign"):
    for act in ("sigmoid", "relu"):
        model = nc.zoo.plain_cnn(data.input_shape, depth=8, width=8, activation_name=act, seed=0)
        w0 = {n: p.copy() for n, p, _ in model.named_parameters() if n.endswith(".W")}
        optimizer = SignStep(model, lr=1e-3) if opt_name == "sign" else GradientStep(model, lr=0.1)
        trainer = nc.Trainer(model, optimizer, seed=0, batch_size=32, progress=False)
        trainer.fit(data.train, data.val, epochs=100, max_steps=steps)
        moved[opt_name, act] = {n[:-2]: float(np.linalg.norm(p - w0[n]) / np.linalg.norm(w0[n]))
                                for n, p, _ in model.named_parameters() if n.endswith(".W")}
        curves[opt_name, act], trained[opt_name, act] = trainer.history, model
        print(f"{opt_name:8s} {act:7s} after {trainer.step} steps: val accuracy {trainer.history['val_acc'][-1]:.3f}, "
              f"val loss {trainer.history['val_loss'][-1]:.2f}; "
              f"relative change conv1 {moved[opt_name, act]['conv1']:.1e}, conv8 {moved[opt_name, act]['conv8']:.1e}")

# %% [markdown]
# Under gradient descent the sigmoid network's `conv1` hardly moves — the small gradient, literally.
# Under the sign step `conv1` moves at least about as far as the top layers, thousands of times farther than
# under gradient descent (the ratio is asserted at the end) — and the network still does not learn.
# Something else is wrong: look at what the network computes. For every sigmoid output, take the
# standard deviation *across the images* of the batch (averaged over units): how different are the
# features of different images?

# %%
def spread_between_images(model, x):
    """Per activation layer: mean over units of the std over images of that unit's output."""
    outs = {}
    for name in model.layers:
        if name.startswith("act"):
            model.add_forward_hook(name, lambda h, name=name: outs.__setitem__(name, h.std(axis=0).mean()))
    model.forward(x)
    model.remove_hooks()
    return dict(sorted(outs.items()))


spread = {"sigmoid at init": spread_between_images(models["sigmoid"], xb),
          "sigmoid after sign steps": spread_between_images(trained["sign", "sigmoid"], xb.astype(np.float32)),
          "relu after sign steps": spread_between_images(trained["sign", "relu"], xb.astype(np.float32))}
for label, values in spread.items():
    print(f"{label:24s}", "  ".join(f"{k}={v:.1e}" for k, v in values.items()))
collapse = {label: values["act8"] / values["act1"] for label, values in spread.items()}
print("spread at act8 / at act1:", {label: f"{r:.1e}" for label, r in collapse.items()})

# %% [markdown]
# In the sigmoid network the differences between images shrink by the same kind of factor per layer
# as the gradient — they pass through the same Jacobian, `δh_l = σ'(a_l) ⊙ (W_l δh_{l−1})` — so at
# `act8` of the untrained network every image produces almost the same features (the ratio of the
# spread at `act8` to that at `act1` is printed above: far below 1e-3). The classifier on top sees one
# input for all images and can only learn the class frequencies: the loss stays near `log 10 ≈ 2.30`
# (the validation loss is printed with the training runs above). After the sign steps the spread at
# `act8` is still a tiny fraction of `act1`'s (printed, and asserted below 1e-2) and the accuracy is
# at chance. That **forward signal collapse** is the real failure; a step
# size that ignores the gradient's size does not undo it (tutorial 10 trains this network with Adam
# itself and prints how far it gets). The standard fixes change the forward pass:
# ReLU with He initialisation (tutorial 9), batch normalisation and residual connections
# (tutorial 10); technique A (tutorial 4) adds a second loss in the middle of the network.

# %%
fig = Figure(figsize=(7, 3.2))
ax = fig.subplots()
for label, values in spread.items():
    ax.semilogy(range(1, 9), list(values.values()), "o-", label=label)
ax.set_xlabel("activation layer")
ax.set_ylabel("spread between images (log)")
ax.set_title("how different are the features of different images?")
ax.legend()
ax.grid(alpha=0.3, which="both")
nc.plots.show(fig, "signal_spread_per_layer")

# %% [markdown]
# ## Check yourself
#
# 1. Max pooling a window with a tie (two equal maxima): where does the gradient go in numpycnn?
#
#    <details><summary>Answer</summary>
#
#    To the first maximum in the window (row-major order) — `np.argmax` picks the first. Any
#    choice that sends the whole gradient to one of the maxima is a valid subgradient; a gradient
#    check must avoid ties because the derivative does not exist there.
#
#    </details>
#
# 2. The largest value of `σ'(x)` is 1/4. Does that mean 8 sigmoid layers shrink the gradient by at
#    least `4^8 ≈ 65 000`?
#
#    <details><summary>Answer</summary>
#
#    <!-- BEGIN GRADED ANSWER -->
#    Not in general: only the σ′ factors are bounded, by `4^(−8)`; the weights multiply the gradient
#    too, so the bound is `∏ ‖W_l‖/4`, and with weights of operator norm above 4 per layer the gradient
#    could even grow. In this network, yes: the σ′ part is a little above 4 per layer and `W_lᵀ` shrinks
#    the gradient further (its gain on the actual gradient is below 1, although its operator norm is
#    above 1), so the measured shrink is more than 4 per layer (the table's geometric mean).
#
#    Rubric:
#    - 2 points: not in general — the weights multiply the gradient too; the bound is ∏‖W_l‖/4, not 4^(−L)
#    - 1 point: in this network yes: more than 4 per layer, read off the table
#    - 1 point: explains it: σ′ ≈ 1/4 (activations near 0.5) and a gain of Wᵀ below 1 on the actual gradient
#    <!-- END GRADED ANSWER -->
#
#    </details>
#
# 3. Why does each row of the probability error sum to 0?
#
#    <details><summary>Answer</summary>
#
#    `Σ_k p[n, k] = 1` (softmax) and `Σ_k onehot[n, k] = 1`; their difference sums to 0. Adding the
#    same constant to every logit of a row changes no probability, so the gradient has no component
#    along that direction.
#
#    </details>
#
# 4. What loss do you expect at initialisation on 10 classes, and why?
#
#    <details><summary>Answer</summary>
#
#    About `log 10 ≈ 2.30`: a network that has learned nothing should give every class about the
#    same probability 1/10, and `−log(1/10) = log 10`. A much larger value means the initial logits
#    are too large (confidently wrong) — tutorial 3 meets one.
#
#    </details>
#
# 5. The sign step moved the first layer of the sigmoid network a lot. Why did it still not learn?
#
#    <details><summary>Answer</summary>
#
#    <!-- BEGIN GRADED ANSWER -->
#    Because the forward signal had collapsed: after eight sigmoids the features of all images are
#    nearly identical (the spread at `act8` is far below a thousandth of `act1`'s at initialisation,
#    and still below a hundredth after training), so the classifier cannot tell the images apart,
#    whatever the first layer does; the differences it creates are squashed again on the way up.
#
#    Rubric:
#    - 2 points: the forward signal collapses: the top features of different images are almost the same
#    - 1 point: backs it with the measured spread at act8 against act1 (before and after training)
#    - 1 point: so moving conv1 cannot help: the differences it makes are squashed on the way up
#    <!-- END GRADED ANSWER -->
#
#    </details>

# %%
tie = np.array([[[[2.0, 2.0], [1.0, 0.0]]]])                          # 1. the first maximum wins
_, c = maxpool2d_forward(tie, 2)
assert np.array_equal(nc.pooling.maxpool2d_backward(np.ones((1, 1, 1, 1)), c)[0, 0], [[1, 0], [0, 0]])
assert shrink > 4 and sigma_part > 4 and w_gain < 1 < op_norm          # 2. more than 4x here: σ' and Wᵀ both shrink
assert np.allclose(e.sum(axis=1), 0)                                  # 3. Σ_k p = 1 and Σ_k onehot = 1
ce = nc.SoftmaxCrossEntropy()                                         # 4. uniform guess: log K
assert np.isclose(ce.forward(np.zeros((5, 10)), np.arange(5)), np.log(10))
assert collapse["sigmoid at init"] < 1e-3                              # 5. the forward signal collapses
assert collapse["sigmoid after sign steps"] < 1e-2
assert min(norms["sigmoid"], key=norms["sigmoid"].get) == "conv1"     # the first layer gets the least gradient
assert norms["relu"]["conv1"] > 10 * norms["sigmoid"]["conv1"]
relu_convs = [v for k, v in norms["relu"].items() if k.startswith("conv")]
assert max(relu_convs) < 10 * min(relu_convs)                         # ReLU: within an order of magnitude
assert moved["gradient", "sigmoid"]["conv1"] < 1e-3                   # gradient descent: conv1 barely moves...
conv_moves = {k: v for k, v in moved["sign", "sigmoid"].items() if k.startswith("conv")}
assert conv_moves["conv1"] > 1000 * moved["gradient", "sigmoid"]["conv1"]   # ...under the sign step it moves,
assert conv_moves["conv1"] > 0.5 * max(conv_moves.values())           # about as far as the top layers
assert curves["sign", "sigmoid"]["val_acc"][-1] < 0.25                # and the sigmoid net is still near chance
assert curves["sign", "relu"]["val_acc"][-1] > curves["sign", "sigmoid"]["val_acc"][-1] + 0.05
print("all checks passed")
