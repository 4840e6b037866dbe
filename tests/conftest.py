"""What the tests share: the input makers, the one table of layer cases that every layer joins, the kernels'
shape tables, and the runner of the bad-input tables.

``LAYER_CASES`` lists every layer type of the library (and its options) once: ``id -> (factory, input shape,
input kind)``. ``tests/test_layers.py`` runs the layer contract over all of it — backward vs central differences
in float64, the dtype kept, inputs never written, backward idempotent, ``output_shape`` and the forward shape
agreeing, config and model files rebuilding the layer, PyTorch as an oracle where it has the layer — in training
and in evaluation mode. A new layer joins the contract with one line here; its own test file keeps only what is
particular to it (running statistics, mask draws, the sum at a fork).

Test files are named after the module they test (``tests/test_conv_layer.py`` tests ``numpycnn/conv_layer.py``);
the files named after a property rather than a module hold what crosses modules: the import graph, lint,
docstrings, fuzzing, threads, the README, the tutorials. Each module's bad input is a ``BAD_INPUTS`` table in that
module's test file, run by :func:`assert_bad_input`; ``tests/test_validate.py`` counts the tables.
"""
import numpy as np
import pytest
from hypothesis import strategies as st

import numpycnn as nc
from numpycnn import layers as L
from numpycnn.datasets import find_dataset_dir
from numpycnn.dropout import Dropout, Dropout2D
from numpycnn.errors import DatasetNotFoundError
from numpycnn.gradcheck import away_from_zero, distinct_values
from numpycnn.normalization import BatchNorm1D, BatchNorm2D, GroupNorm, LayerNorm
from numpycnn.residual import ResidualBlock

F64 = np.float64


# -- real data -----------------------------------------------------------------------------

def _have_fashion():
    try:
        find_dataset_dir("fashion-mnist")
        return True
    except DatasetNotFoundError:
        return False


#: whether Fashion-MNIST is installed (found the way ``load_dataset`` finds it)
HAVE_FASHION = _have_fashion()
#: why a test that needs it is skipped without it
NO_FASHION = "Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist, or set NUMPYCNN_DATA)"
#: the mark for a test that trains on Fashion-MNIST
needs_fashion = pytest.mark.skipif(not HAVE_FASHION, reason=NO_FASHION)


# -- the input makers ----------------------------------------------------------------------

def make_input(shape, kind="normal", seed=0, dtype=np.float64):
    """A seeded input: ``"normal"`` (standard normal), ``"distinct"`` (no ties: max-pool windows have one
    maximum), ``"away"`` (away from 0: ReLU's kink) — :mod:`numpycnn.gradcheck`'s kink-free inputs."""
    rng = np.random.default_rng(seed)
    make = {"distinct": distinct_values, "away": away_from_zero, "normal": lambda r, s: r.standard_normal(s)}[kind]
    return make(rng, shape).astype(dtype)


def make_x(shape, dtype=np.float64, seed=0):
    """A seeded standard-normal input of ``shape`` in ``dtype`` (``make_input(shape, "normal", seed, dtype)``)."""
    return make_input(shape, "normal", seed, dtype)


# -- layer builders the table and the layers' own tests share --------------------------------

def _conv(C, F, k, s=1, p=0, implementation=None, **options):
    return lambda: L.Conv2D(C, F, k, stride=s, pad=p, rng=np.random.default_rng(1), dtype=np.float64,
                            implementation=implementation, **options)


def _affine(layer):
    """A normalisation layer whose gamma and beta are not the initial ones / zeros, so every term counts."""
    rng = np.random.default_rng(6)
    for key, p in layer.params.items():
        layer.params[key] = p + 0.5 * rng.standard_normal(p.shape)
    return layer


def _with_running_statistics(layer):
    """A batch normalisation whose gamma, beta and running statistics are not the initial ones, so both modes
    use every term."""
    r = np.random.default_rng(11)
    layer.params["gamma"] = 1 + 0.5 * r.standard_normal(layer.num_features)
    layer.params["beta"] = r.standard_normal(layer.num_features)
    layer.buffers["running_mean"] = r.standard_normal(layer.num_features)
    layer.buffers["running_var"] = 0.5 + r.random(layer.num_features)
    return layer


