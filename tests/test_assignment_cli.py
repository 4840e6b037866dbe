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
    from numpycnn.lab.assignment import make_student_copy
    make_student_copy(tmp_path)
    env = {**ENV, "PYTHONPATH": str(tmp_path), "NUMPYCNN_FAST": "1"}
    proc = subprocess.run([sys.executable, str(tmp_path / "tutorials" / "01_convolution_by_hand.py")],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0
    assert "NotImplementedError: exercise im2col.im2col" in proc.stderr, proc.stderr[-2000:]


def test_check_run_by_a_student_in_their_copy_predicts_points_from_their_own_code(tmp_path):
    from numpycnn.lab.assignment.checks import CHECKS
    assert _cli("make", str(tmp_path / "hw"), "--keep", "layers.ReLU.forward", cwd=tmp_path).returncode == 0
    proc = _cli("check", "--exercise", "layers.ReLU.forward", "--exercise", "layers.ReLU.backward", cwd=tmp_path / "hw")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert "predicted" in lines[0], proc.stdout
    forward = next(l for l in lines if l.startswith("layers.ReLU.forward"))
    backward = next(l for l in lines if l.startswith("layers.ReLU.backward"))
    assert f"{CHECKS['layers.ReLU.forward'][0]}/{CHECKS['layers.ReLU.forward'][0]}" in forward.replace(" ", "")
    assert f"0/{CHECKS['layers.ReLU.backward'][0]}" in backward.replace(" ", "")
    assert "not implemented yet" in proc.stdout


def test_list_in_a_student_copy_shows_the_exercises_still_to_do(tmp_path):
    assert _cli("make", str(tmp_path / "hw"), "--keep", "layers.ReLU.forward", cwd=tmp_path).returncode == 0
    proc = _cli("list", cwd=tmp_path / "hw")
    assert proc.returncode == 0, proc.stderr
    assert "layers.ReLU.backward" in proc.stdout and "layers.ReLU.forward " not in proc.stdout


def test_package_writes_the_autograder_zip_without_the_kept_exercises(tmp_path):
    import zipfile
    proc = _cli("package", str(tmp_path / "autograder"), "--keep", "layers.ReLU.forward", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    z = zipfile.ZipFile(tmp_path / "autograder.zip")
    run = z.read("run_autograder").decode()
    assert "--format gradescope" in run and "--exercise layers.ReLU.backward" in run
    assert "--exercise layers.ReLU.forward " not in run + " " and "layers.ReLU.forward \\" not in run
    assert "do not share it" in proc.stdout


def _plant_student_work(hw):
    """A student's edits in the copy: code in an exercise region of conv.py and a Your-turn cell of a tutorial."""
    conv = hw / "numpycnn" / "conv.py"
    conv.write_text(conv.read_text().replace('raise NotImplementedError("exercise conv.conv2d_forward',
                                             'out = "the student\'s own loop"  # raise NotImplementedError("exercise '
                                             'conv.conv2d_forward', 1))
    assert "the student's own loop" in conv.read_text()
    tutorial = hw / "tutorials" / "01_convolution_by_hand.py"
    tutorial.write_text(tutorial.read_text() + "\n# the student's answer\n")
    return {p.relative_to(hw): p.read_bytes() for p in (conv, tutorial)}


def test_make_over_an_existing_student_copy_is_one_line_exit_2_and_touches_nothing(tmp_path):
    """Regression (issue 38.2): it printed a FileExistsError traceback."""
    assert _cli("make", str(tmp_path / "hw"), cwd=tmp_path).returncode == 0
    work = _plant_student_work(tmp_path / "hw")
    before = {p: p.stat().st_mtime_ns for p in (tmp_path / "hw").rglob("*")}
    proc = _cli("make", str(tmp_path / "hw"), cwd=tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("error: assignment make: OUT ")
    assert "already holds a student copy" in proc.stderr and "--overwrite" in proc.stderr
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "hw").rglob("*")} == before
    assert all((tmp_path / "hw" / rel).read_bytes() == data for rel, data in work.items())


def test_make_overwrite_keeps_the_previous_copy_with_the_students_edits_and_says_where(tmp_path):
    """Regression (issue 38.3): --overwrite deleted a student's filled-in conv.py without a copy."""
    hw = tmp_path / "hw"
    assert _cli("make", str(hw), cwd=tmp_path).returncode == 0
    work = _plant_student_work(hw)
    (hw / "grade.json").write_text("{}")                       # the student's folder: not part of the copy
    proc = _cli("make", str(hw), "--overwrite", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    kept = [p for p in hw.iterdir() if p.name.startswith("previous-")]
    assert len(kept) == 1 and f"kept the previous student copy (it may hold a student's work) in {kept[0]}/" \
        in proc.stdout
    assert all((kept[0] / rel).read_bytes() == data for rel, data in work.items())   # every edit, byte for byte
    assert (kept[0] / "STUDENT_README.md").is_file()
    assert "the student's own loop" not in (hw / "numpycnn" / "conv.py").read_text()  # a fresh copy in its place
    assert 'raise NotImplementedError("exercise conv.conv2d_forward' in (hw / "numpycnn" / "conv.py").read_text()
    assert (hw / "grade.json").read_text() == "{}"
