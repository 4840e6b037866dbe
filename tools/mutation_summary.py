"""Summarise a finished ``mutmut run`` per module (the table of docs/mutation.md).

Run from the folder where ``mutmut run`` ran (it reads ``mutants/**/*.py.meta``)::

    python tools/mutation_summary.py            # the per-module table
    python tools/mutation_summary.py --survivors # and every surviving mutant's name
    python tools/mutation_summary.py --only 'numpycnn.techniques.*' --interval
                                                 # a sampled run (tools/mutation_sample.py): the tested
                                                 # mutants only, the score with its 95 % Wilson interval

Exit codes are mutmut 3.3's: 1 or 3 the tests failed (killed), 0 they passed (survived), 33 or 5 no test
covers the function, 36/24/-24/152/255 timed out (mutmut kills a run taking far longer than the tests did).
"""
import argparse
import fnmatch
import json
import math
from collections import Counter
from pathlib import Path

STATUS = {1: "killed", 3: "killed", 0: "survived", 33: "no tests", 5: "no tests", 34: "skipped",
          35: "suspicious", 36: "timeout", 24: "timeout", -24: "timeout", 152: "timeout", 255: "timeout",
          None: "not checked"}
COLUMNS = ("killed", "timeout", "survived", "no tests", "not checked")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--mutants", default="mutants", help="mutmut's working folder (default mutants/)")
    p.add_argument("--survivors", action="store_true", help="also list every surviving mutant")
    p.add_argument("--only", nargs="+", metavar="PATTERN",
                   help="count only mutants whose name matches one of these fnmatch patterns")
    p.add_argument("--checked", action="store_true", help="leave out mutants not tested in this folder's runs")
    p.add_argument("--interval", action="store_true",
                   help="add the score's 95 %% Wilson interval (for a random sample of the mutants)")
    args = p.parse_args()
    total, survivors = Counter(), []
    extra = " 95 % interval |" if args.interval else ""
    print("| module | mutants | " + " | ".join(COLUMNS) + " | score: killed / (killed + survived) |" + extra)
    print("|---|---|" + "---|" * len(COLUMNS) + "---|" + ("---|" if args.interval else ""))
    for module, codes in exit_codes(args.mutants, args.only).items():
        codes = {k: c for k, c in codes.items() if not args.checked or c is not None}
        if not codes:
            continue
        counts = Counter(STATUS.get(c, f"exit {c}") for c in codes.values())
        survivors += [k for k, c in codes.items() if STATUS.get(c) == "survived"]
        total += counts
        print(row(module, counts, args.interval))
    print(row("**all**", total, args.interval))
    if args.survivors:
        print("\nSurvivors:\n" + "\n".join(f"- `{s}`" for s in sorted(survivors)))


def exit_codes(mutants="mutants", patterns=None):
    """``{module file: {mutant name: exit code or None}}`` from mutmut's ``*.py.meta`` files under ``mutants``,
    only the names matching one of the fnmatch ``patterns`` when given (modules with none left out)."""
    metas = sorted(Path(mutants).rglob("*.py.meta"))
    if not metas:
        raise SystemExit(f"--mutants: no *.py.meta files under {mutants!r}; let `mutmut run` generate them first")
    out = {}
    for meta in metas:
        codes = {k: c for k, c in json.loads(meta.read_text())["exit_code_by_key"].items()
                 if not patterns or any(fnmatch.fnmatch(k, pat) for pat in patterns)}
        if codes:
            out[str(meta.relative_to(mutants))[:-len(".meta")]] = codes
    return out


def row(name, counts, interval=False):
    judged = counts["killed"] + counts["survived"]
    score = f"{100 * counts['killed'] / judged:.1f} %" if judged else "–"
    out = f"| {name} | {sum(counts.values())} | " + " | ".join(str(counts[c]) for c in COLUMNS) + f" | {score} |"
    if interval:
        lo, hi = wilson(counts["killed"], judged) if judged else (math.nan, math.nan)
        out += f" {100 * lo:.1f}–{100 * hi:.1f} % |"
    return out


def wilson(k, n, z=1.959964):
    """95 % Wilson score interval of a proportion ``k / n`` (the score of a random sample of mutants)."""
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


if __name__ == "__main__":
    main()
