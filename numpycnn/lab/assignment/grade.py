"""The autograder: grade each exercise of a student copy in isolation, in a subprocess.

Two modes, the same checks (:mod:`numpycnn.lab.assignment.checks`):

``grader`` (the instructor's ``assignment grade``, Gradescope)
    The worker process imports the **reference** package, loads the student's file of the
    exercise (e.g. ``numpycnn/layers.py``) as a separate module whose relative imports resolve to
    the reference package, and — inside ``ctx.student()`` only — puts the student's function in
    place of the reference one. A backward pass runs on the cache of the student's **own**
    forward pass when that forward is implemented (the student's forward is swapped in with
    it), otherwise on the reference forward's cache, and the report says which. If a backward
    fails on its own forward's cache but passes on the reference's, it earns the points with a
    note (its forward and backward disagree about the cache).
``local`` (the student's ``assignment check``)
    The student's package is the only one: nothing is swapped, the checks that compare with the
    instructor's solution (marked :func:`~numpycnn.lab.assignment.checks.needs_reference`) are
    skipped and named, every other check runs exactly as the grader runs it. So the local
    check predicts the grade of the self-contained checks.

A check passes or fails; the exercise earns ``points * passed / total`` (in local mode:
``points * passed / run`` is the prediction, over the checks that ran). An exception raised by
the student's code becomes an explanation: what raised, where in their file, and what the
function received.
"""
import concurrent.futures
import contextlib
import importlib
import importlib.util
import inspect
import json
import os
import subprocess
import sys
import tempfile
import traceback
from pathlib import Path

from ...validate import choice
from .make import PACKAGE_DIR, exercises_of_package

RESULT_TAG = "@@GRADE@@"
MODES = ("grader", "local")


def partner_id(exercise_id, ids):
    """The forward exercise whose cache a backward exercise receives (``None`` if there is none)."""
    if "backward" not in exercise_id:
        return None
    candidate = exercise_id.replace("backward", "forward")
    return candidate if candidate in ids else None


def _owner_and_function(module, qualname):
    *owner_path, fname = qualname.split(".")
    owner = module
    for part in owner_path:
        owner = getattr(owner, part)
    fn = owner.__dict__[fname] if owner_path else getattr(owner, fname)
    return owner, fname, fn, bool(owner_path)


def is_stub(fn, exercise_id):
    """True if ``fn`` still raises the student copy's ``NotImplementedError`` for ``exercise_id``."""
    try:
        source = inspect.getsource(fn)
    except (OSError, TypeError):
        return False
    return f'NotImplementedError("exercise {exercise_id}: not implemented yet")' in source


class _Swap:
    """One reference function and the student's version of it."""

    def __init__(self, exercise, ref_mod, student_mod):
        self.exercise = exercise
        self.ref_owner, self.fname, self.ref_fn, self.is_method = _owner_and_function(ref_mod, exercise.qualname)
        _, _, self.stu_fn, _ = _owner_and_function(student_mod, exercise.qualname)

    def set(self, new, old):
        if self.is_method:
            setattr(self.ref_owner, self.fname, new)
            return
        for name, mod in list(sys.modules.items()):
            if (name == "numpycnn" or name.startswith("numpycnn.")) and mod is not None:
                for attr, val in list(vars(mod).items()):
                    if val is old:
                        setattr(mod, attr, new)


