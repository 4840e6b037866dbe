"""Technique A — branch supervision with gradient summation at the branch point.

The claim, its published counterparts and its exact checks: ``docs/claims.md``, section A.

A *branch supervisor* — one fully connected layer or a short stack — hangs off the trunk at a named
point ``h_k`` between conv layers ``k`` and ``k+1`` and classifies the image from the features there.
One training step, in the claim's words::

    1. forward through every layer         -> main prediction, main loss L_main
    2. forward through the branch from h_k -> branch prediction, branch loss L_branch
       (its "class-probability error" softmax(z_b) − onehot(y) is the CE gradient w.r.t. z_b)
    3. backward from the main output down to conv k+1 -> the FIRST gradient   G1 = ∂L_main/∂h_k
    4. the branch's backward                          -> the SECOND gradient  G2 = λ·∂L_branch/∂h_k
    5. THIRD gradient G3 = G1 + G2, passed on to conv k and below
    6. branch parameters: a step of length coefficient·‖∇θ‖ along −∇θ (plain SGD with
       learning rate = coefficient; the text's "towards the gradient direction" read as descent)
    7. stop on a main-loss threshold or a number of iterations (the Trainer's stop conditions)

G3 is the chain rule at a fork: it is exactly the gradient of ``L_main + λ·L_branch`` w.r.t. ``h_k``.

How it plugs into the core (nothing is copied): a forward hook on the branch-point layer keeps
``h_k``; a backward hook on the same layer receives G1 and returns G3
(:meth:`Branch.branch_point_backward` — the sum is written out there); the
:class:`BranchSupervision` training callback hands the branches the labels and makes their
update (step 6). The trunk optimizer never sees the branch parameters. Branches are
training-only: ``model.predict`` is the main head, unchanged.

Also here: :class:`GradientFlow` (per-layer gradient norms per step, any model),
:func:`measure_gradient_profile` and :func:`choose_branch_point` (the text's automatic placement:
attach after the first conv layer, scanning from the output, whose mean |gradient| has fallen
below a threshold), and :func:`evaluate_branches`.
"""
import numpy as np

from ..callbacks import Callback
from ..layers import AvgPool2D, Dense, Flatten, LogSoftmax, activation as make_activation
from ..losses import SoftmaxCrossEntropy, get_loss
from ..model import EVAL_BATCH, Sequential
from ..validate import check_labels, choice, number
from .technique import Technique

SCHEDULES = ("constant", "linear")


def branch_point_after(model, conv_name):
    """The branch point "between conv ``k`` and conv ``k+1``": the last layer before the next conv layer.

    For ``conv3 -> act3 -> pool1 -> conv4`` the branch hangs off ``pool1`` (the features conv 4 reads).
    """
    names = list(model.layers)
    if conv_name not in model.conv_layers():
        raise ValueError(f"branch_point_after: {conv_name!r} is not a conv layer; conv layers: {model.conv_layers()}")
    i = names.index(conv_name)
    j = i + 1
    while j < len(names) and names[j] not in model.conv_layers() and not isinstance(model[names[j]], Flatten):
        j += 1
    return names[j - 1]


