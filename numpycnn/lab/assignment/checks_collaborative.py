"""Autograder checks for technique D's exercise: ``combine`` (the four ensemble rules and their backward)."""
import numpy as np

from .checks import _close, _rng, needs_reference


def _logits(seed=60, m=3, N=6, K=4):
    r = _rng(seed)
    return [2 * r.standard_normal((N, K)) for _ in range(m)], r.integers(0, K, N)


@needs_reference
def ensembles_match_reference(ctx):
    from numpycnn.techniques import collaborative
    zs, y = _logits()
    for rule in collaborative.RULES:
        want, back_want, _ = collaborative.combine(zs, y, rule, np.array([0.2, 0.5, 0.3]))
        dz = _rng(61).standard_normal(want.shape)
        g_want = back_want(dz)
        with ctx.student():
            got, back_got, _ = collaborative.combine(zs, y, rule, np.array([0.2, 0.5, 0.3]))
            g_got = back_got(dz)
        _close(got, want, f"{rule}: ensemble logits", tol=1e-7)
        for i, (a, b) in enumerate(zip(g_got, g_want)):
            _close(a, b, f"{rule}: gradient to network {i}", tol=1e-7)


def min_logit_properties(ctx):
    from numpycnn.techniques import collaborative
    zs, y = _logits(62)
    with ctx.student():
        z, _, _ = collaborative.combine(zs, y, "min-logit")
    rows = np.arange(len(y))
    assert np.all(np.asarray(z)[rows, y] == 0), "min-logit: the target logit of the ensemble must be 0"
    best = np.min([collaborative.per_sample_ce(zi, y) for zi in zs], axis=0)
    assert np.all(collaborative.per_sample_ce(np.asarray(z), y) <= best + 1e-12), \
        "min-logit: CE(ensemble) must be <= every network's"


CHECKS = {"techniques.collaborative.combine": (8, [ensembles_match_reference, min_logit_properties])}
