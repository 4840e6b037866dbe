"""Technique E — filter orthogonality ranking, drop, and QR null-space re-initialisation.

The claim, its published counterpart (RePr, Prakash, Storer, Florencio & Zhang, CVPR 2019) and its
exact checks: ``docs/claims.md``, section E.

The training schedule (claim steps s1–s5)::

    repeat N times:
        S1 iterations of normal training
        for every conv layer l:                                  # "orthogonality measure O"
            W_l  = filters of layer l flattened to rows          (J_l, k*k*c)
            Ŵ_l  = W_l with every row divided by its 2-norm
            P_l  = | Ŵ_l Ŵ_lᵀ − I |                              (J_l, J_l)
            O_f  = Σ_j P_l[f, j] / J_l                           (large O = redundant filter)
        drop the fraction p (30 %) of filters with the largest O  -> the sub-network
        S2 iterations of training the sub-network                 (dropped filters held at exactly 0)
        re-introduce the dropped filters from the null space of the kept filters (QR)
    normal training to the end

What each piece is, and where
-----------------------------
This module holds the measure (steps 1–2), the re-initialisation (step 5) and the schedule (:class:`RePr`);
the filters as rows, the ranking and the drop set (step 3) are in
:mod:`numpycnn.techniques.orthogonal_reinit_filters`. Every name of both is importable from here.

- :func:`orthogonality_measure` (vectorised) and :func:`orthogonality_measure_loop` (the pairwise
  loop reference the tests compare against).
- :func:`rank_filters`: the drop set, ``"per-layer"`` (the patent text: sort each layer's filters,
  drop the top 30 %) or ``"global"`` (RePr: one ranking across all eligible layers), with a cap
  so no layer loses all of its filters.
- :func:`drop_filters` / :func:`reintroduce_filters`: the sub-network is made with the core's
  generic masks (``layer.set_mask``: the forward pass uses ``W * M``, the gradient is ``dW * M``)
  and ``optimizer.mask_state`` (zero momentum / Adam moments), so dropped weights, biases and
  optimizer state stay exactly 0 and receive no update, with any optimizer.
- :func:`null_space_filters`: the re-initialisation. ``A = [kept filters; dropped filters' old
  values]``, full QR of ``Aᵀ`` (``scipy.linalg.qr``); the columns of ``Q`` beyond ``rank(A)``
  are an orthonormal basis of the orthogonal complement of the rows of ``A``; rotate by a random
  orthogonal matrix, keep as many columns as filters to re-introduce, scale them to the kept
  filters' mean norm (a single scalar: never clipped per element). When the complement is too
  small (first layer: ``k*k*c = 9`` on gray images; 1x1 convs) the old-value constraint is
  relaxed, and when even the kept filters span too much, the filters fall back to a random
  initialisation. Which of the three happened is returned, stored in the cycle log and logged
  (``logging.getLogger("numpycnn.techniques.orthogonal_reinit")``; fallbacks as warnings).
- :class:`RePr`: the training :class:`~numpycnn.callbacks.Callback` that runs the S1/S2/N schedule
  from ``on_step_end`` and logs every cycle. Its ``state_dict`` holds the schedule position, the
  dropped sets, the old values and the log, so a run checkpointed in the middle of an S2 phase
  resumes bit for bit.

Choices the text leaves open (documented; options where claims.md offers both readings)
---------------------------------------------------------------------------------------
- Ranking ``"per-layer"`` by default (the text); ``"global"`` is RePr. ``exclude_first=False`` by
  default (the text drops in every conv layer); RePr leaves the first layer alone.
- The number dropped is ``⌊p · eligible⌋`` (per layer: ``⌊p · J_l⌋``; global: ``⌊p · Σ_l J_l⌋``),
  capped so every layer keeps at least ``min_keep = 1`` filter.
- Re-introduced filters get bias 0 and zero optimizer state (Adam therefore takes its first steps
  on them at about ``lr·√(1−β2)/(1−β1) ≈ 3.2·lr`` per entry, as for any fresh parameter).
- The next layer's weights that read a re-introduced channel are **kept** as they are (RePr does
  the same; the text says nothing). While a filter is dropped its output channel is ``act(0)``:
  0 for ReLU, a constant 0.5 for sigmoid — which the next layer sees as an extra bias, and which
  the next layer's weights on that channel keep training against. Perturbing a dropped filter
  never changes the logits (the forward pass uses ``W * M``).
- Rank tolerance ``rtol``: ``|R_ii| > rtol · max_i |R_ii|`` counts towards ``rank(A)``.
"""
import json
import logging
import math

