"""layer_base.py: what every layer shares — the implementation switch (``use_implementation``, a
layer's own choice) and masked weights.
"""
import numpy as np
import pytest

from numpycnn import layers, layers as L
from numpycnn.gradcheck import check_layer
from numpycnn.layers import Conv2D

from conftest import make_input


def test_use_implementation_works_as_a_context_manager_and_as_a_plain_call():
    assert layers.default_implementation() == "fast"
    with layers.use_implementation("textbook"):
        assert layers.default_implementation() == "textbook"
    assert layers.default_implementation() == "fast"
    try:
        layers.use_implementation("textbook")
        assert layers.default_implementation() == "textbook"
    finally:
        layers.use_implementation("fast")
    assert layers.default_implementation() == "fast"


def test_an_unknown_implementation_name_is_refused_naming_the_choices():
    with pytest.raises(ValueError, match=r"implementation must be one of \['fast', 'textbook'\]; got 'blas'"):
        layers.use_implementation("blas")
    with pytest.raises(ValueError, match="implementation"):
        Conv2D(1, 2, 3, implementation="blas")
    assert layers.default_implementation() == "fast"


def test_an_error_inside_a_use_implementation_block_propagates_and_restores_the_previous_choice():
    with pytest.raises(ZeroDivisionError):
        with layers.use_implementation("textbook"):
            1 / 0
    assert layers.default_implementation() == "fast"


def test_a_wrong_implementation_name_is_reported_by_use_implementation():
    with pytest.raises(ValueError, match=r"^use_implementation: implementation must be one of"):
        layers.use_implementation("blas")


def test_masked_weights_take_no_gradient_and_no_part_in_the_forward_pass():
    layer = L.Conv2D(2, 3, 3, rng=np.random.default_rng(0), dtype=np.float64)
    mask = (np.random.default_rng(1).random(layer.params["W"].shape) > 0.5).astype(np.float64)
    layer.set_mask("W", mask)
    x = make_input((2, 2, 5, 5), "normal")
    out = layer.forward(x)
    layer.backward(np.ones_like(out))
    assert np.all(layer.grads["W"][mask == 0] == 0)
    assert np.all(layer.params["W"][mask == 0] == 0)
    result = check_layer(layer, x)
    assert result.passed, str(result)
