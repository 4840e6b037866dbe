"""Command line: ``python -m numpycnn [command] [options]``.

Commands
--------
(none) / ``demo``  train a small CNN on the embedded 8x8 digits (under a minute)
``train``          train any zoo model on any dataset, with the techniques' flags
``gradcheck``      check every layer's backward pass against central differences
``compare NAME``   run a technique's experiment against its baseline
plus the commands in :mod:`numpycnn.commands` (found automatically).
"""
import argparse
import importlib
import json
import os
import pkgutil
import sys
import time
from dataclasses import dataclass, field



@dataclass
class TrainSetup:
    """What ``train`` builds, handed to the techniques' plug-in functions in order."""
    args: argparse.Namespace
    data: object = None
    model: object = None
    optimizer: object = None
    callbacks: list = field(default_factory=list)
    trainer: object = None


def technique_modules():
    """Import every module of :mod:`numpycnn.techniques` (each may plug into ``train``)."""
    from . import techniques
    mods = []
    for info in sorted(pkgutil.iter_modules(techniques.__path__), key=lambda i: i.name):
        if not info.name.startswith("_"):
            mods.append(importlib.import_module(f"numpycnn.techniques.{info.name}"))
    return mods


def command_modules():
    from . import commands
    mods = []
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda i: i.name):
        if not info.name.startswith("_"):
            mod = importlib.import_module(f"numpycnn.commands.{info.name}")
            if hasattr(mod, "NAME"):
                mods.append(mod)
    return mods


def add_data_arguments(p):
    from .datasets import DATASETS
    p.add_argument("--dataset", default="digits", choices=DATASETS, help="dataset (default: digits, embedded)")
    p.add_argument("--data-dir", default=None, help="folder with the dataset files (else $NUMPYCNN_DATA, "
                                                    "then /usr/share/datasets/fashion-mnist)")
    p.add_argument("--train-limit", type=int, default=None, help="use only this many training images")
    p.add_argument("--test-limit", type=int, default=None, help="use only this many test images")
    p.add_argument("--val-fraction", type=float, default=0.1, help="fraction of training data held out (default 0.1)")
    p.add_argument("--grayscale", action="store_true", help="convert CIFAR-10 to one gray channel")


def add_train_arguments(p):
    from .optim import OPTIMIZERS
    from .zoo import MODELS
    add_data_arguments(p)
    p.add_argument("--model", default=None, choices=sorted(MODELS),
                   help="architecture (default: small_cnn on digits, lenet5 otherwise)")
    p.add_argument("--activation", default="relu", choices=["relu", "sigmoid", "tanh"])
    p.add_argument("--depth", type=int, default=None, help="conv layers of plain_cnn (default 8)")
    p.add_argument("--width", type=int, default=None, help="filters per conv layer (small_cnn, plain_cnn, vanilla_cnn)")
    p.add_argument("--optimizer", default="adam", choices=sorted(OPTIMIZERS))
    p.add_argument("--lr", type=float, default=None, help="learning rate (default: the optimizer's; adam 1e-3)")
    p.add_argument("--momentum", type=float, default=None, help="momentum for sgd/momentum/nesterov")
    p.add_argument("--weight-decay", type=float, default=0.0)
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
    p.add_argument("--loss", default="cross_entropy", choices=["cross_entropy", "nll", "hinge", "squared_hinge"],
                   help="training loss (nll appends a LogSoftmax layer to the model)")
    for mod in technique_modules():
        if hasattr(mod, "add_train_arguments"):
            mod.add_train_arguments(p)


