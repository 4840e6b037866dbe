"""numpycnn.threads: the one setting is honoured, and results do not depend on the number of threads.

The contract (numpycnn/threads.py, docs/reliability.md): the convolution kernel gives the same bits at every T,
whatever the CPU — every image's products are the same one-thread BLAS calls in whichever shard it lands, split or
not (BLAS is pinned while the kernel runs), and the weight gradient's sum over images is taken entry by entry
in the order n = 0 .. N-1 at every T — so T = 1 and T = 2 must agree exactly there. A product BLAS computes on
T threads (a Dense layer's) may round differently at another T, depending on the BLAS kernel the CPU selects
(OpenBLAS's Haswell kernel does, on LeNet-5): a whole model agrees across T to float rounding, and bit for bit
only when BLAS has one thread at both. Check other kernels with OPENBLAS_CORETYPE=Haswell (Zen, SandyBridge).
"""
import contextlib
import multiprocessing
import os
import subprocess
import sys
import threading

import numpy as np
import pytest

from numpycnn import threads, zoo
from numpycnn.conv import conv2d_backward, conv2d_backward_naive, conv2d_forward, conv2d_naive
from numpycnn.fast_conv import conv2d_backward_fast, conv2d_forward_fast
from numpycnn.losses import SoftmaxCrossEntropy

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(autouse=True)
def _restore_setting(monkeypatch):
    """Restore the setting after each test; split every job, however small (the tests' cases are small)."""
    monkeypatch.setattr(threads, "MIN_NUMBERS_TO_SPLIT", 0)
    before = threads._state["threads"]
    yield
    threads._state["threads"] = before


def test_set_threads_is_what_get_threads_reports_and_none_goes_back_to_blas():
    with threads.limit(1):
        threads.set_threads(3)
        assert threads.get_threads() == 3
        threads.set_threads(None)
        assert threads.get_threads() == threads.blas_threads()


def test_is_set_tells_a_chosen_number_from_blas_s_default():
    threads.set_threads(None)
    assert not threads.is_set()
    with threads.limit(1):
        assert threads.is_set()
    assert not threads.is_set()
    threads.set_threads(2)
    assert threads.is_set()


def test_limit_sets_the_threads_inside_the_block_and_restores_them_after():
    threads.set_threads(2)
    with threads.limit(1) as n:
        assert n == 1 and threads.get_threads() == 1
    assert threads.get_threads() == 2


def test_the_setting_also_sets_blas_threads_when_threadpoolctl_is_installed():
    pytest.importorskip("threadpoolctl")
    with threads.limit(2):
        assert threads.blas_threads() == 2
        with threads.limit(1):
            assert threads.blas_threads() == 1
        assert threads.blas_threads() == 2


def test_unset_the_setting_follows_blas_so_threadpool_limits_pins_numpycnn_too():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    threads.set_threads(None)
    with threadpoolctl.threadpool_limits(1):
        assert threads.get_threads() == 1
    with threadpoolctl.threadpool_limits(2):
        assert threads.get_threads() == 2


@pytest.mark.parametrize("bad, error", [(0, ValueError), (-2, ValueError), (1.5, TypeError), ("2", TypeError),
                                        (True, TypeError)])
def test_a_bad_thread_count_is_refused_naming_the_argument(bad, error):
    with pytest.raises(error, match=r"set_threads: n must be an integer >= 1; got"):
        threads.set_threads(bad)
    with pytest.raises(error, match=r"limit: n must be an integer >= 1"):
        with threads.limit(bad):
            pass


def _python(code, **env):
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": ROOT, **env})


def test_the_environment_variable_gives_the_starting_setting():
    out = _python("import numpycnn; print(numpycnn.threads.get_threads())", NUMPYCNN_THREADS="3")
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["3"]


def test_a_bad_environment_variable_names_itself_and_the_value():
    out = _python("import numpycnn", NUMPYCNN_THREADS="two")
    assert out.returncode != 0
    assert "NUMPYCNN_THREADS must be a positive integer" in out.stderr and "'two'" in out.stderr


@pytest.mark.parametrize("n, parts", [(64, 2), (65, 2), (7, 3), (1, 2), (3, 8), (0, 2)])
def test_shards_cover_the_range_once_in_order_with_sizes_differing_by_at_most_one(n, parts):
    bounds = threads.shards(n, parts)
    covered = [i for lo, hi in bounds for i in range(lo, hi)]
    assert covered == list(range(n))
    sizes = [hi - lo for lo, hi in bounds]
    assert max(sizes) - min(sizes) <= 1 and len(bounds) == max(1, min(parts, n))


def test_map_shards_runs_one_shard_per_thread_with_blas_pinned_to_one():
    seen = []

    def work(lo, hi):
        seen.append((threading.get_ident(), threads.blas_threads() if threads._blas_libs() else 1))
        return lo, hi

    with threads.limit(2):
        assert threads.map_shards(work, 10) == [(0, 5), (5, 10)]
        assert threads.blas_threads() == (2 if threads._blas_libs() else threads.blas_threads())
    assert len({ident for ident, _ in seen}) == 2
    assert [blas for _, blas in seen] == [1, 1]
    with threads.limit(1):
        seen.clear()
        threads.map_shards(work, 10)
        assert [ident for ident, _ in seen] == [threading.get_ident()]


