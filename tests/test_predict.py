"""predict_images / `predict` and `evaluate` commands: image files classified like the arrays they hold."""
import numpy as np
import pytest
from PIL import Image

from numpycnn.lab.cli import main
from numpycnn.datasets import load_dataset
from numpycnn.errors import ShapeError
from numpycnn.model import save_model
from numpycnn.predict import load_image, predict_images, preprocess
from numpycnn.zoo import build_model


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", test_limit=40)


@pytest.fixture(scope="module")
def model(digits):
    m = build_model("small_cnn", digits.input_shape, 10, seed=3)
    m.metadata = {"dataset": digits.metadata()}
    return m


def _to_uint8(x, meta):
    """Undo the training normalisation: model input (H, W) -> image bytes (H, W) in [0, 255]."""
    return np.clip(np.round((x * meta["std"] + meta["mean"]) * 255), 0, 255).astype(np.uint8)


def test_digit_png_gets_the_same_class_as_model_predict_on_its_array(tmp_path, digits, model):
    meta = digits.metadata()
    paths, xs = [], []
    for i in range(20):
        img = _to_uint8(digits.test.x[i, 0], meta)
        Image.fromarray(img).save(tmp_path / f"d{i:02d}.png")
        paths.append(str(tmp_path / f"d{i:02d}.png"))
        xs.append((img / 255.0 - meta["mean"]) / meta["std"])
    x = np.array(xs, dtype=np.float32)[:, None]
    assert np.abs(x - digits.test.x[:20]).max() <= 0.5 / 255 / meta["std"] + 1e-6   # only 8-bit rounding
    results = predict_images(model, paths, top_k=3)
    assert [r["label"] for r in results] == model.predict(x).tolist()
    assert [r["class"] for r in results] == [str(c) for c in model.predict(x)]
    for r in results:
        probs = [p for _, _, p in r["top"]]
        assert len(probs) == 3 and probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1 + 1e-9


def test_folder_input_reads_every_png_and_jpeg_in_sorted_order(tmp_path, digits, model):
    img = _to_uint8(digits.test.x[0, 0], digits.metadata())
    Image.fromarray(img).save(tmp_path / "b.png")
    Image.fromarray(img).resize((64, 64), Image.NEAREST).save(tmp_path / "a.jpg", quality=95)
    (tmp_path / "notes.txt").write_text("not an image")
    results = predict_images(model, str(tmp_path))
    assert [r["path"].rsplit("/", 1)[-1] for r in results] == ["a.jpg", "b.png"]


def test_dark_ink_on_white_paper_is_inverted_automatically(digits):
    meta = digits.metadata()
    img = _to_uint8(digits.test.x[0, 0], meta).astype(np.float64)
    x_bright = preprocess(img, meta)
    x_paper = preprocess(255 - img, meta)
    np.testing.assert_allclose(x_paper, x_bright, atol=1e-5)


def test_large_image_is_resized_to_the_model_input(digits):
    x = preprocess(np.zeros((50, 37)), digits.metadata())
    assert x.shape == (1, 1, 8, 8) and x.dtype == np.float32


def test_rgba_png_reads_as_grayscale_with_transparent_as_white(tmp_path):
    rgba = np.zeros((4, 4, 4), dtype=np.uint8)
    rgba[..., 3] = 0
    rgba[0, 0] = (0, 0, 0, 255)
    Image.fromarray(rgba, "RGBA").save(tmp_path / "t.png")
    g = load_image(tmp_path / "t.png")
    assert g.shape == (4, 4) and g[0, 0] == 0 and g[1, 1] == 255


def test_corrupted_image_file_gives_a_clear_error_naming_the_file(tmp_path, model):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 10)
    with pytest.raises(ValueError, match="broken.png.*cannot be read"):
        predict_images(model, [str(bad)])


