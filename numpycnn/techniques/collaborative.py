"""Technique D — collaborative training of several networks with an ensemble ("second") prediction.

The claim, its published counterpart (KDCL, Guo et al., CVPR 2020) and its exact checks:
``docs/claims.md``, section D.

One training step, in the claim's words::

    the batch goes through m networks          -> m "first predictions" z_i           (N, K) each
    first losses                                  L_i = CE(z_i, y)
    ensemble ("second prediction")                z_ens = rule(z_1 … z_m, y)            (N, K)
    second loss                                   L_ens = CE(z_ens, y)
    total                                         L = Σ_i L_i + L_ens  -> every network updated

Rules (each with its backward through the combination, :func:`combine`):

1. ``min-loss``: per sample, the prediction of the network with the smallest loss; the gradient
   reaches only that network.
2. ``linear``: ``z_ens = Σ_i w_i z_i`` with ``w`` on the simplex minimising ``L_ens`` on the batch
   (a convex problem, solved by :func:`simplex_weights`); ``w`` is held fixed in backprop (at the
   optimum its first-order effect vanishes).
3. ``min-logit``: ``z_ens[c] = min_i (z_i[c] − z_i[y])`` (KDCL-MinLogit). Each network's logits are
   first shifted so its target logit is 0; then every wrong class takes its most favourable value.
   ``z_ens[y] = 0`` and ``CE(z_ens) ≤ min_i CE(z_i)``. A raw per-class minimum ``min_i z_i[c]`` is
   ill-posed: logits are defined only up to a per-network additive constant (softmax ignores it),
   so the raw minimum depends on arbitrary offsets — one network with all logits shifted down by
   100 would "win" every class, the target included.
4. ``validation``: ``z_ens = Σ_i w_i z_i`` with ``w_i ∝`` network i's accuracy on the validation
   split, recomputed once per epoch inside ``fit`` (:meth:`CollaborativeTrainer.epoch_logs`) — never
   from the split :meth:`CollaborativeTrainer.evaluate` scores, so a test score never sets weights.

Modes: ``ensemble-ce`` (the claim's, the default: the second loss is the cross-entropy of the ensemble
vs. the label, its gradients going back through the combination) and ``kdcl`` (the ensemble is a
*detached teacher*: each network adds ``λ_t · T² · KL(softmax(z_ens/T) ‖ softmax(z_i/T))`` with a linear
ramp-up of ``λ_t``).
"""
import numpy as np
import scipy.optimize

from ..errors import CheckpointError
from ..storage import load_arrays, prefixed, with_prefix
from ..functional import log_softmax, softmax
from ..losses import SoftmaxCrossEntropy
from ..model import EVAL_BATCH
from ..training import Trainer
from ..validate import check_labels, choice
from .technique import Technique

RULES = ("min-loss", "linear", "min-logit", "validation")
#: ``ensemble-ce``: the cross-entropy of the ensemble (the claim's second loss); ``kdcl``: distil the detached
#: ensemble; ``dml``: Deep Mutual Learning (each network distils every other one, no ensemble) — the published
#: peers, for comparison
MODES = ("ensemble-ce", "kdcl", "dml")


def _check_logits(zs, y):
    if len(zs) < 1:
        raise ValueError("combine: zero networks — give the logits of at least one network")
    shape = zs[0].shape
    for i, z in enumerate(zs):
        if z.shape != shape:
            raise ValueError(f"combine: network {i} gives logits of shape {z.shape}, network 0 gives {shape}")
    return check_labels(zs[0], y, "combine")


def per_sample_ce(z, y):
    """Cross-entropy of every sample, ``(N,)`` (:meth:`SoftmaxCrossEntropy.per_sample`)."""
    return SoftmaxCrossEntropy().per_sample(z, y)


