"""The course: tutorials in the course order, staged releases (``assignment make --through N``) and graded
written questions (answers left out of the student copy, listed with their rubrics for Gradescope)."""
import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from numpycnn.lab.assignment import course, find_exercises, make_release, make_student_copy, written
from numpycnn.lab.assignment.gradescope import package
from numpycnn.lab.assignment.make import regions

ROOT = Path(__file__).resolve().parents[1]
TUTORIALS = ROOT / "tutorials"
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg"}


def _stub(exercise):
    return f'raise NotImplementedError("exercise {exercise}: not implemented yet")'


# -- the course order ----------------------------------------------------------------------------------------
def test_a_tutorial_is_named_by_number_or_file_and_an_unknown_one_is_refused_naming_the_argument():
    assert course.resolve(3) == course.resolve("3") == course.resolve("03") == course.resolve("03_training_a_cnn") \
        == "03"
    with pytest.raises(ValueError, match=r"--through: no tutorial '99'.*01, 02, 03, 09, 10"):
        course.resolve("99")


def test_tutorials_through_follow_the_course_order_not_the_numbers():
    assert [p.name[:2] for p in course.tutorials_through("09")] == ["01", "02", "03", "09"]
    assert [p.name[:2] for p in course.tutorials_through("04")] == ["01", "02", "03", "09", "10", "11", "12", "13", "14", "04"]
    assert course.exercises_through("02") == course.exercises_taught(course.tutorials_through("02"))
    assert "optim.SGD.update" not in course.exercises_through("02") and "optim.SGD.update" in course.exercises_through(3)


def test_a_tutorial_with_no_place_in_the_course_order_is_refused_naming_it(tmp_path):
    for n in course.ORDER:
        (tmp_path / f"{n}_x.py").write_text("# **Assignment exercises taught here:** none.\n")
    (tmp_path / "99_new_lesson.py").write_text("# **Assignment exercises taught here:** none.\n")
    with pytest.raises(ValueError, match=r"99_new_lesson.py.*no place in the course order.*ORDER"):
        course.in_order(tmp_path)


def test_the_weeks_cover_tutorials_in_the_course_order_once_each():
    order = [n for n in course.ORDER]
    seen = [n for week in course.WEEKS for n in week.tutorials]
    assert len(seen) == len(set(seen)) and [w.number for w in course.WEEKS] == list(range(1, len(course.WEEKS) + 1))
    assert seen == sorted(seen, key=order.index), "the weeks must follow the course order"
    throughs = [order.index(course.week_through(w)) for w in course.WEEKS]
    assert throughs == sorted(throughs)


# -- staged releases ----------------------------------------------------------------------------------------
def test_release_through_n_leaves_the_exercises_up_to_n_and_hands_out_the_later_ones_solved(tmp_path):
    make_release(tmp_path, through="02")
    released = course.exercises_through("02")
    sources = "".join(p.read_text() for p in (tmp_path / "numpycnn").rglob("*.py"))
    for e in find_exercises():
        assert (_stub(e.id) in sources) == (e.id in released), e.id
    manifest = json.loads((tmp_path / "numpycnn" / "lab" / "assignment" / "exercises.json").read_text())
    assert {e["id"] for e in manifest["exercises"] if not e["kept"]} == released
    for path in TUTORIALS.glob("[0-9][0-9]_*.py"):
        student = (tmp_path / "tutorials" / path.name).read_text()
        stripped = "exercise your turn 1 of tutorials/" in student
        assert stripped == (path.name[:2] in ("01", "02")), path.name     # later tutorials: Your turns solved
        assert written.BEGIN not in student
    answers = (tmp_path / written.ANSWERS_FILE).read_text()
    assert re.findall(r"^## (\d\d\.\d+) ", answers, re.M) == \
        [q.id for q in written.all_graded_questions(course.tutorials_through("02"))]
    assert "covers the tutorials 01, 02" in (tmp_path / "STUDENT_README.md").read_text()


def test_make_with_an_unknown_through_is_a_one_line_error(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "numpycnn", "assignment", "make", str(tmp_path / "hw"), "--through",
                           "99"], cwd=tmp_path, env=ENV, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and proc.stderr.startswith("error: --through: no tutorial '99'")
    assert len(proc.stderr.strip().splitlines()) == 1 and not (tmp_path / "hw").exists()


def test_package_through_n_grades_the_exercises_of_that_release_only(tmp_path):
    out = package(tmp_path / "week3.zip", through="03")
    with zipfile.ZipFile(out) as z:
        run = z.read("run_autograder").decode()
    graded = set(re.findall(r"--exercise (\S+)", run))
    assert graded == course.exercises_through("03")


# -- graded written questions -------------------------------------------------------------------------------
def test_every_graded_question_has_a_rubric_whose_items_add_up_to_its_points():
    questions = written.all_graded_questions(course.in_order())
    assert len(questions) >= 10 and len({q.id for q in questions}) == len(questions)
    for q in questions:
        assert q.question and q.answer and q.rubric and q.points == sum(p for p, _ in q.rubric) > 0, q.id
        assert written.BEGIN not in q.answer and "Rubric" not in q.answer, q.id


