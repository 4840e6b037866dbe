"""Gradescope: the packaged autograder, run as Gradescope runs it (``ROOT/source``, ``ROOT/submission``,
``ROOT/results/results.json``, here in temporary folders) on the solution tree, the student tree and a
tree with one exercise filled in."""
import configparser
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from numpycnn.lab.assignment import make_student_copy
from numpycnn.lab.assignment.checks import CHECKS
from numpycnn.lab.assignment.gradescope import REQUIREMENTS, find_submission_root, package, results_json

ROOT = Path(__file__).resolve().parents[1]
#: a few exercises keep the test short; `assignment package` without --exercise grades every one
GRADED = ["layers.ReLU.forward", "layers.ReLU.backward", "pooling.maxpool2d_forward"]


@pytest.fixture(scope="module")
def autograder(tmp_path_factory):
    """The zip, unpacked where Gradescope puts it: ``<root>/source``."""
    base = tmp_path_factory.mktemp("gradescope")
    zpath = package(base / "autograder.zip", exercises=GRADED)
    with zipfile.ZipFile(zpath) as z:
        z.extractall(base / "source")
        modes = {i.filename: (i.external_attr >> 16) & 0o777 for i in z.infolist()}
    for name in ("setup.sh", "run_autograder"):      # ZipFile.extractall drops the mode bits; Gradescope keeps them
        (base / "source" / name).chmod(0o755)
    return base, zpath, modes


def _run_autograder(base, name, fill):
    """A Gradescope run of one submission: ``fill(submission_dir)`` lays out the student's upload."""
    root = base / name
    shutil.copytree(base / "source", root / "source")
    (root / "submission").mkdir()
    fill(root / "submission")
    env = {**os.environ, "AUTOGRADER_ROOT": str(root), "AUTOGRADER_PYTHON": sys.executable}
    env.pop("PYTHONPATH", None)              # the autograder must find the reference package in ROOT/source alone
    proc = subprocess.run(["bash", str(root / "source" / "run_autograder")], env=env, capture_output=True, text=True,
                          timeout=600)
    results = root / "results" / "results.json"
    assert results.is_file(), proc.stdout[-2000:] + proc.stderr[-2000:]
    return json.loads(results.read_text()), proc


def _scores(results):
    return {t["name"]: (t["score"], t["max_score"]) for t in results["tests"]}


def test_zip_holds_setup_run_autograder_and_the_grader_with_its_checks(autograder):
    _, zpath, modes = autograder
    names = set(zipfile.ZipFile(zpath).namelist())
    for needed in ("setup.sh", "run_autograder", "requirements.txt", "numpycnn/__init__.py",
                   "numpycnn/lab/assignment/grade.py", "numpycnn/lab/assignment/checks.py", "numpycnn/layers.py"):
        assert needed in names, needed
    assert modes["setup.sh"] == 0o755 and modes["run_autograder"] == 0o755
    assert not any("__pycache__" in n for n in names)


def test_requirements_are_the_packages_install_requires():
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    install = [l.strip() for l in cfg["options"]["install_requires"].splitlines() if l.strip()]
    assert sorted(install) == sorted(REQUIREMENTS)


def test_solution_tree_gets_full_score(autograder):
    base, _, _ = autograder
    results, _ = _run_autograder(base, "solution", lambda sub: shutil.copytree(
        ROOT / "numpycnn", sub / "numpycnn", ignore=shutil.ignore_patterns("__pycache__")))
    possible = sum(CHECKS[e][0] for e in GRADED)
    assert results["score"] == possible > 0
    assert _scores(results) == {e: (CHECKS[e][0], CHECKS[e][0]) for e in GRADED}
    assert all(t["status"] == "passed" and t["visibility"] == "visible" for t in results["tests"])
    assert results["stdout_visibility"] == "hidden" and isinstance(results["execution_time"], int)


def test_student_tree_gets_zero_with_not_implemented_explained(autograder):
    base, _, _ = autograder
    results, _ = _run_autograder(base, "student", lambda sub: make_student_copy(sub / "hw1"))   # zipped hw1/ folder
    assert results["score"] == 0 and _scores(results) == {e: (0, CHECKS[e][0]) for e in GRADED}
    for t in results["tests"]:
        assert t["status"] == "failed" and "not implemented yet" in t["output"], t


def test_one_exercise_filled_in_earns_exactly_its_points(autograder, tmp_path):
    base, _, _ = autograder

    def upload_layers_py_alone(sub):          # the student uploads the one file they changed
        make_student_copy(tmp_path / "hw", keep=["layers.ReLU.forward"])
        shutil.copy2(tmp_path / "hw" / "numpycnn" / "layers.py", sub / "layers.py")
    results, _ = _run_autograder(base, "one", upload_layers_py_alone)
    assert _scores(results) == {"layers.ReLU.forward": (CHECKS["layers.ReLU.forward"][0],) * 2,
                                "layers.ReLU.backward": (0, CHECKS["layers.ReLU.backward"][0]),
                                "pooling.maxpool2d_forward": (0, CHECKS["pooling.maxpool2d_forward"][0])}
    assert results["score"] == CHECKS["layers.ReLU.forward"][0]
    assert "layers.py as numpycnn/layers.py" in results["output"]


def test_a_submission_without_code_gets_a_results_file_that_says_what_to_upload(autograder):
    base, _, _ = autograder
    results, proc = _run_autograder(base, "empty", lambda sub: (sub / "notes.txt").write_text("hello"))
    assert results["score"] == 0 and results["tests"] == []
    assert results["output"].startswith("Nothing to grade: the submission holds no numpycnn/ folder"), results


def test_find_submission_root_accepts_the_three_layouts(tmp_path):
    (tmp_path / "a" / "numpycnn").mkdir(parents=True)
    assert find_submission_root(tmp_path / "a")[0] == tmp_path / "a"
    (tmp_path / "b" / "hw1" / "numpycnn").mkdir(parents=True)
    assert find_submission_root(tmp_path / "b")[0] == tmp_path / "b" / "hw1"
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "pooling.py").write_text("x = 1\n")
    root, note = find_submission_root(tmp_path / "c")
    assert (root / "numpycnn" / "pooling.py").read_text() == "x = 1\n" and "pooling.py" in note


def test_results_json_has_gradescope_fields_and_refuses_an_unknown_visibility():
    report = {"total": 2.0, "possible": 5, "exercises": [
        {"exercise": "layers.ReLU.forward", "points": 2.0, "points_possible": 2,
         "checks": [{"name": "relu_forward_is_max_with_zero", "passed": True}]},
        {"exercise": "layers.ReLU.backward", "points": 0.0, "points_possible": 3,
         "checks": [{"name": "relu_layer_passes_gradcheck", "passed": False, "message": "gradient check failed"}]}]}
    out = results_json(report, execution_time=3.4, visibility="after_due_date")
    assert out["score"] == 2.0 and out["execution_time"] == 3 and out["visibility"] == "after_due_date"
    assert [(t["name"], t["score"], t["max_score"], t["status"]) for t in out["tests"]] == [
        ("layers.ReLU.forward", 2.0, 2.0, "passed"), ("layers.ReLU.backward", 0.0, 3.0, "failed")]
    assert "✗ relu_layer_passes_gradcheck: gradient check failed" in out["tests"][1]["output"]
    with pytest.raises(ValueError, match="visibility"):
        results_json(report, visibility="public")