def simplex_weights(zs, y):
    """Weights ``w`` (m,) on the simplex minimising ``CE(Σ_i w_i z_i, y)`` (mean over the batch).

    Convex in ``w`` (CE is convex in the logits, which are linear in ``w``); solved with
    ``scipy.optimize.minimize`` (SLSQP, ``Σ w = 1``, ``w ≥ 0``) from the uniform start, keeping the
    best of the solution and every vertex (single networks) so ``CE(Σ w_i z_i) ≤ min_i CE(z_i)``.
    """
    m = len(zs)
    Z = np.stack([np.asarray(z, dtype=np.float64) for z in zs])         # (m, N, K)
    if m == 1:
        return np.ones(1)

    def f(w):
        return float(per_sample_ce(np.tensordot(w, Z, axes=1), y).mean())

    def grad(w):
        z = np.tensordot(w, Z, axes=1)
        d = softmax(z)
        d[np.arange(len(y)), y] -= 1
        return np.einsum("mnk,nk->m", Z, d) / len(y)

    res = scipy.optimize.minimize(f, np.full(m, 1.0 / m), jac=grad, method="SLSQP", bounds=[(0, 1)] * m,
                                  constraints=[{"type": "eq", "fun": lambda w: w.sum() - 1,
                                                "jac": lambda w: np.ones(m)}], options={"ftol": 1e-12})
    candidates = [np.clip(res.x, 0, None) / max(np.clip(res.x, 0, None).sum(), 1e-300)] + list(np.eye(m))
    return min(candidates, key=f)


def combine(zs, y, rule, weights=None):
    """The ensemble ("second prediction") of the networks' logits and its backward.

    Parameters
    ----------
    zs : list of m arrays (N, K) — the first predictions
    y : (N,) labels
    rule : one of ``RULES``
    weights : (m,) — required for ``"validation"``; ignored otherwise

    Returns
    -------
    z_ens : (N, K)
    backward : callable ``dz_ens (N, K) -> [dz_1, …, dz_m]`` — the gradient through the combination
    info : dict — ``"chosen"`` (min-loss: (N,) network index), ``"weights"`` (linear/validation)
    """
    y = _check_logits(zs, y)
    choice(rule, "rule", "combine", RULES)
    m, N = len(zs), zs[0].shape[0]
    rows = np.arange(N)
    ### BEGIN SOLUTION
    if rule == "min-loss":
        losses = np.stack([per_sample_ce(z, y) for z in zs])            # (m, N)
        chosen = losses.argmin(axis=0)                                   # per sample: the best network
        z_ens = np.stack(zs)[chosen, rows]                               # (N, K)

        def backward(dz):
            return [np.where((chosen == i)[:, None], dz, 0.0) for i in range(m)]
        return z_ens, backward, {"chosen": chosen}
    if rule == "min-logit":
        S = np.stack([z - z[rows, y][:, None] for z in zs])             # (m, N, K): target-subtracted
        winner = S.argmin(axis=0)                                        # (N, K)
        z_ens = np.take_along_axis(S, winner[None], axis=0)[0]

        def backward(dz):
            out = []
            for i in range(m):
                dS = np.where(winner == i, dz, 0.0)                      # routed to the minimising network
                dZ = dS.copy()
                dZ[rows, y] -= dS.sum(axis=1)                            # through s_i[c] = z_i[c] − z_i[y]
                out.append(dZ)
            return out
        return z_ens, backward, {"winner": winner}
    if rule == "linear":
        w = simplex_weights(zs, y)
    else:
        if weights is None:
            raise ValueError("combine: rule 'validation' needs weights= (from validation accuracies)")
        w = np.asarray(weights, dtype=np.float64)
    z_ens = sum(float(wi) * z for wi, z in zip(w, zs))                   # weights held fixed in backprop

    def backward(dz):
        return [float(wi) * dz for wi in w]
    ### END SOLUTION
    return z_ens, backward, {"weights": w}


