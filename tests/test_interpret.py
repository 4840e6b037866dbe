"""Gradients with respect to the input and occlusion maps: right against central differences (float64) and
PyTorch autograd, computed in evaluation mode, per image, and leaving the images and the model as they were."""
import numpy as np
import pytest

from numpycnn.dropout import Dropout, Dropout2D
from numpycnn.functional import softmax
from numpycnn.gradcheck import numerical_gradient, relative_error
from numpycnn.interpret import input_gradient, occlusion_map
from numpycnn.layers import Conv2D, Dense, Flatten, MaxPool2D, ReLU
from numpycnn.model import Sequential
from numpycnn.normalization import BatchNorm2D
from numpycnn.residual import ResidualBlock

N, K = 4, 5


def conv_net(dtype=np.float64, seed=0):
    """conv → ReLU → max pool → dense: the kinds of layer a saliency map goes back through."""
    rng = np.random.default_rng(seed)
    return Sequential([("conv1", Conv2D(2, 4, 3, pad=1, rng=rng, dtype=dtype)), ("relu1", ReLU()),
                       ("pool1", MaxPool2D(2)), ("flat", Flatten()), ("fc", Dense(4 * 3 * 3, K, rng=rng, dtype=dtype))],
                      input_shape=(2, 6, 6))


def regularised_net(dtype=np.float64, seed=0):
    """BatchNorm, a residual block and both Dropouts — layers that act differently in training mode — with
    running statistics moved away from 0 and 1 by a few training-mode passes."""
    rng = np.random.default_rng(seed)
    block = ResidualBlock([("conv1", Conv2D(4, 4, 3, pad=1, rng=rng, dtype=dtype)), ("relu1", ReLU()),
                           ("conv2", Conv2D(4, 4, 3, pad=1, rng=rng, dtype=dtype))])
    model = Sequential([("conv1", Conv2D(2, 4, 3, pad=1, rng=rng, dtype=dtype)), ("bn1", BatchNorm2D(4, dtype=dtype)),
                        ("relu1", ReLU()), ("res1", block), ("drop1", Dropout2D(0.3, seed=1)), ("flat", Flatten()),
                        ("fc1", Dense(4 * 6 * 6, 16, rng=rng, dtype=dtype)), ("relu2", ReLU()),
                        ("drop2", Dropout(0.5, seed=2)), ("fc2", Dense(16, K, rng=rng, dtype=dtype))],
                       input_shape=(2, 6, 6))
    model["bn1"].params["gamma"] = rng.uniform(0.5, 2.0, 4).astype(dtype)
    for _ in range(3):
        model.forward(rng.standard_normal((8, 2, 6, 6)).astype(dtype) * 2 + 1)
    return model


def images(dtype=np.float64, seed=1):
    return np.random.default_rng(seed).standard_normal((N, 2, 6, 6)).astype(dtype)


def summed(model, x, t, of):
    """The quantity input_gradient differentiates, computed forward only, in evaluation mode."""
    with model.evaluation_mode():
        z = model.forward(x)
    if of == "score":
        return float(z[np.arange(len(t)), t].sum())
    return float(-np.log(softmax(z)[np.arange(len(t)), t]).sum())


@pytest.mark.parametrize("of", ["score", "loss"])
@pytest.mark.parametrize("build", [conv_net, regularised_net], ids=["conv", "bn_dropout_residual"])
def test_input_gradient_matches_central_differences_in_float64(build, of):
    model, x, t = build(), images(), np.array([0, 3, 1, 4])
    analytic = input_gradient(model, x, t, of=of)
    numeric = numerical_gradient(lambda: summed(model, x, t, of), x)
    assert analytic.shape == x.shape
    assert relative_error(analytic, numeric) < 1e-8


@pytest.mark.parametrize("of", ["score", "loss"])
@pytest.mark.parametrize("build", [conv_net, regularised_net], ids=["conv", "bn_dropout_residual"])
def test_input_gradient_matches_pytorch_autograd_in_float64(build, of):
    torch = pytest.importorskip("torch")
    from numpycnn.export import to_torch
    model, x, t = build(), images(), np.array([2, 2, 0, 1])
    xt = torch.from_numpy(x.copy()).requires_grad_(True)
    z = to_torch(model)(xt)                                      # an eval-mode module
    tt = torch.from_numpy(t)
    s = z[torch.arange(N), tt].sum() if of == "score" else torch.nn.functional.cross_entropy(z, tt, reduction="sum")
    s.backward()
    np.testing.assert_allclose(input_gradient(model, x, t, of=of), xt.grad.numpy(), rtol=0, atol=1e-10)


def test_each_row_is_the_gradient_of_its_own_image_whatever_else_is_in_the_batch():
    model, x = regularised_net(), images()
    batch = input_gradient(model, x, 3)
    for n in range(N):
        np.testing.assert_allclose(input_gradient(model, x[n:n + 1], [3])[0], batch[n], rtol=0, atol=1e-12)
    np.testing.assert_array_equal(input_gradient(model, x, np.full(N, 3)), batch)     # one int = that class for all


