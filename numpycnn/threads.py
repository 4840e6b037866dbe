"""How many threads numpycnn uses: one setting, and the small pool of worker threads behind it.

The setting::

    import numpycnn
    numpycnn.threads.set_threads(2)            # from now on (NumPy's BLAS too, when threadpoolctl is installed)
    with numpycnn.threads.limit(1):            # inside the block only; the previous setting comes back after
        trainer.fit(data.train, epochs=1)
    numpycnn.threads.get_threads()             # the number in force now
    # NUMPYCNN_THREADS=2 python train.py       # the starting value, read when numpycnn is imported

Unset (no call, no ``NUMPYCNN_THREADS``), numpycnn uses what NumPy's BLAS is configured for, read at
each call through threadpoolctl when it is installed — so ``threadpoolctl.threadpool_limits(1)``
around a block makes numpycnn single-threaded too — and otherwise from ``OPENBLAS_NUM_THREADS``,
``MKL_NUM_THREADS`` or ``OMP_NUM_THREADS``, else ``os.cpu_count()``. threadpoolctl is optional:
without it :func:`set_threads` still sets numpycnn's own threads, but cannot change BLAS's.

What T threads do (the design; benchmarks/README.md has the measurements)
--------------------------------------------------------------------------
- **A training step** (:mod:`numpycnn.parallel`): the batch is split into T shards, computed by this
  process and T - 1 worker processes, and the gradients are averaged weighted by shard size. LeNet-
  sized layers are hundreds of NumPy calls on a few thousand numbers each; NumPy releases the GIL
  inside a call but takes it back at its end, so two *threads* making such calls spend their time
  handing the GIL to each other. Processes do not share a GIL. The split changes the rounding of the
  gradient's sum over the batch, so it happens only when the number of threads was *set*
  (:func:`is_set`): left to BLAS's default, ``Trainer`` gives the same bits as a hand-written loop.
- **Inside a large convolution** (:func:`map_shards`): when each NumPy call of a convolution pass
  handles at least :data:`MIN_NUMBERS_TO_SPLIT` numbers, the batch is split into T contiguous shards
  and each thread of a small persistent pool runs one shard's *whole* share of the layer (gather,
  products, scatter-adds): one hand-off per layer call. While a convolution pass runs — split or
  not — BLAS is pinned to one thread (through threadpoolctl when installed): split, the threads are
  already busy, and a BLAS that split each product again would put 2T threads on T cores; not split,
  see below. Outside the convolution — a Dense layer's product — BLAS keeps T threads.

The contract (docs/reliability.md, "Determinism"):

- **The convolution kernel gives the same bits at every T, whatever the CPU** (T = 1 and T = 2
  agree on any one machine; two machines need not), by construction: every
  image's products are the same one-thread BLAS calls whatever shard it falls in and whether the
  batch is split at all, and a sum over images (a weight gradient) is a second sharded pass over the
  *entries* of the sum, each entry added over ``n = 0 .. N-1`` in order as with one thread
  (tests/test_threads.py checks T = 1 against T = 2, split and not split).
- **Anything computed by a multi-threaded BLAS call agrees across T only to float rounding**: a
  Dense layer's product at T = 2 is one BLAS call on 2 threads, and whether its bits equal the
  1-thread call's is a property of the BLAS kernel the CPU selects, not of numpycnn (OpenBLAS's
  Haswell, Zen and SandyBridge kernels change the last bit of LeNet-5's Dense products, its SkylakeX
  kernel that of larger ones). So a model's forward and backward at T = 1 and T = 2 agree to float
  rounding, as does a training step split over processes (:mod:`numpycnn.parallel`).

Why pinning the unsplit pass costs almost nothing: it runs one BLAS product per image, small products
(LeNet-5's are at most 241 600 multiply-adds; OpenBLAS runs a product of up to 262 144 on one
thread whatever its setting, interface/gemm.c), and where they are larger the measurement behind
:data:`MIN_NUMBERS_TO_SPLIT` (benchmarks/README.md, "Where the in-layer threshold comes from": "T = 2
whole" is BLAS on 2 threads inside an unsplit layer) found BLAS's own threads on per-image products
gained nothing (3.59 vs 3.56 ms, 11.28 vs 11.43 ms) or lost (46.72 vs 39.28 ms). The pin itself
asks each loaded BLAS library for its thread count and, when it is not 1, sets it and sets it back:
2.6 µs per pass with BLAS at one thread, 5.7 µs at two (NumPy's and SciPy's OpenBLAS, a 2-core AMD
EPYC). The forward and backward pass of the smallest reference convolution run three such jobs in
1.6 ms, so the pin costs them at most 17 µs, 1 %; timed against the code before the pin
(``benchmarks/before_after.py --case 64x1x28x28``) they take 0.99 and 1.01 times as long at T = 1 and 2.
"""
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import numpy as np

