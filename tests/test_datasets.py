"""Tests for numpycnn.datasets: IDX and CIFAR-10 readers, dataset search, splits."""
import gzip
import os
import pathlib
import pickle

import numpy as np
import pytest

from numpycnn import datasets
from numpycnn.datasets import (DATASETS, DATA_ENV_VAR, DataSplits, Dataset, find_dataset_dir, load_dataset, load_digits,
                               load_idx_pair, load_mnist_dir, read_cifar10_dir, read_idx, rgb_to_grayscale,
                               write_cifar10_batch, write_idx)
from numpycnn.errors import DataFormatError, DatasetNotFoundError, ShapeError

from conftest import BAD_INPUT_FIELDS, assert_bad_input, bad_input_cases, img, write_bytes


MNIST_NAMES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
CIFAR_NAMES = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]


# ---------------------------------------------------------------------------- helpers
@pytest.fixture(autouse=True)
def _no_env_data_dir(monkeypatch):
    """Every test starts without $NUMPYCNN_DATA so the machine's environment cannot leak in."""
    monkeypatch.delenv(DATA_ENV_VAR, raising=False)


def write_mnist_dir(directory, n_train=40, n_test=12, size=6, seed=0, gz=True):
    """Write four tiny IDX files; returns the raw arrays written."""
    rng = np.random.default_rng(seed)
    directory = pathlib.Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    x_tr = rng.integers(0, 256, size=(n_train, size, size), dtype=np.uint8)
    y_tr = (np.arange(n_train) % 10).astype(np.uint8)
    x_te = rng.integers(0, 256, size=(n_test, size, size), dtype=np.uint8)
    y_te = (np.arange(n_test) % 10).astype(np.uint8)
    suffix = ".gz" if gz else ""
    for name, arr in zip(MNIST_NAMES, (x_tr, y_tr, x_te, y_te)):
        write_idx(directory / (name + suffix), arr)
    return (x_tr, y_tr), (x_te, y_te)


def write_cifar_dir(directory, fmt, n=7, seed=0):
    rng = np.random.default_rng(seed)
    directory = pathlib.Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    suffix = ".bin" if fmt == "bin" else ""
    written = []
    for name in CIFAR_NAMES:
        x = rng.integers(0, 256, size=(n, 3, 32, 32), dtype=np.uint8)
        y = rng.integers(0, 10, size=n)
        write_cifar10_batch(directory / (name + suffix), x, y, fmt=fmt)
        written.append((x, y))
    return written


def rows(ds, splits):
    """Sorted raw (pixels, label) rows of a split, undoing the normalisation recorded in ``splits``."""
    raw = np.rint((ds.x.astype(np.float64) * splits.std + splits.mean) * splits.scale).astype(np.int64)
    return sorted(r.tobytes() + bytes([int(lab)]) for r, lab in zip(raw.reshape(len(ds), -1), ds.y))


# ---------------------------------------------------------------------------- IDX
@pytest.mark.parametrize("suffix", ["", ".gz"])
@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
def test_idx_round_trip_preserves_values_shape_and_dtype(tmp_path, suffix, dtype):
    rng = np.random.default_rng(1)
    a = (rng.standard_normal((3, 4, 5)) * 50).astype(dtype)
    path = tmp_path / f"a.idx{suffix}"
    write_idx(path, a)
    b = read_idx(path)
    assert b.dtype == np.dtype(dtype) and b.shape == a.shape
    np.testing.assert_array_equal(a, b)
    assert b.flags.writeable
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temp file left behind


def test_idx_compression_is_detected_by_magic_bytes_not_suffix(tmp_path):
    a = np.arange(10, dtype=np.uint8)
    write_idx(tmp_path / "a.gz", a)
    os.replace(tmp_path / "a.gz", tmp_path / "a.idx")  # gzip content, no .gz suffix
    assert gzip.open(tmp_path / "a.idx").read(2) == b"\x00\x00"
    np.testing.assert_array_equal(read_idx(tmp_path / "a.idx"), a)


