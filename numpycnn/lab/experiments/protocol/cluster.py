"""The protocol's runs as Dask tasks: ``compare NAME --cluster local:N`` or ``--scheduler tcp://HOST:PORT``.

The one module of numpycnn that imports Dask (``pip install -e ".[cluster]"``); it is imported only when one of
those two options is given, so ``import numpycnn`` and the default ``compare`` never need Dask.

* **One task per run.** :class:`DaskExecutor` submits each :class:`~.spec.RunSpec` as one task,
  ``client.submit(run_pinned, spec, pure=False, key=...)``. A spec is small (the run function is sent by
  reference, the data as its :class:`~.spec.DataSpec`): each worker process loads the data itself, once
  (:func:`~.runner.load_data` is cached per process), never one copy per task through the scheduler.
* **Pinned like a pool worker.** :func:`run_pinned` pins its worker process to one BLAS and one numpycnn
  kernel thread before the run, so a run computes the same numbers as in the local pool, bit for bit.
* **The driver alone writes the run store**: results come back to the ``compare`` process, which stores each
  as it arrives, so resuming works as with the pool — a restarted ``compare`` submits only what is missing.
* **Faults.** A worker that dies (SIGKILL, a preempted node) loses its task; the scheduler runs it again on
  another worker (up to Dask's ``distributed.scheduler.allowed-failures`` times), and the run's result is the
  same, so the comparison is too. A run that raises is a *failed run*, as with every executor: its traceback
  goes to ``failed(i, traceback)`` and the other runs go on (:mod:`.runner`). A lost scheduler raises
  :class:`~.runner.ExecutorLost`: a one-line error saying that the finished runs are stored and that running
  the same command again finishes the job.
"""
import atexit
import logging
import multiprocessing
import re
import traceback
import uuid

from .runner import Executor, ExecutorLost, execute, pin_one_thread

try:
    import dask
    import distributed
    from distributed import Client, LocalCluster, as_completed
except ImportError:                          # pragma: no cover - the extra is installed in CI
    raise ImportError("compare --cluster / --scheduler run the protocol's runs on Dask distributed, which is not "
                      "installed; run `pip install -e \".[cluster]\"` (or `pip install \"distributed>=2026.8.0,<2026.9\"`)"
                      ) from None

#: ``local:N``: a LocalCluster of N single-threaded worker processes on this machine
LOCAL = re.compile(r"local:(\d+)")


def local_start_method():
    """How ``--cluster local:N`` starts its worker processes: ``fork`` where the platform has it, as the local pool
    does — a forked worker starts with numpycnn, the experiments and Dask already imported, where a spawned one
    (Dask's default) imports them again, which is most of a LocalCluster's start-up (benchmarks/cluster_phases.py
    measures each phase); ``spawn`` where there is no fork (Windows)."""
    return "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"


def run_pinned(spec):
    """The task: run one spec in this worker process, pinned to one BLAS and one kernel thread (for the process's
    life: a task may share its worker with no other task of another thread count)."""
    pin_one_thread()
    return execute(spec)


def task_key(spec):
    """A readable, unique Dask key: ``numpycnn-<stage>-<arm>-s<seed>-<run key>-<6 random hex>``."""
    return f"numpycnn-{spec.stage}-{spec.arm}-s{spec.seed}-{spec.key()}-{uuid.uuid4().hex[:6]}"


class DaskExecutor(Executor):
    """Runs as Dask tasks on the cluster of ``client`` (a :class:`distributed.Client`).

    Parameters
    ----------
    client : distributed.Client
    where : str — how the cluster was reached, for the record and the messages (``"local:2"``, an address)
    """

    def __init__(self, client, where=None):
        self.client = client
        self.where = where or str(client.scheduler.address)

    def workers(self):
        """The number of worker threads the scheduler knows now (at least 1)."""
        return max(1, sum(self.client.nthreads().values()))

    def describe(self):
        return f"Dask ({self.where}, {self.workers()} worker thread(s))"

    def run(self, specs, done, failed):
        futures = {}
        try:
            for i, spec in enumerate(specs):
                futures[self.client.submit(run_pinned, spec, pure=False, key=task_key(spec))] = i
            for fut in as_completed(futures):
                i = futures[fut]
                if fut.status == "finished":
                    done(i, fut.result())
                elif fut.status == "error":
                    exc, tb = fut.exception(), fut.traceback()
                    failed(i, "".join(traceback.format_exception(type(exc), exc, tb)))
                else:                                   # "cancelled" / "lost": the scheduler went away
                    raise self.lost(f"task {fut.key} was {fut.status}")
        except (OSError, distributed.client.FutureCancelledError, distributed.comm.CommClosedError) as e:
            raise self.lost(f"{type(e).__name__}: {e}") from None
        finally:
            for fut in futures:
                fut.release()

    def lost(self, why):
        quiet_distributed()                     # its failed reconnect attempts: not news to the user after this
        return ExecutorLost(f"lost the Dask scheduler ({self.where}) during the runs ({why}); every run that "
                            f"finished is stored, so running the same command again (or with --resume) computes "
                            f"only the rest")


def quiet_distributed():
    """Silence Dask's own loggers (each ``distributed.*`` logger has its own level) below CRITICAL."""
    for name in ["distributed", *logging.root.manager.loggerDict]:
        if name.split(".")[0] == "distributed":
            logging.getLogger(name).setLevel(logging.CRITICAL)


def connect(cluster=None, scheduler=None):
    """A :class:`DaskExecutor` for ``--cluster local:N`` (a new LocalCluster of N single-threaded worker
    processes, closed when this process exits or :func:`close_all` runs) or ``--scheduler tcp://HOST:PORT``
    (a running scheduler). One executor per address per process: ``compare all`` starts its cluster once."""
    if (cluster is None) == (scheduler is None):
        raise ValueError(f"compare: give one of --cluster local:N and --scheduler tcp://HOST:PORT; got "
                         f"--cluster {cluster!r} and --scheduler {scheduler!r}")
    where = cluster or scheduler
    if where in _OPEN:
        return _OPEN[where]
    if cluster is not None:
        m = LOCAL.fullmatch(cluster)
        if not m or int(m.group(1)) < 1:
            raise ValueError(f"compare: --cluster must be local:N with N >= 1 worker processes (e.g. local:2); got "
                             f"{cluster!r} (for a running cluster use --scheduler tcp://HOST:PORT)")
        with dask.config.set({"distributed.worker.multiprocessing-method": local_start_method()}):
            local = LocalCluster(n_workers=int(m.group(1)), threads_per_worker=1, processes=True,
                                 dashboard_address=None)
        client = Client(local)
        closers = [client.close, local.close]
    else:
        try:
            client = Client(scheduler, timeout="20s")
        except (OSError, TimeoutError) as e:
            raise ConnectionError(f"compare: no Dask scheduler answers at --scheduler {scheduler} ({e}); start one "
                                  f"with `dask scheduler` (docs/cluster.md)") from None
        closers = [client.close]
    executor = DaskExecutor(client, where)
    _OPEN[where] = executor
    _CLOSERS[where] = closers
    return executor


_OPEN, _CLOSERS = {}, {}


def close_all():
    """Close every client and LocalCluster this process opened (quietly: a lost scheduler is already reported)."""
    for where in list(_OPEN):
        _OPEN.pop(where)
        for close in _CLOSERS.pop(where):
            try:
                close()
            except Exception:                   # closing after a lost scheduler may fail; nothing is left to save
                pass


atexit.register(close_all)
