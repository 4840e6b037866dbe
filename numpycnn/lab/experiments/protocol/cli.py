"""The command line every ``compare`` experiment shares, and re-running one cell of a published table."""
import argparse
import json
import os
from pathlib import Path

from ... import REPO_ROOT
from ....validate import integer, number
from .provenance import is_dirty
from .runner import InProcess, Runner
from .spec import DataSpec, RunSpec
from .store import DEFAULT_RUNS_DIR, RunStore

#: where the JSON, the table and the figures go unless ``--out`` says otherwise (``--quick`` never overwrites the
#: committed figures: it writes to ``figures-quick/``, as ``python -m numpycnn figures --quick`` does)
DEFAULT_OUT, DEFAULT_QUICK_OUT = "figures", "figures-quick"


def parser(name, doc, seeds=5):
    """The parser of ``python -m numpycnn compare NAME``: described by the first line of ``doc`` (the
    experiment's docstring), with the shared options; the experiment adds its own."""
    p = argparse.ArgumentParser(prog=f"python -m numpycnn compare {name}", description=doc.splitlines()[0])
    add_arguments(p, seeds)
    return p


def add_arguments(p, seeds=5):
    """The options of every ``compare`` experiment."""
    p.add_argument("--quick", action="store_true", help="tiny data and budgets (seconds to a minute; for tests/CI)")
    p.add_argument("--seeds", type=int, default=None,
                   help=f"final paired seeds of every arm but the primary claim's (default {seeds}; --quick 2)")
    p.add_argument("--workers", type=int, default=2, help="worker processes, one BLAS thread each (default 2)")
    p.add_argument("--out", default=None, help=f"folder for the JSON, table and figures (default {DEFAULT_OUT}/, "
                                               f"or {DEFAULT_QUICK_OUT}/ with --quick)")
    p.add_argument("--runs-dir", default=DEFAULT_RUNS_DIR,
                   help=f"where finished runs are stored, so an interrupted compare resumes "
                        f"(default {DEFAULT_RUNS_DIR})")
    fresh = p.add_mutually_exclusive_group()
    fresh.add_argument("--fresh", action="store_true", help="ignore stored runs and run everything again")
    fresh.add_argument("--resume", action="store_true",
                       help="reuse every stored run and compute only the rest (the default; said explicitly after an "
                            "interrupted or failed run)")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--cluster", metavar="local:N", default=None,
                       help="run on a Dask LocalCluster of N single-threaded worker processes (needs the cluster "
                            "extra: pip install -e \".[cluster]\"; docs/cluster.md)")
    where.add_argument("--scheduler", metavar="tcp://HOST:PORT", default=None,
                       help="run on the Dask cluster of a running scheduler (docs/cluster.md)")
    p.add_argument("--data-dir", default=None, help="folder with Fashion-MNIST (else $NUMPYCNN_DATA, then the "
                                                    "Debian package's folder)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--allow-dirty", action="store_true",
                   help="write figures/ from uncommitted code (the record is marked \"dirty\": true)")
    p.add_argument("--only", metavar="ARM", default=None,
                   help="re-run one cell of the published table: the final run of ARM (with --seed) at its selected "
                        "setting, printed beside the value stored in <out>/NAME.json; nothing is written")
    p.add_argument("--seed", type=int, default=None, help="the final seed of --only")
    p.add_argument("--regime", choices=("default", "paper"), default="default",
                   help="default: the experiment's own regime (sized for 2 cores); paper: the published setting (CIFAR-10 "
                        "from --data-dir, the published network, epochs, batch and seeds; see --dry-run)")
    p.add_argument("--dry-run", action="store_true",
                   help="print the runs of --regime paper and their estimated CPU-hours and memory per worker; train "
                        "nothing")


class DryRun(Exception):
    """``--dry-run``: the plan was printed; nothing runs (``compare`` exits 0)."""


