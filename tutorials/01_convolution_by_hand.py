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
# In this tutorial you will
# 1. compute a convolution with four nested loops (the naive reference of numpycnn);
# 2. unfold the image into a matrix with **im2col**, so the whole convolution becomes
#    **one matrix product (GEMM)**, and time both;
# 3. see that **col2im** is the *adjoint* of im2col (not its inverse) — and why the backward
#    pass needs exactly that;
# 4. write your own central-difference **gradient check** of the backward pass.
#
# Run it with `python tutorials/01_convolution_by_hand.py` (set `NUMPYCNN_FAST=1` for a quick
# run) or open it as a notebook: `jupytext --to ipynb tutorials/01_convolution_by_hand.py`.
# Figures go to a temporary folder (printed below), never into the repository.

# %%
import inspect
import os
import tempfile
import time

import matplotlib
matplotlib.use("Agg")
import numpy as np
from matplotlib.figure import Figure

import numpycnn as nc
from numpycnn.conv import conv2d_backward, conv2d_forward, conv2d_naive
from numpycnn.im2col import col2im, conv_output_size, im2col

FAST = os.environ.get("NUMPYCNN_FAST", "0") == "1"
OUT = tempfile.mkdtemp(prefix="tutorial01-")
rng = np.random.default_rng(0)          # every random number below comes from this generator
print("fast mode" if FAST else "full mode", "| figures go to", OUT)

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
# Here is the reference implementation — four loops, one dot product per output value:

# %%
print(inspect.getsource(conv2d_naive))

# %% [markdown]
# ## 2. im2col: every window becomes a row
#
# The loop computes `N·F·OH·OW` small dot products. A GEMM (matrix product) does the same work
# in one optimised BLAS call, if we first copy every window into a row of a matrix:
#
# ```
# cols = im2col(x)           (N·OH·OW, C·KH·KW)   row (n·OH + i)·OW + j = window at (i, j) of image n
# W2   = w.reshape(F, −1)    (F, C·KH·KW)         one row per filter, same (C, KH, KW) order
# out  = cols @ W2.T + b     (N·OH·OW, F)         then reshape to (N, F, OH, OW)
# ```

# %%
cols = im2col(x, 2, 2)
print("cols shape", cols.shape)
print(cols)
# the first row is the top-left window, flattened
assert np.array_equal(cols[0], x[0, 0, 0:2, 0:2].ravel())

# %% [markdown]
# numpycnn's `im2col` builds the windows as a strided *view* (`windows`, no copy) and one
# transpose+reshape turns it into the matrix:

# %%
print(inspect.getsource(im2col))

# %% [markdown]
# ## 3. The GEMM, checked against the loop
#
# Now a real-sized case: random images and filters with stride and padding. We do the GEMM by
# hand, compare with the loop and with the library's `conv2d_forward`.

# %%
N, C, H, W, F, K, s, pad = (2, 3, 12, 12, 4, 3, 2, 1) if FAST else (8, 3, 28, 28, 8, 3, 2, 1)
x = rng.standard_normal((N, C, H, W))
w = rng.standard_normal((F, C, K, K))
b = rng.standard_normal(F)
OH, OW = conv_output_size(H, K, s, pad), conv_output_size(W, K, s, pad)

cols = im2col(x, K, K, s, pad)                                   # (N·OH·OW, C·K·K)
out_gemm = (cols @ w.reshape(F, -1).T + b).reshape(N, OH, OW, F).transpose(0, 3, 1, 2)
out_loop = conv2d_naive(x, w, b, s, pad)
out_lib, cache = conv2d_forward(x, w, b, s, pad)
print("cols", cols.shape, "-> out", out_gemm.shape)
print("max |gemm − loop| =", np.abs(out_gemm - out_loop).max())
assert np.allclose(out_gemm, out_loop, rtol=0, atol=1e-12)
assert np.allclose(out_lib, out_loop, rtol=0, atol=1e-12)

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
print(f"loop {t_loop * 1e3:.1f} ms, im2col + GEMM {t_gemm * 1e3:.2f} ms: {t_loop / t_gemm:.0f}x faster")

# %% [markdown]
# The speed-up (typically 10–1000×, depending on the sizes and the machine) comes from doing
# the multiply-adds in BLAS instead of the Python interpreter. The price is memory: `cols`
# holds every input value `KH·KW/s²` times.