from .validate import integer

try:                      # optional: without it BLAS keeps the threads its environment variables gave it
    import threadpoolctl
except ImportError:       # pragma: no cover - threadpoolctl is in the test extra
    threadpoolctl = None

#: environment variable read at import: the starting number of threads
ENV = "NUMPYCNN_THREADS"
_BLAS_ENV = ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS")

_state = {"threads": None}      # None: follow BLAS; else the number set by set_threads / limit / NUMPYCNN_THREADS
_lock = threading.Lock()        # guards the pool's creation
_pool = {"executor": None, "workers": 0}
_blas = {"libs": None}          # threadpoolctl's controllers of the BLAS libraries loaded, found once


def _blas_libs():
    """threadpoolctl's controllers of the loaded BLAS libraries (empty without threadpoolctl)."""
    if _blas["libs"] is None:
        _blas["libs"] = ([] if threadpoolctl is None else
                         list(threadpoolctl.ThreadpoolController().select(user_api="blas").lib_controllers))
    return _blas["libs"]


def blas_threads():
    """The number of threads NumPy's BLAS is configured for (the default of :func:`get_threads`)."""
    libs = _blas_libs()
    if libs:
        return max(1, max(lib.get_num_threads() for lib in libs))
    for name in _BLAS_ENV:
        value = os.environ.get(name, "").strip()
        if value.isdigit() and int(value) >= 1:
            return int(value)
    return os.cpu_count() or 1


def is_set():
    """Whether the number of threads was chosen (:func:`set_threads`, :func:`limit`, ``NUMPYCNN_THREADS``)
    rather than taken from BLAS's configuration."""
    return _state["threads"] is not None


def get_threads():
    """The number of threads numpycnn uses now: the setting, or BLAS's when unset."""
    return _state["threads"] or blas_threads()


def _set_blas(n):
    for lib in _blas_libs():
        lib.set_num_threads(n)


def set_threads(n):
    """Use ``n`` threads from now on: numpycnn's own, and NumPy's BLAS when threadpoolctl is installed.

    Parameters
    ----------
    n : int >= 1, or None
        None goes back to the default: follow whatever BLAS is configured for.
    """
    if n is None:
        _state["threads"] = None
        return
    n = integer(n, "n", "numpycnn.threads.set_threads")
    _state["threads"] = n
    _set_blas(n)


@contextmanager
def limit(n):
    """Use ``n`` threads inside a ``with`` block (numpycnn's and BLAS's); the previous setting comes back after.

    ::

        with numpycnn.threads.limit(1):
            trainer.fit(data.train, epochs=1)
    """
    n = integer(n, "n", "numpycnn.threads.limit")
    before = _state["threads"], [lib.get_num_threads() for lib in _blas_libs()]
    set_threads(n)
    try:
        yield n
    finally:
        _state["threads"] = before[0]
        for lib, m in zip(_blas_libs(), before[1]):
            lib.set_num_threads(m)


def shards(n, parts):
    """Split ``range(n)`` into ``min(parts, n)`` contiguous ``(lo, hi)`` ranges of sizes differing by at most 1."""
    parts = max(1, min(parts, n))
    step, extra = divmod(n, parts)
    bounds, lo = [], 0
    for k in range(parts):
        hi = lo + step + (k < extra)
        bounds.append((lo, hi))
        lo = hi
    return bounds


