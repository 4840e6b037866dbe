"""Model zoo: the architectures used by the demo, the tutorials and the experiments.

Every builder takes an explicit ``rng`` (or ``seed``) and returns a :class:`Sequential`.
"""
import numpy as np

from .errors import ShapeError
from .layers import Conv2D, Dense, Flatten, MaxPool2D, activation
from .model import Sequential
from .validate import choice


def _rng(rng, seed):
    return rng if rng is not None else np.random.default_rng(seed)


def _init_for(act):
    return "he" if act == "relu" else "xavier"


def lenet5(input_shape=(1, 28, 28), num_classes=10, activation_name="relu", rng=None, seed=0, dtype=np.float32):
    """LeNet-5 (LeCun et al., 1998), the classic layout::

        conv1 6@5x5 pad 2 -> act -> pool 2 -> conv2 16@5x5 -> act -> pool 2
        -> fc1 120 -> act -> fc2 84 -> act -> fc3 num_classes

    ``conv1`` is padded by 2 on inputs smaller than 32x32 (MNIST's 28x28 becomes
    LeNet's 32x32) and not padded on 32x32 inputs. Parameters: 61 706 on 1x28x28,
    62 006 on 3x32x32 (CIFAR-10) — the N of technique B's alpha0 example.
    """
    rng = _rng(rng, seed)
    C, H, W = input_shape
    if H < 12 or W < 12:
        raise ShapeError(f"lenet5 needs inputs of at least 12x12 pixels; got input_shape {input_shape}. "
                         f"Use small_cnn for the 8x8 digits")
    init = _init_for(activation_name)
    pad1 = 2 if min(H, W) < 32 else 0
    h = ((H + 2 * pad1 - 4) // 2 - 4) // 2
    w = ((W + 2 * pad1 - 4) // 2 - 4) // 2
    layers = [
        ("conv1", Conv2D(C, 6, 5, pad=pad1, init=init, rng=rng, dtype=dtype)), ("act1", activation(activation_name)),
        ("pool1", MaxPool2D(2)),
        ("conv2", Conv2D(6, 16, 5, init=init, rng=rng, dtype=dtype)), ("act2", activation(activation_name)),
        ("pool2", MaxPool2D(2)),
        ("flatten", Flatten()),
        ("fc1", Dense(16 * h * w, 120, init=init, rng=rng, dtype=dtype)), ("act3", activation(activation_name)),
        ("fc2", Dense(120, 84, init=init, rng=rng, dtype=dtype)), ("act4", activation(activation_name)),
        ("fc3", Dense(84, num_classes, init="xavier", rng=rng, dtype=dtype)),
    ]
    return Sequential(layers, input_shape=input_shape, name="lenet5")


def small_cnn(input_shape=(1, 8, 8), num_classes=10, width=16, activation_name="relu", rng=None, seed=0,
              dtype=np.float32):
    """A small CNN for 8x8 digits (the demo)::

        conv1 width@3x3 pad 1 -> act -> pool 2 -> conv2 2*width@3x3 pad 1 -> act -> pool 2
        -> fc1 64 -> act -> fc2 num_classes
    """
    rng = _rng(rng, seed)
    C, H, W = input_shape
    init = _init_for(activation_name)
    flat = 2 * width * (H // 4) * (W // 4)
    layers = [
        ("conv1", Conv2D(C, width, 3, pad=1, init=init, rng=rng, dtype=dtype)), ("act1", activation(activation_name)),
        ("pool1", MaxPool2D(2)),
        ("conv2", Conv2D(width, 2 * width, 3, pad=1, init=init, rng=rng, dtype=dtype)),
        ("act2", activation(activation_name)), ("pool2", MaxPool2D(2)),
        ("flatten", Flatten()),
        ("fc1", Dense(flat, 64, init=init, rng=rng, dtype=dtype)), ("act3", activation(activation_name)),
        ("fc2", Dense(64, num_classes, init="xavier", rng=rng, dtype=dtype)),
    ]
    return Sequential(layers, input_shape=input_shape, name="small_cnn")


def plain_cnn(input_shape=(1, 28, 28), num_classes=10, depth=8, width=16, activation_name="sigmoid",
              pool_every=None, rng=None, seed=0, dtype=np.float32):
    """A deep *plain* CNN (no normalisation, no skips) — where gradients vanish (technique A).

    ``depth`` conv layers ``conv1..convD`` of ``width`` 3x3 filters (pad 1), each followed
    by the activation; a 2x2 max pool after every ``pool_every`` conv layers (default:
    spread so the map shrinks at most twice); then ``flatten -> fc num_classes``.
    """
    rng = _rng(rng, seed)
    if depth < 1:
        raise ValueError(f"plain_cnn: depth must be >= 1; got {depth}")
    C, H, W = input_shape
    pool_every = pool_every or max(1, depth // 2)
    init = _init_for(activation_name)
    layers, c, h, w, pools = [], C, H, W, 0
    for i in range(1, depth + 1):
        layers.append((f"conv{i}", Conv2D(c, width, 3, pad=1, init=init, rng=rng, dtype=dtype)))
        layers.append((f"act{i}", activation(activation_name)))
        c = width
        if i % pool_every == 0 and pools < 2 and h >= 4 and w >= 4 and i < depth + 1:
            pools += 1
            layers.append((f"pool{pools}", MaxPool2D(2)))
            h, w = h // 2, w // 2
    layers += [("flatten", Flatten()), ("fc", Dense(c * h * w, num_classes, init="xavier", rng=rng, dtype=dtype))]
    return Sequential(layers, input_shape=input_shape, name=f"plain_cnn{depth}")


def vanilla_cnn(input_shape=(1, 28, 28), num_classes=10, width=32, activation_name="relu", rng=None, seed=0,
                dtype=np.float32):
    """RePr's vanilla CNN (technique E): three conv layers of ``width`` 3x3 filters, each followed by
    the activation and a 2x2 max pool, then a dense classifier."""
    rng = _rng(rng, seed)
    C, H, W = input_shape
    init = _init_for(activation_name)
    layers, c, h, w = [], C, H, W
    for i in range(1, 4):
        layers += [(f"conv{i}", Conv2D(c, width, 3, pad=1, init=init, rng=rng, dtype=dtype)),
                   (f"act{i}", activation(activation_name))]
        if h >= 2 and w >= 2:
            layers.append((f"pool{i}", MaxPool2D(2)))
            h, w = h // 2, w // 2
        c = width
    layers += [("flatten", Flatten()), ("fc", Dense(c * h * w, num_classes, init="xavier", rng=rng, dtype=dtype))]
    return Sequential(layers, input_shape=input_shape, name="vanilla_cnn")


def mlp(input_shape=(1, 28, 28), num_classes=10, hidden=(300, 100), activation_name="relu", rng=None, seed=0,
        dtype=np.float32):
    """A multilayer perceptron ``flatten -> fc1 -> act -> ... -> fc_out`` (784-300-100-10 by default)."""
    rng = _rng(rng, seed)
    init = _init_for(activation_name)
    n_in = int(np.prod(input_shape))
    layers = [("flatten", Flatten())]
    for i, n in enumerate(hidden, 1):
        layers += [(f"fc{i}", Dense(n_in, n, init=init, rng=rng, dtype=dtype)),
                   (f"act{i}", activation(activation_name))]
        n_in = n
    layers.append((f"fc{len(hidden) + 1}", Dense(n_in, num_classes, init="xavier", rng=rng, dtype=dtype)))
    return Sequential(layers, input_shape=input_shape, name="mlp")


MODELS = {"lenet5": lenet5, "small_cnn": small_cnn, "plain_cnn": plain_cnn, "vanilla_cnn": vanilla_cnn, "mlp": mlp}


def build_model(name, input_shape, num_classes=10, activation_name="relu", seed=0, **kwargs):
    """Build a zoo model by name (see ``MODELS``)."""
    choice(name, "model", "build_model", sorted(MODELS))
    return MODELS[name](input_shape=tuple(input_shape), num_classes=num_classes, activation_name=activation_name,
                        seed=seed, **kwargs)