def test_idx_header_is_big_endian_standard_layout(tmp_path):
    write_idx(tmp_path / "l", np.array([1, 2, 3], dtype=np.uint8))
    assert (tmp_path / "l").read_bytes() == b"\x00\x00\x08\x01\x00\x00\x00\x03\x01\x02\x03"


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_idx_truncated_file_raises_data_format_error_naming_file(tmp_path, suffix):
    data = b"\x00\x00\x08\x03" + (5).to_bytes(4, "big") + (4).to_bytes(4, "big") * 2 + bytes(5 * 16 - 1)
    path = tmp_path / f"trunc-idx3-ubyte{suffix}"
    path.write_bytes(gzip.compress(data) if suffix else data)
    with pytest.raises(DataFormatError, match="trunc-idx3-ubyte") as info:
        read_idx(path)
    assert "80" in str(info.value) and "79" in str(info.value) and "truncated" in str(info.value)


def test_idx_trailing_bytes_raise_data_format_error_naming_file(tmp_path):
    path = tmp_path / "trailing.idx"
    write_idx(path, np.zeros((2, 3), dtype=np.uint8))
    path.write_bytes(path.read_bytes() + b"\x00\x00")
    with pytest.raises(DataFormatError, match=r"trailing\.idx.*2 trailing bytes"):
        read_idx(path)


def test_idx_truncated_gzip_stream_raises_data_format_error(tmp_path):
    path = tmp_path / "cut.gz"
    write_idx(path, np.arange(1000, dtype=np.int32))
    path.write_bytes(path.read_bytes()[:-20])
    with pytest.raises(DataFormatError, match=r"cut\.gz"):
        read_idx(path)


@pytest.mark.parametrize("header, what", [
    (b"\x01\x00\x08\x01", "two zero bytes"),
    (b"PK\x03\x04", "two zero bytes"),
    (b"\x00\x00\x07\x01", "type code"),
    (b"\x00\x00\x08\x00", "0 dimensions"),
    (b"\x00\x00\x08\x03\x00\x00", "truncated header"),
    (b"\x00\x00", "4-byte magic"),
])
def test_idx_wrong_magic_raises_data_format_error_naming_file(tmp_path, header, what):
    path = tmp_path / "bad-magic.idx"
    path.write_bytes(header + bytes(8))
    if what in ("truncated header", "4-byte magic"):
        path.write_bytes(header)
    with pytest.raises(DataFormatError, match="bad-magic") as info:
        read_idx(path)
    assert what in str(info.value)


def test_write_idx_rejects_unsupported_dtype(tmp_path):
    with pytest.raises(TypeError, match="uint16"):
        write_idx(tmp_path / "x", np.zeros(3, dtype=np.uint16))


def test_idx_pair_with_mismatched_counts_raises_data_format_error_naming_both_files(tmp_path):
    write_idx(tmp_path / "imgs", np.zeros((5, 2, 2), dtype=np.uint8))
    write_idx(tmp_path / "labs", np.zeros(4, dtype=np.uint8))
    with pytest.raises(DataFormatError, match=r"imgs.*5 images.*labs.*4 labels"):
        load_idx_pair(tmp_path / "imgs", tmp_path / "labs")


def test_idx_pair_rejects_labels_outside_0_255(tmp_path):
    write_idx(tmp_path / "imgs", np.zeros((2, 2, 2), dtype=np.uint8))
    write_idx(tmp_path / "labs", np.array([0, 300], dtype=np.int32))
    with pytest.raises(DataFormatError, match="labs"):
        load_idx_pair(tmp_path / "imgs", tmp_path / "labs")


def test_idx_pair_rejects_non_3d_images(tmp_path):
    write_idx(tmp_path / "imgs", np.zeros((2, 4), dtype=np.uint8))
    write_idx(tmp_path / "labs", np.zeros(2, dtype=np.uint8))
    with pytest.raises(DataFormatError, match=r"imgs.*\(N, H, W\)"):
        load_idx_pair(tmp_path / "imgs", tmp_path / "labs")


