"""Hand a numpycnn model to PyTorch and back.

``to_torch(model)`` builds the equivalent ``torch.nn.Sequential`` (same layer names, same
dtype) and copies the weights as the forward pass uses them (``W * M`` when a layer is
masked, techniques C and E). ``from_torch(module, input_shape)`` does the reverse for the
layer types numpycnn has.

Layer correspondence::

    Conv2D(C_in, C_out, k, stride, pad)  <->  nn.Conv2d(C_in, C_out, k, stride, padding=pad)   W: (C_out, C_in, k, k)
    Dense(D_in, D_out)                   <->  nn.Linear(D_in, D_out)                            W: (D_out, D_in)
    MaxPool2D(k, stride, pad)            <->  nn.MaxPool2d(k, stride, padding=pad)
    AvgPool2D(k, stride, pad)            <->  nn.AvgPool2d(k, stride, padding=pad)   (count_include_pad=True)
    ReLU / Sigmoid / Tanh                <->  nn.ReLU / nn.Sigmoid / nn.Tanh
    Flatten                              <->  nn.Flatten()                          (dims 1..end)
    LogSoftmax                           <->  nn.LogSoftmax(dim=1)

PyTorch is imported only inside these functions: it is never a numpycnn dependency.
"""
from collections import OrderedDict

import numpy as np

from .layers import AvgPool2D, Conv2D, Dense, Flatten, LogSoftmax, MaxPool2D, ReLU, Sigmoid, Tanh
from .model import Sequential


def _torch():
    try:
        import torch
    except ImportError:
        raise ImportError("numpycnn.export needs PyTorch, which numpycnn does not install; "
                          "pip install torch") from None
    return torch


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
    modules = OrderedDict()
    for name, layer in model.layers.items():
        kind = type(layer).__name__
        if kind == "Conv2D":
            m = nn.Conv2d(layer.in_channels, layer.out_channels, layer.kernel_size, stride=layer.stride,
                          padding=layer.pad, dtype=dtype)
        elif kind == "Dense":
            m = nn.Linear(layer.in_features, layer.out_features, dtype=dtype)
        elif kind == "MaxPool2D":
            m = nn.MaxPool2d(layer.kernel_size, stride=layer.stride, padding=layer.pad)
        elif kind == "AvgPool2D":
            m = nn.AvgPool2d(layer.kernel_size, stride=layer.stride, padding=layer.pad, count_include_pad=True)
        elif kind in ("ReLU", "Sigmoid", "Tanh"):
            m = getattr(nn, kind)()
        elif kind == "Flatten":
            m = nn.Flatten()
        elif kind == "LogSoftmax":
            m = nn.LogSoftmax(dim=1)
        else:
            raise TypeError(f"to_torch: layer {name!r} of type {kind} has no PyTorch counterpart here")
        if kind in ("Conv2D", "Dense"):
            with torch.no_grad():
                # parameters are created in the model's dtype first, so float64 weights are never rounded
                m.weight.copy_(torch.from_numpy(np.ascontiguousarray(layer.effective("W"))))
                m.bias.copy_(torch.from_numpy(np.ascontiguousarray(layer.effective("b"))))
        modules[name] = m
    return nn.Sequential(modules).to(dtype).eval()


def _pair(value, what, name):
    if isinstance(value, tuple):
        if len(set(value)) != 1:
            raise ValueError(f"from_torch: layer {name!r}: {what} must be the same along height and width "
                             f"(numpycnn layers are square); got {value}")
        value = value[0]
    return int(value)


def from_torch(module, input_shape, dtype=np.float32, name="from_torch"):
    """A numpycnn ``Sequential`` equal to a ``torch.nn.Sequential`` of supported layers.

    Parameters
    ----------
    module : torch.nn.Sequential of Conv2d, Linear, MaxPool2d, AvgPool2d, ReLU, Sigmoid, Tanh,
        Flatten, LogSoftmax (square kernels, no dilation/groups, ceil_mode False)
    input_shape : tuple (C, H, W) or (D,) — the shape of one input sample
    dtype : numpy float dtype of the parameters
    """
    torch = _torch()
    nn = torch.nn
    if not isinstance(module, nn.Sequential):
        raise TypeError(f"from_torch: module must be a torch.nn.Sequential; got {type(module).__name__}")
    layers = []
    for lname, m in module.named_children():
        if isinstance(m, nn.Conv2d):
            if _pair(m.dilation, "dilation", lname) != 1 or m.groups != 1 or m.padding_mode != "zeros":
                raise ValueError(f"from_torch: layer {lname!r}: only dilation=1, groups=1, zero padding are "
                                 f"supported; got dilation={m.dilation}, groups={m.groups}, "
                                 f"padding_mode={m.padding_mode!r}")
            layer = Conv2D(m.in_channels, m.out_channels, _pair(m.kernel_size, "kernel_size", lname),
                           _pair(m.stride, "stride", lname), _pair(m.padding, "padding", lname), dtype=dtype,
                           name=lname)
        elif isinstance(m, nn.Linear):
            layer = Dense(m.in_features, m.out_features, dtype=dtype, name=lname)
        elif isinstance(m, (nn.MaxPool2d, nn.AvgPool2d)):
            if m.ceil_mode or (isinstance(m, nn.MaxPool2d) and _pair(m.dilation, "dilation", lname) != 1) or \
                    (isinstance(m, nn.AvgPool2d) and (not m.count_include_pad or m.divisor_override)):
                raise ValueError(f"from_torch: layer {lname!r}: {m!r} uses options numpycnn pooling lacks "
                                 f"(ceil_mode, dilation, count_include_pad=False, divisor_override)")
            cls = MaxPool2D if isinstance(m, nn.MaxPool2d) else AvgPool2D
            k = _pair(m.kernel_size, "kernel_size", lname)
            stride = k if m.stride is None else _pair(m.stride, "stride", lname)
            layer = cls(k, stride, _pair(m.padding, "padding", lname), name=lname)
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
        else:
            raise TypeError(f"from_torch: layer {lname!r} of type {type(m).__name__} is not supported; "
                            f"supported: Conv2d, Linear, MaxPool2d, AvgPool2d, ReLU, Sigmoid, Tanh, Flatten, "
                            f"LogSoftmax")
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            layer.params["W"] = m.weight.detach().cpu().numpy().astype(dtype)
            b = m.bias.detach().cpu().numpy() if m.bias is not None else np.zeros(m.weight.shape[0])
            layer.params["b"] = b.astype(dtype)
            layer.grads = {k: np.zeros_like(v) for k, v in layer.params.items()}
        layers.append((lname, layer))
    return Sequential(layers, input_shape=tuple(input_shape), name=name)