class Branch:
    """A branch supervisor attached to ``model`` at the output of layer ``at``.

    Parameters
    ----------
    model : Sequential — the trunk
    at : str — name of the trunk layer whose output ``h_k`` the branch reads
    hidden : tuple of int — widths of hidden FC layers (``()``: one FC layer to the classes;
        ``(128, 64)``: three FC layers in series, with ``activation`` between)
    weight : float >= 0 — λ, the weight of the second gradient (the text: 1)
    coefficient : float > 0 — the step coefficient of the branch's own update (its SGD learning rate)
    activation : {"relu", "sigmoid", "tanh"} — between the hidden FC layers
    max_features : int — average-pool the feature map by 2 until ``C·H·W <= max_features`` before
        flattening (as the published counterparts do: a large feature map is pooled before the FC layer)
    seed : int — the branch's weight initialisation
    loss : str — the branch head's loss, a name of :data:`numpycnn.losses.LOSSES`: ``"cross_entropy"``
        (default), ``"nll"`` (a ``LogSoftmax`` layer is appended), ``"hinge"`` or ``"squared_hinge"``
        (Deeply-Supervised Nets' companions)

    Attributes
    ----------
    net : Sequential — the branch, ``h_k (N, *shape) -> (N, classes)``
    first, second, third : arrays of ``h_k``'s shape — the last step's gradients at the branch point
    branch_loss : float — the last step's L_branch

    Notes
    -----
    Shapes: ``h_k: (N, C, H, W)`` (or ``(N, D)``), ``z_b: (N, K)``, ``G1, G2, G3: h_k.shape``.
    """

    def __init__(self, model, at, hidden=(), weight=1.0, coefficient=0.01, activation="relu",
                 max_features=1024, seed=0, loss="cross_entropy"):
        where = f"Branch at {at!r}"
        if at not in model.layers:
            raise ValueError(f"{where}: the model has no layer {at!r}; its layers are {list(model.layers)}")
        if list(model.layers)[-1] == at:
            raise ValueError(f"{where}: a branch must hang off an inner layer, not the output layer")
        hidden = tuple(hidden)
        for h in hidden:
            if isinstance(h, bool) or not isinstance(h, (int, np.integer)) or h < 1:
                raise ValueError(f"{where}: hidden widths must be positive integers; got {hidden!r}")
        self.model, self.at, self.hidden = model, at, hidden
        self.weight = number(weight, "weight (λ)", where, low=0)
        self.coefficient = number(coefficient, "coefficient", where, low=0, low_open=True)
        self.activation = activation
        shape = tuple(model.shapes[at])
        rng = np.random.default_rng(seed)
        layers = []
        if len(shape) == 3:
            C, H, W = shape
            p = 0
            while C * H * W > max_features and H >= 2 and W >= 2:
                p += 1
                layers.append((f"pool{p}", AvgPool2D(2)))
                H, W = H // 2, W // 2
            layers.append(("flatten", Flatten()))
            features = C * H * W
        else:
            features = int(np.prod(shape))
        widths = hidden + (model.num_classes,)
        for i, width in enumerate(widths, start=1):
            layers.append((f"fc{i}", Dense(features, width, init="xavier", rng=rng, dtype=model.dtype)))
            if i < len(widths):
                layers.append((f"act{i}", make_activation(activation)))
            features = width
        self.loss = get_loss(loss)
        if loss == "nll":
            layers.append(("log_softmax", LogSoftmax()))
        self.loss_name = loss
        self.net = Sequential(layers, input_shape=shape, name=f"branch@{at}")
        self.h = self.y = None
        self.first = self.second = self.third = None
        self.branch_loss = None
        self.attach()

    # -- hooks into the trunk ----------------------------------------------------------
    def attach(self):
        """Install the forward hook (keep ``h_k``) and the backward hook (G1 -> G3) on the trunk."""
        self.model.add_forward_hook(self.at, self._keep)
        self.model.add_backward_hook(self.at, self.branch_point_backward)
        return self

    def detach(self):
        """Remove this branch's hooks (the trunk becomes the plain network again)."""
        for hooks, fn in ((self.model.forward_hooks, self._keep), (self.model.backward_hooks,
                                                                   self.branch_point_backward)):
            lst = hooks.get(self.at, [])
            hooks[self.at] = [f for f in lst if f != fn]
        return self

    def _keep(self, h):
        self.h = h

    def set_labels(self, y):
        """The labels of the batch being trained on (the callback does this every step)."""
        self.y = y

    # -- the claim's steps 2, 4 and 5 -------------------------------------------------------
    def branch_point_backward(self, first):
        """Receive the first gradient from the layer above; return the third gradient to pass down.

        Parameters
        ----------
        first : ndarray, ``h_k.shape`` — G1 = ∂L_main/∂h_k, from conv k+1 (step 3)

        Returns
        -------
        third : ndarray, ``h_k.shape`` — G3 = G1 + G2 (step 5)

        Notes
        -----
        Step 2 (branch forward and loss) runs here, on the ``h_k`` kept by the forward hook, so a
        forward pass for inference never pays for the branch. The branch's backward fills its own
        parameters' gradients ``∂L_branch/∂θ_branch`` (used by :meth:`update`).
        """
        if self.y is None:
            raise RuntimeError(f"Branch at {self.at!r}: no labels for this batch — call set_labels(y) before "
                               f"model.backward (the BranchSupervision callback does it during training)")
        y = check_labels(np.empty((self.h.shape[0], self.model.num_classes)), self.y, f"Branch at {self.at!r}")
        ### BEGIN SOLUTION
        z_b = self.net.forward(self.h, check=False)                  # step 2: branch prediction (N, K)
        self.branch_loss = self.loss.forward(z_b, y)                  #         branch loss L_branch
        second = self.weight * self.net.backward(self.loss.backward())   # step 4: G2 = λ ∂L_branch/∂h_k
        third = first + second                                        # step 5: G3 = G1 + G2
        ### END SOLUTION
        self.first, self.second, self.third = first, second, third
        return third

    # -- the claim's step 6 ----------------------------------------------------------------
    def update(self):
        """Step 6: move every branch parameter by ``coefficient·‖∇θ‖`` along ``−∇θ`` (SGD, lr = coefficient).

        Returns the list of update lengths ``‖Δθ‖``, one per parameter tensor.
        """
        lengths = []
        for _, theta, grad in self.net.named_parameters():
            step = self.coefficient * grad               # length coefficient·‖∇θ‖, direction −∇θ
            theta -= step
            lengths.append(float(np.linalg.norm(step)))
        return lengths

    def predict_logits(self, x):
        """The branch's own prediction for images ``x`` (runs the trunk up to the branch point)."""
        self.model.forward(x)
        return self.net.forward(self.h, check=False)

    def __repr__(self):
        return (f"Branch(at={self.at!r}, hidden={self.hidden}, weight={self.weight:g}, "
                f"coefficient={self.coefficient:g}, params={self.net.num_params:,})")


