"""Running: a run executes in a process pinned to one BLAS thread; a :class:`Runner` reuses stored runs
and hands the rest to an :class:`Executor`.

The executor is the one place that decides *where* runs execute. Two are here: :class:`InProcess`
(``--workers 1``) and :class:`ProcessPool` (``--workers N``, the default 2); a third,
:class:`~.cluster.DaskExecutor` (``--cluster local:N``, ``--scheduler tcp://HOST:PORT``), lives in
:mod:`.cluster`, the one module that imports Dask. An executor is a class with one method,
:meth:`Executor.run`, passed as ``Runner(store, executor=...)``. A run's result does not depend on where
it ran: every executor calls :func:`execute` in a process limited to one BLAS and one kernel thread.

A run that raises is **failed**, the same way on every executor: the executor hands its traceback to
``failed(i, traceback)`` and goes on with the other runs; the runner keeps the traceback beside the store's
run files (:meth:`~.store.RunStore.put_failed`, never reused) and, once every other run has finished and
been stored, raises :class:`RunsFailed` naming each failed run. A process that dies (a killed pool worker)
is not a failed run but a broken executor: that error propagates; the runs already stored are kept.
"""
import dataclasses
import time
import traceback
from concurrent.futures import ProcessPoolExecutor, as_completed
from functools import lru_cache
from multiprocessing import get_context

from .... import threads
from ....datasets import load_dataset
from ....errors import DatasetNotFoundError
from .provenance import require_threadpoolctl
from .spec import RunContext
from .store import error_line


@lru_cache(maxsize=4)
def load_data(spec):
    """The :class:`~numpycnn.datasets.DataSplits` of a :class:`DataSpec` (cached per process).

    Raises
    ------
    DatasetNotFoundError — with how to get the data; experiments never fall back to other data.
    """
    val_fraction = spec.val / spec.train
    return load_dataset(spec.name, data_dir=spec.data_dir, seed=spec.seed, train_limit=spec.train,
                        test_limit=spec.test, val_fraction=val_fraction)


def require_data(spec):
    """Load the experiment's data in the parent (so forked workers share it); a clear error if it is missing."""
    try:
        return load_data(spec)
    except DatasetNotFoundError as e:
        raise DatasetNotFoundError(f"compare needs {spec.name}: {e}") from None


class RunsFailed(RuntimeError):
    """Some runs raised; every other run finished and is stored. ``failures``: ``[(spec, traceback, path)]``.

    The message has one line per failed run: stage, arm, seed, the error's first line and where its traceback
    is kept (``python -m numpycnn compare`` prints it and exits with status 1).
    """

    def __init__(self, failures):
        self.failures = failures
        lines = [f"{len(failures)} run(s) failed; every other run finished and is stored (re-running the same "
                 f"command computes only what is missing):"]
        for spec, tb, path in failures:
            lines.append(f"  {spec.stage} run of arm {spec.arm}, seed {spec.seed}: {error_line(tb)} "
                         f"(traceback: {path})")
        super().__init__("\n".join(lines))


class ExecutorLost(RuntimeError):
    """The executor went away during the runs (a lost Dask scheduler); every run that finished is stored."""


def execute_or_traceback(spec):
    """:func:`execute`, returning ``("done", result)``, or ``("failed", traceback text)`` when the run raises."""
    try:
        return "done", execute(spec)
    except Exception:                            # a run's error, reported; KeyboardInterrupt and exits propagate
        return "failed", traceback.format_exc()


def execute(spec):
    """Run one :class:`RunSpec` in this process; returns ``{"metrics": ..., "seconds": ...}``."""
    data = load_data(spec.data)
    if spec.stage != "final":                   # test is read in the final stage only: before, it is not there
        data = dataclasses.replace(data, test=None)
    ctx = RunContext(stage=spec.stage, data=data, train=data.train, val=data.val, test=data.test, quick=spec.quick)
    t0 = time.perf_counter()
    metrics = spec.fn(dict(spec.settings), spec.seed, ctx)
    return {"metrics": metrics, "seconds": time.perf_counter() - t0}


