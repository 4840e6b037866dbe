"""The model container: a named sequence of layers.

``Sequential`` runs its layers in order and back-propagates in reverse::

    h_0 = x,   h_k = layer_k(h_{k-1}),   logits = h_L
    g_L = dL/dlogits,   g_{k-1} = layer_k.backward(g_k)

Two extension points let the techniques plug in without copying the container:

**Taps** (technique A). ``add_forward_hook(name, fn)`` calls ``fn(h)`` with the
output ``h`` of layer ``name`` on every forward pass. ``add_backward_hook(name, fn)``
calls ``fn(g)`` with the gradient ``g = dL/dh`` arriving at that output from the
layer above, and passes *what ``fn`` returns* on down. A branch supervisor uses
it to return ``third = first + second``.

**Masks** (techniques C and E). ``layer.set_mask("W", M)``; see :class:`numpycnn.layers.Layer`.

**Modes.** ``model.train()`` / ``model.eval()`` set every layer's ``training`` flag (BatchNorm
and Dropout behave differently in the two); ``predict_logits``, ``predict`` and ``evaluate``
run in evaluation mode and restore each layer's previous mode afterwards.
"""
from collections import OrderedDict
from contextlib import contextmanager

import numpy as np

from .errors import CheckpointError, ShapeError
from .layers import Conv2D, Layer, LogSoftmax, compose_window, layer_from_config
from .losses import SoftmaxCrossEntropy
from .storage import load_arrays, prefixed, save_arrays
from .validate import check_labels

#: images per forward pass when predicting or evaluating: small batches keep the convolution's im2col buffer
#: in cache (a 32-channel 28×28 layer evaluates 1,000 images 2.3× faster in batches of 64 than of 512)
EVAL_BATCH = 64


