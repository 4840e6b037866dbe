"""Technique E's filters: as rows of a matrix, ranked, dropped (step 3), and the weights that read them.

Given the orthogonality measures ``O`` of the eligible conv layers (steps 1–2,
:func:`numpycnn.techniques.orthogonal_reinit.layer_measures`)::

    per-layer (the text):  in each layer l drop the ⌊p · J_l⌋ filters with the largest O
    global (RePr):         one ranking over all eligible filters, drop the ⌊p · Σ_l J_l⌋ largest
    either way:            no layer keeps fewer than min_keep filters

- :func:`filter_matrix` / :func:`normalized_filters`: a layer's filters as rows ``W_l (J_l, k*k*c)``, and
  ``Ŵ_l``, each row divided by its 2-norm — what the measure (steps 1–2) and the re-initialisation read;
- :func:`rank_filters` (the drop set), :func:`random_drop_set` (the control: as many, at random),
  :func:`drop_count` (``⌊p · n⌋``);
- :func:`drop_filters` / :func:`hold_dropped_at_zero`: the sub-network, through the core's masks
  (``layer.set_mask``: the forward pass uses ``W * M``, the gradient is ``dW * M``) and
  ``optimizer.mask_state``, so the dropped filters, their biases and their optimizer state stay exactly 0;
- :func:`consumer_of` / :func:`silence_outgoing`: the next layer's weights that read a filter's channel
  (the ``"function-preserving"`` re-introduction zeroes them).

The measure (steps 1–2), the re-introduction (step 5) and the schedule that calls these (:class:`~numpycnn.techniques.orthogonal_reinit.RePr`)
are in :mod:`numpycnn.techniques.orthogonal_reinit`, which re-exports every name here.
"""
import math

import numpy as np

from ..layers import Conv2D, Dense, Flatten
from ..validate import choice, integer, number

#: how the drop set is ranked: within each layer (the text) or across the eligible layers (RePr)
RANKINGS = ("per-layer", "global")
#: which filters are dropped: the largest orthogonality measures (the text), or as many chosen at random
#: in each layer (the control that isolates the ranking)
SELECTIONS = ("orthogonality", "random")


def check_ranking(ranking, where):
    """``ranking`` checked against :data:`RANKINGS`."""
    return choice(ranking, "ranking", where, RANKINGS)


# ----------------------------------------------------------------------------------------
# filters as rows
# ----------------------------------------------------------------------------------------
def as_filters(W, where):
    """``W`` as an array of conv weights ``(F, C, KH, KW)`` or a filter matrix ``(F, D)``, checked."""
    W = np.asarray(W)
    if W.ndim not in (2, 4):
        raise ValueError(f"{where}: W must be conv weights (F, C, KH, KW) or a filter matrix (F, D); "
                         f"got an array of shape {W.shape}")
    if not np.issubdtype(W.dtype, np.floating):
        raise TypeError(f"{where}: W must be a floating-point array; got dtype {W.dtype}")
    return W


def filter_matrix(W):
    """Flatten conv weights to one row per filter: ``W (F, C, KH, KW) -> W_l (F, C*KH*KW)``.

    A 2-D array is taken to be a filter matrix already and returned unchanged (as a view).
    """
    W = as_filters(W, "filter_matrix")
    return W.reshape(W.shape[0], -1)


def normalized_filters(W):
    """``Ŵ_l``: the rows of :func:`filter_matrix` divided by their 2-norms, in float64.

    Parameters
    ----------
    W : (F, C, KH, KW) or (F, D) array

    Returns
    -------
    W_hat : (F, D) float64
        ``Ŵ_l[f] = W_l[f] / ‖W_l[f]‖``. An all-zero row (a dropped filter) stays all zero.
    """
    W_l = filter_matrix(W).astype(np.float64)
    norms = np.linalg.norm(W_l, axis=1, keepdims=True)
    return np.divide(W_l, norms, out=np.zeros_like(W_l), where=norms > 0)


def drop_count(p, n):
    """``⌊p · n⌋``, the number of filters dropped out of ``n`` eligible ones.

    A tolerance of 1e-9 absorbs binary rounding (``0.29 * 100 = 28.999999999999996`` counts as 29).
    """
    return int(math.floor(p * n + 1e-9))



