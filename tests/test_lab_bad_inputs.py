"""Bad input to the lab commands — ``compare``, ``figures``, ``book``, ``tutorials``, ``assignment make | grade |
check | package | list`` — gets what the training commands give: one line ``error: ...`` that names the argument
and what was expected, exit code 2, no traceback, nothing run, and no file of the user's changed.

One row per case, like the ``BAD_INPUTS`` tables of the library's test files (tests/conftest.py): ``(id, kind, arg, argv, needles, plants)``.
``arg`` is the argument the row gets wrong (``test_every_argument_of_the_lab_commands_has_a_row`` checks each
one has a row); ``kind`` is the kind of bad value (:data:`KINDS`); ``argv`` may hold ``{t}``, the user's folder,
which is also the working directory; ``plants`` names what is put in that folder first (:data:`PLANTS`);
``needles`` are substrings of the error line. Rows run in-process through ``numpycnn.lab.cli.main`` (fast); the
rows of :data:`SUBPROCESS` run again as ``python -m numpycnn`` to show the real command line behaves the same.

An error argparse finds (a missing argument, a value of the wrong type, an unknown choice) comes after
argparse's usage lines, as for ``train``; it is still one ``error:`` line, the last one.
"""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import argparse
import hashlib
import pytest
from collections import namedtuple

from numpycnn import techniques
from numpycnn.lab.cli import main, make_parser
from numpycnn.lab.commands import outputs
from numpycnn.lab.experiments import experiment_module

ROOT = Path(__file__).resolve().parents[1]
Case = namedtuple("Case", "id kind arg argv needles plants")

KINDS = {"missing": "a required argument or its value left out",
         "type": "a value of the wrong type (argparse)",
         "range": "a value out of range, or not one of the choices",
         "place": "an output place that is a file, not writable, or a folder holding other files",
         "folder": "an input folder (or file) that is not what the command expects",
         "corrupt": "a corrupt input file",
         "unknown": "an unknown option or argument, or options that contradict each other"}

BAD_ID = "layers.NoSuch.forward"