import numpy as np
import scipy.linalg

from ..callbacks import Callback
from ..datasets import Dataset
from ..storage import prefixed, with_prefix
from ..validate import choice, integer, number
from .orthogonal_reinit_filters import (RANKINGS, SELECTIONS, check_ranking, consumer_of, drop_count, drop_filters,
                                        drop_masks, filter_matrix, hold_dropped_at_zero, normalized_filters,
                                        random_drop_set, rank_filters, silence_outgoing)
from .technique import Technique

logger = logging.getLogger(__name__)

#: what happens to the next layer's weights that read a re-introduced channel (see :func:`silence_outgoing`)
REINTRODUCTIONS = ("keep", "function-preserving")
#: how the re-introduced filters of a layer were made (see :func:`null_space_filters`)
MODES = ("kept+old", "kept", "random")
_PHASES = ("S1", "S2", "done")


# ----------------------------------------------------------------------------------------
# steps 1-2: the orthogonality measure O
# ----------------------------------------------------------------------------------------
def orthogonality_measure(W):
    """The orthogonality measure ``O`` of every filter of one conv layer (vectorised).

    Parameters
    ----------
    W : (J, C, KH, KW) or (J, D) array
        The layer's filters (``J = J_l`` filters of ``D = k*k*c`` weights).

    Returns
    -------
    O : (J,) float64
        ``O_f >= 0``; large values mean filter ``f`` is far from orthogonal to the others
        (redundant); 0 for an orthonormal (or orthogonal) set.

    Notes
    -----
    ::

        Ŵ_l = rows of W_l / their norms                (J, D)
        P_l = | Ŵ_l Ŵ_lᵀ − I |                         (J, J), elementwise absolute value
        O_f = Σ_j P_l[f, j] / J_l

    ``P_l[f, j] = |cos ∠(w_f, w_j)|`` off the diagonal and ``≈ 0`` on it, so ``O`` does not change
    when a filter is rescaled or its sign flipped. An all-zero filter has ``P_l[f, f] = 1``.
    """
    ### BEGIN SOLUTION
    W_hat = normalized_filters(W)
    J = W_hat.shape[0]
    P = np.abs(W_hat @ W_hat.T - np.eye(J))
    O = P.sum(axis=1) / J
    ### END SOLUTION
    return O


def orthogonality_measure_loop(W):
    """Loop reference for :func:`orthogonality_measure`: one dot product per pair ``(f, j)``."""
    W_l = filter_matrix(W).astype(np.float64)
    J = W_l.shape[0]
    O = np.zeros(J)
    for f in range(J):
        norm_f = math.sqrt(sum(float(v) * float(v) for v in W_l[f]))
        for j in range(J):
            norm_j = math.sqrt(sum(float(v) * float(v) for v in W_l[j]))
            if norm_f == 0 or norm_j == 0:
                cos = 0.0
            else:
                cos = sum(float(a) * float(b) for a, b in zip(W_l[f], W_l[j])) / (norm_f * norm_j)
            O[f] += abs(cos - (1.0 if f == j else 0.0))
        O[f] /= J
    return O


def layer_measures(model, layers):
    """``{layer name: O (J_l,)}`` for the named conv layers of ``model`` (as the forward pass sees them)."""
    return {name: orthogonality_measure(model[name].effective("W")) for name in layers}


# ----------------------------------------------------------------------------------------
# step 5: QR null-space re-initialisation  (step 3, ranking and dropping: orthogonal_reinit_filters.py)
# ----------------------------------------------------------------------------------------
def random_orthogonal(n, rng):
    """A random ``(n, n)`` orthogonal matrix, uniform (Haar) over O(n): QR of a Gaussian matrix
    with the signs of ``diag(R)`` moved into ``Q``."""
    Z = rng.standard_normal((n, n))
    Q, R = scipy.linalg.qr(Z)
    return Q * np.sign(np.where(np.diag(R) == 0, 1.0, np.diag(R)))


