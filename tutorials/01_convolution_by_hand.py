# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # Tutorial 1 — Convolution by hand: the loop, im2col, the GEMM, and the gradient
#
# A convolution layer slides `F` small filters `w: (F, C, KH, KW)` over a batch of images
# `x: (N, C, H, W)` (NCHW, as in PyTorch). Every output value is one dot product:
#
# ```
# out[n, f, i, j] = b[f] + Σ_{c,p,q} w[f, c, p, q] · xp[n, c, i·s + p, j·s + q]
# OH = (H + 2·pad − KH) // s + 1        (xp = x zero-padded by `pad`, s = stride)
# ```
#
# (The filter slides over the image as it is, not flipped: strictly this is a **cross-correlation**.
# Every deep-learning library computes it and calls it convolution; section 7 shows the difference.)
#
# In this lesson you will
# 1. compute a convolution with four nested loops (the naive reference of numpycnn);
# 2. unfold the image into a matrix with **im2col**, so the whole convolution becomes
#    **one matrix product (GEMM)** — the *textbook* convolution, which you write yourself;
# 3. derive the backward pass of a matrix product on the simplest layer that is one, `Dense`,
#    and check it with a **central-difference gradient check** of your own;
# 4. see that **col2im** is the *adjoint* of im2col (not its inverse), and use it to write the
#    backward pass of the convolution;
# 5. tell cross-correlation from convolution, count a layer's parameters and multiply-adds, see what
#    a 1×1 convolution does, and compute how much of the image one output sees (its receptive field).
#
# **Assignment exercises taught here:** `im2col.im2col`, `im2col.col2im`, `conv.conv2d_forward`,
# `conv.conv2d_backward`, `layers.Dense.forward`, `layers.Dense.backward`.
#
# **How to work through it.** Cells titled *Your turn* are yours: write the few lines they ask for
# (in the student copy of an assignment they hold `raise NotImplementedError` until you do), then
# run the cell after them — it checks your lines with asserts. Where the tutorial first runs one of
# the library's exercises, a line **Fill in now** says which function to write in `numpycnn/` before
# running on. This tutorial needs no exercise of a later one. Questions end each part; their answers
# are folded (click *Answer*) — answer first, then unfold.
#
# Run it with `python tutorials/01_convolution_by_hand.py` (set `NUMPYCNN_FAST=1` for a quick
# run) or open it as a notebook: `jupytext --to ipynb tutorials/01_convolution_by_hand.py`.
# In a notebook the figures appear inline; run as a script they are saved to
# `tutorials/figures/01_convolution_by_hand/` (the path is printed). Compare with
# `tutorials/reference_figures/01_convolution_by_hand/` (made in fast mode).

# %%
import inspect
import os
import time

import numpy as np
from matplotlib.figure import Figure
from scipy.signal import convolve2d, correlate2d

import numpycnn as nc
from numpycnn.conv import conv2d_backward, conv2d_backward_naive, conv2d_forward, conv2d_naive
from numpycnn.im2col import col2im, conv_output_size, im2col

FAST = os.environ.get("NUMPYCNN_FAST", "0") == "1"
rng = np.random.default_rng(0)          # every random number below comes from this generator
print("fast mode" if FAST else "full mode")
print("numpycnn imported from", nc.__file__)   # your own copy? (assignment: run with PYTHONPATH=.)

# %% [markdown]
# ## 1. A convolution you can do on paper
#
# One 4×4 image, one channel, one 2×2 filter, stride 1, no padding: the output is
# `(4 − 2)//1 + 1 = 3` by 3. The top-left output is `1·1 + 2·0 + 5·0 + 6·(−1) = −5`.

# %%
x = np.arange(1, 17, dtype=np.float64).reshape(1, 1, 4, 4)     # (N, C, H, W) = (1, 1, 4, 4)
w = np.array([[[[1.0, 0.0], [0.0, -1.0]]]])                    # (F, C, KH, KW) = (1, 1, 2, 2)
b = np.zeros(1)
print(x[0, 0])
out = conv2d_naive(x, w, b)
print("out =\n", out[0, 0])
assert out[0, 0, 0, 0] == 1 * 1 + 2 * 0 + 5 * 0 + 6 * (-1)
assert out.shape == (1, 1, conv_output_size(4, 2), conv_output_size(4, 2)) == (1, 1, 3, 3)

# %% [markdown]
# Every output of this filter is `x[i, j] − x[i+1, j+1] = −5`: the filter detects a change along
# the diagonal, and this image changes by the same amount everywhere.
#
# Here is the reference implementation — four loops, one dot product per output value. It is
# slow, and that is its job: it is so plain that it is easy to trust, and every faster version in
# numpycnn is tested against it.

# %%
print(inspect.getsource(conv2d_naive))

# %% [markdown]
# ## 2. im2col: every window becomes a row
#
# The loop computes `N·F·OH·OW` small dot products. A GEMM (matrix product) does the same work
# in one optimised BLAS call, if we first copy every window into a row of a matrix:
#
# ```
# cols = im2col(x)           (N·OH·OW, C·KH·KW)   row r = (n·OH + i)·OW + j holds the window at (i, j)
#                                                  of image n: xp[n, :, i·s : i·s+KH, j·s : j·s+KW].ravel()
# W2   = w.reshape(F, −1)    (F, C·KH·KW)         one row per filter, flattened in the same (C, KH, KW) order
# out  = cols @ W2.T + b     (N·OH·OW, F)         then reshape to (N, OH, OW, F) and move F to axis 1
# ```
#
# (numpycnn's `im2col` builds the windows as a strided *view* of the padded input — no copy — and one
# transpose + reshape turns that view into the matrix; that is the `im2col.im2col` exercise.)
#
# **Fill in now:** `im2col.im2col` in `numpycnn/im2col.py` — one `transpose` and one `reshape` of the
# view `win` of shape `(N, C, OH, OW, KH, KW)` into rows ordered `(n, i, j)` and columns `(c, p, q)`
# (the docstring gives the layout). The next cell runs it.

