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
# In this lesson you will
# 1. check the loss at initialisation against `log K` — and fix a network that fails the check;
# 2. write that loop yourself (the batch order, the SGD update) and check that `nc.Trainer` does
#    exactly the same, bit for bit;
# 3. see what Adam's first step does, then train the same network with SGD, Momentum, RMSprop and
#    Adam;
# 4. read training curves, and watch a network overfit: the validation loss turning up while the
#    training loss keeps falling;
# 5. look inside the trained network: its first-layer filters, its feature maps, its mistakes.
#
# **Assignment exercises taught here:** `optim.SGD.update`, `optim.RMSprop.update`, `optim.Adam.update`.
#
# Data: a Fashion-MNIST subset (28×28 clothes, 10 classes) with LeNet-5 when the data set is
# installed; the embedded 8×8 digits with a small CNN otherwise, and in fast mode.
# *Your turn* cells are yours to write (the cell after each checks it); answers are folded. A line
# **Fill in now** says where the tutorial first runs one of the optimizer exercises; the layers come
# from tutorials 1 and 2, and nothing of a later tutorial is needed. Run it with `python
# tutorials/03_training_a_cnn.py` (`NUMPYCNN_FAST=1`: seconds, full: under half a minute on 2 cores; each
# lesson's times are in docs/tutorials.md) or as a notebook. Figures: inline in a notebook, else in
# `tutorials/figures/03_training_a_cnn/` (reference copies in `tutorials/reference_figures/`).

# %%
import inspect
import os
import time

import numpy as np
from matplotlib.figure import Figure

import numpycnn as nc
from numpycnn.errors import DatasetNotFoundError

FAST = os.environ.get("NUMPYCNN_FAST", "0") == "1"
print("fast mode" if FAST else "full mode")
print("numpycnn imported from", nc.__file__)

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
K = data.num_classes


def zoo_model(seed=0):
    """LeNet-5 for 28×28 images, the small CNN for 8×8 digits — same seed, same initial weights."""
    if data.input_shape[1] >= 28:
        return nc.zoo.lenet5(data.input_shape, K, seed=seed)
    return nc.zoo.small_cnn(data.input_shape, K, seed=seed)


print(zoo_model().summary())

# %% [markdown]
# ## 1. The first number to check: the loss at initialisation
#
# A network that has learned nothing should not prefer any class: every class gets about `1/K`, and
# the cross-entropy is `−log(1/K) = log K` (`log 10 ≈ 2.30`). This is the standard sanity check
# before any training: compute the loss of the untrained network on a batch.

# %%
loss = nc.SoftmaxCrossEntropy()
x0, y0 = data.train.x[:256], data.train.y[:256]
z0 = zoo_model(seed=0).forward(x0)
initial = loss.forward(z0, y0)
print(f"initial loss {initial:.2f}, log K = {np.log(K):.2f}; the logits' standard deviation is {z0.std():.2f}")

# %% [markdown]
# Much higher than `log K`. The initial weights are fine for the hidden layers (He initialisation keeps
# their activations at a healthy size — tutorial 9 measures it), but the last layer turns those activations
# into logits with a spread of a few units (their standard deviation is printed above): the untrained
# network is *confidently wrong* on many images, and a confident mistake costs far more than `log K`. The
# first steps of training then go into shrinking the logits rather than learning features. The usual fix:
# start the last layer small, so that the initial logits are near 0 and the prediction near uniform.
#
# ### Your turn 1 — pass the initial-loss check
#
# `model` is the zoo network. Scale the weights of its **last** parameterised layer by 0.1, in place
# (`model.named_parameters()` yields `(name, W, dW)`; the last name ending in `.W` is the output
# layer's weight).

# %%
model = zoo_model(seed=0)

# %% tags=["solution"]
### BEGIN SOLUTION
last = [name for name, _, _ in model.named_parameters() if name.endswith(".W")][-1]
model.get_parameter(last)[...] *= 0.1
### END SOLUTION

# %%
fixed = loss.forward(model.forward(x0), y0)
print(f"initial loss after the fix {fixed:.3f} (log K = {np.log(K):.3f})")
assert initial > np.log(K) + 1, "the zoo network was expected to fail the check"
assert abs(fixed - np.log(K)) < 0.15, "the loss should now be within 0.15 of log K: did you scale the last layer?"
print("your turn 1: correct — the rest of this tutorial builds every network this way")


