"""Technique A — branch supervision: third == first + second, the chain rule at the fork, and the rest."""

import numpy as np
import pytest

import numpycnn as nc
from numpycnn.lab import builder
from numpycnn.gradcheck import numerical_gradient, relative_error
from numpycnn.losses import SoftmaxCrossEntropy
from numpycnn.techniques import branch_supervision as A


def trunk(seed=0, act="sigmoid"):
    return nc.zoo.plain_cnn((1, 8, 8), depth=4, width=4, activation_name=act, seed=seed, dtype=np.float64)


def batch(N=6, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((N, 1, 8, 8)), rng.integers(0, 10, N)


def step(model, branch, x, y):
    """One forward/backward of the main loss with the branch hooked in; returns L_main."""
    loss = SoftmaxCrossEntropy()
    branch.set_labels(y)
    L = loss.forward(model.forward(x), y)
    model.backward(loss.backward())
    return L


def test_third_gradient_is_first_plus_second_bitwise():
    model, (x, y) = trunk(), batch()
    branch = A.Branch(model, "act2", hidden=(8,), weight=0.7)
    step(model, branch, x, y)
    assert np.array_equal(branch.third, branch.first + branch.second)
    assert np.abs(branch.second).max() > 0 and np.abs(branch.first).max() > 0


def test_third_gradient_is_the_gradient_of_main_plus_lambda_branch_loss_at_the_branch_point():
    model, (x, y) = trunk(), batch()
    lam = 0.6
    branch = A.Branch(model, "act2", hidden=(8,), weight=lam)
    step(model, branch, x, y)
    G3 = branch.third
    names = list(model.layers)
    k = names.index("act2")
    h = x                                   # h_k: run the trunk's layers up to the branch point
    for n in names[:k + 1]:
        h = model[n].forward(h)
    loss = SoftmaxCrossEntropy()

    def total():
        z = h
        for n in names[k + 1:]:
            z = model[n].forward(z)
        return loss.forward(z, y) + lam * loss.forward(branch.net.forward(h, check=False), y)

    numeric = numerical_gradient(total, h)
    assert relative_error(G3, numeric) < 1e-7


def test_whole_model_with_a_branch_passes_gradcheck_for_trunk_and_branch_parameters():
    model, (x, y) = trunk(act="tanh"), batch(N=4)
    branch = A.Branch(model, "act3", hidden=(6,), activation="tanh", weight=1.0)
    loss = SoftmaxCrossEntropy()
    step(model, branch, x, y)
    analytic = {n: g.copy() for n, _, g in model.named_parameters()}
    analytic.update({f"branch.{n}": g.copy() for n, _, g in branch.net.named_parameters()})

    def total():
        L = loss.forward(model.forward(x), y)
        return L + loss.forward(branch.net.forward(branch.h, check=False), y)

    params = dict((n, p) for n, p, _ in model.named_parameters())
    params.update({f"branch.{n}": p for n, p, _ in branch.net.named_parameters()})
    rng = np.random.default_rng(0)
    for name, p in params.items():
        idx = [tuple(rng.integers(0, s) for s in p.shape) for _ in range(6)]
        numeric = numerical_gradient(total, p, indices=idx)
        sel = tuple(np.array(i) for i in zip(*idx))
        assert relative_error(analytic[name][sel], numeric[sel]) < 1e-7, name


def test_lambda_zero_gives_trunk_gradients_bitwise_equal_to_the_plain_network():
    (x, y) = batch()
    plain, branched = trunk(seed=3), trunk(seed=3)
    loss = SoftmaxCrossEntropy()
    loss.forward(plain.forward(x), y)
    plain.backward(loss.backward())
    branch = A.Branch(branched, "act2", weight=0.0)
    step(branched, branch, x, y)
    for (n, _, g1), (_, _, g2) in zip(plain.named_parameters(), branched.named_parameters()):
        assert np.array_equal(g1, g2), n


def test_the_main_loss_gives_the_branch_parameters_zero_gradient():
    model, (x, y) = trunk(), batch()
    branch = A.Branch(model, "act2")
    loss = SoftmaxCrossEntropy()
    model.forward(x)
    for name, p, _ in branch.net.named_parameters():
        numeric = numerical_gradient(lambda: loss.forward(model.forward(x), y), p)
        assert np.all(numeric == 0), name


def test_branch_step_has_length_coefficient_times_gradient_norm_against_the_gradient():
    model, (x, y) = trunk(), batch()
    branch = A.Branch(model, "act2", hidden=(5,), coefficient=0.03)
    step(model, branch, x, y)
    before = {n: (p.copy(), g.copy()) for n, p, g in branch.net.named_parameters()}
    lengths = branch.update()
    for (name, p, _), length in zip(branch.net.named_parameters(), lengths):
        p0, g = before[name]
        delta = p - p0
        assert np.linalg.norm(delta) == pytest.approx(0.03 * np.linalg.norm(g), rel=1e-12)
        assert length == pytest.approx(0.03 * np.linalg.norm(g), rel=1e-12)
        cosine = np.sum(delta * g) / (np.linalg.norm(delta) * np.linalg.norm(g))
        assert cosine == pytest.approx(-1, abs=1e-12)


def test_adding_a_branch_leaves_predict_unchanged():
    model, (x, _) = trunk(), batch()
    before = model.predict_logits(x)
    A.Branch(model, "act2", hidden=(8, 8))
    np.testing.assert_array_equal(model.predict_logits(x), before)


def test_automatic_placement_picks_the_first_vanished_layer_from_the_output():
    profile = {"conv1": 1e-6, "conv2": 5e-6, "conv3": 2e-3, "conv4": 8e-3, "conv5": 1e-2}
    assert A.choose_branch_point(profile, ratio=0.1) == "conv2"
    assert A.choose_branch_point(profile, ratio=0.5) == "conv3"
    assert A.choose_branch_point({"conv1": 1.0, "conv2": 1.0}, ratio=0.1) is None
    model = nc.zoo.plain_cnn((1, 8, 8), depth=4, width=4)
    assert A.branch_point_after(model, "conv2") in ("act2", "pool1")
    assert A.branch_point_after(model, "conv4") != "flatten"


def test_measured_gradient_profile_vanishes_towards_the_input_in_a_deep_sigmoid_net_and_leaves_weights_alone():
    data = nc.datasets.load_dataset("digits", seed=0, train_limit=200)
    model = nc.zoo.plain_cnn(data.input_shape, depth=6, width=8, activation_name="sigmoid", seed=0)
    before = {n: p.copy() for n, p, _ in model.named_parameters()}
    profile = A.measure_gradient_profile(model, data.train.x, data.train.y, batches=2)
    assert list(profile) == model.conv_layers()
    assert profile["conv1"] < 0.1 * profile["conv6"]
    assert A.choose_branch_point(profile, 0.1) is not None
    assert all(np.array_equal(before[n], p) for n, p, _ in model.named_parameters())


def test_training_with_a_branch_lifts_the_gradient_below_the_branch_point():
    data = nc.datasets.load_dataset("digits", seed=0, train_limit=256)
    norms = {}
    for use_branch in (False, True):
        model = nc.zoo.plain_cnn(data.input_shape, depth=6, width=8, activation_name="sigmoid", seed=0)
        flow = A.GradientFlow()
        callbacks = [flow]
        if use_branch:
            callbacks.insert(0, A.BranchSupervision([A.Branch(model, "act2")]))
        nc.Trainer(model, nc.optim.SGD(model, lr=0.1), callbacks=callbacks, batch_size=32, progress=False).fit(
            data.train, epochs=1, max_steps=4)
        norms[use_branch] = np.mean(flow.norms["conv1"])
    assert norms[True] > 2 * norms[False]


def test_evaluate_branches_reports_main_and_branch_accuracy_and_main_equals_predict():
    model, (x, y) = trunk(), batch(N=20)
    branch = A.Branch(model, "act2")
    acc = A.evaluate_branches(model, [branch], x, y, batch_size=7)
    assert set(acc) == {"main", "branch@act2"}
    assert acc["main"] == np.mean(model.predict(x) == y)


def test_checkpoint_resume_restores_the_branch_bit_for_bit(tmp_path):
    data = nc.datasets.load_dataset("digits", seed=0, train_limit=300)

    def trainer():
        model = nc.zoo.plain_cnn(data.input_shape, depth=3, width=4, seed=1)
        cb = A.BranchSupervision([A.Branch(model, "act1", hidden=(8,), seed=2)], "linear", total_steps=20)
        return nc.Trainer(model, nc.optim.Adam(model, lr=3e-3), callbacks=[cb], seed=1, batch_size=32,
                          progress=False)
    straight = trainer()
    straight.fit(data.train, epochs=2)
    first = trainer()
    first.fit(data.train, epochs=2, max_steps=5)
    first.save_checkpoint(tmp_path / "c.npz")
    resumed = trainer().load_checkpoint(tmp_path / "c.npz")
    resumed.fit(data.train, epochs=2)
    for (n, a, _), (_, b, _) in zip(straight.model.named_parameters(), resumed.model.named_parameters()):
        assert np.array_equal(a, b), n
    sb, rb = straight.callbacks[0].branches[0].net, resumed.callbacks[0].branches[0].net
    for (n, a, _), (_, b, _) in zip(sb.named_parameters(), rb.named_parameters()):
        assert np.array_equal(a, b), f"branch {n}"


def test_linear_schedule_decays_lambda_to_zero():
    assert A.lambda_at("linear", 1.0, 0, 100) == 1.0
    assert A.lambda_at("linear", 1.0, 50, 100) == 0.5
    assert A.lambda_at("linear", 1.0, 150, 100) == 0.0
    assert A.lambda_at("constant", 0.3, 150, 100) == 0.3


@pytest.mark.parametrize("kwargs, word", [
    ({"at": "nope"}, "no layer"), ({"at": "fc"}, "inner layer"), ({"at": "act1", "weight": -1}, "weight"),
    ({"at": "act1", "coefficient": 0}, "coefficient"), ({"at": "act1", "hidden": (0,)}, "hidden"),
])
def test_bad_branch_arguments_name_the_argument(kwargs, word):
    with pytest.raises((ValueError, TypeError), match=word):
        A.Branch(trunk(), **kwargs)


def test_backward_without_labels_says_what_to_do():
    model, (x, y) = trunk(), batch()
    A.Branch(model, "act2")
    loss = SoftmaxCrossEntropy()
    loss.forward(model.forward(x), y)
    with pytest.raises(RuntimeError, match="set_labels"):
        model.backward(loss.backward())


def test_train_flags_attach_branches():
    args = builder.train_parser().parse_args(["--model", "plain_cnn", "--depth", "4", "--width", "4", "--activation",
                                              "sigmoid", "--branch-at", "act2", "--branch-layers", "16,8",
                                              "--branch-weight", "0.5"])
    trainer = builder.make_trainer(args, nc.datasets.load_dataset("digits", train_limit=200))
    cbs = [c for c in trainer.callbacks if isinstance(c, A.BranchSupervision)]
    assert len(cbs) == 1 and cbs[0].branches[0].at == "act2" and cbs[0].branches[0].hidden == (16, 8)
    assert cbs[0].branches[0].weight == 0.5


def test_third_gradient_and_input_gradient_match_torch_autograd_in_float64():
    torch = pytest.importorskip("torch")
    from numpycnn.export import to_torch
    model, (x, y) = trunk(), batch()
    lam = 0.6
    branch = A.Branch(model, "act2", hidden=(8,), weight=lam)
    loss = SoftmaxCrossEntropy()
    branch.set_labels(y)
    loss.forward(model.forward(x), y)
    dx = model.backward(loss.backward())
    k = list(model.layers).index("act2")
    T, B = to_torch(model), to_torch(branch.net)
    xt = torch.tensor(x, requires_grad=True)
    h = T[:k + 1](xt)
    h.retain_grad()
    yt = torch.tensor(y)
    ce = torch.nn.functional.cross_entropy
    total = ce(T[k + 1:](h), yt) + lam * ce(B(h), yt)
    total.backward()
    assert relative_error(branch.third, h.grad.numpy()) < 1e-10
    assert relative_error(dx, xt.grad.numpy()) < 1e-10


@pytest.mark.parametrize("loss_name", ["nll", "hinge", "squared_hinge"])
def test_branch_heads_take_any_loss_and_third_is_still_the_gradient_of_the_sum(loss_name):
    from numpycnn.losses import get_loss
    model, (x, y) = trunk(), batch()
    branch = A.Branch(model, "act2", hidden=(6,), weight=0.8, loss=loss_name)
    step(model, branch, x, y)
    assert np.array_equal(branch.third, branch.first + branch.second)
    names = list(model.layers)
    k = names.index("act2")
    h = x
    for n in names[:k + 1]:
        h = model[n].forward(h)
    main_loss, head = SoftmaxCrossEntropy(), get_loss(loss_name)

    def total():
        z = h
        for n in names[k + 1:]:
            z = model[n].forward(z)
        return main_loss.forward(z, y) + 0.8 * head.forward(branch.net.forward(h, check=False), y)

    assert relative_error(branch.third, numerical_gradient(total, h)) < 1e-6


def test_the_branch_point_after_a_conv_is_the_last_layer_before_the_next_conv_or_the_flatten():
    from numpycnn.layers import Conv2D, Dense, Flatten, ReLU
    model = nc.zoo.plain_cnn((1, 8, 8), depth=3, width=2, pool_every=100)   # conv1 act1 conv2 act2 conv3 act3 ...
    assert [A.branch_point_after(model, c) for c in ("conv1", "conv2", "conv3")] == ["act1", "act2", "act3"]
    back_to_back = nc.Sequential([("conv1", Conv2D(1, 2, 3, pad=1)), ("conv2", Conv2D(2, 2, 3, pad=1)),
                                  ("act2", ReLU()), ("flatten", Flatten()), ("fc", Dense(128, 10))], (1, 8, 8))
    assert A.branch_point_after(back_to_back, "conv1") == "conv1"       # conv2 reads conv1's output directly
    assert A.branch_point_after(back_to_back, "conv2") == "act2"


def test_choose_branch_point_scans_from_the_output_and_never_returns_the_top_layer():
    profile = {"conv1": 0.001, "conv2": 0.05, "conv3": 0.5, "conv4": 1.0}
    assert A.choose_branch_point(profile, 0.1) == "conv2"      # the first below 0.1 x top, scanning down
    assert A.choose_branch_point(profile, 0.6) == "conv3"
    assert A.choose_branch_point({"conv1": 0.01, "conv2": 1.0}, 0.1) == "conv1"
    assert A.choose_branch_point({"conv1": 1e-9}, 0.5) is None   # only the top layer: nothing below it
    with pytest.raises(ValueError, match="^choose_branch_point: the profile is empty"):
        A.choose_branch_point({}, 0.1)
    with pytest.raises(ValueError, match="^choose_branch_point: ratio must be"):
        A.choose_branch_point(profile, 0)


def test_lambda_falls_linearly_to_zero_at_the_last_step_and_stays_there():
    assert [A.lambda_at("linear", 0.8, t, 4) for t in range(6)] == pytest.approx([0.8, 0.6, 0.4, 0.2, 0.0, 0.0])
    assert A.lambda_at("linear", 0.8, 0, 1) == 0.8 and A.lambda_at("linear", 0.8, 1, 1) == 0.0
    assert A.lambda_at("constant", 0.8, 7, 4) == 0.8


def test_branch_auto_flags_measure_the_profile_and_attach_seeded_branches_with_the_chosen_loss(capsys):
    args = builder.train_parser().parse_args(["--model", "plain_cnn", "--depth", "4", "--width", "4", "--activation",
                                              "sigmoid", "--branch-auto", "--branch-ratio", "1.0", "--branch-at", "act1",
                                              "--branch-loss", "hinge", "--seed", "3"])
    data = nc.datasets.load_dataset("digits", train_limit=200)
    trainer = builder.make_trainer(args, data)
    model = trainer.model
    bare = builder.make_trainer(builder.train_parser().parse_args(["--model", "plain_cnn", "--depth", "4", "--width",
                                                                   "4", "--activation", "sigmoid", "--seed", "3"]), data)
    profile = A.measure_gradient_profile(bare.model, data.train.x[:320], data.train.y[:320])   # the same start
    auto = A.branch_point_after(model, A.choose_branch_point(profile, 1.0))
    (cb,) = [c for c in trainer.callbacks if isinstance(c, A.BranchSupervision)]
    assert [b.at for b in cb.branches] == ["act1", auto]
    assert "branch attached at" in capsys.readouterr().out
    assert all(type(b.loss).__name__ == "MulticlassHinge" for b in cb.branches)
    for i, b in enumerate(cb.branches):                      # branch i is seeded with --seed + i
        twin = A.Branch(nc.zoo.plain_cnn((1, 8, 8), depth=4, width=4, seed=0), b.at, seed=3 + i, loss="hinge")
        for (n1, p1, _), (n2, p2, _) in zip(b.net.named_parameters(), twin.net.named_parameters()):
            np.testing.assert_array_equal(p1, p2.astype(p1.dtype), err_msg=f"branch {i} {n1}")
    with pytest.raises(ValueError, match="^--branch-auto measures the gradient profile"):
        A.TECHNIQUE.extra_callbacks(args, model, data=None)


def test_the_linear_schedule_flag_ends_lambda_at_the_last_step_of_the_run():
    data = nc.datasets.load_dataset("digits", train_limit=200)
    base = ["--model", "plain_cnn", "--depth", "4", "--width", "4", "--branch-at", "act2", "--branch-schedule", "linear"]
    args = builder.train_parser().parse_args(base + ["--epochs", "3", "--batch-size", "50"])
    (cb,) = [c for c in builder.make_trainer(args, data).callbacks if isinstance(c, A.BranchSupervision)]
    assert cb.schedule == "linear" and cb.total_steps == 3 * -(-len(data.train) // 50)
    args = builder.train_parser().parse_args(base + ["--max-steps", "17"])
    (cb,) = [c for c in builder.make_trainer(args, data).callbacks if isinstance(c, A.BranchSupervision)]
    assert cb.total_steps == 17
    with pytest.raises(ValueError, match="^--branch-schedule linear needs --max-steps or data="):
        A.TECHNIQUE.extra_callbacks(builder.train_parser().parse_args(base), nc.zoo.plain_cnn((1, 8, 8), depth=4, width=4))


def test_branch_supervision_errors_say_what_to_give():
    with pytest.raises(ValueError, match="^BranchSupervision: give at least one Branch$"):
        A.BranchSupervision([])
    branch = A.Branch(trunk(), "act2")
    with pytest.raises(ValueError, match=r"^BranchSupervision: schedule 'linear' needs total_steps \(the step where λ"):
        A.BranchSupervision([branch], "linear")
    with pytest.raises(ValueError, match="^measure_gradient_profile: x is empty$"):
        A.measure_gradient_profile(trunk(), np.zeros((0, 1, 8, 8)), np.zeros(0, dtype=int))


@pytest.mark.parametrize("loss", ["cross_entropy", "nll", "hinge", "squared_hinge"])
def test_every_branch_loss_name_is_accepted_by_the_flag(loss):
    assert builder.train_parser().parse_args(["--branch-loss", loss]).branch_loss == loss
