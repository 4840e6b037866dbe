"""One builder: ``train`` options in, a model and its optimizer out (and the trainer that trains them).

``python -m numpycnn train``, technique D (once per network) and every ``compare`` experiment build
here, so an option means the same thing everywhere::

    opts = options(width=8, sparsity=0.9, optimizer="momentum", momentum=0.5)   # CLI defaults + these
    model, optimizer = build(opts, data.input_shape, data.num_classes, data=data)
    trainer = trainer_for(opts, model, optimizer, data)   # + the techniques' callbacks
    trainer = make_trainer(opts, data)       # both in one; m networks for technique D

What :func:`build` applies, in this order:

1. the zoo model ``--model`` (default ``small_cnn`` on digits, ``lenet5`` otherwise) with its sizes
   (``--width``, ``--depth``, ``--pool-every``, ``--hidden``), ``--activation`` and the seed; its conv
   weights multiplied by ``--init-gain`` when that is not 1;
2. a ``LogSoftmax`` layer for ``--loss nll``;
3. the data's preprocessing as the model's metadata (when ``data`` is given), so a saved model
   can reapply it;
4. every technique's model preparation (``prepare_model``: technique C's masks — SNIP and
   ``--mask-candidates`` need ``data``);
5. the optimizer ``--optimizer`` from the optimizer registry (``adamw``: AdamW, decoupled weight decay), with
   ``--lr``, ``--momentum`` (sgd, momentum, nesterov) and ``--weight-decay`` (each left out takes the
   optimizer's own default), and the techniques' options (``optimizer_options``: technique B's
   ``--alpha0 --direction-c --decay --decay-threshold --decay-mode`` for ``--optimizer direction``);
6. a learning-rate schedule (:mod:`numpycnn.schedules`) when ``--schedule`` is given: ``constant``,
   ``step`` (``--schedule-step-size``, ``--schedule-gamma``), ``exponential`` (``--schedule-gamma``,
   ``--lr-floor``) or ``cosine`` to ``--lr-floor`` over the run (``--max-steps``, or ``--epochs`` × the
   batches of ``data``). For ``--optimizer direction`` it replaces the text's step decay.

:func:`trainer_for` wraps a model and its optimizer in a :class:`~numpycnn.training.Trainer` with the
loop's options (:func:`trainer_options`) and the techniques' callbacks (:func:`callbacks`: technique A's
branches, technique E's schedule), plus any an experiment adds; :func:`make_trainer` does both, or lets
technique D build its m networks with :func:`build`. The techniques' hooks are the methods of
:class:`numpycnn.techniques.technique.Technique`.
"""
import argparse
import difflib
import functools
import math

import numpy as np

from ..augment import parse_augment
from ..datasets import DATASETS
from ..losses import LOSSES, get_loss
from ..model import with_log_softmax
from ..optim import OPTIMIZERS, make_optimizer
from ..schedules import SCHEDULES, Constant, Cosine, Exponential, StepDecay
from .. import techniques
from ..training import Trainer
from ..validate import choice
from ..zoo import MODELS, build_model

#: the optimizers whose ``--momentum`` applies
MOMENTUM_OPTIMIZERS = ("sgd", "momentum", "nesterov")


def add_data_arguments(parser):
    """``--dataset --data-dir --train-limit --test-limit --val-fraction --grayscale``."""
    p = parser
    p.add_argument("--dataset", default="digits", choices=DATASETS, help="dataset (default: digits, embedded)")
    p.add_argument("--data-dir", default=None, help="folder with the dataset files (default: $NUMPYCNN_DATA if set, "
                                                    "else /usr/share/datasets/fashion-mnist); a folder without "
                                                    "them is an error")
    p.add_argument("--train-limit", type=int, default=None, help="use only this many training images")
    p.add_argument("--test-limit", type=int, default=None, help="use only this many test images")
    p.add_argument("--val-fraction", type=float, default=0.1, help="fraction of training data held out (default 0.1)")
    p.add_argument("--grayscale", action="store_true", help="convert CIFAR-10 to one gray channel")


