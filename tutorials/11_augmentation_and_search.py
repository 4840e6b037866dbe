# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # Tutorial 11 — Data augmentation and hyperparameter search: more data for free, and choosing on validation
#
# Tutorials 3, 9 and 10 trained networks that **overfit**: with few training images, the training
# loss goes to 0 while the validation loss turns up. Weight decay (tutorial 9) and dropout (tutorial 10)
# restrain the network; this lesson attacks the cause — too few examples — and then the question every
# run raises: which learning rate, which weight decay?
#
# 1. **augmentation**: random shifts (a random crop of the padded image) and left–right flips make
#    every epoch see a new version of each image; you write the crop yourself;
# 2. **measured on a run that overfits**: the same network, the same initial weights and the same
#    batches, with and without each augmentation;
# 3. **hyperparameter search**: a grid against random search on a log scale, each trial stopped early
#    on the validation split — and Bergstra & Bengio's argument for random search, on our numbers;
# 4. **the test set, read once**, at the very end.
#
# **Assignment exercises taught here:** none — this lesson uses the layers and optimizers of
# tutorials 1–3 (recommended order: 1, 2, 3, 9, 10, 11, 12, 13, 14, then the techniques 4–8).
#
# Data: a small Fashion-MNIST training set with LeNet-5 when the data set is installed, else the embedded
# 8×8 digits with a small CNN (on digits the flip is wrong — a mirrored 2 is no digit — and the numbers
# differ). *Your turn* cells are yours to write (the cell after each checks it); answers are folded. Run it
# with `python tutorials/11_augmentation_and_search.py` (`NUMPYCNN_FAST=1`: under a minute; full: a minute
# or two on 2 cores, docs/tutorials.md) or as a notebook. Figures: inline in a notebook, else in
# `tutorials/figures/11_augmentation_and_search/` (reference copies in `tutorials/reference_figures/`).

# %%
import math
import os

import numpy as np
from matplotlib.figure import Figure

import numpycnn as nc
from numpycnn.augment import Augment
from numpycnn.datasets import Dataset
from numpycnn.errors import DatasetNotFoundError, DivergenceError

FAST = os.environ.get("NUMPYCNN_FAST", "0") == "1"
print("fast mode" if FAST else "full mode")
print("numpycnn imported from", nc.__file__)

try:
    data = nc.datasets.load_dataset("fashion-mnist", train_limit=4000 if FAST else 12000, val_fraction=0.25,
                                    test_limit=2000 if FAST else 10000, seed=0)
    CLASSES = nc.datasets.FASHION_MNIST_CLASSES
except DatasetNotFoundError as err:
    print("Fashion-MNIST not found, using the embedded digits instead:", str(err).splitlines()[0])
    data = nc.datasets.load_dataset("digits", seed=0)
    CLASSES = [str(k) for k in range(10)]
FASHION = data.name == "fashion-mnist"
print(data)
if not FASHION:
    print("The numbers the text discusses are Fashion-MNIST's; their asserts are skipped on the digits, where a 2-pixel "
          "shift moves a quarter of an 8×8 image and a flip changes the class. Compare what you get with the text.")


def build_model(seed=0):
    """LeNet-5 (28×28) or the small CNN (8×8); the output layer scaled by 0.1 (tutorial 3)."""
    if FASHION:
        model = nc.zoo.lenet5(data.input_shape, data.num_classes, seed=seed)
    else:
        model = nc.zoo.small_cnn(data.input_shape, data.num_classes, seed=seed)
    last = [name for name, _, _ in model.named_parameters() if name.endswith(".W")][-1]
    model.get_parameter(last)[...] *= 0.1
    return model