def build_model(seed=0):
    """The zoo network with its output layer's weights scaled by 0.1 (initial loss ≈ log K)."""
    m = zoo_model(seed)
    m.get_parameter([n for n, _, _ in m.named_parameters() if n.endswith(".W")][-1])[...] *= 0.1
    return m

# %% [markdown]
# ## 2. The training loop, by hand
#
# Each epoch visits the training set in a fresh random order, cut into mini-batches. The order of
# epoch `e` comes from its own generator, `np.random.default_rng([seed, e])`, so it is reproducible
# and a resumed run sees the same batches.
#
# ### Your turn 2 — the batch order of one epoch
#
# With `n = len(data.train)`, write `batches`: the list of index arrays of epoch 0 for `SEED`,
# `np.random.default_rng([SEED, 0]).permutation(n)` cut into consecutive pieces of `BATCH` indices
# (the last piece may be shorter).

# %%
STEPS, BATCH, LR, SEED = 20, 32, 0.05, 0
n = len(data.train)

# %% tags=["solution"]
### BEGIN SOLUTION
order = np.random.default_rng([SEED, 0]).permutation(n)
batches = [order[i:i + BATCH] for i in range(0, n, BATCH)]
### END SOLUTION

# %%
assert len(batches) == -(-n // BATCH), f"{n} images in batches of {BATCH} make {-(-n // BATCH)} batches"
assert all(len(b) == BATCH for b in batches[:-1]), "every batch but the last must hold BATCH indices"
assert np.array_equal(np.sort(np.concatenate(batches)), np.arange(n)), "each index exactly once per epoch"
print("your turn 2: correct (the Trainer comparison below checks the order itself)")

# %% [markdown]
# ### Your turn 3 — the SGD update
#
# Write `sgd_step(model, lr)`: for every `(name, W, dW)` of `model.named_parameters()`, do
# `W ← W − lr · dW` **in place** (the optimizer must change the model's own arrays; `W = W − lr * dW`
# would only rebind a local name).

# %% tags=["solution"]
### BEGIN SOLUTION
def sgd_step(model, lr):
    for _, W, dW in model.named_parameters():
        W -= lr * dW
### END SOLUTION

# %%
class TwoParameters:
    """A stand-in model: two parameters and their gradients."""
    def __init__(self):
        self.p = {"a": np.array([1.0, 2.0]), "b": np.array([[3.0]])}
        self.g = {"a": np.array([0.5, -1.0]), "b": np.array([[2.0]])}

    def named_parameters(self):
        for k in self.p:
            yield k, self.p[k], self.g[k]


toy = TwoParameters()
arrays = [id(v) for v in toy.p.values()]
sgd_step(toy, 0.1)
assert np.allclose(toy.p["a"], [0.95, 2.1]) and np.allclose(toy.p["b"], [[2.8]]), f"got {toy.p}"
assert [id(v) for v in toy.p.values()] == arrays, "update the arrays in place (W -= ...), do not replace them"
print("your turn 3: correct — this is optim.SGD.update without momentum")

# %% [markdown]
# Now the whole loop, `STEPS` mini-batch steps of plain SGD, with your batch order and your update:

# %%
model = build_model(seed=0)
losses = []
for idx in batches[:STEPS]:
    x, y = data.train.x[idx], data.train.y[idx]
    z = model.forward(x)                      # (N, K) logits
    losses.append(loss.forward(z, y))         # mean cross-entropy of the batch
    model.backward(loss.backward())           # dL/dz = (softmax(z) − onehot(y)) / N, back through every layer
    sgd_step(model, LR)                       # W ← W − lr · dL/dW for every (name, W, dW) of the model
print("batch losses:", np.round(losses, 3))

# %% [markdown]
# `nc.Trainer` runs the same loop and adds what a real run needs: epochs, evaluation, callbacks
# (the hook points techniques A–E use), checkpoints, a divergence guard. Its inner step, and the
# forward, loss and backward it runs — the three lines above:

# %%
print(inspect.getsource(nc.Trainer.train_step))
print(inspect.getsource(nc.Trainer.forward_backward))

# %% [markdown]
# (`compute_gradients` runs `forward_backward` in this process unless you set more than one thread,
# `nc.threads.set_threads(2)`: then it splits each batch over two processes, `numpycnn.parallel` —
# the same gradients up to float rounding.)

# %% [markdown]
# Same seed, same data order, same steps → the very same weights, bit for bit.
#
# **Fill in now:** `optim.SGD.update` in `numpycnn/optim.py` — your turn 3 for one parameter
# (`p -= self.lr * g`), plus the momentum buffer its docstring describes (the torch rule, which the grader
# checks over 10 steps, with and without Nesterov). The Trainer below runs it.

# %%
model_t = build_model(seed=0)
trainer = nc.Trainer(model_t, nc.optim.SGD(model_t, lr=LR), seed=SEED, batch_size=BATCH, progress=False)
trainer.fit(data.train, epochs=1, max_steps=STEPS)
same = all(np.array_equal(p, q) for (_, p, _), (_, q, _) in zip(model.named_parameters(),
                                                               model_t.named_parameters()))
print("hand-written loop == Trainer:", same)
assert same

# %% [markdown]
# ## 3. Four optimizers on the same network
#
# Update rules (`g` the gradient; identical to `torch.optim`, which the test suite checks):
#
# ```
# SGD       x ← x − lr·g
# Momentum  b ← μ·b + g;                   x ← x − lr·b
# RMSprop   v ← a·v + (1 − a)·g²;          x ← x − lr·g / (√v + ε)
# Adam      m ← β1·m + (1 − β1)·g;  v ← β2·v + (1 − β2)·g²;   x ← x − lr·m̂ / (√v̂ + ε)
#           m̂ = m / (1 − β1^t),  v̂ = v / (1 − β2^t)        (bias correction; t counts the steps from 1)
# ```
#
# RMSprop and Adam divide by a running root-mean-square of the gradient: each entry's step is about `lr`
# whatever the size of its gradient. (Tutorial 2 saw the consequence with the sign step, which is Adam
# without its running averages: a layer whose gradient was below 1e-5 moved at least as far as the others.)
#
# ### Your turn 4 — Adam's first step
#
# For one scalar parameter with gradient `g` at step `t = 1` (and `m = v = 0` before), compute `m`, `v`,
# the bias-corrected `m_hat`, `v_hat` and the step `delta = −lr·m_hat/(√v_hat + ε)` as a function
# `adam_first_step(g, lr=1e-3, b1=0.9, b2=0.999, eps=1e-8)`.

# %% tags=["solution"]
### BEGIN SOLUTION
def adam_first_step(g, lr=1e-3, b1=0.9, b2=0.999, eps=1e-8):
    m = (1 - b1) * g
    v = (1 - b2) * g * g
    m_hat, v_hat = m / (1 - b1), v / (1 - b2)
    return -lr * m_hat / (np.sqrt(v_hat) + eps)
### END SOLUTION

# %%
for g in (1e-4, 1.0, 1e3, -5.0):
    print(f"g = {g:>7g}: first Adam step {adam_first_step(g):+.6g}")
    assert np.isclose(adam_first_step(g), -1e-3 * np.sign(g), rtol=1e-3), "the first step should be −lr·sign(g)"
print("your turn 4: correct — whatever the gradient's size, Adam's first step is lr against its sign")

# %% [markdown]
# Now the four optimizers train the same network: same initial weights, same data order, `EPOCHS`
# epochs each. The learning rates are the usual starting points of each method, not tuned here.
#
# **Fill in now:** `optim.RMSprop.update` and `optim.Adam.update` in `numpycnn/optim.py` — the rules in
# the box above, with the running averages kept in `st` under torch's names (the docstrings list them)
# and Adam's bias correction as in your turn 4 (`self.t` counts the steps from 1).

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
nc.plots.show(fig, "optimizers")

# %% [markdown]
# How to read the table: the adaptive methods (RMSprop, Adam) scale each parameter's step by its
# own gradient history, so their default learning rate is a reasonable start on most problems;
# SGD and Momentum depend much more on the learning rate you pick, and after only a few epochs
# the ranking mostly tells you which learning rate happened to suit this budget. One run per
# optimizer on one seed is an anecdote, not a benchmark: a comparison needs every optimizer tuned
# the same way on the validation split, several seeds, and a confidence interval of the paired
# differences (the technique tutorials 4–8 explain how the project's experiments do that).
#
# ## 4. Reading training curves
#
# `nc.plots.training_curves` draws loss and accuracy per epoch for the training and the validation
# split. Two things to read: do the curves still go down (then train longer, or raise the learning
# rate), and how far apart are training and validation (the generalisation gap)?

# %%
best = max(runs, key=lambda k: runs[k]["history"]["val_acc"][-1])
nc.plots.show(nc.plots.training_curves(runs[best]["history"], title=f"{best}, {data.name}"), "curves_best")
print(runs[best]["history"].table())

# %% [markdown]
# To *see* overfitting, train on a tiny slice of the training set for many epochs. The network
# memorises it — training loss towards 0, training accuracy 1 — and the validation loss first falls,
# reaches a minimum, then **rises** while the training loss keeps falling. Why does the loss rise when
# the accuracy hardly moves? A callback measures, after every epoch, how confident the network is on the
# validation images it gets **wrong** (the mean of its largest probability on them).

# %%
class WrongConfidence(nc.Callback):
    """After each epoch: the mean of max_k p[k] over the validation images the network gets wrong."""

    def __init__(self, val):
        self.val, self.per_epoch = val, []

    def on_epoch_recorded(self, trainer):
        p = nc.losses.softmax(trainer.model.predict_logits(self.val.x).astype(np.float64))
        wrong = p.argmax(axis=1) != self.val.y
        self.per_epoch.append(float(p[wrong].max(axis=1).mean()))


TINY = 50 if data.input_shape[1] < 28 else 100
OVERFIT_EPOCHS = 60
tiny = nc.datasets.Dataset(data.train.x[:TINY], data.train.y[:TINY])
model = build_model(seed=0)
confidence = WrongConfidence(data.val)
trainer = nc.Trainer(model, nc.optim.Adam(model, lr=3e-3), callbacks=[confidence], seed=0, batch_size=10,
                     progress=False)
overfit = trainer.fit(tiny, data.val, epochs=OVERFIT_EPOCHS)
val_loss = np.array(overfit["val_loss"])
best_epoch = int(np.argmin(val_loss)) + 1
print(f"{TINY} training images, {trainer.epoch} epochs: train loss {overfit['train_loss'][-1]:.4f}, "
      f"train acc {overfit['train_acc'][-1]:.3f}, val acc {overfit['val_acc'][-1]:.3f}")
print(f"validation loss: lowest {val_loss.min():.3f} at epoch {best_epoch}, then {val_loss[-1]:.3f} at epoch "
      f"{OVERFIT_EPOCHS} ({100 * (val_loss[-1] / val_loss.min() - 1):.0f} % higher)")
print(f"validation accuracy at epoch {best_epoch}: {overfit['val_acc'][best_epoch - 1]:.3f}, at the end: "
      f"{overfit['val_acc'][-1]:.3f}; mean confidence on the wrong validation images: "
      f"{confidence.per_epoch[best_epoch - 1]:.3f} at epoch {best_epoch}, {confidence.per_epoch[-1]:.3f} at the end")
nc.plots.show(nc.plots.training_curves(overfit, title=f"overfitting: {TINY} training images"), "curves_overfit")
assert best_epoch <= OVERFIT_EPOCHS // 2, "the validation loss should reach its minimum in the first half"
assert val_loss[-1] > 1.1 * val_loss.min(), "and be clearly higher at the end"
assert overfit["train_acc"][-1] > 0.99 and overfit["train_loss"][-1] < 0.1 * overfit["train_loss"][0]
assert confidence.per_epoch[-1] > confidence.per_epoch[best_epoch - 1]   # ever more sure of its mistakes

# %% [markdown]
# The printed numbers answer the question: after the minimum, the network grows more confident on the
# validation images it gets wrong, and a confident mistake costs a large `−log p(true class)` — so the
# mean loss climbs although the accuracy barely moves.

# %% [markdown]
# Every epoch after the minimum only memorises. The remedies: more data, a smaller network,
# regularisation (weight decay, `weight_decay=` of every optimizer — tutorial 9 applies it to this
# kind of run), or stopping at the minimum of the validation loss (*early stopping*: keep the
# weights of the best validation epoch).
#
# ## 5. Inside the trained network
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
nc.plots.show(nc.plots.filter_grid(w_init, "conv1 at initialisation"), "filters_init")
nc.plots.show(nc.plots.filter_grid(w_trained, f"conv1 after training ({best})"), "filters_trained")

# %% [markdown]
# Feature maps: one test image through every convolution layer (`add_forward_hook` records a
# layer's output on the way).

# %%
nc.plots.show(nc.plots.feature_maps(model, data.test.x[0]), "feature_maps")

# %% [markdown]
# Which classes does the network confuse? The confusion matrix counts (true class, predicted class):

# %%
pred = model.predict(data.test.x)
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
# 1. What loss does a uniform guess give on K classes? What does a much higher initial loss tell you?
#
#    <details><summary>Answer</summary>
#
#    `log K` (2.30 for 10 classes). A much higher value means the initial logits are large: the
#    untrained network is confidently wrong. Scaling the last layer down (your turn 1) brings the
#    initial loss back to `log K`.
#
#    </details>
#
# 2. Why does the hand-written loop give *exactly* the Trainer's weights (not just close)?
#
#    <details><summary>Answer</summary>
#
#    Same initial weights (same seed), same batch order (the same generator `default_rng([seed,
#    epoch])`), and the same floating-point operations in the same order. Nothing random is left, so
#    the results are identical bit for bit.
#
#    </details>
#
# 3. In the overfitting run, how do you know the network overfits, and when would you stop?
#
#    <details><summary>Answer</summary>
#
#    <!-- BEGIN GRADED ANSWER -->
#    The training loss keeps falling (training accuracy 1) while the validation loss, after its
#    minimum, rises — the network grows ever more confident on the validation images it gets wrong.
#    Stop at the epoch of the lowest validation loss (early stopping) and keep that epoch's weights.
#
#    Rubric:
#    - 2 points: training loss still falling while the validation loss rises after its minimum
#    - 1 point: stop at the epoch of the lowest validation loss (early stopping) and keep its weights
#    - 1 point: names the mechanism: growing confidence on wrong validation images (or memorising the tiny set)
#    <!-- END GRADED ANSWER -->
#
#    </details>
#
# 4. How do you read the test accuracy off the confusion matrix?
#
#    <details><summary>Answer</summary>
#
#    The diagonal counts the correct predictions: accuracy = trace / total.
#
#    </details>
#
# 5. Which optimizer reached the best validation accuracy here — would you bet on it with another
#    seed or another learning rate?
#
#    <details><summary>Answer</summary>
#
#    <!-- BEGIN GRADED ANSWER -->
#    No: one seed and untuned learning rates make an anecdote. A fair comparison tunes each
#    optimizer's learning rate on the validation split and reports the difference over several
#    paired seeds with a confidence interval.
#
#    Rubric:
#    - 1 point: no — one run on one seed is an anecdote
#    - 1 point: the learning rates were not tuned, so the ranking reflects which default suited this budget
#    - 2 points: what a fair comparison needs: each tuned the same way on validation, several paired seeds, an
#      interval of the differences
#    <!-- END GRADED ANSWER -->
#
#    </details>

# %%
assert np.isclose(loss.forward(np.zeros((1, K)), np.array([0])), np.log(K))   # 1. −log(1/K)
assert same                                                                  # 2. same seed, order, arithmetic
assert val_loss[-1] > val_loss.min() and overfit["train_acc"][-1] > 0.99     # 3.
assert confusion.sum() == len(data.test)                                     # 4. trace / total
assert np.isclose(np.trace(confusion) / confusion.sum(), runs[best]["test"]["accuracy"])
assert runs[best]["history"]["val_acc"][-1] > 3 / K                          # 5. well above chance (1/K)
print(f"best: {best}, val acc {runs[best]['history']['val_acc'][-1]:.3f}")
print("all checks passed")
