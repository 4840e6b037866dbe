"""``python -m numpycnn assignment make | grade | check | package | list`` — see :mod:`numpycnn.lab.assignment`."""
import json
import os
import time

from pathlib import Path

from ..assignment import course, grade, written
from ..assignment.checks import CHECKS, DEFAULT_POINTS
from ..assignment.grade import format_report
from ..assignment.gradescope import (VISIBILITIES, find_submission_root, is_autograder_zip, package, results_json,
                                     write_results, zip_path)
from ..assignment.guide import GUIDE, sync_guide, sync_transcripts
from ..assignment.make import PACKAGE_DIR, STUDENT_COPY, check_keep, exercises_of_package
from ..assignment.needs import NEEDS_FILE, needs_table, tutorial_needs
from ...storage import atomic_write_bytes
from ...validate import integer, number
from .figures import sync_includes
from .outputs import check_folder, keep_previous, output_file

NAME = "assignment"
HELP = ("course assignments: make a student copy, grade one (also for Gradescope), check your own copy, "
        "package the Gradescope autograder, list the exercises, regenerate the guide's table")


def add_arguments(p):
    sub = p.add_subparsers(dest="action", required=True)
    m = sub.add_parser("make", help="write a student copy of the package and the tutorials to OUT")
    m.add_argument("out", metavar="OUT")
    m.add_argument("--overwrite", action="store_true",
                   help="replace a student copy already in OUT; the previous one is kept in "
                        "OUT/previous-<date-time>/, never deleted")
    m.add_argument("--keep", action="append", default=None, metavar="EXERCISE",
                   help="hand out this exercise already solved (repeatable; ids from `assignment list`)")
    m.add_argument("--through", default=None, metavar="N",
                   help="a staged release: leave to the student only the exercises of the tutorials up to tutorial "
                        "N in the course order (1, 2, 3, 9-14, 4-8); later ones are handed out solved")
    g = sub.add_parser("grade", help="grade the student copy (or Gradescope submission) in PATH; points per exercise")
    g.add_argument("path", metavar="PATH")
    g.add_argument("--json", default=None,
                   help="write the report to this file (default PATH/grade.json, or PATH/results.json for gradescope)")
    g.add_argument("--format", choices=["report", "gradescope"], default="report",
                   help="report: numpycnn's JSON report; gradescope: Gradescope's results.json (PATH may then hold "
                        "numpycnn/, a folder holding it, or the uploaded .py files alone)")
    g.add_argument("--timeout", type=float, default=120, help="seconds allowed per exercise")
    g.add_argument("--exercise", action="append", default=None, metavar="EXERCISE",
                   help="grade only this exercise (repeatable; ids from `assignment list`)")
    g.add_argument("--jobs", type=int, default=1, help="exercises graded at the same time (default 1)")
    g.add_argument("--visibility", default="visible", choices=VISIBILITIES, help="gradescope: visibility of the tests")
    g.add_argument("--stdout-visibility", default="hidden", choices=VISIBILITIES,
                   help="gradescope: visibility of the grader's printout")
    c = sub.add_parser("check", help="students: run the autograder's checks on your own copy (default: this folder) "
                                     "and predict your points")
    c.add_argument("path", nargs="?", default=".", metavar="PATH")
    c.add_argument("--exercise", action="append", default=None, metavar="EXERCISE",
                   help="check only this exercise (repeatable)")
    c.add_argument("--timeout", type=float, default=120, help="seconds allowed per exercise")
    c.add_argument("--jobs", type=int, default=1, help="exercises checked at the same time (default 1)")
    k = sub.add_parser("package", help="write the Gradescope autograder zip (setup.sh, run_autograder, the grader and "
                                       "its checks) to OUT")
    k.add_argument("out", metavar="OUT")
    k.add_argument("--keep", action="append", default=None, metavar="EXERCISE",
                   help="an exercise handed out solved (the same --keep as `assignment make`): not graded")
    k.add_argument("--exercise", action="append", default=None, metavar="EXERCISE",
                   help="grade only this exercise (repeatable; default every exercise)")
    k.add_argument("--through", default=None, metavar="N",
                   help="the release of `assignment make --through N`: grade (and list the written questions of) "
                        "the tutorials up to N in the course order only")
    k.add_argument("--timeout", type=float, default=120, help="seconds allowed per exercise")
    k.add_argument("--visibility", default="visible", choices=VISIBILITIES, help="visibility of the tests on Gradescope")
    k.add_argument("--stdout-visibility", default="hidden", choices=VISIBILITIES,
                   help="visibility of run_autograder's printout")
    sub.add_parser("list", help="list the exercises and their points")
    gd = sub.add_parser("guide", help="regenerate the exercise table of docs/instructor_guide.md from the "
                                      "exercises, their checks and the tutorials that teach them")
    gd.add_argument("--check", action="store_true", help="only report whether the table is current (exit 1 if not)")
    gd.add_argument("--transcripts", action="store_true",
                    help="also re-run the guide's console transcripts (make, grade) and write their output")
    n = sub.add_parser("needs", help="run every tutorial (fast mode) and print which exercises each one calls "
                                     "(the README's table)")
    n.add_argument("--full", action="store_true", help="run the tutorials in full mode instead")
    n.add_argument("--write", action="store_true",
                   help="also write the table to docs/exercises_by_tutorial.md and copy it into the README")


