# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # Tutorial 3 — Training a CNN: the loop, the optimizers, the curves and the filters
#
# Tutorials 1 and 2 built every piece. Training puts them in a loop:
#
# ```
# for each epoch:
#     for each mini-batch (x, y) of a fresh random order:
#         z = model.forward(x)                 logits (N, K)
#         L = loss.forward(z, y)               softmax cross-entropy
#         model.backward(loss.backward())      fills every layer's grads (overwrites them)
#         optimizer.step()                     updates every parameter in place
#     evaluate on the validation split
# ```
#
# In this tutorial you will
# 1. write that loop yourself and check that `nc.Trainer` does exactly the same, bit for bit;
# 2. train the same network with SGD, Momentum, RMSprop and Adam and compare them;
# 3. read training curves: what under- and overfitting look like;
# 4. look inside the trained network: its first-layer filters, its feature maps, its mistakes.
#
# Data: a Fashion-MNIST subset (28×28 clothes, 10 classes) with LeNet-5 when the data set is
# installed; the embedded 8×8 digits with a small CNN otherwise, and in fast mode.
# Run it with `python tutorials/03_training_a_cnn.py` (`NUMPYCNN_FAST=1`: about 10 s, full: a few
# minutes) or as a notebook: `jupytext --to ipynb tutorials/03_training_a_cnn.py`.

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
from numpycnn.training import batch_indices
from numpycnn.errors import DatasetNotFoundError

FAST = os.environ.get("NUMPYCNN_FAST", "0") == "1"
OUT = tempfile.mkdtemp(prefix="tutorial03-")
print("fast mode" if FAST else "full mode", "| figures go to", OUT)

if FAST:
    data = nc.datasets.load_dataset("digits", train_limit=800, seed=0)
else:
    try:
        data = nc.datasets.load_dataset("fashion-mnist", train_limit=4000, test_limit=1000, seed=0)
    except DatasetNotFoundError as err:
        print("Fashion-MNIST not found, using the embedded digits instead:", str(err).splitlines()[0])
        data = nc.datasets.load_dataset("digits", seed=0)
print(data)
EPOCHS = 2 if FAST else 4


def build_model(seed=0):
    """LeNet-5 for 28×28 images, the small CNN for 8×8 digits — same seed, same initial weights."""
    if data.input_shape[1] >= 28:
        return nc.zoo.lenet5(data.input_shape, data.num_classes, seed=seed)
    return nc.zoo.small_cnn(data.input_shape, data.num_classes, seed=seed)


print(build_model().summary())

# %% [markdown]
# ## 1. The training loop, by hand
#
# The data order of epoch `e` is `np.random.default_rng([seed, e]).permutation(n)`
# (`batch_indices`), so it is reproducible and a resumed run sees the same batches. We run
# `STEPS` mini-batch steps of plain SGD:

# %%
STEPS, BATCH, LR = 20, 32, 0.05
model = build_model(seed=0)
loss = nc.SoftmaxCrossEntropy()
optimizer = nc.optim.SGD(model, lr=LR)
losses = []
for idx in batch_indices(len(data.train), BATCH, seed=0, epoch=0)[:STEPS]:
    x, y = data.train.x[idx], data.train.y[idx]
    z = model.forward(x)                      # (N, K) logits
    losses.append(loss.forward(z, y))         # mean cross-entropy of the batch
    model.backward(loss.backward())           # dL/dz = (softmax(z) − onehot(y)) / N, back through every layer
    optimizer.step()                          # W ← W − lr · dL/dW for every (name, W, dW) of the model
print("batch losses:", np.round(losses, 3))
uniform = loss.forward(np.zeros((1, data.num_classes)), np.array([0]))
print(f"first batch loss {losses[0]:.3f}; a uniform guess scores log {data.num_classes} = {uniform:.3f}")

# %% [markdown]
# A network that outputs equal logits for every class scores exactly `log K`. A freshly initialised
# network is usually *not* that uniform guess: its random logits have some spread, and wherever they
# are confidently wrong the loss is larger than `log K`. The first steps mostly shrink those logits.
#
# `nc.Trainer` runs the same loop and adds what a real run needs: epochs, evaluation, callbacks
# (the hook points techniques A–E use), checkpoints, a divergence guard. Its inner step:

# %%
print(inspect.getsource(nc.Trainer.train_step))

# %% [markdown]
# Same seed, same data order, same steps → the very same weights, bit for bit:

