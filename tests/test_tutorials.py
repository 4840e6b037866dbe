"""Every tutorial runs from start to end in fast mode — in a student copy holding only the exercises of
the tutorials up to it in the course order —, is a valid jupytext percent-format notebook that converts
to .ipynb, and is handed out with the assignment's student copy; every lesson has Your-turn cells that
the student copy leaves to the student, folded answers, and figures in sight."""
import ast
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from numpycnn import techniques
from numpycnn.lab.assignment import course

ROOT = Path(__file__).resolve().parents[1]
#: every tutorial present (a new one is checked without editing this file)
TUTORIALS = sorted((ROOT / "tutorials").glob("*.py"))
#: the lessons: every tutorial, each with Your-turn solution regions, folded answers and reference figures
LESSONS = TUTORIALS
#: the technique tutorials (their records name them) and the name of their result file in figures/
TECHNIQUES = {Path(t.tutorial).stem: t.name for t in techniques.TECHNIQUES}
REFERENCE = ROOT / "tutorials" / "reference_figures"
#: the markdown line that tells a student to write one of the tutorial's exercises before the next cell runs
FILL_IN = re.compile(r"\*\*Fill in now:\*\*(?P<body>.*(?:\n# (?!\*\*).+)*)")


def test_every_tutorial_has_a_place_in_the_course_order():
    ordered = course.in_order()                       # raises naming a tutorial the order does not place
    assert sorted(ordered) == [p for p in TUTORIALS if p.stem[:2].isdigit()]
    assert [p.name[:2] for p in ordered][:5] == ["01", "02", "03", "09", "10"]      # the core lessons first


def test_docs_list_every_tutorial_in_the_course_order():
    text = (ROOT / "docs" / "tutorials.md").read_text(encoding="utf-8")
    names = [p.stem for p in course.in_order()]
    positions = [text.find(f"`{name}.py`") for name in names]
    assert all(p >= 0 for p in positions), [n for n, p in zip(names, positions) if p < 0]
    assert positions == sorted(positions), f"docs/tutorials.md must list the tutorials in the course order {names}"


def test_docs_give_a_fast_and_a_full_run_time_for_every_tutorial():
    """docs/tutorials.md's "How long they take" table has one row per tutorial present, each with a time
    in seconds for both modes, and a total row that is their sum (to the table's rounding)."""
    text = (ROOT / "docs" / "tutorials.md").read_text(encoding="utf-8")
    section = text[text.index("**How long they take.**"):text.index("**Reference figures.**")]
    rows = dict((int(n), (float(fast), float(full))) for n, fast, full in
                re.findall(r"^\| (\d+) \| ([\d.]+) s \| ([\d.]+) s \|$", section, re.M))
    assert sorted(rows) == sorted(int(p.name[:2]) for p in TUTORIALS if p.stem[:2].isdigit())
    total = re.search(r"^\| all \(the sum\) \| ([\d.]+) s \| ([\d.]+) s \|$", section, re.M)
    assert total, "the table needs an 'all (the sum)' row"
    for mode, stated in enumerate(map(float, total.groups())):
        assert abs(sum(r[mode] for r in rows.values()) - stated) <= 0.05 * len(rows), (mode, stated)


def _staged_copy(tmp_path, path):
    """A student copy in which exactly the exercises of the tutorials up to ``path`` in the course order are
    done (handed out solved) and every later one is still ``raise NotImplementedError``; ``path`` itself is the
    repository's file (its Your-turn cells written), and the measured results of ``figures/`` are there."""
    from numpycnn.lab.assignment import make_student_copy
    out = tmp_path / "copy"
    make_student_copy(out, keep=sorted(course.exercises_through(path.stem)))
    shutil.copy(path, out / "tutorials" / path.name)
    (out / "figures").mkdir()
    for result in (ROOT / "figures").glob("*.json"):
        shutil.copy(result, out / "figures" / result.name)
    return out


def _markdown_before(cells, index):
    """The text of the markdown cells directly before cell ``index`` (up to the previous code cell)."""
    texts = []
    for kind, _, source in reversed(cells[:index]):
        if kind != "markdown":
            break
        texts.append(source)
    return "".join(reversed(texts))


