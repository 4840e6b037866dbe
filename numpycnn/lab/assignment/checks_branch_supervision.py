"""Autograder checks for technique A's exercise: ``Branch.branch_point_backward`` (first + second = third)."""
import numpy as np

from .checks import assert_close, needs_reference


def _setup(weight):
    from numpycnn.losses import SoftmaxCrossEntropy
    from numpycnn.techniques.branch_supervision import Branch
    from numpycnn.zoo import plain_cnn
    model = plain_cnn((1, 8, 8), depth=3, width=3, activation_name="tanh", seed=5, dtype=np.float64)
    branch = Branch(model, "act2", hidden=(6,), activation="tanh", weight=weight, seed=6)
    r = np.random.default_rng(50)
    x, y = r.standard_normal((5, 1, 8, 8)), r.integers(0, 10, 5)
    return model, branch, x, y, SoftmaxCrossEntropy()


def _run(weight):
    model, branch, x, y, loss = _setup(weight)
    branch.set_labels(y)
    loss.forward(model.forward(x), y)
    dx = model.backward(loss.backward())
    grads = {n: g.copy() for n, _, g in model.named_parameters()}
    bgrads = {n: g.copy() for n, _, g in branch.net.named_parameters()}
    return branch, dx, grads, bgrads


def third_is_first_plus_second(ctx):
    with ctx.student():
        branch, _, _, _ = _run(0.7)
    assert branch.third is not None, "branch_point_backward must return (and the Branch keeps) the third gradient"
    assert np.array_equal(np.asarray(branch.third), np.asarray(branch.first) + np.asarray(branch.second)), \
        "third gradient must be exactly first + second"


@needs_reference
def trunk_and_branch_gradients_match_reference(ctx):
    for weight in (1.0, 0.3, 0.0):
        _, dx_want, want, bwant = _run(weight)
        with ctx.student():
            _, dx_got, got, bgot = _run(weight)
        assert_close(dx_got, dx_want, f"dL/dx with λ = {weight}")
        for n in want:
            assert_close(got[n], want[n], f"trunk gradient {n} with λ = {weight}")
        for n in bwant:
            assert_close(bgot[n], bwant[n], f"branch gradient {n} with λ = {weight}")


CHECKS = {
    "techniques.branch_supervision.Branch.branch_point_backward": (
        8, [third_is_first_plus_second, trunk_and_branch_gradients_match_reference]),
}
