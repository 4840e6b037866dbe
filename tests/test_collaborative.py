"""Technique D — collaborative training: the four ensemble rules, their backward passes, KDCL, training."""
import itertools

import numpy as np
import pytest

import numpycnn as nc
from numpycnn.lab import builder
from numpycnn.gradcheck import numerical_gradient, relative_error
from numpycnn.losses import SoftmaxCrossEntropy, softmax
from numpycnn.techniques import collaborative as D


def logits(m=3, N=7, K=5, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((N, K)) * 2 for _ in range(m)], rng.integers(0, K, N)


def ce(z, y):
    return D.per_sample_ce(z, y).mean()


def test_min_logit_has_zero_target_logit_matches_the_definition_and_beats_every_network():
    zs, y = logits()
    z_ens, _, _ = D.combine(zs, y, "min-logit")
    rows = np.arange(len(y))
    assert np.all(z_ens[rows, y] == 0)
    want = np.min([z - z[rows, y][:, None] for z in zs], axis=0)
    np.testing.assert_array_equal(z_ens, want)
    assert np.all(D.per_sample_ce(z_ens, y) <= np.min([D.per_sample_ce(z, y) for z in zs], axis=0) + 1e-12)


def test_min_loss_picks_the_per_sample_argmin_and_the_gradient_reaches_only_that_network():
    zs, y = logits()
    z_ens, back, info = D.combine(zs, y, "min-loss")
    best = np.argmin([D.per_sample_ce(z, y) for z in zs], axis=0)
    np.testing.assert_array_equal(info["chosen"], best)
    for n, i in enumerate(best):
        np.testing.assert_array_equal(z_ens[n], zs[i][n])
    grads = back(np.ones_like(z_ens))
    for i, g in enumerate(grads):
        assert np.all(g[best != i] == 0) and np.all(g[best == i] == 1)


@pytest.mark.parametrize("m", [2, 3])
def test_linear_weights_are_on_the_simplex_beat_every_network_and_match_a_brute_force_grid(m):
    zs, y = logits(m=m, N=20, seed=m)
    w = D.simplex_weights(zs, y)
    assert np.all(w >= 0) and w.sum() == pytest.approx(1, abs=1e-9)
    best_single = min(ce(z, y) for z in zs)
    value = ce(sum(wi * z for wi, z in zip(w, zs)), y)
    assert value <= best_single + 1e-12
    grid = np.linspace(0, 1, 201)
    points = [p for p in itertools.product(grid, repeat=m - 1) if sum(p) <= 1 + 1e-12]
    brute = min(ce(sum(wi * z for wi, z in zip(list(p) + [1 - sum(p)], zs)), y) for p in points)
    assert value <= brute + 1e-6


def test_kl_gradient_is_t_times_softmax_difference_and_matches_central_differences():
    zs, _ = logits(m=2)
    z_s, z_t = zs
    T = 3.0
    value, g = D.kd_loss(z_s, z_t, T)
    np.testing.assert_allclose(g, T * (softmax(z_s / T) - softmax(z_t / T)) / len(z_s), rtol=1e-12)
    z = z_s.copy()
    numeric = numerical_gradient(lambda: D.kd_loss(z, z_t, T)[0], z)
    assert relative_error(g, numeric) < 1e-7


@pytest.mark.parametrize("rule", D.RULES)
def test_total_loss_gradient_through_each_rule_matches_central_differences(rule):
    zs, y = logits(m=3, N=6, seed=4)
    weights = np.array([0.2, 0.5, 0.3])
    z_ens, back, info = D.combine(zs, y, rule, weights)
    fixed_w = info.get("weights")
    loss = SoftmaxCrossEntropy()
    loss.forward(z_ens, y)
    analytic = back(loss.backward())
    for i in range(3):
        z = zs[i]

        def second():
            if rule in ("linear", "validation"):           # weights held fixed, as in backprop
                return ce(sum(w * zz for w, zz in zip(fixed_w, zs)), y)
            return ce(D.combine(zs, y, rule, weights)[0], y)
        numeric = numerical_gradient(second, z)
        assert relative_error(analytic[i], numeric) < 1e-6, f"{rule}: network {i}"