class Sequential:
    """A sequential CNN trunk with named layers.

    Parameters
    ----------
    layers : list of (name, Layer) pairs, or of Layers (named ``<type><index>``)
    input_shape : tuple (C, H, W) or (D,)
        Shape of one input sample; used to validate the stack and for ``summary()``.
    name : str

    Examples
    --------
    >>> model = Sequential([("conv1", Conv2D(1, 6, 5, pad=2)), ("relu1", ReLU()), ...], input_shape=(1, 28, 28))
    >>> logits = model.forward(x)            # x: (N, 1, 28, 28) -> (N, 10)
    >>> dx = model.backward(dlogits)         # fills every layer's grads
    >>> for name, p, g in model.named_parameters(): ...   # ("conv1.W", W, dW), ...
    """

    def __init__(self, layers, input_shape, name="model"):
        self.layers = OrderedDict()
        counts = {}
        for item in layers:
            if isinstance(item, Layer):
                base = type(item).__name__.lower()
                counts[base] = counts.get(base, 0) + 1
                lname, layer = (item.name or f"{base}{counts[base]}"), item
            else:
                lname, layer = item
            if not isinstance(layer, Layer):
                raise TypeError(f"Sequential: item {lname!r} is not a Layer; got {type(layer).__name__}")
            if lname in self.layers:
                raise ValueError(f"Sequential: duplicate layer name {lname!r}")
            if "." in lname:
                raise ValueError(f"Sequential: layer names may not contain '.'; got {lname!r}")
            layer.name = lname
            self.layers[lname] = layer
        self.input_shape = tuple(int(s) for s in input_shape)
        self.name = name
        self.forward_hooks = {}
        self.backward_hooks = {}
        self.shapes = self._infer_shapes()
        self.metadata = {}

    # -- structure ------------------------------------------------------------------
    def _infer_shapes(self):
        shapes, shape = OrderedDict(), self.input_shape
        for lname, layer in self.layers.items():
            shape = layer.output_shape(shape)
            shapes[lname] = shape
        return shapes

    @property
    def output_shape(self):
        return next(reversed(self.shapes.values())) if self.shapes else self.input_shape

    @property
    def num_classes(self):
        return int(self.output_shape[0])

    @property
    def dtype(self):
        for _, p, _ in self.named_parameters():
            return p.dtype
        return np.dtype(np.float32)

    def __getitem__(self, name):
        try:
            return self.layers[name]
        except KeyError:
            raise KeyError(f"model has no layer {name!r}; layers are {list(self.layers)}") from None

    def named_parameters(self):
        """Yield ``(name, param, grad)`` for every parameter, e.g. ``("conv1.W", W, dW)``."""
        for lname, layer in self.layers.items():
            for key, p in layer.params.items():
                yield f"{lname}.{key}", p, layer.grads[key]

    def get_parameter(self, full_name):
        """The array behind ``"layer.key"``."""
        lname, key = full_name.split(".", 1)
        return self[lname].params[key]

    def set_parameter(self, full_name, value):
        """Assign ``value`` to ``"layer.key"`` (a real write: the layer's dict entry is replaced)."""
        lname, key = full_name.split(".", 1)
        old = self[lname].params[key]
        if np.shape(value) != old.shape:
            raise ShapeError(f"{full_name}: expected shape {old.shape}; got {np.shape(value)}")
        self[lname].params[key] = np.asarray(value, dtype=old.dtype).copy()

    def layer_of(self, full_name):
        """The layer object that owns parameter ``"layer.key"``."""
        return self[full_name.split(".", 1)[0]]

    @property
    def num_params(self):
        return sum(layer.num_params for layer in self.layers.values())

    def macs(self):
        """Multiply-accumulates per layer for **one** input sample: ``{layer name: MACs}`` in order.

        A conv layer ``C → F`` with a ``KH×KW`` kernel, ``groups`` groups and an ``OH×OW`` output costs
        ``F·OH·OW·(C/groups)·KH·KW`` (every output is a dot product of length ``(C/groups)·KH·KW``), a ``Dense``
        layer ``in·out``; layers without
        weights count 0 (:meth:`numpycnn.layers.Layer.macs`). A batch of ``N`` costs ``N`` times the sum;
        FLOPs ≈ 2 × MACs (a multiply and an add). Masked weights (techniques C and E) are counted too: the
        dense code multiplies by them.
        """
        out, shape = OrderedDict(), self.input_shape
        for lname, layer in self.layers.items():
            out[lname] = int(layer.macs(shape))
            shape = self.shapes[lname]
        return out

    def receptive_fields(self):
        """``{layer name: (size, jump)}`` for every layer up to the first that reads every position.

        ``size`` is the side of the square patch of the input that one output position of that layer
        depends on; ``jump`` is how far apart (in input pixels) two neighbouring output positions are.
        With ``(k, s)`` the window of a layer (:meth:`numpycnn.layers.Layer.window`):

        ``size_l = size_(l−1) + (k − 1) · jump_(l−1)``,  ``jump_l = jump_(l−1) · s``,  from ``(1, 1)``
        (:func:`numpycnn.layers.compose_window`; per axis, as pairs, where a window is not square).

        Padding moves the patch but does not change its size (near the border part of it is padding).
        Layers after a ``Flatten`` or a ``Dense`` are not listed: each of their units sees the whole input.
        """
        out, field = OrderedDict(), (1, 1)
        for lname, layer in self.layers.items():
            w = layer.window()
            if w is None:
                break
            field = compose_window(field, w)
            out[lname] = field
        return out

    def conv_layers(self):
        """Names of the Conv2D layers, input to output."""
        return [n for n, l in self.layers.items() if isinstance(l, Conv2D)]

    def astype(self, dtype):
        """Convert every parameter to ``dtype`` (e.g. float64 for gradient checks); returns self."""
        for layer in self.layers.values():
            layer.astype(dtype)
        return self

    # -- training and evaluation mode -------------------------------------------------
    def train(self, mode=True):
        """Put every layer in training mode (``mode=True``) or evaluation mode; returns self (as in PyTorch)."""
        for layer in self.layers.values():
            layer.training = bool(mode)
        return self

    def eval(self):
        """Put every layer in evaluation mode (``train(False)``); returns self."""
        return self.train(False)

    @property
    def training(self):
        """True when every layer is in training mode."""
        return all(layer.training for layer in self.layers.values())

    @contextmanager
    def evaluation_mode(self):
        """``with model.evaluation_mode():`` runs the block in evaluation mode, then gives every
        layer back the mode it had before."""
        before = [(layer, layer.training) for layer in self.layers.values()]
        self.eval()
        try:
            yield self
        finally:
            for layer, mode in before:
                layer.training = mode

    # -- hooks ----------------------------------------------------------------------
    def add_forward_hook(self, name, fn):
        """Call ``fn(h)`` with the output of layer ``name`` on every forward pass."""
        self[name]
        self.forward_hooks.setdefault(name, []).append(fn)

    def add_backward_hook(self, name, fn):
        """Replace the gradient arriving at the output of layer ``name`` by ``fn(gradient)``."""
        self[name]
        self.backward_hooks.setdefault(name, []).append(fn)

    def remove_hooks(self, name=None):
        """Remove every hook (or those of layer ``name``)."""
        if name is None:
            self.forward_hooks.clear()
            self.backward_hooks.clear()
        else:
            self.forward_hooks.pop(name, None)
            self.backward_hooks.pop(name, None)

    # -- computation ----------------------------------------------------------------
    def check_input(self, x):
        """Validate a batch ``x: (N, *input_shape)``; returns it in the model's dtype."""
        if not isinstance(x, np.ndarray):
            shape = ", ".join(map(str, self.input_shape))
            raise TypeError(f"{self.name}: x must be a numpy array of shape (N, {shape}); "
                            f"got {type(x).__name__}")
        if x.ndim != len(self.input_shape) + 1 or x.shape[1:] != self.input_shape:
            hint = ""
            if x.ndim == len(self.input_shape) and x.shape == self.input_shape:
                hint = " (a single sample: add a batch axis with x[None])"
            elif x.ndim == 3 and len(self.input_shape) == 3:
                hint = " (add a channel axis: x[:, None, :, :])"
            raise ShapeError(f"{self.name}: x must have shape (N, {', '.join(map(str, self.input_shape))}); "
                             f"got {x.shape}{hint}")
        if not np.issubdtype(x.dtype, np.floating):
            raise TypeError(f"{self.name}: x must be floating point; got dtype {x.dtype}. "
                            f"Scale integer images first, e.g. x.astype(np.float32) / 255")
        if x.shape[0] == 0:
            raise ValueError(f"{self.name}: x is an empty batch (N = 0)")
        if not np.isfinite(x).all():
            bad = tuple(int(i) for i in np.argwhere(~np.isfinite(x))[0])
            raise ValueError(f"{self.name}: x contains NaN or inf (first at index {bad}); clean the data first")
        return x.astype(self.dtype, copy=False)

    def forward(self, x, check=True):
        """Forward pass ``(N, *input_shape) -> (N, num_classes)`` logits; keeps caches for backward."""
        h = self.check_input(x) if check else x
        for lname, layer in self.layers.items():
            h = layer.forward(h)
            for fn in self.forward_hooks.get(lname, ()):
                fn(h)
        return h

    def backward(self, dout, input_grad=True):
        """Back-propagate ``dL/dlogits`` through every layer; fills ``grads``; returns ``dL/dx``.

        With ``input_grad=False`` (what training uses) the first layer only computes its
        parameter gradients (:meth:`Layer.backward_params`) and None is returned.
        """
        g = dout
        first = next(iter(self.layers))
        for lname in reversed(self.layers):
            for fn in self.backward_hooks.get(lname, ()):
                g = fn(g)
            if lname == first and not input_grad:
                self.layers[lname].backward_params(g)
                return None
            g = self.layers[lname].backward(g)
        return g

    def predict_logits(self, x, batch_size=EVAL_BATCH):
        """Logits ``(N, K)``, computed in batches, in evaluation mode (each layer's mode is restored after)."""
        x = self.check_input(x)
        with self.evaluation_mode():
            return np.concatenate([self.forward(x[i:i + batch_size], check=False)
                                   for i in range(0, x.shape[0], batch_size)])

    def predict(self, x, batch_size=EVAL_BATCH):
        """Predicted class per sample, ``(N,)`` int64."""
        return self.predict_logits(x, batch_size).argmax(axis=1)

    def evaluate(self, x, y, batch_size=EVAL_BATCH, loss=None):
        """Mean loss and accuracy on ``(x, y)``: returns ``{"loss": float, "accuracy": float}``."""
        logits = self.predict_logits(x, batch_size)
        loss = loss or SoftmaxCrossEntropy()
        y = check_labels(logits, y, f"{self.name}.evaluate")
        return {"loss": loss.forward(logits, y), "accuracy": float((logits.argmax(1) == y).mean())}

    # -- description and persistence ------------------------------------------------
    def summary(self):
        """A table: layer name, type, output shape, parameter count (and active count when masked),
        multiply-accumulates per image (:meth:`macs`) and receptive field (:meth:`receptive_fields`)."""
        rows = [("layer", "type", "output shape", "params", "MACs/image", "receptive field")]
        macs, fields = self.macs(), self.receptive_fields()
        for lname, layer in self.layers.items():
            n = layer.num_params
            active = sum(int(m.sum()) for m in layer.masks.values()) + sum(
                p.size for k, p in layer.params.items() if k not in layer.masks)
            count = f"{n:,}" if active == n else f"{n:,} ({active:,} active)"
            field = f"{fields[lname][0]}x{fields[lname][0]}" if lname in fields else "all"
            rows.append((lname, type(layer).__name__, str(self.shapes[lname]), count, f"{macs[lname]:,}", field))
        rows.append(("total", "", f"input {self.input_shape}", f"{self.num_params:,}", f"{sum(macs.values()):,}", ""))
        widths = [max(len(r[i]) for r in rows) for i in range(6)]
        lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
        lines.insert(1, "-" * len(lines[0]))
        lines.insert(len(lines) - 1, "-" * len(lines[0]))
        return "\n".join(lines)

    def __repr__(self):
        inner = ",\n".join(f"  ({n}): {l!r}" for n, l in self.layers.items())
        return f"Sequential(input_shape={self.input_shape}, name={self.name!r},\n{inner}\n)"

    def config(self):
        """JSON-able architecture description (rebuild with :meth:`from_config`)."""
        return {"name": self.name, "input_shape": list(self.input_shape),
                "layers": [{"name": n, "type": type(l).__name__, "config": l.config()} for n, l in self.layers.items()]}

    @classmethod
    def from_config(cls, config, dtype=np.float32):
        """Rebuild the architecture of :meth:`config` (parameters freshly initialised)."""
        layers = [(d["name"], layer_from_config(d["type"], d["config"], name=d["name"], dtype=dtype))
                  for d in config["layers"]]
        return cls(layers, input_shape=tuple(config["input_shape"]), name=config.get("name", "model"))

    def state_dict(self):
        """Parameters, masks and buffers as a flat dict of arrays: ``"conv1.W"``, ``"conv1.W.mask"``,
        ``"bn1.running_mean"``."""
        state = {}
        for lname, layer in self.layers.items():
            for key, p in layer.params.items():
                state[f"{lname}.{key}"] = p
            for key, m in layer.masks.items():
                state[f"{lname}.{key}.mask"] = m
            for key, b in layer.buffers.items():
                state[f"{lname}.{key}"] = b
        return state

    def load_state_dict(self, state):
        """Load :meth:`state_dict` output; checks every name and shape."""
        expected = {f"{n}.{k}": p for n, l in self.layers.items() for d in (l.params, l.buffers) for k, p in d.items()}
        missing = sorted(set(expected) - set(state))
        if missing:
            raise CheckpointError(f"{self.name}: state is missing parameters or buffers {missing[:5]} — "
                                  f"was it saved from a different architecture?")
        for full, p in expected.items():
            if state[full].shape != p.shape:
                raise CheckpointError(f"{self.name}: parameter {full} has shape {state[full].shape} in the file "
                                      f"but {p.shape} in the model — a different architecture")
        for lname, layer in self.layers.items():
            layer.masks = {}
            for key in layer.params:
                layer.params[key] = np.array(state[f"{lname}.{key}"], dtype=layer.params[key].dtype)
                mask = state.get(f"{lname}.{key}.mask")
                if mask is not None:
                    layer.set_mask(key, mask)
            for key in layer.buffers:
                layer.buffers[key] = np.array(state[f"{lname}.{key}"], dtype=layer.buffers[key].dtype)
        return self


