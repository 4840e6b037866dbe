"""numpycnn.plots.show: a figure inline in a notebook, saved to a fixed folder (path printed) elsewhere."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
from matplotlib.figure import Figure

from numpycnn import plots

ROOT = Path(__file__).resolve().parents[1]


def small_figure():
    fig = Figure(figsize=(2, 2))
    fig.subplots().plot([0, 1], [1, 0])
    return fig


def test_show_saves_under_the_figures_variable_and_prints_the_path(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("NUMPYCNN_FIGURES", str(tmp_path))
    monkeypatch.setattr(plots, "_main_script", lambda: Path("/somewhere/07_lesson.py"))
    path = plots.show(small_figure(), "curve")
    assert path == tmp_path / "07_lesson" / "curve.png" and path.read_bytes().startswith(b"\x89PNG")
    assert f"figure curve: {path}" in capsys.readouterr().out


def test_a_script_saves_next_to_itself_in_figures_and_writes_nothing_in_the_working_folder(tmp_path):
    script = tmp_path / "scripts" / "lesson.py"
    script.parent.mkdir()
    script.write_text("from matplotlib.figure import Figure\nimport numpycnn as nc\n"
                      "fig = Figure(); fig.subplots().plot([1, 2])\nnc.plots.show(fig, 'line')\n")
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "NUMPYCNN_FIGURES"}
    env.update(PYTHONPATH=str(ROOT), MPLBACKEND="Agg")
    proc = subprocess.run([sys.executable, str(script)], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    saved = script.parent / "figures" / "lesson" / "line.png"
    assert saved.is_file() and str(saved) in proc.stdout
    assert list(cwd.iterdir()) == []


def test_show_displays_inline_in_a_notebook_kernel_and_saves_nothing(tmp_path, monkeypatch):
    pytest.importorskip("IPython")
    import IPython.display
    shown = []

    class Kernel:
        kernel = object()

    monkeypatch.setattr(IPython, "get_ipython", lambda: Kernel())
    monkeypatch.setattr(IPython.display, "display", lambda obj: shown.append(obj))
    monkeypatch.setenv("NUMPYCNN_FIGURES", str(tmp_path))
    assert plots.in_notebook()
    assert plots.show(small_figure(), "inline") is None
    assert len(shown) == 1 and shown[0].data.startswith(b"\x89PNG")
    assert list(tmp_path.rglob("*")) == []


def test_a_terminal_ipython_session_is_not_a_notebook(monkeypatch):
    IPython = pytest.importorskip("IPython")

    class Terminal:
        pass

    monkeypatch.setattr(IPython, "get_ipython", lambda: Terminal())
    assert not plots.in_notebook()


def test_show_uses_the_dpi_variable(tmp_path, monkeypatch):
    monkeypatch.setenv("NUMPYCNN_FIGURES", str(tmp_path))
    sizes = {}
    for dpi in ("72", "144"):
        monkeypatch.setenv("NUMPYCNN_FIGURES_DPI", dpi)
        sizes[dpi] = plots.show(small_figure(), f"d{dpi}").stat().st_size
    assert sizes["72"] < sizes["144"]


def test_the_same_figure_gives_the_same_png_bytes():
    assert plots.figure_png(small_figure()) == plots.figure_png(small_figure())


@pytest.mark.parametrize("name", ["", "a/b", "../up", "x y", "...", None])
def test_show_refuses_a_name_that_is_not_a_plain_file_name(name, tmp_path):
    with pytest.raises(ValueError, match="name must be a file name"):
        plots.show(small_figure(), name, folder=tmp_path)


def test_show_refuses_something_that_is_not_a_figure(tmp_path):
    with pytest.raises(TypeError, match="fig must be a matplotlib.figure.Figure; got list"):
        plots.show([1, 2], "x", folder=tmp_path)


def test_figure_folder_defaults(monkeypatch, tmp_path):
    monkeypatch.delenv("NUMPYCNN_FIGURES", raising=False)
    assert plots.figure_folder(tmp_path / "tutorials" / "03_x.py") == tmp_path / "tutorials" / "figures" / "03_x"
    monkeypatch.setattr(plots, "_main_script", lambda: None)
    assert plots.figure_folder().name == "interactive" and plots.figure_folder().parent.name == "numpycnn-figures"
