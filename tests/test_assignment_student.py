"""The assignment as a student meets it: student-written solutions planted in a student copy, graded by the
grader and by the student's own ``assignment check``.

Planted right: an im2col convolution whose forward and backward agree on a cache of their own (a dict,
unlike any reference cache) earns full points, and the local check predicts it. Planted wrong, each
caught with a message that says what is wrong: Dense ignoring its mask (forward and backward),
GradientDirection not advancing ``t`` or putting the decoupled weight decay inside the normalisation,
max pooling sending a tied window's gradient to every maximum, a backward whose forward is not written
(it is told it received the reference forward's cache, and what that cache held).
"""
import ast
import re
import textwrap
from pathlib import Path

import pytest

from numpycnn.lab.assignment import grade, make_student_copy
from numpycnn.lab.assignment.checks import CHECKS

IM2COL = ["im2col.im2col", "im2col.col2im"]


def replace_body(tree, file, qualname, body):
    """Replace the body of function ``qualname`` in ``tree/numpycnn/file`` (its docstring kept) by ``body``."""
    path = Path(tree) / "numpycnn" / file
    source = path.read_text()
    node = ast.parse(source)
    for part in qualname.split("."):
        node = next(n for n in node.body if isinstance(n, (ast.FunctionDef, ast.ClassDef)) and n.name == part)
    has_doc = isinstance(node.body[0], ast.Expr) and isinstance(getattr(node.body[0], "value", None), ast.Constant)
    first = node.body[1] if has_doc else node.body[0]
    lines = source.splitlines(keepends=True)
    indent = re.match(r"[ \t]*", lines[first.lineno - 1]).group(0)
    new = textwrap.indent(textwrap.dedent(body).strip("\n"), indent) + "\n"
    path.write_text("".join(lines[:first.lineno - 1]) + new + "".join(lines[node.end_lineno:]))


# -- student solutions -------------------------------------------------------------------------
CONV_FORWARD = """
from .im2col import conv_output_size, im2col
N, C, H, W = x.shape
F, _, KH, KW = w.shape
OH, OW = conv_output_size(H, KH, stride, pad), conv_output_size(W, KW, stride, pad)
cols = im2col(x, KH, KW, stride, pad)                                  # (N*OH*OW, C*KH*KW)
out = (cols @ w.reshape(F, -1).T + b).reshape(N, OH, OW, F).transpose(0, 3, 1, 2)
return out, {"x_shape": x.shape, "cols": cols, "w": w, "stride": stride, "pad": pad}
"""
CONV_BACKWARD = """
from .im2col import col2im
F, C, KH, KW = cache["w"].shape
D = dout.transpose(0, 2, 3, 1).reshape(-1, F)                          # (N*OH*OW, F)
dw = (D.T @ cache["cols"]).reshape(cache["w"].shape)
db = D.sum(axis=0)
dx = col2im(D @ cache["w"].reshape(F, -1), cache["x_shape"], KH, KW, cache["stride"], cache["pad"])
return dx, dw, db
"""
DENSE_FORWARD_IGNORING_MASK = """
self.x = x
return x @ self.params["W"].T + self.params["b"]
"""
DENSE_BACKWARD_IGNORING_MASK = """
self.grads["W"] = dout.T @ self.x
self.grads["b"] = dout.sum(axis=0)
return dout @ self.params["W"]
"""
GD_STEP = """
triples = list(self.model.named_parameters())
alpha = self.alpha
norm_g = math.sqrt(sum(float(np.sum(g.astype(np.float64) ** 2)) for _, _, g in triples))
for _, x, g in triples:
    if self.weight_decay:
        x *= 1.0 - self.weight_decay * alpha / math.sqrt(self.N)
    if norm_g > 0:
        x -= (alpha / norm_g) * g
{count}
if self.decay_mode == "initial":
    if self.decaying:
        self.alpha = alpha * (1.0 - self.beta)
elif alpha > self.threshold:
    self.alpha = max(alpha * (1.0 - self.beta), self.threshold)
"""
GD_STEP_WITHOUT_T = GD_STEP.format(count="pass")
GD_STEP_DECAY_INSIDE_NORM = """
triples = list(self.model.named_parameters())
alpha = self.alpha
total = [g + self.weight_decay * x for _, x, g in triples]              # L2 term inside the direction
norm_g = math.sqrt(sum(float(np.sum(t ** 2)) for t in total))
for (_, x, _), g in zip(triples, total):
    if norm_g > 0:
        x -= (alpha / norm_g) * g
self.t += 1
if self.decay_mode == "initial":
    if self.decaying:
        self.alpha = alpha * (1.0 - self.beta)
elif alpha > self.threshold:
    self.alpha = max(alpha * (1.0 - self.beta), self.threshold)
"""
MAXPOOL_FORWARD = """
K = kernel_size
stride = K if stride is None else stride
N, C, H, W = x.shape
OH, OW = (H + 2 * pad - K) // stride + 1, (W + 2 * pad - K) // stride + 1
xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)), constant_values=-np.inf)
out = np.empty((N, C, OH, OW), dtype=x.dtype)
for i in range(OH):
    for j in range(OW):
        out[:, :, i, j] = xp[:, :, i * stride:i * stride + K, j * stride:j * stride + K].max(axis=(2, 3))
return out, (x, out, K, stride, pad)
"""
MAXPOOL_BACKWARD_TO_EVERY_MAXIMUM = """
x, out, K, stride, pad = cache
N, C, H, W = x.shape
xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)), constant_values=-np.inf)
dxp = np.zeros_like(xp)
for i in range(dout.shape[2]):
    for j in range(dout.shape[3]):
        win = xp[:, :, i * stride:i * stride + K, j * stride:j * stride + K]
        mask = win == out[:, :, i, j][:, :, None, None]                 # every tied maximum
        dxp[:, :, i * stride:i * stride + K, j * stride:j * stride + K] += mask * dout[:, :, i, j][:, :, None, None]
return dxp[:, :, pad:pad + H, pad:pad + W]
"""
PLANTED = ["conv.conv2d_forward", "conv.conv2d_backward", "layers.Dense.forward", "layers.Dense.backward",
           "techniques.gradient_direction.GradientDirection.step", "pooling.maxpool2d_forward",
           "pooling.maxpool2d_backward"]


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """One student copy with every planted solution, graded by the grader and by the local check."""
    tree = tmp_path_factory.mktemp("planted")
    make_student_copy(tree, keep=IM2COL)
    replace_body(tree, "conv.py", "conv2d_forward", CONV_FORWARD)
    replace_body(tree, "conv.py", "conv2d_backward", CONV_BACKWARD)
    replace_body(tree, "layers.py", "Dense.forward", DENSE_FORWARD_IGNORING_MASK)
    replace_body(tree, "layers.py", "Dense.backward", DENSE_BACKWARD_IGNORING_MASK)
    replace_body(tree, "techniques/gradient_direction.py", "GradientDirection.step", GD_STEP_WITHOUT_T)
    replace_body(tree, "pooling.py", "maxpool2d_forward", MAXPOOL_FORWARD)
    replace_body(tree, "pooling.py", "maxpool2d_backward", MAXPOOL_BACKWARD_TO_EVERY_MAXIMUM)
    graded = grade(tree, exercises=PLANTED, jobs=2)
    local = grade(tree, exercises=PLANTED, mode="local", jobs=2)
    return ({r["exercise"]: r for r in graded["exercises"]}, {r["exercise"]: r for r in local["exercises"]})


