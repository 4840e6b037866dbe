"""numpycnn — a readable, verified, pure-NumPy convolutional network library.

Start here::

    import numpycnn as nc
    data = nc.datasets.load_dataset("digits")
    model = nc.zoo.small_cnn(data.input_shape)
    trainer = nc.Trainer(model, nc.optim.Adam(model, lr=1e-3))
    trainer.fit(data.train, data.val, epochs=10)

Map of the library, from the ground floor up (imports only go down; tests/test_import_graph.py
checks it): ``errors``, ``functional`` (softmax, log-softmax, one-hot), ``init``; ``validate``
(argument checks), ``storage`` (atomic ``.npz`` + JSON files), ``im2col`` (the sliding windows as
views and matrices), ``threads`` (how many threads the kernels use: ``numpycnn.threads.set_threads(n)``);
``conv`` (the textbook convolution and its loop references), ``fast_conv`` (the convolution Conv2D trains
with), ``pooling`` (the textbook pooling and its loop references), ``fast_pooling`` (the max pooling
MaxPool2D trains with), ``losses``, ``optim``, ``datasets``; ``layers`` (with the switch between the fast
and the textbook implementations, ``use_implementation``), ``normalization`` (BatchNorm, LayerNorm, GroupNorm),
``dropout``, ``residual`` (a residual block), ``gradcheck``; ``model`` (``Sequential``, model files);
``zoo``, ``callbacks`` (the loop's hooks), ``training`` (``Trainer``), ``plots``, ``predict``,
``export``, ``interpret`` (gradients with respect to the input, occlusion maps); ``techniques`` (A–E;
what each claims: docs/claims.md), imported on their own
(``from numpycnn.techniques import gradient_direction``): ``import numpycnn`` loads the library only, and a
technique's optimizer (technique B's ``"direction"``) is known to ``make_optimizer`` once its module is
imported.

Above the library stands the lab, :mod:`numpycnn.lab` — the command line (``python -m numpycnn``),
the builder of networks from options, the experiments, the course's tools — which the library never
imports.
"""
__version__ = "0.1.0"

from . import (augment, callbacks, conv, datasets, dropout, errors, fast_conv, fast_pooling, functional, gradcheck,
               im2col, init, interpret, layers, losses, model, normalization, optim, plots, pooling, residual,
               schedules, storage, threads, validate, zoo)
from .dropout import Dropout, Dropout2D
from .layers import (AdaptiveAvgPool2D, AdaptiveMaxPool2D, AvgPool2D, Conv2D, Dense, Flatten, MaxPool2D, ReLU, Sigmoid,
                     Tanh)
from .normalization import BatchNorm1D, BatchNorm2D, GroupNorm, LayerNorm
from .residual import ResidualBlock
from .losses import SoftmaxCrossEntropy
from .model import Sequential
from .callbacks import Callback
from .training import Trainer

__all__ = ["AdaptiveAvgPool2D", "AdaptiveMaxPool2D", "AvgPool2D", "BatchNorm1D", "BatchNorm2D", "Callback", "Conv2D",
           "Dense", "Dropout", "Dropout2D", "Flatten", "GroupNorm", "LayerNorm", "MaxPool2D", "ReLU", "ResidualBlock",
           "Sequential", "Sigmoid", "SoftmaxCrossEntropy", "Tanh", "Trainer", "augment", "callbacks", "conv",
           "datasets", "dropout", "errors", "fast_conv", "fast_pooling", "functional", "gradcheck", "im2col", "init",
           "interpret", "layers", "losses", "model", "normalization", "optim", "plots", "pooling", "residual",
           "schedules", "storage", "threads", "validate", "zoo"]
