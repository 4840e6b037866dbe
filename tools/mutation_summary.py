"""Summarise a finished ``mutmut run`` per module (the table of docs/mutation.md).

Run from the folder where ``mutmut run`` ran (it reads ``mutants/**/*.py.meta``)::

    python tools/mutation_summary.py            # the per-module table
    python tools/mutation_summary.py --survivors # and every surviving mutant's name

Exit codes are mutmut 3.3's: 1 or 3 the tests failed (killed), 0 they passed (survived), 33 or 5 no test
covers the function, 36/24/-24/152/255 timed out (mutmut kills a run taking far longer than the tests did).
"""
import argparse
import json
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
    args = p.parse_args()
    metas = sorted(Path(args.mutants).rglob("*.py.meta"))
    if not metas:
        raise SystemExit(f"--mutants: no *.py.meta files under {args.mutants!r}; run `mutmut run` first")
    total, survivors = Counter(), []
    print("| module | mutants | " + " | ".join(COLUMNS) + " | score: killed / (killed + survived) |")
    print("|---|---|" + "---|" * len(COLUMNS) + "---|")
    for meta in metas:
        codes = json.loads(meta.read_text())["exit_code_by_key"]
        counts = Counter(STATUS.get(c, f"exit {c}") for c in codes.values())
        survivors += [k for k, c in codes.items() if STATUS.get(c) == "survived"]
        total += counts
        print(row(str(meta.relative_to(args.mutants))[:-len(".meta")], counts))
    print(row("**all**", total))
    if args.survivors:
        print("\nSurvivors:\n" + "\n".join(f"- `{s}`" for s in sorted(survivors)))


def row(name, counts):
    judged = counts["killed"] + counts["survived"]
    score = f"{100 * counts['killed'] / judged:.1f} %" if judged else "–"
    return f"| {name} | {sum(counts.values())} | " + " | ".join(str(counts[c]) for c in COLUMNS) + f" | {score} |"


if __name__ == "__main__":
    main()