@pytest.mark.parametrize("rule", D.RULES)
def test_identical_networks_give_that_networks_prediction_under_every_rule(rule):
    z, y = logits(m=1, seed=5)
    zs = [z[0]] * 3
    z_ens, _, _ = D.combine(zs, y, rule, np.full(3, 1 / 3))
    want = z[0] - z[0][np.arange(len(y)), y][:, None] if rule == "min-logit" else z[0]
    np.testing.assert_allclose(z_ens, want, atol=1e-9)


def test_validation_weights_grow_with_accuracy_and_sum_to_one():
    w = D.validation_weights([0.5, 0.8, 0.7])
    assert w.sum() == pytest.approx(1) and np.argmax(w) == 1 and np.argmin(w) == 0


@pytest.fixture(scope="module")
def digits():
    return nc.datasets.load_dataset("digits", seed=0, train_limit=400)


def trainer(digits, rule="min-logit", mode="ensemble-ce", **kw):
    models = [nc.zoo.small_cnn(digits.input_shape, width=4, seed=s) for s in range(3)]
    return D.CollaborativeTrainer(models, [nc.optim.Adam(m, lr=3e-3) for m in models], rule=rule, mode=mode,
                                  batch_size=32, progress=False, **kw)


@pytest.mark.parametrize("rule, mode", [(r, "ensemble-ce") for r in D.RULES] + [("min-logit", "kdcl")])
def test_training_together_lowers_every_networks_loss(digits, rule, mode):
    tr = trainer(digits, rule, mode)
    before = [m.evaluate(digits.train.x, digits.train.y)["loss"] for m in tr.models]
    tr.fit(digits.train, digits.val, epochs=2)
    after = [m.evaluate(digits.train.x, digits.train.y)["loss"] for m in tr.models]
    assert all(a < b for a, b in zip(after, before))


def test_evaluating_on_a_test_split_leaves_the_validation_weights_unchanged(digits):
    """Regression (issue 18.3): ``evaluate`` recomputed the validation rule's weights from whatever split
    it scored — the test split included."""
    tr = trainer(digits, "validation")
    tr.fit(digits.train, digits.val, epochs=1, max_steps=3)
    weights = tr.weights.copy()
    accs = [m.evaluate(digits.val.x, digits.val.y)["accuracy"] for m in tr.models]
    np.testing.assert_allclose(weights, D.validation_weights(accs))          # from the validation split
    tr.evaluate(digits.test)
    np.testing.assert_array_equal(tr.weights, weights)


def test_validation_weights_are_recomputed_once_per_epoch_from_the_validation_split(digits):
    tr = trainer(digits, "validation")
    seen = []

    class Spy(nc.Callback):
        name = "spy"

        def on_epoch_end(self, trainer, logs):
            accs = [m.evaluate(digits.val.x, digits.val.y)["accuracy"] for m in trainer.models]
            seen.append(np.allclose(trainer.weights, D.validation_weights(accs)))

    tr.callbacks.append(Spy())
    tr.fit(digits.train, digits.val, epochs=2)
    assert seen == [True, True]
    with pytest.raises(ValueError, match="validation"):
        trainer(digits, "validation").fit(digits.train, epochs=1)


@pytest.mark.parametrize("rule", D.RULES)
def test_float32_networks_get_float32_gradients_with_halves_under_every_rule(digits, rule):
    """Regression (issue 18.4): the ``halves`` split multiplied float32 gradients by a float64 scalar."""
    tr = trainer(digits, rule, data_split="halves")
    tr.train_step(digits.train.x[:32], digits.train.y[:32])
    for m in tr.models:
        assert {g.dtype for _, _, g in m.named_parameters()} == {np.dtype(np.float32)}, rule
    for opt in tr.optimizers:
        assert {a.dtype for st in opt.state.values() for a in st.values()} == {np.dtype(np.float32)}, rule