def test_unsupported_type_missing_file_and_bad_top_k_are_named(tmp_path, model):
    (tmp_path / "x.gif").write_bytes(b"GIF89a")
    with pytest.raises(ValueError, match="unsupported file type"):
        load_image(tmp_path / "x.gif")
    with pytest.raises(ValueError, match="no image paths given"):
        predict_images(model, [])
    with pytest.raises(FileNotFoundError, match="nope.png"):
        predict_images(model, [str(tmp_path / "nope.png")])
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "ok.png")
    with pytest.raises(ValueError, match="top_k must be a positive integer; got 0"):
        predict_images(model, [str(tmp_path / "ok.png")], top_k=0)
    with pytest.raises(ValueError, match="invert must be"):
        preprocess(np.zeros((8, 8)), model.metadata["dataset"], invert="maybe")


def test_model_without_metadata_or_with_an_unsupported_channel_count_is_rejected(tmp_path, digits):
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "ok.png")
    bare = build_model("small_cnn", (1, 8, 8), 10)
    with pytest.raises(ValueError, match="metadata has no preprocessing"):
        predict_images(bare, [str(tmp_path / "ok.png")])
    with pytest.raises(ShapeError, match=r"1 \(grayscale\) or 3 \(RGB\).*\[4, 8, 8\]"):
        preprocess(np.zeros((8, 8)), {"input_shape": [4, 8, 8], "mean": 0, "std": 1})
    with pytest.raises(ShapeError, match=r"3 input channel\(s\), so image must be an RGB array.*\(8, 8\)"):
        preprocess(np.zeros((8, 8)), {"input_shape": [3, 8, 8], "mean": 0, "std": 1})


def test_colour_png_gets_the_same_class_as_model_predict_on_its_array(tmp_path):
    rng = np.random.default_rng(0)
    meta = {"input_shape": [3, 12, 12], "mean": 0.45, "std": 0.25, "classes": [str(i) for i in range(10)]}
    colour = build_model("small_cnn", (3, 12, 12), 10, seed=1)
    colour.metadata = {"dataset": meta}
    pixels = rng.integers(0, 256, size=(5, 12, 12, 3), dtype=np.uint8)          # (N, H, W, RGB) bytes
    paths = []
    for i, p in enumerate(pixels):
        Image.fromarray(p, "RGB").save(tmp_path / f"c{i}.png")
        paths.append(str(tmp_path / f"c{i}.png"))
    x = ((pixels / 255.0 - meta["mean"]) / meta["std"]).transpose(0, 3, 1, 2).astype(np.float32)  # (N, 3, H, W)
    np.testing.assert_array_equal(load_image(paths[0], channels=3), pixels[0])
    assert [r["label"] for r in predict_images(colour, paths)] == list(colour.predict(x))
    bright = np.full((12, 12, 3), 250.0)                                         # "auto" never inverts colour
    np.testing.assert_allclose(preprocess(bright, meta)[0, :, 0, 0], (250 / 255 - 0.45) / 0.25, rtol=1e-6)


def test_predict_and_evaluate_commands_run_on_a_saved_model(tmp_path, digits, model, capsys):
    save_model(tmp_path / "model.npz", model)
    img = _to_uint8(digits.test.x[0, 0], digits.metadata())
    Image.fromarray(img).save(tmp_path / "seven.png")
    assert main(["predict", str(tmp_path / "model.npz"), str(tmp_path / "seven.png"), "--top-k", "2"]) == 0
    out = capsys.readouterr().out
    assert "seven.png:" in out and out.count("(") == 2
    assert main(["evaluate", str(tmp_path / "model.npz"), "--test-limit", "30", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "accuracy" in out and "precision" in out
    assert (tmp_path / "confusion.png").stat().st_size > 0 and (tmp_path / "confident_errors.png").exists()


def test_confusion_matrix_and_precision_recall_on_a_hand_example():
    from numpycnn.lab.commands.evaluate import confusion_matrix, precision_recall
    M = confusion_matrix(np.array([0, 0, 1, 1, 2]), np.array([0, 1, 1, 1, 0]), 3)
    assert M.tolist() == [[1, 1, 0], [0, 2, 0], [1, 0, 0]]
    prec, rec = precision_recall(M)
    np.testing.assert_allclose(prec, [0.5, 2 / 3, 0.0])
    np.testing.assert_allclose(rec, [0.5, 1.0, 0.0])