# %%
print("x holds", x.size, "numbers; cols holds", cols.size, f"({cols.size / x.size:.2f}x)")

# %% [markdown]
# ## 4. col2im is the adjoint of im2col, not its inverse
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
print(inspect.getsource(col2im))

# %% [markdown]
# ## 5. The backward pass, and a gradient check of your own
#
# With `D = dout` arranged as `(N·OH·OW, F)` (the same row order as `cols`):
#
# ```
# db = Σ_rows D                  (F,)
# dw = Dᵀ @ cols                 (F, C·KH·KW) → (F, C, KH, KW)
# dx = col2im(D @ W2)            (N, C, H, W)       ← the adjoint at work
# ```
#
# To check it, take a random "upstream gradient" `R` and the scalar `f(x, w, b) = Σ out·R`.
# Then `∂f/∂out = R`, so `conv2d_backward(R, cache)` must equal the derivatives of `f`.
# We compute those with central differences, `(f(θ + h) − f(θ − h)) / 2h`, in **float64**
# (in float32 the rounding error of `f` divided by `2h` would swamp the result).

# %%
R = rng.standard_normal(out_lib.shape)
dx, dw, db = conv2d_backward(R, cache)


def f():
    return np.sum(conv2d_forward(x, w, b, s, pad)[0] * R)


def central_differences(theta, h=1e-6):
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
    return np.abs(a - n).max() / max(np.abs(a).max(), np.abs(n).max())


errors = {}
for name, theta, analytic in (("x", x, dx), ("w", w, dw), ("b", b, db)):
    numeric = central_differences(theta)
    errors[name] = rel_error(analytic, numeric)
    print(f"d{name}: relative error {errors[name]:.2e}")
    if name == "w":
        fig = nc.plots.gradient_scatter(analytic, numeric, title="conv dw: backward vs central differences")
        nc.plots.save_figure(fig, os.path.join(OUT, "conv_gradcheck_scatter.png"))
assert max(errors.values()) < 1e-7
print("scatter plot:", os.path.join(OUT, "conv_gradcheck_scatter.png"))

# %% [markdown]
# Errors around 1e-9 or below mean the backward pass is right; above 1e-7 something is wrong.
# The library does the same check for any layer (`nc.gradcheck.check_layer`), with the
# input and every parameter:

# %%
layer = nc.Conv2D(3, 4, 3, stride=2, pad=1, rng=np.random.default_rng(1), dtype=np.float64)
print(nc.gradcheck.check_layer(layer, rng.standard_normal((2, 3, 7, 7))))

# %% [markdown]
# And the library's backward pass: exactly these three products (this is the assignment's exercise).
# `nc.Conv2D` trains with a faster kernel by default (`numpycnn.fast_conv`: the same products image by
# image, the bias as a row of ones, no transposes; `benchmarks/README.md` measures why);
# `Conv2D(..., kernel="textbook")` or `with numpycnn.conv.use_kernel("textbook"):` trains on the code below.

# %%
print(inspect.getsource(conv2d_backward))

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
path = nc.plots.save_figure(fig, os.path.join(OUT, "edge_filters.png"))
print("figure:", path)

# %% [markdown]
# ## Check yourself
#
# 1. A 28×28 input, a 5×5 filter, stride 1, padding 2: what is the output size? And with stride 2?
# 2. What is the shape of `im2col` for a batch of 64 such images with 6 input channels?
# 3. Why must `col2im` *add* overlapping contributions instead of overwriting them?
# 4. Why do we run the gradient check in float64?
#
# The asserts below hold the answers; make sure you can say why each one is true.

# %%
assert conv_output_size(28, 5, 1, 2) == 28                           # 1. "same" padding
assert conv_output_size(28, 5, 2, 2) == 14
assert im2col(np.zeros((64, 6, 28, 28)), 5, 5, 1, 2).shape == (64 * 28 * 28, 6 * 5 * 5)   # 2.
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
err32 = abs((fp - fm) / (2 * h) - dx[0, 0, 1, 1]) / abs(dx[0, 0, 1, 1])
print(f"float32 central difference, one entry: relative error {err32:.1e} (float64 above: {errors['x']:.1e})")
assert err32 > 100 * errors["x"]
print("all checks passed")
