"""The report of an experiment: its JSON record, its Markdown tables and the README scorecard."""
import json
import math
import os
import time
from dataclasses import asdict

from .... import techniques
from ....plots import save_figure
from ....storage import atomic_write_bytes
from .provenance import command_line, git_commit, machine
from .store import dumps

#: settings not shown in the arms table: those every arm shares, stated in the caption instead
HIDDEN_SETTINGS = ("steps", "target", "evals", "optimizer")


def record(exp, command, t0, runner, arms, comparisons, check, **extra):
    """The experiment's JSON record: what ran, where, on what data, with which result; plus ``extra`` sections."""
    return {"technique": exp.name, "title": exp.title, "command": command, "commit": git_commit(),
            "machine": machine(), "wall_minutes": (time.perf_counter() - t0) / 60,
            "runs": {"ran": runner.ran, "reused": runner.reused, "workers": runner.workers,
                     "run_minutes": runner.busy_seconds / 60},
            "data": {**asdict(exp.data), "description": exp.data.describe()},
            "budget": exp.budget, "seeds": exp.seeds, "tune_seeds": exp.tune_seeds, "select": exp.select,
            "quick": exp.quick, "arms": arms, "comparisons": comparisons, "trained_check": check, **extra}


def publish(exp, runner, argv, t0, out, arms, comparisons, check, *, intro, body, notes=(), more_checks=(),
            figures=None, **sections):
    """Write an experiment's whole report, print its Markdown and return its JSON record.

    Writes ``<out>/<name>.json`` (:func:`record`: the protocol's sections and ``sections``) and
    ``<out>/<name>.md`` (the intro, ``body``, the comparisons, ``notes``, the trained check(s) and the
    provenance line, one paragraph each), refreshes ``<out>/scorecard.md``, then saves
    ``<out>/<name>_<key>.png`` for every ``figures[key]()`` (the results are on disk before any
    figure is drawn).

    Parameters
    ----------
    exp : Experiment; runner : Runner — what ran (the record's runs and workers)
    argv : list or None — the experiment's command line (the record's reproducing command)
    t0 : float — ``time.perf_counter()`` when the experiment started (the record's wall time)
    out : str — the folder (``--out``)
    arms, comparisons, check : the protocol's summary (:func:`summarize`)
    intro : str — the first paragraph: what was run, on which data
    body : list of str — Markdown blocks between the intro and the comparisons (arms tables, captions)
    notes : list of str — Markdown blocks after the comparisons
    more_checks : list of ``(trained check record, label)`` — further trained checks, in the check's paragraph
    figures : dict ``key -> callable() -> Figure``
    **sections — more JSON sections of the record
    """
    rec = record(exp, command_line(exp.name, argv), t0, runner, arms, comparisons, check, **sections)
    trained = " ".join([trained_line(check)] + [trained_line(c, label) for c, label in more_checks])
    markdown = "\n\n".join([intro, *body, comparisons_table(comparisons), *notes, trained, provenance_line(rec)])
    write_results(out, exp.name, rec, markdown)
    for key, make in (figures or {}).items():
        save_figure(make(), os.path.join(out, f"{exp.name}_{key}.png"))
    print(markdown)
    return rec


def write_results(out, technique, record, markdown):
    """Write ``<out>/<technique>.json`` and ``.md`` atomically and refresh ``<out>/scorecard.md``."""
    os.makedirs(out, exist_ok=True)
    atomic_write_bytes(os.path.join(out, f"{technique}.json"), dumps(record).encode("utf-8"))
    atomic_write_bytes(os.path.join(out, f"{technique}.md"), (markdown.rstrip("\n") + "\n").encode("utf-8"))
    write_scorecard(out)


# ----------------------------------------------------------------------------------------------
# Markdown
# ----------------------------------------------------------------------------------------------
def unit_suffix(c):
    """How a comparison's numbers are suffixed: ``%`` (relative), `` pp`` (accuracy points) or its own unit."""
    if c["relative"]:
        return "%"
    return " pp" if c["unit"] == "pp" else f" {c['unit']}"


def fmt_ci(c):
    """``+1.23 pp [+0.40, +2.86]``: the mean paired difference and its 95 % CI, in the comparison's unit."""
    unit = unit_suffix(c)
    lo, hi = c["ci95"]
    if lo is None or (isinstance(lo, float) and math.isnan(lo)):
        return f"{c['mean_diff']:+.2f}{unit} (one seed: no interval)"
    return f"{c['mean_diff']:+.2f}{unit} [{lo:+.2f}, {hi:+.2f}]"


def fmt_claimed(c):
    """The published effect in the comparison's unit (``+1.4 pp``), or the margin of a "no difference" claim."""
    unit = unit_suffix(c)
    if c["kind"] == "equivalence":
        return f"no difference (within ±{c['margin']:g}{unit})"
    return f"{c['claimed_effect']:+g}{unit}"


