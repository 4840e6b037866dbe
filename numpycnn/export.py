"""Hand a numpycnn model to PyTorch and back.

``to_torch(model)`` builds the equivalent ``torch.nn.Sequential`` (same layer names, same
dtype) and copies the weights as the forward pass uses them (``W * M`` when a layer is
masked, techniques C and E). ``from_torch(module, input_shape)`` does the reverse for the
layer types numpycnn has.

Layer correspondence (every option of the numpycnn layer maps to PyTorch's of the same name)::

    Conv2D(C_in, C_out, k, stride, pad,            <->  nn.Conv2d(C_in, C_out, k, stride, padding=pad, dilation,
           dilation, groups, bias)                           groups, bias)          W: (C_out, C_in/groups, KH, KW)
    Dense(D_in, D_out, bias)                       <->  nn.Linear(D_in, D_out, bias)                 W: (D_out, D_in)
    MaxPool2D(k, stride, pad, dilation, ceil_mode) <->  nn.MaxPool2d(k, stride, padding=pad, dilation, ceil_mode)
    AvgPool2D(k, stride, pad, ceil_mode,           <->  nn.AvgPool2d(k, stride, padding=pad, ceil_mode,
              count_include_pad)                                  count_include_pad)
    AdaptiveAvgPool2D / AdaptiveMaxPool2D(size)    <->  nn.AdaptiveAvgPool2d / nn.AdaptiveMaxPool2d(size)
    ReLU / Sigmoid / Tanh                          <->  nn.ReLU / nn.Sigmoid / nn.Tanh
    Flatten                                        <->  nn.Flatten()                          (dims 1..end)
    LogSoftmax                                     <->  nn.LogSoftmax(dim=1)
    BatchNorm1D / BatchNorm2D(C, eps, m)           <->  nn.BatchNorm1d / nn.BatchNorm2d(C, eps, momentum=m)   (affine)
    LayerNorm(shape, eps, elementwise_affine, bias) <-> nn.LayerNorm(shape, eps, elementwise_affine, bias)
    GroupNorm(G, C, eps, affine)                   <->  nn.GroupNorm(G, C, eps, affine)
    Dropout(p) / Dropout2D(p)                      <->  nn.Dropout(p) / nn.Dropout2d(p)       (each side draws its own masks)
    ResidualBlock(body, projection)                <->  Residual(nn.Sequential(body), projection)   (the class below)

PyTorch is imported only inside these functions: it is never a numpycnn dependency.
"""
from collections import OrderedDict

import numpy as np

from .dropout import Dropout, Dropout2D
from .layers import (AdaptiveAvgPool2D, AdaptiveMaxPool2D, AvgPool2D, Conv2D, Dense, Flatten, LogSoftmax, MaxPool2D,
                     ReLU, Sigmoid, Tanh)
from .model import Sequential
from .normalization import BatchNorm1D, BatchNorm2D, GroupNorm, LayerNorm
from .residual import ResidualBlock


def _torch():
    try:
        import torch
    except ImportError:
        raise ImportError("numpycnn.export needs PyTorch, which numpycnn does not install; "
                          "pip install torch") from None
    return torch


_RESIDUAL = []


def torch_residual_class():
    """The PyTorch module for :class:`numpycnn.residual.ResidualBlock`: ``forward(x) = body(x) + skip``
    with ``skip = x`` or ``proj(x)``. Created once, on first use (PyTorch is imported only then)."""
    if not _RESIDUAL:
        nn = _torch().nn

        class Residual(nn.Module):
            """``y = body(x) + x`` (or ``+ proj(x)``) — numpycnn's ResidualBlock."""

            def __init__(self, body, proj=None):
                super().__init__()
                self.body = body
                self.proj = proj

            def forward(self, x):
                return self.body(x) + (x if self.proj is None else self.proj(x))

        _RESIDUAL.append(Residual)
    return _RESIDUAL[0]


