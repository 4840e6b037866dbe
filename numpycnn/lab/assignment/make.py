"""Find exercise regions and write a student copy of the package."""
import ast
import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from .. import PACKAGE_DIR
from .written import ANSWERS_FILE, strip_graded_answers

BEGIN = re.compile(r"^(?P<indent>[ \t]*)### BEGIN SOLUTION[ \t]*$")
END = re.compile(r"^[ \t]*### END SOLUTION[ \t]*$")


@dataclass(frozen=True)
class Exercise:
    """One marked region: ``id`` is ``"<module>.<qualified name>"``, e.g. ``"layers.ReLU.forward"``."""
    id: str
    module: str          # dotted module path inside the package, e.g. "layers" or "techniques.branch_supervision"
    qualname: str        # function or method holding the region, e.g. "ReLU.forward"
    path: Path
    begin: int           # 1-based line numbers of the markers
    end: int


def _enclosing(tree, line):
    """Qualified name of the innermost function containing ``line``."""
    best = None

    def visit(node, prefix):
        nonlocal best
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = f"{prefix}{child.name}"
                if child.lineno <= line <= child.end_lineno:
                    if not isinstance(child, ast.ClassDef):
                        best = name
                    visit(child, name + ".")
    visit(tree, "")
    return best


def regions(path):
    """``[(begin_line, end_line, indent)]`` of the marked regions of one file (1-based)."""
    out, start = [], None
    for i, line in enumerate(Path(path).read_text().splitlines(), 1):
        m = BEGIN.match(line)
        if m:
            if start is not None:
                raise ValueError(f"{path}:{i}: BEGIN SOLUTION inside another region (opened at line {start[0]})")
            start = (i, m.group("indent"))
        elif END.match(line):
            if start is None:
                raise ValueError(f"{path}:{i}: END SOLUTION without BEGIN SOLUTION")
            out.append((start[0], i, start[1]))
            start = None
    if start is not None:
        raise ValueError(f"{path}:{start[0]}: BEGIN SOLUTION is never closed")
    return out


def find_exercises(package_dir=PACKAGE_DIR):
    """Every marked region of the package, in file order."""
    package_dir = Path(package_dir)
    found = []
    for path in sorted(package_dir.rglob("*.py")):
        if "assignment" in path.relative_to(package_dir).parts:
            continue
        marks = regions(path)
        if not marks:
            continue
        tree = ast.parse(path.read_text())
        module = ".".join(path.relative_to(package_dir).with_suffix("").parts)
        for begin, end, _ in marks:
            qual = _enclosing(tree, begin)
            if qual is None:
                raise ValueError(f"{path}:{begin}: a solution region must be inside a function or method")
            found.append(Exercise(f"{module}.{qual}", module, qual, path, begin, end))
    ids = [e.id for e in found]
    dup = {i for i in ids if ids.count(i) > 1}
    if dup:
        # several regions in one function form one exercise; keep ids unique by merging
        merged = {}
        for e in found:
            merged.setdefault(e.id, e)
        found = list(merged.values())
    return found


MANIFEST = "exercises.json"


def exercises_of_package(package_dir=PACKAGE_DIR, kept=False):
    """The exercises of a package: its marked regions, or — in a student copy, where the regions are
    gone — the list ``<student copy>/numpycnn/lab/assignment/exercises.json`` written by :func:`make_student_copy`
    (with the exercises handed out solved only if ``kept``)."""
    package_dir = Path(package_dir)
    found = find_exercises(package_dir)
    if found:
        return found
    manifest = package_dir / "lab" / "assignment" / MANIFEST
    if not manifest.is_file():
        return []
    try:
        return [Exercise(e["id"], e["module"], e["qualname"], package_dir / e["file"], e["line"], e["line"])
                for e in json.loads(manifest.read_text(encoding="utf-8"))["exercises"] if kept or not e.get("kept")]
    except (ValueError, KeyError, TypeError) as e:      # truncated, not JSON, not UTF-8, or the wrong shape
        raise ValueError(f"{manifest}: not a readable list of exercises ({type(e).__name__}: {e}); it is written by "
                         f"`python -m numpycnn assignment make`: make the student copy again, or restore this "
                         f"file from it") from None


def strip_solutions(source, exercise_ids_by_line=None, keep=()):
    """Replace each marked region of ``source`` by ``raise NotImplementedError``; returns the new text.

    Regions of the exercises named in ``keep`` stay solved (markers removed).
    """
    lines = source.splitlines(keepends=True)
    out, inside = [], False
    for i, line in enumerate(lines, 1):
        m = BEGIN.match(line.rstrip("\n"))
        if m:
            name = (exercise_ids_by_line or {}).get(i, "this exercise")
            if name in keep:
                continue
            inside = True
            out.append(f"{m.group('indent')}# TODO: your code here ({name})\n")
            out.append(f"{m.group('indent')}raise NotImplementedError(\"exercise {name}: not implemented yet\")\n")
            continue
        if END.match(line.rstrip("\n")):
            inside = False
            continue
        if not inside:
            out.append(line)
    return "".join(out)