@pytest.mark.parametrize("gz", [False, True])
def test_load_mnist_dir_returns_what_was_written_raw_or_gz(tmp_path, gz):
    (x_tr, y_tr), (x_te, y_te) = write_mnist_dir(tmp_path, gz=gz)
    (a, b), (c, d) = load_mnist_dir(tmp_path)
    for got, want in ((a, x_tr), (b, y_tr), (c, x_te), (d, y_te)):
        assert got.dtype == np.uint8
        np.testing.assert_array_equal(got, want)


def test_load_mnist_dir_names_every_missing_file(tmp_path):
    write_mnist_dir(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    (tmp_path / "train-images-idx3-ubyte.gz").unlink()
    with pytest.raises(DatasetNotFoundError, match="train-images-idx3-ubyte, t10k-labels-idx1-ubyte"):
        load_mnist_dir(tmp_path)


# ---------------------------------------------------------------------------- CIFAR-10
@pytest.mark.parametrize("fmt", ["bin", "python"])
def test_cifar10_round_trip_through_write_cifar10_batch(tmp_path, fmt):
    written = write_cifar_dir(tmp_path, fmt)
    (x_tr, y_tr), (x_te, y_te) = read_cifar10_dir(tmp_path)
    assert x_tr.shape == (35, 3, 32, 32) and x_te.shape == (7, 3, 32, 32)
    assert x_tr.dtype == np.uint8 and y_tr.shape == (35,)
    np.testing.assert_array_equal(x_tr, np.concatenate([w[0] for w in written[:5]]))
    np.testing.assert_array_equal(y_tr, np.concatenate([w[1] for w in written[:5]]))
    np.testing.assert_array_equal(x_te, written[5][0])
    np.testing.assert_array_equal(y_te, written[5][1])


def test_cifar10_binary_record_layout_is_label_byte_then_rgb_planes(tmp_path):
    x = np.zeros((1, 3, 32, 32), dtype=np.uint8)
    x[0, 0, 0, 0], x[0, 1, 0, 0], x[0, 2, 31, 31] = 11, 22, 33
    write_cifar10_batch(tmp_path / "b.bin", x, [7])
    data = (tmp_path / "b.bin").read_bytes()
    assert len(data) == 3073 and data[0] == 7 and data[1] == 11 and data[1 + 1024] == 22 and data[-1] == 33


def _py2_style_batch_pickle(x, labels):
    """Hand-assembled protocol-2 pickle as Python 2's cPickle wrote the official CIFAR-10 batches:
    py2 ``str`` opcodes and the global ``numpy.core.multiarray._reconstruct``."""
    import struct

    def s(b):  # BINSTRING: a Python 2 str
        return b"T" + struct.pack("<I", len(b)) + b

    def k(v):
        return b"J" + struct.pack("<i", v)

    data = x.reshape(len(x), 3072)
    p = b"\x80\x02(" + s(b"data")
    p += b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\n" + k(0) + b"\x85" + s(b"b") + b"\x87R"
    p += b"(" + k(1) + k(data.shape[0]) + k(data.shape[1]) + b"\x86"
    p += b"cnumpy\ndtype\n" + s(b"u1") + k(0) + k(1) + b"\x87R"
    p += b"(" + k(3) + s(b"|") + b"NNN" + k(-1) + k(-1) + k(0) + b"tb"
    p += b"\x89" + s(data.tobytes()) + b"tb"
    p += s(b"labels") + b"](" + b"".join(k(int(v)) for v in labels) + b"e"
    p += s(b"batch_label") + s(b"training batch 1 of 5") + b"d."
    return p


def test_cifar10_python_batch_written_by_python2_is_read(tmp_path):
    written = write_cifar_dir(tmp_path, "python", n=3)
    x = np.arange(3 * 3072, dtype=np.int64).reshape(3, 3, 32, 32).astype(np.uint8)
    (tmp_path / "data_batch_1").write_bytes(_py2_style_batch_pickle(x, [4, 0, 9]))
    (x_tr, y_tr), _ = read_cifar10_dir(tmp_path)
    np.testing.assert_array_equal(x_tr[:3], x)
    np.testing.assert_array_equal(y_tr[:3], [4, 0, 9])
    np.testing.assert_array_equal(x_tr[3:6], written[1][0])


class _Evil:
    """Unpickling this would run a shell command that creates ``marker``."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch '{self.marker}'",))


def test_cifar10_python_batch_with_forbidden_global_raises_and_does_not_execute(tmp_path):
    write_cifar_dir(tmp_path, "python", n=2)
    marker = tmp_path / "pwned"
    evil = {b"data": _Evil(marker), b"labels": [0, 1], b"batch_label": b"x", b"filenames": [b"a", b"b"]}
    (tmp_path / "data_batch_3").write_bytes(pickle.dumps(evil, protocol=2))
    with pytest.raises(DataFormatError, match=r"data_batch_3.*refusing to unpickle global (posix|os|nt)\.system"):
        read_cifar10_dir(tmp_path)
    assert not marker.exists()


def test_cifar10_python_batch_refuses_object_arrays(tmp_path):
    write_cifar_dir(tmp_path, "python", n=2)
    batch = {b"data": np.array([print, None], dtype=object), b"labels": [0, 1]}
    (tmp_path / "test_batch").write_bytes(pickle.dumps(batch, protocol=2))
    with pytest.raises(DataFormatError, match="test_batch"):
        read_cifar10_dir(tmp_path)


@pytest.mark.parametrize("batch, match", [
    ([1, 2, 3], "dict"),
    ({b"labels": [0]}, "lacks key"),
    ({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}, r"\(N, 3072\)"),
    ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0]}, "2 images but 1 labels"),
    ({b"data": np.zeros((1, 3072), np.uint8), b"labels": [10]}, "label 10"),
])
def test_cifar10_python_batch_with_bad_content_raises_data_format_error(tmp_path, batch, match):
    write_cifar_dir(tmp_path, "python", n=1)
    (tmp_path / "data_batch_1").write_bytes(pickle.dumps(batch, protocol=2))
    with pytest.raises(DataFormatError, match=match):
        read_cifar10_dir(tmp_path)


def test_cifar10_python_batch_that_is_not_a_pickle_raises_data_format_error(tmp_path):
    write_cifar_dir(tmp_path, "python", n=1)
    (tmp_path / "data_batch_2").write_bytes(b"this is not a pickle")
    with pytest.raises(DataFormatError, match="data_batch_2"):
        read_cifar10_dir(tmp_path)


def test_cifar10_binary_batch_with_corrupted_size_raises_naming_file(tmp_path):
    write_cifar_dir(tmp_path, "bin", n=3)
    path = tmp_path / "data_batch_4.bin"
    path.write_bytes(path.read_bytes()[:-1])
    with pytest.raises(DataFormatError, match=r"data_batch_4\.bin.*9218 bytes.*3073"):
        read_cifar10_dir(tmp_path)


def test_cifar10_binary_batch_with_label_above_9_raises(tmp_path):
    write_cifar_dir(tmp_path, "bin", n=3)
    path = tmp_path / "test_batch.bin"
    data = bytearray(path.read_bytes())
    data[3073] = 12  # label byte of record 1
    path.write_bytes(bytes(data))
    with pytest.raises(DataFormatError, match=r"test_batch\.bin.*record 1 has label 12"):
        read_cifar10_dir(tmp_path)


def test_cifar10_missing_batch_is_named(tmp_path):
    write_cifar_dir(tmp_path, "bin", n=1)
    (tmp_path / "data_batch_5.bin").unlink()
    with pytest.raises(DatasetNotFoundError, match=r"data_batch_5\.bin"):
        read_cifar10_dir(tmp_path)


# ---------------------------------------------------------------------------- finding data
def test_find_dataset_dir_uses_data_dir_else_env_var_else_debian(tmp_path, monkeypatch):
    arg_dir, env_root, debian = tmp_path / "arg", tmp_path / "env", tmp_path / "debian"
    write_mnist_dir(arg_dir, n_train=2, n_test=2)
    write_mnist_dir(env_root / "fashion_mnist", n_train=2, n_test=2)
    write_mnist_dir(debian, n_train=2, n_test=2)
    monkeypatch.setattr(datasets.discovery, "FASHION_MNIST_DEBIAN_DIR", str(debian))
    monkeypatch.setenv(DATA_ENV_VAR, str(env_root))
    assert find_dataset_dir("fashion-mnist", data_dir=arg_dir) == arg_dir
    assert find_dataset_dir("fashion-mnist") == env_root / "fashion_mnist"
    monkeypatch.delenv(DATA_ENV_VAR)
    assert find_dataset_dir("fashion-mnist") == debian
    assert find_dataset_dir("fashion-mnist", data_dir=arg_dir) == arg_dir


@pytest.mark.parametrize("how", ["missing", "empty"])
def test_an_explicit_data_dir_without_the_files_is_an_error_never_a_fallback(tmp_path, monkeypatch, how):
    """Regression (issue 18.9): a data_dir that does not exist or lacks the files used to fall back
    silently to $NUMPYCNN_DATA and then to the Debian copy."""
    env_root, debian = tmp_path / "env", tmp_path / "debian"
    write_mnist_dir(env_root, n_train=2, n_test=2)
    write_mnist_dir(debian, n_train=2, n_test=2)
    monkeypatch.setattr(datasets.discovery, "FASHION_MNIST_DEBIAN_DIR", str(debian))
    monkeypatch.setenv(DATA_ENV_VAR, str(env_root))
    given = tmp_path / "no" / "such" / "folder"
    if how == "empty":
        given.mkdir(parents=True)
        (given / "README.txt").write_text("not an IDX file")
    with pytest.raises(DatasetNotFoundError) as info:
        find_dataset_dir("fashion-mnist", data_dir=given)
    msg = str(info.value)
    assert str(given) in msg and ("does not exist" if how == "missing" else "holds none") in msg
    assert "train-images-idx3-ubyte" in msg                 # what was expected
    assert str(env_root) not in msg and str(debian) not in msg
    with pytest.raises(DatasetNotFoundError, match="does not exist" if how == "missing" else "holds none"):
        load_dataset("fashion-mnist", data_dir=given)


def test_a_numpycnn_data_folder_without_the_files_is_an_error_never_a_fallback(tmp_path, monkeypatch):
    debian = tmp_path / "debian"
    write_mnist_dir(debian, n_train=2, n_test=2)
    monkeypatch.setattr(datasets.discovery, "FASHION_MNIST_DEBIAN_DIR", str(debian))
    monkeypatch.setenv(DATA_ENV_VAR, str(tmp_path / "nowhere"))
    with pytest.raises(DatasetNotFoundError) as info:
        find_dataset_dir("fashion-mnist")
    msg = str(info.value)
    assert DATA_ENV_VAR in msg and str(tmp_path / "nowhere") in msg and "does not exist" in msg
    assert str(debian) not in msg


@pytest.mark.parametrize("sub", ["fashion-mnist", "fashion_mnist", "FashionMNIST", "FashionMNIST/raw"])
def test_find_dataset_dir_accepts_subfolder_spellings(tmp_path, sub):
    write_mnist_dir(tmp_path / sub, n_train=2, n_test=2)
    assert find_dataset_dir("fashion-mnist", data_dir=tmp_path) == tmp_path / sub


def test_find_dataset_dir_prefers_named_subfolder_over_root(tmp_path):
    write_mnist_dir(tmp_path, n_train=2, n_test=2)                   # e.g. MNIST loose in the data root
    write_mnist_dir(tmp_path / "fashion-mnist", n_train=2, n_test=2)
    assert find_dataset_dir("fashion-mnist", data_dir=tmp_path) == tmp_path / "fashion-mnist"
    assert find_dataset_dir("mnist", data_dir=tmp_path) == tmp_path


@pytest.mark.parametrize("layout", ["", "cifar-10-batches-bin", "cifar-10-batches-py", "cifar10/cifar-10-batches-py",
                                    "CIFAR-10"])
def test_find_dataset_dir_finds_cifar10_batches_folders(tmp_path, layout):
    target = tmp_path / layout
    target.mkdir(parents=True, exist_ok=True)
    (target / ("data_batch_1" + (".bin" if "bin" in layout else ""))).write_bytes(b"")
    assert find_dataset_dir("cifar10", data_dir=tmp_path) == target


def test_find_dataset_dir_missing_everywhere_raises_dataset_not_found_naming_places_and_apt_get(tmp_path,
                                                                                                monkeypatch):
    monkeypatch.setattr(datasets.discovery, "FASHION_MNIST_DEBIAN_DIR", str(tmp_path / "no-debian"))
    with pytest.raises(DatasetNotFoundError) as info:
        find_dataset_dir("fashion-mnist")
    msg = str(info.value)
    assert "apt-get install dataset-fashion-mnist" in msg and DATA_ENV_VAR in msg and "--data-dir" in msg
    assert str(tmp_path / "no-debian") in msg
    assert isinstance(info.value, FileNotFoundError)


def test_load_dataset_rejects_unknown_name_listing_datasets():
    with pytest.raises(ValueError) as info:
        load_dataset("imagenet")
    assert all(name in str(info.value) for name in DATASETS) and "imagenet" in str(info.value)


@pytest.mark.parametrize("kwargs, match", [
    ({"val_fraction": 1.0}, "val_fraction"),
    ({"val_fraction": -0.1}, "val_fraction"),
    ({"val_fraction": float("nan")}, "val_fraction"),
    ({"train_limit": 0}, "train_limit"),
    ({"test_limit": -5}, "test_limit"),
    ({"train_limit": 2.5}, "train_limit"),
    ({"seed": -1}, "seed"),
    ({"dtype": np.int32}, "dtype"),
])
def test_load_dataset_rejects_bad_arguments_naming_them(kwargs, match):
    with pytest.raises(ValueError, match=match):
        load_dataset("digits", **kwargs)


# ---------------------------------------------------------------------------- digits
def test_load_digits_returns_embedded_1797_images():
    images, labels = load_digits()
    assert images.shape == (1797, 8, 8) and images.dtype == np.uint8 and images.max() == 16
    assert labels.shape == (1797,) and labels.dtype == np.int64 and set(labels) == set(range(10))


def test_load_dataset_digits_shapes_dtypes_and_documented_sizes():
    d = load_dataset("digits")
    assert isinstance(d, DataSplits)
    assert (len(d.train), len(d.val), len(d.test)) == (1294, 144, 359)
    for ds in (d.train, d.val, d.test):
        assert ds.x.dtype == np.float32 and ds.x.shape == (len(ds), 1, 8, 8)
        assert ds.y.dtype == np.int64 and ds.y.shape == (len(ds),)
    assert d.input_shape == (1, 8, 8) and d.num_classes == 10 and d.scale == 16.0


def test_load_dataset_digits_train_split_is_standardised():
    d = load_dataset("digits")
    assert abs(float(d.train.x.mean(dtype=np.float64))) < 1e-6
    assert abs(float(d.train.x.std(dtype=np.float64)) - 1.0) < 1e-6
    # statistics come from the train split only, so the test split is only approximately standardised
    assert abs(float(d.test.x.mean())) > 0


def test_load_dataset_digits_is_deterministic_for_the_same_seed():
    a, b = load_dataset("digits", seed=3), load_dataset("digits", seed=3)
    for sa, sb in ((a.train, b.train), (a.val, b.val), (a.test, b.test)):
        np.testing.assert_array_equal(sa.x, sb.x)
        np.testing.assert_array_equal(sa.y, sb.y)
    assert a.metadata() == b.metadata()


def test_load_dataset_digits_differs_for_a_different_seed():
    a, b = load_dataset("digits", seed=0), load_dataset("digits", seed=1)
    assert rows(a.test, a) != rows(b.test, b)


def test_load_dataset_digits_splits_are_disjoint_and_cover_all_1797_images():
    d = load_dataset("digits", seed=5)
    images, labels = load_digits()
    everything = sorted(r.astype(np.int64).tobytes() + bytes([int(lab)])
                        for r, lab in zip(images.reshape(1797, -1), labels))
    assert sorted(rows(d.train, d) + rows(d.val, d) + rows(d.test, d)) == everything


def test_load_dataset_digits_test_split_is_stratified():
    d = load_dataset("digits")
    _, labels = load_digits()
    expected = 0.2 * np.bincount(labels)
    assert np.all(np.abs(np.bincount(d.test.y, minlength=10) - expected) <= 1)


def test_load_dataset_val_fraction_zero_gives_no_val_split():
    d = load_dataset("digits", val_fraction=0)
    assert d.val is None and len(d.train) == 1797 - 359


def test_load_dataset_limits_are_applied_before_the_val_split():
    d = load_dataset("digits", train_limit=100, test_limit=30, val_fraction=0.2)
    assert (len(d.train), len(d.val), len(d.test)) == (80, 20, 30)


def test_load_dataset_normalize_false_keeps_pixels_in_unit_interval():
    d = load_dataset("digits", normalize=False, dtype=np.float64)
    assert d.train.x.dtype == np.float64 and (d.mean, d.std) == (0.0, 1.0)
    assert d.train.x.min() == 0.0 and d.train.x.max() == 1.0


def test_metadata_is_json_serialisable_and_describes_preprocessing():
    import json
    d = load_dataset("digits")
    meta = json.loads(json.dumps(d.metadata()))
    assert meta == {"name": "digits", "classes": [str(i) for i in range(10)], "mean": d.mean, "std": d.std,
                    "scale": 16.0, "input_shape": [1, 8, 8]}


def test_dataset_rejects_mismatched_lengths():
    with pytest.raises(ValueError, match="same number"):
        Dataset(np.zeros((3, 1, 2, 2), np.float32), np.zeros(2, np.int64))


# ---------------------------------------------------------------------------- files on disk
def test_load_dataset_mnist_from_tmp_dir_of_tiny_idx_files(tmp_path):
    (x_tr, y_tr), (x_te, y_te) = write_mnist_dir(tmp_path / "mnist", n_train=40, n_test=12)
    d = load_dataset("mnist", data_dir=tmp_path, val_fraction=0.25, seed=2)
    assert (len(d.train), len(d.val), len(d.test)) == (30, 10, 12)
    assert d.input_shape == (1, 6, 6) and d.scale == 255.0 and d.classes == [str(i) for i in range(10)]
    assert d.train.x.dtype == np.float32 and d.train.y.dtype == np.int64
    assert abs(float(d.train.x.mean(dtype=np.float64))) < 1e-6
    want_train = sorted(r.astype(np.int64).tobytes() + bytes([int(v)]) for r, v in zip(x_tr.reshape(40, -1), y_tr))
    assert sorted(rows(d.train, d) + rows(d.val, d)) == want_train
    want_test = sorted(r.astype(np.int64).tobytes() + bytes([int(v)]) for r, v in zip(x_te.reshape(12, -1), y_te))
    assert rows(d.test, d) == want_test


def test_load_dataset_mnist_found_through_env_var(tmp_path, monkeypatch):
    write_mnist_dir(tmp_path / "MNIST" / "raw", n_train=20, n_test=5, gz=False)
    monkeypatch.setenv(DATA_ENV_VAR, str(tmp_path))
    d = load_dataset("mnist", test_limit=3)
    assert (len(d.train) + len(d.val), len(d.test)) == (20, 3)


def test_load_dataset_cifar10_grayscale_gives_one_channel_matching_luma_formula(tmp_path):
    x = np.zeros((2, 3, 32, 32), dtype=np.uint8)
    x[:, :, 0, 0] = (255, 0, 0)
    x[:, :, 0, 1] = (0, 255, 0)
    x[:, :, 0, 2] = (0, 0, 255)
    x[:, :, 0, 3] = (10, 20, 30)
    x[:, :, 5, 5] = (255, 255, 255)
    for name in CIFAR_NAMES:
        write_cifar10_batch(tmp_path / (name + ".bin"), x, [3, 7])
    color = load_dataset("cifar10", data_dir=tmp_path, val_fraction=0, normalize=False)
    assert color.input_shape == (3, 32, 32) and color.classes[3] == "cat"
    gray = load_dataset("cifar10", data_dir=tmp_path, val_fraction=0, normalize=False, grayscale=True)
    assert gray.input_shape == (1, 32, 32) and gray.metadata()["input_shape"] == [1, 32, 32]
    img = gray.test.x[0, 0] * 255
    expected = {(0, 0): 0.299 * 255, (0, 1): 0.587 * 255, (0, 2): 0.114 * 255,
                (0, 3): 0.299 * 10 + 0.587 * 20 + 0.114 * 30, (5, 5): 255.0, (9, 9): 0.0}
    for (i, j), value in expected.items():
        assert img[i, j] == pytest.approx(value, abs=1e-3)
    np.testing.assert_allclose(rgb_to_grayscale(x.astype(np.float64))[:, 0, 0, 3], [18.15, 18.15], atol=1e-12)


def test_load_dataset_fashion_mnist_from_debian_package_with_limits():
    if not (pathlib.Path(datasets.FASHION_MNIST_DEBIAN_DIR) / "train-images-idx3-ubyte.gz").exists():
        pytest.skip(f"Fashion-MNIST not installed at {datasets.FASHION_MNIST_DEBIAN_DIR} "
                    "(apt-get install dataset-fashion-mnist)")
    d = load_dataset("fashion-mnist", train_limit=500, test_limit=200)
    assert (len(d.train), len(d.val), len(d.test)) == (450, 50, 200)
    assert d.input_shape == (1, 28, 28) and d.scale == 255.0
    assert d.classes[0] == "T-shirt/top" and d.classes[9] == "Ankle boot" and d.num_classes == 10
    assert abs(float(d.train.x.mean(dtype=np.float64))) < 1e-6
    assert len(np.unique(np.concatenate([d.train.y, d.val.y]))) == 10


def test_load_dataset_with_empty_train_file_raises_value_error(tmp_path):
    write_mnist_dir(tmp_path, n_train=0, n_test=3)
    with pytest.raises(ValueError, match="empty"):
        load_dataset("mnist", data_dir=tmp_path)


# -- bad input: data sets and their files ------------------------------------------------------------------------
#: one row per bad input, in the format of ``BAD_INPUT_FIELDS`` (tests/conftest.py)
BAD_INPUTS = [
    ("dataset_labels_length_mismatch", lambda t: Dataset(img((3, 1, 8, 8)), np.zeros(2, np.int64)),
     ShapeError, ["3", "2"]),
    ("unknown_dataset", lambda t: load_dataset("imagenet"), ValueError, ["imagenet", "digits"]),
    ("val_fraction_above_one", lambda t: load_dataset("digits", val_fraction=1.5), ValueError, ["val_fraction", "1.5"]),
    ("train_limit_zero", lambda t: load_dataset("digits", train_limit=0), ValueError, ["train_limit", "0"]),
    ("idx_truncated", lambda t: read_idx(write_bytes(t, "trunc-idx1-ubyte", b"\x00\x00\x08\x01\x00\x00\x00\x05ab")),
     DataFormatError, ["trunc-idx1-ubyte", "5"]),
    ("idx_wrong_magic", lambda t: read_idx(write_bytes(t, "bad-idx1-ubyte", b"\x12\x34\x08\x01\x00\x00\x00\x01a")),
     DataFormatError, ["bad-idx1-ubyte", "magic"]),
]


@pytest.mark.parametrize(BAD_INPUT_FIELDS, bad_input_cases(BAD_INPUTS))
def test_bad_input_raises_the_documented_error_naming_the_argument(call, exc, needles, tmp_path):
    assert_bad_input(call, exc, needles, tmp_path)