def complement_basis(A, rtol=1e-10):
    """Orthonormal basis of the orthogonal complement of the rows of ``A``.

    Parameters
    ----------
    A : (m, D) array
        Stacked filters (one per row).
    rtol : float
        ``rank(A)`` = number of ``|R_ii| > rtol · |R_00|`` of the pivoted QR.

    Returns
    -------
    B : (D, D − rank(A)) float64, orthonormal columns, ``A @ B ≈ 0``.

    Notes
    -----
    Full QR with column pivoting of ``Aᵀ (D, m)``: ``Aᵀ Π = Q R``, ``Q (D, D)`` orthogonal. The
    first ``r = rank(A)`` columns of ``Q`` span the rows of ``A``; the remaining ``D − r`` columns
    are orthogonal to all of them — the null space of ``A``.
    """
    A = np.asarray(A, dtype=np.float64)
    D = A.shape[1]
    if A.shape[0] == 0:
        return np.eye(D)
    ### BEGIN SOLUTION
    Q, R, _ = scipy.linalg.qr(A.T, mode="full", pivoting=True)
    diag = np.abs(np.diag(R))
    r = int(np.sum(diag > rtol * diag[0])) if diag.size and diag[0] > 0 else 0
    B = Q[:, r:]
    ### END SOLUTION
    return B


def null_space_filters(kept, old, n_new, rng, rtol=1e-10, relax=True):
    """``n_new`` orthonormal filters orthogonal to the kept filters (and, when possible, to the old values).

    Parameters
    ----------
    kept : (K, D) array — the surviving filters of the layer (flattened)
    old : (d, D) array — the dropped filters' values before the drop
    n_new : int — how many filters to make (normally ``d``)
    rng : np.random.Generator — for the random rotation (and the random fallback)
    rtol : float — rank tolerance of :func:`complement_basis`
    relax : bool — allow the ``"kept"`` and ``"random"`` fallbacks; if False and the complement
        of ``[kept; old]`` is too small, raise ``ValueError``

    Returns
    -------
    V : (n_new, D) float64
        Orthonormal rows (``V Vᵀ = I``) before scaling (except in ``"random"`` mode: unit-norm
        Gaussian rows, not orthogonal to anything).
    mode : {"kept+old", "kept", "random"}
        Which constraint could be satisfied: orthogonal to kept filters and old values; to the
        kept filters only (the complement of ``[kept; old]`` had fewer than ``n_new`` dimensions);
        or neither (the kept filters alone span too much, e.g. 23 kept 3x3 gray filters in
        ``D = 9`` dimensions).

    Notes
    -----
    ``A = [kept; old]`` ``(K+d, D)``; ``B = complement_basis(A)`` ``(D, D−r)``;
    ``H`` a random ``(D−r, D−r)`` orthogonal matrix; ``V = (B H)[:, :n_new]ᵀ``. ``B H`` is another
    orthonormal basis of the same null space, rotated at random, so the new filters are orthogonal
    to ``A``'s rows and to each other.
    """
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"null_space_filters: rng must be a numpy.random.Generator; got {type(rng).__name__}")
    kept = np.atleast_2d(np.asarray(kept, dtype=np.float64))
    D = kept.shape[1]
    old = np.asarray(old, dtype=np.float64)
    if old.size % D or (old.ndim == 2 and old.shape[1] != D):
        raise ValueError(f"null_space_filters: old must hold filters of the same size D = {D} as kept; "
                         f"got an array of shape {old.shape}")
    old = old.reshape(-1, D)
    n_new = integer(n_new, "n_new", "null_space_filters", minimum=0)
    rtol = number(rtol, "rtol", "null_space_filters", low=0, high=1, low_open=True, high_open=True,
                  meaning="the QR rank tolerance")
    attempts = [("kept+old", np.vstack([kept, old]))]
    if relax:
        attempts.append(("kept", kept))
    for mode, A in attempts:
        B = complement_basis(A, rtol)
        if B.shape[1] >= n_new:
            H = random_orthogonal(B.shape[1], rng)
            V = (B @ H[:, :n_new]).T
            return V, mode
    if not relax:
        raise ValueError(f"null_space_filters: the complement of the {A.shape[0]} kept and old filters in "
                         f"{D} dimensions has {B.shape[1]} dimensions, fewer than n_new = {n_new}; "
                         f"pass relax=True to allow the fallbacks")
    Z = rng.standard_normal((n_new, D))
    return Z / np.linalg.norm(Z, axis=1, keepdims=True), "random"


