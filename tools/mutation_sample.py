"""Print a reproducible random sample of mutant names, for ``mutmut run NAME ...``.

Mutating the five techniques gives about 4,100 mutants; testing all of them takes hours on two cores.
A uniform random sample estimates the score with a known margin (the summary prints a 95 % interval)
and lists real survivors to close. Run from the folder where ``mutmut run`` generated ``mutants/``::

    mutmut run --max-children 2 "zzz-generate-only" || true      # generates mutants/ and the test stats
    mutmut run --max-children 2 $(python tools/mutation_sample.py "numpycnn.techniques.*" --fraction 0.25 --seed 0)

The same ``--seed`` and ``--fraction`` on the same source give the same names (the names are sorted
before sampling), so a later run can re-test exactly this sample after new tests were added.
"""
import argparse

import numpy as np

from mutation_summary import exit_codes          # tools/ is on the path when run as a script


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("patterns", nargs="+", help="fnmatch patterns of mutant names, e.g. 'numpycnn.techniques.*'")
    p.add_argument("--fraction", type=float, default=0.25, help="share of the matching mutants to draw (0, 1]")
    p.add_argument("--seed", type=int, default=0, help="the sampling seed (default 0)")
    p.add_argument("--mutants", default="mutants", help="mutmut's working folder (default mutants/)")
    args = p.parse_args()
    if not 0 < args.fraction <= 1:
        raise SystemExit(f"--fraction must be in (0, 1]; got {args.fraction}")
    names = sorted(k for codes in exit_codes(args.mutants, args.patterns).values() for k in codes)
    if not names:
        raise SystemExit(f"no mutant matches {args.patterns}")
    rng = np.random.default_rng(args.seed)
    k = max(1, round(args.fraction * len(names)))
    print("\n".join(sorted(rng.choice(names, size=k, replace=False))))


if __name__ == "__main__":
    main()
