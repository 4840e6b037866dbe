"""Technique B — the gradient-direction optimizer (unit-norm updates).

The claim (patent "基于梯度方向参数优化的神经网络的图像分类方法及系统", Shandong University, 2021), its
published numbers and its exact checks: ``docs/claims.md``, section B. The claim steps and where they
live here:

=====================================================  ==========================================
claim step (S1031–S1034)                               code
=====================================================  ==========================================
S1031 initial parameter vector x0; **initial step**    :func:`initial_step` (``α0 = c·√N``),
α0 computed from the number of parameters               called by ``GradientDirection.__init__``
S1032 **gradient direction** ``g/‖g‖`` with the        :func:`global_gradient_norm`,
**total gradient norm** ‖g‖; ``x_{t+1} = x_t − α_t·g/‖g‖``  ``GradientDirection.step``
S1033 **step decay** ``α_{t+1} = α_t·(1 − β)`` when     :func:`step_decay` (the schedule
the initial step is above the **set threshold**         ``α0·(1 − β)^t``), :func:`decays`
S1034 **end condition**: number of training runs,       :meth:`numpycnn.training.Trainer.fit`
a set loss value, or a set test accuracy                (``epochs``, ``target_loss``,
                                                        ``target_accuracy``)
=====================================================  ==========================================

Reconstruction (the text's formula images were lost): ``α0 = c·√N`` with ``c = 0.0014`` and
``N`` the number of trainable parameters; it reproduces the text's "α0 = 0.34" for a LeNet-size
CIFAR-10 network (``N = 62 006`` gives ``0.3486``).

Plug-in for ``python -m numpycnn train``: ``--optimizer direction`` with ``--alpha0``,
``--direction-c``, ``--decay``, ``--decay-threshold``, ``--decay-mode``.
"""
import math

import numpy as np

from ..optim import Optimizer, register_optimizer
from ..schedules import Constant, Exponential
from ..validate import choice, count, number
from .technique import Technique

#: the text's empirical constant in ``α0 = c·√N`` ("0.0014是一个经验值")
DEFAULT_C = 0.0014
#: the text's step decay value β ("步长衰减为0.0003")
DEFAULT_BETA = 0.0003
#: the two readings of step S1033, see :class:`GradientDirection`
DECAY_MODES = ("initial", "above")


def count_trainable(model):
    """Number of trainable parameter entries ``N`` of ``model``.

    Every entry of every parameter counts, except entries masked out with ``layer.set_mask``
    (technique C's sparse connections, technique E's dropped filters): their gradient is
    always 0, so they take no part in the update. For an unmasked model this is
    ``model.num_params`` — the text's "total number of parameters of the network model".
    """
    n = 0
    for name, p, _ in model.named_parameters():
        mask = None
        if hasattr(model, "layer_of"):
            mask = getattr(model.layer_of(name), "masks", {}).get(name.split(".", 1)[1])
        n += int(p.size if mask is None else np.count_nonzero(mask))
    return n


def initial_step(N, c=DEFAULT_C):
    """Initial step ``α0 = c·√N`` (claim step S1031).

    Parameters
    ----------
    N : int > 0 — number of trainable parameters
    c : float > 0 — the step's RMS over all parameters; the text's empirical value 0.0014

    Returns
    -------
    float

    Notes
    -----
    Every update has length ``‖x_{t+1} − x_t‖ = α``, spread over ``N`` entries, so its
    root-mean-square **over all entries** is ``α/√N``. Choosing ``α0 = c·√N`` therefore fixes that
    RMS to ``c`` whatever the size of the network — with ``c = 0.0014`` about the typical step of
    Adam at ``lr = 1e-3`` (Adam moves each entry by about ``lr``). Only the RMS is ``c``: entry
    ``i`` moves by ``α·|g_i|/‖g‖``, in proportion to its own gradient, so entries with large
    gradients move far more than ``c`` and entries with tiny gradients hardly at all.
    A fixed ``α0`` instead would make the RMS step shrink as ``1/√N`` in bigger networks.
    Example: LeNet-5 on 3×32×32 inputs has ``N = 62 006``, so ``α0 = 0.0014·√62006 = 0.34861…``
    (the text: "计算得出初始步长α0为0.34").
    """
    N = count(N, "N", "initial_step", meaning="number of trainable parameters")
    c = number(c, "c", "initial_step", low=0, low_open=True)
    return c * math.sqrt(N)


