"""Gradescope: the autograder zip (``assignment package``) and its ``results.json`` (``grade --format gradescope``).

Gradescope's autograder specification: the zip holds ``setup.sh`` (run once, as root, when
Gradescope builds the grading image) and ``run_autograder`` (run for every submission, in
``/autograder``). The student's files are in ``/autograder/submission``; the grader writes
``/autograder/results/results.json``::

    {"score": 37.0,                       # the submission's total (overrides the tests' sum)
     "execution_time": 41,                # seconds
     "output": "text shown above the tests",
     "visibility": "visible",             # of the whole result: visible, hidden, after_due_date, after_published
     "stdout_visibility": "hidden",       # run_autograder's own output: for the instructor only by default
     "tests": [{"name": "layers.ReLU.forward", "number": "7", "score": 2.0, "max_score": 2,
                "status": "passed", "output": "...", "visibility": "visible"}, ...]}

One test per exercise: its points and, as output, each check passed or failed with the
grader's explanation.
"""
import json
import os
import shutil
import stat
import tempfile
import zipfile
from pathlib import Path

from ...validate import choice
from . import course, written
from .make import PACKAGE_DIR, exercises_of_package

VISIBILITIES = ("visible", "hidden", "after_due_date", "after_published")
#: what the autograder image installs (numpycnn's own install_requires; tests check they agree with setup.cfg)
REQUIREMENTS = ["numpy>=1.24", "scipy>=1.10", "matplotlib>=3.7", "tqdm>=4.60"]

SETUP_SH = """\
#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder image (Ubuntu).
set -euo pipefail
apt-get update -qq
apt-get install -y -qq python3 python3-pip python3-venv
python3 -m venv /autograder/venv
/autograder/venv/bin/pip install --quiet -r /autograder/source/requirements.txt
"""

RUN_AUTOGRADER = """\
#!/usr/bin/env bash
# Gradescope runs this for every submission. It grades the student's files in ROOT/submission with
# the reference package in ROOT/source and writes ROOT/results/results.json (ROOT is /autograder;
# set AUTOGRADER_ROOT to try it elsewhere with the same layout, AUTOGRADER_PYTHON to choose Python).
set -u
ROOT="${{AUTOGRADER_ROOT:-/autograder}}"
PY="${{AUTOGRADER_PYTHON:-}}"
if [ -z "$PY" ]; then
  if [ -x "$ROOT/venv/bin/python" ]; then PY="$ROOT/venv/bin/python"; else PY=python3; fi
fi
mkdir -p "$ROOT/results"
cd "$ROOT/source"
PYTHONPATH="$ROOT/source" MPLBACKEND=Agg "$PY" -m numpycnn assignment grade "$ROOT/submission" \\
  --format gradescope --json "$ROOT/results/results.json" --timeout {timeout:g} \\
  --visibility {visibility} --stdout-visibility {stdout_visibility}{exercises}
status=$?
if [ ! -s "$ROOT/results/results.json" ]; then     # never leave Gradescope without a result
  printf '{{"score": 0, "output": "The autograder failed (exit status %s) before it could grade; '\\
'the instructor can see its output.", "stdout_visibility": "hidden", "tests": []}}\\n' "$status" \\
    > "$ROOT/results/results.json"
fi
"""

README = """\
numpycnn autograder for Gradescope (made by `python -m numpycnn assignment package`).

Upload this zip as the assignment's autograder ("Zip file upload", Ubuntu base image). It contains
the reference solution (numpycnn/): keep it away from students.
setup.sh        installs Python and requirements.txt into /autograder/venv (once, when Gradescope builds the image)
run_autograder  grades each submission: `python -m numpycnn assignment grade /autograder/submission
                --format gradescope`, one Gradescope test per exercise
Students submit their numpycnn/ folder (zipped, or the .py files they changed); see the instructor guide.
Exercises graded: {exercises}
{written}"""