CASES = [
    # compare: the command and the options every experiment shares
    Case("compare_without_a_name", "missing", "compare NAME", ["compare"], ["NAME", "required"], ()),
    Case("compare_unknown_name", "range", "compare NAME", ["compare", "nope"], ["'nope'", "choose one of"], ()),
    Case("compare_seeds_not_an_integer", "type", "compare --seeds", ["compare", "orthogonal_reinit", "--seeds", "x"],
         ["--seeds", "int", "'x'"], ()),
    Case("compare_one_seed", "range", "compare --seeds", ["compare", "orthogonal_reinit", "--seeds", "1"],
         ["--seeds", "integer >= 2", "got 1"], ()),
    Case("compare_zero_workers", "range", "compare --workers", ["compare", "orthogonal_reinit", "--workers", "0"],
         ["--workers", "positive integer", "got 0"], ()),
    Case("compare_workers_not_an_integer", "type", "compare --workers",
         ["compare", "orthogonal_reinit", "--workers", "two"], ["--workers", "int", "'two'"], ()),
    Case("compare_out_without_a_value", "missing", "compare --out", ["compare", "orthogonal_reinit", "--out"],
         ["--out", "expected one argument"], ()),
    Case("compare_out_is_a_file", "place", "compare --out", ["compare", "orthogonal_reinit", "--out", "{t}/afile"],
         ["--out", "{t}/afile is a file", "expected a folder"], ("file",)),
    Case("compare_out_holds_other_files", "place", "compare --out",
         ["compare", "orthogonal_reinit", "--out", "{t}/mine"],
         ["--out", "{t}/mine", "notes.txt", "expected a new or empty folder"], ("mine",)),
    Case("compare_out_not_writable", "place", "compare --out",
         ["compare", "orthogonal_reinit", "--out", "{t}/locked/figures"], ["--out", "not writable"], ("locked",)),
    Case("compare_all_checks_out_before_running_anything", "place", "compare --out",
         ["compare", "all", "--quick", "--out", "{t}/mine"], ["compare branch_supervision", "--out", "notes.txt"],
         ("mine",)),
    Case("compare_runs_dir_is_a_file", "place", "compare --runs-dir",
         ["compare", "orthogonal_reinit", "--runs-dir", "{t}/afile"], ["--runs-dir", "is a file"], ("file",)),
    Case("compare_runs_dir_below_a_file", "place", "compare --runs-dir",
         ["compare", "orthogonal_reinit", "--runs-dir", "{t}/afile/runs"], ["--runs-dir", "cannot be created",
                                                                           "is a file, not a folder"], ("file",)),
    Case("compare_runs_dir_holds_other_files", "place", "compare --runs-dir",
         ["compare", "orthogonal_reinit", "--runs-dir", "{t}/mine"], ["--runs-dir", "notes.txt", "run stores"],
         ("mine",)),
    Case("compare_data_dir_does_not_exist", "folder", "compare --data-dir",
         ["compare", "orthogonal_reinit", "--quick", "--data-dir", "{t}/nowhere"],
         ["--data-dir", "{t}/nowhere", "does not exist", "Expected the four IDX files"], ()),
    Case("compare_data_dir_without_the_dataset", "folder", "compare --data-dir",
         ["compare", "orthogonal_reinit", "--quick", "--data-dir", "{t}/mine"],
         ["--data-dir", "holds none of the files", "Expected the four IDX files"], ("mine",)),
    Case("compare_data_dir_with_corrupt_idx_files", "corrupt", "compare --data-dir",
         ["compare", "orthogonal_reinit", "--quick", "--data-dir", "{t}/fashion"],
         ["{t}/fashion/train-images-idx3-ubyte", "magic"], ("idx",)),
    Case("compare_unknown_option", "unknown", "compare --nope", ["compare", "orthogonal_reinit", "--nope"],
         ["unrecognized arguments", "--nope"], ()),
    Case("compare_seed_without_only", "unknown", "compare --seed", ["compare", "orthogonal_reinit", "--seed", "1"],
         ["--seed 1", "--only ARM"], ()),
    Case("compare_only_without_a_published_record", "folder", "compare --only",
         ["compare", "orthogonal_reinit", "--only", "text", "--seed", "0", "--out", "{t}/nothing-yet"],
         ["--only", "{t}/nothing-yet/orthogonal_reinit.json does not exist"], ()),
    Case("compare_cluster_not_local_n", "range", "compare --cluster",
         ["compare", "orthogonal_reinit", "--quick", "--cluster", "remote:2"],
         ["--cluster must be local:N", "'remote:2'", "--scheduler"], ()),
    Case("compare_cluster_and_scheduler_together", "unknown", "compare --scheduler",
         ["compare", "orthogonal_reinit", "--cluster", "local:2", "--scheduler", "tcp://127.0.0.1:8786"],
         ["--scheduler", "not allowed with argument --cluster"], ()),
    Case("compare_unknown_regime", "range", "compare --regime", ["compare", "orthogonal_reinit", "--regime", "huge"],
         ["--regime", "invalid choice", "'huge'"], ()),
    # compare: each experiment's own options
    *[Case(f"compare_{t}_zero_steps", "range", f"compare {t} --steps", ["compare", t, "--steps", "0"],
           [f"compare {t}", "--steps", "integer >= 1", "got 0"], ())
      for t in ("branch_supervision", "gradient_direction", "erdos_renyi", "collaborative")],
    Case("compare_steps_not_an_integer", "type", "compare gradient_direction --steps",
         ["compare", "gradient_direction", "--steps", "1.5"], ["--steps", "int", "'1.5'"], ()),
    Case("compare_target_above_one", "range", "compare gradient_direction --target",
         ["compare", "gradient_direction", "--target", "1.5"], ["--target", "(0, 1]", "validation accuracy", "1.5"], ()),
    Case("compare_target_not_a_number", "type", "compare gradient_direction --target",
         ["compare", "gradient_direction", "--target", "high"], ["--target", "float", "'high'"], ()),
    Case("compare_zero_width", "range", "compare orthogonal_reinit --width",
         ["compare", "orthogonal_reinit", "--width", "0"], ["--width", "integer >= 1", "got 0"], ()),
    Case("compare_zero_s1_epochs", "range", "compare orthogonal_reinit --s1-epochs",
         ["compare", "orthogonal_reinit", "--s1-epochs", "0"], ["--s1-epochs", "integer >= 1", "got 0"], ()),
    # figures
    Case("figures_unknown_part", "range", "figures --only", ["figures", "--only", "nope"],
         ["--only", "'nope'", "choose from"], ()),
    Case("figures_out_is_a_file", "place", "figures --out", ["figures", "--quick", "--out", "{t}/afile"],
         ["--out", "is a file", "expected a folder"], ("file",)),
    Case("figures_out_holds_other_files", "place", "figures --out", ["figures", "--quick", "--out", "{t}/mine"],
         ["--out", "notes.txt", "expected a new or empty folder, or one holding only figures and tables"], ("mine",)),
    Case("figures_out_not_writable", "place", "figures --out", ["figures", "--quick", "--out", "{t}/locked/f"],
         ["--out", "not writable"], ("locked",)),
    Case("figures_data_dir_does_not_exist", "folder", "figures --data-dir",
         ["figures", "--quick", "--only", "core", "--data-dir", "{t}/nowhere"],
         ["--data-dir", "{t}/nowhere", "does not exist", "expected the folder"], ()),
    Case("figures_data_dir_is_a_file", "folder", "figures --data-dir",
         ["figures", "--quick", "--only", "core", "--data-dir", "{t}/afile"], ["--data-dir", "is not a folder"],
         ("file",)),
    Case("figures_readme_does_not_exist", "folder", "figures --readme",
         ["figures", "--readme-only", "--readme", "{t}/README.md"], ["--readme", "does not exist", "README"], ()),
    Case("figures_readme_is_a_folder", "folder", "figures --readme",
         ["figures", "--readme-only", "--readme", "{t}/mine"], ["--readme", "is not a file"], ("mine",)),
    Case("figures_readme_is_not_text", "corrupt", "figures --readme",
         ["figures", "--readme-only", "--readme", "{t}/binary.md"], ["--readme", "not a UTF-8 text file"],
         ("binary",)),
    Case("figures_readme_only_without_a_readme_here", "folder", "figures --readme", ["figures", "--readme-only"],
         ["--readme README.md", "does not exist"], ()),
    Case("figures_unknown_option", "unknown", "figures --nope", ["figures", "--nope"],
         ["unrecognized arguments", "--nope"], ()),
    # book
    Case("book_zero_jobs", "range", "book --jobs", ["book", "--jobs", "0"], ["--jobs", "integer >= 1", "got 0"], ()),
    Case("book_jobs_not_an_integer", "type", "book --jobs", ["book", "--jobs", "x"], ["--jobs", "int", "'x'"], ()),
    Case("book_zero_timeout", "range", "book --timeout", ["book", "--timeout", "0"],
         ["--timeout", "> 0", "seconds per notebook cell"], ()),
    Case("book_timeout_not_a_number", "type", "book --timeout", ["book", "--timeout", "long"],
         ["--timeout", "float", "'long'"], ()),
    Case("book_root_does_not_exist", "folder", "book --root", ["book", "--root", "{t}/nowhere"],
         ["--root", "{t}/nowhere", "expected a clone of the numpycnn repository"], ()),
    Case("book_root_is_not_a_repository", "folder", "book --root", ["book", "--root", "{t}/mine"],
         ["--root", "holds no README.md and tutorials/"], ("mine",)),
    Case("book_out_is_a_file", "place", "book --out", ["book", "--out", "{t}/afile"], ["--out", "is a file"],
         ("file",)),
    Case("book_out_holds_other_files", "place", "book --out", ["book", "--out", "{t}/mine"],
         ["--out", "notes.txt", "a course book built before"], ("mine",)),
    Case("book_out_not_writable", "place", "book --out", ["book", "--out", "{t}/locked/site"],
         ["--out", "not writable"], ("locked",)),
    Case("book_build_dir_is_a_file", "place", "book --build-dir", ["book", "--build-dir", "{t}/afile"],
         ["--build-dir", "is a file"], ("file",)),
    Case("book_build_dir_holds_other_files", "place", "book --build-dir", ["book", "--build-dir", "{t}/mine"],
         ["--build-dir", "notes.txt", "the book's staging folder"], ("mine",)),
    # tutorials
    Case("tutorials_unknown_name", "range", "tutorials names", ["tutorials", "nope"],
         ["no tutorial matches 'nope'", "tutorials are"], ()),
    Case("tutorials_figures_without_a_value", "missing", "tutorials --figures", ["tutorials", "--figures"],
         ["--figures", "expected one argument"], ()),
    Case("tutorials_figures_is_a_file", "place", "tutorials --figures", ["tutorials", "01", "--figures", "{t}/afile"],
         ["--figures", "is a file"], ("file",)),
    Case("tutorials_figures_holds_other_files", "place", "tutorials --figures",
         ["tutorials", "01", "--figures", "{t}/mine"], ["--figures", "notes.txt", "the tutorials' figures"], ("mine",)),
    Case("tutorials_figures_not_writable", "place", "tutorials --figures",
         ["tutorials", "01", "--figures", "{t}/locked/figs"], ["--figures", "not writable"], ("locked",)),
    Case("tutorials_figures_and_reference_figures", "unknown", "tutorials --figures",
         ["tutorials", "01", "--figures", "{t}/figs", "--reference-figures"],
         ["--figures", "--reference-figures", "expected one of them"], ()),
    # assignment
    Case("assignment_without_an_action", "missing", "assignment action", ["assignment"], ["action", "required"], ()),
    Case("assignment_unknown_action", "range", "assignment action", ["assignment", "nope"],
         ["invalid choice: 'nope'", "make"], ()),
    Case("make_without_out", "missing", "assignment make OUT", ["assignment", "make"], ["OUT", "required"], ()),
    Case("make_out_is_a_file", "place", "assignment make OUT", ["assignment", "make", "{t}/afile"],
         ["OUT", "is a file", "expected a folder"], ("file",)),
    Case("make_out_not_writable", "place", "assignment make OUT", ["assignment", "make", "{t}/locked/hw"],
         ["OUT", "not writable"], ("locked",)),
    Case("make_over_a_student_copy", "place", "assignment make OUT", ["assignment", "make", "{t}/hw"],
         ["OUT {t}/hw already holds a student copy", "student's work", "--overwrite"], ("copy",)),
    Case("make_unknown_keep", "range", "assignment make --keep", ["assignment", "make", "{t}/new", "--keep", BAD_ID],
         ["--keep", BAD_ID, "assignment list"], ()),
    Case("make_through_an_unknown_tutorial", "range", "assignment make --through",
         ["assignment", "make", "{t}/new", "--through", "77"], ["--through", "no tutorial '77'", "course order"], ()),
    Case("make_overwrite_through_an_unknown_tutorial_moves_nothing", "range", "assignment make --through",
         ["assignment", "make", "{t}/hw", "--overwrite", "--through", "77"], ["--through", "no tutorial '77'"],
         ("copy",)),
    Case("make_overwrite_with_an_unknown_keep_moves_nothing", "range", "assignment make --keep",
         ["assignment", "make", "{t}/hw", "--overwrite", "--keep", BAD_ID], ["--keep", BAD_ID], ("copy",)),
    Case("grade_without_path", "missing", "assignment grade PATH", ["assignment", "grade"], ["PATH", "required"], ()),
    Case("grade_path_does_not_exist", "folder", "assignment grade PATH", ["assignment", "grade", "{t}/nowhere"],
         ["PATH {t}/nowhere does not exist", "expected a student copy"], ()),
    Case("grade_path_is_a_file", "folder", "assignment grade PATH", ["assignment", "grade", "{t}/afile"],
         ["PATH", "is not a folder", "expected a student copy"], ("file",)),
    Case("grade_path_is_not_a_student_copy", "folder", "assignment grade PATH", ["assignment", "grade", "{t}/mine"],
         ["PATH {t}/mine holds no numpycnn/ folder", "assignment make"], ("mine",)),
    Case("grade_gradescope_path_does_not_exist", "folder", "assignment grade PATH",
         ["assignment", "grade", "{t}/nowhere", "--format", "gradescope"],
         ["PATH", "does not exist", "Gradescope submission folder"], ()),
    Case("grade_zero_timeout", "range", "assignment grade --timeout",
         ["assignment", "grade", "{t}/hw", "--timeout", "0"], ["--timeout", "> 0", "seconds per exercise"], ("copy",)),
    Case("grade_timeout_not_a_number", "type", "assignment grade --timeout",
         ["assignment", "grade", "{t}/hw", "--timeout", "soon"], ["--timeout", "float", "'soon'"], ("copy",)),
    Case("grade_zero_jobs", "range", "assignment grade --jobs", ["assignment", "grade", "{t}/hw", "--jobs", "0"],
         ["--jobs", "integer >= 1", "got 0"], ("copy",)),
    Case("grade_jobs_not_an_integer", "type", "assignment grade --jobs",
         ["assignment", "grade", "{t}/hw", "--jobs", "many"], ["--jobs", "int", "'many'"], ("copy",)),
    Case("grade_unknown_exercise", "range", "assignment grade --exercise",
         ["assignment", "grade", "{t}/hw", "--exercise", BAD_ID], ["--exercise", BAD_ID, "assignment list"],
         ("copy",)),
    Case("grade_unknown_format", "range", "assignment grade --format",
         ["assignment", "grade", "{t}/hw", "--format", "csv"], ["--format", "invalid choice: 'csv'", "gradescope"],
         ("copy",)),
    Case("grade_unknown_visibility", "range", "assignment grade --visibility",
         ["assignment", "grade", "{t}/hw", "--visibility", "secret"], ["--visibility", "'secret'", "hidden"],
         ("copy",)),
    Case("grade_unknown_stdout_visibility", "range", "assignment grade --stdout-visibility",
         ["assignment", "grade", "{t}/hw", "--stdout-visibility", "secret"], ["--stdout-visibility", "'secret'"],
         ("copy",)),
    Case("grade_json_is_a_folder", "place", "assignment grade --json",
         ["assignment", "grade", "{t}/hw", "--json", "{t}/mine"], ["--json", "is a folder", "grade report"],
         ("copy", "mine")),
    Case("grade_json_is_a_file_of_the_users", "place", "assignment grade --json",
         ["assignment", "grade", "{t}/hw", "--json", "{t}/mine/notes.txt"],
         ["--json", "notes.txt exists and is not a grade report"], ("copy", "mine")),
    Case("check_here_is_not_a_student_copy", "folder", "assignment check PATH", ["assignment", "check"],
         ["PATH . holds no numpycnn/ folder"], ()),
    Case("check_path_does_not_exist", "folder", "assignment check PATH", ["assignment", "check", "{t}/nowhere"],
         ["PATH", "does not exist"], ()),
    Case("check_nan_timeout", "range", "assignment check --timeout",
         ["assignment", "check", "{t}/hw", "--timeout", "nan"], ["--timeout", "> 0", "nan"], ("copy",)),
    Case("check_timeout_not_a_number", "type", "assignment check --timeout",
         ["assignment", "check", "{t}/hw", "--timeout", "x"], ["--timeout", "float"], ("copy",)),
    Case("check_zero_jobs", "range", "assignment check --jobs", ["assignment", "check", "{t}/hw", "--jobs", "0"],
         ["--jobs", "integer >= 1"], ("copy",)),
    Case("check_jobs_not_an_integer", "type", "assignment check --jobs",
         ["assignment", "check", "{t}/hw", "--jobs", "1.5"], ["--jobs", "int"], ("copy",)),
    Case("check_unknown_exercise", "range", "assignment check --exercise",
         ["assignment", "check", "{t}/hw", "--exercise", BAD_ID], ["--exercise", BAD_ID], ("copy",)),
    Case("check_corrupt_exercise_list", "corrupt", "assignment check PATH", ["assignment", "check", "{t}/hw"],
         ["exercises.json: not a readable list of exercises", "assignment make"], ("copy", "corrupt_manifest")),
    Case("package_without_out", "missing", "assignment package OUT", ["assignment", "package"],
         ["OUT", "required"], ()),
    Case("package_through_an_unknown_tutorial", "range", "assignment package --through",
         ["assignment", "package", "{t}/a.zip", "--through", "77"], ["--through", "no tutorial '77'"], ()),
    Case("package_out_is_a_folder", "place", "assignment package OUT", ["assignment", "package", "{t}/mine"],
         ["OUT {t}/mine is a folder", "autograder zip"], ("mine",)),
    Case("package_out_is_a_zip_of_the_users", "place", "assignment package OUT",
         ["assignment", "package", "{t}/other.zip"],
         ["OUT {t}/other.zip exists and is not a Gradescope autograder zip"], ("zip",)),
    Case("package_out_below_a_file", "place", "assignment package OUT",
         ["assignment", "package", "{t}/afile/autograder"], ["OUT", "cannot be created", "is a file"], ("file",)),
    Case("package_out_not_writable", "place", "assignment package OUT",
         ["assignment", "package", "{t}/locked/autograder.zip"], ["OUT", "not writable"], ("locked",)),
    Case("package_unknown_keep", "range", "assignment package --keep",
         ["assignment", "package", "{t}/a.zip", "--keep", BAD_ID], [BAD_ID, "assignment list"], ()),
    Case("package_unknown_exercise", "range", "assignment package --exercise",
         ["assignment", "package", "{t}/a.zip", "--exercise", BAD_ID], [BAD_ID, "assignment list"], ()),
    Case("package_keeps_every_exercise_it_grades", "range", "assignment package --exercise",
         ["assignment", "package", "{t}/a.zip", "--exercise", "layers.ReLU.forward", "--keep", "layers.ReLU.forward"],
         ["no exercise left to grade", "--keep"], ()),
    Case("package_negative_timeout", "range", "assignment package --timeout",
         ["assignment", "package", "{t}/a.zip", "--timeout", "-5"], ["--timeout", "> 0", "-5"], ()),
    Case("package_unknown_visibility", "range", "assignment package --visibility",
         ["assignment", "package", "{t}/a.zip", "--visibility", "secret"], ["--visibility", "'secret'"], ()),
    Case("package_unknown_stdout_visibility", "range", "assignment package --stdout-visibility",
         ["assignment", "package", "{t}/a.zip", "--stdout-visibility", "secret"], ["--stdout-visibility"], ()),
    Case("list_with_an_argument", "unknown", "assignment list", ["assignment", "list", "extra"],
         ["unrecognized arguments: extra"], ()),
]