# %%
cols = im2col(x, 2, 2)
print("cols shape", cols.shape)
print(cols)
assert np.array_equal(cols[0], x[0, 0, 0:2, 0:2].ravel())       # the first row is the top-left window

# %% [markdown]
# ### Your turn 1 — find a window in `cols`
#
# A bigger case: random images with stride 2 and padding 1. For image `n = 1` and output position
# `(i, j) = (2, 3)`, compute the row index `r` of `cols` that holds that window, and `window`, the
# same window cut directly out of the padded input `xp` and flattened (two or three lines; the row
# formula is in the box above).

# %%
N, C, H, W, F, K, s, pad = (2, 3, 12, 12, 4, 3, 2, 1) if FAST else (8, 3, 28, 28, 8, 3, 2, 1)
x = rng.standard_normal((N, C, H, W))
w = rng.standard_normal((F, C, K, K))
b = rng.standard_normal(F)
OH, OW = conv_output_size(H, K, s, pad), conv_output_size(W, K, s, pad)
cols = im2col(x, K, K, s, pad)                                   # (N·OH·OW, C·K·K)
xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))         # zero padding of the two spatial axes
n, i, j = 1, 2, 3

# %% tags=["solution"]
### BEGIN SOLUTION
r = (n * OH + i) * OW + j
window = xp[n, :, i * s:i * s + K, j * s:j * s + K].ravel()
### END SOLUTION

# %%
assert window.shape == (C * K * K,), f"window should hold C·K·K = {C * K * K} numbers; got shape {window.shape}"
assert np.array_equal(cols[r], window), "cols[r] is not that window: check the row formula and the slice"
print(f"your turn 1: correct — row {r} of cols is window (i, j) = ({i}, {j}) of image {n}")

# %% [markdown]
# ### Your turn 2 — the convolution as one matrix product
#
# Write the **textbook im2col convolution**: from `cols`, `w` and `b`, compute `out_gemm` of shape
# `(N, F, OH, OW)` with one matrix product (`W2 = w.reshape(F, -1)`; then reshape the `(N·OH·OW, F)`
# result to `(N, OH, OW, F)` and move the filter axis with `transpose`). This is exactly the body of
# the `conv.conv2d_forward` exercise.

# %% tags=["solution"]
### BEGIN SOLUTION
W2 = w.reshape(F, -1)
out_gemm = (cols @ W2.T + b).reshape(N, OH, OW, F).transpose(0, 3, 1, 2)
### END SOLUTION

# %%
out_loop = conv2d_naive(x, w, b, s, pad)
assert out_gemm.shape == (N, F, OH, OW), f"out_gemm has shape {out_gemm.shape}; expected {(N, F, OH, OW)}"
print("max |gemm − loop| =", np.abs(out_gemm - out_loop).max())
assert np.allclose(out_gemm, out_loop, rtol=0, atol=1e-12), "the GEMM and the four loops disagree"
print("your turn 2: correct — one GEMM gives the four loops' result")

# %% [markdown]
# Your two lines are the body of the library's textbook convolution.
#
# **Fill in now:** `conv.conv2d_forward` in `numpycnn/conv.py` — `cols = im2col(...)`, `W2` and the
# product, exactly your turn 2 (the lines after yours store `cols` in the cache for the backward pass).

# %%
out_lib, cache = conv2d_forward(x, w, b, s, pad)
assert np.allclose(out_lib, out_loop, rtol=0, atol=1e-12), "numpycnn.conv.conv2d_forward disagrees with the loop"
print("conv.conv2d_forward: correct")

# %% [markdown]
# How much faster is it? Time the loop and the library's im2col convolution on this input (the
# fastest of a few runs; your numbers depend on your machine and on the sizes):

