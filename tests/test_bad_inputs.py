"""Bad input gets a clear error: the documented exception type, and a message naming the
offending argument (or layer), the value given and what was expected.

One row per case: (id, callable, expected exception type, substrings the message must contain).
Techniques add their rows in TECHNIQUE_CASES below.
"""
import numpy as np
import pytest

import numpycnn as nc
from numpycnn import AvgPool2D, Conv2D, Dense, MaxPool2D, Sequential, SoftmaxCrossEntropy
from numpycnn.datasets import Dataset, load_dataset, read_idx
from numpycnn.errors import CheckpointError, DataFormatError, ShapeError
from numpycnn.optim import SGD, Adam, RMSprop, make_optimizer
from numpycnn.training import batch_indices

F32 = np.float32


def lenet():
    return nc.zoo.lenet5(seed=0)


def img(shape, dtype=F32):
    return np.zeros(shape, dtype=dtype)


def _fit(model, x, y, **kw):
    return nc.Trainer(model, Adam(model), progress=False).fit(Dataset(x, y), **kw)


def _write(tmp_path, name, data):
    p = tmp_path / name
    p.write_bytes(data)
    return p


CORE_CASES = [
    ("conv_input_without_channel_axis", lambda t: Conv2D(1, 2, 3, name="conv1").forward(img((2, 5, 5))),
     ShapeError, ["conv1", "(2, 5, 5)", "(N, C, H, W)", "channel axis"]),
    ("conv_channel_mismatch", lambda t: Conv2D(1, 2, 3, name="conv1").forward(img((2, 3, 5, 5))),
     ShapeError, ["conv1", "1 channels", "(2, 3, 5, 5)"]),
    ("conv_kernel_larger_than_padded_input", lambda t: Conv2D(1, 2, 7, name="c").forward(img((2, 1, 5, 5))),
     ShapeError, ["'c'", "kernel size 7", "padded input size 5"]),
    ("conv_non_integer_stride", lambda t: Conv2D(1, 2, 3, stride=1.5), TypeError, ["stride", "1.5"]),
    ("conv_zero_stride", lambda t: Conv2D(1, 2, 3, stride=0), ValueError, ["stride", ">= 1", "0"]),
    ("conv_negative_pad", lambda t: Conv2D(1, 2, 3, pad=-1), ValueError, ["pad", "-1"]),
    ("conv_zero_filters", lambda t: Conv2D(1, 0, 3), ValueError, ["out_channels", "0"]),
    ("conv_integer_images", lambda t: Conv2D(1, 2, 3).forward(img((2, 1, 5, 5), np.uint8)),
     TypeError, ["floating", "uint8", "astype"]),
    ("conv_list_input", lambda t: Conv2D(1, 2, 3).forward([[1.0]]), TypeError, ["numpy array", "list"]),
    ("maxpool_2d_input", lambda t: MaxPool2D(2, name="pool1").forward(np.zeros((5, 5))),
     ShapeError, ["pool1", "(5, 5)", "4 dimensions"]),
    ("maxpool_window_larger_than_input", lambda t: MaxPool2D(7).forward(np.zeros((1, 1, 5, 5))),
     ShapeError, ["MaxPool2D", "kernel size 7"]),
    ("avgpool_pad_too_large", lambda t: AvgPool2D(2, pad=2), ValueError, ["pad", "kernel_size // 2", "2"]),
    ("dense_wrong_features", lambda t: Dense(4, 2, name="fc1").forward(img((3, 5))),
     ShapeError, ["fc1", "(N, 4)", "(3, 5)", "Flatten"]),
    ("dense_float_features", lambda t: Dense(4.0, 2), TypeError, ["in_features", "4.0"]),
    ("model_missing_channel_axis", lambda t: lenet().forward(img((2, 28, 28))),
     ShapeError, ["(N, 1, 28, 28)", "(2, 28, 28)", "channel axis"]),
    ("model_single_sample_without_batch_axis", lambda t: lenet().forward(img((1, 28, 28))),
     ShapeError, ["(N, 1, 28, 28)", "batch axis"]),
    ("model_integer_images", lambda t: lenet().forward(img((2, 1, 28, 28), np.uint8)), TypeError, ["uint8", "/ 255"]),
    ("model_nan_input", lambda t: lenet().forward(np.full((2, 1, 28, 28), np.nan, F32)), ValueError, ["NaN", "index"]),
    ("model_inf_input", lambda t: lenet().forward(np.full((2, 1, 28, 28), np.inf, F32)), ValueError, ["inf"]),
    ("model_empty_batch", lambda t: lenet().forward(img((0, 1, 28, 28))), ValueError, ["empty", "N = 0"]),
    ("model_unknown_layer_name", lambda t: lenet()["conv9"], KeyError, ["conv9", "conv1"]),
    ("sequential_duplicate_name", lambda t: Sequential([("a", nc.ReLU()), ("a", nc.ReLU())], input_shape=(3,)),
     ValueError, ["duplicate", "'a'"]),
    ("sequential_shape_mismatch", lambda t: Sequential([("fc1", Dense(3, 2)), ("fc2", Dense(3, 2))], input_shape=(3,)),
     ShapeError, ["fc2", "(3,)", "(2,)"]),
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
    ("evaluate_labels_wrong_length", lambda t: lenet().evaluate(img((2, 1, 28, 28)), np.array([1])),
     ShapeError, ["labels y", "(2,)", "(1,)"]),
    ("dataset_labels_length_mismatch", lambda t: Dataset(img((3, 1, 8, 8)), np.zeros(2, np.int64)),
     ShapeError, ["3", "2"]),
    ("fit_empty_dataset", lambda t: _fit(lenet(), img((0, 1, 28, 28)), np.zeros(0, np.int64)), ValueError, ["empty"]),
    ("fit_zero_epochs", lambda t: _fit(lenet(), img((2, 1, 28, 28)), np.zeros(2, np.int64), epochs=0),
     ValueError, ["epochs", "0"]),
    ("fit_integer_images", lambda t: _fit(lenet(), img((2, 1, 28, 28), np.uint8), np.zeros(2, np.int64)),
     TypeError, ["uint8"]),
    ("trainer_zero_batch_size", lambda t: nc.Trainer(lenet(), Adam(lenet()), batch_size=0), ValueError,
     ["batch_size", "0"]),
    ("adam_negative_lr", lambda t: Adam(lenet(), lr=-1), ValueError, ["lr", "-1"]),
    ("adam_nan_lr", lambda t: Adam(lenet(), lr=float("nan")), ValueError, ["lr", "nan"]),
    ("adam_beta_one", lambda t: Adam(lenet(), betas=(1.0, 0.9)), ValueError, ["betas[0]", "1.0"]),
    ("rmsprop_alpha_above_one", lambda t: RMSprop(lenet(), alpha=1.5), ValueError, ["alpha", "1.5"]),
    ("sgd_nesterov_without_momentum", lambda t: SGD(lenet(), 0.1, nesterov=True), ValueError, ["nesterov", "momentum"]),
    ("optimizer_given_a_list", lambda t: SGD([1, 2], lr=0.1), TypeError, ["named_parameters", "list"]),
    ("unknown_optimizer", lambda t: make_optimizer("adagrad", lenet()), ValueError, ["optimizer", "adagrad", "adam"]),
    ("unknown_dataset", lambda t: load_dataset("imagenet"), ValueError, ["imagenet", "digits"]),
    ("val_fraction_above_one", lambda t: load_dataset("digits", val_fraction=1.5), ValueError, ["val_fraction", "1.5"]),
    ("train_limit_zero", lambda t: load_dataset("digits", train_limit=0), ValueError, ["train_limit", "0"]),
    ("batch_indices_zero_batch", lambda t: batch_indices(10, 0), ValueError, ["batch_size", "0"]),
    ("unknown_model", lambda t: nc.zoo.build_model("resnet", (1, 28, 28)), ValueError, ["model", "resnet", "lenet5"]),
    ("lenet_on_8x8_digits", lambda t: nc.zoo.lenet5((1, 8, 8)), ShapeError, ["lenet5", "12x12", "small_cnn"]),
    ("plain_cnn_zero_depth", lambda t: nc.zoo.plain_cnn(depth=0), ValueError, ["depth", "0"]),
    ("unknown_activation", lambda t: nc.layers.activation("gelu"), ValueError, ["activation", "gelu", "relu"]),
    ("initializer_with_seed_not_generator", lambda t: nc.init.he_normal((3, 3), rng=0), TypeError,
     ["rng", "Generator", "int"]),
    ("mask_of_wrong_shape", lambda t: lenet()["conv1"].set_mask("W", np.ones((2, 2))), ShapeError,
     ["conv1", "(6, 1, 5, 5)", "(2, 2)"]),
    ("idx_truncated", lambda t: read_idx(_write(t, "trunc-idx1-ubyte", b"\x00\x00\x08\x01\x00\x00\x00\x05ab")),
     DataFormatError, ["trunc-idx1-ubyte", "5"]),
    ("idx_wrong_magic", lambda t: read_idx(_write(t, "bad-idx1-ubyte", b"\x12\x34\x08\x01\x00\x00\x00\x01a")),
     DataFormatError, ["bad-idx1-ubyte", "magic"]),
    ("model_file_garbage", lambda t: nc.model.load_model(_write(t, "model.npz", b"not a zip file at all")),
     CheckpointError, ["model.npz", "corrupted"]),
    ("model_file_missing", lambda t: nc.model.load_model(t / "nope.npz"), FileNotFoundError, ["nope.npz"]),
    # PyTorch's options (issue 36)
    ("conv_groups_not_dividing_the_channels", lambda t: Conv2D(4, 6, 3, groups=4, name="c"), ValueError,
     ["'c'", "groups must divide", "in_channels (4)", "out_channels (6)", "groups=4"]),
    ("conv_dilation_leaving_no_output", lambda t: Conv2D(1, 2, 3, dilation=3, name="c").forward(img((1, 1, 5, 5))),
     ShapeError, ["'c'", "dilation 3", "spans 7", "padded input size 5"]),
    ("conv_non_square_kernel_larger_than_padded_input",
     lambda t: Conv2D(1, 2, (3, 7), pad=(1, 0), name="c").forward(img((1, 1, 5, 5))),
     ShapeError, ["'c'", "width", "kernel size 7", "padded input size 5"]),
    ("conv_pad_same_with_stride", lambda t: Conv2D(1, 2, 3, stride=2, pad="same"), ValueError,
     ["pad='same'", "stride 1", "stride=2"]),
    ("conv_unknown_pad_word", lambda t: Conv2D(1, 2, 3, pad="full"), ValueError,
     ["pad must be", "'same'", "'valid'", "'full'"]),
    ("conv_zero_dilation", lambda t: Conv2D(1, 2, 3, dilation=0), ValueError, ["dilation", ">= 1", "0"]),
    ("conv_stride_of_three_values", lambda t: Conv2D(1, 2, 3, stride=(1, 2, 3)), ValueError,
     ["stride", "pair (height, width)", "(1, 2, 3)"]),
    ("conv_bias_not_a_bool", lambda t: Conv2D(1, 2, 3, bias=0), TypeError, ["bias", "True or False", "0"]),
    ("conv_pad_and_padding_both_given", lambda t: Conv2D(1, 2, 3, pad=1, padding=2), TypeError,
     ["pad or padding", "pad=1", "padding=2"]),
    ("maxpool_dilation_leaving_no_output", lambda t: MaxPool2D(3, dilation=4, name="p").forward(img((1, 1, 6, 6))),
     ShapeError, ["'p'", "dilation 4", "spans 9", "padded input size 6"]),
    ("maxpool_dilated_window_reading_only_padding",
     lambda t: MaxPool2D((2, 1), 1, (1, 0), dilation=2, name="p").forward(img((1, 1, 1, 8))), ShapeError,
     ["'p'", "height", "window 0 reads only padding", "dilation 2"]),
    ("maxpool_pad_above_half_the_kernel_on_one_axis", lambda t: MaxPool2D((2, 4), pad=(1, 3)), ValueError,
     ["pad", "kernel_size // 2", "(1, 2)", "(1, 3)"]),
    ("maxpool_ceil_mode_not_a_bool", lambda t: MaxPool2D(2, ceil_mode="yes"), TypeError, ["ceil_mode", "'yes'"]),
    ("avgpool_count_include_pad_not_a_bool", lambda t: AvgPool2D(2, count_include_pad=None), TypeError,
     ["count_include_pad", "True or False", "None"]),
    ("adaptive_output_size_not_dividing_the_input",
     lambda t: nc.AdaptiveAvgPool2D(3, name="gap").forward(img((1, 1, 8, 8))), ShapeError,
     ["'gap'", "output_size (3, 3)", "divide", "(8, 8)"]),
    ("adaptive_output_size_zero", lambda t: nc.AdaptiveMaxPool2D(0), ValueError, ["output_size", ">= 1", "0"]),
    ("dense_bias_not_a_bool", lambda t: Dense(3, 2, bias="no"), TypeError, ["bias", "True or False", "'no'"]),
    ("layernorm_input_not_ending_with_its_shape", lambda t: nc.LayerNorm((3, 4), name="ln").forward(img((2, 3, 5))),
     ShapeError, ["'ln'", "normalized_shape (3, 4)", "(2, 3, 5)"]),
    ("groupnorm_groups_not_dividing_the_channels", lambda t: nc.GroupNorm(3, 4), ValueError,
     ["num_groups must divide", "num_channels (4)", "num_groups=3"]),
    ("groupnorm_channel_mismatch", lambda t: nc.GroupNorm(2, 4, name="gn").forward(img((2, 3, 4, 4))), ShapeError,
     ["'gn'", "4 channels", "(2, 3, 4, 4)"]),
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
    ("trainer_with_a_loss_that_does_not_reduce",
     lambda t: nc.Trainer(lenet(), SGD(lenet()), loss=SoftmaxCrossEntropy(reduction="none")), ValueError,
     ["Trainer", "reduction 'mean' or 'sum'", "reduction='none'"]),
    ("sgd_nesterov_with_dampening", lambda t: SGD(lenet(), 0.1, momentum=0.9, nesterov=True, dampening=0.1),
     ValueError, ["nesterov=True", "dampening 0", "0.1"]),
    ("sgd_dampening_above_one", lambda t: SGD(lenet(), 0.1, dampening=1.5), ValueError, ["dampening", "[0, 1]", "1.5"]),
    ("adam_amsgrad_not_a_bool", lambda t: Adam(lenet(), amsgrad=1), TypeError, ["amsgrad", "True or False", "1"]),
    ("rmsprop_negative_momentum", lambda t: RMSprop(lenet(), momentum=-1), ValueError, ["RMSprop", "momentum", "-1"]),
    ("rmsprop_centered_not_a_bool", lambda t: RMSprop(lenet(), centered="yes"), TypeError, ["centered", "'yes'"]),
    ("adamw_negative_weight_decay", lambda t: nc.optim.AdamW(lenet(), weight_decay=-0.1), ValueError,
     ["AdamW", "weight_decay", "-0.1"]),
]

#: rows added by the techniques (A-E): same format
TECHNIQUE_CASES = []


@pytest.mark.parametrize("case_id, call, exc, needles", CORE_CASES + TECHNIQUE_CASES,
                         ids=[c[0] for c in CORE_CASES + TECHNIQUE_CASES])
def test_bad_input_raises_documented_error_naming_the_argument(case_id, call, exc, needles, tmp_path):
    with pytest.raises(exc) as info:
        call(tmp_path)
    message = str(info.value)
    missing = [n for n in needles if n not in message]
    assert not missing, f"message {message!r} lacks {missing}"


def test_there_are_at_least_forty_bad_input_cases():
    assert len(CORE_CASES + TECHNIQUE_CASES) >= 40
