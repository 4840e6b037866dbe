"""Graded written questions: *Check yourself* answers that the student copy leaves out and a person marks.

Every tutorial ends with questions whose answers are folded (``<details>``). The instructor makes one
of them a **graded written question** by putting its answer between two HTML comment lines and ending
it with a rubric whose items add up to the question's points::

    # 2. Does that mean 8 sigmoid layers shrink the gradient by at least `4^8`?
    #
    #    <details><summary>Answer</summary>
    #
    #    <!-- BEGIN GRADED ANSWER -->
    #    Not in general: ...
    #
    #    Rubric:
    #    - 2 points: no in general — the weights multiply the gradient too (the bound is ∏‖W_l‖/4)
    #    - 1 point: here yes, more than 4× per layer,
    #      read off the table                               (an item may continue on the next line)
    #    <!-- END GRADED ANSWER -->
    #
    #    </details>

The markers are named like the code's ``### BEGIN SOLUTION`` / ``### END SOLUTION``; as HTML comments
they are invisible where the tutorial is rendered (a notebook, the course book), so the instructor's
copy reads as before. ``python -m numpycnn assignment make`` replaces the whole folded answer of such a
question by a line telling the student where to write theirs (``ANSWERS.md``, under the question's id
``<tutorial number>.<question number>``, e.g. ``02.2``); ``assignment package`` puts every graded
question — text, points, reference answer, rubric — into the Gradescope zip as
``written_questions.md`` / ``.json``, to be added to the assignment's outline as manually graded
questions.
"""
import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path

BEGIN = "<!-- BEGIN GRADED ANSWER -->"
END = "<!-- END GRADED ANSWER -->"
#: a question of a Check yourself section: ``# 3. text`` at the start of a markdown line
QUESTION = re.compile(r"^# (\d+)\. ", re.M)
#: a rubric item: ``- 2 points: criterion`` (or ``1 point``)
RUBRIC_ITEM = re.compile(r"^- (\d+) points?: (.+)$")
ANSWERS_FILE = "ANSWERS.md"


@dataclass(frozen=True)
class WrittenQuestion:
    """One graded written question of a tutorial's *Check yourself* section."""
    id: str            # "<tutorial number>.<question number>", e.g. "02.2"
    tutorial: str      # the tutorial's file name
    number: int        # the question's number in its section
    question: str      # the question's text (Markdown)
    answer: str        # the reference answer (Markdown), without the rubric
    rubric: tuple      # ((points, criterion), ...)

    @property
    def points(self):
        return sum(p for p, _ in self.rubric)


def _uncomment(lines):
    """Markdown text of ``# ``-commented lines, with the question's indentation removed."""
    text = [line[2:] if line.startswith("# ") else line.lstrip("#") for line in lines]
    indents = [len(t) - len(t.lstrip()) for t in text if t.strip()]
    cut = min(indents, default=0)
    return "\n".join(t[cut:] for t in text).strip()


def _section(text):
    """(start offset, end offset) of the Check yourself section: from its heading to the end of its cell."""
    m = re.search(r"^# ## Check yourself.*$", text, re.M | re.I)
    if m is None:
        return None
    end = re.compile(r"^# %%", re.M).search(text, m.end())
    return m.start(), (end.start() if end else len(text))


def _questions(text):
    """``[(number, start, end)]`` line-aligned offsets of each question block of the Check yourself section."""
    span = _section(text)
    if span is None:
        return []
    starts = [(int(m.group(1)), m.start()) for m in QUESTION.finditer(text, span[0], span[1])]
    return [(n, s, starts[i + 1][1] if i + 1 < len(starts) else span[1]) for i, (n, s) in enumerate(starts)]