#: rows run as ``python -m numpycnn`` too (argparse's and the commands' own errors, each command at least once)
SUBPROCESS = ["compare_seeds_not_an_integer", "compare_out_holds_other_files", "figures_unknown_part",
              "book_root_is_not_a_repository", "tutorials_figures_and_reference_figures", "make_over_a_student_copy",
              "grade_json_is_a_file_of_the_users", "package_out_is_a_zip_of_the_users", "check_corrupt_exercise_list"]


# -- what is put in the user's folder first ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def student_copy(tmp_path_factory):
    """One student copy, made once; rows copy it (a copy is much faster than making one)."""
    from numpycnn.lab.assignment import make_student_copy
    base = tmp_path_factory.mktemp("copy") / "hw"
    make_student_copy(base)
    return base


def _corrupt_idx(t):
    (t / "fashion").mkdir()
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                 "t10k-labels-idx1-ubyte"):
        (t / "fashion" / name).write_bytes(b"\x12\x34\x08\x03 not an IDX file")


PLANTS = {
    "file": lambda t, copy: (t / "afile").write_text("a file of the user's\n"),
    "mine": lambda t, copy: ((t / "mine").mkdir(), (t / "mine" / "notes.txt").write_text("the user's notes\n")),
    "locked": lambda t, copy: (t / "locked").mkdir(),
    "copy": lambda t, copy: shutil.copytree(copy, t / "hw"),
    "corrupt_manifest": lambda t, copy: (t / "hw" / "numpycnn" / "lab" / "assignment" / "exercises.json").write_bytes(
        (copy / "numpycnn" / "lab" / "assignment" / "exercises.json").read_bytes()[:100]),
    "zip": lambda t, copy: (t / "other.zip").write_bytes(b"PK\x03\x04 the user's own archive"),
    "binary": lambda t, copy: (t / "binary.md").write_bytes(b"\xff\xfe\x00\x00 not UTF-8"),
    "idx": lambda t, copy: _corrupt_idx(t),
}


