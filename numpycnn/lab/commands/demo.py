"""``python -m numpycnn`` (or ``demo``): a small CNN learns the embedded 8x8 digits in seconds."""
import os

from ..builder import train_parser
from .train import run_training

NAME = "demo"
HELP = "train a small CNN on the embedded digits (default command)"


def add_arguments(p):
    p.add_argument("--no-progress", action="store_true")


def demo_args(argv=()):
    """The demo's ``train`` options: ``--dataset digits --model small_cnn --epochs 30 --batch-size 32
    --lr 0.003 --out runs/demo``, then ``argv`` (e.g. ``["--no-progress"]``)."""
    return train_parser().parse_args(["--dataset", "digits", "--model", "small_cnn", "--epochs", "30",
                                      "--batch-size", "32", "--lr", "0.003", "--out", os.path.join("runs", "demo"),
                                      *argv])


def run(args):
    print("numpycnn demo: a small CNN learns the 8x8 handwritten digits bundled with the package.\n")
    trainer, _, _ = run_training(demo_args(["--no-progress"] if args.no_progress else []))
    print("\n" + trainer.model.summary())
    return 0