def test_checkpoint_resume_of_all_networks_is_bit_identical(digits, tmp_path):
    straight = trainer(digits, "linear", seed=3)
    straight.fit(digits.train, epochs=2)
    first = trainer(digits, "linear", seed=3)
    first.fit(digits.train, epochs=2, max_steps=5)
    first.save_checkpoint(tmp_path / "c.npz")
    resumed = trainer(digits, "linear", seed=3).load_checkpoint(tmp_path / "c.npz")
    resumed.fit(digits.train, epochs=2)
    for a, b in zip(straight.models, resumed.models):
        for (n, p, _), (_, q, _) in zip(a.named_parameters(), b.named_parameters()):
            assert np.array_equal(p, q), n


def test_bad_arguments_name_the_problem(digits):
    with pytest.raises(ValueError, match="zero networks"):
        D.combine([], np.array([0]), "linear")
    with pytest.raises(ValueError, match="rule"):
        D.combine(*logits(), rule="average")
    with pytest.raises(ValueError, match="weights"):
        D.combine(*logits(), rule="validation")
    with pytest.raises(ValueError, match="zero networks"):
        D.CollaborativeTrainer([], [])
    with pytest.raises(ValueError, match="mode"):
        trainer(digits, mode="mutual")


def test_train_flags_build_a_collaborative_trainer(digits):
    args = builder.train_parser().parse_args(["--networks", "3", "--ensemble", "linear", "--collab-mode", "kdcl",
                                              "--width", "4"])
    trainer = builder.make_trainer(args, digits)
    assert isinstance(trainer, D.CollaborativeTrainer)
    assert len(trainer.models) == 3 and trainer.rule == "linear" and trainer.mode == "kdcl"


@pytest.mark.parametrize("flags", [
    ["--model", "small_cnn", "--width", "4", "--sparsity", "0.9", "--optimizer", "momentum", "--momentum", "0.5",
     "--weight-decay", "0.001"],
    ["--model", "plain_cnn", "--depth", "3", "--width", "5", "--optimizer", "direction", "--direction-c", "0.002",
     "--decay", "0.001", "--decay-threshold", "0.05", "--decay-mode", "above", "--weight-decay", "0.01"],
], ids=["width-masks-momentum-weight-decay", "depth-technique-B"])
def test_every_network_is_built_with_the_same_options(digits, capsys, flags):
    """Regression (issue 18.1): networks 2..m were built without --width/--depth, masks, momentum, weight
    decay or technique B's options."""
    args = builder.train_parser().parse_args(flags + ["--networks", "3", "--no-progress"])
    trainer = builder.make_trainer(args, digits)
    single, single_opt = builder.build(args, digits.input_shape, digits.num_classes, data=digits)
    assert len(trainer.models) == 3
    for i, (model, opt) in enumerate(zip(trainer.models, trainer.optimizers)):
        assert model.config() == single.config(), f"network {i}: architecture"
        assert [n for n, l in model.layers.items() if l.masks] == [n for n, l in single.layers.items() if l.masks]
        assert type(opt) is type(single_opt) and opt.hyperparameters() == single_opt.hyperparameters(), f"network {i}"
        assert opt.model is model
    if "--sparsity" in flags:
        assert all(m["conv1"].masks and m["fc2"].masks for m in trainer.models)
        assert not np.array_equal(trainer.models[0]["fc1"].masks["W"], trainer.models[1]["fc1"].masks["W"])
    assert not np.array_equal(trainer.models[0]["conv1"].params["W"], trainer.models[1]["conv1"].params["W"])


@pytest.mark.parametrize("flags", [["--branch-at", "pool1"], ["--repr"], ["--loss", "hinge"]])
def test_options_that_would_apply_to_one_network_only_are_refused(digits, flags):
    args = builder.train_parser().parse_args(["--networks", "2", "--width", "4"] + flags)
    with pytest.raises(ValueError, match="--networks 2"):
        builder.make_trainer(args, digits)


