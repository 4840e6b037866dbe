"""Technique B — the gradient-direction optimizer: the exact checks of docs/claims.md, section B.

Every update is ``x_{t+1} = x_t − α_t·g/‖g‖`` with one global norm, ``α0 = c·√N`` and
``α_{t+1} = α_t(1 − β)``. Gradient-level checks run in float64.
"""
import math

import numpy as np
import pytest

import numpycnn as nc
from numpycnn.lab import builder
from numpycnn.losses import SoftmaxCrossEntropy
from numpycnn.optim import make_optimizer
from numpycnn.techniques.gradient_direction import (GradientDirection, count_trainable, global_gradient_norm,
                                                    initial_step)
from numpycnn.zoo import mlp


@pytest.fixture(scope="module")
def digits64():
    return nc.datasets.load_dataset("digits", seed=0, train_limit=320, val_fraction=0.2, dtype=np.float64)


def small_model(data, seed=0):
    return nc.zoo.small_cnn(data.input_shape, width=4, seed=seed, dtype=np.float64)


def flat_params(model):
    return np.concatenate([p.ravel() for _, p, _ in model.named_parameters()])


def flat_grads(model):
    return np.concatenate([g.ravel() for _, _, g in model.named_parameters()])


class RecordSteps(nc.Callback):
    """Records, at every step, x_t, g_t, α_t before the update and x_{t+1} after it."""
    name = "record_steps"

    def __init__(self):
        self.steps = []

    def on_backward_end(self, trainer):
        self.before = (flat_params(trainer.model), flat_grads(trainer.model), trainer.optimizer.alpha)

    def on_step_end(self, trainer):
        x, g, alpha = self.before
        self.steps.append((x, g, alpha, flat_params(trainer.model)))


class ScaledLoss(SoftmaxCrossEntropy):
    """Cross-entropy multiplied by a constant k (its gradient too)."""

    def __init__(self, k):
        super().__init__()
        self.k = k

    def forward(self, z, y):
        return self.k * super().forward(z, y)

    def backward(self):
        return self.k * super().backward()


def test_every_step_has_length_alpha_t_and_points_against_the_gradient(digits64):
    model = small_model(digits64)
    opt = GradientDirection(model, beta=0.01)
    rec = RecordSteps()
    nc.Trainer(model, opt, callbacks=[rec], batch_size=32, progress=False).fit(digits64.train, epochs=1, max_steps=8)
    assert len(rec.steps) == 8
    for t, (x, g, alpha, x_next) in enumerate(rec.steps):
        dx = x_next - x
        assert alpha == pytest.approx(opt.alpha0 * 0.99 ** t, rel=1e-12)
        assert np.linalg.norm(dx) == pytest.approx(alpha, rel=1e-12)
        cosine = dx @ g / (np.linalg.norm(dx) * np.linalg.norm(g))
        assert cosine == pytest.approx(-1.0, abs=1e-12)


def test_norm_is_global_over_all_parameters_not_per_tensor():
    model = nc.Sequential([("fc", nc.Dense(3, 2, dtype=np.float64, rng=np.random.default_rng(0)))], input_shape=(3,))
    layer = model["fc"]
    rng = np.random.default_rng(1)
    layer.grads["W"] = 1e-6 * rng.standard_normal((2, 3))
    layer.grads["b"] = 1e3 * rng.standard_normal(2)
    layer.params["W"][...] = 0.0        # start at 0 so x_{t+1} - x_t carries no rounding of x_t
    W0, b0 = layer.params["W"].copy(), layer.params["b"].copy()
    opt = GradientDirection(model, alpha0=0.5)
    opt.step()
    norm_g = math.sqrt(np.sum(layer.grads["W"] ** 2) + np.sum(layer.grads["b"] ** 2))
    assert global_gradient_norm([layer.grads["W"], layer.grads["b"]]) == pytest.approx(norm_g, rel=1e-15)
    np.testing.assert_allclose(layer.params["W"] - W0, -0.5 * layer.grads["W"] / norm_g, rtol=1e-9, atol=1e-20)
    np.testing.assert_allclose(layer.params["b"] - b0, -0.5 * layer.grads["b"] / norm_g, rtol=1e-12)
    # normalised together: the tiny-gradient tensor barely moves (a per-tensor norm would move it by 0.5)
    assert np.linalg.norm(layer.params["W"] - W0) < 1e-8
    assert np.linalg.norm(layer.params["b"] - b0) == pytest.approx(0.5, rel=1e-12)


def test_multiplying_the_loss_by_1000_gives_the_same_trajectory(digits64):
    trajectories = []
    for k in (1.0, 1000.0):
        model = small_model(digits64)
        rec = RecordSteps()
        nc.Trainer(model, GradientDirection(model), loss=ScaledLoss(k), callbacks=[rec], batch_size=32,
                   progress=False).fit(digits64.train, epochs=1, max_steps=6)
        trajectories.append(np.stack([s[3] for s in rec.steps]))
    np.testing.assert_allclose(trajectories[1], trajectories[0], rtol=1e-11, atol=1e-13)


