"""Course assignments: student copies and an autograder.

Instructors mark exercise regions in the library code with two comment lines,
``### BEGIN SOLUTION`` and ``### END SOLUTION`` (nbgrader's markers), around the body
of a forward pass, a backward pass, an update rule or a technique's defining step.

``python -m numpycnn assignment make OUT [--through N]``
    writes a student copy of the package (and the tutorials) where each region is
    replaced by ``raise NotImplementedError(...)`` — signature and docstring intact; with
    ``--through N`` only the regions of the tutorials up to ``N`` in the course order
    (:mod:`~numpycnn.lab.assignment.course`).
``python -m numpycnn assignment grade PATH``
    grades a student copy: for every exercise, the student's function is put into
    the reference package *in place of the solution's one only*, and that exercise's
    gradient checks and property tests run in a fresh subprocess. Points per exercise
    are printed, with a JSON report; a student's exception, infinite loop or syntax
    error costs that exercise's points and never crashes the grader.

Because each exercise is graded with the reference versions of everything else,
exercises are independent: finishing ``conv2d_forward`` earns its points even if
``im2col`` is still a ``NotImplementedError``.
"""
from .make import Exercise, find_exercises, make_student_copy
from .course import make_release
from .grade import grade

__all__ = ["Exercise", "find_exercises", "grade", "make_release", "make_student_copy"]
