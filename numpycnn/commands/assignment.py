"""``python -m numpycnn assignment make OUT`` / ``assignment grade PATH`` — see :mod:`numpycnn.assignment`."""
import json
import os

from ..assignment import find_exercises, grade, make_student_copy
from ..assignment.checks import CHECKS, DEFAULT_POINTS
from ..assignment.grade import format_report
from ..assignment.guide import GUIDE, sync_guide
from ..storage import atomic_write_bytes

NAME = "assignment"
HELP = "make a student copy (assignment make OUT) or grade one (assignment grade PATH); list; guide"


def add_arguments(p):
    sub = p.add_subparsers(dest="action", required=True)
    m = sub.add_parser("make", help="write a student copy of the package and the tutorials to OUT")
    m.add_argument("out")
    m.add_argument("--overwrite", action="store_true", help="replace OUT/numpycnn if it exists")
    m.add_argument("--keep", action="append", default=None, metavar="EXERCISE",
                   help="hand out this exercise already solved (repeatable; ids from `assignment list`)")
    g = sub.add_parser("grade", help="grade the student copy in PATH; prints points per exercise")
    g.add_argument("path")
    g.add_argument("--json", default=None, help="also write the report as JSON to this file (default PATH/grade.json)")
    g.add_argument("--timeout", type=float, default=120, help="seconds allowed per exercise")
    g.add_argument("--exercise", action="append", default=None, help="grade only this exercise (repeatable)")
    sub.add_parser("list", help="list the exercises and their points")
    gd = sub.add_parser("guide", help="regenerate the exercise table of docs/instructor_guide.md from the "
                                      "exercises, their checks and the tutorials that teach them")
    gd.add_argument("--check", action="store_true", help="only report whether the table is current (exit 1 if not)")


def run(args):
    if args.action == "guide":
        changed = sync_guide(GUIDE, check=args.check)
        if args.check:
            print(f"{GUIDE}: {'out of date: run python -m numpycnn assignment guide' if changed else 'up to date'}")
            return 1 if changed else 0
        print(f"{GUIDE}: {'exercise table rewritten' if changed else 'already up to date'}")
        return 0
    if args.action == "list":
        for e in find_exercises():
            print(f"{e.id:<50} {CHECKS.get(e.id, (DEFAULT_POINTS, None))[0]:>3} points   {e.path.name}:{e.begin}")
        return 0
    if args.action == "make":
        exercises = make_student_copy(args.out, overwrite=args.overwrite, keep=args.keep or ())
        print(f"wrote a student copy with {len(exercises)} exercises to {args.out}/ "
              f"(numpycnn/, tutorials/, STUDENT_README.md)")
        print(f"hand it out; grade it with: python -m numpycnn assignment grade {args.out}")
        return 0
    report = grade(args.path, timeout=args.timeout, exercises=args.exercise)
    print(format_report(report))
    out = args.json or os.path.join(args.path, "grade.json")
    atomic_write_bytes(out, json.dumps(report, indent=1).encode())
    print(f"JSON report: {out}")
    return 0