def _plant(case, t, copy, monkeypatch=None):
    for name in case.plants:
        PLANTS[name](t, copy)
    if "locked" in case.plants:
        os.chmod(t / "locked", 0o555)
        if monkeypatch is not None and os.geteuid() == 0:     # root writes anywhere: answer as for a user
            real_access = os.access
            monkeypatch.setattr(outputs.os, "access", lambda p, mode: Path(p) != t / "locked" and real_access(p, mode))


def snapshot(folder):
    """Every entry under ``folder``: relative path -> (kind, modification time, content hash)."""
    out = {}
    for p in sorted(folder.rglob("*")):
        st = p.lstat()
        digest = hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else None
        out[str(p.relative_to(folder))] = ("dir" if p.is_dir() else "file", st.st_mtime_ns, digest)
    return out


def _argv(case, t):
    return [a.replace("{t}", str(t)) for a in case.argv]


def assert_one_line_error(code, out, err, needles):
    """Exit 2, nothing printed on stdout, no traceback, one ``error:`` line (the last) holding every needle."""
    assert code == 2, f"exit code {code}; stderr: {err}"
    assert "Traceback" not in err, err
    assert out == "", f"printed before failing: {out!r}"
    lines = [line for line in err.splitlines() if line.strip()]
    errors = [line for line in lines if "error:" in line]
    assert len(errors) == 1 and lines[-1] == errors[0], err
    if errors[0].startswith("error: "):
        assert len(lines) == 1, err                  # the commands' own errors: exactly one line
    else:
        assert lines[0].startswith("usage:"), err    # argparse: its usage, then the error
    missing = [n for n in needles if n not in errors[0]]
    assert not missing, f"error line {errors[0]!r} lacks {missing}"


