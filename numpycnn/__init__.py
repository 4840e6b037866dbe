"""numpycnn — a readable, verified, pure-NumPy convolutional network library.

Start here::

    import numpycnn as nc
    data = nc.datasets.load_dataset("digits")
    model = nc.zoo.small_cnn(data.input_shape)
    trainer = nc.Trainer(model, nc.optim.Adam(model, lr=1e-3))
    trainer.fit(data.train, data.val, epochs=10)

Map of the package: ``im2col`` (the kernel), ``conv`` / ``pooling`` (functional
forward/backward + naive references), ``layers``, ``losses``, ``init``, ``model``
(``Sequential``), ``optim``, ``training`` (``Trainer``), ``datasets``, ``gradcheck``,
``io`` (save/load), ``validate`` (argument checks), ``plots``, ``zoo`` and one module per
technique (A–E).
"""
__version__ = "0.1.0"

from . import conv, datasets, errors, gradcheck, im2col, init, layers, losses, model, optim, plots, pooling, storage, zoo
from .layers import AvgPool2D, Conv2D, Dense, Flatten, MaxPool2D, ReLU, Sigmoid, Tanh
from .losses import SoftmaxCrossEntropy
from .model import Sequential
from .training import Callback, Trainer
from . import techniques  # noqa: E402  (last: the techniques build on everything above; B registers "direction")

__all__ = ["AvgPool2D", "Callback", "Conv2D", "Dense", "Flatten", "MaxPool2D", "ReLU", "Sequential", "Sigmoid",
           "SoftmaxCrossEntropy", "Tanh", "Trainer", "conv", "datasets", "errors", "gradcheck", "im2col", "init",
           "layers", "losses", "model", "optim", "plots", "pooling", "storage", "zoo"]