def add_train_arguments(parser):
    """Every ``train`` option: data, model, optimizer, loop, run folder, and each technique's flags."""
    p = parser
    add_data_arguments(p)
    p.add_argument("--model", default=None, choices=sorted(MODELS),
                   help="architecture (default: small_cnn on digits, lenet5 otherwise)")
    p.add_argument("--activation", default="relu", choices=["relu", "sigmoid", "tanh"])
    p.add_argument("--depth", type=int, default=None, help="conv layers of plain_cnn (default 8)")
    p.add_argument("--width", type=int, default=None, help="filters per conv layer (small_cnn, plain_cnn, vanilla_cnn)")
    p.add_argument("--pool-every", type=int, default=None,
                   help="plain_cnn: a 2x2 max pool after every N conv layers (default: spread so the map shrinks at "
                        "most twice)")
    p.add_argument("--hidden", type=widths, default=None, help="mlp: the hidden layers' widths, e.g. 300,100 (the "
                                                               "default)")
    p.add_argument("--init-gain", type=float, default=1.0,
                   help="multiply every conv layer's initial weights by this factor (default 1: the initialiser's "
                        "own scale; technique A's experiment probes 1 and 2 for a deep sigmoid net)")
    p.add_argument("--optimizer", default="adam", choices=sorted(OPTIMIZERS))
    p.add_argument("--lr", type=float, default=None, help="learning rate (default: the optimizer's; adam 1e-3)")
    p.add_argument("--momentum", type=float, default=None, help="momentum for sgd/momentum/nesterov")
    p.add_argument("--weight-decay", type=float, default=None,
                   help="weight decay (default: the optimizer's: 0, adamw 0.01); L2 in the gradient, decoupled "
                        "for adamw")
    p.add_argument("--schedule", default=None, choices=sorted(SCHEDULES),
                   help="learning-rate schedule (default: none; technique B keeps its own step decay)")
    p.add_argument("--schedule-step-size", type=int, default=None, help="step: updates between decays")
    p.add_argument("--schedule-gamma", type=float, default=None,
                   help="step: factor per decay (default 0.1); exponential: factor per update (required)")
    p.add_argument("--lr-floor", type=float, default=0.0,
                   help="cosine / exponential: the lowest learning rate, as a fraction of the first (default 0)")
    p.add_argument("--augment", default=None,
                   help="random views of every batch: 'shift:2' (up to 2 pixels), 'flip' (left-right), or both "
                        "'shift:2,flip' (default: none)")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--max-steps", type=int, default=None, help="stop after this many iterations")
    p.add_argument("--target-loss", type=float, default=None, help="stop when an epoch's training loss <= this")
    p.add_argument("--target-accuracy", type=float, default=None, help="stop when validation accuracy >= this")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="run folder (default runs/<dataset>-<model>-seed<seed>)")
    p.add_argument("--resume", action="store_true", help="continue from <out>/checkpoint.npz")
    p.add_argument("--checkpoint-every", type=int, default=None, help="also checkpoint every N iterations")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--threads", type=int, default=None,
                   help="threads (and processes) numpycnn and BLAS may use (default: BLAS's configuration; setting "
                        "it also splits every training step over that many processes, which changes the rounding)")
    p.add_argument("--loss", default="cross_entropy", choices=sorted(LOSSES),
                   help="training loss (nll appends a LogSoftmax layer to the model)")
    p.add_argument("--quiet", action="store_true",
                   help="the techniques print nothing (mask structure, branch placement, RePr's phases)")
    for technique in techniques.TECHNIQUES:
        technique.add_train_arguments(p)