def build_setup(args):
    """Data, model, optimizer, callbacks and trainer from parsed ``train`` arguments."""
    from . import optim
    from .datasets import load_dataset
    from .training import Trainer
    from .zoo import build_model
    setup = TrainSetup(args)
    setup.data = load_dataset(args.dataset, data_dir=args.data_dir, val_fraction=args.val_fraction, seed=args.seed,
                              train_limit=args.train_limit, test_limit=args.test_limit, grayscale=args.grayscale)
    name = args.model or ("small_cnn" if args.dataset == "digits" else "lenet5")
    kwargs = {}
    if args.width is not None:
        kwargs["width"] = args.width
    if args.depth is not None:
        kwargs["depth"] = args.depth
    setup.model = build_model(name, setup.data.input_shape, setup.data.num_classes, args.activation, seed=args.seed,
                              **kwargs)
    if getattr(args, "loss", "cross_entropy") == "nll":
        from .losses import with_log_softmax
        setup.model = with_log_softmax(setup.model)
    setup.model.metadata = {"dataset": setup.data.metadata()}
    mods = technique_modules()
    for mod in mods:
        if hasattr(mod, "prepare_model"):
            mod.prepare_model(args, setup)
    for mod in mods:
        if setup.optimizer is None and hasattr(mod, "build_optimizer"):
            setup.optimizer = mod.build_optimizer(args, setup)
    if setup.optimizer is None:
        kw = {"weight_decay": args.weight_decay}
        if args.momentum is not None and args.optimizer in ("sgd", "momentum", "nesterov"):
            kw["momentum"] = args.momentum
        setup.optimizer = optim.make_optimizer(args.optimizer, setup.model, lr=args.lr, **kw)
    for mod in mods:
        if hasattr(mod, "extra_callbacks"):
            setup.callbacks += list(mod.extra_callbacks(args, setup) or [])
    for mod in mods:
        if setup.trainer is None and hasattr(mod, "build_trainer"):
            setup.trainer = mod.build_trainer(args, setup)
    if setup.trainer is None:
        from .losses import get_loss
        setup.trainer = Trainer(setup.model, setup.optimizer, loss=get_loss(getattr(args, "loss", "cross_entropy")),
                                callbacks=setup.callbacks, seed=args.seed,
                                batch_size=args.batch_size, checkpoint_every=args.checkpoint_every,
                                progress=not args.no_progress)
    return setup


def run_training(args, out_dir=None):
    """Train as ``args`` say, write the run folder, print the table. Returns ``(setup, test metrics)``."""
    from .io import atomic_write_bytes, save_model
    from .plots import filter_grid, save_figure, training_curves
    setup = build_setup(args)
    model, trainer, data = setup.model, setup.trainer, setup.data
    out = out_dir or args.out or os.path.join("runs", f"{args.dataset}-{model.name}-seed{args.seed}")
    os.makedirs(out, exist_ok=True)
    ckpt = os.path.join(out, "checkpoint.npz")
    trainer.checkpoint_path = ckpt
    if args.resume:
        if not os.path.exists(ckpt):
            raise FileNotFoundError(f"--resume: no checkpoint at {ckpt}; run once without --resume first")
        trainer.load_checkpoint(ckpt)
        print(f"resumed from {ckpt} at epoch {trainer.epoch}, step {trainer.step}")
    print(f"{data.name}: {len(data.train)} train / {len(data.val) if data.val else 0} val / {len(data.test)} test "
          f"images of shape {data.input_shape}; model {model.name} ({model.num_params:,} parameters); "
          f"optimizer {setup.optimizer!r}")
    t0 = time.perf_counter()
    history = trainer.fit(data.train, data.val, epochs=args.epochs, max_steps=args.max_steps,
                          target_loss=args.target_loss, target_accuracy=args.target_accuracy)
    wall = time.perf_counter() - t0
    print(history.table())
    if trainer.stop_reason == "interrupted":
        print(f"interrupted: checkpoint saved to {ckpt}; continue with the same command and --resume")
        return setup, None
    test = trainer.evaluate(data.test)
    epochs_run = max(len(history["epoch"]), 1)
    print(f"stopped by: {trainer.stop_reason}; test accuracy {test['accuracy']:.4f} (loss {test['loss']:.4f}); "
          f"{history['seconds'][-1] / epochs_run if history['seconds'] else 0:.2f} s per epoch (training), "
          f"{wall:.1f} s this run")
    save_model(os.path.join(out, "model.npz"), model)
    summary = {"test_accuracy": test["accuracy"], "test_loss": test["loss"], "stop_reason": trainer.stop_reason,
               "history": dict(history), "args": {k: v for k, v in vars(args).items() if k != "func"}}
    atomic_write_bytes(os.path.join(out, "results.json"), json.dumps(summary, indent=1, default=float).encode())
    if history["epoch"]:
        save_figure(training_curves(history, title=f"{model.name} on {data.name}"), os.path.join(out, "curves.png"))
    convs = model.conv_layers()
    if convs:
        save_figure(filter_grid(model[convs[0]].params["W"], title=f"{convs[0]} filters after training"),
                    os.path.join(out, "filters.png"))
    print(f"wrote {out}/: model.npz, checkpoint.npz, results.json, curves.png, filters.png")
    return setup, test


