"""The report of an experiment: its JSON record, its Markdown tables and the README scorecard."""
import json
import math
import os
import time
from dataclasses import asdict

from .... import techniques
from ....plots import save_figure
from ....storage import atomic_write_bytes
from .provenance import code_hash, command_line, git_commit, is_dirty, machine
from .store import dumps

#: the protocol's version, in every record (the scorecard reads only records of this version)
PROTOCOL_VERSION = 2
#: settings not shown in the arms table: those every arm shares, stated in the caption instead
HIDDEN_SETTINGS = ("steps", "target", "evals", "optimizer")


def record(exp, command, t0, runner, arms, comparisons, **extra):
    """The experiment's JSON record: what ran, where, with which code, on what data, with which result."""
    return {"technique": exp.name, "title": exp.title, "protocol": PROTOCOL_VERSION, "command": command,
            "commit": git_commit(), "code_hash": code_hash(), "dirty": is_dirty(), "machine": machine(),
            "wall_minutes": (time.perf_counter() - t0) / 60,
            "runs": {"ran": runner.ran, "reused": runner.reused, "workers": runner.workers,
                     "executor": runner.executor.describe(), "run_minutes": runner.busy_seconds / 60},
            "data": {**asdict(exp.data), "description": exp.data.describe()},
            "budget": exp.budget, "seeds": exp.seed_sets(), "select": exp.select, "quick": exp.quick,
            "trained_check_rule": exp.trained.describe() if exp.trained else None,
            "arms": arms, "comparisons": comparisons, **extra}


def publish(exp, runner, argv, t0, out, arms, comparisons, *, intro, body, notes=(), figures=None, **sections):
    """Write an experiment's whole report, print its Markdown and return its JSON record.

    Writes ``<out>/<name>.json`` (:func:`record`: the protocol's sections and ``sections``) and
    ``<out>/<name>.md`` (the intro, ``body``, the comparisons, ``notes``, the trained check and the
    provenance line, one paragraph each), refreshes ``<out>/scorecard.md``, then saves
    ``<out>/<name>_<key>.png`` for every ``figures[key]()`` (the results are on disk before any
    figure is drawn).

    Parameters
    ----------
    exp : Experiment; runner : Runner — what ran (the record's runs and workers)
    argv : list or None — the experiment's command line (the record's reproducing command)
    t0 : float — ``time.perf_counter()`` when the experiment started (the record's wall time)
    out : str — the folder (``--out``)
    arms, comparisons : the protocol's summary (:func:`~.stages.summarize`)
    intro : str — the first paragraph: what was run, on which data
    body : list of str — Markdown blocks between the intro and the comparisons (arms tables, captions)
    notes : list of str — Markdown blocks after the comparisons
    figures : dict ``key -> callable() -> Figure``
    **sections — more JSON sections of the record
    """
    rec = record(exp, command_line(exp.name, argv), t0, runner, arms, comparisons, **sections)
    markdown = "\n\n".join(block for block in [intro, *body, comparisons_table(comparisons), *notes,
                                               trained_line(exp, arms), provenance_line(rec)] if block)
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
# numbers
# ----------------------------------------------------------------------------------------------
def unit_suffix(c):
    """How a comparison's numbers are suffixed: ``%`` (relative), `` pp`` (accuracy points) or its own unit."""
    if c["relative"]:
        return "%"
    return " pp" if c["unit"] == "pp" else f" {c['unit']}"


def near(x, thresholds, within=0.01):
    """True when ``x`` lies within ``within`` of one of ``thresholds`` (those not None)."""
    return any(t is not None and abs(x - t) < within for t in thresholds)


def fmt(x, thresholds=(), sign=True):
    """``x`` with 2 decimals, or 3 when it lies within 0.01 of a decision threshold (so the printed number
    says on which side of it it falls); ``–`` for None or NaN."""
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "–"
    digits = 3 if near(x, thresholds) else 2
    return f"{x:+.{digits}f}" if sign else f"{x:.{digits}f}"


def thresholds(c):
    """The values a comparison's interval is read against: 0, the converted effect, ± the margin."""
    m = c.get("margin")
    return (0.0, c.get("claimed_effect_here"), m, None if m is None else -m)


def fmt_ci(c):
    """``+1.23 pp [+0.40, +2.86]``: the mean paired difference and its 95 % CI, in the comparison's unit."""
    unit = unit_suffix(c)
    lo, hi = c["ci95"]
    if lo is None or (isinstance(lo, float) and math.isnan(lo)):
        return f"{c['mean_diff']:+.2f}{unit} (one seed: no interval)"
    t = thresholds(c)
    return f"{fmt(c['mean_diff'], t)}{unit} [{fmt(lo, t)}, {fmt(hi, t)}]"


