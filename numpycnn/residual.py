"""A residual block (He et al., 2016) usable as one layer of a ``Sequential``: ``y = F(x) + x``.

``F`` is a short stack of layers (the *body*, e.g. conv → BatchNorm → ReLU → conv → BatchNorm).
When ``F`` changes the shape (more channels, a stride), the skip path goes through a
*projection* ``P`` instead of the identity — a 1×1 ``Conv2D`` with that stride, or a ``Dense``::

    y = F(x) + x        or        y = F(x) + P(x)

Backward: ``x`` feeds two paths, so its gradient is the **sum at a fork**::

    dL/dx = F.backward(dout) + dout             (identity skip)
    dL/dx = F.backward(dout) + P.backward(dout) (projection)

— the same identity as technique A's third gradient (first + second; see
:mod:`numpycnn.techniques.branch_supervision`). The skip term hands ``dout`` to the layers
below unchanged, whatever ``F`` does to it: a deep stack of blocks cannot make the gradient
vanish the way a deep plain stack does.

The block's sub-layers are named inside it, and their parameters appear in the model as
``"<block>.<sub-layer>.<key>"``, e.g. ``"res1.conv1.W"`` and ``"res1.proj.W"``: the block's
``params``, ``grads``, ``masks`` and ``buffers`` are live views of its sub-layers' dicts
(:class:`JoinedDicts`), so optimizers, masks, ``state_dict`` and checkpoints work unchanged.
"""
from collections import OrderedDict
from collections.abc import MutableMapping

import numpy as np

from .errors import ShapeError
from .layers import Layer, compose_window, layer_from_config, register_layer

PROJECTION = "proj"


class JoinedDicts(MutableMapping):
    """One dict made of the same-named dict of several sub-layers: key ``"conv1.W"`` is
    ``sublayers["conv1"].<attr>["W"]``. Reads and writes go straight to the sub-layer's dict."""

    def __init__(self, sublayers, attr):
        self.sublayers, self.attr = sublayers, attr

    def _locate(self, key):
        lname, _, sub = key.partition(".")
        if lname not in self.sublayers or not sub:
            raise KeyError(key)
        return getattr(self.sublayers[lname], self.attr), sub

    def __getitem__(self, key):
        d, sub = self._locate(key)
        return d[sub]

    def __setitem__(self, key, value):
        d, sub = self._locate(key)
        d[sub] = value

    def __delitem__(self, key):
        d, sub = self._locate(key)
        del d[sub]

    def __iter__(self):
        for lname, layer in self.sublayers.items():
            for sub in getattr(layer, self.attr):
                yield f"{lname}.{sub}"

    def __len__(self):
        return sum(len(getattr(layer, self.attr)) for layer in self.sublayers.values())

    def __repr__(self):
        return repr(dict(self))