def student_tutorial(source, filename):
    """The student's version of a tutorial: each *Your turn* solution region becomes ``raise NotImplementedError``.

    Tutorials mark the lines a student writes with the same ``### BEGIN SOLUTION`` / ``### END SOLUTION``
    lines as the library's exercises; the ``k``-th region of ``01_convolution_by_hand.py`` is named
    ``your turn k of tutorials/01_convolution_by_hand.py`` in the error it raises. The folded answer of
    each graded written question (:mod:`~numpycnn.lab.assignment.written`) is left out too.
    """
    begins = []
    for i, line in enumerate(source.splitlines(), 1):
        if BEGIN.match(line):
            begins.append(i)
    names = {line: f"your turn {k} of tutorials/{filename}" for k, line in enumerate(begins, 1)}
    return strip_graded_answers(strip_solutions(source, names), filename)


#: what :func:`make_student_copy` writes into its ``out_dir`` (nothing else there is touched)
STUDENT_COPY = ("numpycnn", "tutorials", "STUDENT_README.md", ANSWERS_FILE)


def check_keep(keep, package_dir=PACKAGE_DIR):
    """Raise ``ValueError`` naming the ids of ``keep`` that are not exercises of the package."""
    unknown = set(keep) - {e.id for e in find_exercises(package_dir)}
    if unknown:
        raise ValueError(f"--keep: unknown exercise ids {sorted(unknown)}; see `python -m numpycnn assignment list`")


def make_student_copy(out_dir, package_dir=PACKAGE_DIR, tutorials_dir=None, keep=()):
    """Write the student tree ``out_dir/numpycnn`` (+ ``out_dir/tutorials``, ``out_dir/STUDENT_README.md``);
    returns the exercises.

    ``keep``: exercise ids handed out already solved. A student copy may hold a student's work, so this
    never replaces one: it raises ``FileExistsError`` if any entry of :data:`STUDENT_COPY` exists in
    ``out_dir`` (``assignment make --overwrite`` first moves them aside, keeping them).
    """
    check_keep(keep, package_dir)
    out_dir, package_dir = Path(out_dir), Path(package_dir)
    target = out_dir / "numpycnn"
    existing = [name for name in STUDENT_COPY if (out_dir / name).exists()]
    if existing:
        raise FileExistsError(f"{out_dir} already holds a student copy ({', '.join(existing)}); choose another "
                              f"folder, or move it away first")
    exercises = find_exercises(package_dir)
    by_file = {}
    for e in exercises:
        by_file.setdefault(e.path, {})[e.begin] = e.id
    shutil.copytree(package_dir, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for path, ids in by_file.items():
        dest = target / path.relative_to(package_dir)
        dest.write_text(strip_solutions(path.read_text(), ids, keep))
    # regions in files without a function (none expected) would be caught by find_exercises
    tutorials_dir = Path(tutorials_dir) if tutorials_dir else package_dir.parent / "tutorials"
    if tutorials_dir.is_dir():
        dest = out_dir / "tutorials"
        shutil.copytree(tutorials_dir, dest, ignore=shutil.ignore_patterns("__pycache__", "_out", "*.ipynb",
                                                                           "figures"))
        for path in sorted(dest.glob("*.py")):
            path.write_text(student_tutorial(path.read_text(encoding="utf-8"), path.name), encoding="utf-8")
    manifest = {"exercises": [{"id": e.id, "module": e.module, "qualname": e.qualname,
                               "file": str(e.path.relative_to(package_dir)), "line": e.begin, "kept": e.id in keep}
                              for e in exercises]}
    (target / "lab" / "assignment" / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    readme = out_dir / "STUDENT_README.md"
    lines = ["# numpycnn assignment", "",
             "Fill in every `raise NotImplementedError` below; the docstrings give the shapes and equations.",
             "Check your work with `python -m numpycnn gradcheck` (from this folder) and the tutorials, and",
             "predict your grade with `python -m numpycnn assignment check` (from this folder; add",
             "`--exercise ID` for one exercise): it runs the autograder's own checks on your code, except the few",
             "that need the instructor's solution (it names them).",
             "Run the tutorials against *your* code from this folder, e.g.",
             "`PYTHONPATH=. python tutorials/01_convolution_by_hand.py` (without `PYTHONPATH=.` Python imports",
             "whichever numpycnn is installed, not yours). Each tutorial prints which numpycnn it imported.",
             "The tutorials' *Your turn* cells are yours too: each holds `raise NotImplementedError` until you",
             "write its few lines; the cell after it checks them.", "",
             "| exercise | file | lines |", "|---|---|---|"]
    for e in exercises:
        if e.id in keep:
            continue
        lines.append(f"| `{e.id}` | `numpycnn/{e.path.relative_to(package_dir)}` | {e.begin} |")
    readme.write_text("\n".join(lines) + "\n")
    return exercises
