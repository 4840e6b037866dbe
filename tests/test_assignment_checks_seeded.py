"""The autograder's checks are deterministic: every random input they draw comes from a seeded generator, so a
grader gives the same verdict on the same submission every time it runs."""
import ast
import contextlib
from pathlib import Path

import numpy as np

from numpycnn.lab.assignment import checks

CHECK_MODULES = sorted(Path(checks.__file__).parent.glob("checks*.py"))


def _unseeded_draws(path):
    """``file:line`` of each ``default_rng()`` without a seed and each call of the global ``np.random.<draw>``."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.Call):
            continue
        name = ast.unparse(node.func)
        module = ast.unparse(node.func.value) if isinstance(node.func, ast.Attribute) else ""
        if name.endswith("default_rng") and not node.args and not node.keywords:
            out.append(f"{path.name}:{node.lineno} {name}()")
        elif module in ("np.random", "numpy.random") and node.func.attr not in ("default_rng", "Generator"):
            out.append(f"{path.name}:{node.lineno} {name}(...)")
    return out


def test_no_check_draws_from_an_unseeded_or_global_random_generator():
    assert CHECK_MODULES and all(p.is_file() for p in CHECK_MODULES)
    found = [hit for path in CHECK_MODULES for hit in _unseeded_draws(path)]
    assert found == [], f"seed every generator of the autograder's checks: {found}"


def test_the_rule_catches_an_unseeded_generator(tmp_path):
    planted = tmp_path / "checks_planted.py"
    planted.write_text("import numpy as np\nx = np.random.default_rng().random(3)\ny = np.random.randn(2)\n"
                       "z = np.random.default_rng(4).random(3)\n")
    assert sorted(_unseeded_draws(planted)) == ["checks_planted.py:2 np.random.default_rng()",
                                        "checks_planted.py:3 np.random.randn(...)"]


class _RecordingContext:
    """A stand-in for the grader's context: the reference im2col runs as "the student's", and every input it is
    given is recorded."""

    mode = "grader"

    def __init__(self, monkeypatch):
        from numpycnn import im2col as mod
        self.inputs, original = [], mod.im2col

        def recording(x, *args, **kwargs):
            self.inputs.append((np.array(x, copy=True), args))
            return original(x, *args, **kwargs)
        monkeypatch.setattr(mod, "im2col", recording)

    @contextlib.contextmanager
    def student(self):
        yield


def test_the_im2col_check_gives_the_student_the_same_images_every_run(monkeypatch):
    runs = []
    for _ in range(2):
        ctx = _RecordingContext(monkeypatch)
        checks.im2col_matches_the_loop_definition(ctx)
        runs.append(ctx.inputs)
        monkeypatch.undo()
    assert len(runs[0]) == len(checks.CONFIGS) and len(runs[0]) == len(runs[1])
    for (x0, a0), (x1, a1) in zip(*runs):
        assert a0 == a1 and np.array_equal(x0, x1)