def test_alpha_decays_as_alpha0_times_one_minus_beta_to_the_t_while_decaying(digits64):
    model = small_model(digits64)
    for _, _, g in model.named_parameters():
        g[...] = 1.0
    opt = GradientDirection(model, alpha0=0.3, beta=0.01)
    for t in range(200):
        assert opt.alpha == pytest.approx(0.3 * 0.99 ** t, rel=1e-12)
        assert opt.t == t
        opt.step()
    np.testing.assert_allclose(GradientDirection(model, alpha0=0.3, beta=0.01).alphas(200),
                               0.3 * 0.99 ** np.arange(200), rtol=1e-12)


def test_above_reading_holds_alpha_at_the_threshold_and_initial_reading_keeps_decaying(digits64):
    model = small_model(digits64)
    for _, _, g in model.named_parameters():
        g[...] = 1.0
    above = GradientDirection(model, alpha0=0.3, beta=0.05, threshold=0.1, decay_mode="above")
    literal = GradientDirection(model, alpha0=0.3, beta=0.05, threshold=0.1, decay_mode="initial")
    t_cross = math.ceil(math.log(0.1 / 0.3) / math.log(0.95))     # first t with 0.3·0.95^t <= 0.1
    for t in range(60):
        expected = 0.3 * 0.95 ** t
        assert above.alpha == (pytest.approx(expected, rel=1e-12) if t < t_cross else 0.1)
        assert literal.alpha == pytest.approx(expected, rel=1e-12)
        above.step()
        literal.step()
    assert literal.alpha < 0.1 == above.alpha
    # alpha0 at or below the threshold: no decay under either reading
    for mode in ("initial", "above"):
        opt = GradientDirection(model, alpha0=0.05, beta=0.05, threshold=0.1, decay_mode=mode)
        for _ in range(5):
            opt.step()
        assert opt.alpha == 0.05 and opt.t == 5


def test_alpha0_of_lenet5_on_cifar10_shape_is_0_0014_sqrt_62006():
    model = nc.zoo.lenet5((3, 32, 32), seed=0)
    opt = GradientDirection(model)
    assert opt.N == count_trainable(model) == model.num_params == 62006
    assert opt.alpha0 == 0.0014 * math.sqrt(62006)
    assert opt.alpha0 == pytest.approx(0.348614, abs=1e-6)
    assert initial_step(62006) == opt.alpha0


def test_zero_gradient_leaves_parameters_unchanged_and_nothing_is_nan(digits64):
    model = small_model(digits64)
    for _, _, g in model.named_parameters():
        g[...] = 0.0
    before = flat_params(model)
    opt = GradientDirection(model)
    opt.step()
    after = flat_params(model)
    assert np.array_equal(after, before)
    assert np.isfinite(after).all() and math.isfinite(opt.alpha)


def test_weight_decay_is_applied_outside_the_normalisation(digits64):
    model = small_model(digits64)
    rng = np.random.default_rng(2)
    for _, _, g in model.named_parameters():
        g[...] = rng.standard_normal(g.shape)
    x, g = flat_params(model), flat_grads(model)
    opt = GradientDirection(model, alpha0=0.2, weight_decay=0.5)
    opt.step()
    expected = (1 - 0.5 * 0.2 / math.sqrt(opt.N)) * x - 0.2 * g / np.linalg.norm(g)   # ‖g‖ without λx
    np.testing.assert_allclose(flat_params(model), expected, rtol=1e-13, atol=1e-15)


def test_checkpoint_resume_continues_the_schedule_exactly(digits64, tmp_path):
    def trainer(model):
        opt = GradientDirection(model, beta=0.02, threshold=0.2, decay_mode="above")
        return nc.Trainer(model, opt, batch_size=32, seed=3, progress=False)

    straight = trainer(small_model(digits64))
    straight.fit(digits64.train, epochs=2)

    first = trainer(small_model(digits64))
    first.fit(digits64.train, epochs=2, max_steps=11)          # stop mid-epoch 2 (8 batches per epoch)
    first.save_checkpoint(tmp_path / "ckpt.npz")
    resumed = trainer(small_model(digits64, seed=99))           # different weights, fresh schedule
    resumed.load_checkpoint(tmp_path / "ckpt.npz")
    assert resumed.optimizer.alpha == first.optimizer.alpha and resumed.optimizer.t == 11
    resumed.fit(digits64.train, epochs=2)

    assert resumed.optimizer.t == straight.optimizer.t == 16
    assert resumed.optimizer.alpha == straight.optimizer.alpha
    assert np.array_equal(flat_params(resumed.model), flat_params(straight.model))


def test_masked_parameters_stay_exactly_zero(digits64):
    model = small_model(digits64)
    rng = np.random.default_rng(0)
    masks = {}
    for lname in ("conv1", "fc1"):
        layer = model[lname]
        masks[lname] = (rng.random(layer.params["W"].shape) < 0.5).astype(np.float64)
        layer.set_mask("W", masks[lname])
    opt = GradientDirection(model, weight_decay=0.1)
    assert opt.N == model.num_params - sum(int((m == 0).sum()) for m in masks.values())
    nc.Trainer(model, opt, batch_size=32, progress=False).fit(digits64.train, epochs=1, max_steps=5)
    for lname, m in masks.items():
        W = model[lname].params["W"]
        assert np.all(W[m == 0] == 0.0)
        assert np.any(W[m == 1] != 0.0)


