"""Technique C — Erdős–Rényi sparse network construction, trained sparse from the start.

The claim, our reading of it, the baselines, the published numbers and the exact checks:
``docs/claims.md``, section C.

The claim steps and where they live::

    inputs: the dense architecture (layers, widths n_l, parameter count N) and a sparsity
    1. density = 1 − sparsity, target count T = density · N          (the text mixes the two)
    2. per layer  r_l = (n_{l−1} + n_l) / (n_{l−1} · n_l)             layer_ratios (ER / ERK)
       p(l) = min(1, σ · r_l), one probability parameter σ for all   solve_sigma, connection_probabilities
       layers, fixed by Σ_l p(l) · N_l = T (saturated layers are dense)
    3. sample each connection with its layer's probability -> 0/1    sample_masks
       connection matrix (mask) M_l
    4. build the network from the masks and train it sparse          apply_masks (core masks: forward
       (forward W ⊙ M; gradient, update and optimizer state masked)  uses W ⊙ M, grads masked)
    5. show the structure: dense vs. actual parameters, memory,      structure_report
       compute, per layer and in total

Biases are not masked (they are a small part of N and the text counts connections). Variants: the
same probability in every layer (``mode="uniform"``), ERK for conv layers (the kernel dims join the
ratio), layers kept dense by the user, an exact number of connections per layer, several sampled
masks with the most accurate kept (``select_masks``), and SNIP as a baseline (``snip_masks``).
"""
import numpy as np
import scipy.sparse

from ..callbacks import Callback
from ..errors import CheckpointError
from ..functional import softmax
from ..layers import Conv2D, Dense
from ..losses import SoftmaxCrossEntropy
from ..model import Sequential
from ..optim import Adam
from ..plots import figure
from ..storage import load_arrays, save_arrays
from ..training import Trainer
from ..validate import choice, count, number
from .technique import Technique

MODES = ("er", "erk", "uniform", "snip")
SAMPLING = ("bernoulli", "exact")


def masked_layers(model):
    """Names of the layers whose weight ``W`` is sparsified: every Conv2D and Dense, in trunk order."""
    return [n for n, l in model.layers.items() if isinstance(l, (Conv2D, Dense))]


def layer_ratios(model, mode="er"):
    """``r_l`` per layer: ``{name: (r_l, N_l)}``.

    Dense ``(n_{l−1} → n_l)``: ``r = (n_{l−1} + n_l) / (n_{l−1} n_l)``. Conv ``(c_in → c_out, k_h×k_w)``:
    ER on channels ``(c_in + c_out) / (c_in c_out)``; ERK ``(c_in + c_out + k_h + k_w) / (c_in c_out k_h k_w)``.
    ``N_l`` is the number of weights of the layer.
    """
    choice(mode, "mode", "layer_ratios", ("er", "erk", "uniform"))
    out = {}
    for name in masked_layers(model):
        W = model[name].params["W"]
        if W.ndim == 2:
            n_out, n_in = W.shape
            r = (n_in + n_out) / (n_in * n_out)
        else:
            c_out, c_in, kh, kw = W.shape
            if mode == "erk":
                r = (c_in + c_out + kh + kw) / (c_in * c_out * kh * kw)
            else:
                r = (c_in + c_out) / (c_in * c_out)
        out[name] = (1.0 if mode == "uniform" else r, int(W.size))
    return out