def global_gradient_norm(grads):
    """The **total gradient norm** ``‖g‖ = sqrt(Σ_k Σ_i g_k[i]²)`` over all tensors together.

    Parameters
    ----------
    grads : iterable of arrays (any shapes)

    Returns
    -------
    float — accumulated in float64 whatever the gradients' dtype

    Notes
    -----
    One global vector ``g = (vec g_1, …, vec g_K)``, as the text's "总的梯度模值" — not one norm
    per layer (that would be LARS/LAMB, a different method).
    """
    total = 0.0
    for g in grads:
        v = np.asarray(g, dtype=np.float64).ravel()
        total += float(v @ v)
    return math.sqrt(total)


def decays(alpha0, threshold):
    """Claim step S1033 under the literal reading: decay iff the initial step is above the threshold."""
    return alpha0 > threshold


class GradientDirection(Optimizer):
    """Technique B: move along the gradient direction by a step of fixed length ``α_t``.

    Parameters
    ----------
    model : Sequential (anything with ``named_parameters()``)
    alpha0 : float > 0, optional
        Initial step α0. Default ``c·√N`` (:func:`initial_step`).
    c : float > 0
        RMS of the step over all parameters, used when ``alpha0`` is not given (the text's 0.0014).
    N : int > 0, optional
        Number of trainable parameters used for α0; default :func:`count_trainable` (masked-out
        entries excluded).
    beta : float in [0, 1)
        Step decay value β: ``α_{t+1} = α_t·(1 − β)`` per iteration (the text's 0.0003).
    threshold : float >= 0
        The text's "set threshold" (设定阈值) of step S1033; its value is not given, default 0.
    decay_mode : {"initial", "above"}
        How to read S1033 "if the initial step is above the threshold, decay the step":

        * ``"initial"`` (literal, default): decide **once** from α0 — if ``α0 > threshold`` decay
          every iteration, ``α_t = α0(1 − β)^t`` without end; otherwise keep α0 for ever.
        * ``"above"``: decay **while** the step is above the threshold, then hold it there:
          ``α_{t+1} = max(α_t(1 − β), threshold)``.

        With ``threshold = 0`` (the default) both give ``α_t = α0(1 − β)^t``.
    weight_decay : float >= 0
        Decoupled weight decay λ, applied **outside** the normalisation (it never enters ‖g‖):
        ``x ← (1 − λ·α_t/√N)·x`` — the same per-entry step size ``α_t/√N`` as AdamW's
        ``lr·λ``. 0 by default (the text has none).

    Attributes
    ----------
    alpha : float — the step α_t of the next update (``lr`` is an alias)
    t : int — updates done
    decaying : bool — the S1033 decision of the ``"initial"`` reading (``α0 > threshold``)

    Notes
    -----
    One update (claim step S1032, then S1033), with ``g`` every parameter's gradient
    concatenated into one vector::

        ‖g‖      = sqrt(Σ over all parameters of g²)          total gradient norm
        d_t      = g / ‖g‖                                    gradient direction (unit vector)
        x_{t+1}  = x_t − α_t · d_t                            so ‖x_{t+1} − x_t‖ = α_t exactly
        α_{t+1}  = α_t · (1 − β)                              step decay (when it applies)

    Why ``α0 = c·√N``: see :func:`initial_step` — the step's RMS over all parameters is ``c``
    (each entry's own step is proportional to its ``|g_i|``).
    Properties that follow (and are tested): the step length is α_t whatever the gradient's
    size; multiplying the loss by any constant > 0 leaves the trajectory unchanged; a tensor
    with tiny gradients barely moves next to one with large gradients (one global norm);
    masked entries (gradient 0) stay exactly 0. A zero gradient has no direction: the
    parameters are not moved (no NaN), the iteration still counts and the step still decays.
    ``α_t`` and ``t`` are saved in ``state_dict()`` (as hyper-parameters ``alpha`` and ``t``),
    so a resumed run continues the schedule exactly.

    Related: normalized gradient descent (Nesterov; Hazan, Levy & Shalev-Shwartz 2015, whose
    guarantees need large batches); Cutkosky & Mehta 2020 add momentum. LARS/LAMB normalise per
    layer; this method normalises once over the whole model.
    """

    def __init__(self, model, alpha0=None, c=DEFAULT_C, N=None, beta=DEFAULT_BETA, threshold=0.0,
                 decay_mode="initial", weight_decay=0.0, schedule=None):
        where = "GradientDirection"
        if not hasattr(model, "named_parameters"):
            raise TypeError(f"{where}: model must have named_parameters(); got {type(model).__name__}")
        self.c = number(c, "c", where, low=0, low_open=True)
        self.N = count(count_trainable(model) if N is None else N, "N", where,
                       meaning="number of trainable parameters")
        if alpha0 is None:
            alpha0 = initial_step(self.N, self.c)
        self.alpha0 = number(alpha0, "alpha0", where, low=0, low_open=True)
        self.beta = number(beta, "beta", where, low=0)
        if self.beta >= 1:
            raise ValueError(f"{where}: beta (step decay value) must be in [0, 1); got {beta}")
        self.threshold = number(threshold, "threshold", where, low=0)
        self.decay_mode = str(choice(decay_mode, "decay_mode", where, DECAY_MODES))
        self.decaying = decays(self.alpha0, self.threshold)
        if schedule is None:
            schedule = step_decay(self.alpha0, self.beta, self.threshold, self.decay_mode)
        super().__init__(model, lr=self.alpha0, weight_decay=weight_decay, schedule=schedule)
        self.alpha = self.alpha0

    # ``lr`` is the step length α_t, so generic code that reads or sets ``optimizer.lr`` still works
    @property
    def lr(self):
        return self.alpha

    @lr.setter
    def lr(self, value):
        self.alpha = float(value)

    def step(self):
        """One update of **all** parameters together (claim steps S1032 and S1033).

        Reads every parameter ``x`` and gradient ``g`` from ``self.model.named_parameters()`` and
        updates the parameters in place, in this order::

            ‖g‖      = sqrt(Σ over all parameters of g²)      one norm over the whole model
            x       ← (1 − λ·α_t/√N)·x                       decoupled weight decay (only if λ > 0),
                                                              applied to x, never added to g
            x       ← x − α_t·g/‖g‖                          (skipped if ‖g‖ = 0: no direction)
            t       ← t + 1                                   every call counts, even with ‖g‖ = 0

        with ``α_t = self.alpha``, ``λ = self.weight_decay``, ``N = self.N``. Before it (and again after it,
        so ``self.alpha`` always shows the next step) the step decay S1033 sets ``α_t = α0·f(t)`` from the
        optimizer's schedule — :func:`step_decay`, ``f(t) = (1 − β)^t`` when decaying.
        """
        triples = list(self.model.named_parameters())
        self.apply_schedule()                                          # S1033: α_t = α0 · f(t)
        ### BEGIN SOLUTION
        alpha = self.alpha
        norm_g = global_gradient_norm(g for _, _, g in triples)        # total gradient norm ‖g‖
        shrink = 1.0 - self.weight_decay * alpha / math.sqrt(self.N)   # decoupled weight decay, outside ‖g‖
        for name, x, g in triples:
            if self.weight_decay:
                x *= shrink
            if norm_g > 0:                                             # zero gradient: no direction, no move
                x -= (alpha / norm_g) * g                              # x_{t+1} = x_t − α_t · g/‖g‖
        self.t += 1
        ### END SOLUTION
        self.apply_schedule()                                          # α of the next update, for readers

    def update(self, p, g, st):
        raise NotImplementedError("GradientDirection normalises over all parameters at once; use step()")

    def hyperparameters(self):
        return {"alpha": self.alpha, "alpha0": self.alpha0, "base_lr": self.base_lr, "c": self.c, "N": self.N,
                "beta": self.beta, "threshold": self.threshold, "decay_mode": self.decay_mode,
                "decaying": self.decaying, "weight_decay": self.weight_decay}

    def alphas(self, T):
        """The step lengths ``α_t … α_{t+T-1}`` this optimizer will use from its current state on,
        without touching the model: ``(T,)`` float64 (handy for plots)."""
        return np.array([self.base_lr * self.schedule(self.t + i) for i in range(int(T))])

    def __repr__(self):
        return (f"GradientDirection(alpha={self.alpha:.6g}, alpha0={self.alpha0:.6g}, N={self.N}, c={self.c:g}, "
                f"beta={self.beta:g}, threshold={self.threshold:g}, decay_mode={self.decay_mode!r}, "
                f"weight_decay={self.weight_decay:g}, schedule={self.schedule!r}, t={self.t})")