def find_submission_root(submission, exercises=None):
    """The folder holding the student's ``numpycnn/`` inside a Gradescope submission.

    Accepted layouts: ``numpycnn/`` at the top; one folder (e.g. ``hw1/``) holding ``numpycnn/``;
    or the ``.py`` files alone (``layers.py``, ``conv.py``, … — matched by file name to the
    exercises' modules and laid out in a new temporary tree). Returns ``(root, note)``.
    """
    submission = Path(submission)
    if (submission / "numpycnn").is_dir():
        return submission, ""
    found = sorted((p for p in submission.rglob("numpycnn") if p.is_dir() and "__MACOSX" not in p.parts),
                   key=lambda p: len(p.parts))
    if found:
        return found[0].parent, f"graded the numpycnn/ folder found at {found[0].relative_to(submission)}"
    exercises = exercises if exercises is not None else exercises_of_package(PACKAGE_DIR)
    by_name = {}
    for e in exercises:
        by_name.setdefault(e.path.name, set()).add(Path(*e.module.split(".")).with_suffix(".py"))
    uploaded = {p.name: p for p in sorted(submission.rglob("*.py"), key=lambda p: len(p.parts))}
    matched = {name: next(iter(paths)) for name, paths in by_name.items() if name in uploaded and len(paths) == 1}
    if not matched:
        raise FileNotFoundError(
            f"the submission holds no numpycnn/ folder and none of the exercise files "
            f"({', '.join(sorted(by_name))}); submit your numpycnn/ folder (zipped) or those files")
    root = Path(tempfile.mkdtemp(prefix="numpycnn-submission-"))
    for name, rel in matched.items():
        dest = root / "numpycnn" / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(uploaded[name], dest)
    return root, "graded the uploaded files " + ", ".join(f"{n} as numpycnn/{r}" for n, r in sorted(matched.items()))


def exercise_output(exercise_report):
    """The text Gradescope shows under one exercise's test."""
    lines = []
    if exercise_report.get("error"):
        lines.append(f"! {exercise_report['error']}")
    own_failures = [c for c in exercise_report["checks"]
                    if c["passed"] is False and not c.get("message", "").startswith("NotImplementedError")]
    if exercise_report.get("cache_from") == "reference" and own_failures:
        lines.append("(your forward pass is not implemented, so your backward pass received the reference "
                     "forward's cache, described in its docstring)")
    for c in exercise_report["checks"]:
        if c["passed"] is True:
            lines.append(f"✓ {c['name']}" + (f"\n  note: {c['note']}" if c.get("note") else ""))
        elif c["passed"] is False:
            lines.append(f"✗ {c['name']}: {c.get('message', '')}")
        else:
            lines.append(f"- {c['name']}: not run ({c.get('message', '')})")
    return "\n".join(lines) or "no checks ran"


def results_json(report, execution_time=None, visibility="visible", stdout_visibility="hidden", note=""):
    """Gradescope's ``results.json`` (a dict) from a :func:`~numpycnn.lab.assignment.grade.grade` report."""
    for name, value in (("visibility", visibility), ("stdout_visibility", stdout_visibility)):
        choice(value, name, "results_json", VISIBILITIES)
    tests = []
    for i, r in enumerate(report["exercises"], 1):
        tests.append({"name": r["exercise"], "number": str(i), "score": float(r["points"]),
                      "max_score": float(r["points_possible"]),
                      "status": "passed" if r["points"] >= r["points_possible"] else "failed",
                      "output": exercise_output(r), "visibility": visibility})
    output = (f"numpycnn autograder: {report['total']:g} / {report['possible']:g} points over "
              f"{len(tests)} exercises. Each exercise is graded alone: your function runs inside the reference "
              f"package, so unfinished exercises never cost points elsewhere. Run `python -m numpycnn assignment "
              f"check` in your copy to see the same checks before you submit.")
    if note:
        output += f"\n{note}"
    out = {"score": float(report["total"]), "output": output, "visibility": visibility,
           "stdout_visibility": stdout_visibility, "tests": tests}
    if execution_time is not None:
        out["execution_time"] = int(round(execution_time))
    return out