def graded_questions(path):
    """The graded written questions of one tutorial file, in order.

    Raises ``ValueError`` naming the file and the question when a graded answer is not closed, is
    outside a folded answer, or has no rubric (a ``- N points: criterion`` list after a ``Rubric:`` line).
    """
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    out = []
    for number, start, end in _questions(text):
        block = text[start:end]
        if BEGIN not in block:
            if END in block:
                raise ValueError(f"tutorials/{path.name}, question {number}: {END} without {BEGIN}")
            continue
        where = f"tutorials/{path.name}, question {number}"
        lines = block.splitlines()
        b = next(i for i, l in enumerate(lines) if BEGIN in l)
        e = next((i for i, l in enumerate(lines) if END in l), None)
        if e is None or e < b:
            raise ValueError(f"{where}: {BEGIN} is never closed by {END}")
        d = next((i for i, l in enumerate(lines) if "<details><summary>Answer</summary>" in l), None)
        if d is None or d > b:
            raise ValueError(f"{where}: a graded answer must be inside the question's folded answer (<details>)")
        body = lines[b + 1:e]
        r = next((i for i, l in enumerate(body) if _uncomment([l]).rstrip(":*").strip("*").lower() == "rubric"),
                 None)
        if r is None:
            raise ValueError(f"{where}: the graded answer has no 'Rubric:' line followed by '- N points: ...' items")
        rubric = []
        for line in body[r + 1:]:
            item = _uncomment([line])
            if not item:
                continue
            m = RUBRIC_ITEM.match(item)
            if m is not None:
                rubric.append((int(m.group(1)), m.group(2).strip()))
            elif rubric and not item.startswith("-"):          # a criterion continued on the next line
                rubric[-1] = (rubric[-1][0], f"{rubric[-1][1]} {item}")
            else:
                raise ValueError(f"{where}: rubric line {item!r} is not '- N points: criterion'")
        if not rubric:
            raise ValueError(f"{where}: the rubric has no items")
        first = QUESTION.sub("", lines[0], count=1).strip()
        question = (first + "\n" + _uncomment(lines[1:d])).strip()
        out.append(WrittenQuestion(f"{path.name[:2]}.{number}", path.name, number, question,
                                   _uncomment(body[:r]), tuple(rubric)))
    return out


def all_graded_questions(tutorials):
    """The graded written questions of several tutorial files, in the order given."""
    return [q for path in tutorials for q in graded_questions(path)]


def strip_graded_answers(source, filename):
    """The student's text of a tutorial: the folded answer of each graded question becomes one line saying
    where to write the answer; ungraded answers stay."""
    number_prefix = filename[:2]
    pieces, last = [], 0
    for number, start, end in _questions(source):
        block = source[start:end]
        if BEGIN not in block:
            continue
        lines = block.splitlines(keepends=True)
        d = next(i for i, l in enumerate(lines) if "<details><summary>Answer</summary>" in l)
        e = next(i for i, l in enumerate(lines) if END in l)
        close = next(i for i in range(e, len(lines)) if "</details>" in lines[i])
        indent = re.match(r"#\s*", lines[d]).group(0)
        note = (f"{indent}*Graded written question — write your answer in `{ANSWERS_FILE}` under "
                f"`{number_prefix}.{number}`.\n{indent}It is marked by hand; its answer is not in your copy.*\n")
        head = "".join(lines[:d])
        tail = "".join(lines[close + 1:])
        pieces.append(source[last:start] + head + note + tail)
        last = end
    return "".join(pieces) + source[last:]


def answers_template(questions):
    """The student's ``ANSWERS.md``: one heading per graded question, the question quoted, room for the answer."""
    lines = ["# Written answers", "",
             "Write the answer to each graded question under its heading (Markdown; equations as plain text are",
             "fine) and hand this file in with your `numpycnn/` folder. Each is marked by hand with a rubric.", ""]
    if not questions:
        lines += ["No written question is graded in this release.", ""]
    for q in questions:
        lines += [f"## {q.id} ({q.points} points) — `tutorials/{q.tutorial}`, Check yourself, question {q.number}",
                  "", *("> " + line if line else ">" for line in q.question.splitlines()), "",
                  "*Your answer:*", "", ""]
    return "\n".join(lines)


def outline(questions):
    """``written_questions.md`` of the Gradescope package: each question with points, reference answer and rubric."""
    total = sum(q.points for q in questions)
    lines = ["# Manually graded written questions", "",
             f"{len(questions)} questions, {total} points. On Gradescope, open the assignment's *Edit Outline*, add",
             "one question per entry below with its points (the autograder's score is a question of its own),",
             "then create the rubric items listed under it in *Grade Submissions*. Students write their answers in",
             f"`{ANSWERS_FILE}` (their copy has a heading per question) and upload it with their `numpycnn/` folder.",
             ""]
    for q in questions:
        lines += [f"## {q.id} — {q.points} points (`tutorials/{q.tutorial}`, Check yourself, question {q.number})",
                  "", q.question, "", "**Reference answer.**", "", q.answer, "", "**Rubric.**", ""]
        lines += [f"- {p} point{'s' if p != 1 else ''}: {c}" for p, c in q.rubric]
        lines.append("")
    return "\n".join(lines)


def outline_json(questions):
    """The same as :func:`outline`, as JSON text (``written_questions.json``)."""
    return json.dumps({"questions": [{**asdict(q), "rubric": [{"points": p, "criterion": c} for p, c in q.rubric],
                                      "points": q.points} for q in questions]}, indent=1, ensure_ascii=False) + "\n"