def _executor(workers):
    """The persistent pool, grown to ``workers`` threads (made anew in a forked child, whose copy has none)."""
    with _lock:
        if _pool["workers"] < workers:
            if _pool["executor"] is not None:
                _pool["executor"].shutdown(wait=False)
            _pool["executor"] = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="numpycnn")
            _pool["workers"] = workers
        return _pool["executor"]


def _forget_pool_after_fork():
    # A forked child inherits the pool object but not its threads: work sent to it would never run.
    _pool["executor"], _pool["workers"] = None, 0


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool_after_fork)


@contextmanager
def _blas_single():
    """Pin BLAS to one thread while a job of :func:`map_shards` runs (see the module docstring); restore it
    after. A library already at one thread is left alone."""
    libs = _blas_libs()
    before = [lib.get_num_threads() for lib in libs]
    for lib, m in zip(libs, before):
        if m != 1:
            lib.set_num_threads(1)
    try:
        yield
    finally:
        for lib, m in zip(libs, before):
            if m != 1:
                lib.set_num_threads(m)


#: A layer whose NumPy calls each handle fewer numbers than this (for the whole batch) stays in one thread.
#: Every NumPy call takes the GIL back when it ends; on smaller calls two threads spend as much time
#: handing the GIL to each other as they save (benchmarks/README.md, "Threads inside a layer": 2 threads
#: gained nothing on 196 000 numbers per call, 2.6x on 524 000).
MIN_NUMBERS_TO_SPLIT = 400_000


def map_shards(work, n, numbers=None, threads=None):
    """``[work(lo, hi) for (lo, hi) in shards(n, T)]``, one shard per thread, in shard order.

    Parameters
    ----------
    work : callable ``(lo, hi) -> result``
        Does the part ``lo:hi`` of the job; shards never overlap, so threads that write into arrays
        allocated beforehand never write the same entries.
    n : int
        The length to split (the batch size, or the number of rows of a sum).
    numbers : int or None
        How many numbers one NumPy call of the job handles for the whole ``range(n)`` (e.g. one slice
        copy of an im2col gather); below :data:`MIN_NUMBERS_TO_SPLIT` the job runs in one thread.
    threads : int or None
        T; defaults to :func:`get_threads`.

    Returns
    -------
    list
        One result per shard, in order (one element with one thread or ``n <= 1``).

    With one thread (or a small job) this is ``[work(0, n)]``. Otherwise the first shard runs in the
    calling thread and the others in the pool; an exception raised in any shard is raised here.
    Either way BLAS is pinned to one thread while ``work`` runs, so a product inside ``work`` is the
    same one-thread BLAS call at every T (the module docstring says why this costs almost nothing). The shards
    in the pool run under the caller's ``np.errstate`` (NumPy keeps it per thread, so a pool thread would
    otherwise warn about an overflow the caller chose to ignore, or ignore one it chose to raise).
    """
    T = get_threads() if threads is None else threads
    with _blas_single():
        if T <= 1 or n <= 1 or (numbers is not None and numbers < MIN_NUMBERS_TO_SPLIT):
            return [work(0, n)]
        (lo, hi), *rest = shards(n, T)
        errors = np.geterr()

        def in_callers_errstate(a, b):
            with np.errstate(**errors):
                return work(a, b)

        futures = [_executor(T - 1).submit(in_callers_errstate, a, b) for a, b in rest]
        try:
            first = work(lo, hi)
        finally:
            done = [f.result() for f in futures]
    return [first] + done


def run_sharded(work, n, numbers=None, threads=None):
    """Run ``work(lo, hi)`` on every shard of ``range(n)`` (:func:`map_shards`), for its writes only."""
    map_shards(work, n, numbers, threads)


def _read_env():
    """The starting setting from ``NUMPYCNN_THREADS`` (unset or empty: follow BLAS)."""
    value = os.environ.get(ENV, "").strip()
    if not value:
        return
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"environment variable {ENV} must be a positive integer (the number of threads); "
                         f"got {value!r}")
    set_threads(int(value))


_read_env()