# ----------------------------------------------------------------------------------------
# the ranking and the drop set
# ----------------------------------------------------------------------------------------
def rank_filters(measures, p=0.3, ranking="per-layer", min_keep=1):
    """Choose the filters to drop: the largest orthogonality measures ``O``.

    Parameters
    ----------
    measures : dict layer name -> O (J_l,)
        The eligible layers' orthogonality measures (:func:`layer_measures`).
    p : float in (0, 1]
        Fraction dropped (the text: 30 %).
    ranking : {"per-layer", "global"}
        ``"per-layer"`` (the text): in each layer drop the ``⌊p · J_l⌋`` filters with the largest
        ``O``. ``"global"`` (RePr): one ranking over all eligible filters, drop the ``⌊p · Σ J_l⌋``
        largest.
    min_keep : int >= 1
        Cap: no layer keeps fewer than ``min_keep`` filters (a global ranking skips a filter whose
        layer is at the cap and takes the next one, so the count stays ``⌊p · eligible⌋`` whenever
        the caps allow it).

    Returns
    -------
    dict layer name -> int64 array of dropped filter indices, sorted ascending (possibly empty).

    Notes
    -----
    Ties are broken by position (a stable sort of ``−O``: the earlier filter/layer is dropped first).
    """
    check_ranking(ranking, "rank_filters")
    p = number(p, "p", "rank_filters", low=0, high=1, low_open=True,
               meaning="the fraction of filters dropped")
    min_keep = integer(min_keep, "min_keep", "rank_filters", minimum=1)
    measures = {name: np.asarray(O, dtype=np.float64).ravel() for name, O in measures.items()}
    capacity = {name: max(O.size - min_keep, 0) for name, O in measures.items()}
    if ranking == "per-layer":
        dropped = {}
        for name, O in measures.items():
            n_l = min(drop_count(p, O.size), capacity[name])
            order = np.argsort(-O, kind="stable")
            dropped[name] = np.sort(order[:n_l]).astype(np.int64)
        return dropped
    names = list(measures)
    O_all = np.concatenate([measures[n] for n in names]) if names else np.zeros(0)
    owner = np.concatenate([np.full(measures[n].size, i) for i, n in enumerate(names)]) if names else np.zeros(0, int)
    index = np.concatenate([np.arange(measures[n].size) for n in names]) if names else np.zeros(0, int)
    n_drop = min(drop_count(p, O_all.size), sum(capacity.values()))
    chosen = {n: [] for n in names}
    taken = 0
    for k in np.argsort(-O_all, kind="stable"):
        if taken == n_drop:
            break
        name = names[owner[k]]
        if len(chosen[name]) < capacity[name]:
            chosen[name].append(int(index[k]))
            taken += 1
    return {n: np.array(sorted(chosen[n]), dtype=np.int64) for n in names}


def random_drop_set(dropped, sizes, rng):
    """The random-drop control: in every layer, as many filters as ``dropped`` holds, chosen uniformly at random.

    Parameters
    ----------
    dropped : dict layer name -> indices (the orthogonality ranking's drop set: it fixes the counts)
    sizes : dict layer name -> J_l (filters in the layer)
    rng : np.random.Generator

    Returns
    -------
    dict layer name -> sorted int64 indices, ``len`` equal to ``len(dropped[name])`` for every layer.
    """
    return {n: np.sort(rng.choice(sizes[n], size=len(idx), replace=False)).astype(np.int64)
            for n, idx in dropped.items()}


def drop_masks(shape_W, idx):
    """0/1 masks of a conv layer with filters ``idx`` dropped: ``M (F, C, KH, KW)`` and ``m (F,)``."""
    M = np.ones(shape_W)
    m = np.ones(shape_W[0])
    M[idx] = 0       # a real write into M (basic assignment through an index array)
    m[idx] = 0
    return M, m