def _failed(report):
    return {c["name"]: c.get("message", "") for c in report["checks"] if c["passed"] is False}


def test_convolution_with_its_own_cache_layout_earns_full_points(planted):
    graded, _ = planted
    for ex in ("conv.conv2d_forward", "conv.conv2d_backward"):
        assert graded[ex]["points"] == CHECKS[ex][0], graded[ex]
    assert graded["conv.conv2d_backward"]["cache_from"] == "student"


def test_local_check_predicts_the_grade_of_every_planted_exercise(planted):
    graded, local = planted
    for ex in PLANTED:
        assert local[ex]["points"] == graded[ex]["points"], (ex, graded[ex], local[ex])


def test_dense_ignoring_its_mask_loses_points_with_a_message_naming_the_mask(planted):
    graded, _ = planted
    for ex, check in (("layers.Dense.forward", "dense_forward_uses_the_masked_weight"),
                      ("layers.Dense.backward", "dense_backward_masks_dW_and_uses_the_masked_weight")):
        assert 0 < graded[ex]["points"] < CHECKS[ex][0], graded[ex]
        assert list(_failed(graded[ex])) == [check], graded[ex]
        assert "W * M" in _failed(graded[ex])[check]


def test_gradient_direction_not_advancing_t_fails_t_counts_the_updates(planted):
    graded, _ = planted
    r = graded["techniques.gradient_direction.GradientDirection.step"]
    failed = _failed(r)
    assert list(failed) == ["t_counts_the_updates"], r
    assert "self.t after step 1: got 0, want 1" in failed["t_counts_the_updates"]


def test_maxpool_backward_sending_ties_to_every_maximum_fails_the_ties_check_only(planted):
    graded, _ = planted
    assert graded["pooling.maxpool2d_forward"]["points"] == CHECKS["pooling.maxpool2d_forward"][0]
    r = graded["pooling.maxpool2d_backward"]
    assert list(_failed(r)) == ["maxpool_backward_sends_ties_to_the_first_maximum"], r
    assert r["points"] == CHECKS["pooling.maxpool2d_backward"][0] / 2


@pytest.fixture(scope="module")
def second_tree(tmp_path_factory):
    """A backward written without its forward, and the weight decay put inside the normalisation."""
    tree = tmp_path_factory.mktemp("second")
    make_student_copy(tree)
    replace_body(tree, "conv.py", "conv2d_backward", CONV_BACKWARD)
    replace_body(tree, "techniques/gradient_direction.py", "GradientDirection.step", GD_STEP_DECAY_INSIDE_NORM)
    report = grade(tree, exercises=["conv.conv2d_backward", "techniques.gradient_direction.GradientDirection.step"],
                   jobs=2)
    return {r["exercise"]: r for r in report["exercises"]}


def test_backward_without_its_forward_is_told_which_cache_it_received(second_tree):
    r = second_tree["conv.conv2d_backward"]
    assert r["points"] == 0 and r["cache_from"] == "reference", r
    message = _failed(r)["conv_backward_matches_naive_loop"]
    assert "your conv2d_backward raised TypeError" in message, message
    assert "numpycnn/conv.py line" in message and "It received dout: ndarray" in message, message
    assert "cache: tuple of" in message and "the reference conv2d_forward (yours is not implemented yet" in message


def test_weight_decay_inside_the_normalisation_fails_with_the_step_and_quantity_named(second_tree):
    r = second_tree["techniques.gradient_direction.GradientDirection.step"]
    failed = _failed(r)
    assert list(failed) == ["decoupled_weight_decay_shrinks_x_outside_the_normalisation"], r
    assert "x_(t+1) after step 1: got" in failed["decoupled_weight_decay_shrinks_x_outside_the_normalisation"]