def test_the_student_copy_holds_no_graded_answer_and_asks_for_every_one_in_answers_md(tmp_path):
    make_release(tmp_path)
    questions = written.all_graded_questions(course.in_order())
    copy = "\n".join(p.read_text(encoding="utf-8") for p in tmp_path.rglob("*") if p.suffix in (".py", ".md"))
    for q in questions:
        secret = [line.strip() for line in q.answer.splitlines() if len(line.strip()) > 25]
        secret += [criterion for _, criterion in q.rubric]
        assert secret and not [s for s in secret if s in copy], f"{q.id}: answer text in the student copy"
        student = (tmp_path / "tutorials" / q.tutorial).read_text(encoding="utf-8")
        assert f"under `{q.id}`" in student and q.question.splitlines()[0] in student, q.id
    handed_out = "\n".join(p.read_text(encoding="utf-8") for p in tmp_path.glob("*.md")) + "\n".join(
        p.read_text(encoding="utf-8") for p in (tmp_path / "tutorials").glob("*.py"))
    assert written.BEGIN not in handed_out and written.END not in handed_out
    answers = (tmp_path / written.ANSWERS_FILE).read_text()
    assert re.findall(r"^## (\d\d\.\d+) \((\d+) points\)", answers, re.M) == [(q.id, str(q.points)) for q in questions]


def test_the_gradescope_package_lists_every_graded_question_with_its_rubric(tmp_path):
    out = package(tmp_path / "autograder.zip", exercises=["layers.ReLU.forward"])
    questions = written.all_graded_questions(course.in_order())
    with zipfile.ZipFile(out) as z:
        listed = json.loads(z.read("written_questions.json"))["questions"]
        outline = z.read("written_questions.md").decode()
        readme = z.read("README.txt").decode()
    assert [q["id"] for q in listed] == [q.id for q in questions]
    for q, entry in zip(questions, listed):
        assert entry["points"] == q.points and [(r["points"], r["criterion"]) for r in entry["rubric"]] == list(q.rubric)
        assert entry["answer"] == q.answer and f"## {q.id} — {q.points} points" in outline
        assert all(f": {criterion}" in outline for _, criterion in q.rubric)
    assert f"({len(questions)}, {sum(q.points for q in questions)} points)" in readme


def _tutorial(tmp_path, answer_block):
    path = tmp_path / "07_x.py"
    path.write_text("# %% [markdown]\n# ## Check yourself\n#\n# 1. Why?\n#    Really why?\n#\n"
                    "#    <details><summary>Answer</summary>\n#\n" + answer_block + "#\n#    </details>\n\n# %%\nx = 1\n")
    return path


def test_a_graded_answer_is_parsed_with_its_rubric_and_stripped_to_one_line(tmp_path):
    path = _tutorial(tmp_path, "#    <!-- BEGIN GRADED ANSWER -->\n#    Because a secret reason.\n#\n#    Rubric:\n"
                               "#    - 2 points: names the secret\n#      reason in full\n#    - 1 point: is brief\n"
                               "#    <!-- END GRADED ANSWER -->\n")
    [q] = written.graded_questions(path)
    assert (q.id, q.number, q.question, q.answer, q.points) == ("07.1", 1, "Why?\nReally why?", "Because a secret reason.", 3)
    assert q.rubric == ((2, "names the secret reason in full"), (1, "is brief"))
    student = written.strip_graded_answers(path.read_text(), path.name)
    assert "secret" not in student and "<details>" not in student and "under `07.1`" in student
    assert student.endswith("\n\n# %%\nx = 1\n") and "# 1. Why?" in student


@pytest.mark.parametrize("block, message", [
    ("#    <!-- BEGIN GRADED ANSWER -->\n#    Because.\n", "is never closed"),
    ("#    <!-- BEGIN GRADED ANSWER -->\n#    Because.\n#    <!-- END GRADED ANSWER -->\n", "no 'Rubric:' line"),
    ("#    <!-- BEGIN GRADED ANSWER -->\n#    Because.\n#    Rubric:\n#    - two points: x\n"
     "#    <!-- END GRADED ANSWER -->\n", "is not '- N points: criterion'"),
])
def test_a_malformed_graded_answer_is_refused_naming_the_tutorial_and_the_question(tmp_path, block, message):
    path = _tutorial(tmp_path, block)
    with pytest.raises(ValueError, match=rf"tutorials/07_x.py, question 1: .*{re.escape(message)}"):
        written.graded_questions(path)


def test_regions_of_the_student_tutorials_are_gone_but_ungraded_answers_stay(tmp_path):
    make_student_copy(tmp_path)
    student = (tmp_path / "tutorials" / "01_convolution_by_hand.py").read_text()
    assert regions(tmp_path / "tutorials" / "01_convolution_by_hand.py") == []
    assert "`(64·28·28, 6·5·5) = (50176, 150)`" in student            # question 2 is not graded: still folded
