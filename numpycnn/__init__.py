"""numpycnn — a readable, verified, pure-NumPy convolutional network library.

Start here::

    import numpycnn as nc
    data = nc.datasets.load_dataset("digits")
    model = nc.zoo.small_cnn(data.input_shape)
    trainer = nc.Trainer(model, nc.optim.Adam(model, lr=1e-3))
    trainer.fit(data.train, data.val, epochs=10)

Map of the package: ``im2col`` (the kernel), ``conv`` / ``pooling`` (functional
forward/backward + naive references), ``layers``, ``normalization`` (BatchNorm), ``dropout``,
``residual`` (a residual block), ``losses``, ``init``, ``model``
(``Sequential``), ``optim``, ``training`` (``Trainer``), ``datasets``, ``gradcheck``,
``io`` (save/load), ``validate`` (argument checks), ``plots``, ``zoo`` and one module per
technique (A–E).
"""
__version__ = "0.1.0"

from . import conv, datasets, errors, gradcheck, im2col, init, io, layers, losses, model, optim, plots, pooling, zoo
from . import dropout, normalization, residual
from .dropout import Dropout, Dropout2D
from .layers import AvgPool2D, Conv2D, Dense, Flatten, MaxPool2D, ReLU, Sigmoid, Tanh
from .normalization import BatchNorm1D, BatchNorm2D
from .residual import ResidualBlock
from .losses import SoftmaxCrossEntropy
from .model import Sequential
from .training import Callback, Trainer

__all__ = ["AvgPool2D", "BatchNorm1D", "BatchNorm2D", "Callback", "Conv2D", "Dense", "Dropout", "Dropout2D",
           "Flatten", "MaxPool2D", "ReLU", "ResidualBlock", "Sequential", "Sigmoid", "SoftmaxCrossEntropy", "Tanh",
           "Trainer", "conv", "datasets", "dropout", "errors", "gradcheck", "im2col", "init", "io", "layers",
           "losses", "model", "normalization", "optim", "plots", "pooling", "residual", "zoo"]