def reintroduce_filters(model, dropped, old, prior, rng_for, rtol=1e-10):
    """Re-introduce the dropped filters from the null space and make them trainable again.

    Parameters
    ----------
    model : Sequential
    dropped, old, prior : from :func:`rank_filters` / :func:`drop_filters`
    rng_for : callable layer name -> np.random.Generator
    rtol : float

    Returns
    -------
    modes : dict layer name -> {"kept+old", "kept", "random"}

    Notes
    -----
    For layer ``l`` with kept rows ``W_K`` and dropped rows ``idx``::

        V, mode   = null_space_filters(W_K, old_l, |idx|)
        W_l[idx]  = mean_f ‖W_K[f]‖ · V          (one scalar scale, never clipped per element)
        b_l[idx]  = 0

    The write ``layer.params["W"][idx] = ...`` assigns through the index array, so it really
    writes into the layer's array (reading ``W[idx]`` would make a copy, and an in-place call on
    that copy would be lost). The drop mask is then removed (or the layer's earlier mask restored).
    """
    modes = {}
    for name, idx in dropped.items():
        if len(idx) == 0:
            continue
        layer = model[name]
        W = layer.params["W"]
        F = W.shape[0]
        keep = np.setdiff1d(np.arange(F), idx)
        W_l = filter_matrix(W).astype(np.float64)
        W_K = W_l[keep]
        V, mode = null_space_filters(W_K, filter_matrix(old[name]), len(idx), rng_for(name), rtol)
        scale = float(np.linalg.norm(W_K, axis=1).mean())
        W[idx] = (scale * V).reshape((len(idx),) + W.shape[1:]).astype(W.dtype)
        layer.params["b"][idx] = 0
        if name in prior:
            layer.set_mask("W", prior[name])
        else:
            layer.clear_mask("W")
        layer.clear_mask("b")
        modes[name] = mode
        if mode != "kept+old":
            logger.warning("%s: %d dropped filters re-initialised %s (the null space of the kept%s filters in "
                           "%d dimensions is too small)", name, len(idx),
                           "orthogonal to the kept filters only" if mode == "kept" else "at random",
                           "" if mode == "kept" else " and old", W_l.shape[1])
        else:
            logger.info("%s: %d filters re-initialised from the null space of kept + old filters", name, len(idx))
    return modes


