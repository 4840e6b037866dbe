"""The measured result of a technique's experiment, as the tutorials and docs show it.

Each technique's experiment (``python -m numpycnn compare ...``) writes ``figures/<technique>.json``.
Besides its arms (the trained configurations), a result under the project's protocol holds a list
``comparisons``; each compares one arm with a tuned baseline over paired seeds::

    {"claim": "...", "arm": "...", "baseline": "...", "mean_diff": 0.4, "ci95": [-0.1, 0.9],
     "claimed_effect": "...", "source": "...", "verdict": "..."}

``mean_diff`` is the mean of the paired differences (arm − baseline) and ``ci95`` its 95 % confidence
interval; the ``verdict`` is read off that interval. This module only *reads* such a file: a tutorial
never types a measured number. A file without ``comparisons`` (an older format), or no file at all
(e.g. a student copy, which holds no ``figures/``), means: not measured yet.
"""
import json
from pathlib import Path

from .. import techniques
from ..validate import choice
from . import REPO_ROOT


def figures_folder():
    """The repository's ``figures/`` folder (next to the ``numpycnn`` package)."""
    return REPO_ROOT / "figures"


def load_result(technique, folder=None):
    """The measured result of ``technique``, or None when it has not been measured yet.

    Parameters
    ----------
    technique : str — a technique's name (:data:`numpycnn.techniques.TECHNIQUES`)
    folder : path, optional — where the JSON files are; default :func:`figures_folder`

    Returns
    -------
    dict or None
        The parsed ``<folder>/<technique>.json`` when it exists and holds a list ``comparisons``;
        None otherwise.
    """
    choice(technique, "technique", "load_result", techniques.names())
    path = Path(folder if folder is not None else figures_folder()) / f"{technique}.json"
    if not path.is_file():
        return None
    result = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(result, dict) or not isinstance(result.get("comparisons"), list):
        return None
    return result


def _number(value):
    return f"{value:+.3g}" if isinstance(value, (int, float)) else str(value)


def describe_result(technique, folder=None):
    """A few lines of text saying what was measured for ``technique`` (or that nothing was yet).

    One line per comparison: the claim, arm − baseline as the mean of the paired differences with
    its 95 % confidence interval, and the verdict — all read from the JSON file.
    """
    result = load_result(technique, folder)
    if result is None:
        return (f"{technique}: not measured yet (figures/{technique}.json does not exist here or predates the "
                f"protocol). The benefit is an open question until the experiment has run.")
    lines = [f"{technique}: measured by `{result.get('command', '?')}` (commit {result.get('commit', '?')})"]
    arms = result.get("arms")
    if arms:
        names = list(arms) if isinstance(arms, dict) else [a.get("name", str(a)) if isinstance(a, dict) else str(a)
                                                            for a in arms]
        lines.append("  arms: " + ", ".join(str(n) for n in names))
    for c in result["comparisons"]:
        ci = c.get("ci95")
        ci_text = f"[{_number(ci[0])}, {_number(ci[1])}]" if isinstance(ci, (list, tuple)) and len(ci) == 2 else "?"
        lines.append(f"  {c.get('claim', '?')}: {c.get('arm', '?')} − {c.get('baseline', '?')} = "
                     f"{_number(c.get('mean_diff', '?'))}, 95 % CI {ci_text} → {c.get('verdict', '?')}")
    return "\n".join(lines)
