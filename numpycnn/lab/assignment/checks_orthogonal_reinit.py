"""Autograder checks for technique E's exercises: the orthogonality measure and the QR complement basis."""
import numpy as np

from .checks import _close, _rng


def measure_matches_reference_and_pairwise_loop(ctx):
    from numpycnn.techniques import orthogonal_reinit
    for shape in ((6, 2, 3, 3), (5, 11), (9, 1, 3, 3)):
        W = _rng(31).standard_normal(shape)
        want = orthogonal_reinit.orthogonality_measure_loop(W)
        with ctx.student():
            got = orthogonal_reinit.orthogonality_measure(W)
        _close(got, want, f"orthogonality measure O of filters {shape}", tol=1e-10)


def measure_is_zero_for_orthonormal_filters_and_ranks_duplicates_first(ctx):
    from numpycnn.techniques import orthogonal_reinit
    Q, _ = np.linalg.qr(_rng(32).standard_normal((10, 4)))
    W = _rng(33).standard_normal((7, 12))
    W[4] = -2 * W[1]                                    # a duplicate, rescaled and sign-flipped
    with ctx.student():
        O_orth = orthogonal_reinit.orthogonality_measure(Q.T)
        O_dup = orthogonal_reinit.orthogonality_measure(W)
    assert np.abs(O_orth).max() < 1e-12, f"O of an orthonormal set should be 0; got {O_orth}"
    top = set(np.argsort(-np.asarray(O_dup))[:2].tolist())
    assert top == {1, 4}, f"the duplicated filters 1 and 4 should have the largest O; the largest are {sorted(top)}"


def complement_basis_is_orthonormal_and_orthogonal_to_the_rows(ctx):
    from numpycnn.techniques import orthogonal_reinit
    for m, D in ((3, 10), (6, 27), (1, 5)):
        A = _rng(34 + m).standard_normal((m, D))
        with ctx.student():
            B = np.asarray(orthogonal_reinit.complement_basis(A))
        assert B.shape == (D, D - m), \
            f"complement of {m} rows in {D} dimensions: shape {B.shape}, expected {(D, D - m)}"
        _close(B.T @ B, np.eye(D - m), "Bᵀ B (columns must be orthonormal)", tol=1e-10)
        assert np.abs(A @ B).max() < 1e-10 * np.abs(A).max(), \
            "A @ B must be 0: the basis must be orthogonal to A's rows"


def complement_basis_detects_rank(ctx):
    from numpycnn.techniques import orthogonal_reinit
    a = _rng(40).standard_normal((2, 8))
    A = np.vstack([a, a[0] + 2 * a[1]])                 # 3 rows of rank 2
    with ctx.student():
        B = np.asarray(orthogonal_reinit.complement_basis(A))
    assert B.shape == (8, 6), f"3 rows of rank 2 in 8 dimensions leave a 6-dimensional complement; got {B.shape[1]}"
    A = np.vstack([a[0], -2 * a[0], a[1]])              # the dependent row in the middle: needs column pivoting
    with ctx.student():
        B = np.asarray(orthogonal_reinit.complement_basis(A))
    assert B.shape == (8, 6), f"rows a, -2a, b have rank 2: expected a 6-dimensional complement; got {B.shape[1]}"
    assert np.abs(A @ B).max() < 1e-10 * np.abs(A).max(), (
        "A @ B must be 0 for rows a, -2a, b (without pivoting, the columns of Q after the first r are not "
        "the complement when a dependent row comes early)")


CHECKS = {
    "techniques.orthogonal_reinit.orthogonality_measure": (
        5, [measure_matches_reference_and_pairwise_loop,
            measure_is_zero_for_orthonormal_filters_and_ranks_duplicates_first]),
    "techniques.orthogonal_reinit.complement_basis": (
        6, [complement_basis_is_orthonormal_and_orthogonal_to_the_rows, complement_basis_detects_rank]),
}
