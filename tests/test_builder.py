"""The one builder: train options -> model and optimizer, the same for the CLI, technique D and the experiments."""
import numpy as np
import pytest

import numpycnn as nc
from numpycnn.lab import builder
from numpycnn.layers import LogSoftmax
from numpycnn.techniques import erdos_renyi
from numpycnn.techniques.collaborative import CollaborativeTrainer


@pytest.fixture(scope="module")
def digits():
    return nc.datasets.load_dataset("digits", seed=0, train_limit=300)


def test_options_are_the_command_lines_defaults_plus_the_overrides():
    assert vars(builder.options()) == vars(builder.train_parser().parse_args([]))
    opts = builder.options(batch_size=32, sparsity=0.9, optimizer="sgd")
    want = builder.train_parser().parse_args(["--batch-size", "32", "--sparsity", "0.9", "--optimizer", "sgd"])
    assert vars(opts) == vars(want)


def test_options_refuse_an_unknown_name_suggesting_the_close_one():
    with pytest.raises(ValueError, match=r"unknown train option 'batchsize'; did you mean 'batch_size'"):
        builder.options(batchsize=32)


def test_options_refuse_a_value_outside_the_choices_naming_them():
    with pytest.raises(ValueError, match=r"optimizer must be one of .*'adam'.*; got 'adagrad'"):
        builder.options(optimizer="adagrad")


def test_build_applies_width_activation_seed_and_the_optimizers_options():
    opts = builder.options(model="small_cnn", width=4, activation="tanh", optimizer="nesterov", lr=0.05, momentum=0.8,
                           weight_decay=1e-3, seed=3)
    model, opt = builder.build(opts, (1, 8, 8), 10)
    assert model["conv1"].out_channels == 4 and type(model["act1"]).__name__ == "Tanh"
    np.testing.assert_array_equal(model["conv1"].params["W"],
                                  nc.zoo.small_cnn((1, 8, 8), width=4, activation_name="tanh", seed=3)["conv1"].params["W"])
    assert (type(opt).__name__, opt.lr, opt.momentum, opt.nesterov, opt.weight_decay) == ("Momentum", 0.05, 0.8, True,
                                                                                           1e-3)
    assert opt.model is model
    other, _ = builder.build(opts, (1, 8, 8), 10, seed=4)
    assert not np.array_equal(other["conv1"].params["W"], model["conv1"].params["W"])


def test_build_appends_log_softmax_for_nll_and_records_the_datas_preprocessing(digits):
    model, _ = builder.build(builder.options(loss="nll", width=4), digits.input_shape, digits.num_classes, data=digits)
    assert isinstance(list(model.layers.values())[-1], LogSoftmax)
    assert model.metadata["dataset"] == digits.metadata()


def test_build_masks_the_model_before_its_optimizer_counts_the_parameters(capsys):
    opts = builder.options(width=4, sparsity=0.8, optimizer="direction")
    model, opt = builder.build(opts, (1, 8, 8), 10)
    active = sum(int(np.count_nonzero(l.masks["W"])) for l in model.layers.values() if "W" in l.masks)
    unmasked = sum(p.size for n, p, _ in model.named_parameters() if n.endswith(".b"))
    assert opt.N == active + unmasked < model.num_params
    assert "σ =" in capsys.readouterr().out


def test_init_gain_scales_every_conv_layers_initial_weights_and_nothing_else():
    kw = dict(model="plain_cnn", depth=3, width=4, activation="sigmoid", pool_every=1, seed=2)
    plain, _ = builder.build(builder.options(**kw), (1, 8, 8), 10)
    scaled, _ = builder.build(builder.options(init_gain=2.0, **kw), (1, 8, 8), 10)
    for name in plain.conv_layers():
        np.testing.assert_array_equal(scaled[name].params["W"], plain[name].params["W"] * np.float32(2.0))
        np.testing.assert_array_equal(scaled[name].params["b"], plain[name].params["b"])
    np.testing.assert_array_equal(scaled["fc"].params["W"], plain["fc"].params["W"])
    assert scaled[plain.conv_layers()[0]].params["W"].dtype == np.float32


