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