# ----------------------------------------------------------------------------------------------
# where runs execute
# ----------------------------------------------------------------------------------------------
class Executor:
    """Where runs execute. A subclass defines :meth:`run`."""

    def run(self, specs, done, failed):
        """Execute every spec of ``specs`` with :func:`execute`, in one BLAS thread each, calling
        ``done(i, result)`` in this process as run ``i`` finishes (in any order), or ``failed(i, traceback)``
        (the traceback's text) when it raises — and going on with the other runs."""
        raise NotImplementedError

    def describe(self):
        """Where runs execute, for the record (``"a pool of 2 processes"``)."""
        return type(self).__name__


class InProcess(Executor):
    """One run after the other in this process, pinned to one BLAS and one kernel thread meanwhile."""

    def run(self, specs, done, failed):
        with require_threadpoolctl().threadpool_limits(1), threads.limit(1):
            for i, spec in enumerate(specs):
                status, out = execute_or_traceback(spec)
                (done if status == "done" else failed)(i, out)

    def describe(self):
        return "this process"


class ProcessPool(Executor):
    """``workers`` worker processes, each pinned to one BLAS and one kernel thread for its life."""

    def __init__(self, workers):
        self.workers = workers

    def run(self, specs, done, failed):
        with ProcessPoolExecutor(max_workers=min(self.workers, len(specs)), mp_context=pool_context(),
                                 initializer=pin_one_thread) as pool:
            futures = {pool.submit(execute_or_traceback, spec): i for i, spec in enumerate(specs)}
            for fut in as_completed(futures):
                status, out = fut.result()            # a dead worker process raises here (BrokenProcessPool)
                (done if status == "done" else failed)(futures[fut], out)

    def describe(self):
        return f"a pool of {self.workers} processes"


def pin_one_thread():
    """Worker initialiser: one BLAS thread and one numpycnn kernel thread per worker process, for its life."""
    require_threadpoolctl().threadpool_limits(1)
    threads.set_threads(1)


def pool_context():
    """``fork`` (the workers share the data the parent loaded), or ``spawn`` where there is no fork (Windows)."""
    try:
        return get_context("fork")
    except ValueError:
        return get_context("spawn")


# ----------------------------------------------------------------------------------------------
# the runner: stored runs first, the rest on the executor
# ----------------------------------------------------------------------------------------------
class Runner:
    """Run many :class:`RunSpec` s: reuse stored results, run the rest on ``workers`` processes.

    Parameters
    ----------
    store : RunStore
    workers : int >= 1 — 1 runs in this process (:class:`InProcess`), more in a :class:`ProcessPool`
    progress : bool — one tqdm bar over runs
    executor : Executor, optional — where runs execute instead (``workers`` is then only recorded)

    A run that raises is recorded as failed (:meth:`~.store.RunStore.put_failed`); :meth:`map` lets every
    other run finish and be stored, then raises :class:`RunsFailed` naming the failed ones.
    """

    def __init__(self, store, workers=2, progress=True, executor=None):
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise ValueError(f"--workers must be a positive integer; got {workers!r}")
        self.store, self.workers, self.progress = store, workers, progress
        self.executor = executor or (InProcess() if workers == 1 else ProcessPool(workers))
        self.reused = self.ran = self.failed = 0
        self.busy_seconds = 0.0

    def map(self, specs, desc="runs", count=True):
        """Results (stored records) of ``specs``, in the same order (``count=False``: a re-read of runs
        this runner already has, not counted as reused)."""
        records = [self.store.get(s) for s in specs]
        todo = [i for i, r in enumerate(records) if r is None]
        self.reused += (len(specs) - len(todo)) if count else 0
        if not todo:
            return records
        bar = None
        if self.progress:
            from tqdm.auto import tqdm
            bar = tqdm(total=len(specs), initial=len(specs) - len(todo), desc=desc, unit="run", dynamic_ncols=True)

        failures = []

        def done(k, result):
            i = todo[k]
            records[i] = self._finish(specs[i], result, bar)

        def failed(k, tb):
            spec = specs[todo[k]]
            failures.append((spec, tb, self.store.put_failed(spec, tb)))
            if bar is not None:
                bar.update(1)

        try:
            self.executor.run([specs[i] for i in todo], done, failed)
        finally:
            if bar is not None:
                bar.close()
        if failures:
            self.failed += len(failures)
            raise RunsFailed(failures)
        return records

    def _finish(self, spec, result, bar):
        self.ran += 1
        self.busy_seconds += result["seconds"]
        if bar is not None:
            bar.update(1)
        return self.store.put(spec, result)