def with_log_softmax(model):
    """``model`` followed by a ``LogSoftmax`` layer named ``log_softmax`` (same layer objects), for ``NLLLoss``.

    Returns ``model`` itself when its last layer already is a ``LogSoftmax``.
    """
    layers = list(model.layers.items())
    if layers and isinstance(layers[-1][1], LogSoftmax):
        return model
    out = Sequential(layers + [("log_softmax", LogSoftmax(name="log_softmax"))], input_shape=model.input_shape,
                     name=model.name)
    out.metadata = dict(getattr(model, "metadata", {}))
    return out


# -- model files ----------------------------------------------------------------------------
def save_model(path, model, metadata=None):
    """Save a model's architecture, parameters, masks and ``metadata`` (e.g. preprocessing) to ``path``.

    One ``.npz`` archive written atomically (:func:`numpycnn.storage.save_arrays`): the arrays of
    :meth:`Sequential.state_dict` under ``model/...`` and, as JSON, :meth:`Sequential.config`, the
    metadata and the dtype. No pickle.
    """
    arrays = {f"model/{k}": v for k, v in model.state_dict().items()}
    meta = {"kind": "model", "architecture": model.config(), "metadata": {**model.metadata, **(metadata or {})},
            "dtype": str(model.dtype)}
    save_arrays(path, arrays, meta)


def load_model(path):
    """Rebuild a model saved by :func:`save_model` (architecture from the file, then weights and masks)."""
    arrays, meta = load_arrays(path)
    if "architecture" not in meta:
        raise CheckpointError(f"{path}: has no architecture description")
    try:
        model = Sequential.from_config(meta["architecture"], dtype=np.dtype(meta.get("dtype", "float32")))
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"{path}: architecture description is invalid: {e}") from None
    model.load_state_dict(prefixed(arrays, "model"))
    model.metadata = dict(meta.get("metadata", {}))
    return model