@pytest.mark.parametrize("rule", D.RULES)
def test_gradcheck_of_the_total_loss_wrt_every_networks_parameters(rule):
    rng = np.random.default_rng(9)
    x, y = rng.standard_normal((5, 1, 8, 8)), rng.integers(0, 10, 5)
    models = [nc.zoo.small_cnn((1, 8, 8), width=2, seed=s, dtype=np.float64) for s in range(3)]
    weights = np.array([0.5, 0.3, 0.2])
    ce_loss = SoftmaxCrossEntropy()
    zs = [m.forward(x) for m in models]
    dzs = []
    for z in zs:
        ce_loss.forward(z, y)
        dzs.append(ce_loss.backward())
    z_ens, back, info = D.combine(zs, y, rule, weights)
    fixed = info.get("weights")
    ce_loss.forward(z_ens, y)
    for m, d, e in zip(models, dzs, back(ce_loss.backward())):
        m.backward(d + e)
    analytic = [{n: g.copy() for n, _, g in m.named_parameters()} for m in models]

    def total():
        zz = [m.forward(x) for m in models]
        first = sum(ce(z, y) for z in zz)
        if rule in ("linear", "validation"):
            return first + ce(sum(w * z for w, z in zip(fixed, zz)), y)
        return first + ce(D.combine(zz, y, rule, weights)[0], y)

    for i, m in enumerate(models):
        for name, p, _ in m.named_parameters():
            idx = [tuple(rng.integers(0, s) for s in p.shape) for _ in range(4)]
            numeric = numerical_gradient(total, p, indices=idx)
            sel = tuple(np.array(j) for j in zip(*idx))
            assert relative_error(analytic[i][name][sel], numeric[sel]) < 1e-6, f"{rule}: network {i} {name}"


@pytest.mark.parametrize("rule", D.RULES)
def test_reported_total_loss_is_the_sum_of_the_first_losses_and_the_second_loss(digits, rule):
    models = [nc.zoo.small_cnn(digits.input_shape, width=4, seed=s) for s in range(3)]
    opts = [nc.optim.SGD(m, lr=0.01) for m in models]
    trainer = D.CollaborativeTrainer(models, opts, rule=rule, progress=False)
    x, y = digits.train.x[:32], digits.train.y[:32]
    zs = [m.forward(x) for m in models]                              # before the update
    z_ens, _, _ = D.combine(zs, y, rule, trainer.weights)
    want = sum(ce(z, y) for z in zs) + ce(z_ens, y)
    total, _ = trainer.train_step(x, y)
    assert abs(total - want) <= 1e-5 * want
    assert abs(total - (sum(trainer.last["first_losses"]) + trainer.last["second_loss"])) <= 1e-6 * want


def test_dml_adds_each_peers_detached_kl_and_nothing_for_identical_networks(digits):
    x, y = digits.train.x[:16].astype(np.float64), digits.train.y[:16]
    models = [nc.zoo.small_cnn(digits.input_shape, width=4, seed=s).astype(np.float64) for s in (0, 1, 2)]
    trainer = D.CollaborativeTrainer(models, [nc.optim.SGD(m, lr=0.01) for m in models], mode="dml", progress=False)
    total, _ = trainer.compute_gradients(x, y)
    zs = [m.forward(x) for m in models]
    want = sum(D.kd_loss(zs[i], zs[j], 1.0)[0] for i in range(3) for j in range(3) if i != j) / 2
    assert trainer.last["second_loss"] == pytest.approx(want, rel=1e-12)
    same = [nc.zoo.small_cnn(digits.input_shape, width=4, seed=0).astype(np.float64) for _ in range(3)]
    twins = D.CollaborativeTrainer(same, [nc.optim.SGD(m, lr=0.01) for m in same], mode="dml", progress=False)
    twins.compute_gradients(x, y)
    assert abs(twins.last["second_loss"]) < 1e-12


def test_with_augmentation_each_network_sees_its_own_view_of_the_batch(digits):
    from numpycnn.augment import Augment
    models = [nc.zoo.small_cnn(digits.input_shape, width=4, seed=s) for s in (0, 1)]
    seen = {}
    for i, m in enumerate(models):
        m.add_forward_hook("conv1", lambda h, i=i: seen.__setitem__(i, h.copy()))
    trainer = D.CollaborativeTrainer(models, [nc.optim.SGD(m, lr=0.01) for m in models], augment=Augment(2),
                                     progress=False, seed=3)
    x, y = digits.train.x[:16], digits.train.y[:16]
    trainer.compute_gradients(x, y)
    for i, m in enumerate(models):
        np.testing.assert_array_equal(seen[i], m["conv1"].forward(trainer.augmented(x, i)))
    assert not np.array_equal(trainer.augmented(x, 0), trainer.augmented(x, 1))


