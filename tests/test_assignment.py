"""Course assignments: the student copy, and the autograder's points."""
import subprocess
import sys

import pytest

from numpycnn.lab.assignment import find_exercises, grade, make_student_copy
from numpycnn.lab.assignment.checks import CHECKS
from numpycnn.lab.assignment.make import PACKAGE_DIR, regions, strip_solutions

SOME = ["layers.ReLU.forward", "conv.conv2d_forward", "optim.Adam.update"]


def test_every_exercise_has_registered_checks():
    missing = [e.id for e in find_exercises() if e.id not in CHECKS]
    assert missing == []


def test_solution_tree_earns_full_points():
    report = grade(PACKAGE_DIR.parent, jobs=2)
    assert report["total"] == report["possible"] > 0, [r for r in report["exercises"] if r["points"] < r["points_possible"]]


@pytest.fixture(scope="module")
def student_tree(tmp_path_factory):
    out = tmp_path_factory.mktemp("student")
    make_student_copy(out)
    return out


def test_student_tree_imports_cleanly(student_tree):
    proc = subprocess.run([sys.executable, "-c", "import numpycnn, numpycnn.layers, numpycnn.conv; print('ok')"],
                          cwd=student_tree, capture_output=True, text=True)
    assert proc.returncode == 0 and "ok" in proc.stdout, proc.stderr


def test_student_tree_has_no_solution_regions_left(student_tree):
    for path in (student_tree / "numpycnn").rglob("*.py"):
        assert regions(path) == [], path


def test_unfinished_student_tree_scores_zero_by_not_implemented_error(student_tree):
    report = grade(student_tree, exercises=SOME)
    for r in report["exercises"]:
        assert r["points"] == 0, r
        assert r["checks"] and all("NotImplementedError" in c["message"] for c in r["checks"]), r


def test_filling_one_region_earns_exactly_that_exercises_points(tmp_path):
    make_student_copy(tmp_path, keep=["layers.ReLU.forward"])
    report = grade(tmp_path, exercises=SOME)
    points = {r["exercise"]: r["points"] for r in report["exercises"]}
    assert points == {"layers.ReLU.forward": CHECKS["layers.ReLU.forward"][0],
                      "conv.conv2d_forward": 0, "optim.Adam.update": 0}


def test_grader_survives_a_student_syntax_error(tmp_path):
    make_student_copy(tmp_path)
    conv = tmp_path / "numpycnn" / "conv.py"
    conv.write_text(conv.read_text() + "\ndef broken(:\n")
    report = grade(tmp_path, exercises=["conv.conv2d_forward"])
    r = report["exercises"][0]
    assert r["points"] == 0 and "SyntaxError" in (r.get("error") or "")


def test_strip_solutions_replaces_region_with_not_implemented_error():
    src = "def f(x):\n    '''doc'''\n    ### BEGIN SOLUTION\n    return x + 1\n    ### END SOLUTION\n"
    out = strip_solutions(src, {3: "m.f"})
    ns = {}
    exec(compile(out, "<student>", "exec"), ns)
    assert ns["f"].__doc__ == "doc"
    with pytest.raises(NotImplementedError, match="m.f"):
        ns["f"](1)


def test_tutorial_needs_records_the_exercises_a_tutorial_calls():
    from numpycnn.lab.assignment.needs import tutorial_needs
    root = PACKAGE_DIR.parent
    needs = tutorial_needs(root, tutorials=[root / "tutorials" / "01_convolution_by_hand.py"])
    called = needs["01_convolution_by_hand.py"]
    assert {"im2col.im2col", "im2col.col2im", "conv.conv2d_forward", "conv.conv2d_backward"} <= set(called)
    assert not any(c.startswith("techniques.") for c in called)


def test_exercises_by_tutorial_table_says_each_tutorial_runs_only_exercises_taught_up_to_it():
    """The generated table (a measurement: `assignment needs --write`) agrees with the course order. The
    staged run of tests/test_tutorials.py is the proof; this catches a table written before a change."""
    import re
    from numpycnn.lab.assignment import course
    from numpycnn.lab.assignment.needs import NEEDS_FILE
    table = (PACKAGE_DIR.parent / NEEDS_FILE).read_text(encoding="utf-8")
    for path in course.in_order():
        row = re.search(rf"^\| `{re.escape(path.name)}` \| (.*) \| (.*) \|$", table, re.M)
        assert row, f"{NEEDS_FILE} has no row for {path.name}"
        runs = set(re.findall(r"`([^`]+)`", row.group(2)))
        assert runs <= course.exercises_through(path.stem), (path.name, runs - course.exercises_through(path.stem))
        assert set(re.findall(r"`([^`]+)`", row.group(1))) == course.exercises_taught([path])


def test_exercises_by_tutorial_table_has_a_row_per_tutorial():
    from numpycnn.lab.assignment.needs import NEEDS_FILE
    root = PACKAGE_DIR.parent
    table = (root / NEEDS_FILE).read_text(encoding="utf-8")
    missing = [p.name for p in sorted((root / "tutorials").glob("*.py")) if f"| `{p.name}` |" not in table]
    assert missing == [], f"{NEEDS_FILE} has no row for {missing}: run `python -m numpycnn assignment needs --write`"
