"""Max pooling at three levels, each real: the loop reference, the textbook version (the exercise) and the
fast kernel that trains by default — fast == textbook == loop — and the switch that trains on the textbook.

The textbook :func:`~numpycnn.pooling.maxpool2d_forward` reshapes the window view and takes its argmax;
the fast :func:`~numpycnn.fast_pooling.maxpool2d_forward_fast` keeps a running maximum over the kernel
offsets. Both take the same values and send the gradient to the same (first) maximum, so their results are
equal bit for bit: the forward pass copies values, and the backward pass adds the same numbers in the same
order of kernel offsets.
"""
import numpy as np
import pytest

import numpycnn as nc
from numpycnn import layers
from numpycnn.fast_pooling import maxpool2d_backward_fast, maxpool2d_forward_fast
from numpycnn.layers import MaxPool2D
from numpycnn.pooling import maxpool2d_backward, maxpool2d_forward, maxpool2d_naive

CASES = [  # N, C, H, W, K, stride, pad
    (2, 3, 8, 8, 2, 2, 0),      # the usual 2x2 pooling (windows tile the input)
    (2, 2, 9, 7, 2, 2, 0),      # odd sizes: the last row and column are read by no window
    (2, 2, 7, 7, 3, 2, 1),      # overlapping windows, with padding
    (1, 1, 6, 6, 2, 1, 0),      # overlapping windows, stride 1
    (1, 2, 11, 9, 2, 3, 0),     # stride > kernel: gaps between windows
    (2, 1, 8, 8, 3, 3, 1),      # kernel == stride, with padding
    (1, 3, 5, 6, 1, 1, 0),      # 1x1 windows: the identity
]


def _backward_loop(dout, x, K, s, p):
    """Each dout value goes to the FIRST maximum of its window (row-major order), padding never chosen."""
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


def _ties(shape, seed):
    """Values from {-1, 0, 1}: most windows hold their maximum more than once."""
    return np.random.default_rng(seed).integers(-1, 2, shape).astype(np.float64)


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("values", ["distinct", "ties"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fast_textbook_and_loop_max_pooling_give_the_same_output_and_gradient(case, values, dtype):
    N, C, H, W, K, s, p = case
    rng = np.random.default_rng(1)
    x = (rng.standard_normal((N, C, H, W)) if values == "distinct" else _ties((N, C, H, W), 2)).astype(dtype)
    out, cache = maxpool2d_forward(x, K, s, p)
    fast_out, fast_cache = maxpool2d_forward_fast(x, K, s, p)
    np.testing.assert_array_equal(out, maxpool2d_naive(x, K, s, p))
    np.testing.assert_array_equal(fast_out, out)
    np.testing.assert_array_equal(fast_cache[1], cache[1])           # the same argmax: the first maximum
    dout = rng.standard_normal(out.shape).astype(dtype)
    dx = maxpool2d_backward(dout, cache)
    assert out.dtype == dx.dtype == dtype
    np.testing.assert_array_equal(maxpool2d_backward_fast(dout, fast_cache), dx)
    np.testing.assert_allclose(dx, _backward_loop(dout.astype(np.float64), x.astype(np.float64), K, s, p),
                               rtol=10 * np.finfo(dtype).eps, atol=0)   # the loop adds overlaps in its own order


def test_textbook_max_pooling_caches_the_first_maximum_as_a_flat_window_index():
    x = np.array([[[[1., 5., 2., 0.], [3., 4., 8., 8.], [0., 0., 1., 1.], [9., 0., 1., 1.]]]])
    out, (x_shape, argmax, K, stride, pad) = maxpool2d_forward(x, 2)
    np.testing.assert_array_equal(out, [[[[5., 8.], [9., 1.]]]])
    assert (x_shape, K, stride, pad) == ((1, 1, 4, 4), 2, 2, 0)
    np.testing.assert_array_equal(argmax, [[[[1, 2], [2, 0]]]])     # p*K + q; on ties the first in row-major order
    dx = maxpool2d_backward(np.array([[[[10., 20.], [30., 40.]]]]), (x_shape, argmax, K, stride, pad))
    want = np.zeros_like(x)
    want[0, 0, 0, 1], want[0, 0, 1, 2], want[0, 0, 3, 0], want[0, 0, 2, 2] = 10, 20, 30, 40
    np.testing.assert_array_equal(dx, want)


def test_padding_is_never_the_maximum():
    x = np.full((1, 1, 3, 3), -5.0)                                  # below 0, what zero padding would hold
    out, cache = maxpool2d_forward(x, 3, 2, 1)
    np.testing.assert_array_equal(out, np.full((1, 1, 2, 2), -5.0))
    dx = maxpool2d_backward(np.ones_like(out), cache)
    assert dx.shape == x.shape and dx.sum() == 4                     # every window's gradient lands inside x


def test_textbook_max_pooling_leaves_read_only_inputs_untouched_and_its_backward_is_idempotent():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 2, 7, 7))
    x_before = x.copy()
    x.flags.writeable = False
    out, cache = maxpool2d_forward(x, 3, 2, 1)
    dout = rng.standard_normal(out.shape)
    dout.flags.writeable = False
    first = maxpool2d_backward(dout, cache)
    np.testing.assert_array_equal(maxpool2d_backward(dout, cache), first)
    np.testing.assert_array_equal(x, x_before)