def lambda_at(schedule, weight, step, total_steps):
    """λ at ``step``: ``"constant"`` → ``weight``; ``"linear"`` → ``weight·(1 − step/total_steps)``, ≥ 0
    (the DSN-style decay of the companion's weight)."""
    if schedule == "constant":
        return weight
    return weight * max(0.0, 1.0 - step / max(total_steps, 1))


class BranchSupervision(Callback):
    """Training callback for one or more :class:`Branch` es: labels, λ schedule, branch updates, state.

    Parameters
    ----------
    branches : list of Branch
    schedule : {"constant", "linear"} — λ over training (``"linear"`` decays to 0 at ``total_steps``); the
        batch of update ``t + 1`` uses λ at ``t = trainer.step``, the updates done before it
    total_steps : int, optional — needed for ``"linear"``
    """

    name = "branch_supervision"

    def __init__(self, branches, schedule="constant", total_steps=None):
        if not branches:
            raise ValueError("BranchSupervision: give at least one Branch")
        choice(schedule, "schedule", "BranchSupervision", SCHEDULES)
        if schedule == "linear" and not total_steps:
            raise ValueError("BranchSupervision: schedule 'linear' needs total_steps (the step where λ reaches 0)")
        self.branches = list(branches)
        self.schedule, self.total_steps = schedule, total_steps
        self.weight0 = [b.weight for b in self.branches]
        self.branch_losses = {b.at: [] for b in self.branches}

    def on_batch_begin(self, trainer, x, y):
        for b, w0 in zip(self.branches, self.weight0):
            b.set_labels(y)
            b.weight = lambda_at(self.schedule, w0, trainer.step, self.total_steps)

    def on_backward_end(self, trainer):
        for b in self.branches:
            self.branch_losses[b.at].append(b.branch_loss)

    def on_step_end(self, trainer):
        for b in self.branches:
            b.update()

    def on_epoch_end(self, trainer, logs):
        for b in self.branches:
            losses = self.branch_losses[b.at]
            logs[f"branch_loss@{b.at}"] = float(np.mean(losses)) if losses else None
            self.branch_losses[b.at] = []

    def state_dict(self):
        state = {}
        for b in self.branches:
            for k, v in b.net.state_dict().items():
                state[f"{b.at}/{k}"] = v
        return state

    def load_state_dict(self, state):
        for b in self.branches:
            b.net.load_state_dict({k.split("/", 1)[1]: v for k, v in state.items() if k.startswith(f"{b.at}/")})


