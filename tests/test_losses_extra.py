"""NLL (after LogSoftmax), multiclass hinge and squared hinge: gradients, PyTorch agreement, stability."""
import numpy as np
import pytest

from numpycnn.gradcheck import check_layer, check_loss
from numpycnn.layers import LAYER_TYPES, LogSoftmax
from numpycnn.losses import LOSSES, MulticlassHinge, NLLLoss, SoftmaxCrossEntropy, get_loss


def _batch(seed=0, N=6, K=5, scale=3.0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((N, K)) * scale, rng.integers(0, K, N)


def test_new_losses_are_registered_by_name():
    assert isinstance(get_loss("nll"), NLLLoss)
    assert get_loss("hinge").p == 1 and get_loss("squared_hinge").p == 2
    assert LAYER_TYPES["LogSoftmax"] is LogSoftmax
    assert {"cross_entropy", "nll", "hinge", "squared_hinge"} <= set(LOSSES)


@pytest.mark.parametrize("name", ["nll", "hinge", "squared_hinge"])
def test_loss_backward_matches_central_differences(name):
    z, y = _batch()
    if name == "nll":
        z = LogSoftmax().forward(z)
    result = check_loss(get_loss(name), z, y)
    assert result.passed, str(result)


def test_logsoftmax_backward_matches_central_differences():
    z, _ = _batch(1)
    result = check_layer(LogSoftmax(), z)
    assert result.passed, str(result)


def test_logsoftmax_then_nll_equals_softmax_cross_entropy_value_and_gradient():
    z, y = _batch(2)
    ls, nll, ce = LogSoftmax(), NLLLoss(), SoftmaxCrossEntropy()
    L1 = nll.forward(ls.forward(z), y)
    g1 = ls.backward(nll.backward())
    L2 = ce.forward(z, y)
    np.testing.assert_allclose(L1, L2, rtol=1e-14)
    np.testing.assert_allclose(g1, ce.backward(), atol=1e-15)


def test_losses_agree_with_pytorch_values_and_gradients():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    z, y = _batch(3, N=8, K=7)
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


def test_with_log_softmax_appends_once_and_keeps_metadata():
    from numpycnn.model import with_log_softmax
    from numpycnn.zoo import build_model
    m = build_model("small_cnn", (1, 8, 8), 10)
    m.metadata = {"dataset": {"name": "digits"}}
    m2 = with_log_softmax(m)
    assert list(m2.layers)[-1] == "log_softmax" and m2.metadata == m.metadata
    assert with_log_softmax(m2) is m2
    x = np.random.default_rng(0).standard_normal((2, 1, 8, 8)).astype(np.float32)
    np.testing.assert_allclose(np.exp(m2.predict_logits(x)).sum(axis=1), 1, rtol=1e-5)


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