# %%
def best_of(fn, repeat=3):
    """Fastest of ``repeat`` runs, in seconds (the minimum is the least noisy on a shared machine)."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


t_loop = best_of(lambda: conv2d_naive(x, w, b, s, pad), repeat=1 if FAST else 3)
t_gemm = best_of(lambda: conv2d_forward(x, w, b, s, pad))
print(f"loop {t_loop * 1e3:.1f} ms, im2col + GEMM {t_gemm * 1e3:.2f} ms on this machine")

# %% [markdown]
# The loop pays the Python interpreter for every one of the `N·F·OH·OW` dot products; the GEMM does
# all the multiply-adds inside BLAS. The price is memory: `cols` holds every input value about
# `KH·KW/s²` times.

# %%
print("x holds", x.size, "numbers; cols holds", cols.size, f"({cols.size / x.size:.2f}x)")
assert abs(cols.size / x.size / (K * K / s ** 2) - 1) < 0.1

# %% [markdown]
# ## 3. A gradient check of your own
#
# Before writing any backward pass: how do we know one is right? Take a random "upstream gradient" `R`
# and the scalar `f = Σ y·R`. Then `∂f/∂y = R`, so the backward pass given `dout = R` must return
# the derivatives of `f`. We compute those numerically, one entry at a time, with **central differences**
# `(f(θ + h) − f(θ − h)) / 2h` — the error is `O(h²)`, against `O(h)` for a one-sided difference —
# in **float64** (in float32 the rounding error of `f`, about 1e-7·|f|, divided by `2h` would swamp
# the result: question 4 below measures it).

# %%
def central_differences(f, theta, h=1e-6):
    """d f / d theta, one entry at a time; ``theta`` is nudged in place and restored."""
    grad = np.zeros_like(theta)
    for idx in np.ndindex(*theta.shape):
        old = theta[idx]
        theta[idx] = old + h
        f_plus = f()
        theta[idx] = old - h
        f_minus = f()
        theta[idx] = old
        grad[idx] = (f_plus - f_minus) / (2 * h)
    return grad


def rel_error(a, n):
    """max |a − n| / max(max |a|, max |n|): about 1e-8 or below when a backward pass is right.

    One number for the whole array (normwise), unlike CS231n's elementwise |a − n| / max(|a|, |n|), which
    a single tiny entry can blow up although the gradient is right (and which is 0/0 where both are 0)."""
    return np.abs(a - n).max() / max(np.abs(a).max(), np.abs(n).max())


# a function whose derivative we know: f(θ) = Σ sin(θ)·R has ∂f/∂θ = cos(θ)·R
theta_demo, R_demo = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
demo_err = rel_error(np.cos(theta_demo) * R_demo,
                     central_differences(lambda: np.sum(np.sin(theta_demo) * R_demo), theta_demo))
print(f"central differences vs the exact derivative of Σ sin(θ)·R: relative error {demo_err:.1e}")
assert demo_err < 1e-8

# %% [markdown]
# ## 4. The backward pass of a matrix product: the Dense layer
#
# The convolution is now a matrix product. Before its gradient, take the layer that *is* a matrix
# product and nothing else — the fully connected (`Dense`) layer, one row per image:
#
# ```
# y[n, o] = Σ_i x[n, i] · W[o, i] + b[o]        y = x @ W.T + b        x: (N, I), W: (O, I), b: (O,)
# ```
#
# Backward: a later part of the network hands us `dout = ∂L/∂y` `(N, O)`; we need `∂L/∂x`, `∂L/∂W`,
# `∂L/∂b`. The chain rule sums over every output that an input touched:
#
# ```
# ∂L/∂x[n, i] = Σ_o dout[n, o] · ∂y[n, o]/∂x[n, i] = Σ_o dout[n, o] · W[o, i]   →  dx = dout @ W      (N, I)
# ∂L/∂W[o, i] = Σ_n dout[n, o] · ∂y[n, o]/∂W[o, i] = Σ_n dout[n, o] · x[n, i]   →  dW = dout.T @ x    (O, I)
# ∂L/∂b[o]    = Σ_n dout[n, o]                                                  →  db = dout.sum(0)   (O,)
# ```
#
# A shape check catches most mistakes: each gradient has the shape of what it is the gradient of,
# and there is only one way to multiply the available matrices into that shape.
# (The library's `Dense` multiplies by `W ⊙ M` when a mask `M` is set — techniques C and E remove
# connections that way — so its code reads `self.effective("W")` where the equations say `W`.)
#
# ### Your turn 3 — the Dense backward pass
#
# Write `dense_backward(dout, x, W)` returning `(dx, dW, db)` (three lines).

# %% tags=["solution"]
### BEGIN SOLUTION
def dense_backward(dout, x, W):
    dx = dout @ W
    dW = dout.T @ x
    db = dout.sum(axis=0)
    return dx, dW, db
### END SOLUTION

# %%
# Check your turn 3: a Dense layer with 5 inputs and 4 outputs, a batch of 3
xd, Wd, bd = rng.standard_normal((3, 5)), rng.standard_normal((4, 5)), rng.standard_normal(4)
Rd = rng.standard_normal((3, 4))
f_dense = lambda: np.sum((xd @ Wd.T + bd) * Rd)
dxd, dWd, dbd = dense_backward(Rd, xd, Wd)
for name, theta, analytic in (("x", xd, dxd), ("W", Wd, dWd), ("b", bd, dbd)):
    assert np.shape(analytic) == theta.shape, f"d{name} has shape {np.shape(analytic)}; expected {theta.shape}"
    err = rel_error(analytic, central_differences(f_dense, theta))
    print(f"d{name}: relative error {err:.1e}")
    assert err < 1e-7, f"d{name} disagrees with central differences"
print("your turn 3: correct — this is what layers.Dense.backward must compute")

# %% [markdown]
# **Fill in now:** `layers.Dense.forward` and `layers.Dense.backward` in `numpycnn/layers.py` — the
# forward line `y = x @ W.T + b` and your turn 3, with the masked weight `self.effective("W")` where the
# equations say `W` and `self._set_grad(...)` to store `dW` and `db` (the docstrings say so). The library's
# gradient check runs them:

# %%
dense = nc.Dense(5, 4, rng=np.random.default_rng(2), dtype=np.float64)
dense_check = nc.gradcheck.check_layer(dense, rng.standard_normal((3, 5)))
print(dense_check)
assert dense_check.passed, "layers.Dense.forward/backward: the gradient check failed"

# %% [markdown]
# ## 5. col2im is the adjoint of im2col, not its inverse
#
# Back to the convolution, `out = cols @ W2.T + b` with `cols = im2col(x)`. With respect to `W2` and
# `b` this is a Dense layer whose "batch" is the `N·OH·OW` windows, so `dW2 = D.T @ cols` and
# `db = D.sum(0)`, where `D` is `dout` arranged as `(N·OH·OW, F)` (the same row order as `cols`).
# With respect to the input it gives `dcols = D @ W2` — the gradient of every *window*. But each pixel
# was copied into several windows; its gradient is the **sum** over all the copies.
#
# `im2col` is a linear map `A`: `cols = A x`. The backward pass of a linear map multiplies by its
# transpose, `dx = Aᵀ dcols`. `col2im` *is* `Aᵀ`: it **adds** every row entry back to the pixel
# it was copied from. The defining property of an adjoint is
#
# ```
# ⟨im2col(x), y⟩ = ⟨x, col2im(y)⟩      for every x and y
# ```
#
# **Fill in now:** `im2col.col2im` in `numpycnn/im2col.py` — undo im2col's reshape and transpose (rows
# back to `(N, OH, OW)`, columns to `(C, KH, KW)`, then the axes of `windows`); the given
# `windows_adjoint` does the adding. The next cell checks the identity on your code.

# %%
y = rng.standard_normal(cols.shape)
lhs = np.sum(im2col(x, K, K, s, pad) * y)
rhs = np.sum(x * col2im(y, x.shape, K, K, s, pad))
print(f"<im2col(x), y> = {lhs:.12f}\n<x, col2im(y)> = {rhs:.12f}")
assert abs(lhs - rhs) < 1e-9 * abs(lhs)

# %% [markdown]
# It is not an inverse: with overlapping windows (stride 1, 3×3), a pixel sits in up to 9
# windows and `col2im(im2col(x))` multiplies it by the number of windows that read it.

# %%
x1 = rng.standard_normal((1, 1, 6, 6))
back = col2im(im2col(x1, 3, 3, 1, 1), x1.shape, 3, 3, 1, 1)
count = col2im(im2col(np.ones_like(x1), 3, 3, 1, 1), x1.shape, 3, 3, 1, 1)
print("windows per pixel:\n", count[0, 0].astype(int))
assert np.allclose(back, x1 * count)

# %% [markdown]
# ### Your turn 4 — the convolution's backward pass
#
# Given `dout` `(N, F, OH, OW)`, write the textbook backward pass (the body of the
# `conv.conv2d_backward` exercise), using `cols`, `w` (and `W2 = w.reshape(F, -1)`):
#
# ```
# D  = dout arranged as (N·OH·OW, F)       (move F to the last axis, then reshape)
# db = D.sum(0)                            (F,)
# dw = (D.T @ cols).reshape(w.shape)       (F, C, KH, KW)
# dx = col2im(D @ W2, x.shape, K, K, s, pad)
# ```

# %%
dout = rng.standard_normal((N, F, OH, OW))

# %% tags=["solution"]
### BEGIN SOLUTION
W2 = w.reshape(F, -1)
D = dout.transpose(0, 2, 3, 1).reshape(-1, F)
db = D.sum(axis=0)
dw = (D.T @ cols).reshape(w.shape)
dx = col2im(D @ W2, x.shape, K, K, s, pad)
### END SOLUTION

# %%
dx_loop, dw_loop, db_loop = conv2d_backward_naive(dout, x, w, s, pad)
for name, mine, ref in (("dx", dx, dx_loop), ("dw", dw, dw_loop), ("db", db, db_loop)):
    assert np.shape(mine) == ref.shape, f"{name} has shape {np.shape(mine)}; expected {ref.shape}"
    print(f"{name}: max |yours − loop| = {np.abs(mine - ref).max():.1e}")
    assert np.allclose(mine, ref, rtol=0, atol=1e-10), f"{name} disagrees with the loop reference"
print("your turn 4: correct — the three products match the loop backward")

# %% [markdown]
# **Fill in now:** `conv.conv2d_backward` in `numpycnn/conv.py` — your turn 4, with `cols`, `w`, the
# stride and the padding read from the cache that `conv2d_forward` stored.
#
# Then the check every backward pass in numpycnn passes: central differences of `f = Σ out·R`, here with
# the library's `conv2d_forward` / `conv2d_backward` (the scatter plot of one of the three gradients should
# lie on the diagonal):

# %%
R = dout
dx_lib, dw_lib, db_lib = conv2d_backward(R, cache)
f_conv = lambda: np.sum(conv2d_forward(x, w, b, s, pad)[0] * R)
errors = {}
for name, theta, analytic in (("x", x, dx_lib), ("w", w, dw_lib), ("b", b, db_lib)):
    numeric = central_differences(f_conv, theta)
    errors[name] = rel_error(analytic, numeric)
    print(f"d{name}: relative error {errors[name]:.2e}")
    if name == "w":
        nc.plots.show(nc.plots.gradient_scatter(analytic, numeric, title="conv dw: backward vs central differences"),
                      "conv_gradcheck_scatter")
assert max(errors.values()) < 1e-7

# %% [markdown]
# Errors around 1e-9 to 1e-8, or below, mean the backward pass is right; above 1e-7 something is wrong.
# The library does the same check for any layer (`nc.gradcheck.check_layer`), with the
# input and every parameter:

# %%
layer = nc.Conv2D(3, 4, 3, stride=2, pad=1, rng=np.random.default_rng(1), dtype=np.float64)
print(nc.gradcheck.check_layer(layer, rng.standard_normal((2, 3, 7, 7))))

# %% [markdown]
# The library's `conv2d_forward` / `conv2d_backward` (in `numpycnn/conv.py`) are exactly these three products:
# they are the assignment's exercise, the code you just wrote. `nc.Conv2D` trains with a faster implementation
# by default (`numpycnn.fast_conv`: the same products image by image, the bias as a row of ones, no transposes;
# `benchmarks/README.md` measures why). One switch, `nc.layers.use_implementation`, makes a network train on the textbook code instead —
# so in your own copy, *your* convolution trains the network.
#
# The network: one conv layer (4 filters of 3×3, "same" padding) → `Flatten` → `Dense` to the 10 classes,
# nothing else (activations, pooling and the optimizers come in tutorials 2 and 3). The loss is softmax
# cross-entropy (tutorial 2 derives it); `ce.backward()` hands its gradient to `net.backward`, which runs
# every layer's backward pass and stores each gradient. One step of gradient descent then moves every
# weight a little against its gradient, `W ← W − lr · dW`. The same network, the same batches, once on
# each implementation:

# %%
data = nc.datasets.load_dataset("digits", seed=0, train_limit=400)
ce = nc.SoftmaxCrossEntropy()
LR, STEPS, BATCH = 0.05, 25 if FAST else 100, 32
curves = {}
for implementation in ("fast", "textbook"):
    with nc.layers.use_implementation(implementation):
        net = nc.Sequential([("conv", nc.Conv2D(1, 4, 3, pad=1, rng=np.random.default_rng(0), dtype=np.float64)),
                             ("flat", nc.Flatten()),
                             ("fc", nc.Dense(4 * 8 * 8, 10, rng=np.random.default_rng(1), dtype=np.float64))],
                            input_shape=data.input_shape)
        curves[implementation] = []
        for step in range(STEPS):
            at = (step * BATCH) % (len(data.train) - BATCH)
            xb = data.train.x[at:at + BATCH].astype(np.float64)
            curves[implementation].append(ce.forward(net.forward(xb), data.train.y[at:at + BATCH]))
            net.backward(ce.backward())                        # every layer's gradient, stored in the layer
            for name, W, dW in list(net.named_parameters()):
                net.set_parameter(name, W - LR * dW)           # one step of gradient descent
losses = {k: float(np.mean(c[-5:])) for k, c in curves.items()}
print(f"mean loss of the first 5 batches {np.mean(curves['textbook'][:5]):.3f}; of the last 5: "
      f"{losses['fast']:.6f} on the fast implementation, {losses['textbook']:.6f} on the textbook one (your code)")
assert abs(losses["fast"] - losses["textbook"]) < 1e-9 * losses["fast"]   # the same network, the same numbers
assert losses["textbook"] < 0.8 * np.mean(curves["textbook"][:5])          # and it learns

# %% [markdown]
# `with nc.layers.use_implementation("textbook"):` does the same for every `Conv2D` and `MaxPool2D` that
# names no implementation of its own — once you have written max pooling too (tutorial 2).

# %% [markdown]
# ## 6. What a filter does to a real image
#
# An 8×8 digit from the embedded data set, convolved with two hand-made edge filters.

# %%
images, labels = nc.datasets.load_digits()
digit = images[0].astype(np.float64)[None, None] / 16                 # (1, 1, 8, 8)
edges = np.array([[[[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]],              # vertical edges (Sobel x)
                  [[[-1, -2, -1], [0, 0, 0], [1, 2, 1]]]], dtype=np.float64)   # horizontal edges (Sobel y)
maps, _ = conv2d_forward(digit, edges, np.zeros(2), 1, 1)
fig = Figure(figsize=(7, 2.6))
for k, (img, title) in enumerate([(digit[0, 0], f"digit {labels[0]}"), (maps[0, 0], "Sobel x"),
                                  (maps[0, 1], "Sobel y")]):
    ax = fig.add_subplot(1, 3, k + 1)
    ax.imshow(img, cmap="gray")
    ax.set_title(title)
    ax.axis("off")
nc.plots.show(fig, "edge_filters")

# %% [markdown]
# ## 7. Cross-correlation or convolution?
#
# The formula at the top slides the filter over the image *as it is*: `out[i, j] = Σ_{p,q} w[p, q] ·
# x[i + p, j + q]`. Signal processing calls that a **cross-correlation**. A **convolution** flips the
# filter first:
#
# ```
# cross-correlation   (x ⋆ w)[i, j] = Σ_{p,q} w[p, q] · x[i + p, j + q]     what every layer above computes
# convolution         (x ∗ k)[i, j] = Σ_{p,q} k[p, q] · x[i − p, j − q]     = x ⋆ (k flipped in both axes)
# ```
#
# Deep-learning libraries — PyTorch's `Conv2d`, TensorFlow's `conv2d`, numpycnn's `Conv2D` — all compute
# the cross-correlation and call it convolution. For a *learned* filter it makes no difference: training
# finds the flipped filter instead. It matters when a filter comes from elsewhere — a Sobel or Gaussian
# kernel from an image-processing book, a result to compare with `scipy.signal.convolve2d` — and for the
# algebra: convolution is commutative and associative (two filters in a row are one filter, `k1 ∗ k2`);
# cross-correlation is not commutative.
#
# ### Your turn 5 — a true convolution with the library
#
# Write `convolve(image, kernel)` for 2-D arrays `image: (H, W)` and `kernel: (KH, KW)`: the "valid"
# convolution (output `(H − KH + 1, W − KW + 1)`), computed with the loop reference `conv2d_naive`
# on a flipped kernel (add the batch and channel axes with `[None, None]`, take them off again).

# %% tags=["solution"]
### BEGIN SOLUTION
def convolve(image, kernel):
    flipped = kernel[::-1, ::-1]
    return conv2d_naive(image[None, None], flipped[None, None], np.zeros(1))[0, 0]
### END SOLUTION

# %%
image, kernel = rng.standard_normal((7, 6)), rng.standard_normal((3, 2))
assert convolve(image, kernel).shape == (5, 5), \
    f"the valid output of (7, 6) by (3, 2) is (5, 5); got {convolve(image, kernel).shape}"
assert np.allclose(convolve(image, kernel), convolve2d(image, kernel, mode="valid")), "not scipy's convolution"
assert np.allclose(conv2d_naive(image[None, None], kernel[None, None], np.zeros(1))[0, 0],
                   correlate2d(image, kernel, mode="valid"))          # the layer: scipy's cross-correlation
sobel_x = edges[0, 0]
flip_change = np.abs(convolve(digit[0, 0], sobel_x) + conv2d_naive(digit, edges[:1], np.zeros(1))[0, 0]).max()
print(f"Sobel x flipped is −Sobel x: convolving the digit gives minus the layer's map "
      f"(max difference {flip_change:.1e})")
assert np.array_equal(sobel_x[::-1, ::-1], -sobel_x) and flip_change < 1e-12
print("your turn 5: correct — conv2d_naive is scipy's correlate2d; flip the kernel to get convolve2d")

# %% [markdown]
# So the "vertical edges" map of section 6 has the opposite sign under the textbook convolution: a
# dark-to-bright edge is positive in one and negative in the other. A network does not care — it would
# learn `−w` — but code that loads a published kernel into `Conv2D` must flip it: `w[..., ::-1, ::-1]`.
#
# ## 8. Counting parameters and multiply-adds
#
# How big is a layer, and how much work? A conv layer `C → F` with `K×K` filters has `F·C·K·K` weights
# and `F` biases. Each of its `F·OH·OW` outputs is one dot product of length `C·K·K`, so one image costs
#
# ```
# MACs = F·OH·OW · C·K·K        multiply-accumulates (FLOPs ≈ 2·MACs: a multiply and an add each)
# ```
#
# — exactly the size of the GEMM of section 2, `(OH·OW, C·K·K) @ (C·K·K, F)` per image. A Dense layer
# `in → out` has `in·out + out` parameters and `in·out` MACs. Layers without weights (activations,
# pooling) do a little work per value, which is left out of the count by convention.
#
# ### Your turn 6 — the two formulas
#
# Write `conv_params(C, F, K)` and `conv_macs(C, F, K, OH, OW)` (one line each).

# %% tags=["solution"]
### BEGIN SOLUTION
def conv_params(C, F, K):
    return F * C * K * K + F


def conv_macs(C, F, K, OH, OW):
    return F * OH * OW * C * K * K
### END SOLUTION

# %%
lenet = nc.zoo.lenet5()                                        # LeNet-5 for 28×28 images (tutorial 3 trains it)
macs = lenet.macs()                                            # the library's count: {layer: MACs per image}
for name in lenet.conv_layers():
    conv = lenet[name]
    F_out, OH_out, OW_out = lenet.shapes[name]
    assert lenet[name].num_params == conv_params(conv.in_channels, F_out, conv.kernel_size), f"{name}: parameters"
    assert macs[name] == conv_macs(conv.in_channels, F_out, conv.kernel_size, OH_out, OW_out), f"{name}: MACs"
gemm = im2col(np.zeros((1, 1, 28, 28)), 5, 5, 1, 2)            # conv1's GEMM: (OH·OW, C·K·K) @ (C·K·K, F)
assert macs["conv1"] == gemm.shape[0] * gemm.shape[1] * 6
print(lenet.summary())
conv_share = {k: sum(v for n, v in table.items() if n in lenet.conv_layers()) / sum(table.values())
              for k, table in (("parameters", {n: lenet[n].num_params for n in lenet.layers}), ("MACs", macs))}
print(f"the conv layers hold {conv_share['parameters']:.1%} of LeNet-5's parameters and do {conv_share['MACs']:.1%} "
      f"of its multiply-adds")
assert conv_share["parameters"] < 0.05 and conv_share["MACs"] > 0.8
print("your turn 6: correct — the library's counts (Sequential.macs, summary) agree")

# %% [markdown]
# Read the table: the dense layers hold almost all of LeNet-5's parameters, the conv layers do almost
# all of its work. A conv weight is used at every output position (`OH·OW` times per image), a dense
# weight once. That is why a CNN's memory and its compute time scale so differently — and why, for
# images larger than 28×28, the conv layers dominate both training time and the cost of a prediction.
#
# ## 9. 1×1 convolutions
#
# A 1×1 filter reads a single pixel: `out[n, f, i, j] = b[f] + Σ_c w[f, c] · x[n, c, i, j]`. It mixes the
# channels of each pixel and nothing across pixels — a Dense layer `C → F` applied at every position
# with the same weights. Network in Network introduced it; GoogLeNet and ResNet use it to cut the number
# of channels before an expensive 3×3 convolution (a *bottleneck*), and a ResNet's projection shortcut
# (tutorial 10) is one.
#
# ### Your turn 7 — a 1×1 convolution as one matrix product
#
# For `xc: (N, C, H, W)`, `w1: (F, C, 1, 1)` and `b1: (F,)`, compute `out_1x1: (N, F, H, W)` without
# `im2col`: move the channels last, multiply by `w1.reshape(F, C).T`, add `b1`, move them back.

# %%
xc = rng.standard_normal((2, 6, 5, 4))
w1, b1 = rng.standard_normal((3, 6, 1, 1)), rng.standard_normal(3)

# %% tags=["solution"]
### BEGIN SOLUTION
out_1x1 = (xc.transpose(0, 2, 3, 1) @ w1.reshape(3, 6).T + b1).transpose(0, 3, 1, 2)
### END SOLUTION

# %%
assert out_1x1.shape == (2, 3, 5, 4), f"out_1x1 has shape {out_1x1.shape}; expected (2, 3, 5, 4)"
assert np.allclose(out_1x1, conv2d_forward(xc, w1, b1)[0]), "not the 1×1 convolution of conv2d_forward"
per_pixel = nc.Dense(6, 3, dtype=np.float64)                   # the same weights as a Dense layer ...
per_pixel.params["W"], per_pixel.params["b"] = w1.reshape(3, 6), b1
pixels = xc.transpose(0, 2, 3, 1).reshape(-1, 6)               # ... applied to every pixel's channel vector
assert np.allclose(per_pixel.forward(pixels).reshape(2, 5, 4, 3).transpose(0, 3, 1, 2), out_1x1)
print("your turn 7: correct — a 1×1 convolution is a Dense layer at every pixel")

# %% [markdown]
# The bottleneck, counted by the library: a 3×3 convolution from 256 to 256 channels on a 14×14 map,
# against a 1×1 down to 64 channels, a 3×3 at 64, and a 1×1 back up to 256 (ResNet-50's block):

# %%
def stack(*convs):
    """A Sequential of Conv2D(C_in, C_out, K, pad=K//2) layers on a (256, 14, 14) input."""
    return nc.Sequential([(f"conv{k}", nc.Conv2D(c_in, c_out, K, pad=K // 2))
                          for k, (c_in, c_out, K) in enumerate(convs, 1)], input_shape=(256, 14, 14))


direct = stack((256, 256, 3))
bottleneck = stack((256, 64, 1), (64, 64, 3), (64, 256, 1))
cost = {name: (m.num_params, sum(m.macs().values())) for name, m in (("3×3", direct), ("bottleneck", bottleneck))}
for name, (params, n_macs) in cost.items():
    print(f"{name:10s} {params:>9,} parameters {n_macs:>13,} MACs per image")
print(f"the bottleneck costs {cost['bottleneck'][1] / cost['3×3'][1]:.1%} of the direct 3×3's multiply-adds")
assert cost["bottleneck"][1] < 0.15 * cost["3×3"][1]

# %% [markdown]
# About an eighth of the work (the share printed above) for the same input and output shapes — at the
# price of doing the 3×3 part on 64 channels only. What a 1×1 convolution cannot do is look at
# neighbours: it never widens what an output sees.
#
# ## 10. The receptive field: how much of the image one output sees
#
# One output of a 3×3 conv depends on a 3×3 patch of its input. A second 3×3 conv on top reads 3×3 of
# those outputs, which together cover a 5×5 patch of the image. A stride (or a pooling layer) makes
# neighbouring outputs `s` input pixels apart, so every later layer's window covers more of the image.
# Going up through a layer with a `k×k` window and stride `s`:
#
# ```
# size ← size + (k − 1) · jump        jump ← jump · s          (start: size 1, jump 1 — one pixel)
# ```
#
# where `jump` is the distance, in input pixels, between two neighbouring outputs of the current layer.
# Padding moves the patch, not its size (near the border part of it is padding).
#
# ### Your turn 8 — the receptive field by hand
#
# Write `receptive_field(windows)`: given the `(k, s)` of each layer from the input up, return the
# side of the patch that one output of the last layer sees.

# %% tags=["solution"]
### BEGIN SOLUTION
def receptive_field(windows):
    size, jump = 1, 1
    for k, stride in windows:
        size, jump = size + (k - 1) * jump, jump * stride
    return size
### END SOLUTION

# %%
assert receptive_field([(3, 1), (3, 1)]) == 5, "two 3×3 convs see 5×5"
lenet_windows = [lenet[n].window() for n in ("conv1", "act1", "pool1", "conv2", "act2", "pool2")]
print("LeNet-5's windows (k, s) up to pool2:", lenet_windows, "→ receptive field", receptive_field(lenet_windows))
assert receptive_field(lenet_windows) == lenet.receptive_fields()["pool2"][0] == 16
print("your turn 8: correct — Sequential.receptive_fields agrees")

# %% [markdown]
# Does one output really see exactly that patch? Measure it with the backward pass: the gradient of one
# output with respect to the input is nonzero exactly where the input influences it. Take a stack with
# every conv weight set to 1 (so no two paths cancel) and average pooling, send `dout = 1` at one output
# position in the middle, and look at where `dx` is nonzero:

# %%
probe = nc.Sequential([("c1", nc.Conv2D(1, 1, 3, dtype=np.float64)), ("p1", nc.AvgPool2D(2)),
                       ("c2", nc.Conv2D(1, 1, 3, dtype=np.float64)),
                       ("c3", nc.Conv2D(1, 1, 3, stride=2, dtype=np.float64))], input_shape=(1, 24, 24))
for name, p, _ in probe.named_parameters():
    p[...] = 1.0 if name.endswith(".W") else 0.0
out_probe = probe.forward(np.zeros((1, 1, 24, 24)))
one = np.zeros_like(out_probe)
one[0, 0, out_probe.shape[2] // 2, out_probe.shape[3] // 2] = 1.0
seen = probe.backward(one)[0, 0] != 0
rows, cols_seen = np.flatnonzero(seen.any(axis=1)), np.flatnonzero(seen.any(axis=0))
measured = (rows[-1] - rows[0] + 1, cols_seen[-1] - cols_seen[0] + 1)
by_hand = receptive_field([probe[n].window() for n in probe.layers])
print(f"the gradient reaches a {measured[0]}×{measured[1]} patch; by hand: {by_hand}; the library: "
      f"{probe.receptive_fields()['c3'][0]}")
assert measured == (by_hand, by_hand) == (probe.receptive_fields()["c3"][0],) * 2 and seen.sum() == by_hand ** 2


# %% [markdown]
# ## Check yourself
#
# 1. A 28×28 input, a 5×5 filter, stride 1, padding 2: what is the output size? And with stride 2?
#
#    <details><summary>Answer</summary>
#
#    `(28 + 4 − 5)//1 + 1 = 28` ("same" padding); `(28 + 4 − 5)//2 + 1 = 14`.
#
#    </details>
#
# 2. What is the shape of `im2col` for a batch of 64 such images with 6 input channels (stride 1)?
#
#    <details><summary>Answer</summary>
#
#    One row per output position of every image, one column per filter weight:
#    `(64·28·28, 6·5·5) = (50176, 150)`.
#
#    </details>
#
# 3. Why must `col2im` *add* overlapping contributions instead of overwriting them?
#
#    <details><summary>Answer</summary>
#
#    <!-- BEGIN GRADED ANSWER -->
#    A pixel read by `k` windows influences the loss along `k` paths; the chain rule sums the
#    gradients of all paths. Overwriting would keep only the last window's share. (Same reason as
#    `dW = dout.T @ x` sums over the batch.)
#
#    Rubric:
#    - 2 points: a pixel in several windows affects the loss along several paths, and the chain rule sums over the
#      paths
#    - 1 point: says what overwriting loses (all windows' shares but one) or gives the Dense analogy (a sum over the
#      batch)
#    <!-- END GRADED ANSWER -->
#
#    </details>
#
# 4. Why do we run the gradient check in float64?
#
#    <details><summary>Answer</summary>
#
#    float32 keeps about 7 significant digits: `f` itself carries a rounding error of about
#    `1e-7·|f|`, and dividing by `2h` amplifies it; with `h` large enough to beat that, the `O(h²)`
#    error of the difference formula takes over. The cell below measures one entry in float32: its
#    relative error is orders of magnitude above float64's.
#
#    </details>
#
# 5. In your turn 4, `dw = D.T @ cols`. Which Dense-layer formula is that, and what plays the role of
#    the batch?
#
#    <details><summary>Answer</summary>
#
#    `dW = dout.T @ x` of the Dense layer: the `N·OH·OW` windows are the "batch" (every window is one
#    input row of the same filters), so the weight gradient sums over all windows of all images.
#
#    </details>
#
# 6. A colleague copies a 3×3 filter from an image-processing book, where it is defined as a convolution,
#    into the weights of a numpycnn `Conv2D`. What does the layer compute, and what should they change?
#
#    <details><summary>Answer</summary>
#
#    <!-- BEGIN GRADED ANSWER -->
#    The layer computes a cross-correlation, which is the book's convolution with the filter flipped in
#    both spatial axes. To get the book's result, load the flipped filter, `w[..., ::-1, ::-1]`. For a
#    symmetric filter (a Gaussian) nothing changes; for Sobel x the map changes sign (your turn 5). For
#    filters the network learns it does not matter: training finds the flipped one.
#
#    Rubric:
#    - 2 points: the layer cross-correlates (no flip), so it applies the book's filter flipped in both spatial axes
#    - 1 point: the fix: flip the filter in both spatial axes before loading it (w[..., ::-1, ::-1])
#    - 1 point: when it does not matter: symmetric filters, or filters learned by the network
#    <!-- END GRADED ANSWER -->
#
#    </details>
#
# 7. A 3×3 convolution from 64 to 128 channels, stride 1, "same" padding, on 32×32 images: how many
#    parameters, and how many multiply-adds per image?
#
#    <details><summary>Answer</summary>
#
#    `128·64·3·3 + 128 = 73,856` parameters; the output is 128×32×32 and each value a dot product of
#    length `64·3·3`: `128·32·32·64·9 = 75,497,472` MACs, about 151 million FLOPs per image.
#
#    </details>
#
# 8. One 5×5 convolution or two 3×3 ones in a row, `C` channels in and out: which sees more of the
#    image, which has more parameters?
#
#    <details><summary>Answer</summary>
#
#    The same receptive field, 5×5 (`1 + 2 + 2`). Two 3×3 layers have `2·9·C²` weights against
#    `25·C²` — 28 % fewer — and put a nonlinearity in between (VGG's argument for stacks of 3×3 layers).
#
#    </details>

# %%
assert conv_output_size(28, 5, 1, 2) == 28 and conv_output_size(28, 5, 2, 2) == 14        # 1.
assert im2col(np.zeros((64, 6, 28, 28)), 5, 5, 1, 2).shape == (64 * 28 * 28, 6 * 5 * 5)    # 2.
ones = np.ones((1, 1, 5, 5))                                          # 3. a pixel read by k windows gets k
assert col2im(im2col(ones, 3, 3, 1, 0), ones.shape, 3, 3, 1, 0)[0, 0, 2, 2] == 9
x32 = x.astype(np.float32)                                            # 4. rounding error ~1e-7 / 2h
f32 = lambda: float(np.sum(conv2d_forward(x32, w.astype(np.float32), b.astype(np.float32), s, pad)[0] * R))
h = 1e-3
old = x32[0, 0, 1, 1]
x32[0, 0, 1, 1] = old + h
fp = f32()
x32[0, 0, 1, 1] = old - h
fm = f32()
x32[0, 0, 1, 1] = old
err32 = abs((fp - fm) / (2 * h) - dx_lib[0, 0, 1, 1]) / abs(dx_lib[0, 0, 1, 1])
print(f"float32 central difference, one entry: relative error {err32:.1e} (float64 above: {errors['x']:.1e})")
assert err32 > 100 * errors["x"]
assert np.allclose(convolve(image, kernel), correlate2d(image, kernel[::-1, ::-1], mode="valid"))   # 6. flip it
q7 = nc.Sequential([("conv", nc.Conv2D(64, 128, 3, pad=1))], input_shape=(64, 32, 32))              # 7.
assert q7.num_params == 73_856 and q7.macs()["conv"] == 75_497_472
five = nc.Sequential([("c", nc.Conv2D(16, 16, 5))], input_shape=(16, 9, 9))                        # 8.
two = nc.Sequential([("c1", nc.Conv2D(16, 16, 3)), ("c2", nc.Conv2D(16, 16, 3))], input_shape=(16, 9, 9))
assert five.receptive_fields()["c"][0] == two.receptive_fields()["c2"][0] == 5
assert two["c1"].params["W"].size + two["c2"].params["W"].size == 18 * 16 ** 2 < five["c"].params["W"].size
print("all checks passed")