# %%
model_t = build_model(seed=0)
trainer = nc.Trainer(model_t, nc.optim.SGD(model_t, lr=LR), seed=0, batch_size=BATCH, progress=False)
trainer.fit(data.train, epochs=1, max_steps=STEPS)
same = all(np.array_equal(p, q) for (_, p, _), (_, q, _) in zip(model.named_parameters(),
                                                               model_t.named_parameters()))
print("hand-written loop == Trainer:", same)
assert same

# %% [markdown]
# ## 2. Four optimizers on the same network
#
# Same initial weights, same data order, `EPOCHS` epochs each. Update rules (`g` the gradient;
# they are identical to `torch.optim`, which the test suite checks):
#
# ```
# SGD       x ← x − lr·g
# Momentum  b ← μ·b + g;                   x ← x − lr·b
# RMSprop   v ← a·v + (1 − a)·g²;          x ← x − lr·g / (√v + ε)
# Adam      m ← β1·m + (1 − β1)·g;  v ← β2·v + (1 − β2)·g²;   x ← x − lr·m̂ / (√v̂ + ε)   (bias-corrected)
# ```
#
# The learning rates are the usual starting points of each method, not tuned here.

# %%
OPTIMIZERS = {"SGD": ("sgd", 0.05), "Momentum": ("momentum", 0.01), "RMSprop": ("rmsprop", 1e-3),
              "Adam": ("adam", 1e-3)}
runs = {}
for label, (name, lr) in OPTIMIZERS.items():
    model = build_model(seed=0)
    trainer = nc.Trainer(model, nc.optim.make_optimizer(name, model, lr=lr), seed=0, batch_size=64,
                         progress=False)
    t0 = time.perf_counter()
    history = trainer.fit(data.train, data.val, epochs=EPOCHS)
    runs[label] = {"model": model, "history": history, "seconds": time.perf_counter() - t0,
                   "test": model.evaluate(data.test.x, data.test.y)}

print(f"{'optimizer':10s} {'lr':>7s} {'train loss':>10s} {'val acc':>8s} {'test acc':>8s} {'seconds':>8s}")
for label, r in runs.items():
    h = r["history"]
    print(f"{label:10s} {OPTIMIZERS[label][1]:7g} {h['train_loss'][-1]:10.4f} {h['val_acc'][-1]:8.3f} "
          f"{r['test']['accuracy']:8.3f} {r['seconds']:8.1f}")

# %%
fig = Figure(figsize=(9, 3.4))
ax1, ax2 = fig.subplots(1, 2)
for label, r in runs.items():
    h = r["history"]
    ax1.plot(h["epoch"], h["train_loss"], "o-", label=label)
    ax2.plot(h["epoch"], h["val_acc"], "o-", label=label)
ax1.set(xlabel="epoch", ylabel="training loss", title="training loss")
ax2.set(xlabel="epoch", ylabel="validation accuracy", title="validation accuracy")
for ax in (ax1, ax2):
    ax.grid(alpha=0.3)
    ax.legend()
fig.tight_layout()
print("figure:", nc.plots.save_figure(fig, os.path.join(OUT, "optimizers.png")))

# %% [markdown]
# How to read the table: the adaptive methods (RMSprop, Adam) scale each parameter's step by its
# own gradient history, so their default learning rate is a reasonable start on most problems;
# SGD and Momentum depend much more on the learning rate you pick, and after only a few epochs
# the ranking mostly tells you which learning rate happened to suit this budget. One run per
# optimizer on one seed is an anecdote, not a benchmark: for a real comparison repeat with
# several seeds and report mean ± std (the technique experiments, `python -m numpycnn compare ...`,
# do that).
#
# ## 3. Reading training curves
#
# `nc.plots.training_curves` draws loss and accuracy per epoch for the training and the validation
# split. Two things to read: do the curves still go down (then train longer, or raise the learning
# rate), and how far apart are training and validation (the generalisation gap)?

# %%
best = max(runs, key=lambda k: runs[k]["history"]["val_acc"][-1])
fig = nc.plots.training_curves(runs[best]["history"], title=f"{best}, {data.name}")
print("figure:", nc.plots.save_figure(fig, os.path.join(OUT, "curves_best.png")))
print(runs[best]["history"].table())

# %% [markdown]
# To *see* overfitting, train on a tiny slice of the training set for many epochs: the network
# memorises it (training accuracy → 1) while validation accuracy stalls far below.