class StudentContext:
    """What a check sees: ``with ctx.student():`` runs the student's version of the exercise.

    Attributes
    ----------
    exercise : Exercise
    mode : {"grader", "local"}
    partner : str or None
        The forward exercise whose cache this backward receives.
    forward : {"student", "reference", None}
        Whose forward pass produces that cache inside ``ctx.student()``.
    received : list
        ``(args, kwargs)`` of the student's function's most recent call (for explanations).
    """

    def __init__(self, student_root, exercise, mode="grader", exercise_ids=()):
        choice(mode, "mode", "StudentContext", MODES)
        self.exercise, self.mode = exercise, mode
        self.student_root = Path(student_root).resolve()
        self.received = []
        self.partner = partner_id(exercise.id, set(exercise_ids))
        self.forward = None
        self.retrying = False            # True while a failed check is re-run on the reference forward's cache
        # the reference package in grader mode, the student's in local mode
        ref_mod = importlib.import_module(f"numpycnn.{exercise.module}")
        self.student_file = self.student_root / "numpycnn" / Path(*exercise.module.split(".")).with_suffix(".py")
        if mode == "local":
            student_mod = ref_mod
        else:
            if not self.student_file.exists():
                raise FileNotFoundError(f"the submission has no numpycnn/{Path(*exercise.module.split('.'))}.py")
            spec = importlib.util.spec_from_file_location(f"numpycnn.{exercise.module}", self.student_file)
            student_mod = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(student_mod)          # SyntaxError etc. propagate: the exercise scores 0
        self.swaps = [_Swap(exercise, ref_mod, student_mod)]
        if self.partner:
            from .make import Exercise
            partner = Exercise(self.partner, exercise.module,
                               exercise.qualname.replace("backward", "forward"), exercise.path, 0, 0)
            swap = _Swap(partner, ref_mod, student_mod)
            if is_stub(swap.stu_fn, self.partner):
                self.forward = "reference"
            else:
                self.forward = "student"
                self.swaps.append(swap)
        self._install_recorder()

    def _install_recorder(self):
        """Record what the student's function receives, for the explanations."""
        swap = self.swaps[0]
        original = swap.stu_fn
        received = self.received

        def recorded(*args, **kwargs):
            received[:] = [(args, kwargs)]
            return original(*args, **kwargs)
        recorded.__wrapped__ = original
        recorded.__name__, recorded.__qualname__ = original.__name__, original.__qualname__
        recorded.__doc__ = original.__doc__
        swap.stu_fn = recorded
        if self.mode == "local":                      # the student's function *is* the package's
            swap.ref_fn = original
            swap.set(recorded, original)

    @contextlib.contextmanager
    def student(self):
        """Inside this block the package runs the student's version of the exercise (and of its
        forward pass, when this is a backward whose forward the student has written)."""
        if self.mode == "local":
            yield
            return
        active = [s for s in self.swaps if s is self.swaps[0] or self.forward == "student"]
        for s in active:
            s.set(s.stu_fn, s.ref_fn)
        try:
            yield
        finally:
            for s in reversed(active):
                s.set(s.ref_fn, s.stu_fn)

    # -- explanations ----------------------------------------------------------------------
    def cache_origin(self):
        """Where the backward's cache came from, in words ("" for exercises without a forward partner)."""
        if not self.partner:
            return ""
        forward = self.partner.split(".", 1)[1]
        if self.mode == "local" or self.forward == "student":
            return f"the cache of your own {forward}"
        if self.retrying:
            return f"the cache of the reference {forward} (the one its docstring describes)"
        return (f"the cache of the reference {forward} (yours is not implemented yet, so the grader used the "
                f"reference one, whose cache the docstring describes)")

    def explain(self, exc):
        """A student-facing sentence for an exception raised while a check ran."""
        name = self.exercise.qualname
        if isinstance(exc, NotImplementedError) and "not implemented yet" in str(exc):
            other = str(exc).split("exercise ", 1)[-1].split(":", 1)[0]
            if other != self.exercise.id:
                return (f"this check needs exercise {other}, which is not implemented in this copy yet "
                        f"(the grader uses the reference for it): {exc}")
            return f"NotImplementedError: {exc}"
        if isinstance(exc, AssertionError):
            text = f"{exc}"
            origin = self.cache_origin()
            return text + (f" (your {name} ran on {origin})" if origin else "")
        frames = [f for f in traceback.extract_tb(exc.__traceback__)
                  if Path(f.filename).resolve() == self.student_file.resolve()]
        where = ""
        if frames:
            f = frames[-1]
            where = f" at numpycnn/{Path(*self.exercise.module.split('.'))}.py line {f.lineno}"
            if f.line:
                where += f": `{f.line.strip()}`"
        text = f"your {name} raised {type(exc).__name__}: {exc}{where}."
        if self.received and frames:
            args, kwargs = self.received[0]
            text += " It received " + describe_arguments(self.swaps[0].stu_fn.__wrapped__, args, kwargs) + "."
        origin = self.cache_origin()
        if origin and frames:
            text += f" That was {origin}."
        elif not frames:
            text = (f"{type(exc).__name__}: {exc} — raised outside your {name}, by code that uses its result "
                    f"(check the shapes and types it returns)")
        return text