def test_pool_every_and_hidden_reach_the_zoo_model():
    deep, _ = builder.build(builder.options(model="plain_cnn", depth=3, width=4, pool_every=1), (1, 8, 8), 10)
    assert [n for n in deep.layers if n.startswith("pool")] == ["pool1", "pool2"]
    want = nc.zoo.plain_cnn((1, 8, 8), depth=3, width=4, activation_name="relu", pool_every=1, seed=0)
    np.testing.assert_array_equal(deep["conv3"].params["W"], want["conv3"].params["W"])
    wide, _ = builder.build(builder.options(model="mlp", hidden=(20, 10)), (1, 8, 8), 10)
    assert [wide[n].params["W"].shape for n in ("fc1", "fc2", "fc3")] == [(20, 64), (10, 20), (10, 10)]  # (out, in)
    assert builder.train_parser().parse_args(["--hidden", "300,100"]).hidden == (300, 100)


@pytest.mark.parametrize("text", ["300,x", "", "0,5"])
def test_hidden_refuses_anything_but_positive_widths(text, capsys):
    with pytest.raises(SystemExit):
        builder.train_parser().parse_args(["--hidden", text])
    assert "--hidden" in capsys.readouterr().err


def test_mask_stream_draws_the_masks_from_the_seed_and_the_stream():
    opts = builder.options(model="mlp", sparsity=0.8, mask_stream=7, seed=3, quiet=True)
    model, _ = builder.build(opts, (1, 8, 8), 10)
    want = nc.zoo.mlp((1, 8, 8), seed=3)
    masks, _, _ = erdos_renyi.sparsify(want, 0.8, "er", np.random.default_rng([3, 7]))
    for name, mask in masks.items():
        np.testing.assert_array_equal(model[name].masks["W"], mask, err_msg=name)
    own, _ = builder.build(builder.options(model="mlp", sparsity=0.8, seed=3, quiet=True), (1, 8, 8), 10)
    assert not np.array_equal(own["fc1"].masks["W"], model["fc1"].masks["W"])
    with pytest.raises(ValueError, match="--mask-stream draws one mask; --mask-candidates"):
        builder.build(builder.options(model="mlp", sparsity=0.8, mask_stream=7, mask_candidates=2), (1, 8, 8), 10,
                      data=nc.datasets.load_dataset("digits", seed=0, train_limit=100))
    with pytest.raises(ValueError, match="--mask-stream must be an integer >= 0; got -1"):
        builder.build(builder.options(model="mlp", sparsity=0.8, mask_stream=-1), (1, 8, 8), 10)


def test_quiet_silences_the_techniques_reports(capsys, digits):
    loud = dict(model="plain_cnn", depth=2, width=4, sparsity=0.5, branch_auto=True, repr=True, max_steps=5)
    builder.make_trainer(builder.options(**loud), digits)
    assert "σ =" in capsys.readouterr().out
    builder.make_trainer(builder.options(quiet=True, **loud), digits)
    assert capsys.readouterr().out == ""


def test_trainer_for_takes_the_loop_options_and_appends_an_experiments_callbacks(digits):
    opts = builder.options(width=4, seed=7, batch_size=16, augment="flip", no_progress=True, loss="hinge", repr=True)
    model, optimizer = builder.build(opts, digits.input_shape, digits.num_classes, data=digits)
    own = nc.callbacks.Callback()
    trainer = builder.trainer_for(opts, model, optimizer, digits, extra_callbacks=[own], augment_stream=2)
    assert (trainer.seed, trainer.batch_size, trainer.progress, trainer.augment_stream) == (7, 16, False, 2)
    assert type(trainer.loss).__name__ == "MulticlassHinge" and trainer.augment.flip
    assert [type(c).__name__ for c in trainer.callbacks][-2:] == ["RePr", "Callback"] and trainer.callbacks[-1] is own


def test_preparation_that_needs_data_says_so_without_it():
    with pytest.raises(ValueError, match="data="):
        builder.build(builder.options(sparsity=0.5, sparse_mode="snip"), (1, 8, 8), 10)


def test_make_trainer_builds_one_network_or_technique_ds_m(digits):
    plain = builder.make_trainer(builder.options(width=4, no_progress=True, loss="hinge"), digits)
    assert type(plain) is nc.Trainer and type(plain.loss).__name__ == "MulticlassHinge" and not plain.progress
    collab = builder.make_trainer(builder.options(width=4, networks=2, seed=5), digits)
    assert isinstance(collab, CollaborativeTrainer) and len(collab.models) == 2
    first, _ = builder.build(builder.options(width=4, seed=5), digits.input_shape, digits.num_classes)
    np.testing.assert_array_equal(collab.models[0]["conv1"].params["W"], first["conv1"].params["W"])