def test_input_gradient_runs_in_evaluation_mode_and_restores_each_layers_mode_and_buffers():
    model, x = regularised_net(), images()
    model["drop2"].training = False                              # a mixed state, to be given back as it was
    buffers = {k: np.copy(v) for k, v in model.state_dict().items()}
    first = input_gradient(model, x, 1)
    again = input_gradient(model, x, 1)                          # training-mode Dropout would draw new masks
    np.testing.assert_array_equal(first, again)
    assert [layer.training for layer in model.layers.values()] == [n != "drop2" for n in model.layers]
    for k, v in model.state_dict().items():                      # running statistics, Dropout's draw counters
        np.testing.assert_array_equal(v, buffers[k], err_msg=k)


def test_input_gradient_leaves_the_images_and_the_parameter_gradients_as_they_were():
    model, x = conv_net(), images()
    x.flags.writeable = False
    grads = {name: g for name, _, g in model.named_parameters()}
    copies = {name: g.copy() for name, g in grads.items()}
    input_gradient(model, x, 0, of="loss")
    for name, _, g in model.named_parameters():
        assert g is grads[name]
        np.testing.assert_array_equal(g, copies[name], err_msg=name)


def test_hooks_do_not_change_the_input_gradient_and_are_kept():
    model, x = conv_net(), images()
    plain = input_gradient(model, x, 2)
    model.add_backward_hook("relu1", lambda g: 2 * g)            # e.g. a branch adding its own gradient
    np.testing.assert_array_equal(input_gradient(model, x, 2), plain)
    assert len(model.backward_hooks["relu1"]) == 1


def test_input_gradient_keeps_the_models_dtype():
    model = conv_net(np.float32)
    assert input_gradient(model, images(np.float32), 0).dtype == np.float32
    assert input_gradient(model, images(np.float64), 0).dtype == np.float32


@pytest.mark.parametrize("target, error, words", [
    (K, ValueError, "target"), ([0, 1], Exception, "target"), (1.0, TypeError, "target must be a class index"),
    (True, TypeError, "target must be a class index")])
def test_a_bad_target_is_an_error_naming_it(target, error, words):
    with pytest.raises(error, match=words):
        input_gradient(conv_net(), images(), target)


def test_an_unknown_quantity_is_an_error_naming_the_choices():
    with pytest.raises(ValueError, match=r"of must be one of \['score', 'loss'\]"):
        input_gradient(conv_net(), images(), 0, of="logit")


def linear_model(pixel=(2, 3)):
    """A dense model on 1×5×5 images whose class 0 logit is 4·(value of one pixel) and whose other logits are 0."""
    model = Sequential([("flat", Flatten()), ("fc", Dense(25, 3, dtype=np.float64))], input_shape=(1, 5, 5))
    W = np.zeros((3, 25))
    W[0, pixel[0] * 5 + pixel[1]] = 4.0
    model["fc"].params["W"], model["fc"].params["b"] = W, np.zeros(3)
    return model


def test_occlusion_map_by_hand_only_patches_covering_the_pixel_the_class_reads_lower_its_probability():
    model = linear_model(pixel=(2, 3))
    x = np.zeros((1, 1, 5, 5))
    x[0, 0, 2, 3] = 1.0                                          # p_0 = e^4 / (e^4 + 2)
    out = occlusion_map(model, x, 0, size=2, stride=1, fill=0.0)
    assert out.shape == (1, 4, 4)
    drop = np.exp(4) / (np.exp(4) + 2) - 1 / 3                   # covered: every logit 0, p_0 = 1/3
    expected = np.zeros((4, 4))
    expected[1:3, 2:4] = drop                                    # patches with rows i..i+1 ∋ 2 and cols j..j+1 ∋ 3
    np.testing.assert_allclose(out[0], expected, rtol=0, atol=1e-12)


def test_occlusion_map_size_stride_and_default_fill_follow_the_docstring():
    model, x = conv_net(), images()
    out = occlusion_map(model, x, [0, 1, 2, 3], size=3, stride=2)
    assert out.shape == (N, 2, 2)                                # (6 − 3) // 2 + 1
    covered = x.copy()
    covered[1, :, 2:5, 0:3] = x[1].min()                         # image 1, patch (i, j) = (1, 0)
    p = softmax(model.predict_logits(x))[1, 1] - softmax(model.predict_logits(covered))[1, 1]
    assert out[1, 1, 0] == pytest.approx(p, abs=1e-12)


def test_occlusion_map_leaves_the_images_and_each_layers_mode_as_they_were():
    model, x = regularised_net(), images()
    x.flags.writeable = False
    before = [layer.training for layer in model.layers.values()]
    first = occlusion_map(model, x, 0, size=2, stride=2)
    np.testing.assert_array_equal(occlusion_map(model, x, 0, size=2, stride=2), first)     # evaluation mode
    assert [layer.training for layer in model.layers.values()] == before


def test_an_occlusion_patch_larger_than_the_image_is_an_error_naming_size():
    with pytest.raises(ValueError, match="size must be at most the image's height and width 6; got 7"):
        occlusion_map(conv_net(), images(), 0, size=7)
