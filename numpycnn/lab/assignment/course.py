"""The course: the order the tutorials are taught in, and the weekly release plan.

Two facts live here and nowhere else:

* :data:`ORDER` — the tutorials in the order a course teaches them (their number prefixes). It is
  not the numeric order: the core lessons 1, 2, 3 and 9–14 come first, the technique lessons 4–8
  after them. ``python -m numpycnn assignment make OUT --through N`` hands out the exercises of the
  tutorials up to ``N`` *in this order*, and ``tests/test_tutorials.py`` checks that every tutorial
  runs with the exercises of the tutorials up to it and no later ones.
* :data:`WEEKS` — the six-week plan of the generated instructor guide: which tutorials each week
  teaches and so which ``--through`` its release and its autograder use.

Which exercise each tutorial teaches is the third fact the release needs. It lives in the tutorial
itself, in its line ``**Assignment exercises taught here:** `id`, …`` (read by :func:`taught_by`, which
refuses an id that is not an exercise); ``docs/exercises_by_tutorial.md`` is generated from it and from
what each tutorial was measured to call, never typed.

:func:`make_release` writes a student copy for a course: :func:`~numpycnn.lab.assignment.make.make_student_copy`
with the exercises of the later tutorials solved when the release stops at a tutorial, those tutorials'
*Your turn* cells solved too, and ``ANSWERS.md`` for the graded written questions
(:mod:`~numpycnn.lab.assignment.written`). ``python -m numpycnn assignment make`` calls it.
"""
import re
from collections import namedtuple
from pathlib import Path

from . import written
from .make import PACKAGE_DIR, find_exercises, make_student_copy

#: the tutorials by their number prefix, in the order a course teaches them
ORDER = ("01", "02", "03", "09", "10", "11", "12", "13", "14", "04", "05", "06", "07", "08")

#: one week of the plan: its number, its topic, the tutorials it teaches (number prefixes, in ``ORDER``) and a note
Week = namedtuple("Week", "number topic tutorials note")

#: the six-week plan (the guide's release table is generated from it)
WEEKS = (
    Week(1, "Convolution by hand: the loop, im2col, the GEMM and the backward pass", ("01",),
         "the last cell trains a conv → flatten → dense network on the student's own convolution"),
    Week(2, "Pooling, activations, softmax cross-entropy; vanishing gradients measured", ("02",),
         "the deep sigmoid network trains with plain and sign steps written in the tutorial; no optimizer "
         "exercise is needed yet"),
    Week(3, "Training a CNN: the loop, the optimizers, the curves, overfitting", ("03",), ""),
    Week(4, "Making deep networks train: initialisation and training dynamics; BatchNorm, Dropout and residual "
            "blocks", ("09", "10"),
         "tutorial 9 adds no library exercise: four Your-turn cells and its graded written questions"),
    Week(5, "Data augmentation and hyperparameter search; seeing what the network sees", ("11", "12"),
         "tutorial 11 adds no library exercise: three Your-turn cells and its graded written questions"),
    Week(6, "A small residual network (global pooling, counting, LayerNorm and GroupNorm), the PyTorch bridge, "
            "and testing a claimed method", ("13", "14", "04"),
         "tutorial 14 adds no library exercise (it needs PyTorch and skips its comparisons without it); "
         "technique A follows the ResNet as the non-standard fix for depth; tutorials 5–8 are optional and run "
         "with their exercises solved in this release"),
)


#: the marker line of a tutorial and the comment lines that continue it (up to a blank ``#`` line)
TAUGHT = re.compile(r"^# \*\*Assignment exercises taught here:\*\*(?P<body>.*(?:\n# .+)*)", re.M)


def taught_by(tutorials_dir=None, known=None):
    """``{exercise id: [tutorial stems]}`` from the tutorials' "Assignment exercises taught here" lines.

    Raises ``ValueError`` naming the tutorial when it has no such line, or names an id that is not an
    exercise (``known``: the valid ids, default every exercise of the package).
    """
    tutorials_dir = Path(tutorials_dir) if tutorials_dir else PACKAGE_DIR.parent / "tutorials"
    known = set(known) if known is not None else {e.id for e in find_exercises()}
    out = {}
    for path in sorted(tutorials_dir.glob("[0-9][0-9]_*.py")):
        m = TAUGHT.search(path.read_text(encoding="utf-8"))
        if m is None:
            raise ValueError(f"tutorials/{path.name} has no line '# **Assignment exercises taught here:** ...' "
                             f"(list the exercise ids in backticks, or write 'none')")
        ids = re.findall(r"`([^`]+)`", m.group("body"))
        unknown = [i for i in ids if i not in known]
        if unknown:
            raise ValueError(f"tutorials/{path.name} says it teaches {unknown}, which are not exercises; "
                             f"see `python -m numpycnn assignment list`")
        for i in ids:
            out.setdefault(i, []).append(path.stem)
    return out


def tutorial_files(tutorials_dir=None):
    """``{number prefix: path}`` of the tutorials in ``tutorials_dir`` (default: the repository's)."""
    tutorials_dir = Path(tutorials_dir) if tutorials_dir else PACKAGE_DIR.parent / "tutorials"
    return {p.name[:2]: p for p in sorted(tutorials_dir.glob("[0-9][0-9]_*.py"))}


