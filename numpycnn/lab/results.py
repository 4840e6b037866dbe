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


def _with_unit(value, c):
    unit = "%" if c.get("relative") else (" pp" if c.get("unit") == "pp" else f" {c.get('unit', '')}".rstrip())
    return f"{value:+.2f}{unit}" if isinstance(value, (int, float)) else str(value)


def _effect(c):
    """``+52.78 % (95 % CI +10.68 to +94.88)`` — our effect in the comparison's unit."""
    ci = c.get("ci95")
    if not (isinstance(ci, (list, tuple)) and len(ci) == 2 and all(isinstance(v, (int, float)) for v in ci)):
        return f"{_with_unit(c.get('mean_diff', '?'), c)} (one seed: no interval)"
    return f"{_with_unit(c['mean_diff'], c)} (95 % CI {_with_unit(ci[0], c)} to {_with_unit(ci[1], c)})"


def _published(c):
    """What the source claimed and whether our interval contains it; '' for the project's own controls."""
    source = str(c.get("source", ""))
    if not source or source.startswith(("analysis", "control")):
        return ""
    ci = c.get("ci95")
    has_ci = isinstance(ci, (list, tuple)) and len(ci) == 2 and all(isinstance(v, (int, float)) for v in ci)
    if c.get("kind") == "equivalence":
        claimed = f"no difference (within ±{c.get('margin', 0):g}{'%' if c.get('relative') else ' pp'})"
    elif isinstance(c.get("claimed_effect_here", c.get("claimed_effect")), (int, float)):
        effect = c.get("claimed_effect_here", c.get("claimed_effect"))     # version 2 converts it to this regime
        claimed = _with_unit(effect, c)
        if has_ci:
            claimed += (" — our interval lies above it" if effect < ci[0] else
                        " — our interval lies below it" if effect > ci[1] else
                        " — inside our interval")
    else:
        return ""
    return f"; claimed {claimed} ({source})"


#: the order verdicts are reported in: the protocol's labels (version 2 adds "supported, smaller than published",
#: "worse", "untestable here" and the controls' labels to version 1's three)
#: (results sits below the protocol in the import graph, so the labels are written here; a test keeps them equal
#: to ``protocol.VERDICTS + protocol.CONTROL_VERDICTS``)
VERDICTS = ("supported", "supported, smaller than published", "contradicted", "inconclusive", "worse",
            "untestable here", "no difference shown", "differs")


def findings(technique, folder=None):
    """What the experiment found, in sentences generated from ``figures/<technique>.json``.

    One line counting the verdicts, then every comparison grouped by verdict — the claim, our effect
    (mean of the paired differences, arm − baseline, with its 95 % CI) and, where a published effect
    is the claim, that effect, its source and whether our interval contains it. A tutorial prints this
    instead of typing a result into its prose, so the text stays true when the experiment is rerun.
    Without a result: the "not measured yet" text of :func:`describe_result`.
    """
    result = load_result(technique, folder)
    if result is None:
        return describe_result(technique, folder)
    comparisons = result["comparisons"]
    groups = {}
    for c in comparisons:
        verdict = str(c.get("verdict", "?"))
        groups.setdefault(verdict if verdict in VERDICTS else "no verdict", []).append(c)
    seeds = result.get("seeds")
    if isinstance(seeds, dict):       # version 2: seed sets; the final seeds per arm (5, or 8 for the primary claim)
        counts_per_arm = sorted({len(a.get("seeds", [])) for a in result.get("arms", {}).values()} - {0})
        seeds = "–".join(str(n) for n in (counts_per_arm[0], counts_per_arm[-1]) if counts_per_arm) \
            if len(counts_per_arm) > 1 else (counts_per_arm[0] if counts_per_arm else None)
    counts = ", ".join(f"{len(groups[v])} {v}" for v in (*VERDICTS, "no verdict") if v in groups)
    lines = [f"{technique}: {len(comparisons)} comparisons" + (f" over {seeds} paired seeds" if seeds else "")
             + f": {counts}."]
    for verdict in (*VERDICTS, "no verdict"):
        for c in groups.get(verdict, []):
            lines.append(f"  {verdict}: {c.get('claim', '?')} — {c.get('arm', '?')} − {c.get('baseline', '?')} = "
                         f"{_effect(c)}{_published(c)}")
    return "\n".join(lines)