def output_options(argv, name):
    """``(out, runs_dir)`` as the experiment ``name`` will use them with the command line ``argv`` (its own options
    are skipped), so the ``compare`` command can check both folders before the experiment runs."""
    p = argparse.ArgumentParser(prog=f"python -m numpycnn compare {name}", add_help=False)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--out", default=None)
    p.add_argument("--runs-dir", default=DEFAULT_RUNS_DIR)
    args, _ = p.parse_known_args(argv)
    return args.out or (DEFAULT_QUICK_OUT if args.quick else DEFAULT_OUT), args.runs_dir


def check_positive(args, name, *options):
    """Each of ``options`` (attribute names such as ``"steps"``) that was given must be an integer >= 1."""
    for option in options:
        value = getattr(args, option)
        if value is not None:
            integer(value, "--" + option.replace("_", "-"), f"compare {name}")


def check_fraction(args, name, option):
    """The option ``option`` (an attribute name), if given, must be a number in (0, 1]."""
    value = getattr(args, option)
    if value is not None:
        number(value, "--" + option.replace("_", "-"), f"compare {name}", low=0, high=1, low_open=True,
               meaning="a validation accuracy")


def check_args(args, name, seeds=5):
    """Check the shared options and return the :class:`Runner` they describe.

    Fills in ``args.seeds`` when it was not given (``seeds``, or 2 with ``--quick``) and checks that
    it is at least 2; the :class:`Runner` checks ``--workers``; then fills in ``args.out`` when it was
    not given (``figures/``, or ``figures-quick/`` with ``--quick``), and refuses to write the repository's
    ``figures/`` from uncommitted code unless ``--allow-dirty``. The runs are stored under
    ``<--runs-dir>/<name>`` (``<name>-quick`` with ``--quick``), emptied first with ``--fresh``. With
    ``--cluster local:N`` or ``--scheduler ADDRESS`` the runs execute as Dask tasks (:mod:`.cluster`, imported
    only then); ``runner.workers`` is then the cluster's worker threads. ``args.preset`` is the
    :class:`~numpycnn.lab.experiments.regimes.Regime` of ``--regime paper`` (None by default): its seeds become
    ``args.seeds``, and the experiment reads its data, network and budget (:func:`preset_data`). ``--dry-run``
    prints the preset's runs and cost and raises :class:`DryRun`. ``--seed`` belongs to ``--only`` (one re-run
    cell): alone it is an error.
    """
    if getattr(args, "seed", None) is not None and getattr(args, "only", None) is None:
        raise ValueError(f"compare {name}: --seed {args.seed} picks the final seed of the one cell --only ARM re-runs; "
                         f"give --only ARM too (or leave --seed out: a whole compare runs every seed)")
    from .. import regimes                        # the presets read the protocol's DataSpec: imported when used
    args.preset = regimes.preset(name, getattr(args, "regime", "default"), args.quick)
    if getattr(args, "dry_run", False):
        if args.preset is None:
            raise ValueError(f"compare {name}: --dry-run describes a preset; give --regime paper")
        print(regimes.dry_run(args.preset, args.data_dir), flush=True)
        raise DryRun(name)
    if args.preset is not None and args.seeds is None:
        args.seeds = args.preset.seeds
    if args.seeds is None:
        args.seeds = 2 if args.quick else seeds
    if isinstance(args.seeds, bool) or args.seeds < 2:
        raise ValueError(f"--seeds must be an integer >= 2 (a confidence interval needs two paired seeds); "
                         f"got {args.seeds}")
    store = RunStore(os.path.join(args.runs_dir, name + ("-quick" if args.quick else "")))
    runner = Runner(store, workers=args.workers, progress=not args.no_progress)     # checked before --fresh clears
    if getattr(args, "cluster", None) or getattr(args, "scheduler", None):
        from . import cluster                    # Dask is imported only here: the default compare never needs it
        runner.executor = cluster.connect(args.cluster, args.scheduler)
        runner.workers = runner.executor.workers()
    if args.out is None:
        args.out = DEFAULT_QUICK_OUT if args.quick else DEFAULT_OUT
    if (Path(args.out).resolve() == (REPO_ROOT / DEFAULT_OUT).resolve() and is_dirty() and not args.allow_dirty
            and args.only is None):
        raise ValueError(f"compare {name}: numpycnn/ has uncommitted changes, and {DEFAULT_OUT}/ is written only from "
                         f"a committed tree (its record names the commit); commit first, pass --allow-dirty (the "
                         f"record is then marked \"dirty\": true), or write elsewhere with --out")
    if args.fresh:
        store.clear()
    return runner