# %% [markdown]
# ## 1. Augmentation: new views of the same images
#
# A network that has seen a shirt should recognise it two pixels to the left, or mirrored: the class
# does not change. **Data augmentation** builds that knowledge into training: before each step, every
# image of the batch is replaced by a random view of it, so the network never sees exactly the same
# image twice and cannot simply memorise the training set. numpycnn's `Augment` has two views:
#
# ```
# shift s   pad the image by s pixels on every side (with its background value), then crop an H×W
#           window at a random offset (dy, dx) ∈ {0 … 2s}²: the image moves by up to s pixels each way.
#           This is the "random crop after padding" of the ResNet papers (s = 4 on CIFAR-10),
#           torchvision's RandomCrop(H, padding=s).
# flip      mirror the image left–right with probability 1/2 — right for clothes and photographs,
#           wrong for digits and letters, whose mirror images are other symbols
# ```
#
# The `Trainer` applies it to every training batch with a generator seeded by `(seed, step)`, so a run
# — and a resumed run — sees the same views; validation and test images are never augmented.
#
# ### Your turn 1 — a random crop after padding
#
# Write `pad_and_crop(x, s, rng)` for a batch `x: (N, C, H, W)`: pad each image by `s` pixels with
# its own minimum value (`x[n].min()`), draw the offsets as `dy, dx = rng.integers(0, 2 * s + 1,
# size=(2, N))` (that order, so that you get the views `Augment` gets), and return the crops
# `padded[n, :, dy[n]:dy[n] + H, dx[n]:dx[n] + W]` as a new array. (`np.pad(img, ((0, 0), (s, s),
# (s, s)), constant_values=v)` pads one image.)

# %% tags=["solution"]
### BEGIN SOLUTION
def pad_and_crop(x, s, rng):
    N, C, H, W = x.shape
    dy, dx = rng.integers(0, 2 * s + 1, size=(2, N))
    out = np.empty_like(x)
    for n in range(N):
        padded = np.pad(x[n], ((0, 0), (s, s), (s, s)), constant_values=x[n].min())
        out[n] = padded[:, dy[n]:dy[n] + H, dx[n]:dx[n] + W]
    return out
### END SOLUTION

# %%
x_views = data.train.x[:16]
mine = pad_and_crop(x_views, 2, np.random.default_rng(5))
library = Augment(shift=2)(x_views, np.random.default_rng(5))
assert mine.shape == x_views.shape and mine.dtype == x_views.dtype
assert np.array_equal(mine, library), "the same generator seed must give Augment(shift=2)'s views"
centred = pad_and_crop(x_views[:1], 0, np.random.default_rng(0))
assert np.array_equal(centred, x_views[:1]), "s = 0 is the identity"
print("your turn 1: correct — your crops are Augment(shift=2)'s, pixel for pixel")

# %% [markdown]
# Eight random views (shift 2 and flip) of four training images:

# %%
both = Augment(shift=2, flip=True)
show_idx = [int(np.flatnonzero(data.train.y == k)[0]) for k in (0, 1, 7, 9)]
fig = Figure(figsize=(7, 3.6))
axes = fig.subplots(4, 9)
for row, i in enumerate(show_idx):
    views = both(np.repeat(data.train.x[i:i + 1], 8, axis=0), np.random.default_rng(row))
    for col, img in enumerate([data.train.x[i]] + list(views)):
        axes[row, col].imshow(img[0], cmap="gray", interpolation="nearest")
        axes[row, col].set_xticks([])
        axes[row, col].set_yticks([])
    axes[row, 0].set_ylabel(CLASSES[data.train.y[i]], fontsize=8)
axes[0, 0].set_title("original", fontsize=8)
for col in range(1, 9):
    axes[0, col].set_title(f"view {col}", fontsize=8)
nc.plots.show(fig, "views")

# %% [markdown]
# How new is a view? Measure the root-mean-square pixel difference between an image and its view,
# against the difference to *another* training image of the same class:

# %%
def rms(a, b):
    return float(np.sqrt(np.mean((a - b) ** 2)))


pool = data.train.x[:512]
same_class = np.array([np.flatnonzero(data.train.y[:512] == data.train.y[i])[-1] for i in range(512)])
distance = {"flip": rms(pool, pool[..., ::-1]),
            "shift 2": rms(pool, Augment(shift=2)(pool, np.random.default_rng(0))),
            "another image of the class": rms(pool, data.train.x[same_class])}
for name, d in distance.items():
    print(f"RMS difference to the original, {name:28s} {d:.3f}")
if FASHION:
    assert distance["shift 2"] < distance["another image of the class"]
views_per_image = {"flip": 2, "shift 2": (2 * 2 + 1) ** 2, "shift 2 + flip": 2 * (2 * 2 + 1) ** 2}
print("distinct views of one image:", views_per_image)

