"""The figures command regenerates the core figures deterministically."""
import hashlib

from numpycnn.lab.cli import main


def _digest(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.glob("*.png"))}


def test_core_figures_are_written_and_byte_identical_across_runs(tmp_path):
    """Byte for byte by operation order: both runs are in this process, at the same thread setting."""
    a, b = tmp_path / "a", tmp_path / "b"
    assert main(["figures", "--quick", "--only", "core", "--out", str(a)]) == 0
    assert main(["figures", "--quick", "--only", "core", "--out", str(b)]) == 0
    da = _digest(a)
    assert set(da) == {"core_curves.png", "core_filters.png", "core_feature_maps.png", "core_gradient_scatter.png"}
    assert da == _digest(b)
