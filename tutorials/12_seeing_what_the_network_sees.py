# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # Tutorial 12 — Seeing what the network sees: the backward pass, carried to the input
#
# Training back-propagates the loss from the logits down to the weights of the first layer and
# stops there: nothing needs the gradient with respect to the images. Carry the same backward pass
# **one layer further** and it answers questions about a trained network:
#
# 1. **saliency maps** — which pixels would change a class score most (Simonyan et al., 2014):
#    `∂z_c / ∂x`, the gradient of the class score with respect to the image;
# 2. **occlusion maps** — the same question without a gradient: cover a patch, and see how far the
#    probability of the class falls (Zeiler & Fergus, 2014);
# 3. **class-model visualisation** — gradient *ascent* on the input: the image the network scores
#    highest as a class, kept image-like by regularisation — and, without it, **fooling images**;
# 4. **adversarial images** — the fast gradient sign method (Goodfellow et al., 2015): a change of a
#    few grey levels per pixel, aimed by the gradient of the loss, that a random change of the same
#    size does not come close to.
#
# The library function is `numpycnn.interpret.input_gradient(model, x, target, of="score" | "loss")`;
# you write its core first, here and then in the library.
#
# **Assignment exercises taught here:** `interpret.input_gradient` — besides it, this lesson uses the
# layers and optimizers of tutorials 1–3 (recommended order: 1, 2, 3, 9, 10, 11, 12, 13, 14, then the
# techniques 4–8).
#
# Data: LeNet-5 trained here on a Fashion-MNIST subset when the data set is installed (else a small CNN on
# the embedded 8×8 digits). *Your turn* cells are yours to write (the cell after each checks it); answers
# are folded. Run it with `python tutorials/12_seeing_what_the_network_sees.py` (`NUMPYCNN_FAST=1`: well
# under a minute; full: under a minute on 2 cores, docs/tutorials.md) or as a notebook. Figures: inline in a
# notebook, else in `tutorials/figures/12_seeing_what_the_network_sees/` (reference copies in
# `tutorials/reference_figures/`).

# %%
import copy
import os

import numpy as np
from matplotlib.figure import Figure
from scipy.ndimage import gaussian_filter

import numpycnn as nc
from numpycnn.errors import DatasetNotFoundError
from numpycnn.functional import softmax
from numpycnn.gradcheck import numerical_gradient, relative_error
from numpycnn.interpret import input_gradient, occlusion_map

FAST = os.environ.get("NUMPYCNN_FAST", "0") == "1"
print("fast mode" if FAST else "full mode")
print("numpycnn imported from", nc.__file__)

try:
    data = nc.datasets.load_dataset("fashion-mnist", train_limit=3000 if FAST else 12000,
                                    test_limit=1000 if FAST else 5000, seed=0)
    CLASSES = nc.datasets.FASHION_MNIST_CLASSES
except DatasetNotFoundError as err:
    print("Fashion-MNIST not found, using the embedded digits instead:", str(err).splitlines()[0])
    data = nc.datasets.load_dataset("digits", seed=0)
    CLASSES = [str(k) for k in range(10)]
FASHION = data.name == "fashion-mnist"
print(data)
K = data.num_classes
LOW, HIGH = (0 - data.mean) / data.std, (1 - data.mean) / data.std      # black and white, normalised

# %% [markdown]
# ## 1. A network to look into
#
# LeNet-5 (the small CNN on digits), its output layer scaled by 0.1 as in tutorial 3, trained briefly
# with Adam. Pixels are normalised as `x = (raw/255 − mean)/std`, so black is `LOW` and white `HIGH`
# below.

# %%
def build_model(seed=0):
    if FASHION:
        model = nc.zoo.lenet5(data.input_shape, K, seed=seed)
    else:
        model = nc.zoo.small_cnn(data.input_shape, K, seed=seed)
    last = [name for name, _, _ in model.named_parameters() if name.endswith(".W")][-1]
    model.get_parameter(last)[...] *= 0.1
    return model