# %% [markdown]
# A view differs from its original by less than another image of the same class does — it is new
# data, but close to the old. And there are few of them: a flip gives each image **2** versions, a
# shift of up to 2 pixels **25** (5 × 5 offsets), both together 50. Section 2 measures what that means
# for training.
#
# ## 2. Measured on a run that overfits
#
# LeNet-5 on a **small** training set, Adam (lr 3e-3, batch 32), long enough to memorise it; validation
# on other images of the training split (300 in fast mode, 800 in full mode). Four arms — no augmentation, flip, shift 2, shift 2 and flip — with **paired
# seeds**: within a seed every arm starts from the same weights and sees the same batches in the
# same order; only the views differ.

# %%
N_SMALL = (300 if FAST else 800) if FASHION else 300
EPOCHS = (16 if FAST else 25) if FASHION else 40
SEEDS = [0] if FAST else [0, 1]
small = Dataset(data.train.x[:N_SMALL], data.train.y[:N_SMALL])
val = Dataset(data.val.x[:300 if FAST else 800], data.val.y[:300 if FAST else 800])
ARMS = {"none": None, "flip": Augment(shift=0, flip=True), "shift 2": Augment(shift=2),
        "shift 2 + flip": Augment(shift=2, flip=True)}
runs = {}
for seed in SEEDS:
    for arm, augment in ARMS.items():
        model = build_model(seed=seed)
        trainer = nc.Trainer(model, nc.optim.Adam(model, lr=3e-3), seed=seed, batch_size=32, progress=False,
                             augment=augment)
        runs[arm, seed] = trainer.fit(small, val, epochs=EPOCHS)
print(f"{len(small)} training images, {EPOCHS} epochs, seeds {SEEDS}")
print(f"{'arm':15s} {'seed':>4s} {'train loss':>10s} {'train acc':>9s} {'val loss: min':>13s} {'at epoch':>8s} "
      f"{'end':>6s} {'val acc: at min':>15s} {'end':>6s}")
summary = {}
for (arm, seed), h in runs.items():
    vl = np.array(h["val_loss"])
    best = int(vl.argmin())
    summary[arm, seed] = dict(train_acc=h["train_acc"][-1], min=vl[best], end=vl[-1], best_epoch=best + 1,
                              acc_at_min=h["val_acc"][best], acc_end=h["val_acc"][-1])
    s = summary[arm, seed]
    print(f"{arm:15s} {seed:4d} {h['train_loss'][-1]:10.3f} {s['train_acc']:9.3f} {s['min']:13.3f} "
          f"{s['best_epoch']:8d} {s['end']:6.3f} {s['acc_at_min']:15.3f} {s['acc_end']:6.3f}")

# %%
fig = Figure(figsize=(9, 3.2))
ax1, ax2 = fig.subplots(1, 2)
for k, arm in enumerate(ARMS):
    h = runs[arm, SEEDS[0]]
    ax1.plot(h["epoch"], h["train_loss"], "--", color=f"C{k}")
    ax1.plot(h["epoch"], h["val_loss"], "-", color=f"C{k}", label=arm)
    ax2.plot(h["epoch"], h["val_acc"], "-", color=f"C{k}", label=arm)
ax1.set(xlabel="epoch", ylabel="cross-entropy", yscale="log",
        title=f"validation (solid) and training (dashed), seed {SEEDS[0]}")
ax2.set(xlabel="epoch", ylabel="validation accuracy", title=f"{len(small)} training images")
for ax in (ax1, ax2):
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
fig.tight_layout()
nc.plots.show(fig, "augmentation_curves")

# %%
rise = {key: v["end"] / v["min"] for key, v in summary.items()}
print("validation loss at the end / its minimum:", {f"{a}, seed {s}": round(float(r), 2) for (a, s), r in rise.items()})
climb = [summary["none", s]["end"] - summary["none", s]["min"] for s in SEEDS]
lower_min = [summary["none", s]["min"] - summary["shift 2", s]["min"] for s in SEEDS]
acc_change = [summary["shift 2", s]["acc_at_min"] - summary["none", s]["acc_at_min"] for s in SEEDS]
print("without augmentation, validation loss climb after its minimum, per seed:", np.round(climb, 3))
print("lowest validation loss, none minus shift 2, per seed:                  ", np.round(lower_min, 3))
print("validation accuracy at that epoch, shift 2 minus none, per seed:       ", np.round(acc_change, 3))
for k, seed in enumerate(SEEDS if FASHION else []):
    none, flip = summary["none", seed], summary["flip", seed]
    assert none["train_acc"] > 0.94 and rise["none", seed] > 1.15                 # near memorised; val loss climbs
    for arm in ("shift 2", "shift 2 + flip"):
        s = summary[arm, seed]
        assert s["train_acc"] < 0.9 and s["end"] < none["end"] and rise[arm, seed] < rise["none", seed]
    assert flip["train_acc"] > 0.94 and flip["end"] > summary["shift 2", seed]["end"]    # flips restrain less
    assert abs(lower_min[k]) < climb[k] / 2 and abs(acc_change[k]) < 0.05