def arms_table(arms, extra_columns=(), hide=HIDDEN_SETTINGS):
    """Markdown rows: arm, selected settings, test accuracy mean ± std, per seed (+ extra columns).

    ``extra_columns``: ``(title, fn(arm name) -> cell text)`` pairs; ``hide``: settings keys not shown
    (those every arm shares, stated in the caption instead)."""
    head = "| arm | selected settings (on validation) | test acc. % (mean ± std) | per seed |"
    sep = "|---|---|---|---|"
    for title, _ in extra_columns:
        head += f" {title} |"
        sep += "---|"
    lines = [head, sep]
    for name, a in arms.items():
        settings = ", ".join(f"{k} = {v}" for k, v in a["settings"].items() if k not in hide) or "–"
        if a.get("tuned_like"):
            settings += f" (as {a['tuned_like']})"
        std = "–" if a["std"] is None or (isinstance(a["std"], float) and math.isnan(a["std"])) else f"{a['std']:.2f}"
        row = (f"| {a['label']} | {settings} | {a['mean']:.2f} ± {std} | "
               f"{' '.join(f'{v:.2f}' for v in a['per_seed'])} |")
        for _, fn in extra_columns:
            row += f" {fn(name)} |"
        lines.append(row)
    return "\n".join(lines)


def comparisons_table(comparisons):
    """Markdown rows: claim, arm − baseline, published effect, our effect with its CI, verdict."""
    lines = ["| claim | arm − baseline | published effect (source) | our effect, mean [95 % CI] | verdict |",
             "|---|---|---|---|---|"]
    for c in comparisons:
        lines.append(f"| {c['claim']} | {c['arm']} − {c['baseline']} | {fmt_claimed(c)} ({c['source']}) | "
                     f"{fmt_ci(c)} | **{c['verdict']}** |")
    return "\n".join(lines)


def trained_line(check, label="Trained check"):
    """One sentence: the trained check, whether it held, and its numbers ("" without a check)."""
    if check is None:
        return ""
    state = "held" if check["held"] else "**did not hold — no verdict is given**"
    return (f"{label} ({check['criterion']}): {state} (gain over the window "
            f"{check['gain_over_window_pp']:+.2f} pp, final validation accuracy {check['final_val_acc']:.2f} %).")


def provenance_line(rec):
    """One sentence: the command, commit, wall time, machine and runs of a record."""
    m = rec["machine"]
    commit = rec["commit"] or "unknown"
    commit = commit[:12] + (" with uncommitted changes" if commit.endswith("+dirty") else "")
    return (f"Command: `{rec['command']}` · commit `{commit}` · "
            f"{rec['wall_minutes']:.1f} min wall on {m['cpu']} ({m['cores']} cores, {rec['runs']['workers']} "
            f"worker(s); {rec['runs']['ran']} runs, {rec['runs']['reused']} reused from an earlier interrupted run).")


# ----------------------------------------------------------------------------------------------
# the README scorecard: one row per claim, generated from figures/*.json
# ----------------------------------------------------------------------------------------------
def scorecard(records):
    """Markdown scorecard from the experiments' JSON records, in the techniques' letter order (A–E).

    A record of a technique not in :data:`numpycnn.techniques.TECHNIQUES` comes last, lettered ``?``.
    """
    letters = {t.name: t.letter for t in techniques.TECHNIQUES}
    lines = ["| technique | claim | published effect (source) | our effect, mean [95 % CI] | verdict | command |",
             "|---|---|---|---|---|---|"]
    order = sorted(records, key=lambda r: (r["technique"] not in letters, letters.get(r["technique"], "?")))
    for rec in order:
        letter = letters.get(rec["technique"], "?")
        for c in rec["comparisons"]:
            if not c.get("scorecard", True):
                continue
            lines.append(f"| {letter} | {c['claim']} | {fmt_claimed(c)} ({c['source']}) | {fmt_ci(c)} | "
                         f"**{c['verdict']}** | `{rec['command']}` |")
    return "\n".join(lines)


def write_scorecard(out):
    """Write ``<out>/scorecard.md`` from every ``<out>/<technique>.json`` there; a note says when any is --quick."""
    records = []
    for name in techniques.names():
        path = os.path.join(out, f"{name}.json")
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                rec = json.load(f)
            if rec.get("comparisons") is not None:
                records.append(rec)
    text = ("Every row is a paired comparison on ≥ 5 seeds after equal tuning on validation; the verdict comes from "
            "the 95 % confidence interval (`supported`: entirely above 0; `contradicted`: no gain shown and the "
            "claimed size ruled out; otherwise `inconclusive`). Generated from `figures/<technique>.json` by "
            "`python -m numpycnn compare NAME`.\n\n" + scorecard(records))
    if any(r.get("quick") for r in records):
        text += "\n\n(--quick runs: tiny data and budgets, for testing the pipeline only.)"
    atomic_write_bytes(os.path.join(out, "scorecard.md"), (text + "\n").encode("utf-8"))
    return records
