"""Data augmentation: shapes and dtype kept, the input untouched, the same views for the same seed, identity
when off, shifts that move the image by at most s pixels, flips that mirror, and its use in training."""
import numpy as np
import pytest

import numpycnn as nc
from numpycnn.augment import Augment, parse_augment


def batch(N=6, C=2, H=7, W=5, dtype=np.float32):
    return np.random.default_rng(0).standard_normal((N, C, H, W)).astype(dtype)


@pytest.mark.parametrize("aug", [Augment(2), Augment(0, flip=True), Augment(3, flip=True, fill=0.0)])
def test_shape_and_dtype_are_kept_and_the_input_is_never_written(aug):
    x = batch()
    x.flags.writeable = False
    out = aug(x, np.random.default_rng(1))
    assert out.shape == x.shape and out.dtype == x.dtype and out is not x
    assert aug(batch(dtype=np.float64), np.random.default_rng(1)).dtype == np.float64


def test_the_same_generator_seed_gives_the_same_views_and_another_seed_others():
    x, aug = batch(N=32), Augment(2, flip=True)
    a, b = aug(x, np.random.default_rng(5)), aug(x, np.random.default_rng(5))
    c = aug(x, np.random.default_rng(6))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_no_shift_and_no_flip_is_the_identity():
    x = batch()
    np.testing.assert_array_equal(Augment(0, flip=False)(x, np.random.default_rng(0)), x)
    assert parse_augment(None) is None and parse_augment("none") is None


def test_a_shift_moves_each_image_by_at_most_s_pixels_and_fills_with_the_minimum():
    x = np.zeros((20, 1, 9, 9))
    x[:, :, 4, 4] = 1.0                                   # one bright pixel in the middle, background 0
    out = Augment(2)(x, np.random.default_rng(3))
    for img in out[:, 0]:
        (r,), (c,) = np.nonzero(img == 1.0)[0], np.nonzero(img == 1.0)[1]
        assert abs(r - 4) <= 2 and abs(c - 4) <= 2 and img.sum() == 1.0
    assert len({tuple(np.argwhere(img == 1.0)[0]) for img in out[:, 0]}) > 1


def test_a_shift_is_a_crop_of_the_padded_image_at_the_offsets_drawn_first_from_the_generator():
    x, s = batch(N=8, C=2, H=6, W=5), 2
    out = Augment(s)(x, np.random.default_rng(7))
    dy, dx = np.random.default_rng(7).integers(0, 2 * s + 1, size=(2, 8))     # the documented draw
    for n in range(8):
        padded = np.pad(x[n], ((0, 0), (s, s), (s, s)), constant_values=x[n].min())
        np.testing.assert_array_equal(out[n], padded[:, dy[n]:dy[n] + 6, dx[n]:dx[n] + 5])


def test_a_flip_mirrors_left_right():
    x = batch(N=40)
    out = Augment(0, flip=True)(x, np.random.default_rng(2))
    mirrored = [np.array_equal(o, i[..., ::-1]) for o, i in zip(out, x)]
    same = [np.array_equal(o, i) for o, i in zip(out, x)]
    assert all(m or s for m, s in zip(mirrored, same)) and 5 < sum(mirrored) < 35


@pytest.mark.parametrize("text, word", [("shift:x", "pixels"), ("rotate", "shift:PIXELS"), ("flip:1", "flip")])
def test_bad_augment_text_says_what_is_expected(text, word):
    with pytest.raises(ValueError, match=word):
        parse_augment(text)


def test_trainer_trains_on_views_and_a_resumed_run_sees_the_same_views(tmp_path):
    data = nc.datasets.load_dataset("digits", seed=0, train_limit=300)

    def trainer(path=None):
        model = nc.zoo.small_cnn(data.input_shape, width=4, seed=0)
        return nc.Trainer(model, nc.optim.SGD(model, lr=0.05), seed=1, batch_size=32, progress=False,
                          augment=Augment(1), checkpoint_path=path)

    straight = trainer()
    straight.fit(data.train, epochs=2)
    first = trainer(tmp_path / "c.npz")
    first.fit(data.train, epochs=1)
    again = trainer(tmp_path / "c.npz").load_checkpoint(tmp_path / "c.npz")
    again.fit(data.train, epochs=2)
    for (n, p, _), (_, q, _) in zip(straight.model.named_parameters(), again.model.named_parameters()):
        np.testing.assert_array_equal(p, q, err_msg=n)
    plain = nc.zoo.small_cnn(data.input_shape, width=4, seed=0)
    nc.Trainer(plain, nc.optim.SGD(plain, lr=0.05), seed=1, batch_size=32, progress=False).fit(data.train, epochs=2)
    assert not np.array_equal(plain["conv1"].params["W"], straight.model["conv1"].params["W"])


def test_train_command_accepts_augment(tmp_path):
    from numpycnn.lab.cli import main
    assert main(["train", "--epochs", "1", "--augment", "shift:1", "--no-progress", "--out", str(tmp_path)]) == 0
