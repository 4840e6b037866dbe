"""``python -m numpycnn sparsity --model lenet5 --sparsity 0.9``: technique C's structure report.

Prints, per layer and in total, the dense and active weights, density, connection probability
p(l), memory (dense float32 and CSR) and multiply-adds per image, for a freshly sampled
Erdős–Rényi sparse network; ``--figure PATH`` also saves the bar chart.
"""
import numpy as np

from ...plots import save_figure
from ...techniques import erdos_renyi
from ...zoo import MODELS, build_model

NAME = "sparsity"
HELP = "technique C: print the structure report (params, memory, FLOPs) of an Erdős–Rényi sparse network"


def add_arguments(p):
    p.add_argument("--model", default="lenet5", choices=sorted(MODELS))
    p.add_argument("--input-shape", default="1,28,28", help="C,H,W of one image (default 1,28,28)")
    p.add_argument("--sparsity", type=float, default=0.9, help="fraction of absent weights (default 0.9)")
    p.add_argument("--mode", choices=[m for m in erdos_renyi.MODES if m != "snip"], default="er")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--figure", default=None, help="also save the per-layer bar chart to this PNG")


def run(args):
    try:
        shape = tuple(int(v) for v in args.input_shape.split(","))
    except ValueError:
        raise ValueError(f"--input-shape must be C,H,W like 1,28,28; got {args.input_shape!r}") from None
    model = build_model(args.model, shape, 10)
    _, p, sigma = erdos_renyi.sparsify(model, args.sparsity, args.mode, np.random.default_rng(args.seed))
    rows = erdos_renyi.structure_report(model, p)
    print(f"{args.model} {shape}, sparsity {args.sparsity} ({args.mode}): σ = {sigma:.6g}")
    print(erdos_renyi.format_report(rows))
    if args.figure:
        title = f"{args.model}, sparsity {args.sparsity} ({args.mode})"
        save_figure(erdos_renyi.report_figure(rows, title), args.figure)
        print(f"figure: {args.figure}")
    return 0
