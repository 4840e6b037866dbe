"""Autograder checks for technique C's exercise: ``connection_probabilities`` (σ with saturation)."""
import numpy as np


def worked_example_784_300_100_10(ctx):
    from numpycnn.techniques import erdos_renyi
    from numpycnn.zoo import mlp
    with ctx.student():
        p, sigma = erdos_renyi.connection_probabilities(mlp((1, 28, 28), hidden=(300, 100)), 0.9)
    assert abs(sigma - 17.264150943396) < 1e-6, f"σ = {sigma}, expected 17.2641509… (with fc3 saturated)"
    got = [p["fc1"], p["fc2"], p["fc3"]]
    assert np.allclose(got, [0.0795678, 0.2301887, 1.0], atol=1e-7), f"p = {got}"


def constraint_holds_for_lenet5(ctx):
    from numpycnn.techniques import erdos_renyi
    from numpycnn.zoo import lenet5
    model = lenet5()
    for mode, sparsity in (("er", 0.8), ("erk", 0.95), ("uniform", 0.5)):
        ratios = erdos_renyi.layer_ratios(model, mode)
        T = (1 - sparsity) * sum(n for _, n in ratios.values())
        with ctx.student():
            p, _ = erdos_renyi.connection_probabilities(model, sparsity, mode)
        total = sum(p[n] * ratios[n][1] for n in ratios)
        assert abs(total - T) <= 1e-9 * T, f"{mode}, sparsity {sparsity}: Σ p_l N_l = {total}, expected T = {T}"
        assert all(0 < v <= 1 for v in p.values()), f"{mode}: probabilities must be in (0, 1]; got {p}"


CHECKS = {
    "techniques.erdos_renyi.connection_probabilities": (6, [worked_example_784_300_100_10,
                                                            constraint_holds_for_lenet5]),
}
