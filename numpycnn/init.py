"""Weight initialisers. Each takes an explicit ``np.random.Generator``.

For a weight of shape ``(F, C, KH, KW)`` (conv) or ``(out, in)`` (dense)::

    fan_in  = C*KH*KW   (or in)
    fan_out = F*KH*KW   (or out)

- Xavier/Glorot uniform:  U(-a, a),  a = gain * sqrt(6 / (fan_in + fan_out))
- He/Kaiming normal:      N(0, 2 / fan_in)          (for ReLU)
- normal:                 N(0, std**2)
"""
import numpy as np


def fans(shape):
    """Return ``(fan_in, fan_out)`` of a dense ``(out, in)`` or conv ``(F, C, KH, KW)`` weight shape."""
    if len(shape) == 2:
        return shape[1], shape[0]
    receptive = int(np.prod(shape[2:]))
    return shape[1] * receptive, shape[0] * receptive


def _check_rng(rng):
    if not isinstance(rng, np.random.Generator):
        raise TypeError(
            f"rng must be a numpy.random.Generator (e.g. np.random.default_rng(0)); got {type(rng).__name__}"
        )


def xavier_uniform(shape, rng, gain=1.0, dtype=np.float32):
    """Glorot & Bengio (2010): keeps activation variance roughly constant for tanh/sigmoid nets."""
    _check_rng(rng)
    fan_in, fan_out = fans(shape)
    a = gain * np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-a, a, size=shape).astype(dtype)


def he_normal(shape, rng, dtype=np.float32):
    """He et al. (2015): variance ``2/fan_in``, keeps ReLU activations from shrinking layer by layer."""
    _check_rng(rng)
    fan_in, _ = fans(shape)
    return (rng.standard_normal(size=shape) * np.sqrt(2.0 / fan_in)).astype(dtype)


def normal(shape, rng, std=0.01, dtype=np.float32):
    """Plain Gaussian ``N(0, std**2)`` (the CS231n default, ``std = 1e-2``)."""
    _check_rng(rng)
    return (rng.standard_normal(size=shape) * std).astype(dtype)


INITIALIZERS = {"xavier": xavier_uniform, "he": he_normal, "normal": normal}


def get_initializer(name):
    """Look an initialiser up by name: ``"xavier"``, ``"he"`` or ``"normal"``."""
    try:
        return INITIALIZERS[name]
    except KeyError:
        raise ValueError(f"init must be one of {sorted(INITIALIZERS)}; got {name!r}") from None