def test_the_fast_backward_accepts_the_textbook_cache_and_the_textbook_backward_the_fast_one():
    """The two caches mean the same: a network may switch implementation between two batches."""
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 2, 7, 7))
    _, cache = maxpool2d_forward(x, 3, 2, 1)
    _, fast_cache = maxpool2d_forward_fast(x, 3, 2, 1)
    dout = rng.standard_normal((2, 2, 4, 4))
    np.testing.assert_array_equal(maxpool2d_backward_fast(dout, cache), maxpool2d_backward(dout, fast_cache))


@pytest.mark.parametrize("implementation", ["fast", "textbook"])
def test_a_max_pooling_layer_runs_the_implementation_it_names_or_the_switch_chooses(implementation):
    x = np.random.default_rng(5).standard_normal((1, 1, 4, 4))
    named, default = MaxPool2D(2, implementation=implementation), MaxPool2D(2)
    other = "textbook" if implementation == "fast" else "fast"
    with layers.use_implementation(other):
        for layer in (named, default):
            layer.forward(x)
    assert (named.implementation_used, default.implementation_used) == (implementation, other)
    small_argmax = named.cache[1].dtype == np.uint8
    assert small_argmax == (implementation == "fast")                # the cache says which code really ran


def test_a_network_trains_on_the_textbook_pooling_to_the_fast_pooling_weights():
    """Two epochs with textbook max pooling (fast convolution) end at the fast run's weights, bit for bit."""
    data = nc.datasets.load_dataset("digits", seed=0, train_limit=200)
    weights = {}
    for implementation in ("fast", "textbook"):
        model = nc.zoo.small_cnn(data.input_shape, width=4, seed=0)
        for name in ("pool1", "pool2"):
            model[name].implementation = implementation
        trainer = nc.Trainer(model, nc.optim.Adam(model, lr=3e-3), batch_size=32, progress=False)
        trainer.fit(data.train, epochs=2)
        weights[implementation] = {name: p for name, p, _ in model.named_parameters()}
    for name, p in weights["fast"].items():
        np.testing.assert_array_equal(weights["textbook"][name], p, err_msg=name)


def test_the_pooling_implementation_is_saved_with_the_model_only_when_chosen(tmp_path):
    model = nc.Sequential([("pool", MaxPool2D(2, implementation="textbook")), ("flatten", nc.Flatten())],
                          input_shape=(1, 4, 4))
    nc.model.save_model(tmp_path / "m.npz", model)
    assert nc.model.load_model(tmp_path / "m.npz")["pool"].implementation == "textbook"
    assert MaxPool2D(2).config() == {"kernel_size": 2, "stride": 2, "pad": 0}


def test_an_unknown_pooling_implementation_is_refused_naming_the_layer_and_the_choices():
    with pytest.raises(ValueError, match=r"MaxPool2D 'pool1': implementation must be one of \['fast', 'textbook'\]"):
        MaxPool2D(2, name="pool1", implementation="blas")


# -- PyTorch's options: per-axis sizes, dilation, ceil_mode, count_include_pad; adaptive pooling -----------------------
from hypothesis import assume, given, settings, strategies as st  # noqa: E402

from numpycnn import fast_pooling, pooling  # noqa: E402
from numpycnn.errors import ShapeError  # noqa: E402
from numpycnn.gradcheck import check_layer, distinct_values  # noqa: E402
from numpycnn.im2col import Window  # noqa: E402
from numpycnn.layers import AdaptiveAvgPool2D, AdaptiveMaxPool2D, AvgPool2D  # noqa: E402


def _output_size(n, k, s, p, d, ceil_mode):
    """PyTorch's pooling output size, written out (torch's pooling_output_shape)."""
    span = d * (k - 1) + 1
    out = (n + 2 * p - span + (s - 1 if ceil_mode else 0)) // s + 1
    if ceil_mode and (out - 1) * s >= n + p:
        out -= 1
    return out