@pytest.mark.parametrize("name, extra, cls", [("cosine", {"max_steps": 100}, "Cosine"),
                                              ("step", {"schedule_step_size": 10}, "StepDecay"),
                                              ("exponential", {"schedule_gamma": 0.99}, "Exponential"),
                                              ("constant", {}, "Constant")])
def test_schedule_option_attaches_the_schedule_to_every_optimizer(name, extra, cls):
    for optimizer in ("sgd", "adam", "direction"):
        opts = builder.options(model="mlp", optimizer=optimizer, schedule=name, **extra)
        _, opt = builder.build(opts, (1, 8, 8), 10)
        assert type(opt.schedule).__name__ == cls


def test_schedule_options_missing_their_argument_say_which():
    with pytest.raises(ValueError, match="--schedule-step-size"):
        builder.build(builder.options(model="mlp", schedule="step"), (1, 8, 8), 10)
    with pytest.raises(ValueError, match="--schedule-gamma"):
        builder.build(builder.options(model="mlp", schedule="exponential"), (1, 8, 8), 10)
    with pytest.raises(ValueError, match="--max-steps"):
        builder.build(builder.options(model="mlp", schedule="cosine"), (1, 8, 8), 10)


def test_train_command_runs_with_a_cosine_schedule(tmp_path):
    from numpycnn.lab.cli import main
    assert main(["train", "--epochs", "1", "--schedule", "cosine", "--lr-floor", "0.1", "--no-progress",
                 "--out", str(tmp_path)]) == 0


#: every technique flag of ``train`` and its default: the text's value where the spec gives one
TECHNIQUE_DEFAULTS = {
    "branch_at": None, "branch_auto": False, "branch_ratio": 0.1, "branch_layers": "", "branch_weight": 1.0,
    "branch_coefficient": 0.01, "branch_schedule": "constant", "branch_loss": "cross_entropy",
    "alpha0": None, "direction_c": 0.0014, "decay": 0.0003, "decay_threshold": 0.0, "decay_mode": "initial",
    "sparsity": None, "sparse_mode": "er", "sparse_sampling": "bernoulli", "dense_layers": "", "mask_candidates": 1,
    "mask_steps": 100, "mask_stream": None, "networks": 1, "ensemble": "min-logit", "collab_mode": "ensemble-ce",
    "collab_temperature": 3.0,
    "repr": False, "repr_s1": 200, "repr_s2": 100, "repr_n": 3, "repr_p": 0.3, "repr_ranking": "per-layer",
    "repr_exclude_first": False, "repr_selection": "orthogonality", "repr_reintroduce": "keep"}


def test_every_technique_flag_has_its_documented_default():
    args = vars(builder.train_parser().parse_args([]))
    assert {k: args[k] for k in TECHNIQUE_DEFAULTS} == TECHNIQUE_DEFAULTS


@pytest.mark.parametrize("flag", ["--branch-schedule", "--branch-loss", "--decay-mode", "--sparse-mode",
                                  "--sparse-sampling", "--ensemble", "--collab-mode", "--repr-ranking",
                                  "--repr-selection", "--repr-reintroduce"])
def test_every_technique_choice_flag_refuses_an_unknown_value_listing_the_choices(flag, capsys):
    with pytest.raises(SystemExit):
        builder.train_parser().parse_args([flag, "no-such-choice"])
    err = capsys.readouterr().err
    assert f"{flag}: invalid choice" in err and "no-such-choice" in err


@pytest.mark.parametrize("flag, value", [("--repr-s2", "1.5"), ("--networks", "two"), ("--mask-steps", "x"),
                                         ("--branch-ratio", "high"), ("--decay", "fast")])
def test_numeric_technique_flags_refuse_text(flag, value):
    with pytest.raises(SystemExit):
        builder.train_parser().parse_args([flag, value])


def test_optimizer_adamw_builds_adamw_with_its_own_weight_decay_unless_one_is_given():
    model, opt = builder.build(builder.options(optimizer="adamw", width=4), (1, 8, 8), 10)
    assert type(opt).__name__ == "AdamW" and opt.weight_decay == 0.01 and opt.decoupled_weight_decay
    _, opt = builder.build(builder.options(optimizer="adamw", weight_decay=0.1, lr=0.003, width=4), (1, 8, 8), 10)
    assert (opt.weight_decay, opt.lr) == (0.1, 0.003)
    _, opt = builder.build(builder.options(optimizer="adam", width=4), (1, 8, 8), 10)
    assert opt.weight_decay == 0.0