def cmd_train(args):
    run_training(args)
    return 0


def demo_args(argv=()):
    p = argparse.ArgumentParser()
    add_train_arguments(p)
    return p.parse_args(["--dataset", "digits", "--model", "small_cnn", "--epochs", "30", "--batch-size", "32",
                         "--lr", "0.003", "--out", os.path.join("runs", "demo"), *argv])


def cmd_demo(args):
    print("numpycnn demo: a small CNN learns the 8x8 handwritten digits bundled with the package.\n")
    a = demo_args(["--no-progress"] if getattr(args, "no_progress", False) else [])
    setup, test = run_training(a)
    print("\n" + setup.model.summary())
    return 0


def cmd_gradcheck(args):
    from .gradcheck_table import gradcheck_table
    ok = gradcheck_table(seed=args.seed, verbose=True)
    return 0 if ok else 1


def cmd_compare(args):
    from .experiments import TECHNIQUES, experiment_module, resolve
    names = list(TECHNIQUES) if args.name == "all" else [resolve(args.name)]
    status = 0
    for name in names:
        if len(names) > 1:
            print(f"== compare {name} ==", flush=True)
        status = status or (experiment_module(name).main(args.rest) or 0)
    return status


def make_parser():
    p = argparse.ArgumentParser(prog="python -m numpycnn", description="numpycnn: a readable NumPy CNN library.")
    sub = p.add_subparsers(dest="command")
    d = sub.add_parser("demo", help="train a small CNN on the embedded digits (default command)")
    d.add_argument("--no-progress", action="store_true")
    d.set_defaults(func=cmd_demo)
    t = sub.add_parser("train", help="train a model", formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    add_train_arguments(t)
    t.set_defaults(func=cmd_train)
    g = sub.add_parser("gradcheck", help="check every layer's backward pass numerically")
    g.add_argument("--seed", type=int, default=0)
    g.set_defaults(func=cmd_gradcheck)
    c = sub.add_parser("compare", help="test a technique's claims: compare NAME (a technique or an alias) or compare all")
    c.add_argument("name")
    c.add_argument("rest", nargs=argparse.REMAINDER, help="options of the experiment (see compare NAME --help)")
    c.set_defaults(func=cmd_compare)
    for mod in command_modules():
        sp = sub.add_parser(mod.NAME, help=mod.HELP)
        mod.add_arguments(sp)
        sp.set_defaults(func=mod.run)
    return p


def main(argv=None):
    from .errors import NumpyCNNError
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = make_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        args = parser.parse_args(["demo"])
    try:
        return args.func(args)
    except (NumpyCNNError, ValueError, TypeError, FileNotFoundError) as e:
        if os.environ.get("NUMPYCNN_DEBUG"):
            raise
        print(f"error: {e}", file=sys.stderr)
        return 2