def solve_sigma(ratios, T, dense=()):
    """The probability parameter σ with ``Σ_l min(1, σ r_l) N_l = T``, exactly, with saturation.

    Parameters
    ----------
    ratios : dict name -> (r_l, N_l)
    T : float — target number of weights
    dense : names kept dense by the user (p = 1)

    Returns
    -------
    sigma : float
    saturated : set of names with p = 1

    Notes
    -----
    Iterate: with ``D`` the dense (saturated) layers, ``σ = (T − Σ_{l∈D} N_l) / Σ_{l∉D} r_l N_l``;
    every layer with ``σ r_l > 1`` joins ``D``; repeat until none does (RigL's ERK procedure).
    With no saturation ``σ = T / Σ_l r_l N_l`` — for dense layers ``T / Σ_l (n_{l−1} + n_l)``.
    """
    saturated = set(dense)
    unknown = saturated - set(ratios)
    if unknown:
        raise ValueError(f"solve_sigma: dense layers {sorted(unknown)} are not sparsifiable layers {sorted(ratios)}")
    while True:
        budget = T - sum(ratios[n][1] for n in saturated)
        free = [n for n in ratios if n not in saturated]
        if not free:
            return float("inf"), saturated
        denom = sum(ratios[n][0] * ratios[n][1] for n in free)
        if budget <= 0:
            raise ValueError(f"solve_sigma: the layers kept dense ({sorted(saturated)}) already hold "
                             f"{T - budget:,.0f} weights, more than the target T = {T:,.0f}; lower the sparsity "
                             f"or keep fewer layers dense")
        sigma = budget / denom
        newly = {n for n in free if sigma * ratios[n][0] > 1}
        if not newly:
            return sigma, saturated
        saturated |= newly


def connection_probabilities(model, sparsity, mode="er", dense=()):
    """Per-layer connection probability ``p(l) = min(1, σ r_l)`` for a target sparsity.

    Returns ``(p, sigma)`` with ``p = {name: p_l}`` in (0, 1]. ``mode``: ``"er"`` / ``"erk"`` (the text),
    ``"uniform"`` (the same probability in every non-dense layer).
    """
    density = 1.0 - number(sparsity, "sparsity", "connection_probabilities",
                           low=0, high=1, high_open=True, meaning="the fraction of absent weights")
    ratios = layer_ratios(model, mode)
    N = sum(N_l for _, N_l in ratios.values())
    ### BEGIN SOLUTION
    T = density * N                                            # target number of weights
    sigma, saturated = solve_sigma(ratios, T, dense)
    p = {n: 1.0 if n in saturated else min(1.0, sigma * r) for n, (r, _) in ratios.items()}
    ### END SOLUTION
    return p, sigma


def sample_masks(model, p, rng, sampling="bernoulli"):
    """0/1 connection matrices ``M_l`` (the weights' shapes) with ``P(M = 1) = p_l``.

    ``sampling="bernoulli"``: each connection independently (the text); ``"exact"``: exactly
    ``round(p_l N_l)`` connections per layer, at random positions.
    """
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"sample_masks: rng must be a numpy.random.Generator; got {type(rng).__name__}")
    choice(sampling, "sampling", "sample_masks", SAMPLING)
    masks = {}
    for name, p_l in p.items():
        shape = model[name].params["W"].shape
        if sampling == "bernoulli":
            M = rng.random(shape) < p_l
        else:
            M = np.zeros(int(np.prod(shape)), dtype=bool)
            M[rng.permutation(M.size)[:int(round(p_l * M.size))]] = True
            M = M.reshape(shape)
        masks[name] = M.astype(model[name].params["W"].dtype)
    return masks


def snip_masks(model, x, y, sparsity, loss=None):
    """SNIP baseline: one batch, saliency ``s = |g ⊙ w| / Σ|g ⊙ w|``, keep the global top-κ weights.

    ``κ = round(density · N)``. Returns ``(masks, saliency)``.
    """
    density = 1.0 - number(sparsity, "sparsity", "snip_masks",
                           low=0, high=1, high_open=True, meaning="the fraction of absent weights")
    loss = loss or SoftmaxCrossEntropy()
    loss.forward(model.forward(x), y)
    model.backward(loss.backward())
    names = masked_layers(model)
    saliency = {n: np.abs(model[n].grads["W"].astype(np.float64) * model[n].params["W"]) for n in names}
    total = sum(s.sum() for s in saliency.values())
    saliency = {n: s / total for n, s in saliency.items()}
    flat = np.concatenate([saliency[n].ravel() for n in names])
    kappa = int(round(density * flat.size))
    keep = np.zeros(flat.size, dtype=bool)
    keep[np.argsort(-flat, kind="stable")[:kappa]] = True
    masks, start = {}, 0
    for n in names:
        size = saliency[n].size
        masks[n] = keep[start:start + size].reshape(saliency[n].shape).astype(model[n].params["W"].dtype)
        start += size
    return masks, saliency