def package(out, exercises=None, keep=(), timeout=120, visibility="visible", stdout_visibility="hidden",
            package_dir=PACKAGE_DIR, through=None):
    """Write the Gradescope autograder zip ``out``; returns its path.

    Besides the autograder, the zip holds the graded written questions (``written_questions.md`` and
    ``.json``: text, points, reference answer and rubric of each; see
    :mod:`~numpycnn.lab.assignment.written`), which the instructor adds to the assignment's outline as
    manually graded questions.

    Parameters
    ----------
    out : path
        The zip to write (``.zip`` is added if missing).
    exercises : list of str or None
        The exercises to grade (default: every exercise of the package, or of the release ``through``) ...
    keep : iterable of str
        ... minus these: the exercises handed out solved (the ``--keep`` of ``assignment make``).
    through : str or int or None
        A staged release (the ``--through`` of ``assignment make``): grade the exercises, and list the
        written questions, of the tutorials up to this one in the course order only.
    timeout : float
        Seconds per exercise.
    visibility, stdout_visibility : str
        Gradescope visibilities of the tests and of ``run_autograder``'s output.
    """
    all_ids = [e.id for e in exercises_of_package(package_dir)]
    unknown = sorted((set(exercises or ()) | set(keep)) - set(all_ids))
    if unknown:
        raise ValueError(f"unknown exercise ids {unknown}; see `python -m numpycnn assignment list`")
    for name, value in (("visibility", visibility), ("stdout_visibility", stdout_visibility)):
        choice(value, name, "package", VISIBILITIES)
    tutorials_dir = Path(package_dir).parent / "tutorials"
    candidates = list(exercises or all_ids)
    if through is not None:
        released = course.exercises_through(through, tutorials_dir)
        candidates = [e for e in candidates if e in released]
        questions = written.all_graded_questions(course.tutorials_through(through, tutorials_dir))
    else:
        questions = written.all_graded_questions(course.in_order(tutorials_dir)) if tutorials_dir.is_dir() else []
    graded = [e for e in candidates if e not in set(keep)]
    if not graded:
        raise ValueError("no exercise left to grade (every exercise is in --keep"
                         + (f" or taught after tutorial {through}" if through is not None else "") + ")")
    out = zip_path(out)
    flags = "".join(f" \\\n  --exercise {e}" for e in graded) if exercises or keep or through is not None else ""
    run = RUN_AUTOGRADER.format(timeout=timeout, visibility=visibility, stdout_visibility=stdout_visibility,
                                exercises=flags)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
        def add_text(name, text, mode=0o644):
            info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
            info.external_attr = (stat.S_IFREG | mode) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, text)
        add_text("setup.sh", SETUP_SH, 0o755)
        add_text("run_autograder", run, 0o755)
        add_text("requirements.txt", "\n".join(REQUIREMENTS) + "\n")
        listed = (f"Written questions graded by hand ({len(questions)}, {sum(q.points for q in questions)} points): "
                  f"{', '.join(q.id for q in questions)}; see written_questions.md (add them to the outline).\n"
                  if questions else "No written question is graded by hand.\n")
        add_text("README.txt", README.format(exercises=", ".join(graded), written=listed))
        add_text("written_questions.md", written.outline(questions))
        add_text("written_questions.json", written.outline_json(questions))
        for path in sorted(Path(package_dir).rglob("*")):
            rel = path.relative_to(Path(package_dir).parent)
            if path.is_dir() or "__pycache__" in rel.parts or path.suffix == ".pyc":
                continue
            add_text(rel.as_posix(), path.read_bytes())
    os.replace(tmp, out)
    return out


def zip_path(out):
    """The zip :func:`package` writes for ``out``: ``out`` itself if it ends in ``.zip``, else ``out.zip``."""
    out = Path(out)
    return out if out.suffix == ".zip" else out.with_name(out.name + ".zip")


def is_autograder_zip(path):
    """True if ``path`` is a zip holding ``setup.sh`` and ``run_autograder`` (what :func:`package` writes)."""
    try:
        with zipfile.ZipFile(path) as z:
            return {"setup.sh", "run_autograder"} <= set(z.namelist())
    except (zipfile.BadZipFile, OSError):
        return False


def write_results(path, results):
    """Write ``results.json`` atomically."""
    from ...storage import atomic_write_bytes
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(str(path), json.dumps(results, indent=1, ensure_ascii=False).encode())
