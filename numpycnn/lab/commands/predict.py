"""``python -m numpycnn predict MODEL IMAGE...``: classify PNG/JPEG files (or folders) with a saved model."""

from ...predict import format_predictions, predict_images

NAME = "predict"
HELP = "classify PNG/JPEG images with a saved model (its own preprocessing), printing the top-k classes"


def add_arguments(p):
    p.add_argument("model", help="a model.npz written by `python -m numpycnn train`")
    p.add_argument("images", nargs="+", help="PNG/JPEG files or folders of them")
    p.add_argument("--top-k", type=int, default=3, help="classes to print per image (default 3)")
    p.add_argument("--invert", choices=["auto", "yes", "no"], default="auto",
                   help="invert intensities (dark ink on white paper); auto: if the border is bright")


def run(args):
    invert = {"auto": "auto", "yes": True, "no": False}[args.invert]
    print(format_predictions(predict_images(args.model, args.images, top_k=args.top_k, invert=invert)))
    return 0