def pool_loop(x, kernel, stride, pad, dilation=(1, 1), ceil_mode=False, kind="max", count_include_pad=True):
    """One output value at a time: window ``(i, j)`` reads rows ``i*SH - PH + p*DH`` and columns
    ``j*SW - PW + q*DW`` of the input; outside it is padding (-inf for max, 0 for the average).
    Returns ``out`` and, for max pooling, the input position of each window's first maximum."""
    N, C, H, W = x.shape
    (KH, KW), (SH, SW), (PH, PW), (DH, DW) = kernel, stride, pad, dilation
    OH, OW = _output_size(H, KH, SH, PH, DH, ceil_mode), _output_size(W, KW, SW, PW, DW, ceil_mode)
    out, where = np.zeros((N, C, OH, OW)), {}
    for n in range(N):
        for c in range(C):
            for i in range(OH):
                for j in range(OW):
                    values, places, counted = [], [], 0
                    for p in range(KH):
                        for q in range(KW):
                            r, s = i * SH - PH + p * DH, j * SW - PW + q * DW
                            inside = 0 <= r < H and 0 <= s < W
                            in_padded = -PH <= r < H + PH and -PW <= s < W + PW
                            counted += inside or (count_include_pad and in_padded)
                            values.append(x[n, c, r, s] if inside else (-np.inf if kind == "max" else 0.0))
                            places.append((r, s) if inside else None)
                    if kind == "max":
                        k = int(np.argmax(values))
                        out[n, c, i, j], where[n, c, i, j] = values[k], places[k]
                    else:
                        out[n, c, i, j] = sum(values) / counted
    return out, where


POOL_OPTION_CASES = [  # shape, kernel, stride, pad, dilation, ceil_mode
    ((2, 3, 8, 7), (3, 2), (2, 1), (1, 1), (1, 2), True),
    ((1, 2, 9, 9), (3, 3), (2, 2), (1, 1), (2, 2), False),
    ((2, 2, 7, 7), (2, 2), (2, 2), (0, 0), (1, 1), True),     # the ceil-mode window past the edge
    ((1, 2, 6, 10), (1, 4), (1, 3), (0, 2), (1, 1), True),
]


@pytest.mark.parametrize("case", POOL_OPTION_CASES)
@pytest.mark.parametrize("values", ["distinct", "ties"])
def test_general_fast_textbook_and_loop_max_pooling_agree(case, values):
    shape, kernel, stride, pad, dilation, ceil_mode = case
    x = distinct_values(np.random.default_rng(1), shape) if values == "distinct" else _ties(shape, 2)
    window = Window(kernel, stride, tuple((p, p) for p in pad), dilation, ceil_mode)
    want, where = pool_loop(x, kernel, stride, pad, dilation, ceil_mode)
    out, cache = pooling.maxpool2d_forward_general(x, window)
    fast_out, fast_cache = fast_pooling.maxpool2d_forward_fast_general(x, window)
    np.testing.assert_array_equal(out, want)
    np.testing.assert_array_equal(fast_out, want)
    np.testing.assert_array_equal(fast_cache[1], cache[1])
    dout = np.random.default_rng(3).standard_normal(want.shape)
    dx_loop = np.zeros_like(x)
    for (n, c, i, j), place in where.items():
        if place is not None:
            dx_loop[n, c][place] += dout[n, c, i, j]
    dx = pooling.maxpool2d_backward_general(dout, cache)
    np.testing.assert_allclose(dx, dx_loop, rtol=0, atol=1e-14)
    np.testing.assert_array_equal(fast_pooling.maxpool2d_backward_fast_general(dout, fast_cache), dx)


@pytest.mark.parametrize("case", POOL_OPTION_CASES)
@pytest.mark.parametrize("count_include_pad", [True, False])
def test_general_average_pooling_matches_the_loop_and_its_backward_is_the_adjoint(case, count_include_pad):
    shape, kernel, stride, pad, _, ceil_mode = case
    x = np.random.default_rng(4).standard_normal(shape)
    window = Window(kernel, stride, tuple((p, p) for p in pad), (1, 1), ceil_mode)
    out, cache = pooling.avgpool2d_forward_general(x, window, count_include_pad)
    np.testing.assert_allclose(out, pool_loop(x, kernel, stride, pad, ceil_mode=ceil_mode, kind="avg",
                                              count_include_pad=count_include_pad)[0], rtol=0, atol=1e-14)
    y = np.random.default_rng(5).standard_normal(out.shape)      # a linear map: <A x, y> == <x, A^T y>
    assert np.sum(out * y) == pytest.approx(np.sum(x * pooling.avgpool2d_backward_general(y, cache)), rel=1e-12)