if FASHION and not FAST:
    assert min(lower_min) > 0

# %% [markdown]
# Read the table and the curves:
#
# * **No augmentation**: the training accuracy goes towards 1 — the network memorises its small set —
#   and the validation loss, after its minimum, climbs: more than 15 % above it at the end.
# * **Shift** (alone or with flip): the training accuracy stays far lower (below 0.9), because every
#   epoch shows new views; the validation loss rises much less after its minimum and ends well below
#   the unaugmented run's.
# * **Flip alone** restrains the network much less than shifts: its training accuracy also goes above
#   0.94, and its validation loss ends far above the shift runs'. Two versions of each image are not
#   many: the network can memorise both.
# * **The lowest validation loss** — the one early stopping would keep (section 3) — changes much less
#   than that: by less than half the climb that the shifts remove (printed above, per seed; in the
#   full run it was lower with shifts in both seeds, in the fast run the sign can go either way), and
#   the accuracy at that epoch by under 5 points, in either direction. The augmented runs also learn
#   *more slowly*: their lowest validation loss comes many epochs later (the "at epoch" column; in the
#   full run epochs 13–24 with shifts against 3 and 7 without), so a longer budget would suit them.
#
# So augmentation and early stopping are two answers to the same problem. Early stopping takes the
# weights from before the climb; augmentation removes most of the climb, and with a long enough
# budget lets the network learn longer before it starts. Whether it also buys accuracy here is a
# question for a longer budget, more seeds and a confidence interval of the paired differences —
# what this demonstration shows is the mechanism: memorisation held back, the validation loss kept down.
#
# ## 3. Hyperparameter search: a grid, or random points?
#
# Every run so far fixed its learning rate and weight decay by hand. To choose them, train one network
# per setting and keep the one with the best **validation** loss. Two ways to pick 9 settings of two
# hyperparameters:
#
# * **grid search**: 3 values of each, all 9 combinations;
# * **random search**: 9 settings drawn at random, each hyperparameter independently.
#
# Both on a **log scale**: a learning rate of 1e-3 differs from 1e-2 as much as 1e-2 from 1e-1 — a
# factor, not a difference — so we draw `log10(lr)` uniformly, not `lr`. (Uniform draws in
# `[1e-4, 1e-1]` would put 90 % of the points above 1e-2.)
#
# **Bergstra & Bengio (2012)**: usually only a few hyperparameters matter much. If the validation loss
# depends strongly on the learning rate and hardly on the weight decay, the grid's 9 runs test only
# **3** distinct learning rates (each three times, with weight decays that make no difference), while
# random search tests **9**. Same budget, three times the coverage of what matters.
#
# ### Your turn 2 — log-uniform samples
#
# Write `log_uniform(rng, low, high, size)`: `size` values whose base-10 logarithm is uniform in
# `[log10(low), log10(high))` (one line: `10 ** rng.uniform(...)`).

# %% tags=["solution"]
### BEGIN SOLUTION
def log_uniform(rng, low, high, size):
    return 10 ** rng.uniform(np.log10(low), np.log10(high), size)
### END SOLUTION

# %%
draws = log_uniform(np.random.default_rng(0), 1e-4, 1e-1, 30000)
per_decade = np.histogram(np.log10(draws), bins=[-4, -3, -2, -1])[0] / len(draws)
print("fraction of draws in [1e-4, 1e-3), [1e-3, 1e-2), [1e-2, 1e-1):", np.round(per_decade, 3))
assert draws.min() >= 1e-4 and draws.max() < 1e-1
assert np.allclose(per_decade, 1 / 3, atol=0.02), "each decade should get a third of the draws"
assert np.array_equal(log_uniform(np.random.default_rng(1), 1e-4, 1e-1, 5),
                      log_uniform(np.random.default_rng(1), 1e-4, 1e-1, 5))
print("your turn 2: correct")