def in_order(tutorials_dir=None):
    """The tutorial files in :data:`ORDER`.

    Raises ``ValueError`` naming a tutorial that :data:`ORDER` does not place (add its number there
    when you add a lesson) or a number of :data:`ORDER` that has no tutorial.
    """
    files = tutorial_files(tutorials_dir)
    unplaced = sorted(set(files) - set(ORDER))
    if unplaced:
        raise ValueError(f"tutorials {[files[n].name for n in unplaced]} have no place in the course order; add "
                         f"their numbers to ORDER in numpycnn/lab/assignment/course.py")
    missing = [n for n in ORDER if n not in files]
    if missing:
        raise ValueError(f"the course order names tutorials {missing}, which do not exist")
    return [files[n] for n in ORDER]


def resolve(through, tutorials_dir=None, what="--through"):
    """The number prefix (``"03"``) of the tutorial ``through`` names: ``3``, ``"3"``, ``"03"`` or a file stem.

    Raises ``ValueError`` naming ``what``, the value given and the tutorials there are.
    """
    files = tutorial_files(tutorials_dir)
    text = str(through).strip()
    if text.isdigit() and len(text) <= 2:
        text = text.zfill(2)
    for number, path in files.items():
        if text in (number, path.stem, path.name):
            return number
    raise ValueError(f"{what}: no tutorial {through!r}; give a tutorial's number, one of "
                     f"{', '.join(n for n in ORDER if n in files)} (the course order)")


def tutorials_through(through, tutorials_dir=None):
    """The tutorial files up to and including ``through``, in course order (see :func:`resolve`)."""
    number = resolve(through, tutorials_dir)
    ordered = in_order(tutorials_dir)
    return ordered[:[p.name[:2] for p in ordered].index(number) + 1]


def exercises_taught(tutorials, tutorials_dir=None):
    """The exercise ids that the given tutorial files (or stems) teach, by their header lines."""
    stems = {Path(t).stem for t in tutorials}
    return {e for e, teachers in taught_by(tutorials_dir).items() if any(s in stems for s in teachers)}


def exercises_through(through, tutorials_dir=None):
    """The exercise ids taught by the tutorials up to and including ``through`` in course order."""
    return exercises_taught(tutorials_through(through, tutorials_dir), tutorials_dir)


def week_through(week, tutorials_dir=None):
    """The ``--through`` of a :class:`Week`: its last tutorial in course order."""
    order = [p.name[:2] for p in in_order(tutorials_dir)]
    return max(week.tutorials, key=order.index)


def make_release(out_dir, through=None, keep=(), package_dir=PACKAGE_DIR, tutorials_dir=None):
    """Write the student copy of a course release to ``out_dir``; returns the exercises (as ``make_student_copy``).

    Parameters
    ----------
    out_dir : path
        Gets ``numpycnn/``, ``tutorials/``, ``STUDENT_README.md`` and ``ANSWERS.md``.
    through : int or str or None
        A staged release: only the exercises and *Your turn* cells of the tutorials up to this one in
        :data:`ORDER` are left to the student; the later tutorials' are handed out solved, so every
        tutorial runs. None: every exercise is left to the student.
    keep : iterable of str
        Further exercise ids handed out solved.

    Like :func:`~numpycnn.lab.assignment.make.make_student_copy`, it never replaces a student copy
    (``FileExistsError`` if one is in ``out_dir``). Graded written answers are left out of every tutorial;
    ``ANSWERS.md`` asks for those of the tutorials
    of the release. Raises ``ValueError`` naming ``--through`` for a tutorial that does not exist, or an
    unknown exercise id.
    """
    tutorials_dir = Path(tutorials_dir) if tutorials_dir else Path(package_dir).parent / "tutorials"
    ordered = in_order(tutorials_dir)
    released = tutorials_through(through, tutorials_dir) if through is not None else ordered
    later = [p for p in ordered if p not in released]
    keep = tuple(keep) + tuple(sorted(exercises_taught(later, tutorials_dir) - set(keep)))
    exercises = make_student_copy(out_dir, package_dir, tutorials_dir, keep=keep)
    out_dir = Path(out_dir)
    for path in later:                          # handed out solved: the reference text, graded answers left out
        (out_dir / "tutorials" / path.name).write_text(
            written.strip_graded_answers(path.read_text(encoding="utf-8"), path.name), encoding="utf-8")
    asked = written.all_graded_questions(released)
    (out_dir / written.ANSWERS_FILE).write_text(written.answers_template(asked), encoding="utf-8")
    numbers = [p.name[:2] for p in released]
    note = ["", "## The course", "",
            f"Work through the tutorials in the course order ({', '.join(p.name[:2] for p in ordered)}): each needs",
            "only the exercises of the tutorials before it and its own, and a line **Fill in now** says where it",
            f"first runs one of its own. Answer the graded written questions in `{written.ANSWERS_FILE}`",
            f"({len(asked)} of them, one heading each); they are marked by hand."]
    if later:
        note += ["", f"This release covers the tutorials {', '.join(numbers)}; the later ones come with their "
                     f"exercises and *Your turn* cells solved."]
    readme = out_dir / "STUDENT_README.md"
    readme.write_text(readme.read_text(encoding="utf-8") + "\n".join(note) + "\n", encoding="utf-8")
    return exercises
