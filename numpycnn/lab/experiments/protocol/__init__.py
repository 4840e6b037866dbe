"""The reproduction protocol every ``python -m numpycnn compare NAME`` experiment runs through.

An experiment asks whether a published claim holds. It can answer only when the run *could* have
come out either way, so every experiment here follows the same rules:

1. **Splits.** train / validation (carved from the training set) / test. Every choice — learning
   rate, c, β, λ, a schedule — is made on validation. Test is read only in the final runs, after
   every choice was made; no decision uses it.
2. **Equal tuning.** Every arm with settings to choose — technique arms and baselines alike — gets its own
   grid (:class:`Arm` ``grid``) of the same size as every other arm's (≥ 3 log-spaced learning rates,
   plus the same schedule options where the claim is about an optimizer), run on the same ≥ 2 tuning
   seeds; the setting with the best mean validation score is kept, and a best setting at the edge of
   the learning-rate range extends the grid once in that direction (:mod:`.stages`).
3. **Paired, disjoint seeds.** The final comparison runs the selected setting of every arm on fresh seeds:
   ≥ 8 for the primary claim's arms, ≥ 5 for the others. Within a seed every arm starts from the same
   initial weights and sees the same data order. Probe (2000…), tuning (1000…) and final (0…) seeds are
   disjoint: no final run repeats a run that chose a regime or a setting; the JSON lists all three sets.
4. **Verdicts that could have come out either way** (:mod:`.stats`). One primary claim per technique,
   declared in the code before any run; the published effect converted into this regime's units by a
   stated rule; the regime's headroom and the design's smallest detectable effect (``mde``) recorded;
   six labels — ``supported``, ``supported, smaller than published``, ``contradicted``, ``inconclusive``,
   ``worse``, ``untestable here`` — read from the paired 95 % interval (the primary claim) or from the
   Holm-adjusted p-value (every other); a claim without room or power is ``untestable here``, never
   ``contradicted``. Control rows read ``no difference shown`` or ``differs``.
5. **Flat at the end, every arm.** For each arm, the slope of validation accuracy over the last 40 % of its
   evaluations (per seed, then the mean with its 95 % CI, in pp per 1,000 iterations); the check holds
   when the CI ends below a stated threshold (:class:`TrainedCheck`). A comparison whose arm or baseline
   fails it says so next to its verdict. (The docs say "flat over the last 40 %", not "converged".)
6. **Both cores, or a cluster.** Runs go through a pool of worker processes (default 2), or through Dask
   (``--cluster local:N``, ``--scheduler tcp://HOST:PORT``: :mod:`.cluster`, docs/cluster.md), each pinned to one BLAS
   thread with ``threadpoolctl``; a run's result does not depend on the number of workers (tested:
   bit-identical to a serial run). Each finished run is stored as one JSON file with the commit and the
   hash of the code that computed it, and is reused only by the same code, so an interrupted ``compare``
   continues where it stopped and a changed one starts afresh; a damaged run file (truncated, not JSON,
   the wrong shape) is named, moved aside and its run computed again (:class:`RunStore`).
7. **Provenance.** ``figures/<technique>.json`` records the command, commit, code hash, whether the tree
   was clean (``figures/`` is written only from a clean tree; ``--allow-dirty`` marks the record),
   machine, wall time, budget, the three seed sets, every arm's settings, tuning grid, per-seed results,
   validation curves and trained check, and every comparison; the Markdown table and the README
   scorecard (:func:`write_scorecard`) are generated from it. ``compare NAME --only ARM --seed S``
   re-runs one cell and prints it beside the stored value.

Vocabulary: an **arm** is one way of training; a **setting** is one assignment of its
hyper-parameters; a **run** is ``(stage, arm, setting, seed) -> metrics``; the **stages** are
``probe`` (finding the regime, before any arm exists), ``tune`` (validation only) and ``final``
(fresh seeds, test read once).

A run function has the signature ``fn(settings: dict, seed: int, ctx: RunContext) -> dict`` and is
defined at module level (workers import it). It returns JSON-able metrics: at least the selection
metric (``val_acc`` by default) and, in the final stage, ``test_acc``.

The rooms of this package, one job each:

===================  ====================================================================================
:mod:`.spec`         what an experiment declares: DataSpec, Arm, Claim, TrainedCheck, Experiment; a RunSpec
:mod:`.measures`     what a run function measures (fit_and_score, first_reaching)
:mod:`.store`        finished runs on disk (RunStore; damaged files kept aside); JSON writing
:mod:`.runner`       where runs execute: Runner, the Executor interface, InProcess and ProcessPool; failed runs
:mod:`.cluster`      runs as Dask tasks (DaskExecutor, --cluster / --scheduler); the one module importing Dask
:mod:`.stats`        confidence intervals, verdicts, comparisons, the trained check
:mod:`.stages`       tune, final, summarize, run_protocol
:mod:`.provenance`   git commit, machine, the reproducing command line
:mod:`.report`       the JSON record, the Markdown tables, the scorecard
:mod:`.cli`          the options every ``compare`` experiment shares, and their checks
===================  ====================================================================================
"""
from .cli import (DEFAULT_OUT, DEFAULT_QUICK_OUT, DryRun, add_arguments, check_args, check_fraction, check_positive,
                  output_options, parser, preset_data, preset_iterations, preset_network, preset_seeds,
                  rerun_cell)