# ----------------------------------------------------------------------------------------
# step 4 and the schedule: the training callback
# ----------------------------------------------------------------------------------------
class RePr(Callback):
    """Run the drop / sub-network / re-introduce schedule of technique E during training.

    Parameters
    ----------
    s1 : int >= 1 — iterations of normal training before each drop
    s2 : int >= 1 — iterations of sub-network training before each re-introduction
    n_cycles : int >= 0 — N, how many times; afterwards training is normal
    p : float in (0, 1] — fraction of filters dropped (30 %)
    ranking : {"per-layer", "global"} — see :func:`rank_filters` (default: the text's per-layer)
    exclude_first : bool — never drop filters of the first conv layer (RePr)
    selection : {"orthogonality", "random"} — drop the filters with the largest O (the text), or the same
        number per layer chosen at random (the control experiment)
    reintroduce : {"keep", "function-preserving"} — at re-introduction, keep the next layer's weights that
        read the re-introduced channels (the text is silent; RePr keeps them), or set them and their
        optimizer state to 0 so the network's output is unchanged at that moment (:func:`silence_outgoing`)
    layers : list of str, optional — the conv layers to consider (default: every Conv2D)
    min_keep : int >= 1 — cap: filters every layer keeps
    seed : int — the random rotations of cycle ``c`` and layer ``l`` use ``default_rng([seed, c, i_l])``
    rtol : float — rank tolerance of the QR
    monitor : Dataset (``x``, ``y``), optional — accuracy measured just before and after every
        drop and re-introduction (the "accuracy dip"); costs 4 evaluations per cycle
    verbose : bool — print one line per drop and per re-introduction

    Attributes
    ----------
    t : iterations seen; phase : "S1", "S2" or "done"; cycle : completed cycles
    dropped, old : dict layer -> indices / old values, during S2
    log : list of dicts, one per completed cycle (see :meth:`_reintroduce`): steps, dropped
        indices, re-initialisation mode per layer, ``O`` per layer at the drop ("before") and right
        after the re-introduction ("after"), the monitor accuracies and the dip.

    Notes
    -----
    Iteration counting: after the ``s1``-th step of a cycle the drop happens; the next ``s2``
    steps train the sub-network; after the last of them the filters are re-introduced. With
    ``s1=2, s2=1, n_cycles=2`` steps 1–2 are normal, step 3 is sub-network, 4–5 normal, 6 sub-network,
    7… normal.

    If ``fit`` stops inside an S2 phase (``max_steps``, an interruption), the model is left as the
    sub-network — the dropped filters still masked at 0 — so that a checkpoint resumes the phase
    exactly; train on (or resume) past the end of the phase to get them back.
    """

    name = "repr"

    def __init__(self, s1, s2, n_cycles=3, p=0.3, ranking="per-layer", exclude_first=False, layers=None,
                 min_keep=1, seed=0, rtol=1e-10, monitor=None, verbose=False, selection="orthogonality",
                 reintroduce="keep"):
        where = "RePr"
        self.s1 = integer(s1, "s1", where, minimum=1)
        self.s2 = integer(s2, "s2", where, minimum=1)
        self.n_cycles = integer(n_cycles, "n_cycles", where, minimum=0)
        self.p = number(p, "p", where, low=0, high=1, low_open=True,
                        meaning="the fraction of filters dropped")
        self.ranking = check_ranking(ranking, where)
        self.exclude_first = bool(exclude_first)
        self.selection = choice(selection, "selection", where, SELECTIONS)
        self.reintroduce = choice(reintroduce, "reintroduce", where, REINTRODUCTIONS)
        self.layers = None if layers is None else list(layers)
        self.min_keep = integer(min_keep, "min_keep", where, minimum=1)
        self.seed = integer(seed, "seed", where, minimum=0)
        self.rtol = number(rtol, "rtol", where, low=0, high=1, low_open=True, high_open=True,
                           meaning="the QR rank tolerance")
        if monitor is not None and not (hasattr(monitor, "x") and hasattr(monitor, "y")):
            raise TypeError(f"RePr: monitor must be a Dataset with .x and .y (or None); got {type(monitor).__name__}")
        self.monitor = monitor
        self.verbose = bool(verbose)
        self.t = 0
        self.cycle = 0
        self.phase = "S1" if self.n_cycles > 0 else "done"
        self.phase_start = 0
        self.dropped, self.old, self.prior = {}, {}, {}
        self.log = []
        self._current = None   # the log entry of the cycle in progress

    # -- which layers ------------------------------------------------------------------
    def eligible_layers(self, model):
        """The conv layers whose filters may be dropped."""
        convs = model.conv_layers()
        if self.layers is not None:
            unknown = [n for n in self.layers if n not in convs]
            if unknown:
                raise ValueError(f"RePr: layers {unknown} are not conv layers of the model; conv layers: {convs}")
            names = [n for n in convs if n in self.layers]
        else:
            names = list(convs)
        if self.exclude_first and convs and convs[0] in names:
            names.remove(convs[0])
        return names

    def _accuracy(self, model):
        if self.monitor is None:
            return None
        return float(model.evaluate(self.monitor.x, self.monitor.y)["accuracy"])

    # -- the schedule --------------------------------------------------------------------
    def on_train_begin(self, trainer):
        if not self.eligible_layers(trainer.model) and self.n_cycles > 0:
            raise ValueError("RePr: the model has no eligible conv layer (check layers= and exclude_first=)")

    def on_step_end(self, trainer):
        self.t += 1
        if self.phase == "S1" and self.t - self.phase_start == self.s1:
            self._drop(trainer)
            self.phase, self.phase_start = "S2", self.t
        elif self.phase == "S2":
            if self.t - self.phase_start == self.s2:
                self._reintroduce(trainer)
                self.cycle += 1
                self.phase = "S1" if self.cycle < self.n_cycles else "done"
                self.phase_start = self.t
            else:
                hold_dropped_at_zero(trainer.model, trainer.optimizer, self.dropped)

    def _drop(self, trainer):
        """Steps 1–3: measure O, rank, drop -> the sub-network."""
        model = trainer.model
        names = self.eligible_layers(model)
        O_before = layer_measures(model, names)
        acc_before = self._accuracy(model)
        self.dropped = rank_filters(O_before, self.p, self.ranking, self.min_keep)
        if self.selection == "random":          # the control: same counts per layer, random filters
            rng = np.random.default_rng([self.seed, self.cycle, 99])
            self.dropped = random_drop_set(self.dropped, {n: len(O) for n, O in O_before.items()}, rng)
        self.old, self.prior = drop_filters(model, trainer.optimizer, self.dropped)
        acc_after = self._accuracy(model)
        self._current = {"cycle": self.cycle + 1, "drop_step": self.t,
                         "dropped": {n: idx.tolist() for n, idx in self.dropped.items()},
                         "O_before": {n: O.tolist() for n, O in O_before.items()},
                         "acc_before_drop": acc_before, "acc_after_drop": acc_after}
        if self.verbose:
            counts = ", ".join(f"{n}: {len(i)}/{len(O_before[n])}" for n, i in self.dropped.items())
            print(f"RePr cycle {self.cycle + 1}: step {self.t}: dropped {counts} filters (ranking {self.ranking})"
                  + ("" if acc_before is None else f"; monitor accuracy {acc_before:.4f} -> {acc_after:.4f}"))

    def _reintroduce(self, trainer):
        """Step 5: re-introduce the dropped filters from the QR null space; log the cycle."""
        model = trainer.model
        names = self.eligible_layers(model)
        acc_before = self._accuracy(model)
        order = {n: i for i, n in enumerate(model.conv_layers())}

        def rng_for(name):
            return np.random.default_rng([self.seed, self.cycle, order[name]])

        modes = reintroduce_filters(model, self.dropped, self.old, self.prior, rng_for, self.rtol)
        if self.reintroduce == "function-preserving":
            for name, idx in self.dropped.items():
                if len(idx):
                    silence_outgoing(model, trainer.optimizer, name, idx)
        O_after = layer_measures(model, names)
        acc_after = self._accuracy(model)
        entry = dict(self._current or {"cycle": self.cycle + 1})
        entry.update({"reintroduce_step": self.t, "modes": modes,
                      "O_after": {n: O.tolist() for n, O in O_after.items()},
                      "acc_before_reintroduce": acc_before, "acc_after_reintroduce": acc_after,
                      "dip": None if acc_before is None else acc_after - acc_before})
        self.log.append(entry)
        self.dropped, self.old, self.prior, self._current = {}, {}, {}, None
        if self.verbose:
            mean_O = ", ".join(f"{n}: {np.mean(entry['O_before'].get(n, [np.nan])):.3f} -> "
                               f"{np.mean(O_after[n]):.3f}" for n in names)
            reintroduced = ", ".join(f"{n}: {m}" for n, m in modes.items())
            print(f"RePr cycle {entry['cycle']}: step {self.t}: re-introduced ({reintroduced}); mean O {mean_O}"
                  + ("" if acc_before is None else f"; monitor accuracy {acc_before:.4f} -> {acc_after:.4f}"))

    # -- checkpoints ---------------------------------------------------------------------
    def state_dict(self):
        state = {"t": np.array(self.t), "cycle": np.array(self.cycle),
                 "phase": np.array(_PHASES.index(self.phase)), "phase_start": np.array(self.phase_start),
                 "log": np.frombuffer(json.dumps({"log": self.log, "current": self._current}).encode(), np.uint8)}
        state.update(with_prefix("dropped", {n: np.asarray(idx, dtype=np.int64) for n, idx in self.dropped.items()}))
        state.update(with_prefix("old", self.old))
        state.update(with_prefix("prior", self.prior))
        return state

    def load_state_dict(self, state):
        self.t = int(state["t"])
        self.cycle = int(state["cycle"])
        self.phase = _PHASES[int(state["phase"])]
        self.phase_start = int(state["phase_start"])
        saved = json.loads(np.asarray(state["log"], dtype=np.uint8).tobytes().decode())
        self.log, self._current = saved["log"], saved["current"]
        self.dropped = {n: np.array(v, dtype=np.int64) for n, v in prefixed(state, "dropped").items()}
        self.old = {n: np.array(v) for n, v in prefixed(state, "old").items()}
        self.prior = {n: np.array(v) for n, v in prefixed(state, "prior").items()}

    def phases(self):
        """``[(start, end)]`` iteration intervals of the sub-network (S2) phases of the schedule."""
        period = self.s1 + self.s2
        return [(c * period + self.s1, (c + 1) * period) for c in range(self.n_cycles)]

    def __repr__(self):
        return (f"RePr(s1={self.s1}, s2={self.s2}, n_cycles={self.n_cycles}, p={self.p}, ranking={self.ranking!r}, "
                f"exclude_first={self.exclude_first}, selection={self.selection!r}, "
                f"reintroduce={self.reintroduce!r})")