def fmt_p(p):
    """A p-value: 2 decimals, 3 below 0.01 or within 0.01 of 0.05, ``< 0.001`` below that."""
    if p is None or (isinstance(p, float) and not math.isfinite(p)):
        return "–"
    if p < 0.001:
        return "< 0.001"
    return f"{p:.3f}" if (p < 0.01 or near(p, (0.05,))) else f"{p:.2f}"


def fmt_claimed(c):
    """The published effect and what it becomes here (``5.1 % fewer errors → +0.71 pp here``); a control's
    "no effect claimed"; the margin of a "no difference" claim."""
    unit = unit_suffix(c)
    if c["kind"] == "equivalence":
        return f"no difference (within ±{c['margin']:g}{unit})"
    if c["kind"] == "control":
        return "control (no effect claimed)"
    published, conversion = c["published"], c["conversion"]
    if conversion == "relative error reduction":
        said = f"{100 * published:.3g} % fewer errors"
    elif conversion == "fraction of gap closed":
        said = f"closes {100 * published:.3g} % of the gap to {c['reference']}"
    elif conversion == "threshold (ours)":
        said = f"threshold (ours) {published:+g}{unit}"
    else:
        said = f"{published:+g}{unit}"
    return f"{said} → {fmt(c['claimed_effect_here'], (0.0,))}{unit} here"


def fmt_verdict(c):
    """The verdict in bold, the primary claim marked, a failed trained check noted."""
    text = f"**{c['verdict']}**" + (" (primary)" if c.get("primary") else "")
    return text + (f" — {c['trained_note']}" if c.get("trained_note") else "")


# ----------------------------------------------------------------------------------------------
# Markdown
# ----------------------------------------------------------------------------------------------
def _setting(k, v):
    return f"{k} = {v:g}" if isinstance(v, float) else f"{k} = {v}"


def arms_table(arms, extra_columns=(), hide=HIDDEN_SETTINGS):
    """Markdown rows: arm, selected settings, test accuracy mean ± std, per seed, the end slope (+ extra columns).

    ``extra_columns``: ``(title, fn(arm name) -> cell text)`` pairs; ``hide``: settings keys not shown
    (those every arm shares, stated in the caption instead)."""
    head = "| arm | selected settings (on validation) | test acc. % (mean ± std) | per seed | slope at the end |"
    sep = "|---|---|---|---|---|"
    for title, _ in extra_columns:
        head += f" {title} |"
        sep += "---|"
    lines = [head, sep]
    for name, a in arms.items():
        settings = ", ".join(_setting(k, v) for k, v in a["settings"].items() if k not in hide) or "–"
        if a.get("extended"):
            settings += " (grid extended once)"
        std = "–" if a["std"] is None or (isinstance(a["std"], float) and math.isnan(a["std"])) else f"{a['std']:.2f}"
        check = a.get("trained_check")
        slope = "–" if check is None else (f"{check['slope_pp_per_1k']:+.2f} pp/1k its "
                                          f"{'(flat)' if check['held'] else '**(still rising)**'}")
        row = (f"| {a['label']} | {settings} | {a['mean']:.2f} ± {std} | "
               f"{' '.join(f'{v:.2f}' for v in a['per_seed'])} | {slope} |")
        for _, fn in extra_columns:
            row += f" {fn(name)} |"
        lines.append(row)
    return "\n".join(lines)


def comparisons_table(comparisons):
    """Markdown rows: claim, arm − baseline, the published effect and its size here, headroom, the smallest
    effect the design detects, our effect with its CI, p (Holm), verdict."""
    lines = ["| claim (in this regime) | arm − baseline | published effect → here (source) | headroom | "
             "detectable (mde) | our effect, mean [95 % CI] | p (Holm) | verdict |",
             "|---|---|---|---|---|---|---|---|"]
    for c in comparisons:
        unit = unit_suffix(c)
        headroom = "–" if c.get("headroom") is None else f"{c['headroom']:.2f}{unit}"
        lines.append(f"| {c['claim']} | {c['arm']} − {c['baseline']} | {fmt_claimed(c)} ({c['source']}) | "
                     f"{headroom} | {fmt(c.get('mde'), sign=False)}{unit} | {fmt_ci(c)} | "
                     f"{fmt_p(c['p_value'])} ({fmt_p(c.get('p_holm'))}) | {fmt_verdict(c)} |")
    return "\n".join(lines)


def trained_line(exp, arms):
    """One sentence: the trained check's rule and the arms it did not hold for ("" without a check)."""
    if exp.trained is None:
        return ""
    rising = [f"{a['label']} ({a['trained_check']['slope_pp_per_1k']:+.2f} pp per 1,000 iterations, 95 % CI up to "
              f"{a['trained_check']['ci'][1]:+.2f})" for a in arms.values()
              if a.get("trained_check") and not a["trained_check"]["held"]]
    state = ("it held for every arm: each was flat over the end of its budget" if not rising else
             "it did **not** hold for " + "; ".join(rising) + " — a comparison involving them says so")
    return f"Trained check ({exp.trained.describe()}): {state}."