# -- gradient flow and automatic placement -------------------------------------------------
class GradientFlow(Callback):
    """Per-layer gradient norms ``‖∂L/∂W_l‖`` and mean ``|∂L/∂W_l|`` at every step (any model).

    ``norms[name]`` and ``mean_abs[name]`` are lists, one value per step, for every layer with a
    weight ``W`` (conv and dense), in trunk order.
    """

    name = "gradient_flow"

    def __init__(self, layers=None):
        self.layers = layers
        self.norms, self.mean_abs = {}, {}

    def on_backward_end(self, trainer):
        self.record(trainer.model)

    def record(self, model):
        names = self.layers or [n for n, l in model.layers.items() if "W" in l.params]
        for n in names:
            g = model[n].grads["W"].astype(np.float64)
            self.norms.setdefault(n, []).append(float(np.linalg.norm(g)))
            self.mean_abs.setdefault(n, []).append(float(np.abs(g).mean()))


def measure_gradient_profile(model, x, y, batch_size=64, batches=5, loss=None):
    """Mean |gradient| of every conv layer's weights over the first ``batches`` batches, no update.

    Returns ``{conv name: mean |∂L/∂W|}`` in trunk order — the measurement the automatic placement
    scans. The model's parameters are not changed.
    """
    loss = loss or SoftmaxCrossEntropy()
    flow = GradientFlow(layers=model.conv_layers())
    n = len(x)
    if n == 0:
        raise ValueError("measure_gradient_profile: x is empty")
    for i in range(batches):
        idx = np.arange(i * batch_size, min((i + 1) * batch_size, n))
        if idx.size == 0:
            break
        loss.forward(model.forward(x[idx]), y[idx])
        model.backward(loss.backward())
        flow.record(model)
    return {name: float(np.mean(v)) for name, v in flow.mean_abs.items()}


def choose_branch_point(profile, ratio=0.1):
    """The text's automatic placement: scan conv layers from the output towards the input and return
    the first whose mean |gradient| is below ``ratio`` × the top (last) conv layer's.

    Parameters
    ----------
    profile : dict conv name -> mean |gradient| (trunk order), e.g. :func:`measure_gradient_profile`
    ratio : float in (0, 1]

    Returns
    -------
    str or None — the conv layer to attach after (``branch_point_after`` gives the exact point);
    None when no layer falls below the threshold (gradients do not vanish: no branch needed).
    """
    ratio = number(ratio, "ratio", "choose_branch_point", low=0, low_open=True)
    names = list(profile)
    if not names:
        raise ValueError("choose_branch_point: the profile is empty (the model has no conv layer?)")
    top = profile[names[-1]]
    for name in reversed(names[:-1]):
        if profile[name] < ratio * top:
            return name
    return None


def evaluate_branches(model, branches, x, y, batch_size=EVAL_BATCH):
    """Accuracy of the main head and of every branch: ``{"main": acc, "branch@<at>": acc, ...}``."""
    if isinstance(branches, Branch):
        branches = [branches]
    y = np.asarray(y)
    correct = {"main": 0, **{f"branch@{b.at}": 0 for b in branches}}
    x = model.check_input(x)
    for i in range(0, len(x), batch_size):
        xb, yb = x[i:i + batch_size], y[i:i + batch_size]
        correct["main"] += int((model.forward(xb, check=False).argmax(1) == yb).sum())
        for b in branches:
            correct[f"branch@{b.at}"] += int((b.net.forward(b.h, check=False).argmax(1) == yb).sum())
    return {k: v / len(x) for k, v in correct.items()}


