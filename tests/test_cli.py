"""The command line: train writes a run folder, resume continues, errors are one clear line."""
import importlib
import json
import pkgutil
import subprocess
import sys

import numpy as np
import pytest

from numpycnn.lab import commands
from numpycnn.lab.cli import main
from numpycnn.model import load_model

TRAIN = ["train", "--dataset", "digits", "--model", "small_cnn", "--width", "4", "--batch-size", "64",
         "--no-progress", "--seed", "1"]


def test_train_writes_model_checkpoint_results_and_figures(tmp_path, capsys):
    assert main(TRAIN + ["--epochs", "2", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "test accuracy" in out
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["history"]["epoch"] == [1, 2] and 0 <= results["test_accuracy"] <= 1
    model = load_model(tmp_path / "model.npz")
    assert model.metadata["dataset"]["name"] == "digits"
    assert (tmp_path / "curves.png").stat().st_size > 0 and (tmp_path / "filters.png").stat().st_size > 0


def test_resume_continues_to_the_same_weights_as_one_run(tmp_path):
    assert main(TRAIN + ["--epochs", "3", "--out", str(tmp_path / "a")]) == 0
    assert main(TRAIN + ["--epochs", "1", "--out", str(tmp_path / "b")]) == 0
    assert main(TRAIN + ["--epochs", "3", "--out", str(tmp_path / "b"), "--resume"]) == 0
    a, b = load_model(tmp_path / "a" / "model.npz"), load_model(tmp_path / "b" / "model.npz")
    for (n, pa, _), (_, pb, _) in zip(a.named_parameters(), b.named_parameters()):
        np.testing.assert_array_equal(pa, pb, err_msg=n)


def test_resume_without_a_checkpoint_says_to_run_once_first(tmp_path, capsys):
    assert main(TRAIN + ["--epochs", "1", "--out", str(tmp_path), "--resume"]) == 2
    assert "run once without --resume" in capsys.readouterr().err


def test_a_missing_dataset_folder_is_one_line_naming_the_folder(tmp_path, capsys):
    code = main(["train", "--dataset", "mnist", "--data-dir", str(tmp_path / "nowhere"), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and "nowhere" in err and "Traceback" not in err


def test_train_on_fashion_mnist_with_a_data_dir_that_does_not_exist_stops_naming_it(tmp_path, capsys, monkeypatch):
    """Regression (issue 18.9): the run used to train on the Debian copy without a word."""
    monkeypatch.delenv("NUMPYCNN_DATA", raising=False)
    code = main(["train", "--dataset", "fashion-mnist", "--data-dir", str(tmp_path / "no" / "such" / "folder"),
                 "--epochs", "1", "--max-steps", "1", "--no-progress", "--out", str(tmp_path / "run")])
    captured = capsys.readouterr()
    assert code == 2 and "test accuracy" not in captured.out
    assert str(tmp_path / "no" / "such" / "folder") in captured.err and "--data-dir" in captured.err
    assert "does not exist" in captured.err


def test_compare_an_unknown_experiment_lists_the_known_ones(capsys):
    assert main(["compare", "no_such_experiment"]) == 2
    assert "choose one of" in capsys.readouterr().err


def test_gradcheck_command_passes_and_prints_a_table(capsys):
    assert main(["gradcheck"]) == 0
    out = capsys.readouterr().out
    for layer in ("Conv2D", "MaxPool2D", "AvgPool2D", "Dense", "ReLU", "Sigmoid", "Tanh", "Flatten"):
        assert layer in out


def test_python_dash_m_numpycnn_help_lists_the_commands():
    proc = subprocess.run([sys.executable, "-m", "numpycnn", "--help"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0
    for command in ("demo", "train", "gradcheck", "compare", "figures", "assignment"):
        assert command in proc.stdout


def test_every_command_module_in_the_commands_package_is_registered():
    """A module of the commands package that defines a command (NAME, add_arguments, run) is in COMMANDS, so
    ``python -m numpycnn NAME`` exists (issue 32: ``book`` was written and documented but not registered). The
    modules are found through the package (``__path__``), wherever the package lives."""
    found = []
    for info in pkgutil.iter_modules(commands.__path__):
        module = importlib.import_module(f"{commands.__name__}.{info.name}")
        if all(hasattr(module, attr) for attr in ("NAME", "add_arguments", "run")):
            found.append(module)
    assert {"demo", "train", "book"} <= {m.NAME for m in found}      # the discovery itself works
    missing = [m.NAME for m in found if m not in commands.COMMANDS]
    assert missing == [], f"command modules not registered in COMMANDS: {missing}"


def test_a_bad_option_value_exits_with_usage_not_a_traceback():
    proc = subprocess.run([sys.executable, "-m", "numpycnn", "train", "--epochs", "many"], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 2 and "invalid int value" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize("epochs", ["0", "-3"])
def test_non_positive_epochs_are_a_clear_error(tmp_path, capsys, epochs):
    assert main(TRAIN + ["--epochs", epochs, "--out", str(tmp_path)]) == 2
    assert "epochs" in capsys.readouterr().err


def test_train_threads_option_sets_numpycnns_threads(tmp_path):
    from numpycnn import threads
    from numpycnn.lab.cli import main
    try:
        assert main(["train", "--epochs", "1", "--threads", "1", "--no-progress", "--out", str(tmp_path)]) == 0
        assert threads.is_set() and threads.get_threads() == 1
    finally:
        threads.set_threads(None)                 # back to following BLAS, for the other tests