def validation_weights(accuracies):
    """``w_i = acc_i / Σ_j acc_j`` — higher validation accuracy, higher weight (uniform if all are 0)."""
    a = np.asarray(accuracies, dtype=np.float64)
    return np.full(a.size, 1.0 / a.size) if a.sum() <= 0 else a / a.sum()


def kd_loss(z_student, z_teacher, T):
    """``T² · KL(softmax(z_t/T) ‖ softmax(z_s/T))`` (mean over the batch) and its gradient w.r.t. ``z_s``,
    ``T·(softmax(z_s/T) − softmax(z_t/T)) / N``. The teacher gets no gradient (it is detached)."""
    p_t = softmax(z_teacher / T)
    log_p_s = log_softmax(z_student / T)
    log_p_t = log_softmax(z_teacher / T)
    N = z_student.shape[0]
    value = float(T * T * np.sum(p_t * (log_p_t - log_p_s)) / N)
    return value, T * (np.exp(log_p_s) - p_t) / N


class CollaborativeTrainer(Trainer):
    """Train ``m`` networks together; reuses the :class:`~numpycnn.training.Trainer` loop.

    Parameters
    ----------
    models, optimizers : lists of length m (each optimizer built on its model)
    rule : one of ``RULES``
    mode : ``"ensemble-ce"``, ``"kdcl"`` or ``"dml"`` (Deep Mutual Learning, Zhang et al. 2018: network i adds
        ``1/(m−1) Σ_{j≠i} KL(p_j ‖ p_i)`` with the other networks' ``p_j`` detached, T = 1; no ensemble
        enters the loss — the rule only decides the reported ensemble)
    temperature : float — KDCL's T
    ramp_steps : int — KDCL: the distillation weight grows linearly from 0 to 1 over these steps
    data_split : ``"same"`` (every network sees the batch) or ``"halves"`` (network i sees a seeded random
        half of each batch — partly different data, against homogenisation)
    augment : as :class:`~numpycnn.training.Trainer`; network ``i`` sees its own random view of each batch
        (stream ``i``) — the distinct views KDCL gives its students
    other arguments as :class:`~numpycnn.training.Trainer`

    Inference: ``self.models[i].predict(x)`` for one network, :meth:`predict_logits` for the ensemble
    (weighted average of logits with the last linear/validation weights; uniform for the other rules).
    """

    #: m networks and a combined loss: not the one-network step the worker processes of numpycnn.parallel run
    data_parallel = False

    def __init__(self, models, optimizers, rule="min-logit", mode="ensemble-ce", temperature=3.0, ramp_steps=100,
                 data_split="same", **kwargs):
        if len(models) < 1:
            raise ValueError("CollaborativeTrainer: zero networks — give at least one model")
        if len(optimizers) != len(models):
            raise ValueError(f"CollaborativeTrainer: {len(models)} models but {len(optimizers)} optimizers")
        choice(rule, "rule", "CollaborativeTrainer", RULES)
        choice(mode, "mode", "CollaborativeTrainer", MODES)
        choice(data_split, "data_split", "CollaborativeTrainer", ("same", "halves"))
        super().__init__(models[0], optimizers[0], **kwargs)
        self.models, self.optimizers = list(models), list(optimizers)
        self.rule, self.mode, self.data_split = rule, mode, data_split
        self.temperature, self.ramp_steps = float(temperature), int(ramp_steps)
        self.weights = np.full(len(models), 1.0 / len(models))
        self.ce = [SoftmaxCrossEntropy() for _ in models]
        self.last = {}

    def compute_gradients(self, x, y):
        """Every network's gradient of the total loss; returns ``(total loss, ensemble logits)``.

        The batch goes through the m networks (first predictions); each first loss's gradient (on the
        network's half of the batch with ``data_split="halves"``) plus the second loss's gradient
        through the combination (``ensemble-ce``) or the distillation gradient (``kdcl``) is
        back-propagated through that network. ``self.last`` keeps the first losses and the second.
        """
        zs = [m.forward(self.augmented(x, i), check=False) for i, m in enumerate(self.models)]   # first predictions
        first = [ce.forward(z, y) for ce, z in zip(self.ce, zs)]                  # first losses
        dzs = [ce.backward() for ce in self.ce]
        if self.data_split == "halves":                                           # network i learns from its half
            rng = np.random.default_rng([self.seed, self.step])
            for i in range(len(dzs)):
                keep = rng.random(len(y)) < 0.5
                scale = len(y) / max(int(keep.sum()), 1)                          # a Python float keeps the dtype
                dzs[i] = dzs[i] * keep[:, None] * scale
        z_ens, back, info = combine(zs, y, self.rule, self.weights)
        ens_ce = SoftmaxCrossEntropy()
        if self.mode == "dml":                                                    # every peer a detached teacher
            second, m = 0.0, len(zs)
            for i in range(m):
                for j in range(m):
                    if i != j:
                        value, g = kd_loss(zs[i], zs[j], 1.0)
                        second += value / (m - 1)
                        dzs[i] = dzs[i] + g / (m - 1)
        elif self.mode == "ensemble-ce":
            second = ens_ce.forward(z_ens, y)                                     # second loss
            extra = back(ens_ce.backward())                                       # through the combination
            dzs = [d + e for d, e in zip(dzs, extra)]
        else:
            second = 0.0
            lam = min(1.0, self.step / max(self.ramp_steps, 1))
            for i, z in enumerate(zs):
                value, g = kd_loss(z, z_ens, self.temperature)                              # detached teacher
                second += lam * value
                dzs[i] = dzs[i] + lam * g
        if self.rule == "linear":
            self.weights = np.asarray(info["weights"])
        for m, dz in zip(self.models, dzs):
            m.backward(dz, input_grad=False)
        self.last = {"first_losses": first, "second_loss": second}
        return float(sum(first) + second), z_ens

    def trained_models(self):
        return self.models

    def trained_optimizers(self):
        return self.optimizers

    def fit(self, train, val=None, **kwargs):
        """:meth:`Trainer.fit`; the ``validation`` rule needs ``val`` (its weights come from it)."""
        if self.rule == "validation" and (val is None or len(val) == 0):
            raise ValueError("CollaborativeTrainer: rule 'validation' weighs the networks by their accuracy on a "
                             "validation split; pass one to fit(train, val)")
        return super().fit(train, val, **kwargs)

    def predict_logits(self, x):
        zs = [m.predict_logits(x) for m in self.models]
        return sum(w * z for w, z in zip(self.weights, zs))

    def network_accuracies(self, data, batch_size=EVAL_BATCH):
        """Every network's accuracy on ``data``, a list of m floats."""
        return [m.evaluate(data.x, data.y, batch_size)["accuracy"] for m in self.models]

    def evaluate(self, data, batch_size=EVAL_BATCH):
        """Ensemble loss/accuracy on ``data`` with the current weights; also every network's accuracy
        (``"networks"``). Changes nothing: the ``validation`` rule's weights are recomputed only at the end
        of each epoch, from the validation split (:meth:`epoch_logs`) — never from the split scored here."""
        accs = self.network_accuracies(data, batch_size)
        z = self.predict_logits(data.x)
        ce = SoftmaxCrossEntropy()
        return {"loss": ce.forward(z, data.y), "accuracy": float((z.argmax(1) == data.y).mean()), "networks": accs}

    def epoch_logs(self, val):
        """The epoch's row; under the ``validation`` rule the weights are first recomputed from ``val``,
        ``w_i ∝`` network i's validation accuracy — once per epoch, and only here."""
        if self.rule == "validation":
            self.weights = validation_weights(self.network_accuracies(val))
        return super().epoch_logs(val)

    # -- checkpoints: every network and optimizer --------------------------------------
    def state_dict(self):
        arrays, meta = super().state_dict()
        arrays = {k: v for k, v in arrays.items() if not k.startswith(("model/", "optim/"))}
        for i, (m, o) in enumerate(zip(self.models, self.optimizers)):
            arrays.update(with_prefix(f"net{i}/model", m.state_dict()))
            arrays.update(with_prefix(f"net{i}/optim", o.state_dict()))
        arrays["collab/weights"] = self.weights
        meta.update({"networks": [m.config() for m in self.models], "rule": self.rule, "mode": self.mode})
        return arrays, meta

    def load_checkpoint(self, path):
        arrays, meta = load_arrays(path)
        if meta.get("networks") != [m.config() for m in self.models] or meta.get("rule") != self.rule:
            raise CheckpointError(f"{path}: was saved from different networks or another ensemble rule")
        for i, (m, o) in enumerate(zip(self.models, self.optimizers)):
            m.load_state_dict(prefixed(arrays, f"net{i}/model"))
            o.load_state_dict(prefixed(arrays, f"net{i}/optim"))
        self.weights = np.array(arrays["collab/weights"])
        return self.restore_loop(arrays, meta)