from .measures import eval_curve, first_reaching, fit_and_score, seconds_reaching, spacing_at
from .provenance import code_hash, command_line, git_commit, is_dirty, machine
from .report import (HIDDEN_SETTINGS, PROTOCOL_VERSION, arms_table, comparisons_table, fmt_ci, fmt_claimed,
                     provenance_line, publish, record, scorecard, write_results, write_scorecard)
from .runner import (Executor, ExecutorLost, InProcess, ProcessPool, Runner, RunsFailed, execute, load_data,
                     require_data)
from .spec import (FINAL_SEED0, PRIMARY_SEEDS, PROBE_SEED0, SEEDS, STAGES, TUNE_SEED0, Arm, Claim, DataSpec,
                   Experiment, RunContext, RunSpec, TrainedCheck)
from .stages import final, run_protocol, summarize, tune
from .stats import (CONTROL_VERDICTS, CONVERSIONS, VERDICTS, adjust, compare, confidence_interval, decide, holm, mde,
                    paired_t, trained_check)
from .store import DEFAULT_RUNS_DIR, RunStore, dumps

__all__ = ["Arm", "CONTROL_VERDICTS", "CONVERSIONS", "Claim", "DEFAULT_OUT", "DEFAULT_QUICK_OUT", "DEFAULT_RUNS_DIR", "DataSpec", "DryRun", "Executor", "ExecutorLost",
           "Experiment", "FINAL_SEED0", "HIDDEN_SETTINGS", "InProcess", "PRIMARY_SEEDS", "PROBE_SEED0",
           "PROTOCOL_VERSION", "ProcessPool", "RunContext", "RunSpec", "RunStore", "Runner", "RunsFailed", "SEEDS", "STAGES",
           "TUNE_SEED0", "TrainedCheck", "VERDICTS", "add_arguments", "adjust", "arms_table", "check_args", "check_fraction", "check_positive",
           "code_hash", "command_line", "compare", "comparisons_table", "confidence_interval", "decide", "dumps",
           "eval_curve", "execute", "final", "first_reaching", "fit_and_score", "fmt_ci", "fmt_claimed",
           "git_commit", "holm", "is_dirty", "load_data", "machine", "mde", "output_options", "paired_t", "parser",
           "preset_data", "preset_iterations", "preset_network", "preset_seeds",
           "provenance_line", "publish", "record", "require_data", "rerun_cell", "run_protocol", "scorecard",
           "seconds_reaching", "spacing_at", "summarize", "trained_check", "tune", "write_results", "write_scorecard"]
