"""Learning-rate schedules: the factors of their formulas, the same learning rates and trajectories as
``torch.optim.lr_scheduler``, and exact continuation after a checkpoint."""
import math

import numpy as np
import pytest

import numpycnn as nc
from numpycnn import schedules as S
from numpycnn.export import to_torch
from numpycnn.optim import SGD, Adam, Momentum


def test_factors_follow_their_formulas():
    assert [S.StepDecay(3, 0.5)(t) for t in range(7)] == [1, 1, 1, 0.5, 0.5, 0.5, 0.25]
    assert [S.MultiStep([2, 5], 0.1)(t) for t in (0, 1, 2, 4, 5, 9)] == pytest.approx([1, 1, 0.1, 0.1, 0.01, 0.01])
    assert S.Exponential(0.9)(5) == pytest.approx(0.9 ** 5)
    assert S.Exponential(0.5, floor=0.2)(10) == 0.2
    c = S.Cosine(10, floor=0.1)
    assert c(0) == 1.0 and c(10) == pytest.approx(0.1) and c(5) == pytest.approx(0.55) and c(25) == c(10)
    assert S.decay_to(0.009, 1000) ** 1000 == pytest.approx(0.009)


@pytest.mark.parametrize("bad, word", [(lambda: S.StepDecay(0), "step_size"), (lambda: S.Exponential(1.5), "gamma"),
                                       (lambda: S.Cosine(10, floor=2), "floor"),
                                       (lambda: S.MultiStep([5, 2]), "increasing"),
                                       (lambda: S.make_schedule("linear"), "schedule must be one of"),
                                       (lambda: SGD(nc.zoo.mlp((1, 2, 2), 2, hidden=(3,)), schedule="cosine"),
                                        "schedule must be")])
def test_bad_schedule_arguments_name_the_argument(bad, word):
    with pytest.raises((ValueError, TypeError), match=word):
        bad()


def _torch_pair(kind):
    torch = pytest.importorskip("torch")
    sch = torch.optim.lr_scheduler
    make = {"step": (lambda o: sch.StepLR(o, step_size=4, gamma=0.5), S.StepDecay(4, 0.5)),
            "exponential": (lambda o: sch.ExponentialLR(o, gamma=0.93), S.Exponential(0.93)),
            "multistep": (lambda o: sch.MultiStepLR(o, milestones=[3, 8], gamma=0.2), S.MultiStep([3, 8], 0.2)),
            "cosine": (lambda o: sch.CosineAnnealingLR(o, T_max=12, eta_min=0.01 * 0.2), S.Cosine(12, floor=0.2))}
    return torch, make[kind]


@pytest.mark.parametrize("kind", ["step", "multistep", "exponential", "cosine"])
def test_learning_rates_and_trajectory_match_torch_lr_scheduler(kind):
    torch, (torch_sched, ours) = _torch_pair(kind)
    rng = np.random.default_rng(0)
    model = nc.zoo.mlp((1, 3, 3), 4, hidden=(5,), seed=0).astype(np.float64)
    net = to_torch(model).double()
    x = rng.standard_normal((8, 1, 3, 3))
    y = rng.integers(0, 4, 8)
    opt = Momentum(model, lr=0.01, momentum=0.9, schedule=ours)
    topt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    tsched = torch_sched(topt)
    loss = nc.SoftmaxCrossEntropy()
    for t in range(12):
        assert opt.base_lr * ours(opt.t) == pytest.approx(topt.param_groups[0]["lr"], rel=1e-12), t
        loss.forward(model.forward(x), y)
        model.backward(loss.backward())
        opt.step()
        topt.zero_grad()
        torch.nn.functional.cross_entropy(net(torch.from_numpy(x)), torch.from_numpy(y)).backward()
        topt.step()
        tsched.step()
    ours_w = model["fc1"].params["W"]
    theirs_w = net[1].weight.detach().numpy()
    assert np.abs(ours_w - theirs_w).max() < 1e-10


def test_a_resumed_run_continues_the_schedule_bit_for_bit(tmp_path):
    data = nc.datasets.load_dataset("digits", seed=0, train_limit=300)

    def trainer(path):
        model = nc.zoo.small_cnn(data.input_shape, width=4, seed=0)
        opt = Adam(model, lr=3e-3, schedule=S.Cosine(20))
        return nc.Trainer(model, opt, seed=0, batch_size=32, progress=False, checkpoint_path=str(path))

    straight = trainer(tmp_path / "a.npz")
    straight.fit(data.train, epochs=3, max_steps=20)
    first = trainer(tmp_path / "b.npz")
    first.fit(data.train, epochs=1)
    again = trainer(tmp_path / "b.npz")
    again.optimizer.schedule = None                      # restored from the checkpoint
    again.load_checkpoint(str(tmp_path / "b.npz"))
    assert isinstance(again.optimizer.schedule, S.Cosine) and again.optimizer.schedule.total_steps == 20
    again.fit(data.train, epochs=3, max_steps=20)
    for (n, p, _), (_, q, _) in zip(straight.model.named_parameters(), again.model.named_parameters()):
        np.testing.assert_array_equal(p, q, err_msg=n)
    assert again.optimizer.lr == straight.optimizer.lr == pytest.approx(3e-3 * S.Cosine(20)(19))


def test_without_a_schedule_the_learning_rate_never_changes():
    model = nc.zoo.mlp((1, 2, 2), 2, hidden=(3,))
    opt = SGD(model, lr=0.1)
    for _ in range(3):
        opt.step()
    assert opt.lr == 0.1 and math.isclose(opt.base_lr, 0.1)


@pytest.mark.parametrize("ratio, steps, word", [(0, 10, "ratio"), (-0.5, 10, "ratio"), (1.5, 10, "ratio"),
                                                (float("nan"), 10, "ratio"), (0.5, 0, "steps"),
                                                (0.5, -3, "steps"), (0.5, 2.5, "steps")])
def test_decay_to_rejects_a_ratio_outside_zero_one_or_a_step_count_below_one(ratio, steps, word):
    with pytest.raises((ValueError, TypeError), match=rf"^decay_to: {word} must be"):
        S.decay_to(ratio, steps)


def test_decay_to_accepts_the_closed_end_ratio_one_and_a_single_step():
    assert S.decay_to(1, 10) == 1.0
    assert S.decay_to(0.25, 1) == 0.25
    assert S.decay_to(0.25, 2) == pytest.approx(0.5, rel=1e-15)


@pytest.mark.parametrize("schedule", [S.Constant(), S.StepDecay(4, 0.5), S.MultiStep([3, 8], 0.2),
                                      S.Exponential(0.93, floor=0.1), S.Cosine(12, floor=0.2)])
def test_a_schedule_rebuilt_from_its_config_gives_the_same_factors_and_leaves_the_config_alone(schedule):
    config = {"name": schedule.name, **schedule.config()}
    kept = dict(config)
    rebuilt = S.schedule_from_config(config)
    assert config == kept
    assert type(rebuilt) is type(schedule)
    assert [rebuilt(t) for t in range(20)] == [schedule(t) for t in range(20)]
    assert repr(eval(repr(schedule), vars(S))) == repr(schedule)        # the repr is the constructor call


def test_a_wrong_schedule_argument_names_the_schedule():
    with pytest.raises(TypeError, match="schedule 'cosine'"):
        S.make_schedule("cosine", steps=10)