def _nothing_runs(monkeypatch):
    """Make every long step of the lab commands fail at once: a row whose check is gone fails fast, naming the step
    that ran, instead of training, building a book, grading or writing (the table stays fast in CI)."""
    import importlib
    import types
    import zipfile

    grading = importlib.import_module("numpycnn.lab.assignment.grade")     # the module (the package exports grade())
    gradescope = importlib.import_module("numpycnn.lab.assignment.gradescope")
    import numpycnn.lab.commands.assignment as assignment_command
    from numpycnn.lab.commands import book, figures, tutorials
    from numpycnn.lab.experiments import protocol

    def ran(step):
        def fail(*args, **kwargs):
            raise AssertionError(f"{step} ran: the bad input was not caught before it")
        return fail

    def zip_file(file, mode="r", *args, **kwargs):          # reading a zip is a check; writing one is the work
        return (ran("assignment package's zip") if "w" in mode else zipfile.ZipFile)(file, mode, *args, **kwargs)
    for owner, name, step in ((protocol.Runner, "map", "an experiment's runs"), (figures, "core_figures", "figures"),
                              (book, "execute_tutorials", "the book's build"), (tutorials, "run_tutorial", "a tutorial"),
                              (assignment_command.course, "make_release", "assignment make's copy")):
        monkeypatch.setattr(owner, name, ran(step))
    monkeypatch.setattr(grading, "tempfile", types.SimpleNamespace(TemporaryDirectory=ran("grading")))
    monkeypatch.setattr(gradescope, "zipfile", types.SimpleNamespace(ZipFile=zip_file, BadZipFile=zipfile.BadZipFile,
                                                                     ZipInfo=zipfile.ZipInfo,
                                                                     ZIP_DEFLATED=zipfile.ZIP_DEFLATED))