def test_the_experiments_independent_arm_is_three_plain_trainers_with_no_ensemble_term(digits, monkeypatch):
    """Issue 18.2: the baseline trains each network as a plain Trainer (its own augmentation stream, no
    second loss) — the weights after training equal three hand-written Trainer runs bit for bit."""
    pytest.importorskip("threadpoolctl")
    from numpycnn.augment import parse_augment
    from numpycnn.lab.experiments import collaborative as experiment
    from numpycnn.lab.experiments.protocol import RunContext
    settings = {"model": "small_cnn", "widths": [4, 4, 4], "lr": 2e-3, "steps": 12, "evals": 2,
                "augment": "shift:2,flip", "mode": "independent"}
    ctx = RunContext(stage="tune", data=digits, train=digits.train, val=digits.val, test=None)
    # the arm's own networks: rebuild them exactly as the run does, then train them by hand
    expected = experiment.networks(settings, 0, digits)
    for i, (_, model, opt) in enumerate(expected):
        nc.Trainer(model, opt, seed=0, batch_size=64, progress=False, augment=parse_augment("shift:2,flip"),
                   augment_stream=i).fit(digits.train, epochs=10 ** 9, max_steps=12)
    built = []                                          # the networks the run trains, kept for the comparison
    original = experiment.networks
    monkeypatch.setattr(experiment, "networks", lambda *a: built.extend(original(*a)) or built)
    experiment.run(settings, 0, ctx)
    for (_, got, _), (_, want, _) in zip(built, expected):
        got_state = got.state_dict()
        for name, value in want.state_dict().items():
            np.testing.assert_array_equal(got_state[name], value, err_msg=name)
        np.testing.assert_array_equal(got.predict_logits(digits.val.x), want.predict_logits(digits.val.x))


@pytest.mark.parametrize("mode", ["dml", "kdcl"])
def test_each_networks_gradient_is_that_of_its_own_loss_with_the_teachers_detached(digits, mode):
    """DML: CE_i + Σ_{j≠i} T²KL(p_j ‖ p_i)/(m−1) with T = 1; KDCL: CE_i + λ·T²KL(p_ens ‖ p_i), λ = step/ramp
    (here 1/4). The teachers are constants: network i's gradient is that of its own loss only."""
    from numpycnn.gradcheck import numerical_gradient, relative_error
    x, y = digits.train.x[:12].astype(np.float64), digits.train.y[:12]
    models = [nc.zoo.small_cnn(digits.input_shape, width=2, seed=s).astype(np.float64) for s in (0, 1, 2)]
    tr = D.CollaborativeTrainer(models, [nc.optim.SGD(m, lr=0.01) for m in models], mode=mode, ramp_steps=4,
                                progress=False)
    tr.step = 1
    tr.compute_gradients(x, y)
    analytic = [{n: g.copy() for n, _, g in m.named_parameters()} for m in models]
    fixed = [m.forward(x) for m in models]
    z_ens = D.combine(fixed, y, tr.rule, tr.weights)[0]
    rng = np.random.default_rng(0)
    for i, m in enumerate(models):
        def own_loss(m=m, i=i):
            z = m.forward(x)
            if mode == "dml":
                return ce(z, y) + sum(D.kd_loss(z, fixed[j], 1.0)[0] for j in range(3) if j != i) / 2
            return ce(z, y) + 0.25 * D.kd_loss(z, z_ens, tr.temperature)[0]
        for name, p, _ in m.named_parameters():
            idx = [tuple(rng.integers(0, s) for s in p.shape) for _ in range(3)]
            numeric = numerical_gradient(own_loss, p, indices=idx)
            sel = tuple(np.array(j) for j in zip(*idx))
            assert relative_error(analytic[i][name][sel], numeric[sel]) < 1e-6, f"{mode}: network {i} {name}"


