"""The two instructor commands, run as an instructor runs them: ``python -m numpycnn assignment make / grade``."""
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg"}


def _cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "numpycnn", "assignment", *args], cwd=cwd, env=ENV,
                          capture_output=True, text=True, timeout=300)


def test_make_with_keep_hands_out_that_exercise_solved_and_copies_the_tutorials(tmp_path):
    proc = _cli("make", str(tmp_path / "hw"), "--keep", "layers.ReLU.forward", "--keep", "layers.ReLU.backward",
                cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    hw = tmp_path / "hw"
    layers = (hw / "numpycnn" / "layers.py").read_text()
    assert "exercise layers.ReLU.forward" not in layers and "exercise layers.ReLU.backward" not in layers
    assert "exercise layers.Dense.forward" in layers
    tutorials = sorted(p.name for p in (hw / "tutorials").glob("*.py"))
    assert tutorials == sorted(p.name for p in (ROOT / "tutorials").glob("*.py")) and tutorials
    readme = (hw / "STUDENT_README.md").read_text()
    assert "`layers.Dense.forward`" in readme and "`layers.ReLU.forward`" not in readme


def test_make_refuses_an_unknown_exercise_id_naming_it(tmp_path):
    proc = _cli("make", str(tmp_path / "hw"), "--keep", "layers.NoSuch.forward", cwd=tmp_path)
    assert proc.returncode != 0 and "layers.NoSuch.forward" in proc.stderr


def test_grade_prints_points_and_writes_the_json_report(tmp_path):
    assert _cli("make", str(tmp_path / "hw"), "--keep", "layers.ReLU.forward", cwd=tmp_path).returncode == 0
    report_path = tmp_path / "report.json"
    proc = _cli("grade", str(tmp_path / "hw"), "--exercise", "layers.ReLU.forward", "--exercise",
                "layers.ReLU.backward", "--json", str(report_path), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(report_path.read_text())
    points = {r["exercise"]: r["points"] for r in report["exercises"]}
    assert points == {"layers.ReLU.forward": report["exercises"][0]["points_possible"], "layers.ReLU.backward": 0}
    assert any(line.startswith("total") and "/" in line for line in proc.stdout.splitlines()), proc.stdout
    assert str(report_path) in proc.stdout


def test_a_tutorial_in_the_student_copy_runs_the_students_code(tmp_path):
    from numpycnn.assignment import make_student_copy
    make_student_copy(tmp_path)
    env = {**ENV, "PYTHONPATH": str(tmp_path), "NUMPYCNN_FAST": "1"}
    proc = subprocess.run([sys.executable, str(tmp_path / "tutorials" / "01_convolution_by_hand.py")],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0
    assert "NotImplementedError: exercise im2col.im2col" in proc.stderr, proc.stderr[-2000:]
