"""Autograder checks for technique B's exercise: ``GradientDirection.step``."""
import math

import numpy as np

from .checks import _close, _rng


class _TwoTensors:
    """Two parameters whose gradients differ by nine orders of magnitude (the norm must be global)."""

    def __init__(self, seed):
        r = _rng(seed)
        self.p = {"a": r.standard_normal((3, 4)), "b": r.standard_normal(5)}
        self.g = {"a": np.zeros((3, 4)), "b": np.zeros(5)}
        self.r = r

    def named_parameters(self):
        for k in self.p:
            yield k, self.p[k], self.g[k]

    def new_gradients(self):
        self.g["a"][...] = 1e-6 * self.r.standard_normal((3, 4))
        self.g["b"][...] = 1e3 * self.r.standard_normal(5)


def _run(steps=8, **kw):
    from numpycnn.techniques.gradient_direction import GradientDirection
    model = _TwoTensors(21)
    opt = GradientDirection(model, alpha0=0.5, **kw)
    lengths, alphas = [], []
    for _ in range(steps):
        model.new_gradients()
        before = np.concatenate([p.ravel() for p in model.p.values()])
        alphas.append(opt.alpha)
        opt.step()
        after = np.concatenate([p.ravel() for p in model.p.values()])
        lengths.append(float(np.linalg.norm(after - before)))
    return model.p, lengths, alphas, opt.alpha


def step_length_is_alpha_t_with_one_global_norm(ctx):
    with ctx.student():
        _, lengths, alphas, _ = _run()
    for t, (length, alpha) in enumerate(zip(lengths, alphas)):
        assert math.isclose(length, alpha, rel_tol=1e-12), \
            f"step {t}: ‖x_(t+1) − x_t‖ = {length}, expected α_t = {alpha} (normalise by the norm over ALL parameters)"


def trajectory_and_decay_match_reference(ctx):
    for kw in ({}, {"beta": 0.1}, {"beta": 0.1, "threshold": 0.3, "decay_mode": "above"}):
        want, _, _, alpha_want = _run(**kw)
        with ctx.student():
            got, _, _, alpha_got = _run(**kw)
        for k in want:
            _close(got[k], want[k], f"parameter {k} after 8 steps with {kw}", tol=1e-12)
        assert math.isclose(alpha_got, alpha_want, rel_tol=1e-12), \
            f"α after 8 steps with {kw}: {alpha_got}, expected {alpha_want}"


def zero_gradient_moves_nothing(ctx):
    from numpycnn.techniques.gradient_direction import GradientDirection
    model = _TwoTensors(3)
    before = {k: v.copy() for k, v in model.p.items()}
    with ctx.student():
        GradientDirection(model, alpha0=0.5).step()
    for k in before:
        assert np.array_equal(model.p[k], before[k]), f"a zero gradient moved parameter {k} (or made NaN)"


CHECKS = {
    "techniques.gradient_direction.GradientDirection.step": (
        8, [step_length_is_alpha_t_with_one_global_norm, trajectory_and_decay_match_reference,
            zero_gradient_moves_nothing]),
}