def run(args):
    if args.action == "guide":
        if args.transcripts and not args.check:
            print(f"{GUIDE}: {sync_transcripts(GUIDE)} console transcripts re-run")
        changed = sync_guide(GUIDE, check=args.check)
        if args.check:
            print(f"{GUIDE}: {'out of date: run python -m numpycnn assignment guide' if changed else 'up to date'}")
            return 1 if changed else 0
        print(f"{GUIDE}: {'exercise table rewritten' if changed else 'already up to date'}")
        return 0
    where = f"assignment {args.action}"
    if getattr(args, "jobs", None) is not None:
        args.jobs = integer(args.jobs, "--jobs", where)
    if getattr(args, "timeout", None) is not None:
        args.timeout = number(args.timeout, "--timeout", where, low=0, low_open=True, meaning="seconds per exercise")
    if args.action == "list":
        for e in exercises_of_package(PACKAGE_DIR):
            print(f"{e.id:<55} {CHECKS.get(e.id, (DEFAULT_POINTS, None))[0]:>3} points   {e.path.name}:{e.begin}")
        return 0
    if args.action == "needs":
        table = needs_table(tutorial_needs(fast=not args.full))
        print(table)
        if args.write:
            root = PACKAGE_DIR.parent
            atomic_write_bytes(str(root / NEEDS_FILE), (table + "\n").encode())
            sync_includes(str(root / "README.md"))
            print(f"wrote {NEEDS_FILE} and the README's copy of it")
        return 0
    if args.action == "make":
        return make(args)
    if args.action == "package":
        if Path(args.out).is_dir():
            raise IsADirectoryError(f"{where}: OUT {args.out} is a folder; expected the name of the autograder zip "
                                    f"to write (e.g. autograder.zip)")
        output_file(zip_path(args.out), "OUT", where, is_autograder_zip,
                    "a Gradescope autograder zip (written by assignment package)")
        out = package(args.out, exercises=args.exercise, keep=args.keep or (), timeout=args.timeout,
                      visibility=args.visibility, stdout_visibility=args.stdout_visibility, through=args.through)
        print(f"wrote the Gradescope autograder {out} (setup.sh, run_autograder, requirements.txt, numpycnn/, "
              f"written_questions.md); upload it as the assignment's autograder. It holds the solutions: do not "
              f"share it.")
        asked = written.all_graded_questions(course.tutorials_through(args.through) if args.through is not None
                                             else course.in_order())
        if asked:
            print(f"add {len(asked)} written questions ({sum(q.points for q in asked)} points) to the Gradescope "
                  f"outline as manually graded questions: {', '.join(q.id for q in asked)} "
                  f"(points, answers and rubrics in written_questions.md inside the zip)")
        return 0
    student_copy(args.path, where, gradescope=getattr(args, "format", None) == "gradescope")
    if args.action == "check":
        report = grade(args.path, timeout=args.timeout, exercises=args.exercise, mode="local", jobs=args.jobs)
        print(format_report(report))
        return 0
    if args.format == "gradescope":
        t0 = time.perf_counter()
        out = report_file(args.json, os.path.join(args.path, "results.json"), where)
        try:
            root, note = find_submission_root(args.path)
        except FileNotFoundError as e:          # tell the student what to upload, with a score of 0
            write_results(out, {"score": 0.0, "output": f"Nothing to grade: {e}.", "tests": [],
                                "visibility": args.visibility, "stdout_visibility": args.stdout_visibility})
            print(f"nothing to grade: {e}; Gradescope results: {out}")
            return 0
        report = grade(root, timeout=args.timeout, exercises=args.exercise, jobs=args.jobs)
        print(format_report(report))
        write_results(out, results_json(report, time.perf_counter() - t0, args.visibility, args.stdout_visibility,
                                        note))
        print(f"Gradescope results: {out}")
        return 0
    out = report_file(args.json, os.path.join(args.path, "grade.json"), where)
    report = grade(args.path, timeout=args.timeout, exercises=args.exercise, jobs=args.jobs)
    print(format_report(report))
    atomic_write_bytes(out, json.dumps(report, indent=1).encode())
    print(f"JSON report: {out}")
    return 0


