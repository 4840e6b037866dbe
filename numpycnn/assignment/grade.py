"""The autograder: grade each exercise of a student copy in isolation, in a subprocess.

For exercise ``layers.ReLU.forward`` the worker process imports the reference
package, loads the student's ``numpycnn/layers.py`` as a separate module (its
relative imports resolve to the reference package), and — inside
``ctx.student()`` only — puts the student's ``ReLU.forward`` in place of the
reference one. The exercise's checks (see :mod:`numpycnn.assignment.checks`)
compare results with the reference and run gradient checks. A check passes or
fails; the exercise earns ``points * passed / total``.
"""
import contextlib
import importlib
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import traceback
from pathlib import Path

from .make import PACKAGE_DIR, find_exercises

RESULT_TAG = "@@GRADE@@"


class StudentContext:
    """Swaps one reference function for the student's version, on demand."""

    def __init__(self, student_root, exercise):
        self.exercise = exercise
        import numpycnn  # noqa: F401  (the reference package)
        ref_mod = importlib.import_module(f"numpycnn.{exercise.module}")
        student_file = Path(student_root) / "numpycnn" / Path(*exercise.module.split(".")).with_suffix(".py")
        if not student_file.exists():
            raise FileNotFoundError(f"student copy has no {student_file}")
        spec = importlib.util.spec_from_file_location(f"numpycnn.{exercise.module}", student_file)
        student_mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(student_mod)          # SyntaxError etc. propagate: the exercise scores 0
        *owner_path, fname = exercise.qualname.split(".")
        ref_owner, stu_owner = ref_mod, student_mod
        for part in owner_path:
            ref_owner, stu_owner = getattr(ref_owner, part), getattr(stu_owner, part)
        self.ref_owner, self.fname = ref_owner, fname
        self.ref_fn = ref_owner.__dict__[fname] if owner_path else getattr(ref_owner, fname)
        self.stu_fn = stu_owner.__dict__[fname] if owner_path else getattr(stu_owner, fname)
        self.is_method = bool(owner_path)

    def _set(self, new, old):
        if self.is_method:
            setattr(self.ref_owner, self.fname, new)
            return
        for name, mod in list(sys.modules.items()):
            if (name == "numpycnn" or name.startswith("numpycnn.")) and mod is not None:
                for attr, val in list(vars(mod).items()):
                    if val is old:
                        setattr(mod, attr, new)

    @contextlib.contextmanager
    def student(self):
        """Inside this block the package runs the student's version of the exercise."""
        self._set(self.stu_fn, self.ref_fn)
        try:
            yield
        finally:
            self._set(self.ref_fn, self.stu_fn)


def grade_one(student_root, exercise_id):
    """Run one exercise's checks in this process; returns a JSON-able dict."""
    from .checks import CHECKS, DEFAULT_POINTS
    exercises = {e.id: e for e in find_exercises(PACKAGE_DIR)}
    ex = exercises[exercise_id]
    points, checks = CHECKS.get(exercise_id, (DEFAULT_POINTS, None))
    result = {"exercise": exercise_id, "points_possible": points, "checks": []}
    if checks is None:
        result.update(points=0.0, error="no checks are registered for this exercise (instructor: add them to "
                                        "numpycnn/assignment/checks.py)")
        return result
    try:
        ctx = StudentContext(student_root, ex)
    except BaseException as e:  # the student's file does not even load
        result.update(points=0.0, error=f"could not load the student's code: {type(e).__name__}: {e}")
        return result
    passed = 0
    for check in checks:
        try:
            check(ctx)
            result["checks"].append({"name": check.__name__, "passed": True})
            passed += 1
        except BaseException as e:
            msg = f"{type(e).__name__}: {e}"
            if not isinstance(e, (AssertionError, NotImplementedError)):
                msg += " | " + traceback.format_exc(limit=-2).strip().splitlines()[-3].strip()
            result["checks"].append({"name": check.__name__, "passed": False, "message": msg[:400]})
    result["points"] = round(points * passed / len(checks), 2)
    return result


def grade(student_root, timeout=120, exercises=None):
    """Grade every exercise of the student tree at ``student_root``; each in its own subprocess.

    Returns ``{"total", "possible", "exercises": [per-exercise dicts]}``; never raises for student errors.
    """
    student_root = Path(student_root).resolve()
    if not (student_root / "numpycnn").is_dir():
        raise FileNotFoundError(f"{student_root} does not contain a numpycnn/ folder (the student copy made by "
                                f"`python -m numpycnn assignment make`)")
    from .checks import CHECKS, DEFAULT_POINTS
    ids = exercises or [e.id for e in find_exercises(PACKAGE_DIR)]
    env = {**os.environ, "PYTHONPATH": str(PACKAGE_DIR.parent), "MPLBACKEND": "Agg", "PYTHONDONTWRITEBYTECODE": "1"}
    results = []
    with tempfile.TemporaryDirectory() as cwd:
        for ex_id in ids:
            cmd = [sys.executable, "-c",
                   "import json, sys; from numpycnn.assignment.grade import grade_one, RESULT_TAG; "
                   "print(RESULT_TAG + json.dumps(grade_one(sys.argv[1], sys.argv[2])))",
                   str(student_root), ex_id]
            possible = CHECKS.get(ex_id, (DEFAULT_POINTS, None))[0]
            try:
                proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
                line = next((l for l in proc.stdout.splitlines() if l.startswith(RESULT_TAG)), None)
                if line is None:
                    err = (proc.stderr.strip().splitlines() or ["no output"])[-1]
                    res = {"exercise": ex_id, "points": 0.0, "points_possible": possible, "checks": [],
                           "error": f"the grader process failed: {err[:300]}"}
                else:
                    res = json.loads(line[len(RESULT_TAG):])
            except subprocess.TimeoutExpired:
                res = {"exercise": ex_id, "points": 0.0, "points_possible": possible, "checks": [],
                       "error": f"timed out after {timeout} s (an infinite loop?)"}
            results.append(res)
    return {"total": round(sum(r["points"] for r in results), 2),
            "possible": sum(r["points_possible"] for r in results), "exercises": results}


def format_report(report):
    """Human-readable table of a :func:`grade` report."""
    w = max([len(r["exercise"]) for r in report["exercises"]] + [8])
    lines = [f"{'exercise':<{w}}  points   checks", "-" * (w + 30)]
    for r in report["exercises"]:
        n_ok = sum(c["passed"] for c in r["checks"])
        lines.append(f"{r['exercise']:<{w}}  {r['points']:>4g}/{r['points_possible']:<3g}  {n_ok}/{len(r['checks'])}")
        if r.get("error"):
            lines.append(f"{'':<{w}}    ! {r['error']}")
        for c in r["checks"]:
            if not c["passed"]:
                lines.append(f"{'':<{w}}    x {c['name']}: {c.get('message', '')}")
    lines.append("-" * (w + 30))
    lines.append(f"{'total':<{w}}  {report['total']:g}/{report['possible']:g}")
    return "\n".join(lines)