def train_parser(prog="python -m numpycnn train"):
    """An ``argparse`` parser of every ``train`` option (what :func:`options` fills in)."""
    parser = argparse.ArgumentParser(prog=prog, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    add_train_arguments(parser)
    return parser


def options(**overrides):
    """Every ``train`` option with the command line's defaults, as an ``argparse.Namespace``.

    Parameters
    ----------
    **overrides
        Options by their Python names, e.g. ``options(batch_size=32, sparsity=0.9, optimizer="sgd")``
        (``--batch-size`` is ``batch_size``). An unknown name, or a value outside an option's
        choices, is a ``ValueError`` naming it.

    Returns
    -------
    argparse.Namespace — what ``python -m numpycnn train`` would parse, with the overrides applied
    """
    parser = train_parser()
    opts = parser.parse_args([])
    known = vars(opts)
    for name, value in overrides.items():
        if name not in known:
            close = difflib.get_close_matches(name, known, n=3)
            hint = f"; did you mean {' or '.join(map(repr, close))}?" if close else ""
            raise ValueError(f"options: unknown train option {name!r}{hint} (the options are {sorted(known)})")
        action = next(a for a in parser._actions if a.dest == name)     # argparse keeps its actions here
        if action.choices is not None:
            choice(value, name, "options", sorted(action.choices))
        setattr(opts, name, value)
    return opts


def widths(text):
    """``"300,100"`` -> ``(300, 100)`` (``--hidden``); an error naming the text otherwise."""
    try:
        out = tuple(int(v) for v in text.split(","))
    except ValueError:
        out = ()
    if not out or min(out) < 1:
        raise argparse.ArgumentTypeError(f"expected positive integers separated by commas, like 300,100; got {text!r}")
    return out


def model_name(opts):
    """The zoo model of ``opts``: ``--model``, or ``small_cnn`` on digits and ``lenet5`` otherwise."""
    return opts.model or ("small_cnn" if opts.dataset == "digits" else "lenet5")


def build(opts, input_shape, num_classes, seed=None, data=None):
    """A model and its optimizer from ``train`` options (steps 1–5 of the module docstring).

    Parameters
    ----------
    opts : argparse.Namespace — from :func:`options` or the ``train`` command line
    input_shape : tuple (C, H, W) or (D,); num_classes : int
    seed : int, optional — the model's initial weights and its masks (default ``opts.seed``)
    data : DataSplits, optional — for the preparation that needs data (SNIP, ``--mask-candidates``);
        its preprocessing is recorded in the model's metadata

    Returns
    -------
    (model, optimizer) : (Sequential, Optimizer)
    """
    seed = opts.seed if seed is None else seed
    sizes = {k: getattr(opts, k) for k in ("width", "depth", "pool_every", "hidden") if getattr(opts, k) is not None}
    model = build_model(model_name(opts), input_shape, num_classes, opts.activation, seed=seed, **sizes)
    if opts.init_gain != 1:
        for name in model.conv_layers():
            W = model[name].params["W"]
            model[name].params["W"] = W * np.asarray(opts.init_gain, dtype=W.dtype)
    if opts.loss == "nll":
        model = with_log_softmax(model)
    if data is not None:
        model.metadata = {"dataset": data.metadata()}
    for technique in techniques.TECHNIQUES:
        technique.prepare_model(opts, model, seed, data)
    return model, with_schedule(optimizer_for(opts, model), opts, data)


def optimizer_for(opts, model):
    """The optimizer of ``opts`` for ``model`` (step 5 of the module docstring), from the optimizer registry.

    ``make_optimizer(--optimizer, model, lr=--lr, weight_decay=--weight-decay)``, with ``--momentum`` for the
    optimizers it applies to, and each technique's :meth:`~numpycnn.techniques.technique.Technique.optimizer_options`
    (technique B's flags for ``--optimizer direction``, ``--alpha0`` replacing ``--lr``).
    """
    kwargs = {"lr": opts.lr}
    if opts.weight_decay is not None:             # None: the optimizer's own default
        kwargs["weight_decay"] = opts.weight_decay
    if opts.momentum is not None and opts.optimizer in MOMENTUM_OPTIMIZERS:
        kwargs["momentum"] = opts.momentum
    for technique in techniques.TECHNIQUES:
        kwargs.update(technique.optimizer_options(opts))
    return make_optimizer(opts.optimizer, model, **kwargs)


def with_schedule(optimizer, opts, data=None):
    """Attach the learning-rate schedule of ``--schedule`` (step 6 of the module docstring); returns the optimizer."""
    name = opts.schedule
    if name is None:
        return optimizer
    if name == "constant":
        schedule = Constant()
    elif name == "step":
        if opts.schedule_step_size is None:
            raise ValueError("--schedule step needs --schedule-step-size N (updates between two decays)")
        schedule = StepDecay(opts.schedule_step_size, 0.1 if opts.schedule_gamma is None else opts.schedule_gamma)
    elif name == "exponential":
        if opts.schedule_gamma is None:
            raise ValueError("--schedule exponential needs --schedule-gamma G (the factor per update, e.g. 0.9997)")
        schedule = Exponential(opts.schedule_gamma, floor=opts.lr_floor)
    else:
        total = opts.max_steps
        if total is None and data is not None:
            total = opts.epochs * math.ceil(len(data.train) / opts.batch_size)
        if total is None:
            raise ValueError("--schedule cosine needs the length of the run: --max-steps N (or build with data=)")
        schedule = Cosine(total, floor=opts.lr_floor)
    optimizer.schedule = schedule
    return optimizer


def callbacks(opts, model, data=None):
    """The techniques' training callbacks for ``model`` (technique A's branches, technique E's schedule)."""
    out = []
    for technique in techniques.TECHNIQUES:
        out += technique.extra_callbacks(opts, model, data)
    return out


def trainer_options(opts):
    """The :class:`~numpycnn.training.Trainer` keyword arguments of ``opts``: ``--seed``, ``--batch-size``,
    ``--checkpoint-every``, ``--no-progress`` and ``--augment``."""
    return dict(seed=opts.seed, batch_size=opts.batch_size, checkpoint_every=opts.checkpoint_every,
                progress=not opts.no_progress, augment=parse_augment(opts.augment))


def trainer_for(opts, model, optimizer, data=None, extra_callbacks=(), **overrides):
    """A :class:`~numpycnn.training.Trainer` of ``model`` and ``optimizer`` with the options of ``opts``.

    Its loss is ``--loss``, its callbacks the techniques' (:func:`callbacks`) followed by ``extra_callbacks``
    (an experiment's own measurements), its loop options :func:`trainer_options`, with ``overrides`` for
    any :class:`~numpycnn.training.Trainer` argument (e.g. ``augment_stream=i``).
    """
    kwargs = {**trainer_options(opts), **overrides}
    return Trainer(model, optimizer, loss=get_loss(opts.loss), callbacks=[*callbacks(opts, model, data),
                                                                          *extra_callbacks], **kwargs)


def make_trainer(opts, data):
    """The trainer ``python -m numpycnn train`` runs: :func:`build`, then :func:`trainer_for`; or a
    technique's own trainer (technique D with ``--networks m``, which calls :func:`build` once per network)."""
    build_network = functools.partial(build, opts, data.input_shape, data.num_classes, data=data)
    for technique in techniques.TECHNIQUES:
        trainer = technique.build_trainer(opts, build_network, **trainer_options(opts))
        if trainer is not None:
            return trainer
    model, optimizer = build_network(seed=opts.seed)
    return trainer_for(opts, model, optimizer, data)