# %% [markdown]
# ### Early stopping: each trial keeps its best epoch
#
# A trial's score is its **best** validation loss, and the weights kept are those of that epoch:
# train one epoch at a time, remember the weights whenever the validation loss improves, and stop
# when it has not improved for `patience` epochs (tutorial 3 saw why: after its minimum the validation
# loss only gets worse). A trial with a poor learning rate stops early, so it costs less.
#
# ### Your turn 3 — fit with early stopping
#
# Write `fit_early_stopping(trainer, train, val, max_epochs, patience)` returning
# `(best_epoch, best_val_loss)` and leaving the model with the weights of its best epoch.
# `trainer.fit(train, val, epochs=e)` continues a run up to `e` epochs in total and returns the history
# (`history["val_loss"][-1]` is the newest). Copy the weights you keep
# (`{k: v.copy() for k, v in trainer.model.state_dict().items()}`): the optimizer updates them in place.
# Restore them with `trainer.model.load_state_dict(...)`.

# %% tags=["solution"]
### BEGIN SOLUTION
def fit_early_stopping(trainer, train, val, max_epochs, patience):
    best_epoch, best_loss, best_state = 0, math.inf, None
    for epoch in range(1, max_epochs + 1):
        loss = trainer.fit(train, val, epochs=epoch)["val_loss"][-1]
        if loss < best_loss:
            best_epoch, best_loss = epoch, loss
            best_state = {k: v.copy() for k, v in trainer.model.state_dict().items()}
        elif epoch - best_epoch >= patience:
            break
    trainer.model.load_state_dict(best_state)
    return best_epoch, best_loss
### END SOLUTION

# %%
model = build_model(seed=SEEDS[0])
trainer = nc.Trainer(model, nc.optim.Adam(model, lr=3e-3), seed=SEEDS[0], batch_size=32, progress=False)
best_epoch, best_loss = fit_early_stopping(trainer, small, val, EPOCHS, patience=2)
h = trainer.history["val_loss"]
lowest = summary["none", SEEDS[0]]
print(f"section 2's run without augmentation, stopped early: {len(h)} of {EPOCHS} epochs, best epoch {best_epoch}, "
      f"validation loss {best_loss:.4f} (trained to the end, its lowest was {lowest['min']:.4f} at epoch "
      f"{lowest['best_epoch']})")
assert h == runs["none", SEEDS[0]]["val_loss"][:len(h)], "the same run as section 2's, epoch by epoch"
assert best_loss == min(h) and best_epoch == int(np.argmin(h)) + 1
assert len(h) == min(EPOCHS, best_epoch + 2), "stop after `patience` epochs without improvement"
kept = model.evaluate(val.x, val.y)["loss"]
assert abs(kept - best_loss) < 1e-5, "the model must hold the weights of its best epoch"
print(f"your turn 3: correct — the model holds its best epoch's weights (validation loss {kept:.4f})")

# %% [markdown]
# Trained epoch by epoch, the run is section 2's unaugmented run exactly (the same seed: the same
# weights and batches) until early stopping ends it, `patience` epochs after the best epoch so far.
# Compare with the lowest validation loss the full run reached (printed in brackets): when the two
# differ, the loss rose for two epochs and then came down again — early stopping kept a local
# minimum. Patience trades that risk against the epochs it saves.

# %%
N_SEARCH = (300 if FAST else 800) if FASHION else 300
MAX_EPOCHS, PATIENCE = (6, 2) if FAST else (12, 3)
search_train = Dataset(data.train.x[:N_SEARCH], data.train.y[:N_SEARCH])
search_val = Dataset(data.val.x[-300 if FAST else -800:], data.val.y[-300 if FAST else -800:])


def trial(lr, weight_decay, seed=0):
    """One setting: the network trained with Adam(lr, weight_decay), stopped early on the validation loss."""
    model = build_model(seed=seed)
    trainer = nc.Trainer(model, nc.optim.Adam(model, lr=lr, weight_decay=weight_decay), seed=seed, batch_size=32,
                         progress=False)
    try:
        with np.errstate(over="ignore", invalid="ignore"):      # a learning rate too large may overflow
            best_epoch, best_loss = fit_early_stopping(trainer, search_train, search_val, MAX_EPOCHS, PATIENCE)
    except DivergenceError:                                      # diverged (tutorial 9): the worst possible score
        best_epoch, best_loss = 0, math.inf
    return dict(lr=lr, weight_decay=weight_decay, best_epoch=best_epoch, val_loss=best_loss,
                epochs=len(trainer.history["val_loss"]), model=model)


