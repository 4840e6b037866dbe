"""``python -m numpycnn train``: train any zoo model on any dataset, with the techniques' flags.

Builds everything with :mod:`numpycnn.lab.builder` (the options are :func:`numpycnn.lab.builder.options`),
trains, and writes a run folder: ``model.npz``, ``checkpoint.npz`` (every epoch; ``--resume``
continues from it), ``results.json``, ``curves.png`` and ``filters.png``.
"""
import argparse
import json
import os
import time

from ... import threads
from .. import builder
from ...datasets import load_dataset
from ...plots import filter_grid, save_figure, training_curves
from ...model import save_model
from ...storage import atomic_write_bytes

NAME = "train"
HELP = "train a model"
PARSER = {"formatter_class": argparse.ArgumentDefaultsHelpFormatter}


def add_arguments(p):
    builder.add_train_arguments(p)


def load_data(opts):
    """The data set of ``opts`` (``--dataset --data-dir --val-fraction --train-limit --test-limit --grayscale``)."""
    return load_dataset(opts.dataset, data_dir=opts.data_dir, val_fraction=opts.val_fraction, seed=opts.seed,
                        train_limit=opts.train_limit, test_limit=opts.test_limit, grayscale=opts.grayscale)


def run_training(opts, out_dir=None):
    """Train as ``opts`` say, write the run folder, print the table. Returns ``(trainer, data, test metrics)``
    (test metrics None when Ctrl-C stopped the run)."""
    if opts.threads is not None:
        threads.set_threads(opts.threads)
    data = load_data(opts)
    trainer = builder.make_trainer(opts, data)
    model = trainer.model
    out = out_dir or opts.out or os.path.join("runs", f"{opts.dataset}-{model.name}-seed{opts.seed}")
    os.makedirs(out, exist_ok=True)
    ckpt = os.path.join(out, "checkpoint.npz")
    trainer.checkpoint_path = ckpt
    if opts.resume:
        if not os.path.exists(ckpt):
            raise FileNotFoundError(f"--resume: no checkpoint at {ckpt}; run once without --resume first")
        trainer.load_checkpoint(ckpt)
        print(f"resumed from {ckpt} at epoch {trainer.epoch}, step {trainer.step}")
    print(f"{data.name}: {len(data.train)} train / {len(data.val) if data.val else 0} val / {len(data.test)} test "
          f"images of shape {data.input_shape}; model {model.name} ({model.num_params:,} parameters); "
          f"optimizer {trainer.optimizer!r}")
    t0 = time.perf_counter()
    history = trainer.fit(data.train, data.val, epochs=opts.epochs, max_steps=opts.max_steps,
                          target_loss=opts.target_loss, target_accuracy=opts.target_accuracy)
    wall = time.perf_counter() - t0
    print(history.table())
    if trainer.stop_reason == "interrupted":
        print(f"interrupted: checkpoint saved to {ckpt}; continue with the same command and --resume")
        return trainer, data, None
    test = trainer.evaluate(data.test)
    epochs_run = max(len(history["epoch"]), 1)
    print(f"stopped by: {trainer.stop_reason}; test accuracy {test['accuracy']:.4f} (loss {test['loss']:.4f}); "
          f"{history['seconds'][-1] / epochs_run if history['seconds'] else 0:.2f} s per epoch (training), "
          f"{wall:.1f} s this run")
    save_model(os.path.join(out, "model.npz"), model)
    summary = {"test_accuracy": test["accuracy"], "test_loss": test["loss"], "stop_reason": trainer.stop_reason,
               "history": dict(history), "args": {k: v for k, v in vars(opts).items() if k != "func"}}
    atomic_write_bytes(os.path.join(out, "results.json"), json.dumps(summary, indent=1, default=float).encode())
    if history["epoch"]:
        save_figure(training_curves(history, title=f"{model.name} on {data.name}"), os.path.join(out, "curves.png"))
    convs = model.conv_layers()
    if convs:
        save_figure(filter_grid(model[convs[0]].params["W"], title=f"{convs[0]} filters after training"),
                    os.path.join(out, "filters.png"))
    print(f"wrote {out}/: model.npz, checkpoint.npz, results.json, curves.png, filters.png")
    return trainer, data, test


def run(args):
    run_training(args)
    return 0