def describe_value(v, depth=0):
    """Type, shape and dtype of a value, recursively for tuples and lists (for explanations)."""
    import numpy as np
    if isinstance(v, np.ndarray):
        return f"ndarray {tuple(v.shape)} {v.dtype}"
    if isinstance(v, (tuple, list)) and depth < 2:
        inner = ", ".join(describe_value(x, depth + 1) for x in v)
        return f"{type(v).__name__} of {len(v)} ({inner})"
    if isinstance(v, (int, float, bool, np.integer, np.floating)) or v is None:
        return f"{type(v).__name__} {v!r}"
    return type(v).__name__


def describe_arguments(fn, args, kwargs):
    """``dout: ndarray (2, 4, 5, 5) float64, cache: tuple of 5 (...)`` — what a call received."""
    try:
        bound = inspect.signature(fn).bind(*args, **kwargs)
        items = list(bound.arguments.items())
    except (TypeError, ValueError):
        items = [(f"arg{i}", a) for i, a in enumerate(args)] + list(kwargs.items())
    parts = []
    for k, v in items:
        if k == "self":
            state = {a: x for a, x in vars(v).items() if a not in ("params", "grads", "masks", "name")}
            parts.append("self with " + (", ".join(f"self.{a}: {describe_value(x)}" for a, x in state.items())
                                         or "no attributes set by forward"))
        else:
            parts.append(f"{k}: {describe_value(v)}")
    return ", ".join(parts)


def _run_check(ctx, check):
    """``(True, "")``, ``(False, explanation)`` or ``(None, reason)`` for a check that could not run here."""
    from .checks import Skip
    try:
        check(ctx)
        return True, ""
    except Skip as e:
        return None, str(e)
    except BaseException as e:  # noqa: BLE001 — a student's exception is graded, never propagated
        return False, ctx.explain(e)[:700]


def grade_one(student_root, exercise_id, mode="grader"):
    """Run one exercise's checks in this process; returns a JSON-able dict."""
    from .checks import CHECKS, DEFAULT_POINTS
    exercises = {e.id: e for e in exercises_of_package(PACKAGE_DIR, kept=True)}
    ex = exercises[exercise_id]
    points, checks = CHECKS.get(exercise_id, (DEFAULT_POINTS, None))
    result = {"exercise": exercise_id, "points_possible": points, "checks": []}
    if checks is None:
        result.update(points=0.0, error="no checks are registered for this exercise (instructor: add them to "
                                        "numpycnn/lab/assignment/checks.py)")
        return result
    try:
        ctx = StudentContext(student_root, ex, mode, exercises)
    except BaseException as e:  # noqa: BLE001 — the student's file does not even load
        result.update(points=0.0, error=f"could not load the student's code: {type(e).__name__}: {e}")
        return result
    if ctx.partner:
        result["cache_from"] = ctx.forward if mode == "grader" else "student"
    passed = ran = 0
    for check in checks:
        entry = {"name": check.__name__}
        if mode == "local" and getattr(check, "needs_reference", False):
            entry.update(passed=None, message="only the grader runs this check: it compares with the instructor's "
                                              "reference solution")
            result["checks"].append(entry)
            continue
        ok, message = _run_check(ctx, check)
        if ok is None:
            entry.update(passed=None, message=message)
            result["checks"].append(entry)
            continue
        ran += 1
        if not ok and mode == "grader" and ctx.forward == "student":
            ctx.forward, ctx.retrying = "reference", True    # does it work on the documented (reference) cache?
            ok_ref, message_ref = _run_check(ctx, check)
            ctx.forward, ctx.retrying = "student", False
            if ok_ref is True:
                ok = True
                entry["note"] = (f"passes on the reference forward's cache but not on your own forward's: {message} "
                                 f"— your forward and backward disagree about the cache, so your own network "
                                 f"would fail here")[:700]
            else:
                message += f" [on the reference forward's cache instead: {message_ref}]"
        entry["passed"] = ok
        if not ok:
            entry["message"] = message[:1000]
        passed += ok
        result["checks"].append(entry)
    result["points"] = round(points * passed / ran, 2) if ran else 0.0
    if mode == "local":
        result["checks_run"] = ran
    return result


