"""The course: the order the tutorials are taught in, and the weekly release plan.

Two facts live here and nowhere else:

* :data:`ORDER` — the tutorials in the order a course teaches them (their number prefixes). It is
  not the numeric order: the core lessons 1, 2, 3, 9 and 10 come first, the technique lessons 4–8
  after them. ``python -m numpycnn assignment make OUT --through N`` hands out the exercises of the
  tutorials up to ``N`` *in this order*, and ``tests/test_tutorials.py`` checks that every tutorial
  runs with the exercises of the tutorials up to it and no later ones.
* :data:`WEEKS` — the six-week plan of the generated instructor guide: which tutorials each week
  teaches and so which ``--through`` its release and its autograder use.

Which exercise each tutorial teaches is the third fact the release needs. It lives in the tutorial
itself, in its line ``**Assignment exercises taught here:** `id`, …`` (read by
:func:`~numpycnn.lab.assignment.guide.taught_by`, which refuses an id that is not an exercise);
``docs/exercises_by_tutorial.md`` is generated from it and from what each tutorial was measured to
call, never typed.
"""
from collections import namedtuple
from pathlib import Path

from .make import PACKAGE_DIR

#: the tutorials by their number prefix, in the order a course teaches them
ORDER = ("01", "02", "03", "09", "10", "04", "05", "06", "07", "08")

#: one week of the plan: its number, its topic, the tutorials it teaches (number prefixes, in ``ORDER``) and a note
Week = namedtuple("Week", "number topic tutorials note")

#: the six-week plan for the existing tutorials (the guide's release table is generated from it)
WEEKS = (
    Week(1, "Convolution by hand: the loop, im2col, the GEMM and the backward pass", ("01",),
         "the last cell trains a conv → flatten → dense network on the student's own convolution"),
    Week(2, "Pooling, activations, softmax cross-entropy; vanishing gradients measured", ("02",),
         "the deep sigmoid network trains with plain and sign steps written in the tutorial; no optimizer "
         "exercise is needed yet"),
    Week(3, "Training a CNN: the loop, the optimizers, the curves, overfitting", ("03",), ""),
    Week(4, "Initialisation and training dynamics: the numbers to check", ("09",),
         "no new library exercise: four Your-turn cells and its graded written questions"),
    Week(5, "BatchNorm, Dropout and residual blocks", ("10",), ""),
    Week(6, "Testing a claimed method: one technique as a case study", ("04",),
         "technique A follows tutorial 10 as the non-standard fix for depth; tutorials 5–8 are "
         "optional and run with their exercises solved in this release"),
)


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
    from .guide import taught_by
    stems = {Path(t).stem for t in tutorials}
    return {e for e, teachers in taught_by(tutorials_dir).items() if any(s in stems for s in teachers)}


def exercises_through(through, tutorials_dir=None):
    """The exercise ids taught by the tutorials up to and including ``through`` in course order."""
    return exercises_taught(tutorials_through(through, tutorials_dir), tutorials_dir)


def week_through(week, tutorials_dir=None):
    """The ``--through`` of a :class:`Week`: its last tutorial in course order."""
    order = [p.name[:2] for p in in_order(tutorials_dir)]
    return max(week.tutorials, key=order.index)