@register_layer
class ResidualBlock(Layer):
    """``y = F(x) + x`` (or ``F(x) + P(x)`` with a projection); one layer of a ``Sequential``.

    Parameters
    ----------
    body : list of (name, Layer) pairs, or of Layers (named ``<type><index>``)
        ``F``, run in order. Its output must have the input's shape unless a projection is given.
    projection : Layer, optional
        ``P`` on the skip path (named ``"proj"``), e.g. ``Conv2D(C_in, C_out, 1, stride=s)``
        or ``Dense(D_in, D_out)``; its output must have ``F``'s output shape.
    name : str

    Examples
    --------
    >>> block = ResidualBlock([("conv1", Conv2D(8, 8, 3, pad=1)), ("relu1", ReLU()),
    ...                        ("conv2", Conv2D(8, 8, 3, pad=1))])
    >>> model = Sequential([("conv0", Conv2D(1, 8, 3, pad=1)), ("res1", block), ("relu", ReLU()), ...],
    ...                    input_shape=(1, 8, 8))
    >>> [n for n, _, _ in model.named_parameters()][2:4]
    ['res1.conv1.W', 'res1.conv1.b']

    Notes
    -----
    Forward ``y = F(x) + s``, ``s = x`` or ``P(x)``. Backward, the sum at a fork:
    ``dx = dx_F + dx_s`` with ``dx_F = F.backward(dout)`` and ``dx_s = dout`` (identity) or
    ``P.backward(dout)`` — technique A's third gradient = first + second. Parameter gradients
    of ``F`` and ``P`` come from their own backward passes.
    """

    def __init__(self, body, projection=None, *, name=None):
        self.name = name
        self.body = OrderedDict()
        counts = {}
        for item in body:
            if isinstance(item, Layer):
                base = type(item).__name__.lower()
                counts[base] = counts.get(base, 0) + 1
                lname, layer = (item.name or f"{base}{counts[base]}"), item
            else:
                lname, layer = item
            if not isinstance(layer, Layer):
                raise TypeError(f"{self.display_name()}: body item {lname!r} is not a Layer; "
                                f"got {type(layer).__name__}")
            if lname in self.body or lname == PROJECTION:
                raise ValueError(f"{self.display_name()}: duplicate or reserved sub-layer name {lname!r} "
                                 f"({PROJECTION!r} is the projection's)")
            if "." in lname:
                raise ValueError(f"{self.display_name()}: sub-layer names may not contain '.'; got {lname!r}")
            layer.name = lname
            self.body[lname] = layer
        if not self.body:
            raise ValueError(f"{self.display_name()}: body must hold at least one layer")
        if projection is not None and not isinstance(projection, Layer):
            raise TypeError(f"{self.display_name()}: projection must be a Layer or None; "
                            f"got {type(projection).__name__}")
        self.projection = projection
        self.sublayers = OrderedDict(self.body)
        if projection is not None:
            projection.name = PROJECTION
            self.sublayers[PROJECTION] = projection
        self._training = True

    # -- the sub-layers' dicts, seen as the block's own ---------------------------------
    @property
    def params(self):
        return JoinedDicts(self.sublayers, "params")

    @property
    def grads(self):
        return JoinedDicts(self.sublayers, "grads")

    @property
    def buffers(self):
        return JoinedDicts(self.sublayers, "buffers")

    @property
    def masks(self):
        return JoinedDicts(self.sublayers, "masks")

    @masks.setter
    def masks(self, value):
        """``block.masks = {...}`` replaces every sub-layer's masks (``{}`` clears them)."""
        value = dict(value)
        for layer in self.sublayers.values():
            layer.masks = {}
        joined = self.masks
        for key, mask in value.items():
            joined[key] = mask

    @property
    def training(self):
        return self._training

    @training.setter
    def training(self, mode):
        self._training = bool(mode)
        for layer in self.sublayers.values():
            layer.training = self._training

    def astype(self, dtype):
        for layer in self.sublayers.values():
            layer.astype(dtype)
        return self

    # -- computation ----------------------------------------------------------------
    def forward(self, x):
        h = x
        for layer in self.body.values():
            h = layer.forward(h)
        s = x if self.projection is None else self.projection.forward(x)
        if h.shape != s.shape:
            raise ShapeError(f"{self.display_name()}: the body gives shape {h.shape} but the skip path {s.shape}; "
                             f"give a projection that maps the input to the body's output shape")
        return h + s

    def backward(self, dout):
        """``dx = dx_F + dx_s``: the gradient through the body plus the gradient through the skip path.

        ``x`` feeds both paths, so its gradient is the sum of the two — the chain rule at a fork,
        the same identity as technique A's third gradient (first + second).
        """
        ### BEGIN SOLUTION
        g = dout
        for layer in reversed(self.body.values()):
            g = layer.backward(g)
        dx_F = g
        dx_s = dout if self.projection is None else self.projection.backward(dout)
        dx = dx_F + dx_s                     # the sum at the fork: third = first + second
        ### END SOLUTION
        return dx

    # -- structure and persistence --------------------------------------------------
    def output_shape(self, input_shape):
        shape = tuple(input_shape)
        for layer in self.body.values():
            shape = tuple(layer.output_shape(shape))
        skip = tuple(input_shape) if self.projection is None else tuple(self.projection.output_shape(input_shape))
        if shape != skip:
            hint = (" (with a projection, e.g. a 1x1 Conv2D with the body's stride, or a Dense)"
                    if self.projection is None else "")
            raise ShapeError(f"{self.display_name()}: the body maps {tuple(input_shape)} to {shape} but the skip "
                             f"path gives {skip}; the two must match{hint}")
        return shape

    def macs(self, input_shape):
        """The body's multiply-accumulates plus the projection's (the identity skip and the sum cost none)."""
        total, shape = 0, tuple(input_shape)
        for layer in self.body.values():
            total += layer.macs(shape)
            shape = tuple(layer.output_shape(shape))
        return total + (0 if self.projection is None else self.projection.macs(input_shape))

    def window(self):
        """The body's window, composed layer by layer (the skip path reads a smaller one: its 1×1 or
        identity). ``None`` when a body layer reads every position."""
        field = (1, 1)
        for layer in self.body.values():
            w = layer.window()
            if w is None:
                return None
            field = compose_window(field, w)
        return field

    def config(self):
        def describe(layer):
            return {"name": layer.name, "type": type(layer).__name__, "config": layer.config()}
        return {"body": [describe(l) for l in self.body.values()],
                "projection": None if self.projection is None else describe(self.projection)}

    @classmethod
    def from_config(cls, config, name=None, rng=None, dtype=np.float32):
        def build(d):
            return layer_from_config(d["type"], d["config"], name=d["name"], rng=rng, dtype=dtype)
        projection = config.get("projection")
        return cls([(d["name"], build(d)) for d in config["body"]],
                   projection=None if projection is None else build(projection), name=name)

    def __repr__(self):
        lines = [f"    ({n}): {l!r}" for n, l in self.sublayers.items()]
        return "ResidualBlock(\n" + "\n".join(lines) + "\n  )"