def conv(c_in, c_out, k=3, stride=1, pad=1, seed=0, dtype=F64):
    return nc.Conv2D(c_in, c_out, k, stride=stride, pad=pad, rng=np.random.default_rng(seed), dtype=dtype)


def identity_block(C=3, dtype=F64):
    return ResidualBlock([("conv1", conv(C, C, seed=1, dtype=dtype)), ("tanh1", nc.Tanh()),
                          ("conv2", conv(C, C, seed=2, dtype=dtype))])


def projection_block(c_in=3, c_out=4, stride=2, dtype=F64):
    return ResidualBlock([("conv1", conv(c_in, c_out, stride=stride, seed=3, dtype=dtype)), ("tanh1", nc.Tanh()),
                          ("bn1", nc.BatchNorm2D(c_out, dtype=dtype)),
                          ("conv2", conv(c_out, c_out, seed=4, dtype=dtype))],
                         projection=conv(c_in, c_out, k=1, stride=stride, pad=0, seed=5, dtype=dtype))


def dense_block(dtype=F64):
    return ResidualBlock([nc.Dense(5, 7, rng=np.random.default_rng(6), dtype=dtype), nc.Tanh(),
                          nc.Dense(7, 3, rng=np.random.default_rng(7), dtype=dtype)],
                         projection=nc.Dense(5, 3, rng=np.random.default_rng(8), dtype=dtype))


# -- the layer contract's table --------------------------------------------------------------