# -- its record, and its plug-in for ``python -m numpycnn train`` ---------------------------------
class CollaborativeTechnique(Technique):
    """Technique D on ``train``: ``--networks m`` (m > 1) trains m networks together."""

    def add_train_arguments(self, parser):
        g = parser.add_argument_group("technique D: collaborative training")
        g.add_argument("--networks", type=int, default=1,
                       help="train this many networks together (technique D if > 1)")
        g.add_argument("--ensemble", choices=RULES, default="min-logit", help="the ensemble (second prediction) rule")
        g.add_argument("--collab-mode", choices=MODES, default="ensemble-ce",
                       help="ensemble-ce: add the cross-entropy of the ensemble (the claim); kdcl: distil the "
                            "detached ensemble into each network; dml: deep mutual learning")
        g.add_argument("--collab-temperature", type=float, default=3.0, help="KDCL temperature T")

    def build_trainer(self, opts, build, **trainer_kwargs):
        """A :class:`CollaborativeTrainer` of ``--networks m`` networks when m > 1, else None (not ours).

        ``build(seed)`` returns one network and its optimizer from the same options
        (:func:`numpycnn.lab.builder.build`); network ``i`` (0-based) is built with seed ``--seed + i``, so every
        network gets the same width/depth, masks, optimizer, momentum, weight decay and technique B
        options, and its own initial weights. Options that attach to one network's training loop
        (``--branch-at``/``--branch-auto``, ``--repr``) and losses other than cross-entropy (the claim's first
        and second losses are cross-entropies) are refused rather than applied to network 1 only.
        """
        n = opts.networks
        if n is None or n <= 1:
            if n is not None and n < 1:
                raise ValueError(f"--networks must be a positive integer; got {n}")
            return None
        single = [flag for flag, on in (("--branch-at", opts.branch_at), ("--branch-auto", opts.branch_auto),
                                        ("--repr", opts.repr)) if on]
        if single:
            raise ValueError(f"--networks {n}: {', '.join(single)} trains one network's loop and is not supported "
                             f"with technique D; train with --networks 1 or without {', '.join(single)}")
        if opts.loss not in ("cross_entropy", "nll"):
            raise ValueError(f"--networks {n}: technique D's losses are cross-entropies; got --loss {opts.loss} "
                             f"(use cross_entropy or nll)")
        models, optimizers = zip(*(build(opts.seed + i) for i in range(n)))
        return CollaborativeTrainer(list(models), list(optimizers), rule=opts.ensemble, mode=opts.collab_mode,
                                    temperature=opts.collab_temperature, **trainer_kwargs)


TECHNIQUE = CollaborativeTechnique(
    letter="D", name="collaborative", title="Collaborative training",
    summary="collaborative training of several networks", aliases=(),
    experiment="numpycnn.lab.experiments.collaborative", tutorial="tutorials/07_collaborative_training.py",
    docs="docs/collaborative.md")
