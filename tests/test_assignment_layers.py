"""The exercises of BatchNorm, Dropout and the residual block: the solution tree earns every point,
the student tree none (each check fails with the exercise's NotImplementedError)."""

from numpycnn.lab.assignment import find_exercises, grade, make_student_copy
from numpycnn.lab.assignment.checks import CHECKS
from numpycnn.lab.assignment.checks_normalization_dropout_residual import CHECKS as LAYER_CHECKS
from numpycnn.lab.assignment.make import PACKAGE_DIR

EXERCISES = ["normalization.batchnorm_forward", "normalization.batchnorm_backward", "dropout.dropout_forward",
             "dropout.dropout_backward", "residual.ResidualBlock.backward"]


def test_the_new_layers_exercises_are_marked_and_their_checks_registered():
    found = {e.id for e in find_exercises()}
    assert set(EXERCISES) <= found
    assert sorted(LAYER_CHECKS) == sorted(EXERCISES)
    assert all(CHECKS[e] is LAYER_CHECKS[e] for e in EXERCISES)


def test_solution_tree_earns_every_point_of_the_new_layers_exercises():
    report = grade(PACKAGE_DIR.parent, exercises=EXERCISES)
    assert report["total"] == report["possible"] == sum(LAYER_CHECKS[e][0] for e in EXERCISES), report


def test_student_tree_earns_zero_on_them_by_not_implemented_error(tmp_path):
    make_student_copy(tmp_path)
    report = grade(tmp_path, exercises=EXERCISES)
    for r in report["exercises"]:
        assert r["points"] == 0, r
        assert r["checks"] and all("NotImplementedError" in c["message"] for c in r["checks"]), r