def test_a_job_whose_calls_are_small_stays_in_one_thread(monkeypatch):
    monkeypatch.setattr(threads, "MIN_NUMBERS_TO_SPLIT", 100_000)
    seen = set()
    with threads.limit(2):
        threads.run_sharded(lambda lo, hi: seen.add(threading.get_ident()), 64, numbers=99_999)
        assert seen == {threading.get_ident()}
        threads.run_sharded(lambda lo, hi: seen.add(threading.get_ident()), 64, numbers=100_000)
        assert len(seen) == 2


def test_a_job_that_is_not_split_still_runs_with_blas_pinned_to_one_thread(monkeypatch):
    """So a convolution's per-image products are the same one-thread BLAS calls at every T, split or not."""
    pytest.importorskip("threadpoolctl")
    if not threads._blas_libs():
        pytest.skip("threadpoolctl finds no BLAS library to pin")
    monkeypatch.setattr(threads, "MIN_NUMBERS_TO_SPLIT", 100_000)
    seen = []
    with threads.limit(2):
        threads.run_sharded(lambda lo, hi: seen.append((lo, hi, threads.blas_threads())), 64, numbers=99_999)
        assert threads.blas_threads() == 2                     # restored after the job
    assert seen == [(0, 64, 1)]


def test_an_error_in_a_worker_shard_is_raised_in_the_caller():
    def work(lo, hi):
        if lo > 0:
            raise ValueError(f"shard {lo}:{hi} failed")

    with threads.limit(2), pytest.raises(ValueError, match="shard 5:10 failed"):
        threads.map_shards(work, 10)


def test_worker_shards_follow_the_callers_errstate():
    """NumPy's error state is per thread: a pool thread must use the caller's (tutorial 9's sweep once
    leaked overflow warnings it had silenced)."""
    import warnings

    def work(lo, hi):
        if lo > 0:                                   # only the shards that run in the pool overflow
            np.exp(np.full(3, 1000.0))

    with threads.limit(2), np.errstate(over="raise"), pytest.raises(FloatingPointError):
        threads.map_shards(work, 10)
    with threads.limit(2), np.errstate(over="ignore"), warnings.catch_warnings():
        warnings.simplefilter("error")               # a warning from any thread would be raised here
        threads.map_shards(work, 10)


def _conv_case(N, C, H, F, k, stride, pad, dtype, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N, C, H, H)).astype(dtype)
    w = (rng.standard_normal((F, C, k, k)) * 0.3).astype(dtype)
    b = rng.standard_normal(F).astype(dtype)
    return x, w, b


def _fast(x, w, b, dout_seed, stride, pad, T):
    with threads.limit(T):
        out, cache = conv2d_forward_fast(x, w, b, stride, pad)
        dout = np.random.default_rng(dout_seed).standard_normal(out.shape).astype(x.dtype)
        dx, dw, db = conv2d_backward_fast(dout, cache)
        _, dw1, db1 = conv2d_backward_fast(dout, cache, input_grad=False)
    assert np.array_equal(dw, dw1) and np.array_equal(db, db1)      # the same calls: dx is computed apart
    return out, dout, dx, dw, db


CONV_CASES = [(64, 6, 12, 16, 5, 1, 0), (7, 3, 9, 4, 3, 1, 1), (3, 2, 8, 5, 3, 2, 1), (1, 2, 6, 3, 3, 1, 0),
              (5, 1, 28, 6, 5, 1, 2)]
#: per-image products of 64 x 289 x 256 = 4.7 million multiply-adds, which a BLAS at 2 threads would split
LARGE_PRODUCTS = (4, 32, 16, 64, 3, 1, 1)


@pytest.mark.parametrize("split", ["split", "not split"])
@pytest.mark.parametrize("case", CONV_CASES + [LARGE_PRODUCTS])
def test_fast_conv_gives_the_same_bits_at_one_and_two_threads(case, split, monkeypatch):
    """Split into shards or not (a layer below MIN_NUMBERS_TO_SPLIT): regression (issue 32.2) — unsplit, the
    per-image products ran on BLAS's 2 threads and OpenBLAS's Haswell kernel changed their last bits."""
    if split == "not split":
        monkeypatch.setattr(threads, "MIN_NUMBERS_TO_SPLIT", 10**12)
    N, C, H, F, k, stride, pad = case
    x, w, b = _conv_case(N, C, H, F, k, stride, pad, np.float32)
    one = _fast(x, w, b, 1, stride, pad, T=1)
    two = _fast(x, w, b, 1, stride, pad, T=2)
    for a, c in zip(one, two):
        assert a.dtype == np.float32 and np.array_equal(a, c)


