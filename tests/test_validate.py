"""numpycnn.validate: the one place where argument checks and their messages live."""
import ast
from pathlib import Path

import numpy as np
import pytest

from numpycnn.errors import ShapeError
from numpycnn.validate import check_4d, check_float, choice, count, integer, number


def test_integer_returns_a_python_int_and_accepts_numpy_integers():
    assert integer(np.int64(3), "n", "f") == 3 and type(integer(np.int64(3), "n", "f")) is int


@pytest.mark.parametrize("bad, exc", [(1.5, TypeError), ("2", TypeError), (True, TypeError), (0, ValueError)])
def test_integer_rejects_with_where_name_value_and_expectation(bad, exc):
    with pytest.raises(exc, match=rf"Conv2D 'c': stride must be an integer >= 1; got {bad!r}"):
        integer(bad, "stride", "Conv2D 'c'")


@pytest.mark.parametrize("kwargs, expected", [
    ({"low": 0, "low_open": True}, "a number > 0"),
    ({"low": 0}, "a number >= 0"),
    ({"low": 0, "high": 1, "low_open": True}, r"a number in \(0, 1\]"),
    ({"low": 0, "high": 1, "high_open": True}, r"a number in \[0, 1\)"),
    ({}, "a finite number"),
])
def test_number_states_the_interval_it_expects(kwargs, expected):
    with pytest.raises(ValueError, match=rf"f: x must be {expected}; got nan"):
        number(float("nan"), "x", "f", **kwargs)


@pytest.mark.parametrize("value, ok", [(0.0, False), (1e-12, True), (1.0, True), (1.0 + 1e-12, False)])
def test_number_bounds_open_and_closed(value, ok):
    if ok:
        assert number(value, "p", "f", low=0, high=1, low_open=True) == value
    else:
        with pytest.raises(ValueError, match="p must be a number in"):
            number(value, "p", "f", low=0, high=1, low_open=True)


def test_number_rejects_bools_strings_and_infinity_and_adds_the_meaning():
    with pytest.raises(TypeError, match=r"lr must be a number > 0; got True \(bool\)"):
        number(True, "lr", "Adam", low=0, low_open=True)
    with pytest.raises(TypeError, match=r"got '0.1' \(str\)"):
        number("0.1", "lr", "Adam", low=0, low_open=True)
    with pytest.raises(ValueError, match=r"sparsity must be a number in \[0, 1\) \(the fraction of absent weights\)"):
        number(float("inf"), "sparsity", "er", low=0, high=1, high_open=True, meaning="the fraction of absent weights")


@pytest.mark.parametrize("bad", [0, -2, 3.5, "4", True])
def test_count_rejects_anything_but_a_positive_integer_with_a_value_error(bad):
    message = rf"select_masks: K \(number of mask candidates\) must be a positive integer; got {bad!r}"
    with pytest.raises(ValueError, match=message):
        count(bad, "K", "select_masks", meaning="number of mask candidates")
    assert count(np.int32(4), "K", "f") == 4


def test_choice_returns_the_value_or_names_the_options_and_what_was_given():
    assert choice("b", "mode", "f", ("a", "b")) == "b"
    with pytest.raises(ValueError, match=r"^f: mode must be one of \['a', 'b'\]; got 'c'$"):
        choice("c", "mode", "f", ("a", "b"))
    with pytest.raises(ValueError, match=r"got \['a'\]"):           # unhashable: refused, not a TypeError
        choice(["a"], "mode", "f", ("a", "b"))


@pytest.mark.parametrize("x, exc, words", [
    ([[0.0]], TypeError, ["numpy array", "list"]),
    (np.zeros((2, 3, 4)), ShapeError, ["4 dimensions", "(2, 3, 4)", "x[:, None, :, :]"]),
    (np.zeros((1, 2, 4, 4)), ShapeError, ["3 channels", "(1, 2, 4, 4)"]),
    (np.zeros((1, 3, 4, 4), dtype=np.uint8), TypeError, ["floating-point", "uint8", "astype"]),
])
def test_check_4d_names_the_layer_the_input_and_what_was_expected(x, exc, words):
    with pytest.raises(exc) as info:
        check_4d(x, "Conv2D 'conv1'", channels=3)
    assert str(info.value).startswith("Conv2D 'conv1': ") and all(w in str(info.value) for w in words)


def test_check_float_wants_a_float_array_with_a_batch_axis():
    check_float(np.zeros((2, 3)), "ReLU", min_ndim=2)
    with pytest.raises(ShapeError, match=r"^Flatten: input x must have at least 2 dimensions .*got shape \(3,\)"):
        check_float(np.zeros(3), "Flatten", min_ndim=2)
    with pytest.raises(TypeError, match=r"^ReLU: input x must be floating point; got dtype int64"):
        check_float(np.zeros(3, dtype=np.int64), "ReLU")


def _bad_input_tables():
    """``{test file: number of rows}`` of every ``BAD_INPUTS = [...]`` table under tests/, read without importing."""
    tables = {}
    for path in sorted(Path(__file__).parent.glob("test_*.py")):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if (isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)
                    and node.targets[0].id == "BAD_INPUTS"):
                tables[path.name] = len(node.value.elts)
    return tables


def test_there_are_at_least_forty_bad_input_rows_across_the_modules_and_every_table_is_run():
    """Each module's bad input is a ``BAD_INPUTS`` table in its own test file (tests/conftest.py); together at least
    40, and a table is run only through the shared test, so a file that defines one must also run it."""
    tables = _bad_input_tables()
    assert sum(tables.values()) >= 40, tables
    for name in tables:
        text = (Path(__file__).parent / name).read_text(encoding="utf-8")
        assert "bad_input_cases(BAD_INPUTS)" in text and "assert_bad_input(" in text, name