# %% [markdown]
# ### The two searches
#
# The same budget for both: 9 trials, every one from the same initial weights and data order (seed 0),
# so that two trials differ only by their hyperparameters. The ranges: learning rate in `[1e-4, 1e-1]`
# and weight decay in `[1e-6, 1e-3]`, both on a log scale. The grid takes the centres of three equal
# slices of each log range; random search draws from the same ranges.

# %%
LR_RANGE, WD_RANGE = (1e-4, 1e-1), (1e-6, 1e-3)


def grid_values(low, high, k=3):
    """The centres of k equal slices of [log10(low), log10(high)], back on the linear scale."""
    edges = np.linspace(np.log10(low), np.log10(high), k + 1)
    return 10 ** ((edges[:-1] + edges[1:]) / 2)


grid = [(lr, wd) for lr in grid_values(*LR_RANGE) for wd in grid_values(*WD_RANGE)]
search_rng = np.random.default_rng(2012)
random_points = list(zip(log_uniform(search_rng, *LR_RANGE, 9), log_uniform(search_rng, *WD_RANGE, 9)))
results = {"grid": [trial(lr, wd) for lr, wd in grid], "random": [trial(lr, wd) for lr, wd in random_points]}
for method, trials in results.items():
    print(f"{method} search:")
    for t in sorted(trials, key=lambda t: (t["lr"], t["weight_decay"])):
        print(f"  lr {t['lr']:8.2e}  weight decay {t['weight_decay']:8.2e}  best validation loss "
              f"{t['val_loss']:.4f} at epoch {t['best_epoch']:2d} ({t['epochs']} trained)")
best = {method: min(trials, key=lambda t: t["val_loss"]) for method, trials in results.items()}
distinct = {method: len({t["lr"] for t in trials}) for method, trials in results.items()}
for method in results:
    print(f"{method:6s}: {distinct[method]} distinct learning rates; best validation loss "
          f"{best[method]['val_loss']:.4f} (lr {best[method]['lr']:.2e}, weight decay {best[method]['weight_decay']:.2e})")
assert distinct == {"grid": 3, "random": 9}

# %% [markdown]
# Is the weight decay really unimportant here? The grid can tell, because it ran every learning rate
# with every weight decay. Split the spread of its 9 validation losses the way an analysis of
# variance does: the part explained by the learning rate (how far each learning rate's mean over the
# weight decays is from the overall mean), the part explained by the weight decay (the same, per
# weight decay), and the rest.

# %%
table = np.array([[t["val_loss"] for t in results["grid"]]]).reshape(3, 3)    # rows: learning rate; cols: weight decay
mean = table.mean()
total = float(((table - mean) ** 2).sum())
share = {"learning rate": 3 * float(((table.mean(axis=1) - mean) ** 2).sum()) / total,
         "weight decay": 3 * float(((table.mean(axis=0) - mean) ** 2).sum()) / total}
share["the rest"] = 1 - share["learning rate"] - share["weight decay"]
print("share of the grid's spread of validation losses explained by:",
      "  ".join(f"{k} {v:.1%}" for k, v in share.items()))
if FASHION:
    assert share["learning rate"] > 0.8 and share["weight decay"] < 0.1
by_lr = {lr: list(row) for lr, row in zip(grid_values(*LR_RANGE), table)}

# %% [markdown]
# The learning rate explains almost all of the spread, the weight decay almost none: one important
# hyperparameter and one unimportant one — Bergstra & Bengio's case. So the validation loss is, to a
# good approximation, a function of the learning rate alone: the left panel below. The grid measured
# it at three points (each three times); random search at nine.

# %%
fig = Figure(figsize=(10, 3.8))
ax1, ax2 = fig.subplots(1, 2)
for method, marker in (("grid", "s"), ("random", "o")):
    trials = results[method]
    ax1.semilogx([t["lr"] for t in trials], [t["val_loss"] for t in trials], marker, mfc="none", ms=8,
                 label=f"{method} ({distinct[method]} learning rates)")
    sc = ax2.scatter([t["lr"] for t in trials], [t["weight_decay"] for t in trials], c=[t["val_loss"] for t in trials],
                     marker=marker, cmap="viridis_r", vmin=min(b["val_loss"] for b in best.values()),
                     vmax=float(np.median([t["val_loss"] for t in results["grid"] + results["random"]])), s=60)
ax1.set(xlabel="learning rate (Adam)", ylabel="best validation loss (early stopping)",
        title="the learning rate matters")
