"""The linter (ruff, configured in pyproject.toml) finds nothing in the package, the tests, the tutorials
and the benchmarks."""
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_ruff_finds_nothing():
    if importlib.util.find_spec("ruff") is None:
        pytest.skip("ruff is not installed: pip install -e '.[test]'")
    proc = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "numpycnn", "tests", "tutorials",
                           "benchmarks"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


BUILD_ARTIFACTS = (".whl", ".egg", ".pyc", ".so", ".tar.gz")


def test_the_repository_tracks_no_build_artifacts():
    """Issue 18.8: a wheel once sat at the repository root; packages and compiled files stay out of git."""
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    proc = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        pytest.skip(f"git ls-files failed: {proc.stderr.strip()}")
    tracked = [f for f in proc.stdout.splitlines() if f.endswith(BUILD_ARTIFACTS)]
    assert tracked == [], f"build artifacts tracked by git (remove them; .gitignore keeps them out): {tracked}"