#: id -> (layer factory, input shape, input kind); "distinct" keeps max-pool windows tie-free,
#: "away" keeps ReLU inputs away from the kink at 0 (numpycnn.gradcheck's kink-free inputs).
LAYER_CASES = {
    "conv3x3_s1_p0": (_conv(2, 3, 3), (2, 2, 5, 6), "normal"),
    "conv3x3_s2_p1": (_conv(3, 4, 3, 2, 1), (2, 3, 7, 6), "normal"),
    "conv3x3_s2_p1_textbook": (_conv(3, 4, 3, 2, 1, "textbook"), (2, 3, 7, 6), "normal"),
    "conv1x1": (_conv(3, 2, 1), (2, 3, 4, 4), "normal"),
    "conv5x5_p2": (_conv(1, 2, 5, 1, 2), (1, 1, 6, 6), "normal"),
    "conv4x4_s3_p2": (_conv(2, 2, 4, 3, 2), (2, 2, 8, 7), "normal"),
    "conv_kernel_equals_input": (_conv(2, 3, 4), (2, 2, 4, 4), "normal"),
    "dense": (lambda: L.Dense(7, 4, rng=np.random.default_rng(2), dtype=np.float64), (3, 7), "normal"),
    "conv_dilated_grouped_nonsquare": (_conv(4, 6, (3, 2), (2, 1), (1, 0), dilation=(2, 1), groups=2, bias=False),
                                       (2, 4, 9, 8), "normal"),
    "conv_depthwise_same_textbook": (_conv(3, 3, 4, 1, "same", "textbook", dilation=2, groups=3), (2, 3, 7, 6),
                                     "normal"),
    "dense_no_bias": (lambda: L.Dense(7, 4, bias=False, rng=np.random.default_rng(2), dtype=np.float64), (3, 7),
                      "normal"),
    "maxpool2": (lambda: L.MaxPool2D(2), (2, 3, 6, 6), "distinct"),
    "maxpool_options": (lambda: L.MaxPool2D((3, 2), (2, 1), 1, dilation=(1, 2), ceil_mode=True), (2, 3, 8, 7),
                        "distinct"),
    "maxpool_options_textbook": (lambda: L.MaxPool2D((3, 2), (2, 1), 1, (1, 2), True, implementation="textbook"),
                                 (2, 3, 8, 7), "distinct"),
    "avgpool_ceil_without_pad": (lambda: L.AvgPool2D((3, 2), 2, 1, ceil_mode=True, count_include_pad=False),
                                 (2, 2, 8, 7), "normal"),
    "adaptive_avgpool": (lambda: L.AdaptiveAvgPool2D((2, None)), (2, 3, 4, 6), "normal"),
    "global_avgpool": (lambda: L.AdaptiveAvgPool2D(1), (2, 3, 4, 6), "normal"),
    "adaptive_maxpool": (lambda: L.AdaptiveMaxPool2D((2, 3)), (2, 3, 4, 6), "distinct"),
    "layernorm": (lambda: _affine(LayerNorm((3, 4, 5), dtype=np.float64)), (2, 3, 4, 5), "normal"),
    "layernorm_dense_gamma_only": (lambda: _affine(LayerNorm(6, bias=False, dtype=np.float64)), (4, 6), "normal"),
    "groupnorm": (lambda: _affine(GroupNorm(2, 4, dtype=np.float64)), (3, 4, 3, 2), "normal"),
    # (not "normal": check_layer's upstream gradient would equal x, and dL/dx of sum(x_hat * x) is ~0 without gamma)
    "groupnorm_no_affine": (lambda: GroupNorm(3, 3, affine=False, dtype=np.float64), (2, 3, 4, 4), "distinct"),
    "maxpool3_s2_p1": (lambda: L.MaxPool2D(3, 2, 1), (2, 2, 7, 5), "distinct"),
    "maxpool_odd_input": (lambda: L.MaxPool2D(2), (1, 2, 5, 7), "distinct"),
    "maxpool3_s2_p1_textbook": (lambda: L.MaxPool2D(3, 2, 1, implementation="textbook"), (2, 2, 7, 5), "distinct"),
    "avgpool2": (lambda: L.AvgPool2D(2), (2, 3, 6, 6), "normal"),
    "avgpool3_s1_p1": (lambda: L.AvgPool2D(3, 1, 1), (2, 2, 5, 4), "normal"),
    "relu": (L.ReLU, (3, 4, 5), "away"),
    "sigmoid": (L.Sigmoid, (3, 4, 5), "normal"),
    "tanh": (L.Tanh, (3, 4, 5), "normal"),
    "flatten": (L.Flatten, (2, 3, 4, 5), "normal"),
    # (at least three values per channel: two normalise to ±sqrt(var / (var + eps)) whatever they are, and
    # dL/dx is then of the order of eps — a relative error of rounding noise)
    "bn1d": (lambda: _with_running_statistics(BatchNorm1D(5, dtype=np.float64)), (6, 5), "distinct"),
    "bn1d_three_samples": (lambda: _with_running_statistics(BatchNorm1D(3, dtype=np.float64)), (3, 3), "distinct"),
    "bn2d": (lambda: _with_running_statistics(BatchNorm2D(3, dtype=np.float64)), (2, 3, 4, 5), "distinct"),
    "bn2d_one_image": (lambda: _with_running_statistics(BatchNorm2D(2, eps=1e-3, momentum=0.3, dtype=np.float64)),
                       (1, 2, 3, 3), "distinct"),
    "dropout_p0.5": (lambda: Dropout(0.5, seed=1), (4, 6), "normal"),
    "dropout_p0.2_maps": (lambda: Dropout(0.2, seed=2), (2, 3, 4, 4), "normal"),
    "dropout2d_p0.5": (lambda: Dropout2D(0.5, seed=3), (3, 4, 3, 3), "normal"),
    "dropout_p0": (lambda: Dropout(0.0), (3, 5), "normal"),
    "residual_identity": (identity_block, (2, 3, 5, 5), "normal"),
    "residual_projection_conv": (projection_block, (2, 3, 6, 5), "normal"),
    "residual_projection_dense": (dense_block, (4, 5), "normal"),
}


def hold_the_first_draw(layer):
    """Make a layer that draws a random mask in training mode (``draw_mask``: dropout) re-use its first draw, so
    central differences see one function of x; other layers are returned as they are."""
    if hasattr(layer, "draw_mask"):
        draw, held = layer.draw_mask, {}

        def draw_once(x_shape):
            if "mask" not in held:
                held["mask"] = draw(x_shape)
            return held["mask"]
        layer.draw_mask = draw_once
    return layer


# -- the kernels' shape tables (im2col, the fast convolution and pooling) ----------------------------------------------

