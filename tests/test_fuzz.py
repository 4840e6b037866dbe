"""Hypothesis fuzzing of layer, model, loss and loader entry points: random shapes, dtypes and
values — only the documented exceptions (ValueError, TypeError and numpycnn's subclasses) escape,
and whatever is accepted gives finite outputs of the right shape."""
import gzip

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import numpycnn as nc
from numpycnn.datasets import read_cifar10_dir, read_idx
from numpycnn.errors import NumpyCNNError

DOCUMENTED = (ValueError, TypeError, NumpyCNNError)
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                            HealthCheck.function_scoped_fixture])

dtypes = st.sampled_from([np.float32, np.float64, np.int32, np.uint8, np.bool_, np.complex64])
shapes = st.lists(st.integers(0, 6), min_size=0, max_size=5).map(tuple)
values = st.sampled_from([0.0, 1.0, -1.0, 1e30, np.nan, np.inf])


@st.composite
def any_array(draw):
    dtype = draw(dtypes)
    shape = draw(shapes)
    arr = np.zeros(shape, dtype=dtype)
    if arr.size and np.issubdtype(dtype, np.floating):
        arr.flat[0] = draw(values)
    return arr


layers = st.sampled_from([
    lambda: nc.Conv2D(2, 3, 3, pad=1), lambda: nc.Conv2D(1, 2, 2, stride=2), lambda: nc.MaxPool2D(2),
    lambda: nc.AvgPool2D(3, 1, 1), lambda: nc.Dense(4, 3), lambda: nc.ReLU(), lambda: nc.Sigmoid(),
    lambda: nc.Tanh(), lambda: nc.Flatten()])


@SETTINGS
@given(make=layers, x=any_array())
def test_layer_forward_raises_only_documented_errors(make, x):
    layer = make()
    try:
        out = layer.forward(x)
    except DOCUMENTED:
        return
    assert isinstance(out, np.ndarray)


@SETTINGS
@given(x=any_array())
def test_model_predict_raises_only_documented_errors_and_accepted_input_gives_finite_logits(x):
    model = nc.zoo.small_cnn(seed=0)
    try:
        logits = model.predict_logits(x)
    except DOCUMENTED:
        return
    assert logits.shape == (x.shape[0], 10) and np.isfinite(logits).all()


@SETTINGS
@given(z=any_array(), y=any_array())
def test_loss_raises_only_documented_errors(z, y):
    try:
        loss = nc.SoftmaxCrossEntropy().forward(z, y)
    except DOCUMENTED:
        return
    assert np.isfinite(loss) or not np.isfinite(z).all()


@SETTINGS
@given(data=st.binary(max_size=64), gz=st.booleans())
def test_idx_reader_on_random_bytes_raises_only_data_format_errors(tmp_path_factory, data, gz):
    path = tmp_path_factory.mktemp("idx") / "x-idx1-ubyte"
    path.write_bytes(gzip.compress(data) if gz else data)
    try:
        arr = read_idx(path)
    except DOCUMENTED:
        return
    assert isinstance(arr, np.ndarray)


@SETTINGS
@given(header=st.tuples(st.integers(0, 255), st.integers(1, 3)), dims=st.lists(st.integers(0, 4), max_size=3),
       extra=st.integers(-3, 3))
def test_idx_reader_on_structured_headers_raises_only_data_format_errors(tmp_path_factory, header, dims, extra):
    code, ndim = header
    body = bytes([0, 0, code, len(dims)]) + b"".join(int(d).to_bytes(4, "big") for d in dims)
    n = int(np.prod(dims)) if dims else 0
    path = tmp_path_factory.mktemp("idx") / "y-idx-ubyte"
    path.write_bytes(body + bytes(max(0, n + extra)))
    try:
        read_idx(path)
    except DOCUMENTED:
        pass


@SETTINGS
@given(size=st.integers(0, 3 * 3073 + 5), label=st.integers(0, 255))
def test_cifar_binary_reader_on_random_sizes_raises_only_documented_errors(tmp_path_factory, size, label):
    folder = tmp_path_factory.mktemp("cifar")
    blob = bytearray(size)
    if size:
        blob[0] = label
    for name in [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]:
        (folder / name).write_bytes(bytes(blob))
    try:
        read_cifar10_dir(folder)
    except DOCUMENTED:
        pass