def preset_data(args, default):
    """The experiment's :class:`DataSpec`: ``default`` (``--regime default``), or the paper preset's data set and
    split, read from ``--data-dir``."""
    preset = getattr(args, "preset", None)
    if preset is None:
        return default
    return DataSpec(**{**preset.data.__dict__, "data_dir": args.data_dir})


def preset_iterations(args, default):
    """Iterations per run: ``default``, or the paper preset's ``epochs × ⌈training images / batch⌉``."""
    preset = getattr(args, "preset", None)
    return default if preset is None else preset.iterations()


def preset_seeds(args, primary, tune):
    """``(primary_seeds, tune_seeds)``: the experiment's own, or the paper preset's (``args.seeds`` is set by
    :func:`check_args`)."""
    preset = getattr(args, "preset", None)
    return (primary, tune) if preset is None else (preset.primary_seeds, preset.tune_seeds)


def preset_network(args, default=None):
    """The paper preset's network as :func:`numpycnn.lab.builder.options` (``{"model": "vanilla_cnn", "width":
    32}``), or ``default`` (``--regime default``). The input shape comes from the data (3×32×32 on CIFAR-10)."""
    preset = getattr(args, "preset", None)
    return default if preset is None else dict(preset.network.options)


def rerun_cell(args, name, run):
    """``compare NAME --only ARM --seed S``: run the final run of one arm and seed again, in this process, and
    print its metrics beside those stored in ``<out>/NAME.json``; returns the exit status (0)."""
    where = f"compare {name} --only"
    path = Path(args.out) / f"{name}.json"
    if not path.is_file():
        raise FileNotFoundError(f"{where}: {path} does not exist; run `python -m numpycnn compare {name}` first, or "
                                f"point --out at the folder holding {name}.json")
    rec = json.loads(path.read_text(encoding="utf-8"))
    arms = rec["arms"]
    if args.only not in arms:
        raise ValueError(f"{where}: {path} has no arm {args.only!r}; its arms are {list(arms)}")
    arm = arms[args.only]
    if args.seed is None or args.seed not in arm["seeds"]:
        raise ValueError(f"{where} needs --seed, one of the arm's final seeds {arm['seeds']}; got {args.seed}")
    data = {k: v for k, v in rec["data"].items() if k != "description"}
    spec = RunSpec(run, "final", args.only, arm["settings"], args.seed,
                   DataSpec(**{**data, "data_dir": args.data_dir}), rec.get("quick", False))
    results = []

    def failed(i, traceback):
        raise RuntimeError(f"{where} {args.only} --seed {args.seed}: the run raised\n{traceback}")
    InProcess().run([spec], lambda i, result: results.append(result), failed)      # one BLAS thread, as a worker
    result = results[0]
    i = arm["seeds"].index(args.seed)
    stored = {"test_acc": arm["per_seed"][i] / 100, **{m: v[i] for m, v in arm.get("per_seed_metrics", {}).items()}}
    print(f"{name}, arm {args.only}, seed {args.seed} (settings {arm['settings']}), re-run in "
          f"{result['seconds']:.1f} s:")
    for metric in sorted(stored):
        now = result["metrics"].get(metric)
        if metric == "test_acc":       # stored as per cent: compared in that unit (x·100/100 is not always x)
            same = "same" if now is not None and 100 * now == arm["per_seed"][i] else "differs"
        else:
            same = "same" if now == stored[metric] else "differs"
        print(f"  {metric:<22} now {now!r:<24} stored {stored[metric]!r:<24} {same}")
    return 0