def step_decay(alpha0, beta, threshold=0.0, decay_mode="initial"):
    """Claim step S1033 as a learning-rate schedule (:mod:`numpycnn.schedules`), written once here.

    ``"initial"`` (literal): if ``α0 > threshold``, ``α_t = α0·(1 − β)^t`` for ever — exponential with
    ``γ = 1 − β``; otherwise the step stays α0 (constant). ``"above"``: ``α_t = max(α0·(1 − β)^t, threshold)``
    — exponential with ``floor = threshold/α0`` (constant when ``α0 ≤ threshold``). Both are the closed form
    of the text's recursion ``α_{t+1} = α_t·(1 − β)``.
    """
    if beta == 0 or not decays(alpha0, threshold):
        return Constant()
    if decay_mode == "initial":
        return Exponential(1.0 - beta)
    return Exponential(1.0 - beta, floor=threshold / alpha0)


def direction(model, lr=None, **kwargs):
    """``GradientDirection(model, alpha0=lr, **kwargs)``: the optimizer registered as ``"direction"``
    (``make_optimizer("direction", model, lr=...)``; ``lr`` is the initial step α0, default ``c·√N``)."""
    return GradientDirection(model, alpha0=lr, **kwargs)


register_optimizer("direction", direction)


# -- its record, and its plug-in for ``python -m numpycnn train`` -----------------------------------
class GradientDirectionTechnique(Technique):
    """Technique B on ``train``: ``--optimizer direction`` and its flags.

    One door builds the optimizer: the registry (``make_optimizer("direction", model, lr=α0, ...)``,
    registered above). This record only adds the flags and passes them to that factory.
    """

    def add_train_arguments(self, parser):
        """``--alpha0``, ``--direction-c``, ``--decay``, ``--decay-threshold``, ``--decay-mode``
        (used with ``--optimizer direction``)."""
        g = parser.add_argument_group("technique B: gradient-direction optimizer (--optimizer direction)")
        g.add_argument("--alpha0", type=float, default=None,
                       help="initial step length α0 (default: c·sqrt(N), N = trainable parameters; --lr is an alias)")
        g.add_argument("--direction-c", type=float, default=DEFAULT_C,
                       help=f"c in α0 = c·sqrt(N): the step's RMS over all parameters (default {DEFAULT_C})")
        g.add_argument("--decay", type=float, default=DEFAULT_BETA,
                       help=f"step decay value β per iteration, α ← α(1−β) (default {DEFAULT_BETA})")
        g.add_argument("--decay-threshold", type=float, default=0.0,
                       help="the text's threshold for the step decay (default 0: always decay)")
        g.add_argument("--decay-mode", default="initial", choices=DECAY_MODES,
                       help="'initial': decay iff α0 > threshold (literal reading); "
                            "'above': decay while α > threshold, then hold (default initial)")

    def optimizer_options(self, opts):
        """With ``--optimizer direction``: α0 (``--alpha0``, else ``--lr``) as ``lr``, and c, β, the threshold,
        the decay mode and the weight decay for :class:`GradientDirection`; ``{}`` for any other optimizer."""
        if opts.optimizer != "direction":
            return {}
        return {"lr": opts.alpha0 if opts.alpha0 is not None else opts.lr, "c": opts.direction_c, "beta": opts.decay,
                "threshold": opts.decay_threshold, "decay_mode": opts.decay_mode,
                "weight_decay": opts.weight_decay or 0.0}


TECHNIQUE = GradientDirectionTechnique(
    letter="B", name="gradient_direction", title="Gradient-direction optimizer",
    summary="the gradient-direction optimizer (unit-norm updates)", aliases=("optimizers",),
    experiment="numpycnn.lab.experiments.gradient_direction", tutorial="tutorials/05_gradient_direction.py",
    docs="docs/gradient_direction.md")