#: N, C, H, W, F, k, stride, pad (odd sizes, strides 1-3, pads 0-2, non-square inputs)
CONV_SHAPES = [
    (2, 1, 7, 7, 3, 3, 1, 0), (2, 3, 9, 7, 4, 3, 2, 1), (1, 2, 8, 11, 5, 5, 1, 2), (3, 2, 10, 10, 2, 4, 3, 1),
    (2, 4, 6, 5, 3, 1, 1, 0), (1, 3, 12, 12, 6, 5, 2, 2), (2, 2, 5, 5, 3, 5, 1, 0),
]
#: N, C, H, W, K, stride, pad (kernel == stride with even and odd sizes, overlapping windows, stride > kernel
#: (gaps between windows), kernel == stride with pad)
POOL_SHAPES = [
    (2, 3, 8, 8, 2, 2, 0), (2, 2, 9, 7, 2, 2, 0), (1, 3, 11, 10, 3, 3, 0), (2, 2, 7, 7, 3, 2, 1), (1, 1, 6, 6, 2, 1, 0),
    (1, 2, 11, 9, 2, 3, 0), (2, 1, 8, 8, 3, 3, 1),
]
#: hypothesis: (N, C, H, W, KH, KW, stride, pad) of a convolution or pooling window
geometry = st.tuples(st.integers(1, 3), st.integers(1, 3), st.integers(1, 8), st.integers(1, 8),
                     st.integers(1, 4), st.integers(1, 4), st.integers(1, 3), st.integers(0, 2))


def maxpool_backward_loop(dout, x, K, s, p):
    """Max pooling's backward pass as a loop, the reference of the textbook and fast kernels: each dout value goes
    to the FIRST maximum of its window (row-major order); padding (-inf) is never chosen."""
    N, C, H, W = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)), constant_values=-np.inf)
    dxp = np.zeros_like(xp)
    for n in range(N):
        for c in range(C):
            for i in range(dout.shape[2]):
                for j in range(dout.shape[3]):
                    win = xp[n, c, i * s:i * s + K, j * s:j * s + K]
                    a, b = np.unravel_index(np.argmax(win), win.shape)
                    dxp[n, c, i * s + a, j * s + b] += dout[n, c, i, j]
    return dxp[:, :, p:p + H, p:p + W]


def fits(H, W, KH, KW, p):
    """True when a KH x KW window fits the H x W input padded by ``p`` on every side."""
    return H + 2 * p >= KH and W + 2 * p >= KW


# -- bad input: one row per case, run the same way in every module's test file ---------------------------------------

#: a row of a ``BAD_INPUTS`` table: (id, call(tmp_path), the documented exception type, substrings the message must
#: contain — the argument's (or layer's) name, the value given, what was expected)
BAD_INPUT_FIELDS = "call, exc, needles"


def bad_input_cases(rows):
    """``pytest.param(call, exc, needles, id=id)`` for every row of a ``BAD_INPUTS`` table."""
    return [pytest.param(call, exc, needles, id=case_id) for case_id, call, exc, needles in rows]


def assert_bad_input(call, exc, needles, tmp_path):
    """``call(tmp_path)`` raises ``exc`` whose message holds every one of ``needles``."""
    with pytest.raises(exc) as info:
        call(tmp_path)
    message = str(info.value)
    missing = [n for n in needles if n not in message]
    assert not missing, f"message {message!r} lacks {missing}"


def lenet():
    """LeNet-5 (seed 0): the network most bad-input rows feed."""
    return nc.zoo.lenet5(seed=0)


def img(shape, dtype=np.float32):
    """Zeros of ``shape`` in ``dtype``: an image batch whose values do not matter."""
    return np.zeros(shape, dtype=dtype)


def fit_quietly(model, x, y, **kw):
    """``Trainer(model, Adam(model)).fit(Dataset(x, y), **kw)`` without a progress bar."""
    return nc.Trainer(model, nc.optim.Adam(model), progress=False).fit(nc.datasets.Dataset(x, y), **kw)


def write_bytes(tmp_path, name, data):
    """Write ``data`` to ``tmp_path / name`` and return the path."""
    p = tmp_path / name
    p.write_bytes(data)
    return p