def test_a_plain_pooling_layer_calls_the_plain_kernels_and_an_option_the_general_ones(monkeypatch):
    calls = []
    for module in (pooling, fast_pooling):
        for name in dir(module):
            if name.startswith(("maxpool2d_forward", "maxpool2d_backward", "avgpool2d_forward", "avgpool2d_backward")):
                f = getattr(module, name)
                monkeypatch.setattr(module, name, lambda *a, _n=name, _f=f, **k: calls.append(_n) or _f(*a, **k))
    x = np.random.default_rng(6).standard_normal((1, 2, 6, 6))
    for layer in (MaxPool2D(2), AvgPool2D(2)):
        layer.backward(np.ones_like(layer.forward(x)))
    assert calls == ["maxpool2d_forward_fast", "maxpool2d_backward_fast", "avgpool2d_forward", "avgpool2d_backward"]
    calls.clear()
    for layer in (MaxPool2D(2, ceil_mode=True), AvgPool2D(2, count_include_pad=False)):
        layer.backward(np.ones_like(layer.forward(x)))
    assert calls == ["maxpool2d_forward_fast_general", "maxpool2d_backward_fast_general",
                     "avgpool2d_forward_general", "avgpool2d_backward_general"]


@settings(max_examples=30, deadline=None)
@given(N=st.integers(1, 2), C=st.integers(1, 2), H=st.integers(1, 8), W=st.integers(1, 8), KH=st.integers(1, 3),
       KW=st.integers(1, 3), SH=st.integers(1, 3), SW=st.integers(1, 3), PH=st.integers(0, 1), PW=st.integers(0, 1),
       DH=st.integers(1, 2), DW=st.integers(1, 2), ceil_mode=st.booleans(), count_include_pad=st.booleans(),
       kind=st.sampled_from(["max_fast", "max_textbook", "avg"]))