def grade(student_root, timeout=120, exercises=None, mode="grader", jobs=1):
    """Grade every exercise of the student tree at ``student_root``; each in its own subprocess.

    Parameters
    ----------
    student_root : path
        Folder holding the student's ``numpycnn/``.
    timeout : float
        Seconds allowed per exercise.
    exercises : list of str or None
        Exercise ids to grade (default: every exercise of the package).
    mode : {"grader", "local"}
        ``"grader"``: the student's functions graded against this (reference) package;
        ``"local"``: the student's own package runs the self-contained checks (the prediction).
    jobs : int
        Exercises graded at the same time (each in its own process).

    Returns
    -------
    dict
        ``{"total", "possible", "mode", "exercises": [per-exercise dicts]}``; never raises for student errors.
    """
    student_root = Path(student_root).resolve()
    if not (student_root / "numpycnn").is_dir():
        raise FileNotFoundError(f"{student_root} does not contain a numpycnn/ folder (the student copy made by "
                                f"`python -m numpycnn assignment make`)")
    choice(mode, "mode", "grade", MODES)
    package_dir = PACKAGE_DIR if mode == "grader" else student_root / "numpycnn"
    all_ids = [e.id for e in exercises_of_package(package_dir)]
    known = [e.id for e in exercises_of_package(package_dir, kept=True)]
    unknown = [e for e in exercises or () if e not in known]
    if unknown:
        raise ValueError(f"--exercise: unknown exercise ids {unknown}; see `python -m numpycnn assignment list`")
    from .checks import CHECKS, DEFAULT_POINTS
    ids = list(exercises or all_ids)
    env = {**os.environ, "PYTHONPATH": str(package_dir.parent), "MPLBACKEND": "Agg", "PYTHONDONTWRITEBYTECODE": "1"}
    with tempfile.TemporaryDirectory() as cwd:
        def one(ex_id):
            cmd = [sys.executable, "-c",
                   "import json, sys; from numpycnn.lab.assignment.grade import grade_one, RESULT_TAG; "
                   "print(RESULT_TAG + json.dumps(grade_one(sys.argv[1], sys.argv[2], sys.argv[3])))",
                   str(student_root), ex_id, mode]
            possible = CHECKS.get(ex_id, (DEFAULT_POINTS, None))[0]
            try:
                proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
            except subprocess.TimeoutExpired:
                return {"exercise": ex_id, "points": 0.0, "points_possible": possible, "checks": [],
                        "error": f"timed out after {timeout:g} s (an infinite loop?)"}
            line = next((l for l in proc.stdout.splitlines() if l.startswith(RESULT_TAG)), None)
            if line is None:
                err = (proc.stderr.strip().splitlines() or ["no output"])[-1]
                return {"exercise": ex_id, "points": 0.0, "points_possible": possible, "checks": [],
                        "error": f"the grader process failed: {err[:300]}"}
            return json.loads(line[len(RESULT_TAG):])
        with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, int(jobs))) as pool:
            results = list(pool.map(one, ids))
    return {"total": round(sum(r["points"] for r in results), 2),
            "possible": sum(r["points_possible"] for r in results), "mode": mode, "exercises": results}


def format_report(report):
    """Human-readable table of a :func:`grade` report."""
    local = report.get("mode") == "local"
    w = max([len(r["exercise"]) for r in report["exercises"]] + [8])
    head = "predicted" if local else "points"
    lines = [f"{'exercise':<{w}}  {head:>9}   checks", "-" * (w + 30)]
    for r in report["exercises"]:
        n_ok = sum(c["passed"] is True for c in r["checks"])
        n_run = sum(c["passed"] is not None for c in r["checks"])
        skipped = len(r["checks"]) - n_run
        lines.append(f"{r['exercise']:<{w}}  {r['points']:>5g}/{r['points_possible']:<3g}  {n_ok}/{n_run}"
                     + (f" (+{skipped} not run here)" if skipped else ""))
        if r.get("error"):
            lines.append(f"{'':<{w}}    ! {r['error']}")
        for c in r["checks"]:
            if c["passed"] is False:
                lines.append(f"{'':<{w}}    x {c['name']}: {c.get('message', '')}")
            elif c.get("note"):
                lines.append(f"{'':<{w}}    ~ {c['name']}: {c['note']}")
    lines.append("-" * (w + 30))
    lines.append(f"{'total':<{w}}  {report['total']:g}/{report['possible']:g}")
    if local:
        lines.append("A prediction from the checks that run without the instructor's solution. The grader runs "
                     "them too, on your functions one at a time (with the reference for everything else), so a "
                     "check that failed here only because it needs an exercise you have not done yet can pass "
                     "there.")
    return "\n".join(lines)