@pytest.mark.parametrize("split", ["split", "not split"])
def test_the_fast_convolution_with_options_gives_the_same_bits_at_one_and_two_threads(split, monkeypatch):
    """Dilation, groups, per-axis sizes (:func:`~numpycnn.fast_conv.conv2d_forward_fast_general`): the same
    contract, per-image products and a weight gradient summed over n = 0 .. N-1 in order."""
    from numpycnn.fast_conv import conv2d_backward_fast_general, conv2d_forward_fast_general
    from numpycnn.im2col import Window
    monkeypatch.setattr(threads, "MIN_NUMBERS_TO_SPLIT", 0 if split == "split" else 10**12)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((7, 4, 12, 11)).astype(np.float32)
    w, b = rng.standard_normal((6, 2, 3, 2)).astype(np.float32), rng.standard_normal(6).astype(np.float32)
    window = Window((3, 2), (2, 1), ((1, 1), (0, 1)), (2, 1))
    results = []
    for T in (1, 2):
        with threads.limit(T):
            out, cache = conv2d_forward_fast_general(x, w, b, window, groups=2)
            dout = np.random.default_rng(1).standard_normal(out.shape).astype(np.float32)
            results.append((out, *conv2d_backward_fast_general(dout, cache)))
    for a, c in zip(*results):
        assert a.dtype == np.float32 and np.array_equal(a, c)


@pytest.mark.parametrize("case", CONV_CASES[1:])
def test_fast_conv_at_two_threads_equals_the_textbook_and_loop_references_in_float64(case):
    N, C, H, F, k, stride, pad = case
    x, w, b = _conv_case(N, C, H, F, k, stride, pad, np.float64)
    x.setflags(write=False)
    out, dout, dx, dw, db = _fast(x, w, b, 2, stride, pad, T=2)
    ref_out, cache = conv2d_forward(x, w, b, stride, pad)
    ref_dx, ref_dw, ref_db = conv2d_backward(dout, cache)
    np.testing.assert_allclose(out, ref_out, rtol=1e-12, atol=1e-12)
    for got, want in zip((dx, dw, db), (ref_dx, ref_dw, ref_db)):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(out, conv2d_naive(x, w, b, stride, pad), rtol=1e-12, atol=1e-12)
    for got, want in zip((dx, dw, db), conv2d_backward_naive(dout, x, w, stride, pad)):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def _lenet_gradients(T, blas=None):
    """LeNet-5's gradients on a batch of 32 with numpycnn at T threads, and BLAS at T too — or at one thread
    when ``blas`` (the threadpoolctl module) is given."""
    model = zoo.lenet5(seed=0)
    rng = np.random.default_rng(5)
    x = rng.random((32, 1, 28, 28), dtype=np.float32)
    y = rng.integers(0, 10, 32)
    loss = SoftmaxCrossEntropy()
    with threads.limit(T), (blas.threadpool_limits(1) if blas else contextlib.nullcontext()):
        loss.forward(model.forward(x), y)
        model.backward(loss.backward(), input_grad=False)
    return {name: g.copy() for name, _, g in model.named_parameters()}


def test_a_lenet5_step_gives_the_same_bits_at_one_and_two_numpycnn_threads_when_blas_has_one():
    """numpycnn's own threads never change a bit: the convolutions split over 2 threads, every product is a
    one-thread BLAS call at both T."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    one, two = _lenet_gradients(1, blas=threadpoolctl), _lenet_gradients(2, blas=threadpoolctl)
    assert one.keys() == two.keys()
    for name in one:
        assert np.array_equal(one[name], two[name]), name


def test_a_lenet5_step_at_one_and_two_threads_agrees_to_the_rounding_of_its_longest_blas_sum():
    """With BLAS at T threads too, its Dense products may round differently at T = 2 (issue 32.2: conv1.W
    differed in the last bit on AMD EPYC, OpenBLAS's Haswell kernel). A float32 sum of n terms rounds to within
    about n eps of its size, and the longest sum BLAS computes on T threads here is over fc1's 400 inputs
    (the others: 120, 84 features, 32 images); every gradient must agree to that. A dropped or double-counted
    shard would be off by a large fraction."""
    one, two = _lenet_gradients(1), _lenet_gradients(2)
    n, eps = max(400, 120, 84, 32), np.finfo(np.float32).eps
    assert one.keys() == two.keys()
    for name in one:
        assert two[name].dtype == np.float32
        np.testing.assert_allclose(two[name], one[name], rtol=0, atol=n * eps * np.abs(one[name]).max(),
                                   err_msg=name)


def _conv_in_child(queue):
    x, w, b = _conv_case(8, 2, 6, 3, 3, 1, 1, np.float32)
    queue.put(_fast(x, w, b, 1, 1, 1, T=2)[3])


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="needs fork")
def test_a_forked_child_gets_a_pool_of_its_own():
    x, w, b = _conv_case(8, 2, 6, 3, 3, 1, 1, np.float32)
    parent_dw = _fast(x, w, b, 1, 1, 1, T=2)[3]             # the parent's pool now has a worker thread
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_conv_in_child, args=(queue,))
    child.start()
    child_dw = queue.get(timeout=60)                         # would hang if the child used the parent's pool
    child.join(timeout=60)
    # bit for bit: the same kernel at the same T in a copy of this process, so the same BLAS calls
    assert child.exitcode == 0 and np.array_equal(child_dw, parent_dw)