def apply_masks(model, masks, optimizer=None):
    """Make the model sparse: ``layer.set_mask("W", M)`` (forward ``W ⊙ M``, gradient masked) and,
    when given, zero the optimizer's state at masked positions."""
    for name, M in masks.items():
        model[name].set_mask("W", M)
        if optimizer is not None:
            optimizer.mask_state(f"{name}.W", model[name].masks["W"])
    return model


def sparsify(model, sparsity, mode="er", rng=None, sampling="bernoulli", dense=(), data=None):
    """Sample masks for ``model`` and apply them; returns ``(masks, p, sigma)`` (``p``/``sigma`` None for SNIP)."""
    rng = np.random.default_rng(0) if rng is None else rng
    choice(mode, "mode", "sparsify", MODES)
    if mode == "snip":
        if data is None:
            raise ValueError("sparsify: mode 'snip' needs data=(x, y), one batch to measure the saliency")
        masks, _ = snip_masks(model, data[0], data[1], sparsity)
        apply_masks(model, masks)
        return masks, None, None
    p, sigma = connection_probabilities(model, sparsity, mode, dense)
    masks = sample_masks(model, p, rng, sampling)
    apply_masks(model, masks)
    return masks, p, sigma


# -- the structure report --------------------------------------------------------------------
def structure_report(model, p=None):
    """Per layer and total: dense and active weights, density, probability, memory, multiply-adds.

    Returns a list of row dicts (the last one is ``"total"``). Memory is the weight matrix as dense
    float32 bytes and as a ``scipy.sparse`` CSR matrix (float32 values, int32 indices, row pointers);
    multiply-adds per image: dense ``N_l × (output positions)`` vs. active weights × positions.
    """
    rows = []
    for name in masked_layers(model):
        layer = model[name]
        W = layer.effective("W")
        M = layer.masks.get("W", np.ones_like(W))
        active = int(np.count_nonzero(M))
        positions = int(np.prod(model.shapes[name][1:])) if W.ndim == 4 else 1
        csr = scipy.sparse.csr_matrix(W.reshape(W.shape[0], -1).astype(np.float32) * (M.reshape(W.shape[0], -1) != 0))
        csr.indices = csr.indices.astype(np.int32)
        rows.append({"layer": name, "dense": int(W.size), "active": active, "density": active / W.size,
                     "p": None if p is None else p.get(name), "dense_bytes": 4 * int(W.size),
                     "csr_bytes": int(csr.data.nbytes + csr.indices.nbytes + csr.indptr.nbytes),
                     "dense_macs": int(W.size) * positions, "sparse_macs": active * positions})
    total = {"layer": "total", "p": None}
    for k in ("dense", "active", "dense_bytes", "csr_bytes", "dense_macs", "sparse_macs"):
        total[k] = sum(r[k] for r in rows)
    total["density"] = total["active"] / max(total["dense"], 1)
    rows.append(total)
    return rows