# ----------------------------------------------------------------------------------------
# its record, and its plug-in for ``python -m numpycnn train``
# ----------------------------------------------------------------------------------------
class OrthogonalReinitTechnique(Technique):
    """Technique E on ``train``: ``--repr`` (and its options) adds the :class:`RePr` schedule."""

    def add_train_arguments(self, parser):
        """``--repr`` and its options on ``python -m numpycnn train``."""
        g = parser.add_argument_group("technique E: filter orthogonality drop and QR null-space re-initialisation "
                                      "(RePr)")
        g.add_argument("--repr", action="store_true",
                       help="train with the drop / sub-network / re-introduce schedule of technique E")
        g.add_argument("--repr-s1", type=int, default=200, help="iterations of normal training before each drop")
        g.add_argument("--repr-s2", type=int, default=100, help="iterations of sub-network training per cycle")
        g.add_argument("--repr-n", type=int, default=3, help="number of drop/re-introduce cycles N")
        g.add_argument("--repr-p", type=float, default=0.3, help="fraction of filters dropped")
        g.add_argument("--repr-ranking", choices=RANKINGS, default="per-layer",
                       help="rank filters within each layer (the patent text) or across layers (RePr)")
        g.add_argument("--repr-exclude-first", action="store_true", help="never drop filters of the first conv layer")
        g.add_argument("--repr-selection", choices=SELECTIONS, default="orthogonality",
                       help="drop the most redundant filters (the text) or as many at random (the control)")
        g.add_argument("--repr-reintroduce", choices=REINTRODUCTIONS, default="keep",
                       help="keep the next layer's weights on re-introduced channels, or zero them so the "
                            "network's output is unchanged at re-introduction")

    def extra_callbacks(self, opts, model, data=None):
        """The :class:`RePr` callback when ``--repr`` is given (monitoring up to 500 validation images of ``data``;
        its phases printed unless ``--quiet``)."""
        if not opts.repr:
            return []
        monitor = None
        val = None if data is None else data.val
        if val is not None and len(val):
            monitor = Dataset(val.x[:500], val.y[:500])
        return [RePr(opts.repr_s1, opts.repr_s2, opts.repr_n, opts.repr_p, opts.repr_ranking,
                     exclude_first=opts.repr_exclude_first, seed=opts.seed, monitor=monitor, verbose=not opts.quiet,
                     selection=opts.repr_selection, reintroduce=opts.repr_reintroduce)]


TECHNIQUE = OrthogonalReinitTechnique(
    letter="E", name="orthogonal_reinit", title="Orthogonality-guided filter re-initialisation",
    summary="filter orthogonality ranking and QR null-space re-initialisation", aliases=("repr",),
    experiment="numpycnn.lab.experiments.orthogonal_reinit", tutorial="tutorials/08_orthogonal_reinit.py",
    docs="docs/orthogonal_reinit.md")


__all__ = ["TECHNIQUE", "RANKINGS", "MODES", "REINTRODUCTIONS", "SELECTIONS", "RePr", "consumer_of", "random_drop_set",
           "silence_outgoing", "complement_basis", "drop_count", "drop_filters",
           "drop_masks", "filter_matrix", "hold_dropped_at_zero", "layer_measures",
           "normalized_filters", "null_space_filters", "orthogonality_measure", "orthogonality_measure_loop",
           "random_orthogonal", "rank_filters", "reintroduce_filters"]
