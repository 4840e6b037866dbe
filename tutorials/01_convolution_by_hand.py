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
# In this lesson you will
# 1. compute a convolution with four nested loops (the naive reference of numpycnn);
# 2. unfold the image into a matrix with **im2col**, so the whole convolution becomes
#    **one matrix product (GEMM)** — the *textbook* convolution, which you write yourself;
# 3. derive the backward pass of a matrix product on the simplest layer that is one, `Dense`,
#    and check it with a **central-difference gradient check** of your own;
# 4. see that **col2im** is the *adjoint* of im2col (not its inverse), and use it to write the
#    backward pass of the convolution.
#
# **Assignment exercises taught here:** `im2col.im2col`, `im2col.col2im`, `conv.conv2d_forward`,
# `conv.conv2d_backward`, `layers.Dense.forward`, `layers.Dense.backward`.
#
# **How to work through it.** Cells titled *Your turn* are yours: write the few lines they ask for
# (in the student copy of an assignment they hold `raise NotImplementedError` until you do), then
# run the cell after them — it checks your lines with asserts. Questions end each part; their
# answers are folded (click *Answer*) — answer first, then unfold.
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
out_lib, cache = conv2d_forward(x, w, b, s, pad)
assert np.allclose(out_lib, out_loop, rtol=0, atol=1e-12)
print("your turn 2: correct — one GEMM gives the four loops' result")

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
    """max |a − n| / max(max |a|, max |n|): about 1e-9 or below when a backward pass is right."""
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
# And against central differences of `f = Σ out·R` — the check every backward pass in numpycnn passes
# (here with the library's `conv2d_forward` / `conv2d_backward`; the scatter plot of one of the three
# gradients should lie on the diagonal):

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
# Errors around 1e-9 or below mean the backward pass is right; above 1e-7 something is wrong.
# The library does the same check for any layer (`nc.gradcheck.check_layer`), with the
# input and every parameter:

# %%
layer = nc.Conv2D(3, 4, 3, stride=2, pad=1, rng=np.random.default_rng(1), dtype=np.float64)
print(nc.gradcheck.check_layer(layer, rng.standard_normal((2, 3, 7, 7))))

# %% [markdown]
# The library's `conv2d_forward` / `conv2d_backward` (in `numpycnn/conv.py`) are exactly these three products:
# they are the assignment's exercise, the code you just wrote. `nc.Conv2D` trains with a faster
# implementation by default (`numpycnn.fast_conv`: the same products image by image, the bias as a row of
# ones, no transposes; `benchmarks/README.md` measures why). A layer's `implementation` makes it train on the
# textbook code instead — so in your own copy, *your* convolution trains the network:

# %%
data = nc.datasets.load_dataset("digits", seed=0, train_limit=400)
losses = {}
for implementation in ("fast", "textbook"):
    net = nc.zoo.small_cnn(data.input_shape, width=4, seed=0).astype(np.float64)
    for name in net.conv_layers():
        net[name].implementation = implementation        # or Conv2D(..., implementation="textbook")
    tr = nc.Trainer(net, nc.optim.SGD(net, lr=0.05), seed=0, batch_size=32, progress=False)
    tr.fit(nc.datasets.Dataset(data.train.x.astype(np.float64), data.train.y), epochs=1)
    losses[implementation] = tr.history["train_loss"][-1]
print(losses)
assert abs(losses["fast"] - losses["textbook"]) < 1e-9 * losses["fast"]   # the same network, the same numbers

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
#    A pixel read by `k` windows influences the loss along `k` paths; the chain rule sums the
#    gradients of all paths. Overwriting would keep only the last window's share. (Same reason as
#    `dW = dout.T @ x` sums over the batch.)
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
print("all checks passed")
