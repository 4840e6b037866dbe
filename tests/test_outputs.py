"""Writing where the user said (numpycnn/lab/commands/outputs.py): a wrong place is refused before anything is written,
a folder of the user's is never mixed with generated files nor deleted, a person's work is kept when replaced."""
from pathlib import Path

import pytest

from numpycnn.lab.commands import outputs
from numpycnn.lab.commands.book import BOOK_OUTPUTS
from numpycnn.lab.commands.figures import FIGURE_OUTPUTS

ROOT = Path(__file__).resolve().parents[1]
OWNS = ("core_*.png", "scorecard.md")


def test_a_new_an_empty_and_an_own_folder_are_accepted(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "own").mkdir()
    (tmp_path / "own" / "core_curves.png").write_bytes(b"png")
    (tmp_path / "own" / ".DS_Store").write_bytes(b"")            # dot-entries are not counted
    for name in ("new", "empty", "own"):
        assert outputs.output_folder(tmp_path / name, "--out", "figures", OWNS, "figures") == tmp_path / name
    assert not (tmp_path / "new").exists()                        # checked, not created


def test_a_folder_holding_other_files_is_refused_naming_the_option_and_three_of_them(tmp_path):
    for name in ("a.txt", "b.txt", "c.txt", "d.txt", "core_curves.png"):
        (tmp_path / name).write_text("mine")
    with pytest.raises(FileExistsError) as info:
        outputs.output_folder(tmp_path, "--out", "figures", OWNS, "figures")
    message = str(info.value)
    assert "--out" in message and "a.txt, b.txt, c.txt and 1 more" in message and "core_curves.png" not in message


def test_a_file_where_a_folder_is_expected_and_a_path_below_a_file_are_refused(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(NotADirectoryError, match=r"--out .*f is a file; expected a folder"):
        outputs.check_folder(tmp_path / "f", "--out", "figures")
    with pytest.raises(NotADirectoryError, match=r"--out .*f/sub cannot be created: .*f is a file"):
        outputs.check_folder(tmp_path / "f" / "sub", "--out", "figures")


def test_an_unwritable_place_is_refused_naming_the_nearest_existing_folder(tmp_path, monkeypatch):
    locked = tmp_path / "locked"
    locked.mkdir()
    real_access = outputs.os.access
    monkeypatch.setattr(outputs.os, "access", lambda p, mode: Path(p) != locked and real_access(p, mode))
    with pytest.raises(PermissionError, match=r"--out .*locked/figs is not writable \(.*locked, where"):
        outputs.check_folder(locked / "figs", "--out", "figures")
    with pytest.raises(PermissionError, match=r"OUT .*locked/a.zip is not writable"):
        outputs.output_file(locked / "a.zip", "OUT", "assignment package", lambda p: True, "a zip")


def test_a_file_replaces_only_its_own_earlier_output(tmp_path):
    own, other = tmp_path / "own.json", tmp_path / "notes.json"
    own.write_text("ours")
    other.write_text("theirs")
    assert outputs.output_file(own, "--json", "grade", lambda p: p.read_text() == "ours", "a report") == own
    with pytest.raises(FileExistsError, match=r"--json .*notes.json exists and is not a report"):
        outputs.output_file(other, "--json", "grade", lambda p: p.read_text() == "ours", "a report")
    with pytest.raises(IsADirectoryError, match=r"--json .* is a folder; expected the name of a report"):
        outputs.output_file(tmp_path, "--json", "grade", lambda p: True, "a report")


def test_keep_previous_moves_every_existing_entry_into_one_dated_folder_and_deletes_nothing(tmp_path):
    (tmp_path / "numpycnn").mkdir()
    (tmp_path / "numpycnn" / "conv.py").write_text("# the student's work")
    (tmp_path / "STUDENT_README.md").write_text("readme")
    (tmp_path / "notes.txt").write_text("not part of the copy")
    first = outputs.keep_previous(tmp_path, ("numpycnn", "tutorials", "STUDENT_README.md"))
    assert first.parent == tmp_path and first.name.startswith("previous-")
    assert (first / "numpycnn" / "conv.py").read_text() == "# the student's work"
    assert (first / "STUDENT_README.md").read_text() == "readme" and not (first / "tutorials").exists()
    assert (tmp_path / "notes.txt").read_text() == "not part of the copy" and not (tmp_path / "numpycnn").exists()
    (tmp_path / "numpycnn").mkdir()
    second = outputs.keep_previous(tmp_path, ("numpycnn",))          # the same second: a new name, not a merge
    assert second != first and (first / "numpycnn" / "conv.py").exists()
    assert outputs.keep_previous(tmp_path, ("numpycnn",)) is None


def test_remove_own_deletes_the_named_entries_only(tmp_path):
    (tmp_path / "_static").mkdir()
    (tmp_path / "_static" / "x.css").write_text("")
    (tmp_path / "index.html").write_text("")
    (tmp_path / ".git").mkdir()
    (tmp_path / "CNAME").write_text("site.example")
    outputs.remove_own(tmp_path, BOOK_OUTPUTS)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".git", "CNAME"]


def test_the_committed_figures_folder_holds_only_what_figures_and_compare_write():
    """``python -m numpycnn figures`` (and ``compare NAME``) must accept the repository's own figures/."""
    assert outputs.foreign_entries(ROOT / "figures", FIGURE_OUTPUTS) == []