def test_make_optimizer_direction_passes_lr_as_alpha0(digits64):
    model = small_model(digits64)
    assert make_optimizer("direction", model, lr=0.25).alpha0 == 0.25
    default = make_optimizer("direction", model, weight_decay=0.0)
    assert default.alpha0 == 0.0014 * math.sqrt(model.num_params)
    assert default.lr == default.alpha               # lr is an alias of the current step α_t


def test_train_flags_build_the_direction_optimizer():
    parser = builder.train_parser()

    def optimizer(flags):
        return builder.build(parser.parse_args(flags), (1, 8, 8), 10)[1]
    opt = optimizer(["--optimizer", "direction", "--direction-c", "0.002", "--decay", "0.001",
                     "--decay-threshold", "0.05", "--decay-mode", "above"])
    assert isinstance(opt, GradientDirection)
    assert (opt.c, opt.beta, opt.threshold, opt.decay_mode) == (0.002, 0.001, 0.05, "above")
    assert opt.alpha0 == 0.002 * math.sqrt(opt.N)
    assert optimizer(["--optimizer", "direction", "--alpha0", "0.3"]).alpha0 == 0.3
    assert type(optimizer(["--optimizer", "adam"])).__name__ == "Adam"


@pytest.mark.parametrize("kwargs, word", [({"alpha0": -1.0}, "alpha0"), ({"beta": 1.0}, "beta"),
                                          ({"c": 0.0}, "c"), ({"threshold": -0.1}, "threshold"),
                                          ({"alpha0": 0.0}, "alpha0"), ({"beta": -0.5}, "beta"),
                                          ({"decay_mode": "sometimes"}, "decay_mode"), ({"N": 0}, "N")])
def test_bad_arguments_raise_value_error_naming_the_argument(digits64, kwargs, word):
    with pytest.raises(ValueError, match=rf"^GradientDirection: {word}\b"):
        GradientDirection(small_model(digits64), **kwargs)


def test_the_step_decays_only_while_strictly_above_the_threshold():
    """S1033: "if the step is greater than the threshold, decay it" — at equality it does not."""
    from numpycnn.techniques.gradient_direction import decays, step_decay
    assert decays(0.5, 0.4) and not decays(0.5, 0.5) and not decays(0.3, 0.5)
    assert type(step_decay(0.5, 0.1, threshold=0.5)).__name__ == "Constant"
    assert repr(step_decay(0.5, 0.1)) == repr(step_decay(0.5, 0.1, decay_mode="initial"))   # the literal default


def test_initial_step_errors_name_the_function_and_the_argument():
    from numpycnn.techniques.gradient_direction import initial_step
    with pytest.raises(ValueError, match=r"^initial_step: N \(number of trainable parameters\) must be"):
        initial_step(0)
    with pytest.raises(ValueError, match=r"^initial_step: c must be"):
        initial_step(100, c=0)


def test_the_global_norm_of_float32_gradients_is_accumulated_in_float64():
    """1e20² overflows float32: the squares must be summed in float64."""
    assert global_gradient_norm([np.full(4, 1e20, dtype=np.float32)]) == pytest.approx(2e20, rel=1e-6)


def test_the_direction_factory_passes_every_option_and_weight_decay_from_the_flags(digits64):
    model = small_model(digits64)
    opt = make_optimizer("direction", model, lr=0.2, beta=0.01, threshold=0.05, decay_mode="above", c=0.003)
    assert (opt.alpha0, opt.beta, opt.threshold, opt.decay_mode, opt.c) == (0.2, 0.01, 0.05, "above", 0.003)
    args = builder.train_parser().parse_args(["--optimizer", "direction", "--weight-decay", "0.01"])
    assert builder.build(args, (1, 8, 8), 10)[1].weight_decay == 0.01
    with pytest.raises(SystemExit):
        builder.train_parser().parse_args(["--optimizer", "direction", "--decay-mode", "sometimes"])


def test_loading_the_state_restores_every_hyperparameter(digits64):
    model = small_model(digits64)
    saved = GradientDirection(model, alpha0=0.3, beta=0.01, threshold=0.05, decay_mode="above", c=0.003)
    restored = GradientDirection(small_model(digits64)).load_state_dict(
        {k: np.array(v) for k, v in saved.state_dict().items()})
    assert restored.hyperparameters() == saved.hyperparameters()


def test_technique_b_N_excludes_masked_bias_entries():
    model = mlp((1, 4, 4), 3, hidden=(5,), seed=0)
    mask = np.array([1, 0, 1, 0, 0], dtype=np.float32)
    model["fc1"].set_mask("b", mask)
    assert count_trainable(model) == model.num_params - 3
    assert GradientDirection(model).N == model.num_params - 3