def make(args):
    """``assignment make OUT``: a new student copy; an existing one is replaced only with ``--overwrite``, and kept."""
    where = "assignment make"
    out = check_folder(args.out, "OUT", where)
    check_keep(args.keep or ())                 # before anything is moved
    existing = [name for name in STUDENT_COPY if (out / name).exists()]
    if existing and not args.overwrite:
        raise FileExistsError(f"{where}: OUT {out} already holds a student copy ({', '.join(existing)}), which may "
                              f"hold a student's work; choose another OUT folder, or pass --overwrite (the existing "
                              f"copy is then kept in {out / 'previous-<date-time>'})")
    if args.through is not None:
        course.resolve(args.through)            # an unknown --through is refused before anything is moved
    kept = keep_previous(out, STUDENT_COPY)
    exercises = course.make_release(out, through=args.through, keep=args.keep or ())
    print(f"wrote a student copy with {len(exercises)} exercises to {args.out}/ "
          f"(numpycnn/, tutorials/, STUDENT_README.md, {written.ANSWERS_FILE})")
    if args.through is not None:
        released = course.exercises_through(args.through)
        print(f"release through tutorial {course.resolve(args.through)}: "
              f"{len([e for e in exercises if e.id in released and e.id not in (args.keep or ())])} exercises to "
              f"write; the exercises of later tutorials are handed out solved")
    if kept is not None:
        print(f"kept the previous student copy (it may hold a student's work) in {kept}/")
    print(f"hand it out; grade it with: python -m numpycnn assignment grade {args.out}")
    return 0


def student_copy(path, where, gradescope=False):
    """Check that ``PATH`` is a folder holding a student copy (for Gradescope: any folder, the submission)."""
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"{where}: PATH {path} {'is not a folder' if path.exists() else 'does not exist'}; "
                                f"expected a student copy (a folder holding numpycnn/, made by assignment make)"
                                + (" or a Gradescope submission folder" if gradescope else ""))
    if not gradescope and not (path / "numpycnn").is_dir():
        raise FileNotFoundError(f"{where}: PATH {path} holds no numpycnn/ folder; expected a student copy (made by "
                                f"`python -m numpycnn assignment make`)")


def is_report(path):
    """True if ``path`` is a JSON report written by ``assignment grade`` (numpycnn's or Gradescope's)."""
    try:
        report = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(report, dict) and ({"total", "exercises"} <= set(report) or {"score", "tests"} <= set(report))


def report_file(given, default, where):
    """Where the grade report goes: ``--json`` (checked: only a report it wrote is replaced) or the default."""
    if given is None:
        return default                          # PATH/grade.json or PATH/results.json: always the grader's own
    return str(output_file(given, "--json", where, is_report, "a grade report written by assignment grade"))
