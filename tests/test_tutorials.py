"""Every tutorial runs from start to end in fast mode, and is a valid jupytext percent-format notebook."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TUTORIALS = sorted((ROOT / "tutorials").glob("[0-9][0-9]_*.py"))


def test_there_is_a_tutorial_for_each_technique():
    names = " ".join(p.name for p in TUTORIALS)
    assert "05_gradient_direction" in names


@pytest.mark.parametrize("path", TUTORIALS, ids=lambda p: p.stem)
def test_tutorial_runs_to_the_end_in_fast_mode(path, tmp_path):
    env = {**os.environ, "NUMPYCNN_FAST": "1", "MPLBACKEND": "Agg"}
    proc = subprocess.run([sys.executable, str(path)], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, f"{path.name} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
    assert list(tmp_path.iterdir()) == [] or all(p.name.startswith(".") for p in tmp_path.iterdir()), \
        f"{path.name} wrote files into the working directory: {sorted(p.name for p in tmp_path.iterdir())}"


@pytest.mark.parametrize("path", TUTORIALS, ids=lambda p: p.stem)
def test_tutorial_is_a_jupytext_percent_notebook_with_a_check_yourself_section(path):
    jupytext = pytest.importorskip("jupytext")
    notebook = jupytext.read(path, fmt="py:percent")
    kinds = [cell.cell_type for cell in notebook.cells]
    assert kinds.count("markdown") >= 3 and kinds.count("code") >= 3, f"{path.name}: too few cells"
    assert "check yourself" in path.read_text(encoding="utf-8").lower(), f"{path.name}: no 'Check yourself' section"
