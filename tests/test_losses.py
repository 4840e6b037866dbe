"""Losses: softmax cross-entropy (stability, the probability error, gradients, PyTorch agreement),
NLL after LogSoftmax, the multiclass hinge and squared hinge, PyTorch's options, and bad input."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import numpycnn as nc
from numpycnn.errors import ShapeError
from numpycnn.gradcheck import check_loss
from numpycnn.layers import LAYER_TYPES, LogSoftmax
from numpycnn.losses import (LOSSES, MulticlassHinge, NLLLoss, SoftmaxCrossEntropy, get_loss, log_softmax, onehot,
                             softmax)

from conftest import BAD_INPUT_FIELDS, assert_bad_input, bad_input_cases


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


# -- PyTorch's options: weight, ignore_index, label_smoothing, reduction --------------------------------------------
def _cross_entropy_loop(z, y, weight, ignore_index, label_smoothing, reduction):
    """The module docstring's formula, sample by sample: ℓ_n and the mean's divisor Σ w[y_n] over kept samples."""
    N, K = z.shape
    losses, total = np.zeros(N), 0.0
    for n in range(N):
        if y[n] == ignore_index:
            continue
        logp = z[n] - np.log(np.sum(np.exp(z[n] - z[n].max()))) - z[n].max()
        losses[n] = -(1 - label_smoothing) * weight[y[n]] * logp[y[n]] - label_smoothing / K * np.sum(weight * logp)
        total += weight[y[n]]
    return {"none": losses, "sum": losses.sum(), "mean": losses.sum() / total}[reduction]


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_with_every_option_follows_the_formula_of_the_module_docstring(reduction):
    z, y = _batch(N=8, K=5, seed=4, scale=2)
    y[[1, 6]] = -1
    w = np.random.default_rng(5).random(5) + 0.5
    loss = SoftmaxCrossEntropy(weight=w, ignore_index=-1, reduction=reduction, label_smoothing=0.2)
    np.testing.assert_allclose(loss.forward(z, y), _cross_entropy_loop(z, y, w, -1, 0.2, reduction), rtol=1e-13)
    np.testing.assert_allclose(loss.per_sample(z, y), _cross_entropy_loop(z, y, w, -1, 0.2, "none"), rtol=1e-13)


@pytest.mark.parametrize("loss", [SoftmaxCrossEntropy(weight=[1.0, 2.0, 0.5, 1.5], label_smoothing=0.3),
                                  SoftmaxCrossEntropy(reduction="sum", label_smoothing=0.1),
                                  NLLLoss(weight=[1.0, 2.0, 0.5, 1.5], reduction="sum"),
                                  MulticlassHinge(p=2, weight=[1.0, 2.0, 0.5, 1.5]),
                                  MulticlassHinge(reduction="sum")], ids=repr)
def test_loss_options_backward_matches_central_differences(loss):
    z, y = _batch(N=6, K=4, seed=7, scale=2)
    if isinstance(loss, NLLLoss):
        z = log_softmax(z)
    result = check_loss(loss, z, y)
    assert result.passed, str(result)


def test_reduction_none_returns_one_loss_per_sample_and_backward_takes_their_gradients():
    z, y = _batch(N=5, K=3, seed=8)
    loss = SoftmaxCrossEntropy(reduction="none")
    per_sample = loss.forward(z, y)
    np.testing.assert_allclose(per_sample, SoftmaxCrossEntropy().per_sample(z, y), rtol=1e-14)
    dout = np.arange(5.0)
    dz = loss.backward(dout)
    plain = SoftmaxCrossEntropy()
    plain.forward(z, y)
    np.testing.assert_allclose(dz, plain.probability_error() * dout[:, None], rtol=1e-14)
    with pytest.raises(ValueError, match=r"reduction='none', dout must have shape \(5,\)"):
        loss.backward(1.0)


def test_ignored_samples_take_no_gradient_and_do_not_count_in_the_mean():
    z, y = _batch(N=6, K=4, seed=9)
    y_ignored = y.copy()
    y_ignored[[0, 3]] = -100                                         # PyTorch's default ignore_index
    loss = SoftmaxCrossEntropy()
    value = loss.forward(z, y_ignored)
    keep = np.array([1, 2, 4, 5])
    assert value == pytest.approx(SoftmaxCrossEntropy().forward(z[keep], y[keep]), rel=1e-14)
    dz = loss.backward()
    assert np.all(dz[[0, 3]] == 0)
    reference = SoftmaxCrossEntropy()
    reference.forward(z[keep], y[keep])
    np.testing.assert_allclose(dz[keep], reference.backward(), rtol=1e-13)


def test_without_options_the_loss_runs_the_plain_lines_bit_for_bit():
    """Options branch off before the plain lines: with the defaults the value and the gradient are those of
    ``mean_n [logsumexp(z_n) - z_n[y_n]]`` and ``(softmax - onehot) / N``, computed as before."""
    z, y = _batch(N=9, K=6, seed=10, scale=3)
    loss = SoftmaxCrossEntropy()
    logp = log_softmax(z)
    assert loss.forward(z, y) == float(-logp[np.arange(9), y].mean()) and loss.plain and not loss.general
    want = np.exp(logp)
    want[np.arange(9), y] -= 1
    np.testing.assert_array_equal(loss.backward(), want / 9)


@settings(max_examples=30, deadline=None)
@given(N=st.integers(1, 6), K=st.integers(2, 5), weighted=st.booleans(), smoothing=st.sampled_from([0.0, 0.1, 0.5]),
       reduction=st.sampled_from(["mean", "sum", "none"]), ignore=st.booleans(), seed=st.integers(0, 1000))
def test_cross_entropy_and_nll_with_random_options_match_torch_in_float64(N, K, weighted, smoothing, reduction,
                                                                          ignore, seed):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(seed)
    z, y = 3 * rng.standard_normal((N, K)), rng.integers(0, K, N)
    if ignore:
        y[0] = -100
        if N == 1 and reduction == "mean":
            y[0] = 0                                                 # the mean over no sample is 0/0
    w = rng.random(K) + 0.2 if weighted else None
    tw = None if w is None else torch.tensor(w)
    dout = rng.standard_normal(N) if reduction == "none" else 1.3
    for ours, theirs, inp in [
            (SoftmaxCrossEntropy(w, reduction=reduction, label_smoothing=smoothing),
             lambda t: torch.nn.functional.cross_entropy(t, torch.tensor(y), tw, reduction=reduction,
                                                         label_smoothing=smoothing), z),
            (NLLLoss(w, reduction=reduction),
             lambda t: torch.nn.functional.nll_loss(t, torch.tensor(y), tw, reduction=reduction), log_softmax(z))]:
        value = ours.forward(inp, y)
        t = torch.tensor(inp, requires_grad=True)
        tv = theirs(t)
        tv.backward(torch.tensor(dout) if reduction == "none" else torch.tensor(dout, dtype=torch.float64))
        np.testing.assert_allclose(value, tv.detach().numpy(), rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(ours.backward(dout), t.grad.numpy(), rtol=0, atol=1e-12)


@settings(max_examples=20, deadline=None)
@given(N=st.integers(1, 6), K=st.integers(2, 5), p=st.sampled_from([1, 2]), margin=st.sampled_from([0.5, 1.0, 2.0]),
       weighted=st.booleans(), reduction=st.sampled_from(["mean", "sum", "none"]), seed=st.integers(0, 1000))
def test_hinge_with_random_options_matches_torch_in_float64(N, K, p, margin, weighted, reduction, seed):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(seed)
    z, y = 2 * rng.standard_normal((N, K)), rng.integers(0, K, N)
    w = rng.random(K) + 0.2 if weighted else None
    loss = MulticlassHinge(p, margin, w, reduction)
    value = loss.forward(z, y)
    t = torch.tensor(z, requires_grad=True)
    tv = torch.nn.functional.multi_margin_loss(t, torch.tensor(y), p, margin, None if w is None else torch.tensor(w),
                                               reduction=reduction)
    tv.sum().backward()
    np.testing.assert_allclose(value, tv.detach().numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(loss.backward(), t.grad.numpy(), rtol=0, atol=1e-12)


def test_loss_options_keep_the_logits_dtype():
    z, y = _batch(N=4, K=3, seed=11)
    for loss in (SoftmaxCrossEntropy(weight=[1, 2, 3], label_smoothing=0.1, reduction="sum"),
                 MulticlassHinge(weight=[1, 2, 3])):
        loss.forward(z.astype(np.float32), y)
        assert loss.backward().dtype == np.float32


def test_options_show_in_the_repr_and_the_repr_rebuilds_the_loss():
    from numpycnn import losses as L
    loss = SoftmaxCrossEntropy(weight=[1.0, 2.0], ignore_index=3, reduction="sum", label_smoothing=0.1)
    assert repr(loss) == ("SoftmaxCrossEntropy(weight=[1.0, 2.0], ignore_index=3, reduction='sum', "
                          "label_smoothing=0.1)")
    for again in (loss, NLLLoss(weight=[0.5, 1.0], reduction="none"), MulticlassHinge(2, 0.5, [1.0, 3.0], "sum")):
        assert repr(eval(repr(again), vars(L))) == repr(again)


def test_a_trainer_refuses_a_loss_that_does_not_reduce_the_batch():
    import numpycnn as nc
    model = nc.zoo.small_cnn(seed=0)
    with pytest.raises(ValueError, match="reduction='none'"):
        nc.Trainer(model, nc.optim.SGD(model), loss=SoftmaxCrossEntropy(reduction="none"))


@pytest.mark.parametrize("make", [SoftmaxCrossEntropy, NLLLoss, lambda: MulticlassHinge(p=1),
                                  lambda: MulticlassHinge(p=2)], ids=["ce", "nll", "hinge", "squared_hinge"])
def test_every_loss_backward_keeps_float32_logits_float32(make):
    rng = np.random.default_rng(0)
    z = rng.standard_normal((5, 4)).astype(np.float32)
    y = np.array([0, 1, 2, 3, 0])
    loss = make()
    loss.forward(z, y)
    assert loss.backward().dtype == np.float32


# -- NLL (after LogSoftmax), multiclass hinge and squared hinge ---------------------------------------------------------


def _scaled_batch(seed=0, N=6, K=5, scale=3.0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((N, K)) * scale, rng.integers(0, K, N)


def test_new_losses_are_registered_by_name():
    assert isinstance(get_loss("nll"), NLLLoss)
    assert get_loss("hinge").p == 1 and get_loss("squared_hinge").p == 2
    assert LAYER_TYPES["LogSoftmax"] is LogSoftmax
    assert {"cross_entropy", "nll", "hinge", "squared_hinge"} <= set(LOSSES)


@pytest.mark.parametrize("name", ["nll", "hinge", "squared_hinge"])
def test_loss_backward_matches_central_differences(name):
    z, y = _scaled_batch()
    if name == "nll":
        z = LogSoftmax().forward(z)
    result = check_loss(get_loss(name), z, y)
    assert result.passed, str(result)


def test_logsoftmax_then_nll_equals_softmax_cross_entropy_value_and_gradient():
    z, y = _scaled_batch(2)
    ls, nll, ce = LogSoftmax(), NLLLoss(), SoftmaxCrossEntropy()
    L1 = nll.forward(ls.forward(z), y)
    g1 = ls.backward(nll.backward())
    L2 = ce.forward(z, y)
    np.testing.assert_allclose(L1, L2, rtol=1e-14)
    np.testing.assert_allclose(g1, ce.backward(), atol=1e-15)


def test_losses_agree_with_pytorch_values_and_gradients():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    z, y = _scaled_batch(3, N=8, K=7)
    zt = torch.tensor(z, requires_grad=True)
    yt = torch.tensor(y)
    cases = [
        (NLLLoss(), LogSoftmax().forward(z), lambda t: F.nll_loss(t, yt)),
        (MulticlassHinge(p=1), z, lambda t: F.multi_margin_loss(t, yt, p=1, margin=1.0)),
        (MulticlassHinge(p=2), z, lambda t: F.multi_margin_loss(t, yt, p=2, margin=1.0)),
        (MulticlassHinge(p=1, margin=2.5), z, lambda t: F.multi_margin_loss(t, yt, p=1, margin=2.5)),
    ]
    for loss, inp, torch_fn in cases:
        t = torch.tensor(inp, requires_grad=True)
        Lt = torch_fn(t)
        Lt.backward()
        L = loss.forward(inp, y)
        np.testing.assert_allclose(L, Lt.item(), rtol=1e-12, err_msg=repr(loss))
        np.testing.assert_allclose(loss.backward(), t.grad.numpy(), atol=1e-14, err_msg=repr(loss))
    del zt


def test_losses_are_finite_and_exact_at_large_logits():
    z = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 3.0]])
    y = np.array([0, 2])
    logp = LogSoftmax().forward(z)
    assert np.all(np.isfinite(logp))
    L = NLLLoss().forward(logp, y)
    np.testing.assert_allclose(L, (0.0 + (1e4 - 3.0)) / 2, rtol=1e-12)
    h = MulticlassHinge(p=2)
    # row 0: true score 1e4 beats all by > margin -> 0; row 1: m = 1 - 3 + 1e4 for j=1, 0 for j=0
    np.testing.assert_allclose(h.forward(z, y), (1e4 - 2.0) ** 2 / 6, rtol=1e-12)
    assert np.all(np.isfinite(h.backward()))


@pytest.mark.parametrize("kwargs, word", [({"p": 3}, "p must be 1"), ({"margin": 0}, "margin must be"),
                                          ({"margin": "1"}, "margin must be")])
def test_hinge_bad_arguments_name_the_argument(kwargs, word):
    with pytest.raises(ValueError, match=word):
        MulticlassHinge(**kwargs)


def test_nll_rejects_labels_out_of_range_naming_labels():
    with pytest.raises(ValueError, match="labels y"):
        NLLLoss().forward(np.zeros((2, 3)), np.array([0, 3]))


@pytest.mark.parametrize("name", ["nll", "squared_hinge"])
def test_train_command_accepts_every_loss_and_saves_a_model_predict_can_use(tmp_path, name, capsys):
    from numpycnn.lab.cli import main
    from numpycnn.model import load_model
    out = tmp_path / name
    assert main(["train", "--dataset", "digits", "--train-limit", "200", "--test-limit", "50", "--epochs", "1",
                 "--loss", name, "--no-progress", "--out", str(out)]) == 0
    model = load_model(out / "model.npz")
    last = type(list(model.layers.values())[-1]).__name__
    assert (last == "LogSoftmax") == (name == "nll")
    assert model.metadata["dataset"]["name"] == "digits"


@pytest.mark.parametrize("loss", [NLLLoss(), MulticlassHinge(p=1), MulticlassHinge(p=2)], ids=repr)
def test_per_sample_losses_of_nll_and_hinge_follow_their_formulas_and_average_to_forward(loss):
    rng = np.random.default_rng(4)
    z, y = rng.standard_normal((6, 5)), rng.integers(0, 5, 6)
    if isinstance(loss, NLLLoss):                  # -z[n, y_n]: z are log-probabilities
        want = [-z[n, y[n]] for n in range(6)]
    else:                                          # (1/K) Σ_{j≠y} max(0, 1 + z_j − z_y)^p, by loops
        want = [sum(max(0.0, 1 + z[n, j] - z[n, y[n]]) ** loss.p for j in range(5) if j != y[n]) / 5
                for n in range(6)]
    np.testing.assert_allclose(loss.per_sample(z, y), want, rtol=1e-13)
    assert loss.per_sample(z, y).mean() == pytest.approx(loss.forward(z, y), rel=1e-14)


def test_every_loss_repr_rebuilds_it():
    from numpycnn import losses as L
    for loss in (SoftmaxCrossEntropy(), NLLLoss(), MulticlassHinge(p=2, margin=0.5)):
        again = eval(repr(loss), vars(L))
        assert type(again) is type(loss) and repr(again) == repr(loss)


# -- bad input: the losses and their labels ------------------------------------------------------------------------
#: one row per bad input, in the format of ``BAD_INPUT_FIELDS`` (tests/conftest.py)
BAD_INPUTS = [
    ("loss_of_an_empty_batch", lambda t: SoftmaxCrossEntropy().forward(np.zeros((0, 4)), np.zeros(0, np.int64)),
     ShapeError, ["at least one row", "(0, 4)"]),
    ("labels_out_of_range", lambda t: SoftmaxCrossEntropy().forward(np.zeros((3, 4)), np.array([0, 1, 4])),
     ValueError, ["labels y", "[0, 3]", "4"]),
    ("labels_negative", lambda t: SoftmaxCrossEntropy().forward(np.zeros((3, 4)), np.array([0, -1, 2])),
     ValueError, ["labels y", "-1"]),
    ("labels_wrong_length", lambda t: SoftmaxCrossEntropy().forward(np.zeros((3, 4)), np.array([0, 1])),
     ShapeError, ["labels y", "(3,)", "(2,)"]),
    ("labels_not_integers", lambda t: SoftmaxCrossEntropy().forward(np.zeros((3, 4)), np.array([0.0, 1.0, 2.0])),
     TypeError, ["labels y", "integers", "float64"]),
    ("loss_unknown_reduction", lambda t: SoftmaxCrossEntropy(reduction="avg"), ValueError,
     ["reduction", "'mean', 'sum', 'none'", "'avg'"]),
    ("hinge_unknown_reduction", lambda t: nc.losses.MulticlassHinge(reduction="max"), ValueError,
     ["MulticlassHinge", "reduction", "'max'"]),
    ("label_smoothing_above_one", lambda t: SoftmaxCrossEntropy(label_smoothing=1.5), ValueError,
     ["label_smoothing", "[0, 1]", "1.5"]),
    ("class_weights_of_the_wrong_length",
     lambda t: SoftmaxCrossEntropy(weight=[1, 2]).forward(np.zeros((2, 3)), np.array([0, 1])), ValueError,
     ["weight has 2 entries", "K = 3"]),
    ("class_weight_negative", lambda t: SoftmaxCrossEntropy(weight=[1, -2]), ValueError, ["weight", ">= 0", "-2"]),
    ("ignore_index_not_an_integer", lambda t: nc.losses.NLLLoss(ignore_index=1.5), TypeError,
     ["ignore_index", "integer", "1.5"]),
]


@pytest.mark.parametrize(BAD_INPUT_FIELDS, bad_input_cases(BAD_INPUTS))
def test_bad_input_raises_the_documented_error_naming_the_argument(call, exc, needles, tmp_path):
    assert_bad_input(call, exc, needles, tmp_path)