def _seeds(seeds):
    if not seeds:
        return "none"
    return f"{seeds[0]}–{seeds[-1]}" if list(seeds) == list(range(seeds[0], seeds[-1] + 1)) else \
        ", ".join(map(str, seeds))


def provenance_line(rec):
    """One sentence: the command, commit, code hash, wall time, machine, runs and seeds of a record."""
    m = rec["machine"]
    commit = (rec["commit"] or "unknown")[:12]
    if rec.get("dirty"):
        commit += " **with uncommitted changes**"
    return (f"Command: `{rec['command']}` · commit `{commit}` · code `{rec.get('code_hash')}` · "
            f"{rec['wall_minutes']:.1f} min wall on {m['cpu']} ({m['cores']} cores, {rec['runs']['workers']} "
            f"worker(s); {rec['runs']['ran']} runs, {rec['runs']['reused']} reused from an earlier interrupted "
            f"run). Seeds: final {_seeds(rec['seeds']['final'])}, tuning {_seeds(rec['seeds']['tuning'])}, "
            f"probe {_seeds(rec['seeds']['probe'])}.")


# ----------------------------------------------------------------------------------------------
# the README scorecard, generated from figures/*.json
# ----------------------------------------------------------------------------------------------
def on_scorecard(c):
    """A scorecard row: the primary claim, and every other published claim whose verdict is not
    ``untestable here`` (controls and analysis rows never)."""
    return (c.get("scorecard", True) and c["kind"] != "control"
            and (c.get("primary") or c["verdict"] != "untestable here"))


def scorecard(records):
    """Markdown scorecard from the experiments' JSON records, in the techniques' letter order (A–E), each
    technique's primary claim first.

    A record of a technique not in :data:`numpycnn.techniques.TECHNIQUES` comes last, lettered ``?``; a record
    written from uncommitted code is marked.
    """
    letters = {t.name: t.letter for t in techniques.TECHNIQUES}
    lines = ["| technique | claim (in the regime tested) | published effect → here | our effect, mean [95 % CI] | "
             "p (Holm) | verdict | command |", "|---|---|---|---|---|---|---|"]
    order = sorted(records, key=lambda r: (r["technique"] not in letters, letters.get(r["technique"], "?")))
    for rec in order:
        letter = letters.get(rec["technique"], "?") + (" (uncommitted code)" if rec.get("dirty") else "")
        rows = sorted((c for c in rec["comparisons"] if on_scorecard(c)), key=lambda c: not c.get("primary"))
        for c in rows:
            lines.append(f"| {letter} | {c['claim']} | {fmt_claimed(c)} ({c['source']}) | {fmt_ci(c)} | "
                         f"{fmt_p(c['p_value'])} ({fmt_p(c.get('p_holm'))}) | {fmt_verdict(c)} | "
                         f"`{rec['command']}` |")
    return "\n".join(lines)


SCORECARD_INTRO = (
    "One primary claim per technique, declared in the code before any run, and every other published claim whose "
    "verdict is not *untestable here*. Each row is a paired comparison after equal tuning on validation (every arm "
    "its own grid of the same size), on ≥ 8 seeds for the primary claim and ≥ 5 for the others; the published "
    "effect is converted into this regime's units by the rule named; p is the two-sided paired t-test, in brackets "
    "Holm-adjusted over the technique's comparisons (which decides every claim but the primary). Verdicts: "
    "*supported* (a gain shown, the published size within the interval), *supported, smaller than published*, "
    "*contradicted* (no gain shown, the published size excluded), *inconclusive*, *worse* (a loss shown), "
    "*untestable here* (no headroom for the claim, or a design that could not have detected it). Every verdict is "
    "about the regime tested, which each technique's table states. Generated from `figures/<technique>.json` by "
    "`python -m numpycnn compare NAME`.")


def write_scorecard(out):
    """Write ``<out>/scorecard.md`` from every ``<out>/<technique>.json`` of this protocol version there; a note
    says when any is --quick."""
    records = []
    for name in techniques.names():
        path = os.path.join(out, f"{name}.json")
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                rec = json.load(f)
            if rec.get("comparisons") is not None and rec.get("protocol") == PROTOCOL_VERSION:
                records.append(rec)
    text = SCORECARD_INTRO + "\n\n" + scorecard(records)
    if any(r.get("quick") for r in records):
        text += "\n\n(--quick runs: tiny data and budgets, for testing the pipeline only.)"
    atomic_write_bytes(os.path.join(out, "scorecard.md"), (text + "\n").encode("utf-8"))
    return records
