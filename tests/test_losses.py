"""Softmax cross-entropy: stability, the probability error, gradients, PyTorch agreement."""
import numpy as np
import pytest

from numpycnn.gradcheck import check_loss
from numpycnn.losses import SoftmaxCrossEntropy, get_loss, log_softmax, onehot, softmax


def _batch(N=6, K=4, seed=0, scale=1.0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((N, K)) * scale, rng.integers(0, K, N)


@pytest.mark.parametrize("big", [1e4, -1e4])
def test_cross_entropy_is_finite_for_logits_of_plus_minus_1e4(big):
    z, y = _batch()
    z[:, 0] = big
    loss = SoftmaxCrossEntropy()
    value = loss.forward(z, y)
    assert np.isfinite(value)
    assert np.all(np.isfinite(loss.backward()))


def test_cross_entropy_of_a_huge_correct_logit_is_zero_and_of_a_huge_wrong_one_is_the_gap():
    loss = SoftmaxCrossEntropy()
    assert loss.forward(np.array([[1e4, 0.0]]), np.array([0])) == 0.0
    assert loss.forward(np.array([[1e4, 0.0]]), np.array([1])) == pytest.approx(1e4)


def test_probability_error_is_softmax_minus_onehot_and_sums_to_zero_per_sample():
    z, y = _batch(N=8, K=5, scale=3)
    loss = SoftmaxCrossEntropy()
    loss.forward(z, y)
    e = loss.probability_error()
    np.testing.assert_allclose(e, softmax(z) - onehot(y, 5), atol=1e-15)
    np.testing.assert_allclose(e.sum(axis=1), 0, atol=1e-15)


def test_backward_is_the_probability_error_divided_by_the_batch_size():
    z, y = _batch()
    loss = SoftmaxCrossEntropy()
    loss.forward(z, y)
    np.testing.assert_array_equal(loss.backward(), loss.probability_error() / len(y))


def test_cross_entropy_gradient_matches_central_differences():
    z, y = _batch(scale=2)
    result = check_loss(SoftmaxCrossEntropy(), z, y)
    assert result.passed, str(result)


def test_per_sample_losses_average_to_the_loss():
    z, y = _batch()
    loss = SoftmaxCrossEntropy()
    assert loss.per_sample(z, y).mean() == pytest.approx(loss.forward(z, y), rel=1e-15)


def test_log_softmax_rows_exponentiate_to_a_distribution():
    z, _ = _batch(scale=50)
    np.testing.assert_allclose(np.exp(log_softmax(z)).sum(axis=1), 1, rtol=1e-14)


def test_probability_error_before_forward_says_what_to_do():
    with pytest.raises(RuntimeError, match="forward"):
        SoftmaxCrossEntropy().probability_error()


def test_unknown_loss_name_lists_the_known_ones():
    with pytest.raises(ValueError, match="cross_entropy"):
        get_loss("crossentropy_typo")


def test_cross_entropy_and_its_gradient_match_pytorch():
    torch = pytest.importorskip("torch")
    z, y = _batch(N=7, K=6, scale=4)
    loss = SoftmaxCrossEntropy()
    value = loss.forward(z, y)
    zt = torch.from_numpy(z.copy()).requires_grad_(True)
    lt = torch.nn.functional.cross_entropy(zt, torch.from_numpy(y))
    lt.backward()
    assert value == pytest.approx(lt.item(), rel=1e-14)
    np.testing.assert_allclose(loss.backward(), zt.grad.numpy(), atol=1e-15)


@pytest.mark.parametrize("big", [1000.0, -1000.0])
def test_softmax_of_logits_near_plus_minus_1000_is_finite_and_shift_invariant(big):
    """exp(1000) overflows float64: softmax must subtract the row maximum, not add it."""
    z, _ = _batch()
    p = softmax(z + big)
    assert np.all(np.isfinite(p))
    np.testing.assert_allclose(p, softmax(z), rtol=1e-12)
    np.testing.assert_allclose(p.sum(axis=1), 1, rtol=1e-14)


def test_per_sample_cross_entropy_is_minus_log_softmax_at_each_label():
    z, y = _batch(N=7, K=5, seed=3)
    expected = [-np.log(softmax(z)[n, y[n]]) for n in range(7)]
    np.testing.assert_allclose(SoftmaxCrossEntropy().per_sample(z, y), expected, rtol=1e-13)


def test_get_loss_without_a_name_is_softmax_cross_entropy():
    assert type(get_loss()) is SoftmaxCrossEntropy


def test_softmax_normalises_each_row_by_its_own_maximum():
    """Rows far apart: a shift by the maximum of the whole array would underflow the low row to 0/0."""
    z = np.array([[1000.0, 999.0, 998.0], [0.0, -1.0, -2.0]])
    p = softmax(z)
    np.testing.assert_allclose(p[0], p[1], rtol=1e-12)
    assert np.all(np.isfinite(p))


def test_softmax_works_along_the_last_axis_of_any_array():
    z = np.random.default_rng(6).standard_normal((2, 3, 4))
    p = softmax(z)
    np.testing.assert_allclose(p.sum(axis=-1), 1, rtol=1e-14)
    np.testing.assert_allclose(p[1, 2], softmax(z[1, 2][None])[0], rtol=1e-14)


@pytest.mark.parametrize("labels", [[0, 9], [0]])
def test_per_sample_labels_are_checked_naming_the_loss(labels):
    from numpycnn.losses import NLLLoss
    z = np.zeros((2, 3))
    for loss, name in ((SoftmaxCrossEntropy(), "SoftmaxCrossEntropy"), (NLLLoss(), "NLLLoss")):
        with pytest.raises(ValueError, match=rf"^{name}: labels y must"):
            loss.per_sample(z, np.array(labels))