def format_report(rows):
    """The report as a text table."""
    head = ("layer", "weights", "active", "density", "p(l)", "dense KiB", "CSR KiB", "MACs dense", "MACs sparse")
    lines = [head]
    for r in rows:
        lines.append((r["layer"], f"{r['dense']:,}", f"{r['active']:,}", f"{r['density']:.4f}",
                      "" if r["p"] is None else f"{r['p']:.4f}", f"{r['dense_bytes'] / 1024:.1f}",
                      f"{r['csr_bytes'] / 1024:.1f}", f"{r['dense_macs']:,}", f"{r['sparse_macs']:,}"))
    widths = [max(len(row[i]) for row in lines) for i in range(len(head))]
    out = ["  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths))) for row in lines]
    out.insert(1, "-" * len(out[0]))
    out.insert(len(out) - 1, "-" * len(out[0]))
    return "\n".join(out)


def report_figure(rows, title="structure of the sparse network"):
    layers = [r for r in rows if r["layer"] != "total"]
    fig = figure(figsize=(7, 3.4))
    ax = fig.subplots()
    x = np.arange(len(layers))
    ax.bar(x - 0.2, [r["dense"] for r in layers], 0.4, label="dense weights", color="0.7")
    ax.bar(x + 0.2, [r["active"] for r in layers], 0.4, label="active weights", color="C2")
    for i, r in enumerate(layers):
        ax.annotate(f"{r['density']:.0%}", (i + 0.2, max(r["active"], 1)), ha="center", va="bottom", fontsize=7)
    ax.set_xticks(x, [r["layer"] for r in layers])
    ax.set_yscale("log")
    ax.set_ylabel("weights")
    ax.legend(fontsize=8)
    ax.set_title(title)
    fig.tight_layout()
    return fig


# -- multi-sample selection and sparse saving --------------------------------------------------
def select_masks(make_model, data, sparsity, K=3, steps=100, mode="er", seed=0, sampling="bernoulli", dense=()):
    """Sample ``K`` masks, train each candidate for ``steps`` iterations, keep the most accurate on ``data.val``.

    ``make_model()`` must return the same freshly initialised dense model each call. Returns
    ``(best masks, results)`` with one ``{"candidate", "val_acc"}`` per candidate.
    """
    K = count(K, "K", "select_masks", meaning="number of mask candidates")
    if data.val is None or len(data.val) == 0:
        raise ValueError("select_masks: needs a validation split (val_fraction > 0) to compare candidates")
    best, results = None, []
    for k in range(K):
        model = make_model()
        masks, _, _ = sparsify(model, sparsity, mode, np.random.default_rng([seed, k]), sampling, dense)
        Trainer(model, Adam(model, lr=1e-3), seed=seed, batch_size=64, progress=False).fit(
            data.train, epochs=10 ** 6, max_steps=steps)
        acc = model.evaluate(data.val.x, data.val.y)["accuracy"]
        results.append({"candidate": k, "val_acc": acc})
        if best is None or acc > best[0]:
            best = (acc, masks)
    return best[1], results


def save_sparse_model(path, model, metadata=None):
    """Save a masked model with only its active weights: per masked layer the packed mask bits and the
    values ``W[M == 1]``; everything else as :func:`numpycnn.model.save_model` does. No pickle."""
    arrays = {}
    for lname, layer in model.layers.items():
        for key, value in layer.params.items():
            M = layer.masks.get(key)
            if M is None:
                arrays[f"model/{lname}.{key}"] = value
            else:
                on = M != 0
                arrays[f"sparse/{lname}.{key}.bits"] = np.packbits(on.ravel())
                arrays[f"sparse/{lname}.{key}.values"] = value[on]
    meta = {"kind": "sparse_model", "architecture": model.config(), "dtype": str(model.dtype),
            "metadata": {**model.metadata, **(metadata or {})}}
    save_arrays(path, arrays, meta)


def load_sparse_model(path):
    """Rebuild a model written by :func:`save_sparse_model` (masks restored)."""
    arrays, meta = load_arrays(path)
    if meta.get("kind") != "sparse_model":
        raise CheckpointError(f"{path}: is a {meta.get('kind')!r} file, not a sparse model")
    model = Sequential.from_config(meta["architecture"], dtype=np.dtype(meta["dtype"]))
    for lname, layer in model.layers.items():
        for key in list(layer.params):
            dense_key, bits_key = f"model/{lname}.{key}", f"sparse/{lname}.{key}.bits"
            if dense_key in arrays:
                layer.params[key] = np.array(arrays[dense_key], dtype=layer.params[key].dtype)
            elif bits_key in arrays:
                shape = layer.params[key].shape
                on = np.unpackbits(arrays[bits_key])[:int(np.prod(shape))].astype(bool).reshape(shape)
                W = np.zeros(shape, dtype=layer.params[key].dtype)
                W[on] = arrays[f"sparse/{lname}.{key}.values"]
                layer.params[key] = W
                layer.set_mask(key, on.astype(W.dtype))
            else:
                raise CheckpointError(f"{path}: parameter {lname}.{key} is missing")
    model.metadata = dict(meta.get("metadata", {}))
    return model


# -- the text's semi-supervised option ------------------------------------------------------
class ConsistencyTraining(Callback):
    """Semi-supervised training (the text's option): labelled batches as usual, plus a consistency loss
    between two randomly perturbed passes of the same unlabelled batch.

    Parameters
    ----------
    unlabelled : ndarray (M, *input_shape) — images without labels
    weight : float >= 0 — w, the weight of the consistency loss
    noise : float >= 0 — std of the Gaussian perturbation added to each pass
    batch_size : int — unlabelled images per step
    seed : int — perturbations and unlabelled batches come from ``default_rng([seed, step])``, ``step`` the
        updates done before this one (``trainer.step`` in ``on_backward_end``)

    Notes
    -----
    For an unlabelled batch ``u`` (N images) and two perturbations ``a = u + ε_a``, ``b = u + ε_b``::

        p_a = softmax(f(a)),  p_b = softmax(f(b))     (p_b is the target: no gradient through it)
        L_c = w · (1/N) Σ_n ‖p_a[n] − p_b[n]‖²
        ∂L_c/∂p_a = 2w (p_a − p_b) / N
        ∂L_c/∂z_a = p_a ⊙ (g − Σ_c g_c p_a[c])        softmax Jacobian, g = ∂L_c/∂p_a

    Run in ``on_backward_end``: the supervised gradients are kept, the consistency pass is
    back-propagated (masks apply as usual) and the two are added before the optimizer step.
    """

    name = "consistency"

    def __init__(self, unlabelled, weight=1.0, noise=0.1, batch_size=64, seed=0):
        if not isinstance(unlabelled, np.ndarray) or unlabelled.ndim < 2 or len(unlabelled) == 0:
            raise ValueError(f"ConsistencyTraining: unlabelled must be a non-empty array of images (M, ...); "
                             f"got {type(unlabelled).__name__}")
        for name, value in (("weight", weight), ("noise", noise)):
            if not np.isfinite(value) or value < 0:
                raise ValueError(f"ConsistencyTraining: {name} must be a finite number >= 0; got {value}")
        self.unlabelled, self.weight, self.noise = unlabelled, float(weight), float(noise)
        self.batch_size, self.seed = int(batch_size), int(seed)
        self.losses = []

    def consistency_backward(self, model, u, rng):
        """Forward both passes, back-propagate ``L_c`` (fills the model's grads); returns ``L_c``."""
        a = (u + self.noise * rng.standard_normal(u.shape)).astype(u.dtype)
        b = (u + self.noise * rng.standard_normal(u.shape)).astype(u.dtype)
        p_b = softmax(model.forward(b, check=False))
        p_a = softmax(model.forward(a, check=False))
        N = len(u)
        L = self.weight * float(np.sum((p_a - p_b) ** 2)) / N
        g = 2 * self.weight * (p_a - p_b) / N
        dz = p_a * (g - np.sum(g * p_a, axis=1, keepdims=True))
        model.backward(dz.astype(u.dtype))
        return L

    def on_backward_end(self, trainer):
        if self.weight == 0:
            return
        model = trainer.model
        supervised = {n: g.copy() for n, _, g in model.named_parameters()}
        rng = np.random.default_rng([self.seed, trainer.step])
        idx = rng.choice(len(self.unlabelled), min(self.batch_size, len(self.unlabelled)), replace=False)
        self.losses.append(self.consistency_backward(model, self.unlabelled[idx], rng))
        for n, _, g in model.named_parameters():
            g += supervised[n]                                  # total gradient = supervised + consistency


# -- its record, and its plug-in for ``python -m numpycnn train`` ---------------------------------
class ErdosRenyiTechnique(Technique):
    """Technique C on ``train``: ``--sparsity`` (and its options) sparsifies the freshly built model."""

    def add_train_arguments(self, parser):
        g = parser.add_argument_group("technique C: Erdős–Rényi sparse construction")
        g.add_argument("--sparsity", type=float, default=None,
                       help="fraction of absent weights in [0, 1) (density = 1 − sparsity); enables technique C")
        g.add_argument("--sparse-mode", choices=MODES, default="er",
                       help="er / erk (the text; erk adds the kernel dims for convs), uniform, or snip (baseline)")
        g.add_argument("--sparse-sampling", choices=SAMPLING, default="bernoulli",
                       help="bernoulli per connection (the text) or an exact count per layer")
        g.add_argument("--dense-layers", default="", help="comma-separated layers kept dense, e.g. conv1")
        g.add_argument("--mask-candidates", type=int, default=1,
                       help="sample K masks, train each --mask-steps iterations, keep the best on validation")
        g.add_argument("--mask-steps", type=int, default=100, help="iterations per mask candidate (default 100)")
        g.add_argument("--mask-stream", type=int, default=None,
                       help="draw the masks from the random stream [seed, S] of the model's seed (default: the "
                            "seed's own stream), so masks and initial weights can be varied apart")

    def prepare_model(self, opts, model, seed, data=None):
        """Sparsify a freshly built ``model`` (before its optimizer is built) and print the structure report
        (unless ``--quiet``).

        The masks are sampled with ``default_rng(seed)``, or ``default_rng([seed, S])`` with
        ``--mask-stream S``. SNIP measures one batch of ``data.train``; ``--mask-candidates K`` draws
        candidate k with ``default_rng([seed, k])``, trains each on ``data.train``, keeps the best on
        ``data.val`` and records every candidate's validation accuracy in ``model.metadata["mask_candidates"]``;
        both need ``data``.
        """
        if opts.sparsity is None:
            return
        dense = tuple(n.strip() for n in opts.dense_layers.split(",") if n.strip())
        if data is None and (opts.sparse_mode == "snip" or opts.mask_candidates > 1):
            raise ValueError("--sparse-mode snip and --mask-candidates measure or train on data; pass data=")
        if opts.mask_stream is not None and (isinstance(opts.mask_stream, bool) or opts.mask_stream < 0):
            raise ValueError(f"--mask-stream must be an integer >= 0; got {opts.mask_stream!r}")
        say = (lambda *args: None) if opts.quiet else print
        if opts.mask_candidates > 1:
            if opts.sparse_mode == "snip":
                raise ValueError("--mask-candidates works with er, erk and uniform (SNIP is deterministic)")
            if opts.mask_stream is not None:
                raise ValueError("--mask-stream draws one mask; --mask-candidates draws candidate k from [seed, k]: "
                                 "choose one")
            state, config = {k: v.copy() for k, v in model.state_dict().items()}, model.config()

            def make():
                return Sequential.from_config(config, dtype=model.dtype).load_state_dict(state)
            masks, results = select_masks(make, data, opts.sparsity, opts.mask_candidates, opts.mask_steps,
                                          opts.sparse_mode, seed, opts.sparse_sampling, dense)
            say("mask candidates (validation accuracy after "
                f"{opts.mask_steps} iterations): " + ", ".join(f"#{r['candidate']}: {r['val_acc']:.4f}"
                                                              for r in results))
            apply_masks(model, masks)
            model.metadata = {**model.metadata, "mask_candidates": results}
            p = None
        else:
            batch = None if data is None else (data.train.x[:256], data.train.y[:256])
            rng = np.random.default_rng(seed if opts.mask_stream is None else [seed, opts.mask_stream])
            _, p, sigma = sparsify(model, opts.sparsity, opts.sparse_mode, rng, opts.sparse_sampling, dense,
                                   data=batch)
            if sigma is not None:
                say(f"technique C: sparsity {opts.sparsity} ({opts.sparse_mode}), σ = {sigma:.6g}")
        say(format_report(structure_report(model, p)))


TECHNIQUE = ErdosRenyiTechnique(
    letter="C", name="erdos_renyi", title="Erdős–Rényi sparse construction",
    summary="Erdős–Rényi sparse construction", aliases=("er",),
    experiment="numpycnn.lab.experiments.erdos_renyi", tutorial="tutorials/06_erdos_renyi_sparsity.py",
    docs="docs/erdos_renyi.md")