@pytest.mark.parametrize("path", TUTORIALS, ids=lambda p: p.stem)
def test_tutorial_runs_to_the_end_in_fast_mode_with_only_the_exercises_up_to_it_done(path, tmp_path):
    """The staged release works: a student who has done the exercises of the tutorials up to this one (in the
    course order) — and none after it — runs it to the end without a NumPy warning; its figures go to the
    figures folder; the cell where it first calls one of its own exercises is preceded by a "Fill in now"
    line naming it.

    One run per tutorial proves it for every release N: the copy of release N has the exercises of every
    tutorial up to N done; a tutorial T up to N that runs with those of the tutorials up to T done calls only
    those (a call to any other raises), so it runs the same code, and to the end, in the copy of release N.
    """
    from numpycnn.lab.assignment.needs import BOOTSTRAP, TAG, percent_cells
    copy = _staged_copy(tmp_path, path)
    cwd, figures = tmp_path / "cwd", tmp_path / "figures"
    cwd.mkdir()
    env = {**os.environ, "NUMPYCNN_FAST": "1", "MPLBACKEND": "Agg", "PYTHONPATH": str(copy),
           "NUMPYCNN_FIGURES": str(figures)}
    runner = BOOTSTRAP.replace("TAG", repr(TAG))
    proc = subprocess.run([sys.executable, "-c", runner, str(copy / "tutorials" / path.name)],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    missing = re.findall(r"NotImplementedError: exercise (\S+): not implemented yet", proc.stderr)
    if proc.returncode != 0 and missing:
        from numpycnn.lab.assignment.guide import taught_by
        pytest.fail(f"{path.name} needs exercise {missing[-1]}, which tutorial {taught_by().get(missing[-1])} teaches "
                    f"after it in the course order {course.ORDER}:\n{proc.stderr[-2000:]}")
    assert proc.returncode == 0, f"{path.name} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
    assert "RuntimeWarning" not in proc.stderr, f"{path.name} leaks NumPy warnings:\n{proc.stderr[-2000:]}"
    assert list(cwd.iterdir()) == [] or all(p.name.startswith(".") for p in cwd.iterdir()), \
        f"{path.name} wrote files into the working directory: {sorted(p.name for p in cwd.iterdir())}"
    assert f"numpycnn imported from {copy / 'numpycnn' / '__init__.py'}" in proc.stdout
    made = sorted(p.name for p in (figures / path.stem).glob("*.png"))
    for name in made:
        assert f"figure {name[:-4]}: {figures / path.stem / name}" in proc.stdout, f"{name}: path not printed"
    shipped = sorted(p.name for p in (REFERENCE / path.stem).glob("*.png"))
    assert made == shipped, (f"{path.name}: figures made {made}, reference figures shipped {shipped}; run "
                             f"`python -m numpycnn tutorials --reference-figures {path.stem[:2]}`")
    first = json.loads(next(l for l in proc.stdout.splitlines() if l.startswith(TAG))[len(TAG):])
    own = course.exercises_taught([path])
    cells = percent_cells(path.read_text(encoding="utf-8"))
    for exercise, index in first.items():
        if exercise in own:
            told = " ".join(m.group("body") for m in FILL_IN.finditer(_markdown_before(cells, index)))
            assert f"`{exercise}`" in told, (f"{path.name}: cell {index} (line {cells[index][1]}) is the first to "
                                             f"call {exercise}; the markdown right before it must say "
                                             f"'**Fill in now:** `{exercise}` in numpycnn/...'")


@pytest.mark.parametrize("path", TUTORIALS, ids=lambda p: p.stem)
def test_every_exercise_a_tutorial_teaches_has_a_fill_in_now_line(path):
    text = path.read_text(encoding="utf-8")
    told = set(re.findall(r"`([^`]+)`", " ".join(m.group("body") for m in FILL_IN.finditer(text))))
    assert course.exercises_taught([path]) <= told, \
        f"{path.name}: no '**Fill in now:**' line names {sorted(course.exercises_taught([path]) - told)}"


@pytest.mark.parametrize("path", TUTORIALS, ids=lambda p: p.stem)
def test_tutorial_is_a_jupytext_percent_notebook_with_fast_switch_and_check_yourself_section(path):
    jupytext = pytest.importorskip("jupytext")
    text = path.read_text(encoding="utf-8")
    assert "\n# %%" in text, f"{path.name}: no '# %%' cell markers"
    notebook = jupytext.read(path, fmt="py:percent")
    kinds = [cell.cell_type for cell in notebook.cells]
    assert kinds.count("markdown") >= 3 and kinds.count("code") >= 3, f"{path.name}: too few cells"
    assert "check yourself" in text.lower(), f"{path.name}: no 'Check yourself' section"
    assert 'FAST = os.environ.get("NUMPYCNN_FAST", "0") == "1"' in text, f"{path.name}: no NUMPYCNN_FAST switch"
    assert "plt.show(" not in text, f"{path.name}: calls plt.show()"


@pytest.mark.parametrize("path", TUTORIALS, ids=lambda p: p.stem)
def test_tutorial_converts_to_a_valid_ipynb_with_the_same_cells(path, tmp_path):
    jupytext = pytest.importorskip("jupytext")
    nbformat = pytest.importorskip("nbformat")
    out = tmp_path / (path.stem + ".ipynb")
    jupytext.write(jupytext.read(path, fmt="py:percent"), out)
    notebook = nbformat.read(out, as_version=4)
    nbformat.validate(notebook)
    again = jupytext.read(path, fmt="py:percent")
    assert [c.cell_type for c in notebook.cells] == [c.cell_type for c in again.cells], path.name
    assert [c.source for c in notebook.cells] == [c.source for c in again.cells], path.name


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_every_your_turn_is_a_tagged_solution_cell_between_its_heading_and_a_checking_cell(path):
    jupytext = pytest.importorskip("jupytext")
    cells = jupytext.read(path, fmt="py:percent").cells
    turns = [i for i, c in enumerate(cells) if c.cell_type == "code" and "### BEGIN SOLUTION" in c.source]
    assert len(turns) >= 2, f"{path.name}: a lesson needs Your-turn cells (found {len(turns)})"
    for k, i in enumerate(turns, 1):
        cell = cells[i]
        assert "solution" in cell.metadata.get("tags", []), f"{path.name}: your turn {k}: tag the cell 'solution'"
        lines = cell.source.strip().splitlines()
        assert lines[0] == "### BEGIN SOLUTION" and lines[-1] == "### END SOLUTION", \
            f"{path.name}: your turn {k}: the whole cell is the student's region"
        assert 1 <= len(lines) - 2 <= 12, f"{path.name}: your turn {k}: a step of a few lines, not {len(lines) - 2}"
        heading = next(c.source for c in reversed(cells[:i]) if c.cell_type == "markdown")
        assert re.search(rf"### Your turn {k}\b", heading), f"{path.name}: your turn {k} has no '### Your turn {k}' heading"
        check = cells[i + 1]
        assert check.cell_type == "code" and "assert" in check.source, \
            f"{path.name}: your turn {k} must be followed by a cell that checks it with asserts"


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_check_yourself_questions_have_folded_answers(path):
    text = path.read_text(encoding="utf-8")
    section = text[text.lower().index("## check yourself"):]
    questions = re.findall(r"^# (\d+)\. ", section, re.M)
    answers = section.count("<details><summary>Answer</summary>")
    assert len(questions) >= 3 and answers == len(questions) == section.count("</details>"), \
        f"{path.name}: {len(questions)} questions, {answers} folded answers"


def _getsource_targets(path):
    """The dotted arguments of every ``inspect.getsource(...)`` call of a tutorial, e.g. ``"A.Branch.update"``."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", None)) == "getsource":
            out.append(ast.unparse(node.args[0]))
    return out


def _shows_exercise(target, qualnames):
    """The exercise qualname whose source ``inspect.getsource(target)`` would print (its function or method,
    or the whole class holding an exercise method), else None."""
    parts = target.split(".")
    for q in qualnames:
        q_parts = q.split(".")
        if parts[-len(q_parts):] == q_parts or (len(q_parts) > 1 and parts[-1] == q_parts[0]):
            return q
    return None


@pytest.mark.parametrize("path", TUTORIALS, ids=lambda p: p.stem)
def test_no_tutorial_prints_the_source_of_an_exercise(path):
    """In a student copy that source is the student's stub (and in the course book, the solution)."""
    from numpycnn.lab.assignment import find_exercises
    qualnames = [e.qualname for e in find_exercises()]
    shown = {t: _shows_exercise(t, qualnames) for t in _getsource_targets(path)}
    assert {t: q for t, q in shown.items() if q} == {}, f"{path.name} prints the source of exercises"


def test_the_exercise_source_rule_catches_functions_methods_and_classes():
    qualnames = ["im2col", "Branch.branch_point_backward"]
    for target, caught in (("im2col", "im2col"), ("nc.im2col.im2col", "im2col"),
                           ("A.Branch.branch_point_backward", "Branch.branch_point_backward"),
                           ("A.Branch", "Branch.branch_point_backward"), ("A.Branch.update", None),
                           ("conv2d_naive", None)):
        assert _shows_exercise(target, qualnames) == caught, target


@pytest.mark.parametrize("name", sorted(TECHNIQUES), ids=str)
def test_technique_tutorial_tells_mechanism_from_benefit_and_reads_the_measured_result(name):
    text = (ROOT / "tutorials" / f"{name}.py").read_text(encoding="utf-8")
    assert "**Mechanism verified**" in text and "**Benefit measured**" in text
    assert f'describe_result("{TECHNIQUES[name]}")' in text and f'findings("{TECHNIQUES[name]}")' in text


@pytest.mark.parametrize("name", sorted(TECHNIQUES), ids=str)
def test_technique_tutorial_types_no_measured_number_after_reading_the_result(name):
    """What the experiment found is printed from figures/<technique>.json; the prose around it types no
    effect size (a number in pp or %), which the next rerun would make stale."""
    text = (ROOT / "tutorials" / f"{name}.py").read_text(encoding="utf-8")
    after = text[text.index(f'describe_result("{TECHNIQUES[name]}")'):text.lower().index("## check yourself")]
    typed = re.findall(r"^#.*?[+−-]?\d+(?:\.\d+)?\s*(?:pp\b|%)", after, re.M)
    assert typed == [], f"{name}: measured numbers typed into the prose: {typed}"


def test_student_copy_strips_every_your_turn_and_keeps_the_rest(tmp_path):
    from numpycnn.lab.assignment import make_student_copy
    from numpycnn.lab.assignment.make import regions, student_tutorial
    make_student_copy(tmp_path)
    copied = sorted(p.name for p in (tmp_path / "tutorials").glob("*.py"))
    assert copied == [p.name for p in TUTORIALS]
    for p in TUTORIALS:
        student = (tmp_path / "tutorials" / p.name).read_text(encoding="utf-8")
        assert student == student_tutorial(p.read_text(encoding="utf-8"), p.name), p.name
        assert regions(tmp_path / "tutorials" / p.name) == [], p.name
        for k in range(1, len(regions(p)) + 1):
            assert f'raise NotImplementedError("exercise your turn {k} of tutorials/{p.name}: not implemented yet")' \
                in student, (p.name, k)
        ast.parse(student)
    assert sorted(p.name for p in (tmp_path / "tutorials" / "reference_figures").iterdir()) == \
        sorted(p.name for p in REFERENCE.iterdir())


def test_student_copy_of_a_tutorial_stops_at_its_first_your_turn(tmp_path):
    from numpycnn.lab.assignment import make_student_copy
    make_student_copy(tmp_path)
    env = {**os.environ, "NUMPYCNN_FAST": "1", "MPLBACKEND": "Agg", "PYTHONPATH": str(ROOT),
           "NUMPYCNN_FIGURES": str(tmp_path / "figures")}
    proc = subprocess.run([sys.executable, str(tmp_path / "tutorials" / "05_gradient_direction.py")], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0
    assert "NotImplementedError: exercise your turn 1 of tutorials/05_gradient_direction.py" in proc.stderr, \
        proc.stderr[-2000:]


def test_generated_figures_are_git_ignored_and_reference_figures_are_small():
    assert "tutorials/figures/" in (ROOT / ".gitignore").read_text().splitlines()
    pngs = list(REFERENCE.rglob("*.png"))
    assert pngs and all(p.stat().st_size < 80_000 for p in pngs), [p.name for p in pngs if p.stat().st_size >= 80_000]
    assert sum(p.stat().st_size for p in pngs) < 1_000_000
    assert {p.parent.name for p in pngs} <= {p.stem for p in TUTORIALS}


def test_tutorials_command_selects_by_prefix_and_refuses_an_unknown_name():
    from numpycnn.lab.commands.tutorials import select
    assert [p.stem for p in select(["03", "01_convolution_by_hand"])] == ["03_training_a_cnn", "01_convolution_by_hand"]
    assert select([]) == [p for p in TUTORIALS if p.stem[:2].isdigit()]
    with pytest.raises(ValueError, match="no tutorial matches '99'"):
        select(["99"])


def test_tutorials_command_runs_a_tutorial_with_its_figures_in_the_given_folder(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "numpycnn", "tutorials", "05", "--fast", "--figures", "figs"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "05_gradient_direction.py: ok" in proc.stdout
    assert (tmp_path / "figs" / "05_gradient_direction" / "schedule.png").is_file()


def test_the_pytorch_bridge_runs_to_the_end_without_pytorch_and_says_how_to_install_it(tmp_path):
    """PyTorch is optional for students: with it hidden, tutorial 14 prints how to install the CPU build, skips
    every comparison with a printed message, and still ends with its last line (and draws no figure)."""
    hidden = tmp_path / "without_torch" / "torch"
    hidden.mkdir(parents=True)
    (hidden / "__init__.py").write_text("raise ImportError(\"No module named 'torch' (hidden by the test)\")\n")
    cwd, figures = tmp_path / "cwd", tmp_path / "figures"
    cwd.mkdir()
    env = {**os.environ, "NUMPYCNN_FAST": "1", "MPLBACKEND": "Agg", "NUMPYCNN_FIGURES": str(figures),
           "PYTHONPATH": os.pathsep.join([str(tmp_path / "without_torch"), str(ROOT)])}
    proc = subprocess.run([sys.executable, str(ROOT / "tutorials" / "14_pytorch_bridge.py")], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert "PyTorch is not installed" in proc.stdout and "pip install torch==2.13.0" in proc.stdout
    assert "--index-url https://download.pytorch.org/whl/cpu" in proc.stdout
    assert proc.stdout.count("skipped: PyTorch is not installed") >= 5
    assert proc.stdout.rstrip().endswith("all checks passed")
    assert not list(figures.rglob("*.png"))