def _to_torch_layer(name, layer, dtype):
    """The PyTorch module for one numpycnn layer, its arrays copied (``W * M`` when masked)."""
    torch = _torch()
    nn = torch.nn
    if isinstance(layer, Conv2D):
        m = nn.Conv2d(layer.in_channels, layer.out_channels, layer.kernel_size, stride=layer.stride,
                      padding=layer.pad, dilation=layer.dilation, groups=layer.groups, bias=layer.bias, dtype=dtype)
    elif isinstance(layer, Dense):
        m = nn.Linear(layer.in_features, layer.out_features, bias=layer.bias, dtype=dtype)
    elif isinstance(layer, MaxPool2D):
        m = nn.MaxPool2d(layer.kernel_size, stride=layer.stride, padding=layer.pad, dilation=layer.dilation,
                         ceil_mode=layer.ceil_mode)
    elif isinstance(layer, AvgPool2D):
        m = nn.AvgPool2d(layer.kernel_size, stride=layer.stride, padding=layer.pad, ceil_mode=layer.ceil_mode,
                         count_include_pad=layer.count_include_pad)
    elif isinstance(layer, (AdaptiveAvgPool2D, AdaptiveMaxPool2D)):
        m = (nn.AdaptiveAvgPool2d if isinstance(layer, AdaptiveAvgPool2D) else nn.AdaptiveMaxPool2d)(layer.output_size)
    elif isinstance(layer, ReLU):
        m = nn.ReLU()
    elif isinstance(layer, Sigmoid):
        m = nn.Sigmoid()
    elif isinstance(layer, Tanh):
        m = nn.Tanh()
    elif isinstance(layer, Flatten):
        m = nn.Flatten()
    elif isinstance(layer, LogSoftmax):
        m = nn.LogSoftmax(dim=1)
    elif isinstance(layer, (BatchNorm1D, BatchNorm2D)):
        m = (nn.BatchNorm2d if isinstance(layer, BatchNorm2D) else nn.BatchNorm1d)(
            layer.num_features, eps=layer.eps, momentum=layer.momentum, dtype=dtype)
    elif isinstance(layer, LayerNorm):
        m = nn.LayerNorm(layer.normalized_shape, eps=layer.eps, elementwise_affine=layer.elementwise_affine,
                         bias=layer.bias, dtype=dtype)
    elif isinstance(layer, GroupNorm):
        m = nn.GroupNorm(layer.num_groups, layer.num_channels, eps=layer.eps, affine=layer.affine, dtype=dtype)
    elif isinstance(layer, Dropout):                          # Dropout2D is a Dropout
        m = (nn.Dropout2d if isinstance(layer, Dropout2D) else nn.Dropout)(p=layer.p)
    elif isinstance(layer, ResidualBlock):
        body = nn.Sequential(OrderedDict((n, _to_torch_layer(n, l, dtype)) for n, l in layer.body.items()))
        proj = None if layer.projection is None else _to_torch_layer("proj", layer.projection, dtype)
        m = torch_residual_class()(body, proj)
    else:
        raise TypeError(f"to_torch: layer {name!r} of type {type(layer).__name__} has no PyTorch counterpart here")
    with torch.no_grad():
        # parameters are created in the model's dtype first, so float64 weights are never rounded
        if isinstance(layer, (Conv2D, Dense)):
            m.weight.copy_(torch.from_numpy(np.ascontiguousarray(layer.effective("W"))))
            if layer.bias:
                m.bias.copy_(torch.from_numpy(np.ascontiguousarray(layer.effective("b"))))
        elif isinstance(layer, (LayerNorm, GroupNorm)):
            for key, tensor in (("gamma", m.weight), ("beta", m.bias)):
                if key in layer.params:
                    tensor.copy_(torch.from_numpy(np.ascontiguousarray(layer.effective(key))))
        elif isinstance(layer, (BatchNorm1D, BatchNorm2D)):
            m.weight.copy_(torch.from_numpy(np.ascontiguousarray(layer.effective("gamma"))))
            m.bias.copy_(torch.from_numpy(np.ascontiguousarray(layer.effective("beta"))))
            m.running_mean.copy_(torch.from_numpy(np.ascontiguousarray(layer.buffers["running_mean"])))
            m.running_var.copy_(torch.from_numpy(np.ascontiguousarray(layer.buffers["running_var"])))
    return m


