"""The instructor guide agrees with the real exercise list: its generated table, and every count in it."""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from numpycnn.lab.assignment import find_exercises
from numpycnn.lab.assignment.checks import CHECKS
from numpycnn.lab.assignment import course, written
from numpycnn.lab.assignment.guide import (BEGIN, END, GUIDE, PLAN_BEGIN, PLAN_END, exercise_table, release_plan,
                                           sync_guide, taught_by)

ROOT = Path(__file__).resolve().parents[1]


def test_the_guide_table_is_the_generated_one():
    assert not sync_guide(GUIDE, check=True), "docs/instructor_guide.md is stale: run `python -m numpycnn assignment guide`"


def test_the_guide_has_the_generated_release_plan_with_every_week():
    text = GUIDE.read_text(encoding="utf-8")
    plan = text[text.index(PLAN_BEGIN) + len(PLAN_BEGIN) + 1:text.index(PLAN_END)]
    assert plan == release_plan()
    rows = re.findall(r"^\| (\d+) \|.*\| `(\d\d)` \|$", plan, re.M)
    assert rows == [(str(w.number), course.week_through(w)) for w in course.WEEKS] and len(rows) == 6
    assert "the instructor writes" not in text.lower()


def test_every_count_of_written_questions_in_the_guide_is_the_current_one():
    """Each "add N written questions (P points)" the guide shows is what `assignment package` prints for
    the command above it (all tutorials, or those up to its --through)."""
    text = GUIDE.read_text(encoding="utf-8")
    shown = re.findall(r"^\$ python -m numpycnn assignment package (.*)\n.*\nadd (\d+) written questions \((\d+) points\)",
                       text, re.M)
    assert len(shown) >= 2, "the guide shows the package's output, with and without --through"
    for command, n, points in shown:
        through = re.search(r"--through (\S+)", command)
        questions = written.all_graded_questions(course.tutorials_through(through.group(1)) if through
                                                 else course.in_order())
        assert (int(n), int(points)) == (len(questions), sum(q.points for q in questions)), command


def test_every_exercise_has_checks_and_a_tutorial_that_teaches_it():
    teaching = taught_by()
    for e in find_exercises():
        assert e.id in CHECKS, f"{e.id}: no checks registered"
        assert teaching.get(e.id), f"{e.id}: no tutorial's 'Assignment exercises taught here' line names it"


def test_the_table_lists_every_exercise_with_its_points_and_the_total():
    table = exercise_table()
    exercises = find_exercises()
    rows = re.findall(r"^\| `([^`]+)` \| (\d+) \|", table, re.M)
    assert [r[0] for r in rows] == [e.id for e in exercises]
    assert all(int(p) == CHECKS[i][0] for i, p in rows)
    assert f"{len(exercises)} exercises, {sum(CHECKS[e.id][0] for e in exercises)} points in all." in table


def test_every_count_in_the_guide_transcripts_matches_the_exercise_list():
    text = GUIDE.read_text(encoding="utf-8")
    exercises = {e.id for e in find_exercises()}
    for n in re.findall(r"wrote a student copy with (\d+) exercises", text):
        assert int(n) == len(exercises), f"the guide says {n} exercises; there are {len(exercises)}"
    blocks = re.findall(r"```console\n(.*?)```", text, re.S)
    graded = [b for b in blocks if re.search(r"^total\s+[\d.]+/\d+$", b, re.M)]
    assert len(graded) >= 3
    for block in graded:
        rows = re.findall(r"^(\S+)\s+([\d.]+)/(\d+)\s+\d+/\d+$", block, re.M)
        listed = {r[0] for r in rows}
        assert listed <= exercises, f"the transcript lists exercises that do not exist: {listed - exercises}"
        assert all(int(r[2]) == CHECKS[r[0]][0] for r in rows), "a transcript row has stale points"
        total = re.search(r"^total\s+([\d.]+)/(\d+)$", block, re.M)
        assert int(total.group(2)) == sum(int(r[2]) for r in rows)
        if "--exercise" not in block:
            assert listed == exercises, f"a full grading transcript misses {exercises - listed}"


def test_a_tutorial_naming_an_unknown_exercise_is_refused(tmp_path):
    (tmp_path / "01_x.py").write_text("# **Assignment exercises taught here:** `layers.NoSuch.forward`.\n")
    with pytest.raises(ValueError, match=r"01_x.py says it teaches \['layers.NoSuch.forward'\]"):
        taught_by(tmp_path)
    (tmp_path / "01_x.py").write_text("# no such line\n")
    with pytest.raises(ValueError, match="has no line"):
        taught_by(tmp_path)


def test_the_teaching_line_may_continue_over_comment_lines_and_say_none(tmp_path):
    (tmp_path / "01_a.py").write_text("# **Assignment exercises taught here:** `layers.ReLU.forward`,\n"
                                      "# `layers.ReLU.backward`.\n#\n# `layers.Dense.forward` is not in it\n")
    (tmp_path / "02_b.py").write_text("# **Assignment exercises taught here:** none.\n")
    assert taught_by(tmp_path) == {"layers.ReLU.forward": ["01_a"], "layers.ReLU.backward": ["01_a"]}


def test_sync_replaces_only_the_block_and_is_idempotent(tmp_path):
    guide = tmp_path / "guide.md"
    guide.write_text(f"intro\n{BEGIN}\nold\n{END}\noutro\n")
    assert sync_guide(guide)
    once = guide.read_text()
    assert once == f"intro\n{BEGIN}\n{exercise_table()}{END}\noutro\n"
    assert not sync_guide(guide) and guide.read_text() == once


def test_the_guide_command_checks_and_rewrites(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "numpycnn", "assignment", "guide", "--check"], cwd=tmp_path,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "up to date" in proc.stdout, proc.stdout + proc.stderr


#: what the review found an instructor would still have to write; the generated unit must need none of it
LEFT_TO_WRITE = re.compile(r"instructor (?:still )?(?:writes|must write|has to write|needs to write|would write)", re.I)


def test_the_six_weeks_teach_every_tutorial_up_to_the_last_release_and_leave_nothing_for_the_instructor_to_write():
    """Six weeks, each with its tutorials, together every tutorial of the course order up to the last week's
    ``--through`` (the rest are the optional technique lessons); neither the generated plan, nor the weeks'
    topics and notes, nor any page of docs/ says what the instructor writes."""
    assert [w.number for w in course.WEEKS] == [1, 2, 3, 4, 5, 6] and all(w.tutorials for w in course.WEEKS)
    covered = [n for w in course.WEEKS for n in w.tutorials]
    last = course.ORDER.index(course.week_through(course.WEEKS[-1]))
    assert covered == list(course.ORDER[:last + 1]), "a tutorial before the last release belongs to no week"
    texts = {"the generated release plan": release_plan(), "course.WEEKS": " ".join(w.topic + w.note for w in course.WEEKS)}
    texts.update({f"docs/{p.name}": p.read_text(encoding="utf-8") for p in sorted((ROOT / "docs").glob("*.md"))})
    found = {where: m.group(0) for where, text in texts.items() for m in [LEFT_TO_WRITE.search(text)] if m}
    assert found == {}


def test_the_left_to_write_rule_catches_the_phrases_of_the_review():
    for phrase in ("What the instructor writes", "the instructor still has to write a sheet", "The Instructor must write"):
        assert LEFT_TO_WRITE.search(phrase), phrase
    assert not LEFT_TO_WRITE.search("the instructor grades with the autograder")
