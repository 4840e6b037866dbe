"""Autograder checks for technique B's exercise: ``GradientDirection.step``.

Every expected value is the docstring's formula (no reference solution needed), so the student's
local ``assignment check`` runs these exactly as the grader does. A mismatch names the quantity
and the step ("α_t after step 3: got …, want …").
"""
import math

import numpy as np

from .checks import assert_close, assert_same_trajectory


class _TwoTensors:
    """Two parameters whose gradients differ by nine orders of magnitude (the norm must be global)."""

    def __init__(self, seed):
        r = np.random.default_rng(seed)
        self.p = {"a": r.standard_normal((3, 4)), "b": r.standard_normal(5)}
        self.g = {"a": np.zeros((3, 4)), "b": np.zeros(5)}
        self.r = r

    def named_parameters(self):
        for k in self.p:
            yield k, self.p[k], self.g[k]

    def new_gradients(self):
        self.g["a"][...] = 1e-6 * self.r.standard_normal((3, 4))
        self.g["b"][...] = 1e3 * self.r.standard_normal(5)

    def vector(self, which):
        return np.concatenate([v.ravel() for v in (self.p if which == "p" else self.g).values()])


def _run(ctx, steps=8, seed=21, **kw):
    """Run the student's step ``steps`` times; per step: x before/after, g, α_t before/after, t after."""
    from numpycnn.techniques.gradient_direction import GradientDirection
    model = _TwoTensors(seed)
    opt = GradientDirection(model, alpha0=0.5, **kw)
    records = []
    for _ in range(steps):
        model.new_gradients()
        before, g, alpha = model.vector("p"), model.vector("g"), opt.alpha
        with ctx.student():
            opt.step()
        records.append({"x_t": before, "g": g, "alpha_t": alpha, "x_next": model.vector("p"),
                        "alpha_next": opt.alpha, "t": opt.t, "N": opt.N})
    return records


def step_length_is_alpha_t_with_one_global_norm(ctx):
    for k, r in enumerate(_run(ctx), 1):
        length = float(np.linalg.norm(r["x_next"] - r["x_t"]))
        assert math.isclose(length, r["alpha_t"], rel_tol=1e-12), \
            (f"step {k}: ‖x_(t+1) − x_t‖ = {length}, expected α_t = {r['alpha_t']} (normalise by the norm over ALL "
             f"parameters together)")


def update_is_minus_alpha_t_times_the_unit_gradient(ctx):
    records = _run(ctx)
    got = [{"x_(t+1)": r["x_next"]} for r in records]
    want = [{"x_(t+1)": r["x_t"] - r["alpha_t"] * r["g"] / np.linalg.norm(r["g"])} for r in records]
    assert_same_trajectory(got, want, "x_(t+1) = x_t − α_t·g/‖g‖")


def alpha_t_follows_the_step_decay(ctx):
    cases = [({}, lambda a, beta, thr: a * (1 - beta)),                               # default β, threshold 0
             ({"beta": 0.1}, lambda a, beta, thr: a * (1 - beta)),
             ({"beta": 0.1, "threshold": 0.9}, lambda a, beta, thr: a),               # α0 = 0.5 ≤ threshold: no decay
             ({"beta": 0.1, "threshold": 0.3, "decay_mode": "above"}, lambda a, beta, thr: max(a * (1 - beta), thr))]
    for kw, rule in cases:
        records = _run(ctx, **kw)
        beta = kw.get("beta", 0.0003)
        thr = kw.get("threshold", 0.0)
        alpha, got, want = 0.5, [], []
        for r in records:
            want.append({"α_t": np.float64(alpha)})
            got.append({"α_t": np.float64(r["alpha_t"])})
            alpha = rule(alpha, beta, thr)
        try:
            assert_same_trajectory(got, want, "α_t")
            assert_close(records[-1]["alpha_next"], alpha, f"α after {len(records)} steps")
        except AssertionError as e:
            raise AssertionError(f"with {kw or 'the defaults'}: {e}") from None


def t_counts_the_updates(ctx):
    for k, r in enumerate(_run(ctx, steps=5), 1):
        assert r["t"] == k, (f"self.t after step {k}: got {r['t']}, want {k} (step() must add 1 to t: the step "
                             f"count is saved in checkpoints and resumed)")


def decoupled_weight_decay_shrinks_x_outside_the_normalisation(ctx):
    lam = 0.5
    records = _run(ctx, weight_decay=lam)
    got = [{"x_(t+1)": r["x_next"]} for r in records]
    want = [{"x_(t+1)": (1 - lam * r["alpha_t"] / math.sqrt(r["N"])) * r["x_t"]
             - r["alpha_t"] * r["g"] / np.linalg.norm(r["g"])} for r in records]
    assert_same_trajectory(got, want, "x_(t+1) = (1 − λ·α_t/√N)·x_t − α_t·g/‖g‖ (λ = 0.5)")


def zero_gradient_moves_nothing(ctx):
    from numpycnn.techniques.gradient_direction import GradientDirection
    model = _TwoTensors(3)
    before = {k: v.copy() for k, v in model.p.items()}
    opt = GradientDirection(model, alpha0=0.5)
    with ctx.student():
        opt.step()
    for k in before:
        assert np.array_equal(model.p[k], before[k]), f"a zero gradient moved parameter {k} (or made NaN)"


CHECKS = {
    "techniques.gradient_direction.GradientDirection.step": (
        8, [step_length_is_alpha_t_with_one_global_norm, update_is_minus_alpha_t_times_the_unit_gradient,
            alpha_t_follows_the_step_decay, t_counts_the_updates,
            decoupled_weight_decay_shrinks_x_outside_the_normalisation, zero_gradient_moves_nothing]),
}