def to_torch(model):
    """The equivalent ``torch.nn.Sequential`` of a numpycnn ``Sequential``, weights copied (masks applied).

    Parameters
    ----------
    model : numpycnn.model.Sequential

    Returns
    -------
    torch.nn.Sequential in eval mode, dtype float32 or float64 as the model
    """
    torch = _torch()
    nn = torch.nn
    dtype = torch.float64 if np.dtype(model.dtype) == np.float64 else torch.float32
    modules = OrderedDict((name, _to_torch_layer(name, layer, dtype)) for name, layer in model.layers.items())
    return nn.Sequential(modules).to(dtype).eval()


def _hw(value):
    """PyTorch's int-or-tuple setting as numpycnn takes it (a tuple of ints or None, or the int / string itself)."""
    return tuple(None if v is None else int(v) for v in value) if isinstance(value, (tuple, list)) else value


def _from_torch_module(lname, m, dtype):
    """The numpycnn layer for one PyTorch module, its arrays copied."""
    nn = _torch().nn
    if isinstance(m, nn.Conv2d):
        if m.padding_mode != "zeros":
            raise ValueError(f"from_torch: layer {lname!r}: only zero padding is supported; got "
                             f"padding_mode={m.padding_mode!r}")
        layer = Conv2D(m.in_channels, m.out_channels, _hw(m.kernel_size), _hw(m.stride), _hw(m.padding),
                       _hw(m.dilation), m.groups, bias=m.bias is not None, dtype=dtype, name=lname)
    elif isinstance(m, nn.Linear):
        layer = Dense(m.in_features, m.out_features, bias=m.bias is not None, dtype=dtype, name=lname)
    elif isinstance(m, nn.MaxPool2d):
        if m.return_indices:
            raise ValueError(f"from_torch: layer {lname!r}: {m!r} returns indices, which numpycnn's MaxPool2D does not")
        layer = MaxPool2D(_hw(m.kernel_size), _hw(m.stride), _hw(m.padding), _hw(m.dilation), bool(m.ceil_mode),
                          name=lname)
    elif isinstance(m, nn.AvgPool2d):
        if m.divisor_override:
            raise ValueError(f"from_torch: layer {lname!r}: {m!r} uses divisor_override, which numpycnn's AvgPool2D "
                             f"lacks")
        layer = AvgPool2D(_hw(m.kernel_size), _hw(m.stride), _hw(m.padding), bool(m.ceil_mode),
                          bool(m.count_include_pad), name=lname)
    elif isinstance(m, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)):
        if getattr(m, "return_indices", False):
            raise ValueError(f"from_torch: layer {lname!r}: {m!r} returns indices, which numpycnn's does not")
        cls = AdaptiveAvgPool2D if isinstance(m, nn.AdaptiveAvgPool2d) else AdaptiveMaxPool2D
        layer = cls(_hw(m.output_size), name=lname)
    elif isinstance(m, nn.LayerNorm):
        layer = LayerNorm(tuple(m.normalized_shape), eps=m.eps, elementwise_affine=m.elementwise_affine,
                          bias=m.bias is not None or not m.elementwise_affine, dtype=dtype, name=lname)
        _copy_affine(layer, m, dtype)
    elif isinstance(m, nn.GroupNorm):
        layer = GroupNorm(m.num_groups, m.num_channels, eps=m.eps, affine=m.affine, dtype=dtype, name=lname)
        _copy_affine(layer, m, dtype)
    elif isinstance(m, (nn.ReLU, nn.Sigmoid, nn.Tanh)):
        layer = {nn.ReLU: ReLU, nn.Sigmoid: Sigmoid, nn.Tanh: Tanh}[type(m)](name=lname)
    elif isinstance(m, nn.Flatten):
        if m.start_dim != 1 or m.end_dim != -1:
            raise ValueError(f"from_torch: layer {lname!r}: Flatten must flatten dims 1..-1; "
                             f"got start_dim={m.start_dim}, end_dim={m.end_dim}")
        layer = Flatten(name=lname)
    elif isinstance(m, nn.LogSoftmax):
        if m.dim not in (1, -1):
            raise ValueError(f"from_torch: layer {lname!r}: LogSoftmax must use dim=1; got dim={m.dim}")
        layer = LogSoftmax(name=lname)
    elif type(m) in (nn.BatchNorm1d, nn.BatchNorm2d):
        if not m.affine or not m.track_running_stats or m.momentum is None:
            raise ValueError(f"from_torch: layer {lname!r}: {m!r} must have affine=True, track_running_stats=True "
                             f"and a momentum (numpycnn's BatchNorm always has all three)")
        cls = BatchNorm2D if isinstance(m, nn.BatchNorm2d) else BatchNorm1D
        layer = cls(m.num_features, eps=m.eps, momentum=m.momentum, dtype=dtype, name=lname)
        layer.params["gamma"] = m.weight.detach().cpu().numpy().astype(dtype)
        layer.params["beta"] = m.bias.detach().cpu().numpy().astype(dtype)
        layer.buffers["running_mean"] = m.running_mean.detach().cpu().numpy().astype(dtype)
        layer.buffers["running_var"] = m.running_var.detach().cpu().numpy().astype(dtype)
    elif type(m) in (nn.Dropout, nn.Dropout2d):
        layer = (Dropout2D if isinstance(m, nn.Dropout2d) else Dropout)(m.p, name=lname)
    elif isinstance(m, torch_residual_class()):
        body = [(n, _from_torch_module(n, c, dtype)) for n, c in m.body.named_children()]
        proj = None if m.proj is None else _from_torch_module("proj", m.proj, dtype)
        layer = ResidualBlock(body, projection=proj, name=lname)
    else:
        raise TypeError(f"from_torch: layer {lname!r} of type {type(m).__name__} is not supported; "
                        f"supported: Conv2d, Linear, MaxPool2d, AvgPool2d, AdaptiveAvgPool2d, AdaptiveMaxPool2d, "
                        f"ReLU, Sigmoid, Tanh, Flatten, LogSoftmax, BatchNorm1d, BatchNorm2d, LayerNorm, GroupNorm, "
                        f"Dropout, Dropout2d, and the Residual module of numpycnn.export.torch_residual_class()")
    if isinstance(m, (nn.Conv2d, nn.Linear)):
        layer.params["W"] = m.weight.detach().cpu().numpy().astype(dtype)
        if m.bias is not None:
            layer.params["b"] = m.bias.detach().cpu().numpy().astype(dtype)
        layer.grads = {k: np.zeros_like(v) for k, v in layer.params.items()}
    return layer