ax2.set(xscale="log", yscale="log", xlabel="learning rate", ylabel="weight decay",
        title="the trials (squares: grid, circles: random)")
fig.colorbar(sc, ax=ax2, label="best validation loss")
ax1.legend(fontsize=8)
ax1.grid(alpha=0.3, which="both")
fig.tight_layout()
nc.plots.show(fig, "search")

# %% [markdown]
# One search of each kind is one draw, and one draw can go either way (which one found the lower
# loss here is printed above): a grid that happens to sit on a good learning rate wins. Is random
# search better *in general* when one hyperparameter does not matter? Use the measured curve (the 12 distinct learning rates above,
# the loss interpolated linearly in `log10(lr)` between them; for the grid's rates, the mean over
# their weight decays) to replay each kind of search many times:
#
# * random search: 9 new learning rates drawn log-uniformly, best of the curve at them;
# * a grid: 3 learning rates equally spaced in the log range as above, the whole grid slid by a
#   random offset (a grid placed without knowing where the good learning rates are).

# %%
points = sorted([(t["lr"], t["val_loss"]) for t in results["random"]] +
                [(lr, float(np.mean(v))) for lr, v in by_lr.items()])
log_lr, curve = np.log10([p[0] for p in points]), np.array([p[1] for p in points])


def loss_at(lr):
    return np.interp(np.log10(lr), log_lr, curve)


replay_rng = np.random.default_rng(0)
REPLAYS = 2000
lo, hi = np.log10(LR_RANGE[0]), np.log10(LR_RANGE[1])
random_best = np.array([loss_at(log_uniform(replay_rng, *LR_RANGE, 9)).min() for _ in range(REPLAYS)])
step = (hi - lo) / 3
grid_best = np.array([loss_at(10 ** (lo + step * (np.arange(3) + replay_rng.uniform()))).min()
                      for _ in range(REPLAYS)])
print(f"replayed {REPLAYS} times on the measured curve: best validation loss, median (10th–90th percentile)")
print(f"  random search, 9 learning rates: {np.median(random_best):.4f} "
      f"({np.percentile(random_best, 10):.4f}–{np.percentile(random_best, 90):.4f})")
print(f"  slid grid, 3 learning rates:     {np.median(grid_best):.4f} "
      f"({np.percentile(grid_best, 10):.4f}–{np.percentile(grid_best, 90):.4f})")
print(f"  random search at least as good in {np.mean(random_best <= grid_best):.0%} of the paired replays; "
      f"the curve's own minimum {curve.min():.4f}")
if FASHION:
    assert np.median(random_best) < np.median(grid_best)

# %% [markdown]
# Nine looks at the axis that matters land closer to the best learning rate than three do — typically,
# not always: a lucky grid can sit right on the best value, and the spreads printed above overlap.
# That is Bergstra & Bengio's argument: at the same cost random search is never worse *in
# expectation* as long as some hyperparameters do not matter, and you rarely know in advance which
# ones those are. In practice one searches **coarse to fine**: a wide log range first, then a
# narrower one around the best trials — and always on the validation split.
#
# ## 4. The test set, read once
#
# Every choice so far — the augmentation, each trial's epoch, the winning setting — was made on the
# validation split, so the winner's validation loss is an optimistic estimate: it is the smallest of 18
# noisy numbers. The test split answers "how good is the chosen model?" only if nothing was chosen
# on it. Here it is kept sealed until now and opened once:

# %%
class Sealed:
    """A data split that can be read once (a second look could only be used to choose)."""

    def __init__(self, split):
        self._split, self.reads = split, 0

    def read(self):
        if self.reads:
            raise RuntimeError("the test split was read already: choose on the validation split")
        self.reads += 1
        return self._split


test = Sealed(data.test)
winner = min(results["grid"] + results["random"], key=lambda t: t["val_loss"])
split = test.read()
final = winner["model"].evaluate(split.x, split.y)
print(f"chosen on validation: lr {winner['lr']:.2e}, weight decay {winner['weight_decay']:.2e}, epoch "
      f"{winner['best_epoch']}")
print(f"validation loss {winner['val_loss']:.4f}  →  test loss {final['loss']:.4f}, test accuracy "
      f"{final['accuracy']:.3f} ({len(split)} images)")
assert test.reads == 1