# %%
TINY = 50
tiny = nc.datasets.Dataset(data.train.x[:TINY], data.train.y[:TINY])
model = build_model(seed=0)
trainer = nc.Trainer(model, nc.optim.Adam(model, lr=1e-3), seed=0, batch_size=10, progress=False)
overfit = trainer.fit(tiny, data.val, epochs=40)
gap = overfit["train_acc"][-1] - overfit["val_acc"][-1]
print(f"{TINY} training images, {trainer.epoch} epochs: train acc {overfit['train_acc'][-1]:.3f}, "
      f"val acc {overfit['val_acc'][-1]:.3f} (gap {gap:.3f}); val loss lowest at epoch "
      f"{int(np.argmin(overfit['val_loss'])) + 1}, then {overfit['val_loss'][-1]:.3f}")
fig = nc.plots.training_curves(overfit, title=f"overfitting: {TINY} training images")
print("figure:", nc.plots.save_figure(fig, os.path.join(OUT, "curves_overfit.png")))

# %% [markdown]
# Once the validation loss turns up while the training loss keeps falling, more epochs only
# memorise: the remedies are more data, a smaller network, regularisation (weight decay:
# `weight_decay=` of every optimizer) or stopping early.
#
# ## 4. Inside the trained network
#
# The first-layer filters before and after training (each scaled to its own range). After long
# training, first-layer filters tend to become smooth edge and blob detectors; after the few
# epochs of this tutorial they have moved only a little from their random start — the printed
# relative change tells you how much — so expect noisy versions of that. Compare the two grids:
# which filters changed most?

# %%
model = runs[best]["model"]
w_init = build_model(seed=0)["conv1"].params["W"]
w_trained = model["conv1"].params["W"]
change = np.linalg.norm(w_trained - w_init) / np.linalg.norm(w_init)
print(f"conv1 filters {w_trained.shape}: relative change during training {change:.2f}")
print("figure:", nc.plots.save_figure(nc.plots.filter_grid(w_init, "conv1 at initialisation"),
                                      os.path.join(OUT, "filters_init.png")))
print("figure:", nc.plots.save_figure(nc.plots.filter_grid(w_trained, f"conv1 after training ({best})"),
                                      os.path.join(OUT, "filters_trained.png")))

# %% [markdown]
# Feature maps: one test image through every convolution layer (`add_forward_hook` records a
# layer's output on the way).

# %%
fig = nc.plots.feature_maps(model, data.test.x[0])
print("figure:", nc.plots.save_figure(fig, os.path.join(OUT, "feature_maps.png")))

# %% [markdown]
# Which classes does the network confuse? The confusion matrix counts (true class, predicted class):

# %%
pred = model.predict(data.test.x)
K = data.num_classes
confusion = np.zeros((K, K), dtype=np.int64)
np.add.at(confusion, (data.test.y, pred), 1)
print("rows: true class, columns: predicted class")
print(confusion)
off = confusion - np.diag(np.diag(confusion))
t, p = np.unravel_index(off.argmax(), off.shape)
print(f"most frequent mistake: {data.classes[t]!r} predicted as {data.classes[p]!r} ({off[t, p]} times)")
per_class = np.diag(confusion) / confusion.sum(axis=1)
for k in np.argsort(per_class)[:3]:
    print(f"  hardest class {data.classes[k]!r}: accuracy {per_class[k]:.2f}")

# %% [markdown]
# ## Check yourself
#
# 1. What loss does a uniform guess give on K classes? Was the untrained network better or worse?
# 2. Why does the hand-written loop give *exactly* the Trainer's weights (not just close)?
# 3. In the overfitting run, what happened to the training and the validation accuracy?
# 4. How do you read the test accuracy off the confusion matrix?
# 5. Which optimizer reached the best validation accuracy here — would you bet on it with another seed?

# %%
assert np.isclose(uniform, np.log(data.num_classes))                 # 1. −log(1/K); here worse at first:
print(f"first batch {losses[0]:.2f} vs uniform {uniform:.2f}; after {STEPS} steps {losses[-1]:.2f}")
assert same                                                          # 2. same seed, data order, arithmetic
assert overfit["train_acc"][-1] > overfit["val_acc"][-1] + 0.1       # 3. memorised, did not generalise
assert overfit["train_acc"][-1] > 0.9
assert confusion.sum() == len(data.test)                             # 4. trace / total
assert np.isclose(np.trace(confusion) / confusion.sum(), runs[best]["test"]["accuracy"])
assert runs[best]["history"]["val_acc"][-1] > 3 / K                  # 5. well above chance (1/K)
print(f"best: {best}, val acc {runs[best]['history']['val_acc'][-1]:.3f}")
print("all checks passed")