def drop_filters(model, optimizer, dropped):
    """Make the sub-network: hold the ``dropped`` filters (weights, bias, optimizer state) at 0.

    Parameters
    ----------
    model : Sequential
    optimizer : Optimizer with ``mask_state(name, mask)``
    dropped : dict layer name -> filter indices

    Returns
    -------
    (old, prior) : dicts layer name -> array
        ``old[l]``: the dropped filters' values before the drop ``(d_l, C, KH, KW)`` (a copy);
        ``prior[l]``: the layer's previous weight mask, if it had one (e.g. technique C), which the
        drop mask is combined with and :func:`reintroduce_filters` restores.

    Notes
    -----
    ``layer.set_mask("W", M)`` zeroes the dropped rows and from then on the forward pass uses
    ``W * M`` and the gradient is ``dW * M``; ``optimizer.mask_state`` zeroes their momentum /
    moments. With zero gradient and zero state, SGD, momentum, RMSprop and Adam (with or without
    L2 weight decay: ``g + wd·0 = 0``) all leave them exactly 0.
    """
    old, prior = {}, {}
    for name, idx in dropped.items():
        layer = model[name]
        if len(idx) == 0:
            continue
        old[name] = layer.params["W"][idx].copy()
        M, m = drop_masks(layer.params["W"].shape, idx)
        if "W" in layer.masks:
            prior[name] = layer.masks["W"].copy()
            M = M * prior[name]
        layer.set_mask("W", M)
        layer.set_mask("b", m)
        optimizer.mask_state(f"{name}.W", layer.masks["W"])
        optimizer.mask_state(f"{name}.b", layer.masks["b"])
    return old, prior


def hold_dropped_at_zero(model, optimizer, dropped):
    """Re-apply the drop masks to the parameters (in place) and to the optimizer state.

    The masks already keep everything at exactly 0 for the optimizers of :mod:`numpycnn.optim`
    (the tests check that without this function); this makes it true for any optimizer, e.g. one
    whose state does not start at zero.
    """
    for name, idx in dropped.items():
        if len(idx) == 0:
            continue
        layer = model[name]
        for key in ("W", "b"):
            np.multiply(layer.params[key], layer.masks[key], out=layer.params[key])   # writes into the array
            optimizer.mask_state(f"{name}.{key}", layer.masks[key])


def consumer_of(model, name):
    """The layer that reads the channels of conv layer ``name``, and how: ``(consumer, kind, (C, H, W))``.

    ``kind`` is ``"conv"`` (the next Conv2D: its weights ``W[:, c]`` read channel ``c``) or ``"dense"``
    (a Dense after Flatten: channel ``c`` is the columns ``c·H·W … (c+1)·H·W − 1``; ``(C, H, W)`` is the
    feature map being flattened). Layers without parameters in between (activations, pooling) pass
    channels through one to one.
    """
    names = list(model.layers)
    shape = None
    for later in names[names.index(name) + 1:]:
        layer = model[later]
        if isinstance(layer, Conv2D):
            return later, "conv", None
        if isinstance(layer, Flatten):
            shape = tuple(model.shapes[names[names.index(later) - 1]])
            continue
        if isinstance(layer, Dense):
            if shape is None:
                break
            return later, "dense", shape
        if layer.params:
            raise ValueError(f"consumer_of: {later!r} ({type(layer).__name__}) has parameters and sits between "
                             f"{name!r} and the layer that reads its channels; function-preserving re-introduction "
                             f"supports only parameter-free layers in between")
    raise ValueError(f"consumer_of: no Conv2D or Flatten→Dense reads the channels of {name!r}")


def silence_outgoing(model, optimizer, name, idx):
    """Set the next layer's weights that read channels ``idx`` of conv layer ``name`` (and their optimizer
    state) to 0: the re-introduced channels then change nothing until training moves those weights.

    Notes
    -----
    While a filter was dropped its channel was ``act(0)``; for ReLU (and tanh) that is 0, so the network's
    output just after the re-introduction equals its output just before, exactly (tested). For sigmoid
    (``act(0) = 1/2``) the channel's constant contribution disappears, which changes the output.
    """
    consumer, kind, shape = consumer_of(model, name)
    layer = model[consumer]
    W = layer.params["W"]
    if kind == "conv":
        cols = (slice(None), np.asarray(idx))
    else:
        C, H, Wd = shape
        cols = (slice(None), np.concatenate([np.arange(c * H * Wd, (c + 1) * H * Wd) for c in idx]))
    W[cols] = 0                                      # a real write through the index arrays
    for arr in optimizer.state.get(f"{consumer}.W", {}).values():
        arr[cols] = 0
    return consumer
