"""The exercises of tutorials 12 and 13 — the row standardisation of LayerNorm and GroupNorm (forward and
backward), GroupNorm's grouping, global average pooling (forward and backward) and the input gradient: the
solution tree earns every point, the student tree none, and a planted student mistake of each kind loses the
points of the check that names it (graded by the grader and predicted by the student's local check)."""
import pytest

from numpycnn.lab.assignment import find_exercises, grade, make_student_copy
from numpycnn.lab.assignment.checks import CHECKS
from numpycnn.lab.assignment.checks_row_norms_pooling_input_gradient import CHECKS as NEW_CHECKS
from numpycnn.lab.assignment.make import PACKAGE_DIR
from test_assignment_student import replace_body

EXERCISES = ["normalization.standardize_rows", "normalization.standardize_rows_backward",
             "normalization.GroupNorm.forward", "pooling.global_avgpool_forward", "pooling.global_avgpool_backward",
             "interpret.input_gradient"]


def test_the_new_exercises_are_marked_and_their_checks_registered():
    assert set(EXERCISES) <= {e.id for e in find_exercises()}
    assert sorted(NEW_CHECKS) == sorted(EXERCISES)
    assert all(CHECKS[e] is NEW_CHECKS[e] for e in EXERCISES)


def test_solution_tree_earns_every_point_of_the_new_exercises():
    report = grade(PACKAGE_DIR.parent, exercises=EXERCISES, jobs=2)
    assert report["total"] == report["possible"] == sum(NEW_CHECKS[e][0] for e in EXERCISES), report


def test_student_tree_earns_zero_on_them_by_not_implemented_error(tmp_path):
    make_student_copy(tmp_path)
    report = grade(tmp_path, exercises=EXERCISES, jobs=2)
    for r in report["exercises"]:
        assert r["points"] == 0, r
        assert r["checks"] and all("NotImplementedError" in c["message"] for c in r["checks"]), r


# -- planted mistakes: (file, function, body, the check that must fail, a word of its message) ------------------
STATISTICS_DOWN_THE_COLUMNS = """
mu = x.mean(axis=0, keepdims=True)
var = ((x - mu) ** 2).mean(axis=0, keepdims=True)
inv_std = 1 / np.sqrt(var + eps)
x_hat = (x - mu) * inv_std
return x_hat, (x_hat, inv_std)
"""
BACKWARD_WITHOUT_THE_VARIANCE_TERM = """
x_hat, inv_std = cache
return inv_std * (dx_hat - dx_hat.mean(axis=1, keepdims=True))
"""
GROUPS_TAKEN_ACROSS_THE_BATCH = """
check_float(x, self.display_name(), min_ndim=2)
N, C = x.shape[:2]
rows = x.reshape(N, self.num_groups, -1).transpose(1, 0, 2).reshape(self.num_groups, -1)   # a group of every sample
x_hat, self.cache = standardize_rows(rows, self.eps)
self.x_hat = x_hat.reshape(self.num_groups, N, -1).transpose(1, 0, 2).reshape(x.shape)
c = self._per_channel(x.ndim)
return self.x_hat * self.effective("gamma").reshape(c) + self.effective("beta").reshape(c)
"""
GAP_FORWARD = """
return x.mean(axis=(2, 3), keepdims=True), (x.shape,)
"""
GAP_BACKWARD_WITHOUT_THE_DIVISION = """
(x_shape,) = cache
return np.broadcast_to(dout, x_shape).copy()
"""
INPUT_GRADIENT_OF_THE_PROBABILITY_ERROR_ALWAYS = """
where = "input_gradient"
x = model.check_input(x)
with model.evaluation_mode():
    z = model.forward(x, check=False)
    t = _targets(target, z, where)
    return model.backward(softmax(z) - onehot(t, z.shape[1], dtype=z.dtype))
"""
PLANTED = [
    ("normalization.py", "standardize_rows", STATISTICS_DOWN_THE_COLUMNS,
     "standardize_rows_normalises_each_row_with_its_own_mean_and_biased_variance", "ROW"),
    ("normalization.py", "standardize_rows_backward", BACKWARD_WITHOUT_THE_VARIANCE_TERM,
     "standardize_rows_backward_matches_central_differences", "central differences"),
    ("normalization.py", "GroupNorm.forward", GROUPS_TAKEN_ACROSS_THE_BATCH,
     "groupnorm_forward_normalises_each_group_of_channels_of_each_sample", "share a mean"),
    ("pooling.py", "global_avgpool_forward", GAP_FORWARD, None, None),
    ("pooling.py", "global_avgpool_backward", GAP_BACKWARD_WITHOUT_THE_DIVISION,
     "global_avgpool_backward_spreads_dout_evenly", "dout[n, c] / (H·W)"),
    ("interpret.py", "input_gradient", INPUT_GRADIENT_OF_THE_PROBABILITY_ERROR_ALWAYS,
     "input_gradient_of_the_score_matches_central_differences", "z[n, t_n]"),
]


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    tree = tmp_path_factory.mktemp("planted_new")
    make_student_copy(tree, keep=[e.id for e in find_exercises() if e.id not in EXERCISES])   # the rest done
    for file, qualname, body, _, _ in PLANTED:
        replace_body(tree, file, qualname, body)
    graded = grade(tree, exercises=EXERCISES, jobs=2)
    local = grade(tree, exercises=EXERCISES, mode="local", jobs=2)
    return ({r["exercise"]: r for r in graded["exercises"]}, {r["exercise"]: r for r in local["exercises"]})


@pytest.mark.parametrize("file, qualname, body, check, word", PLANTED, ids=[p[1] for p in PLANTED])
def test_a_planted_mistake_fails_the_check_that_names_it_and_the_local_check_agrees(planted, file, qualname, body,
                                                                                     check, word):
    module = file[:-3]
    exercise = f"{module}.{qualname}"
    for report in planted:
        r = report[exercise]
        failed = {c["name"]: c.get("message", "") for c in r["checks"] if c["passed"] is False}
        if check is None:                                   # the right answer, written by a student
            assert failed == {} and r["points"] == r["points_possible"], r
        else:
            assert check in failed and word in failed[check], r
            assert r["points"] < r["points_possible"], r
