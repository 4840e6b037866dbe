"""The reproduction protocol every ``python -m numpycnn compare NAME`` experiment runs through.

An experiment asks whether a published claim holds. It can answer only when the run *could* have
come out either way, so every experiment here follows the same rules:

1. **Splits.** train / validation (carved from the training set) / test. Every choice — learning
   rate, c, β, λ, a schedule — is made on validation. Test is read only in the final runs, after
   every choice was made; no decision uses it.
2. **Equal tuning.** Every arm, the baseline included, gets the same kind of search: a small grid
   declared in the experiment (:class:`Arm` ``grid``), run on ``tune_seeds`` seeds, the setting with
   the best mean validation score kept. No arm runs at an untuned default while another is tuned.
3. **Paired seeds.** The final comparison runs the selected setting of every arm on ``seeds`` fresh
   seeds (≥ 5). Within a seed every arm starts from the same initial weights and sees the same data
   order (the run functions build models and trainers from the seed).
4. **Statistics.** For each :class:`Claim`: the per-seed paired differences ``arm − baseline``,
   oriented so that positive is the claimed direction; their mean, standard deviation and 95 %
   Student-t confidence interval; and a verdict (:func:`verdict`): ``supported`` (CI entirely above
   0), ``contradicted`` (CI reaches no higher than the claimed effect and does not lie above 0: no
   gain shown and the claimed size ruled out), otherwise ``inconclusive``; plus ``size_consistent``
   (the claimed effect lies inside the CI).
5. **Trained, not truncated.** Each experiment states a :class:`TrainedCheck` for its baseline (its
   validation accuracy changes by less than a stated amount over the last part of the budget, and is
   above chance). A run that fails its own check says so instead of giving a verdict.
6. **Both cores.** Runs go through a pool of worker processes (default 2), each pinned to one BLAS
   thread with ``threadpoolctl``; a run's result does not depend on the number of workers (tested:
   bit-identical to a serial run). Each finished run is stored as one JSON file, so an interrupted
   ``compare`` continues where it stopped; a damaged run file (truncated, not JSON, the wrong shape) is
   named, moved aside and its run computed again (:class:`RunStore`).
7. **Provenance.** ``figures/<technique>.json`` records the command, commit, machine, wall time,
   budget, every arm's settings and per-seed results, the comparisons and the trained check; the
   Markdown table and the README scorecard (:func:`write_scorecard`) are generated from it.

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
:mod:`.runner`       where runs execute: Runner, the Executor interface, InProcess and ProcessPool
:mod:`.stats`        confidence intervals, verdicts, comparisons, the trained check
:mod:`.stages`       tune, final, summarize, run_protocol
:mod:`.provenance`   git commit, machine, the reproducing command line
:mod:`.report`       the JSON record, the Markdown tables, the scorecard
:mod:`.cli`          the options every ``compare`` experiment shares, and their checks
===================  ====================================================================================
"""
from .cli import (DEFAULT_OUT, DEFAULT_QUICK_OUT, add_arguments, check_args, check_fraction, check_positive,
                  output_options, parser)
from .measures import eval_curve, first_reaching, fit_and_score, seconds_reaching
from .provenance import command_line, git_commit, machine
from .report import (HIDDEN_SETTINGS, arms_table, comparisons_table, fmt_ci, fmt_claimed, provenance_line, publish,
                     record, scorecard, trained_line, write_results, write_scorecard)
from .runner import Executor, InProcess, ProcessPool, Runner, execute, load_data, require_data
from .spec import STAGES, TUNE_SEED0, Arm, Claim, DataSpec, Experiment, RunContext, RunSpec, TrainedCheck
from .stages import final, run_protocol, summarize, tune
from .stats import NO_VERDICT, VERDICTS, compare, confidence_interval, trained_check, verdict, withhold_verdicts
from .store import DEFAULT_RUNS_DIR, RunStore, dumps

__all__ = ["Arm", "Claim", "DEFAULT_OUT", "DEFAULT_QUICK_OUT", "DEFAULT_RUNS_DIR", "DataSpec", "Executor", "Experiment",
           "HIDDEN_SETTINGS", "InProcess", "NO_VERDICT", "ProcessPool", "RunContext", "RunSpec", "RunStore", "Runner",
           "STAGES", "TUNE_SEED0", "TrainedCheck", "VERDICTS", "add_arguments", "arms_table", "check_args",
           "check_fraction", "check_positive", "command_line", "compare", "comparisons_table", "confidence_interval",
           "dumps", "eval_curve", "execute", "final", "first_reaching", "fit_and_score", "fmt_ci", "fmt_claimed",
           "git_commit", "load_data", "machine", "output_options", "parser", "provenance_line", "publish", "record",
           "require_data", "run_protocol", "scorecard", "seconds_reaching", "summarize", "trained_check",
           "trained_line", "tune", "verdict", "withhold_verdicts", "write_results", "write_scorecard"]