# %% [markdown]
# That test number is the one to report, together with how it was obtained (the search, its budget,
# early stopping). The gap between the validation and the test loss is partly the selection: the
# winner was the lowest of many validation losses, some of it luck, and the test split does not share
# that luck. Do not go back and change anything because of the test number: then it becomes a second
# validation split, and you have no test set left.
#
# ## Check yourself
#
# 1. Why is a left–right flip a good augmentation for Fashion-MNIST but a bad one for MNIST digits?
#    Why did it help less than shifts here?
#
#    <details><summary>Answer</summary>
#
#    An augmentation must not change the class. A mirrored coat is a coat; a mirrored 2, 3, 5 or 7 is
#    not that digit (and not a digit at all), so the network would be taught wrong labels. Here flips
#    helped less than shifts because they give each image only 2 versions (a shift of up to 2 pixels
#    gives 25): the network can still memorise both, and section 2's flip run came close to
#    memorising its training set.
#
#    </details>
#
# 2. With augmentation the training loss stays much higher. Is the network worse?
#
#    <details><summary>Answer</summary>
#
#    No: the training loss is measured on the augmented views, a harder and ever-changing task, so it
#    is no longer comparable with the unaugmented run's. What matters is the validation split, where
#    the augmented runs ended with a much lower loss. Their validation loss also reached its minimum
#    much later (the "at epoch" column): they learn more slowly, and a longer budget would suit them.
#
#    </details>
#
# 3. You have 9 runs to tune a learning rate and a weight decay, and you suspect only the learning rate
#    matters. Grid or random search — and why?
#
#    <details><summary>Answer</summary>
#
#    <!-- BEGIN GRADED ANSWER -->
#    Random search (log-uniform in both). A 3×3 grid tries only 3 distinct learning rates, each three
#    times with weight decays that make no difference; 9 random settings try 9 distinct learning rates
#    at the same cost, so they are likely to land closer to the best one (section 3: 3 vs 9 distinct
#    values, and the replays on the measured curve). If the suspicion is wrong and both matter, random
#    search loses nothing in expectation. Sample on a log scale: the learning rate matters by factors.
#
#    Rubric:
#    - 1 point: chooses random search over the 3×3 grid
#    - 2 points: the grid spends its budget on 3 distinct values of the important hyperparameter, random search on 9
#    - 1 point: log scale (values differ by factors; uniform sampling would crowd the top decade)
#    <!-- END GRADED ANSWER -->
#
#    </details>
#
# 4. Why may you not pick the winning setting, or the epoch to stop at, by the test loss?
#
#    <details><summary>Answer</summary>
#
#    <!-- BEGIN GRADED ANSWER -->
#    Anything chosen by looking at a split fits that split's noise a little: the minimum of many
#    noisy losses is lower than the loss the chosen model will have on new data. The validation split
#    absorbs that optimism (section 4: the winner's validation loss vs its test loss); the test split
#    stays an unbiased estimate only if nothing was chosen on it. The epoch at which early stopping
#    keeps the weights is such a choice too, made on validation. Choosing on the test split makes it
#    a second validation split and leaves no honest estimate.
#
#    Rubric:
#    - 2 points: a choice made on a split is optimistic on that split (selection: the minimum of noisy numbers)
#    - 1 point: the test estimate is unbiased only if nothing was chosen with it
#    - 1 point: early stopping's epoch is a choice too, made on validation
#    <!-- END GRADED ANSWER -->
#
#    </details>
#
# 5. Early stopping with `patience = 3` stops a run at epoch 11. At which epoch did its validation loss
#    reach its minimum, and which weights does the model hold?
#
#    <details><summary>Answer</summary>
#
#    Epoch 8: the three epochs 9, 10 and 11 brought no improvement. The model holds the weights saved
#    at the end of epoch 8, not those of epoch 11. (It may not be the lowest the loss would ever have
#    reached: a later epoch could have dipped lower. Patience trades that chance against compute.)
#
#    </details>

# %%
if FASHION:
    assert all(summary["flip", s]["train_acc"] > summary["shift 2", s]["train_acc"] for s in SEEDS)   # 1.
    assert all(summary["shift 2", s]["train_acc"] < summary["none", s]["train_acc"] for s in SEEDS)  # 2.
    assert share["learning rate"] > share["weight decay"]                                         # 3.
assert distinct["random"] == 3 * distinct["grid"]                                                 # 3.
assert test.reads == 1                                                                          # 4.
print("all checks passed")
