"""The protocol's command-line options through the real command line (``python -m numpycnn compare NAME ...``) on
one ``--quick`` run of technique E, shared by every test here: ``--only ARM --seed S`` re-runs one cell and leaves
the stored runs alone; ``figures/`` is written from a dirty tree only with ``--allow-dirty``; a wrong ``--only`` or a
lone ``--seed`` is a one-line error.

The shared run writes into a stand-in repository (``protocol.cli.REPO_ROOT`` points at a temporary folder whose
``figures/`` plays the repository's), with the tree reported dirty, so nothing of the real repository is touched.
"""
import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("threadpoolctl")

from numpycnn.lab import cli  # noqa: E402
from numpycnn.lab.experiments.protocol import cli as protocol_cli  # noqa: E402
from numpycnn.lab.experiments.protocol import report  # noqa: E402

from conftest import HAVE_FASHION, NO_FASHION  # noqa: E402

if not HAVE_FASHION:
    pytest.skip(NO_FASHION, allow_module_level=True)

NAME = "orthogonal_reinit"
REPO = Path(__file__).resolve().parents[1]


def dirty_repository(monkeypatch, root):
    """Make the protocol see ``root`` as the repository and its tree as having uncommitted changes."""
    monkeypatch.setattr(protocol_cli, "REPO_ROOT", root)
    monkeypatch.setattr(protocol_cli, "is_dirty", lambda: True)
    monkeypatch.setattr(report, "is_dirty", lambda: True)


def compare(*options):
    """``python -m numpycnn compare orthogonal_reinit --quick --no-progress OPTIONS`` in this process: its status."""
    return cli.main(["compare", NAME, "--quick", "--no-progress", *options])


def snapshot(folder):
    """Every file under ``folder``: ``{relative path: (bytes, mtime)}``."""
    return {p.relative_to(folder).as_posix(): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(Path(folder).rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    """One ``--quick`` compare written to the stand-in repository's ``figures/`` with ``--allow-dirty``:
    ``(figures folder, runs folder)``."""
    root = tmp_path_factory.mktemp("repository")
    figures, runs = root / "figures", root / "runs"
    with pytest.MonkeyPatch.context() as mp:
        dirty_repository(mp, root)
        assert compare("--out", str(figures), "--runs-dir", str(runs), "--allow-dirty") == 0
    return figures, runs


def run_cli(*args):
    """The real command line in a new process (this worktree's numpycnn): ``(status, stdout, stderr)``."""
    p = subprocess.run([sys.executable, "-m", "numpycnn", *args], cwd=str(REPO), capture_output=True, text=True,
                       timeout=600, env={**__import__("os").environ, "PYTHONPATH": str(REPO)})
    return p.returncode, p.stdout, p.stderr


def test_only_arm_seed_reruns_that_one_cell_beside_its_stored_value_and_leaves_every_stored_run_untouched(
        published, capsys):
    figures, runs = published
    before_runs, before_figures = snapshot(runs), snapshot(figures)
    stored = json.loads((figures / f"{NAME}.json").read_text())["arms"]["text"]
    capsys.readouterr()
    assert compare("--out", str(figures), "--runs-dir", str(runs), "--only", "text", "--seed", "1") == 0
    out = capsys.readouterr().out
    assert f"{NAME}, arm text, seed 1" in out
    test_line = next(line for line in out.splitlines() if line.strip().startswith("test_acc"))
    assert repr(stored["per_seed"][1] / 100) in test_line and test_line.rstrip().endswith("same")
    assert snapshot(runs) == before_runs                  # no run file written, replaced or removed
    assert snapshot(figures) == before_figures            # nor the published record


def test_figures_is_written_from_a_dirty_tree_only_with_allow_dirty_and_the_record_says_so(
        published, monkeypatch, capsys):
    figures, runs = published
    assert json.loads((figures / f"{NAME}.json").read_text())["dirty"] is True
    assert "uncommitted code" in (figures / "scorecard.md").read_text()
    before = snapshot(figures)
    dirty_repository(monkeypatch, figures.parent)
    capsys.readouterr()
    assert compare("--out", str(figures), "--runs-dir", str(runs)) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error:") and "--allow-dirty" in err
    assert snapshot(figures) == before                    # refused before anything was written


def test_an_unknown_only_arm_is_a_one_line_error_naming_the_arms(published):
    figures, runs = published
    status, out, err = run_cli("compare", NAME, "--quick", "--no-progress", "--out", str(figures), "--runs-dir",
                               str(runs), "--only", "nope", "--seed", "0")
    assert status == 2 and not out
    assert len(err.strip().splitlines()) == 1 and "'nope'" in err
    for arm in ("standard", "text", "repr", "random"):
        assert f"'{arm}'" in err


def test_seed_without_only_is_a_one_line_error_naming_only(published):
    figures, runs = published
    before = snapshot(runs)
    status, out, err = run_cli("compare", NAME, "--quick", "--no-progress", "--out", str(figures), "--runs-dir",
                               str(runs), "--seed", "1")
    assert status == 2 and not out
    assert len(err.strip().splitlines()) == 1 and "--seed" in err and "--only" in err
    assert snapshot(runs) == before
