"""The benchmarks' tables report verdicts and ratios from the measured times, and before_after.py times the cases
asked for (one tiny worker run; no time is asserted beyond being positive)."""
import importlib.util
import json
import pathlib

import numpy as np
import pytest

from conftest import needs_fashion

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _run_module():
    spec = importlib.util.spec_from_file_location("bench_run", ROOT / "benchmarks" / "run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _measured(conv2=(0.5, 1.2), epoch=(0.95, 1.35), speedup=1.7, samples=60000, rss=(300.0, 700.0, 2)):
    """A run's numbers: conv ratios (T=1, T=2) per shape, epoch ratios, numpycnn's epoch speed-up."""
    convs = [(0.6, 1.0), (2.4, 2.5), (0.9, 1.6), (2.2, conv2[1])]
    conv = [dict(name=n, ratio={1: r1, 2: r2}, speedup=(1.0, 1.8), floor={1: 0.3, 2: 0.25})
            for n, (r1, r2) in zip("abcd", convs)]
    return {"conv": conv, "pool": [dict(name="p", ratio={1: 0.4, 2: 0.8})],
            "geomean": {T: float(np.exp(np.mean([np.log(r["ratio"][T]) for r in conv]))) for T in (1, 2)},
            "epoch": dict(samples=samples, ratio={1: epoch[0], 2: epoch[1]}, speedup=(speedup, 1.6),
                          seconds={"n1": 7.0, "t1": 6.0, "n2": 4.0, "t2": 3.8}),
            "rss": rss}


def _rows(table):
    return {line.split(" | ")[0].lstrip("| "): line for line in table.splitlines() if line.startswith("| ")}


def test_summary_marks_each_target_met_or_not_from_the_median_ratio():
    rows = _rows(_run_module().summary_table(_measured(), "cmd", "machine"))
    epoch = rows["LeNet-5 Fashion-MNIST epoch, numpycnn / PyTorch"]
    assert "0.95× (**met**)" in epoch and "1.35× (not met)" in epoch          # <= 1.0 at T=1, <= 1.3 at T=2
    assert "1.70× (**met**)" in rows["numpycnn's epoch speed-up from 1 to 2 threads"]
    assert "2.50× (not met)" in rows["conv fwd+bwd b"] and "1.60× (**met**)" in rows["conv fwd+bwd c"]
    assert "1.20× (**met**)" in rows["conv fwd+bwd d"]
    assert "300 MiB vs 700 MiB (**met**)" in rows["peak memory of one epoch"]


def test_targets_at_their_bounds_are_met_and_just_past_them_are_not():
    table = _run_module().summary_table(_measured(conv2=(0, 2.0), epoch=(1.0, 1.3), speedup=1.6), "cmd", "m")
    rows = _rows(table)
    assert "2.00× (**met**)" in rows["conv fwd+bwd d"]
    assert "1.00× (**met**)" in rows["LeNet-5 Fashion-MNIST epoch, numpycnn / PyTorch"]
    assert "1.30× (**met**)" in rows["LeNet-5 Fashion-MNIST epoch, numpycnn / PyTorch"]
    assert "1.60× (**met**)" in rows["numpycnn's epoch speed-up from 1 to 2 threads"]
    slow = _rows(_run_module().summary_table(_measured(conv2=(0, 2.01), speedup=1.59), "cmd", "m"))
    assert "2.01× (not met)" in slow["conv fwd+bwd d"]
    assert "1.59× (not met)" in slow["numpycnn's epoch speed-up from 1 to 2 threads"]


def test_the_geometric_mean_row_judges_the_two_thread_mean_against_1_3():
    m = _measured()
    rows = _rows(_run_module().summary_table(m, "cmd", "m"))
    expected = np.exp(np.mean(np.log([1.0, 2.5, 1.6, 1.2])))
    assert f"{expected:.2f}× (not met)" in rows["conv geometric mean of the four"]


def test_summary_reports_the_im2col_floor_and_both_libraries_speed_ups_next_to_each_conv_ratio():
    rows = _rows(_run_module().summary_table(_measured(), "cmd", "m"))
    assert "im2col floor 0.25×" in rows["conv fwd+bwd a"] and "speed-up 1.00× (PyTorch 1.80×)" in rows["conv fwd+bwd a"]


def test_a_subset_epoch_says_so_and_a_full_epoch_does_not():
    module = _run_module()
    assert "(6400 images, times scaled to 60000)" in module.summary_table(_measured(samples=6400), "c", "m")
    assert "scaled" not in module.summary_table(_measured(), "c", "m")


def test_interleaving_times_every_case_once_per_repetition_in_rotated_order_with_its_threads_set_first():
    module = _run_module()
    calls = []

    class FakeClock:
        def time(self, f, warm=True):
            f()
            return 0.0

    module.use_threads = lambda T: calls.append(("T", T))
    out = module.interleaved([(k, (lambda k=k: calls.append(k)), T) for k, T in (("a", 1), ("b", 2))], 2,
                             FakeClock())
    assert [c for c in calls if c[0] != "T"] == ["a", "b", "b", "a"]
    assert calls[0] == ("T", 1) and calls[2] == ("T", 2)                     # threads set before each call
    assert {k: len(v) for k, v in out.items()} == {"a": 2, "b": 2}



def _before_after_module():
    spec = importlib.util.spec_from_file_location("bench_before_after", ROOT / "benchmarks" / "before_after.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_before_after_section_replaces_its_own_lines_and_keeps_the_rest_of_the_file(tmp_path):
    ba = _before_after_module()
    path = tmp_path / "RESULTS.md"
    path.write_text("# results\n\nkept above\n")
    ba.write_section(path, f"{ba.BEGIN}\nfirst\n{ba.END}")
    with open(path, "a") as f:
        f.write("\nkept below\n")
    ba.write_section(path, f"{ba.BEGIN}\nsecond\n{ba.END}")
    text = path.read_text()
    assert "kept above" in text and "kept below" in text and "second" in text
    assert "first" not in text and text.count(ba.BEGIN) == 1


def test_before_after_table_gives_the_median_ratio_the_per_round_range_and_the_paired_median_with_its_interval():
    ba = _before_after_module()

    class Args:
        rounds, reps, epoch_samples, case = 3, 5, 640, ["case"]
    before = [{"case": s} for s in (1.0, 2.0, 3.0)]
    after = [{"case": s} for s in (1.5, 2.0, 3.3)]              # per-round ratios 1.5, 1.0, 1.1
    text = ba.table(before, after, Args, "abc", "def")
    row = next(line for line in text.splitlines() if line.startswith("| case | 2"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[1:5] == ["2000.00", "2000.00", "1.000", "1.000–1.500"]
    median, lo, hi = map(float, cells[5].replace("[", "").replace("]", "").replace(",", "").split())
    assert median == 1.1 and 1.0 <= lo <= median <= hi <= 1.5
    assert "--case 'case'`" in text                              # the command line names the case filter


def test_before_after_times_only_the_cases_asked_for():
    ba = _before_after_module()
    assert ba.wanted("conv 64x1x28x28, 6 filters 5x5, T=1", [])
    assert ba.wanted("conv 64x1x28x28, 6 filters 5x5, T=1", ["64x1x28x28"])
    assert not ba.wanted("LeNet-5 epoch of 12800 images, T=1", ["64x1x28x28", "max pool"])


def test_before_after_names_its_cases_as_the_worker_does_and_refuses_a_case_that_matches_none(capsys):
    ba = _before_after_module()
    names = ba.case_names(640)
    assert len(names) == 2 * (len(ba.CONV_SHAPES) + len(ba.POOL_SHAPES) + 1)
    assert "conv 64x1x28x28, 6 filters 5x5, T=2" in names and "LeNet-5 epoch of 640 images, T=1" in names
    with pytest.raises(SystemExit) as exit:
        ba.main(["--before", "HEAD", "--case", "64x2x28x28"])
    assert exit.value.code == 2
    err = capsys.readouterr().err
    assert "--case '64x2x28x28' matches no case" in err and "conv 64x1x28x28, 6 filters 5x5, T=1" in err


@needs_fashion
def test_before_after_worker_times_exactly_the_cases_asked_for_under_the_names_it_lists(capsys):
    ba = _before_after_module()
    ba.worker(1, 640, ["16x10x10", "LeNet-5"])                 # a real run of two small cases per thread count
    timed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    expected = [n for n in ba.case_names(640) if "16x10x10" in n or "LeNet-5" in n]
    assert list(timed) == expected and len(expected) == 4 and all(s > 0 for s in timed.values())


def test_bootstrap_interval_of_a_median_holds_the_median_and_narrows_with_more_rounds():
    ba = _before_after_module()
    rng = np.random.default_rng(1)
    few, many = rng.normal(1.0, 0.1, 8), rng.normal(1.0, 0.1, 200)
    (a, b), (c, d) = ba.median_ci(few), ba.median_ci(many)
    assert a <= np.median(few) <= b and c <= np.median(many) <= d
    assert d - c < (b - a) / 2


def test_before_after_refuses_a_revision_that_is_not_a_commit(capsys):
    ba = _before_after_module()
    with pytest.raises(SystemExit) as exit:
        ba.main(["--before", "no-such-revision-xyz"])
    assert exit.value.code == 2
    assert "--before 'no-such-revision-xyz' is not a commit" in capsys.readouterr().err