model = build_model()
trainer = nc.Trainer(model, nc.optim.Adam(model, lr=1e-3), seed=0, batch_size=32, progress=False)
history = trainer.fit(data.train, data.val, epochs=3 if FAST else 6)
x_test, y_test = data.test.x, data.test.y
test = model.evaluate(x_test, y_test)
print(f"after {trainer.epoch} epochs on {len(data.train)} images: test accuracy {test['accuracy']:.3f} "
      f"on {len(y_test)} images (chance {1 / K:.2f})")
assert test["accuracy"] > 0.7

# %% [markdown]
# ## 2. The gradient with respect to the input
#
# `Sequential.backward(g)` runs every layer's backward pass from the last to the first and returns
# what the first one returns: the gradient with respect to the **input**. Training skips that last
# product (`input_grad=False`: nothing below the images needs it). To explain the score `z_c` of class
# `c`, start the backward pass with `∂z_c/∂z` — a one-hot row — instead of the loss's probability
# error:
#
# ```
# g_L = ∂z_c / ∂z = onehot(c)          g_(k−1) = layer_k.backward(g_k)          ∂z_c / ∂x = g_0
# ```
#
# Run the network in **evaluation mode** (`with model.evaluation_mode():`): the gradient should be a
# property of the trained network and of this image, not of a dropout mask or of the other images in
# a BatchNorm batch.
#
# ### Your turn 1 — the gradient of a class score
#
# Write `score_gradient(model, x, c)` for a batch `x: (N, C, H, W)`: in evaluation mode, the forward
# pass, a one-hot `dz` (1 in column `c` of every row, 0 elsewhere, the logits' shape and dtype), and the
# backward pass; return `∂z_c/∂x`, shape `(N, C, H, W)`.

# %% tags=["solution"]
### BEGIN SOLUTION
def score_gradient(model, x, c):
    with model.evaluation_mode():
        z = model.forward(x)
        dz = np.zeros_like(z)
        dz[:, c] = 1
        return model.backward(dz)
### END SOLUTION

# %%
x8, c8 = x_test[:8], 3
mine = score_gradient(model, x8, c8)
assert mine.shape == x8.shape, f"∂z_c/∂x has the images' shape {x8.shape}; got {mine.shape}"
model64 = copy.deepcopy(model).astype(np.float64)                  # central differences need float64
x64 = x_test[:1].astype(np.float64) + 0.01 * np.random.default_rng(1).standard_normal(x_test[:1].shape)  # no ties
analytic = score_gradient(model64, x64, c8)
pixels = [tuple(int(i) for i in np.unravel_index(k, x64.shape))
          for k in np.random.default_rng(0).choice(x64.size, 40, replace=False)]
with model64.evaluation_mode():
    numeric = numerical_gradient(lambda: float(model64.forward(x64)[0, c8]), x64, indices=pixels)
picked = tuple(np.array(i) for i in zip(*pixels))
gradcheck_error = relative_error(analytic[picked], numeric[picked])
print(f"your turn 1: correct — relative error against central differences (40 pixels, float64): {gradcheck_error:.1e}")
assert gradcheck_error < 1e-6

# %% [markdown]
# **Fill in now:** `interpret.input_gradient` in `numpycnn/interpret.py` — the library's version of your
# turn 1, used by the rest of this lesson. The function already puts the model in evaluation mode, runs the
# forward pass and turns `target` into labels `t`; you write the start of the backward pass, `dz = ∂s/∂z`
# (`onehot(t)` for `of="score"`, `softmax(z) − onehot(t)` for `of="loss"`, as its docstring says), and
# the backward pass itself. The cell below compares it with your function.

# %%
library = input_gradient(model, x8, c8)
assert np.allclose(mine, library, rtol=1e-5, atol=1e-7), \
    f"input_gradient differs from your turn 1 by up to {np.abs(mine - library).max():.1e}"
loss_gradient = input_gradient(model64, x64, c8, of="loss")
with model64.evaluation_mode():
    numeric_loss = numerical_gradient(lambda: float(-np.log(softmax(model64.forward(x64))[0, c8])), x64,
                                      indices=pixels)
assert relative_error(loss_gradient[picked], numeric_loss[picked]) < 1e-6, "of='loss': the gradient of −log p_c"
print("input_gradient: the same as your turn 1, and of='loss' matches central differences of −log p_c")