def _copy_affine(layer, m, dtype):
    """Copy a LayerNorm's or GroupNorm's ``weight`` / ``bias`` into ``gamma`` / ``beta`` (those it has)."""
    for key, tensor in (("gamma", m.weight), ("beta", m.bias)):
        if key in layer.params:
            layer.params[key] = tensor.detach().cpu().numpy().astype(dtype)
    layer.grads = {k: np.zeros_like(v) for k, v in layer.params.items()}


def from_torch(module, input_shape, dtype=np.float32, name="from_torch"):
    """A numpycnn ``Sequential`` equal to a ``torch.nn.Sequential`` of supported layers.

    Parameters
    ----------
    module : torch.nn.Sequential of Conv2d (zero padding), Linear, MaxPool2d (without return_indices),
        AvgPool2d (without divisor_override), AdaptiveAvgPool2d / AdaptiveMaxPool2d (output sizes that
        divide the input), ReLU, Sigmoid, Tanh, Flatten, LogSoftmax, BatchNorm1d, BatchNorm2d (affine,
        with running statistics), LayerNorm, GroupNorm, Dropout, Dropout2d, and
        :func:`torch_residual_class` modules (what :func:`to_torch` makes of a ``ResidualBlock``)
    input_shape : tuple (C, H, W) or (D,) — the shape of one input sample
    dtype : numpy float dtype of the parameters
    """
    nn = _torch().nn
    if not isinstance(module, nn.Sequential):
        raise TypeError(f"from_torch: module must be a torch.nn.Sequential; got {type(module).__name__}")
    layers = [(lname, _from_torch_module(lname, m, dtype)) for lname, m in module.named_children()]
    return Sequential(layers, input_shape=tuple(input_shape), name=name)