def test_pooling_with_random_options_matches_torch_in_float64(N, C, H, W, KH, KW, SH, SW, PH, PW, DH, DW, ceil_mode,
                                                              count_include_pad, kind):
    torch = pytest.importorskip("torch")
    if kind == "avg":
        DH = DW = 1
    assume(PH <= KH // 2 and PW <= KW // 2)
    assume(H + 2 * PH >= DH * (KH - 1) + 1 and W + 2 * PW >= DW * (KW - 1) + 1)
    x = distinct_values(np.random.default_rng(0), (N, C, H, W))
    if kind == "avg":
        layer = AvgPool2D((KH, KW), (SH, SW), (PH, PW), ceil_mode, count_include_pad)
        module = torch.nn.AvgPool2d((KH, KW), (SH, SW), (PH, PW), ceil_mode, count_include_pad)
    else:
        layer = MaxPool2D((KH, KW), (SH, SW), (PH, PW), (DH, DW), ceil_mode, implementation=kind[4:])
        module = torch.nn.MaxPool2d((KH, KW), (SH, SW), (PH, PW), (DH, DW), ceil_mode=ceil_mode)
    try:
        layer.output_shape((C, H, W))
    except ShapeError:          # a dilated window reads only padding: refused (torch's backward writes out of bounds)
        assume(False)
    out = layer.forward(x)
    dout = np.random.default_rng(1).standard_normal(out.shape)
    xt = torch.tensor(x, requires_grad=True)
    ot = module(xt)
    ot.backward(torch.tensor(dout))
    np.testing.assert_allclose(out, ot.detach().numpy(), rtol=0, atol=1e-12)
    np.testing.assert_allclose(layer.backward(dout), xt.grad.numpy(), rtol=0, atol=1e-12)
    assert layer.output_shape((C, H, W)) == out.shape[1:]


@settings(max_examples=15, deadline=None)
@given(H=st.integers(2, 7), W=st.integers(2, 7), K=st.tuples(st.integers(1, 3), st.integers(1, 3)),
       S=st.tuples(st.integers(1, 2), st.integers(1, 2)), D=st.tuples(st.integers(1, 2), st.integers(1, 2)),
       ceil_mode=st.booleans(), count_include_pad=st.booleans(), kind=st.sampled_from(["max", "avg"]))
def test_pooling_backward_with_random_options_matches_central_differences(H, W, K, S, D, ceil_mode, count_include_pad,
                                                                          kind):
    P = (K[0] // 2, K[1] // 2)
    if kind == "avg":
        D = (1, 1)
    assume(H + 2 * P[0] >= D[0] * (K[0] - 1) + 1 and W + 2 * P[1] >= D[1] * (K[1] - 1) + 1)
    layer = (MaxPool2D(K, S, P, D, ceil_mode) if kind == "max" else AvgPool2D(K, S, P, ceil_mode, count_include_pad))
    try:
        layer.output_shape((2, H, W))
    except ShapeError:          # a dilated window reads only padding: refused, see the test below
        assume(False)
    result = check_layer(layer, distinct_values(np.random.default_rng(0), (2, 2, H, W)))
    assert result.passed, str(result)


@pytest.mark.parametrize("output_size", [1, 2, (2, 3), (None, 3), (4, 1)])
@pytest.mark.parametrize("kind", ["avg", "max"])
def test_adaptive_pooling_matches_torch_for_output_sizes_that_divide_the_input(output_size, kind):
    torch = pytest.importorskip("torch")
    x = distinct_values(np.random.default_rng(7), (2, 3, 4, 6))
    layer = AdaptiveAvgPool2D(output_size) if kind == "avg" else AdaptiveMaxPool2D(output_size)
    module = (torch.nn.AdaptiveAvgPool2d if kind == "avg" else torch.nn.AdaptiveMaxPool2d)(output_size)
    out = layer.forward(x)
    dout = np.random.default_rng(8).standard_normal(out.shape)
    xt = torch.tensor(x, requires_grad=True)
    ot = module(xt)
    ot.backward(torch.tensor(dout))
    np.testing.assert_allclose(out, ot.detach().numpy(), rtol=0, atol=1e-14)
    np.testing.assert_allclose(layer.backward(dout), xt.grad.numpy(), rtol=0, atol=1e-14)
    assert layer.output_shape((3, 4, 6)) == out.shape[1:]


def test_global_average_pooling_is_the_mean_of_each_channel():
    x = np.random.default_rng(9).standard_normal((2, 3, 4, 5))
    np.testing.assert_allclose(AdaptiveAvgPool2D(1).forward(x)[:, :, 0, 0], x.mean(axis=(2, 3)), rtol=1e-14)


def test_ceil_mode_keeps_the_last_partial_window_and_max_pooling_reads_only_the_input_there():
    x = np.arange(25.0).reshape(1, 1, 5, 5)
    out = MaxPool2D(2, ceil_mode=True).forward(x)                    # 3 x 3 windows, the last row/column partial
    np.testing.assert_array_equal(out[0, 0], [[6, 8, 9], [16, 18, 19], [21, 23, 24]])
    assert MaxPool2D(2).forward(x).shape == (1, 1, 2, 2)


@pytest.mark.parametrize("layer", [MaxPool2D((3, 2), (2, 1), 1, dilation=(1, 2), ceil_mode=True),
                                   AvgPool2D((2, 3), 2, (1, 0), ceil_mode=True, count_include_pad=False),
                                   AdaptiveAvgPool2D((2, None)), AdaptiveMaxPool2D(2)], ids=repr)
def test_pooling_options_round_trip_through_a_model_file(layer, tmp_path):
    model = nc.Sequential([("pool", layer), ("flat", nc.Flatten())], input_shape=(2, 8, 6))
    nc.model.save_model(tmp_path / "m.npz", model)
    loaded = nc.model.load_model(tmp_path / "m.npz")
    assert loaded["pool"].config() == layer.config() and type(loaded["pool"]) is type(layer)
    x = np.random.default_rng(10).standard_normal((2, 2, 8, 6)).astype(np.float32)
    np.testing.assert_array_equal(loaded.forward(x), model.forward(x))


def test_a_pooling_config_written_before_the_options_existed_builds_the_plain_layer():
    for cls in (MaxPool2D, AvgPool2D):
        layer = layers.layer_from_config(cls.__name__, {"kernel_size": 3, "stride": 2, "pad": 1})
        assert (layer.ceil_mode, layer.dilation, layer.general) == (False, 1, False)
        assert getattr(layer, "count_include_pad", True) is True


def test_a_dilated_max_pooling_window_that_reads_only_padding_is_refused_naming_it():
    """Kernel (2, 1), dilation 2, pad 1 on a 1-pixel-high input: the one window reads rows -1 and 1, both padding.
    Its maximum would be -inf (and PyTorch's backward writes outside its gradient there)."""
    layer = MaxPool2D((2, 1), 1, (1, 0), dilation=2, name="pool")
    with pytest.raises(ShapeError, match=r"'pool': along the height, window 0 reads only padding"):
        layer.forward(np.zeros((1, 1, 1, 8)))
    assert layer.forward(np.zeros((1, 1, 2, 8))).shape == (1, 1, 2, 8)     # row 1 of a 2-pixel input is inside