# -- its record, and its plug-in for ``python -m numpycnn train`` ---------------------------------
def _hidden(text):
    try:
        return tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise ValueError(f"--branch-layers must be comma-separated integers like '128,64'; got {text!r}") from None


class BranchSupervisionTechnique(Technique):
    """Technique A on ``train``: ``--branch-at`` / ``--branch-auto`` attach branches through a callback."""

    def add_train_arguments(self, parser):
        g = parser.add_argument_group("technique A: branch supervision")
        g.add_argument("--branch-at", action="append", default=None, metavar="LAYER",
                       help="attach a branch supervisor at the output of this trunk layer (repeatable)")
        g.add_argument("--branch-auto", action="store_true",
                       help="attach one branch after the first conv layer (from the output) whose gradient has "
                            "vanished")
        g.add_argument("--branch-ratio", type=float, default=0.1,
                       help="--branch-auto threshold: mean |gradient| below this fraction of the top conv layer's")
        g.add_argument("--branch-layers", default="",
                       help="hidden widths of the branch's FC stack, e.g. '128,64' (default: one FC layer)")
        g.add_argument("--branch-weight", type=float, default=1.0, help="λ, the weight of the second gradient (1)")
        g.add_argument("--branch-coefficient", type=float, default=0.01, help="the branch's own SGD step coefficient")
        g.add_argument("--branch-schedule", choices=SCHEDULES, default="constant", help="λ over training")
        g.add_argument("--branch-loss", default="cross_entropy",
                       choices=["cross_entropy", "nll", "hinge", "squared_hinge"], help="the branch head's loss")

    def extra_callbacks(self, opts, model, data=None):
        """A :class:`BranchSupervision` callback (its branches attached to ``model``) when ``--branch-at`` or
        ``--branch-auto`` is given (the placement printed unless ``--quiet``). ``--branch-auto`` measures the
        gradient profile on ``data.train``; the ``linear`` λ schedule needs ``--max-steps`` or ``data`` to know where λ reaches 0."""
        points = list(opts.branch_at or [])
        say = (lambda *args: None) if opts.quiet else print
        if opts.branch_auto:
            if data is None:
                raise ValueError("--branch-auto measures the gradient profile on training images; pass data=")
            train = data.train
            profile = measure_gradient_profile(model, train.x[:320], train.y[:320])
            conv = choose_branch_point(profile, opts.branch_ratio)
            if conv is None:
                say(f"--branch-auto: no conv layer's gradient is below {opts.branch_ratio} × the top layer's; "
                      f"profile {profile}; no branch attached")
            else:
                points.append(branch_point_after(model, conv))
                say(f"--branch-auto: gradient profile {({k: f'{v:.2e}' for k, v in profile.items()})}; "
                      f"branch attached at {points[-1]!r} (after {conv})")
        if not points:
            return []
        hidden = _hidden(opts.branch_layers)
        branches = [Branch(model, at, hidden, opts.branch_weight, opts.branch_coefficient, seed=opts.seed + i,
                           loss=opts.branch_loss)
                    for i, at in enumerate(points)]
        total = None
        if opts.branch_schedule == "linear":
            if not opts.max_steps and data is None:
                raise ValueError("--branch-schedule linear needs --max-steps or data= (λ reaches 0 at the last step)")
            total = opts.max_steps or opts.epochs * -(-len(data.train) // opts.batch_size)
        return [BranchSupervision(branches, opts.branch_schedule, total)]


TECHNIQUE = BranchSupervisionTechnique(
    letter="A", name="branch_supervision", title="Branch supervision",
    summary="branch supervision with gradient summation", aliases=("branch",),
    experiment="numpycnn.lab.experiments.branch_supervision", tutorial="tutorials/04_branch_supervision.py",
    docs="docs/branch_supervision.md")