@pytest.fixture(autouse=True)
def _unlock(tmp_path):
    yield
    if (tmp_path / "locked").exists():
        os.chmod(tmp_path / "locked", 0o755)        # so pytest can remove it


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_lab_input_is_one_line_naming_the_argument_exit_2_and_no_file_changed(case, tmp_path, monkeypatch,
                                                                                  capsys, student_copy):
    _plant(case, tmp_path, student_copy, monkeypatch)
    _nothing_runs(monkeypatch)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NUMPYCNN_DEBUG", raising=False)
    before = snapshot(tmp_path)
    try:
        code = main(_argv(case, tmp_path))
    except SystemExit as e:                          # argparse's errors
        code = e.code
    captured = capsys.readouterr()
    assert_one_line_error(code, captured.out, captured.err, [n.replace("{t}", str(tmp_path)) for n in case.needles])
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("case_id", SUBPROCESS)
def test_the_real_command_line_gives_the_same_one_line_error(case_id, tmp_path, student_copy):
    case = next(c for c in CASES if c.id == case_id)
    _plant(case, tmp_path, student_copy)
    before = snapshot(tmp_path)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg"}
    env.pop("NUMPYCNN_DEBUG", None)
    proc = subprocess.run([sys.executable, "-m", "numpycnn", *_argv(case, tmp_path)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert_one_line_error(proc.returncode, proc.stdout, proc.stderr,
                          [n.replace("{t}", str(tmp_path)) for n in case.needles])
    assert snapshot(tmp_path) == before


def test_a_corrupt_exercise_list_in_the_students_copy_is_one_line_from_assignment_list(tmp_path, student_copy):
    """``assignment list`` run in a student copy reads the copy's exercise list (the package imported from there)."""
    _plant(Case("", "", "", [], [], ("copy", "corrupt_manifest")), tmp_path, student_copy)
    before = snapshot(tmp_path)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg"}
    proc = subprocess.run([sys.executable, "-m", "numpycnn", "assignment", "list"], cwd=tmp_path / "hw", env=env,
                          capture_output=True, text=True, timeout=120)
    assert_one_line_error(proc.returncode, proc.stdout, proc.stderr,
                          ["hw/numpycnn/lab/assignment/exercises.json: not a readable list of exercises"])
    assert snapshot(tmp_path) == before


# -- the table covers every argument -----------------------------------------------------------------------------
def _subparsers(parser):
    return next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices


def _arguments(parser, prefix, skip=("-h", "rest")):
    """``"<prefix> <argument>"`` for each argument of ``parser`` that takes a value (flags have no bad value)."""
    found = set()
    for a in parser._actions:
        if isinstance(a, argparse._SubParsersAction):
            found.add(f"{prefix} {a.dest}")
            continue
        name = a.option_strings[-1] if a.option_strings else (a.metavar or a.dest)
        if a.nargs != 0 and name not in skip and not a.option_strings[:1] == ["-h"]:
            found.add(f"{prefix} {name}")
    return found


def _experiment_parser(name, monkeypatch):
    """The parser an experiment's ``main`` builds (caught when it parses)."""
    class Caught(Exception):
        pass

    def catch(self, args=None, namespace=None):
        raise Caught(self)
    with monkeypatch.context() as m:
        m.setattr(argparse.ArgumentParser, "parse_args", catch)
        with pytest.raises(Caught) as info:
            experiment_module(name).main([])
    return info.value.args[0]


def test_every_argument_of_the_lab_commands_has_a_row(monkeypatch):
    commands = _subparsers(make_parser())
    expected = set()
    for name in ("figures", "book", "tutorials"):
        expected |= _arguments(commands[name], name)
    expected |= _arguments(commands["assignment"], "assignment")
    for action in ("make", "grade", "check", "package"):
        expected |= _arguments(_subparsers(commands["assignment"])[action], f"assignment {action}")
    expected |= _arguments(commands["compare"], "compare")
    shared = None
    for t in techniques.names():
        own = _arguments(_experiment_parser(t, monkeypatch), "compare")
        shared = own if shared is None else shared & own
    expected |= shared
    for t in techniques.names():
        expected |= {f"compare {t} {a.split()[-1]}" for a in _arguments(_experiment_parser(t, monkeypatch), "compare")
                     - shared}
    covered = {c.arg for c in CASES}
    assert not expected - covered, f"arguments without a row: {sorted(expected - covered)}"
    assert {"assignment list", "compare NAME", "tutorials names"} <= covered


def test_the_table_has_every_kind_of_bad_value_and_the_reliability_page_gives_its_size():
    assert {c.kind for c in CASES} == set(KINDS)
    assert len({c.id for c in CASES}) == len(CASES) >= 80
    page = " ".join((ROOT / "docs" / "reliability.md").read_text(encoding="utf-8").split())
    assert f"**{len(CASES)} rows**" in page and f"{len(SUBPROCESS)} of them" in page
    counts = {kind: sum(c.kind == kind for c in CASES) for kind in KINDS}
    for kind, words in (("missing", "missing arguments"), ("type", "values of the wrong type"),
                        ("range", "values out of range"), ("place", "output places"),
                        ("folder", "input folders or files"), ("corrupt", "corrupt input files"),
                        ("unknown", "unknown or contradicting options")):
        assert f"{counts[kind]} {words}" in page, f"docs/reliability.md should count the rows by kind: {counts}"