# %% [markdown]
# The check adds a little noise to the image first (`0.01·N(0, 1)`). On the real image the flat black
# background makes many **ties** in the max-pooling windows — equal values, a kink: the backward pass
# gives the gradient to the first maximum, and a central difference across the kink measures neither
# side (tutorial 1's gradient-check caveat). How many windows of the first pooling layer tie:

# %%
if "pool1" in model.layers:
    acts = {}
    model.add_forward_hook("act1", lambda h: acts.__setitem__("act1", h.copy()))
    model.predict_logits(x_test[:100])
    model.remove_hooks()
    a = acts["act1"]
    N_, C_, H_, W_ = a.shape
    windows = a[:, :, :H_ // 2 * 2, :W_ // 2 * 2].reshape(N_, C_, H_ // 2, 2, W_ // 2, 2).transpose(0, 1, 2, 4, 3, 5)
    windows = windows.reshape(-1, 4)
    tied = float(((windows == windows.max(axis=1, keepdims=True)).sum(axis=1) > 1).mean())
    print(f"share of the 2×2 windows of pool1 with a tie for the maximum: {tied:.2f}")

# %% [markdown]
# At a tie the gradient is a choice (which input of the window receives it); on the background of
# these images that choice is made in many windows, one source of the speckle in the saliency maps
# below.
#
# That is all `input_gradient(model, x, target)` does (with `of="loss"` it starts from the probability
# error `softmax(z) − onehot(t)` instead, section 5). It also leaves the model as it was — every
# layer's mode and the parameter gradients of the last training step — and its tests check it in
# float64 against central differences and against PyTorch's autograd (tests/test_interpret.py).
#
# ## 3. Saliency maps
#
# A **saliency map** shows `|∂z_c/∂x|` per pixel (the largest over the colour channels), for the class
# `c` the network predicts: where a small change of the image would change the score most. The figure
# of section 4 shows them for 8 test images, next to their occlusion maps.

# %%
show = np.array([int(np.flatnonzero(y_test == k)[0]) for k in range(8)])
predicted = model.predict(x_test)
saliency = np.abs(input_gradient(model, x_test, predicted)).max(axis=1)          # (N, H, W)

# %% [markdown]
# Do the salient pixels matter? A check with a **control**: set the 5 % most salient pixels of each
# image to the mean pixel value (0 after normalisation) and see how often the prediction survives —
# against 5 % of the pixels chosen at random.

# %%
def replace_pixels(x, order, fraction):
    """x with the first ``fraction`` of the pixels in ``order`` (per image, flat indices) set to 0."""
    out = x.copy().reshape(len(x), -1)
    k = int(round(fraction * out.shape[1]))
    np.put_along_axis(out, order[:, :k], 0.0, axis=1)
    return out.reshape(x.shape)


flat = saliency.reshape(len(x_test), -1)
by_saliency = np.argsort(-flat, axis=1)
at_random = np.argsort(np.random.default_rng(0).random(flat.shape), axis=1)
changed = {name: float((model.predict(replace_pixels(x_test, order, 0.05)) != predicted).mean())
           for name, order in (("most salient", by_saliency), ("random", at_random))}
print(f"predictions changed by replacing 5 % of the pixels: the most salient {changed['most salient']:.3f}, "
      f"random ones {changed['random']:.3f} ({changed['most salient'] / changed['random']:.1f} times as many)")
assert changed["most salient"] > 1.5 * changed["random"]
background = x_test[:, 0] <= x_test.reshape(len(x_test), -1).min(axis=1)[:, None, None] + 1e-6
on_object = float(((saliency * ~background).sum(axis=(1, 2)) / saliency.sum(axis=(1, 2))).mean())
object_area = float((~background).mean())
print(f"share of the saliency on the object's pixels: {on_object:.2f}; share of the image the object covers: "
      f"{object_area:.2f}")
assert object_area < on_object < object_area + 0.25

# %% [markdown]
# The pixels the gradient points at matter: replacing the most salient 5 % changes more than one and a
# half times as many predictions as replacing 5 % at random (the ratio is printed above). But look at the maps (section 4's figure): they are **noisy**,
# and a good part of the saliency lies on the *background* (the object gets only a little more than
# its share of the area — printed above). A pixel of the background next to a sleeve is not
# unimportant: adding ink there would change the outline, which is much of what a small network on
# Fashion-MNIST reads. The gradient answers "what if this pixel changed a little?" — a local question.
#
# ## 4. Occlusion maps
#
# Occlusion asks a different, finite question: **what if this part were not there?** Cover a
# `size × size` patch with the background value (the image's minimum), at every position `stride`
# pixels apart, and record how far the probability of the class falls:
#
# ```
# occlusion[i, j] = p_c(x) − p_c(x with the patch at (i·stride, j·stride) covered)
# ```
#
# ### Your turn 2 — an occlusion map
#
# Write `occlusion(model, image, c, size, stride)` for one image `(C, H, W)`: `p_c` of the image, then
# for every patch position a covered copy and its `p_c` (`softmax(model.predict_logits(batch))`,
# `predict_logits` runs in evaluation mode), as an array `((H − size)//stride + 1, (W − size)//stride + 1)`.

# %% tags=["solution"]
### BEGIN SOLUTION
def occlusion(model, image, c, size, stride):
    C, H, W = image.shape
    p = softmax(model.predict_logits(image[None]))[0, c]
    out = np.zeros(((H - size) // stride + 1, (W - size) // stride + 1))
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            covered = image.copy()
            covered[:, i * stride:i * stride + size, j * stride:j * stride + size] = image.min()
            out[i, j] = p - softmax(model.predict_logits(covered[None]))[0, c]
    return out
### END SOLUTION

# %%
SIZE, STRIDE = (4, 2) if FASHION else (2, 1)
i0 = show[0]
mine = occlusion(model, x_test[i0], predicted[i0], SIZE, STRIDE)
library = occlusion_map(model, x_test[i0:i0 + 1], predicted[i0], SIZE, STRIDE)[0]
assert mine.shape == library.shape, f"expected shape {library.shape}; got {mine.shape}"
assert np.allclose(mine, library, atol=1e-6), f"largest difference {np.abs(mine - library).max():.2e}"
print(f"your turn 2: correct — {mine.size} positions, {mine.size + 1} forward passes for one image")

# %%
occlusions = occlusion_map(model, x_test[show], predicted[show], SIZE, STRIDE)
smooth_rng = np.random.default_rng(1)
smoothgrad = np.mean([np.abs(input_gradient(model, x_test[show] + 0.15 * (HIGH - LOW) * smooth_rng.standard_normal(
    x_test[show].shape).astype(x_test.dtype), predicted[show])).max(axis=1) for _ in range(20)], axis=0)
fig = Figure(figsize=(8, 4.6))
axes = fig.subplots(4, 8)
rows = [("image", x_test[show, 0], "gray"), ("|∂z_c/∂x|", saliency[show], "hot"),
        ("SmoothGrad", smoothgrad, "hot"), ("occlusion", occlusions, "hot")]
for r, (label, maps, cmap) in enumerate(rows):
    for col in range(8):
        axes[r, col].imshow(maps[col], cmap=cmap, interpolation="nearest")
        axes[r, col].set_xticks([])
        axes[r, col].set_yticks([])
    axes[r, 0].set_ylabel(label, fontsize=8)
for col, i in enumerate(show):
    axes[0, col].set_title(f"{CLASSES[y_test[i]]}\n→ {CLASSES[predicted[i]]}", fontsize=7)
fig.tight_layout()
nc.plots.show(fig, "saliency_and_occlusion")
print(f"largest occlusion drop per image: {np.round(occlusions.max(axis=(1, 2)), 2)}")
images = x_test[show, 0]
plain_patch = np.array([[[np.all(img[i * STRIDE:i * STRIDE + SIZE, j * STRIDE:j * STRIDE + SIZE] == img.min())
                          for j in range(occlusions.shape[2])] for i in range(occlusions.shape[1])] for img in images])
patch_saliency = np.array([[[sal[i * STRIDE:i * STRIDE + SIZE, j * STRIDE:j * STRIDE + SIZE].sum()
                             for j in range(occlusions.shape[2])] for i in range(occlusions.shape[1])]
                           for sal in saliency[show]])
print(f"patch positions covering only background: {plain_patch.sum()} of {plain_patch.size}; the largest |occlusion| "
      f"there is {np.abs(occlusions[plain_patch]).max():.0e} (float32 rounding), the gradient is not 0 at "
      f"{float((patch_saliency[plain_patch] > 0).mean()):.0%} of them")
assert np.abs(occlusions[plain_patch]).max() < 1e-5 and np.mean(patch_saliency[plain_patch] > 0) > 0.5

# %% [markdown]
# Read the four rows. The raw gradient (second row) is speckled: neighbouring pixels can differ a lot.
# **SmoothGrad** (Smilkov et al., 2017; third row) averages the maps of 20 noisy copies of the image
# and shows the shape better. The **occlusion** map (last row) is blocky — one value per patch — and
# is 0 (to float32 rounding) wherever the patch covers only background — covering background with
# background changes nothing — while the gradient is not (printed above). The two methods answer different questions; neither is *the*
# explanation. The largest drops (printed) show how much a single patch can matter.
#
# Cost: the gradient takes one forward and one backward pass per image; the occlusion map one
# forward pass per patch position.
#
# ## 5. The image the network likes best: class-model visualisation
#
# Turn the question around: which image does the network score highest as class `c`? Start from a
# blank (mean-grey) image and climb the score by **gradient ascent on the input** — the weights stay
# fixed, the image moves:
#
# ```
# maximise  J(x) = z_c(x) − λ ‖x‖²          x ← x + lr · (∂z_c/∂x − 2 λ x)
# ```
#
# The `λ ‖x‖²` term keeps the pixel values small (without it the score grows by making every pixel
# extreme). Two more tricks keep the picture image-like (Yosinski et al., 2015): **jitter** (shift the
# image by a random pixel or two before each gradient, and back after), so that the result cannot rely
# on single-pixel patterns, and an occasional **blur**. And the pixels stay in the valid range
# `[LOW, HIGH]` (black to white).
#
# ### Your turn 3 — one ascent step
#
# Write `ascent_step(x, grad, lr, lam)`: the update above, given `grad = ∂z_c/∂x` (one line).

# %% tags=["solution"]
### BEGIN SOLUTION
def ascent_step(x, grad, lr, lam):
    return x + lr * (grad - 2 * lam * x)
### END SOLUTION

# %%
xa, ga = np.array([1.0, -2.0, 0.5]), np.array([0.3, 0.0, -1.0])
assert np.allclose(ascent_step(xa, ga, 0.1, 0.0), xa + 0.1 * ga), "without λ it is a plain gradient step, uphill"
assert np.allclose(ascent_step(xa, 0 * ga, 0.1, 0.5), 0.9 * xa), "with a zero gradient, λ shrinks x by (1 − 2·lr·λ)"
print("your turn 3: correct")


def class_models(lam, jitter, blur_every, start, steps=200, lr=0.5, seed=0):
    """One image per class, from ``start`` (K, C, H, W), by ``steps`` of gradient ascent on its own class score."""
    rng, x, classes = np.random.default_rng(seed), start.copy(), np.arange(K)
    for step in range(steps):
        dy, dx = rng.integers(-jitter, jitter + 1, size=2)
        shifted = np.roll(x, (dy, dx), axis=(2, 3))
        grad = np.roll(input_gradient(model, shifted, classes), (-dy, -dx), axis=(2, 3))
        x = np.clip(ascent_step(x, grad, lr, lam), LOW, HIGH)
        if blur_every and step % blur_every == blur_every - 1:
            x = gaussian_filter(x, sigma=(0, 0, 0.5, 0.5))
    return x


blank = np.zeros((K, *data.input_shape), dtype=x_test.dtype)
noise = np.random.default_rng(2).standard_normal(blank.shape).astype(blank.dtype) * 0.1
dreams = {"regularised (λ = 0.01, jitter 2, blur)": class_models(0.01, 2, 10, blank),
          "not regularised, from noise": class_models(0.0, 0, 0, noise)}
confidence = {}
for label, images in dreams.items():
    p = softmax(model.predict_logits(images))
    confidence[label] = p[np.arange(K), np.arange(K)]
    print(f"{label:40s} p(class) {np.round(confidence[label], 3)}; predicted = its class for "
          f"{int((p.argmax(axis=1) == np.arange(K)).sum())} of {K}; RMS pixel {np.sqrt(np.mean(images ** 2)):.2f}")
fooling = "not regularised, from noise"
assert confidence[fooling].min() > 0.9
assert (softmax(model.predict_logits(dreams["regularised (λ = 0.01, jitter 2, blur)"])).argmax(axis=1)
        == np.arange(K)).sum() >= K - 1

fig = Figure(figsize=(8, 2.2))
axes = fig.subplots(2, K)
for r, (label, images) in enumerate(dreams.items()):
    for c in range(K):
        axes[r, c].imshow(images[c, 0], cmap="gray", vmin=LOW, vmax=HIGH, interpolation="nearest")
        axes[r, c].set_xticks([])
        axes[r, c].set_yticks([])
        axes[0, c].set_title(CLASSES[c], fontsize=7)
    axes[r, 0].set_ylabel("regularised" if r == 0 else "fooling", fontsize=8)
fig.tight_layout()
nc.plots.show(fig, "class_models")

# %% [markdown]
# The regularised images (top row) are blurry sketches: strokes and edges, some roughly where the
# class has them (vertical strokes for trousers), most hardly recognisable. They show what the network
# *responds to*, not what a garment looks like: it was never trained to generate images, only to tell
# ten classes apart.
#
# The bottom row is the warning: without regularisation, starting from noise, gradient ascent finds
# images that look like nothing — yet the network gives each its class with more than 90 %
# probability (printed above; the regularised images are classified as their classes too). These are **fooling images** (Nguyen et al., 2015). A classifier
# divides the *whole* input space among its classes, and almost all of that space is far from any
# real image; a high probability there means nothing.
#
# ## 6. Adversarial images: the fast gradient sign method
#
# Now the gradient of the **loss** with the true label `y`, `input_gradient(model, x, y, of="loss")`,
# used against the network: move every pixel by `ε` in the direction that increases the loss,
#
# ```
# x_adv = clip(x + ε · sign(∂L/∂x), LOW, HIGH)
# ```
#
# — the fast gradient sign method (FGSM). `ε` is measured as a fraction of the pixel range: `ε = 0.05`
# is 13 of Fashion-MNIST's 255 grey levels (in normalised units `0.05 / std`).
#
# ### Your turn 4 — FGSM
#
# Write `fgsm(model, x, y, eps)` with `eps` in normalised units, clipped to `[LOW, HIGH]`.

# %% tags=["solution"]
### BEGIN SOLUTION
def fgsm(model, x, y, eps):
    grad = input_gradient(model, x, y, of="loss")
    return np.clip(x + eps * np.sign(grad), LOW, HIGH)
### END SOLUTION

# %%
eps = 0.05 / data.std
x_adv = fgsm(model, x_test, y_test, eps)
assert x_adv.shape == x_test.shape and np.abs(x_adv - x_test).max() <= eps * (1 + 1e-6), "each pixel moves by at most ε"
assert x_adv.min() >= LOW - 1e-6 and x_adv.max() <= HIGH + 1e-6, "clip to the valid range"
before, after = model.evaluate(x_test, y_test), model.evaluate(x_adv, y_test)
print(f"your turn 4: correct — test loss {before['loss']:.3f} → {after['loss']:.3f}, "
      f"accuracy {before['accuracy']:.3f} → {after['accuracy']:.3f} at ε = 0.05")
assert after["loss"] > before["loss"]

# %% [markdown]
# The **control**: noise of exactly the same size, `±ε` per pixel with random signs. If FGSM works
# because *any* change of `ε` per pixel confuses the network, the control does as much damage:

# %%
EPSILONS = (0.0, 0.01, 0.02, 0.05, 0.1)
loss_grad = input_gradient(model, x_test, y_test, of="loss")
random_sign = np.random.default_rng(3).choice([-1.0, 1.0], size=x_test.shape).astype(x_test.dtype)
accuracy = {"FGSM": [], "random signs": []}
for e in EPSILONS:
    step = e / data.std
    accuracy["FGSM"].append(float((model.predict(np.clip(x_test + step * np.sign(loss_grad), LOW, HIGH))
                                   == y_test).mean()))
    accuracy["random signs"].append(float((model.predict(np.clip(x_test + step * random_sign, LOW, HIGH))
                                           == y_test).mean()))
for k, e in enumerate(EPSILONS):
    print(f"ε = {e:4.2f} ({e * data.scale:4.1f} of {data.scale:g} grey levels): accuracy FGSM {accuracy['FGSM'][k]:.3f}, "
          f"random signs {accuracy['random signs'][k]:.3f}")
k05 = EPSILONS.index(0.05)
drop = {name: acc[0] - acc[k05] for name, acc in accuracy.items()}
print(f"accuracy lost at ε = 0.05: FGSM {drop['FGSM']:.3f}, random signs {drop['random signs']:.3f}")
assert drop["FGSM"] > 0.1 and abs(drop["random signs"]) < 0.05

fig = Figure(figsize=(10, 3.4))
gs = fig.add_gridspec(2, 6)
ax = fig.add_subplot(gs[:, :2])
for name, marker in (("FGSM", "o-"), ("random signs", "s--")):
    ax.plot(EPSILONS, accuracy[name], marker, label=name)
ax.set(xlabel="ε (fraction of the pixel range)", ylabel="test accuracy", ylim=(0, 1))
ax.legend()
ax.grid(alpha=0.3)
x_show = np.clip(x_test[show[:4]] + 0.1 / data.std * np.sign(loss_grad[show[:4]]), LOW, HIGH)
p_clean, p_adv = model.predict(x_test[show[:4]]), model.predict(x_show)
for col in range(4):
    for r, (img, pred) in enumerate(((x_test[show[col]], p_clean[col]), (x_show[col], p_adv[col]))):
        a = fig.add_subplot(gs[r, 2 + col])
        a.imshow(img[0], cmap="gray", vmin=LOW, vmax=HIGH, interpolation="nearest")
        a.set_title(f"{'ε 0.1' if r else 'clean'}: {CLASSES[pred]}", fontsize=7)
        a.set_xticks([])
        a.set_yticks([])
fig.tight_layout()
nc.plots.show(fig, "fgsm")

# %% [markdown]
# At `ε = 0.05` FGSM costs more than 10 points of accuracy, while noise of the same size per pixel
# changes it by less than 5 (printed above). Why so different? To first order the loss changes
# by `∂L/∂x · δ`. Aligned with the gradient's signs, `δ = ε·sign(g)` gives `ε·‖g‖₁` — every pixel's
# contribution adds up. Random signs give a sum of terms that mostly cancel: about `ε·‖g‖₂`. For an
# image of `n` pixels `‖g‖₁` can be up to `√n` times `‖g‖₂` (28 for 784 pixels):

# %%
g_flat = loss_grad.reshape(len(x_test), -1).astype(np.float64)
l1_over_l2 = np.abs(g_flat).sum(axis=1) / np.linalg.norm(g_flat, axis=1)
print(f"‖g‖₁ / ‖g‖₂ per test image: median {np.median(l1_over_l2):.1f} (at most √n = {np.sqrt(g_flat.shape[1]):.1f})")
assert np.median(l1_over_l2) > 5

# %% [markdown]
# So, to first order, the same-size perturbation is that ratio times more effective when aimed (about
# 20 on 28×28 Fashion-MNIST; at most 8 on the 8×8 digits). High-dimensional
# inputs make small, aimed changes powerful — the linear explanation of adversarial examples
# (Goodfellow et al., 2015).
#
# ## Check yourself
#
# 1. Why does a saliency map use the gradient of the score `z_c`, not of the probability `p_c`?
#
#    <details><summary>Answer</summary>
#
#    `∂p_c/∂x = p_c (∂z_c/∂x − Σ_k p_k ∂z_k/∂x)`: when the network is sure (`p_c ≈ 1`) the bracket
#    almost cancels and the probability barely moves, whatever the pixel — its gradient is tiny
#    (computed below for this network: far smaller relative to the score's gradient for confident
#    images than for unsure ones). It also mixes in the other classes. The score's gradient asks
#    about class `c` alone and does not saturate.
#
#    </details>
#
# 2. Why does `input_gradient` run the network in evaluation mode?
#
#    <details><summary>Answer</summary>
#
#    In training mode Dropout draws a new mask every pass, so the gradient would be a different random
#    one each time, and BatchNorm normalises with the batch's statistics, so an image's gradient would
#    depend on the other images in its batch. In evaluation mode the network is a fixed function of
#    each image.
#
#    </details>
#
# 3. Noise of `±ε` per pixel barely changes the accuracy; the same `ε` aimed by FGSM destroys much of
#    it. Explain with the first-order change of the loss.
#
#    <details><summary>Answer</summary>
#
#    <!-- BEGIN GRADED ANSWER -->
#    The loss changes by about `g · δ` with `g = ∂L/∂x`. FGSM's `δ = ε·sign(g)` makes every term
#    `ε·|g_i|` positive: the change is `ε‖g‖₁`. Random signs give terms of random sign that mostly
#    cancel: a change of typical size `ε‖g‖₂`. With `n` pixels `‖g‖₁` is up to `√n` times `‖g‖₂`
#    (measured here: about 20 for 784 pixels), so the aimed perturbation is that much stronger — the
#    more input dimensions, the larger the effect of many tiny aligned changes.
#
#    Rubric:
#    - 1 point: first order: the loss changes by g · δ
#    - 1 point: FGSM: ε‖g‖₁, every pixel's term adds up
#    - 1 point: random signs: the terms cancel, about ε‖g‖₂
#    - 1 point: ‖g‖₁/‖g‖₂ grows like √n: high dimension makes aimed small changes powerful
#    <!-- END GRADED ANSWER -->
#
#    </details>
#
# 4. The unregularised class-model images look like noise, yet the network gives them their class with
#    more than 90 % probability. What does that tell you about a network's confidence?
#
#    <details><summary>Answer</summary>
#
#    <!-- BEGIN GRADED ANSWER -->
#    A softmax classifier assigns every possible input to some class, and most of the input space is
#    far from any training image; there its outputs are extrapolation, and they can be extreme. A high
#    probability is only meaningful for inputs like the training data. The network learned features
#    that *separate* the ten classes, not what each class looks like, so an image made of those
#    features in the wrong arrangement scores high. (Regularisation — small pixels, jitter, blur —
#    pushes the search towards image-like inputs and gives more recognisable pictures.)
#
#    Rubric:
#    - 2 points: confidence is not meaningful far from the training data; the classifier must put every input in
#      some class
#    - 1 point: the network learned discriminative features, not a model of what each class looks like
#    - 1 point: what the regularisation changes: it keeps the ascent near image-like inputs
#    <!-- END GRADED ANSWER -->
#
#    </details>
#
# 5. An occlusion map needs one forward pass per patch position; the saliency map one backward pass.
#    Why not always use the cheaper one?
#
#    <details><summary>Answer</summary>
#
#    They measure different things. The gradient is local — the effect of an infinitesimal change
#    at each pixel, including background pixels where the object could have been. Occlusion measures a
#    finite change — what removing a part does — and sees effects a first-order gradient misses
#    (a ReLU switching off, a max-pool picking another input). Section 4 showed them disagreeing on the
#    background.
#
#    </details>

# %%
probs = softmax(model.predict_logits(x_test))
conf = probs[np.arange(len(x_test)), predicted]
dp = -conf[:, None, None, None] * input_gradient(model, x_test, predicted, of="loss")   # ∂p_c/∂x = −p_c ∂L/∂x
ratio = (np.linalg.norm(dp.reshape(len(x_test), -1), axis=1)
         / np.linalg.norm(input_gradient(model, x_test, predicted).reshape(len(x_test), -1), axis=1))
sure, unsure = conf > 0.99, conf < 0.6
print(f"1. ‖∂p_c/∂x‖ / ‖∂z_c/∂x‖, median: images with p_c > 0.99 ({sure.sum()}) {np.median(ratio[sure]):.1e}, "
      f"with p_c < 0.6 ({unsure.sum()}) {np.median(ratio[unsure]):.1e}")
assert np.median(ratio[sure]) < 0.1 * np.median(ratio[unsure])                              # 1.
assert np.array_equal(input_gradient(model, x8, 2), input_gradient(model, x8, 2))           # 2.
assert drop["FGSM"] > drop["random signs"] + 0.05 and np.median(l1_over_l2) > 5             # 3.
assert confidence[fooling].min() > 0.9                                                       # 4.
print("all checks passed")