def test_halves_draws_the_same_halves_for_the_same_seed_and_step(digits):
    x, y = digits.train.x[:32], digits.train.y[:32]
    grads = []
    for _ in range(2):
        models = [nc.zoo.small_cnn(digits.input_shape, width=2, seed=s) for s in (0, 1)]
        tr = D.CollaborativeTrainer(models, [nc.optim.SGD(m, lr=0.01) for m in models], data_split="halves",
                                    seed=5, progress=False)
        tr.compute_gradients(x, y)
        grads.append([g.copy() for m in models for _, _, g in m.named_parameters()])
    for a, b in zip(*grads):
        np.testing.assert_array_equal(a, b)


def test_the_ensemble_prediction_is_the_weighted_sum_of_the_networks_logits(digits):
    tr = trainer(digits)
    tr.weights = np.array([0.5, 0.3, 0.2])
    x = digits.val.x[:10]
    want = sum(w * m.predict_logits(x) for w, m in zip(tr.weights, tr.models))
    np.testing.assert_allclose(tr.predict_logits(x), want, rtol=1e-12)
    report = tr.evaluate(digits.val)
    assert report["networks"] == tr.network_accuracies(digits.val) and len(report["networks"]) == 3


@pytest.mark.parametrize("rule", D.RULES)
def test_one_network_alone_predicts_like_its_own_ensemble_under_every_rule(rule):
    """(min-logit shifts each row by its target logit: the same softmax.)"""
    (z,), y = logits(m=1)
    np.testing.assert_allclose(softmax(D.combine([z], y, rule, np.array([1.0]))[0]), softmax(z), rtol=1e-12)


def test_validation_weights_of_networks_that_are_all_wrong_are_uniform():
    np.testing.assert_array_equal(D.validation_weights([0.0, 0.0, 0.0, 0.0]), np.full(4, 0.25))


def test_the_validation_rule_refuses_an_empty_validation_split(digits):
    from numpycnn.datasets import Dataset
    tr = trainer(digits, rule="validation")
    with pytest.raises(ValueError, match="^CollaborativeTrainer: rule 'validation' weighs the networks"):
        tr.fit(digits.train, Dataset(digits.val.x[:0], digits.val.y[:0]), epochs=1)


def test_combine_checks_the_labels_against_the_first_networks_logits():
    zs, y = logits(m=2)
    with pytest.raises(ValueError, match="^combine: labels y must"):
        D.combine(zs, y[:-1], "min-logit")


def test_train_flags_pass_the_temperature_and_the_loop_settings_to_the_collaborative_trainer(digits):
    args = builder.train_parser().parse_args(["--networks", "2", "--collab-mode", "kdcl", "--collab-temperature", "5",
                                              "--batch-size", "17", "--width", "4"])
    tr = builder.make_trainer(args, digits)
    assert tr.temperature == 5.0 and tr.batch_size == 17
    with pytest.raises(ValueError, match=r"^--networks 2: --repr trains one network's loop .* without --repr$"):
        builder.make_trainer(builder.train_parser().parse_args(["--networks", "2", "--repr"]), digits)


def test_collaborative_errors_say_what_to_give(digits):
    with pytest.raises(ValueError, match="^combine: zero networks — give the logits of at least one network$"):
        D.combine([], np.array([0]), "linear")
    with pytest.raises(ValueError, match=r"^CollaborativeTrainer: rule must be one of \["):
        trainer(digits, rule="average")
    with pytest.raises(ValueError, match=r"validation split; pass one to fit\(train, val\)$"):
        trainer(digits, rule="validation").fit(digits.train, None, epochs=1)
    args = builder.train_parser().parse_args(["--networks", "2", "--branch-at", "act1", "--repr"])
    with pytest.raises(ValueError, match=r"^--networks 2: --branch-at, --repr trains one network's loop .* "
                                         r"without --branch-at, --repr$"):
        builder.make_trainer(args, digits)


def test_the_linear_rule_keeps_the_weights_it_fitted_on_the_last_batch(digits):
    tr = trainer(digits, rule="linear")
    x, y = digits.train.x[:32], digits.train.y[:32]
    zs = [m.forward(x) for m in tr.models]                          # the logits this step will combine
    _, _, info = D.combine(zs, y, "linear", tr.weights)
    tr.train_step(x, y)
    np.testing.assert_allclose(tr.weights, info["weights"], rtol=1e-9)
    assert not np.allclose(tr.weights, 1 / 3)
