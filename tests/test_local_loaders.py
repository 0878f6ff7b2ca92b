"""Loaders of local data set copies, run on small files written in each format."""
from __future__ import annotations

import gzip
import hashlib
import os
import pickle
import struct

import numpy as np
import pytest

from zoo.datasets import cifar
from zoo.datasets.base import DatasetError
from zoo.datasets.cifar import load_cifar10, load_cifar100
from zoo.datasets.fashion_mnist import load_fashion_mnist
from zoo.datasets.safe_pickle import load_restricted
from zoo.datasets.tiny_imagenet import load_tiny_imagenet

Image = pytest.importorskip("PIL.Image")


# --- CIFAR and the restricted unpickler ------------------------------------------------

def py2_pickle(obj) -> bytes:
    """The bytes Python 2's cPickle writes at protocol 2, as in the official CIFAR batches:
    strings as BINSTRING and uint8 arrays through numpy.core.multiarray._reconstruct."""
    return pickle.PROTO + b"\x02" + _py2(obj) + pickle.STOP


def _py2(obj) -> bytes:
    if obj is None:
        return pickle.NONE
    if isinstance(obj, bytes):
        return pickle.BINSTRING + struct.pack("<i", len(obj)) + obj
    if isinstance(obj, int):
        return pickle.BININT + struct.pack("<i", obj)
    if isinstance(obj, tuple):
        return pickle.MARK + b"".join(map(_py2, obj)) + pickle.TUPLE
    if isinstance(obj, list):
        return pickle.EMPTY_LIST + pickle.MARK + b"".join(map(_py2, obj)) + pickle.APPENDS
    if isinstance(obj, dict):
        items = b"".join(_py2(k) + _py2(v) for k, v in obj.items())
        return pickle.EMPTY_DICT + pickle.MARK + items + pickle.SETITEMS
    assert isinstance(obj, np.ndarray) and obj.dtype == np.uint8
    dtype = (pickle.GLOBAL + b"numpy\ndtype\n" + _py2((b"u1", 0, 1)) + pickle.REDUCE
             + _py2((3, b"|", None, None, None, -1, -1, 0)) + pickle.BUILD)
    new = (pickle.GLOBAL + b"numpy.core.multiarray\n_reconstruct\n" + pickle.MARK
           + pickle.GLOBAL + b"numpy\nndarray\n" + _py2((0,)) + _py2(b"b") + pickle.TUPLE
           + pickle.REDUCE)
    state = (pickle.MARK + _py2(1) + _py2(obj.shape) + dtype + pickle.INT + b"00\n"
             + _py2(obj.tobytes()) + pickle.TUPLE)
    return new + state + pickle.BUILD


def write_cifar10(folder, n_train=4, n_test=6):
    """Five training batches and a test batch of random pixels; returns all the pixels."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    data = rng.integers(0, 256, (5 * n_train + n_test, 3072), dtype=np.uint8)
    data[0, 1 * 32 + 2 + np.array([0, 1024, 2048])] = (10, 20, 30)  # R, G, B at row 1, col 2
    labels = [i % 10 for i in range(len(data))]
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for k, name in enumerate(names):
        rows = slice(k * n_train, (k + 1) * n_train if k < 5 else None)
        batch = {b"batch_label": name.encode(), b"labels": labels[rows], b"data": data[rows]}
        (folder / name).write_bytes(py2_pickle(batch))
    meta = {b"label_names": [f"class{i}".encode() for i in range(10)], b"num_vis": 3072}
    (folder / "batches.meta").write_bytes(py2_pickle(meta))
    return data, np.array(labels)


def test_cifar10_keeps_channel_order_and_every_pixel(tmp_path):
    data, labels = write_cifar10(tmp_path / "cifar-10-batches-py")
    loaded = load_cifar10(tmp_path, verify_md5=False)
    assert loaded.classes == tuple(f"class{i}" for i in range(10))
    assert loaded.train.x.shape == (20, 3, 32, 32) and loaded.test.x.shape == (6, 3, 32, 32)
    assert loaded.train.x.dtype == np.float32 and loaded.train.y.dtype == np.int64
    np.testing.assert_array_equal(np.round(loaded.train.x[0, :, 1, 2] * 255), [10, 20, 30])
    x = np.concatenate([loaded.train.x, loaded.test.x])
    np.testing.assert_array_equal(np.round(x * 255).reshape(-1, 3072), data)
    np.testing.assert_array_equal(np.concatenate([loaded.train.y, loaded.test.y]), labels)


def test_cifar10_reads_a_root_that_holds_the_batches(tmp_path):
    write_cifar10(tmp_path / "copy")
    assert len(load_cifar10(tmp_path / "copy", verify_md5=False).test) == 6


def test_cifar10_md5_is_checked_and_names_the_file(tmp_path, monkeypatch):
    folder = tmp_path / "cifar-10-batches-py"
    write_cifar10(folder)
    with pytest.raises(DatasetError, match="data_batch_1: md5 .* does not match"):
        load_cifar10(tmp_path)
    for name in cifar.CIFAR10_MD5:
        digest = hashlib.md5((folder / name).read_bytes()).hexdigest()
        monkeypatch.setitem(cifar.CIFAR10_MD5, name, digest)
    assert len(load_cifar10(tmp_path).train) == 20


def test_cifar100_uses_fine_labels(tmp_path):
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    data = np.arange(5 * 3072, dtype=np.int64).astype(np.uint8).reshape(5, 3072)
    for name in ("train", "test"):
        batch = {b"data": data, b"fine_labels": [0, 99, 5, 7, 42], b"coarse_labels": [0] * 5}
        (folder / name).write_bytes(py2_pickle(batch))
    meta = {b"fine_label_names": [f"f{i}".encode() for i in range(100)],
            b"coarse_label_names": [b"c"] * 20}
    (folder / "meta").write_bytes(py2_pickle(meta))
    loaded = load_cifar100(tmp_path, verify_md5=False)
    assert loaded.num_classes == 100 and loaded.classes[99] == "f99"
    np.testing.assert_array_equal(loaded.test.y, [0, 99, 5, 7, 42])
    assert loaded.train.x[0, 1, 0, 0] == np.float32(1024 % 256) / 255


def test_cifar_errors_name_the_path(tmp_path):
    with pytest.raises(DatasetError, match="no CIFAR copy at .*cifar-10-batches-py"):
        load_cifar10(tmp_path / "nowhere", verify_md5=False)
    folder = tmp_path / "cifar-10-batches-py"
    write_cifar10(folder)
    (folder / "data_batch_3").unlink()
    with pytest.raises(DatasetError, match="data_batch_3: file not found"):
        load_cifar10(tmp_path, verify_md5=False)
    (folder / "data_batch_3").write_bytes(py2_pickle({b"labels": [1], b"data": b"x"}))
    with pytest.raises(DatasetError, match="data_batch_3: b'data' must be uint8"):
        load_cifar10(tmp_path, verify_md5=False)
    (folder / "data_batch_3").write_bytes((folder / "data_batch_2").read_bytes()[:100])
    with pytest.raises(DatasetError, match="data_batch_3: not a readable pickle"):
        load_cifar10(tmp_path, verify_md5=False)


class CreatesFile:
    """Unpickling this calls open(path, "w"): harmless, but it leaves evidence."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return open, (self.path, "w")


def test_malicious_batch_is_refused_without_running(tmp_path):
    live = tmp_path / "live"
    pickle.loads(pickle.dumps(CreatesFile(live), protocol=2)).close()
    assert live.exists()  # the payload does run under plain pickle

    folder = tmp_path / "cifar-10-batches-py"
    write_cifar10(folder)
    marker = tmp_path / "marker"
    batch = {b"labels": [0], b"data": CreatesFile(marker)}
    (folder / "data_batch_2").write_bytes(pickle.dumps(batch, protocol=4))
    with pytest.raises(DatasetError, match=r"data_batch_2: refusing to unpickle global \w+\.open"):
        load_cifar10(tmp_path, verify_md5=False)
    assert not marker.exists()


@pytest.mark.parametrize("module, name", [
    ("posix", "system"), ("builtins", "eval"), ("builtins", "print"),
    ("_codecs", "encode"), ("copyreg", "_reconstructor"), ("numpy", "load"),
])
def test_restricted_unpickler_refuses_other_globals(tmp_path, module, name):
    path = tmp_path / "p.pkl"
    path.write_bytes(pickle.PROTO + b"\x02" + pickle.GLOBAL + f"{module}\n{name}\n".encode()
                     + pickle.STOP)
    with pytest.raises(DatasetError, match=f"p.pkl: refusing to unpickle global {module}.{name}"):
        load_restricted(path)
    path.write_bytes(pickle.dumps(os.system, protocol=4))  # STACK_GLOBAL goes the same way
    with pytest.raises(DatasetError, match="refusing to unpickle global"):
        load_restricted(path)


def test_restricted_unpickler_reads_numpy_2_pickles(tmp_path):
    path = tmp_path / "p.pkl"
    array = np.arange(12, dtype=np.uint8).reshape(3, 4)
    path.write_bytes(pickle.dumps({b"data": array, b"names": [b"a"]}, protocol=4))
    loaded = load_restricted(path)
    np.testing.assert_array_equal(loaded[b"data"], array)
    assert loaded[b"names"] == [b"a"]


# --- Fashion-MNIST -----------------------------------------------------------------------

def write_idx(path, magic, dims, payload, gz=False):
    raw = struct.pack(f">{1 + len(dims)}I", magic, *dims) + payload
    if gz:
        path.with_name(path.name + ".gz").write_bytes(gzip.compress(raw))
    else:
        path.write_bytes(raw)


def write_fashion(folder, gz=False, n=(5, 3)):
    folder.mkdir(parents=True, exist_ok=True)
    for prefix, count in zip(("train", "t10k"), n):
        pixels = (np.arange(count * 784) % 251).astype(np.uint8).tobytes()
        write_idx(folder / f"{prefix}-images-idx3-ubyte", 0x803, (count, 28, 28), pixels, gz)
        labels = bytes(i % 10 for i in range(count))
        write_idx(folder / f"{prefix}-labels-idx1-ubyte", 0x801, (count,), labels, gz)


@pytest.mark.parametrize("gz", [False, True])
def test_fashion_mnist_reads_plain_and_gzipped_idx(tmp_path, gz):
    write_fashion(tmp_path, gz)
    loaded = load_fashion_mnist(tmp_path)
    assert loaded.train.x.shape == (5, 1, 28, 28) and loaded.test.x.shape == (3, 1, 28, 28)
    assert loaded.classes[0] == "T-shirt/top" and loaded.num_classes == 10
    assert loaded.train.x[1, 0, 0, 3] == np.float32((784 + 3) % 251) / 255
    np.testing.assert_array_equal(loaded.test.y, [0, 1, 2])


def test_fashion_mnist_errors_name_the_file(tmp_path):
    with pytest.raises(DatasetError, match="no Fashion-MNIST copy at"):
        load_fashion_mnist(tmp_path / "nowhere")
    write_fashion(tmp_path)
    images = tmp_path / "train-images-idx3-ubyte"
    raw = images.read_bytes()
    images.write_bytes(raw[:-1])
    with pytest.raises(DatasetError, match="train-images-idx3-ubyte: .* bytes but the header"):
        load_fashion_mnist(tmp_path)
    images.write_bytes(raw[:10])
    with pytest.raises(DatasetError, match="10 bytes, shorter than its 16-byte header"):
        load_fashion_mnist(tmp_path)
    images.write_bytes(b"\x00\x00\x08\x01" + raw[4:])
    with pytest.raises(DatasetError, match="train-images-idx3-ubyte: magic number 0x00000801"):
        load_fashion_mnist(tmp_path)
    write_idx(images, 0x803, (5, 32, 32), bytes(5 * 1024))
    with pytest.raises(DatasetError, match=r"items are \(32, 32\), expected \(28, 28\)"):
        load_fashion_mnist(tmp_path)
    write_idx(images, 0x803, (4, 28, 28), bytes(4 * 784))
    with pytest.raises(DatasetError, match="has 4 images but .* has 5 labels"):
        load_fashion_mnist(tmp_path)
    images.write_bytes(raw)
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(DatasetError, match="t10k-labels-idx1-ubyte: file not found"):
        load_fashion_mnist(tmp_path)
    images.unlink()
    images.with_name(images.name + ".gz").write_bytes(b"not gzip")
    with pytest.raises(DatasetError, match="train-images-idx3-ubyte.gz: corrupt gzip"):
        load_fashion_mnist(tmp_path)


def test_idx_header_announcing_too_much_is_refused(tmp_path):
    write_fashion(tmp_path)
    images = tmp_path / "train-images-idx3-ubyte"
    write_idx(images, 0x803, (2**31, 28, 28), bytes(784))
    with pytest.raises(DatasetError, match="train-images-idx3-ubyte: the header announces 2147483648 items"):
        load_fashion_mnist(tmp_path)
    write_idx(images, 0x803, (5, 28, 28), bytes(6 * 784))
    with pytest.raises(DatasetError, match="train-images-idx3-ubyte: has more than the 3936 bytes"):
        load_fashion_mnist(tmp_path)


def test_oversized_cifar_and_tiny_imagenet_files_are_refused(tmp_path, monkeypatch):
    from zoo.datasets import tiny_imagenet

    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    for name in cifar.CIFAR10_MD5:
        (folder / name).write_bytes(b"\x80\x02" + bytes(64))
    monkeypatch.setattr(cifar, "MAX_BATCH_BYTES", 32)
    for verify in (True, False):
        with pytest.raises(DatasetError, match="data_batch_1: is 66 bytes, more than the 32 allowed"):
            cifar.load_cifar10(tmp_path, verify_md5=verify)
    (tmp_path / "wnids.txt").write_text("n01\n" * 40)
    monkeypatch.setattr(tiny_imagenet, "MAX_TEXT_BYTES", 64)
    with pytest.raises(DatasetError, match="wnids.txt: is 160 bytes, more than the 64 allowed"):
        tiny_imagenet.load_tiny_imagenet(tmp_path)


# --- Tiny ImageNet -------------------------------------------------------------------------

WNIDS = ["n03", "n01", "n02"]  # deliberately not sorted: class order is the file's


def write_tiny(folder):
    (folder / "val" / "images").mkdir(parents=True)
    (folder / "wnids.txt").write_text("\n".join(WNIDS) + "\n")
    (folder / "words.txt").write_text("n01\tgoldfish, Carassius auratus\nn03\ttabby, cat\n")
    for label, wnid in enumerate(WNIDS):
        images = folder / "train" / wnid / "images"
        images.mkdir(parents=True)
        colour = np.full((64, 64, 3), (40 * label, 100, 200), dtype=np.uint8)
        Image.fromarray(colour).save(images / f"{wnid}_0.png")
        Image.fromarray(colour).save(images / f"{wnid}_1.JPEG", format="JPEG", quality=95)
    Image.fromarray(np.full((64, 64), 77, np.uint8), mode="L").save(
        folder / "val" / "images" / "val_0.JPEG", format="JPEG", quality=95)
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(folder / "val" / "images" / "val_1.png")
    (folder / "val" / "val_annotations.txt").write_text(
        "val_0.JPEG\tn02\t0\t0\t63\t63\nval_1.png\tn03\t1\t2\t30\t40\n")


def test_tiny_imagenet_reads_train_and_val(tmp_path):
    write_tiny(tmp_path / "tiny-imagenet-200")
    loaded = load_tiny_imagenet(tmp_path)
    assert loaded.classes == ("tabby", "goldfish", "n02")  # n02 has no words.txt entry
    assert loaded.train.x.shape == (6, 3, 64, 64) and loaded.test.x.shape == (2, 3, 64, 64)
    np.testing.assert_array_equal(loaded.train.y, [0, 0, 1, 1, 2, 2])
    png = loaded.train.x[loaded.train.y == 1][0]  # files sorted: n01_0.png, n01_1.JPEG
    np.testing.assert_array_equal(np.round(png[:, 5, 5] * 255), [40, 100, 200])
    np.testing.assert_array_equal(loaded.test.y, [2, 0])
    gray = loaded.test.x[0] * 255
    assert np.abs(gray - 77).max() <= 2 and np.array_equal(gray[0], gray[2])


def test_tiny_imagenet_errors_name_the_problem(tmp_path):
    with pytest.raises(DatasetError, match="no Tiny ImageNet copy at"):
        load_tiny_imagenet(tmp_path / "nowhere")
    write_tiny(tmp_path)
    annotations = tmp_path / "val" / "val_annotations.txt"
    annotations.write_text("val_0.JPEG\tn02\t0\t0\t1\t1\nval_1.png\tn99\t0\t0\t1\t1\n")
    with pytest.raises(DatasetError, match="line 2: wnid 'n99' is not in wnids.txt"):
        load_tiny_imagenet(tmp_path)
    annotations.write_text("val_0.JPEG\tn02\t0\t0\t1\t1\n")
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(tmp_path / "train/n01/images/n01_0.png")
    with pytest.raises(DatasetError, match="n01_0.png: 32x32 pixels, expected 64x64"):
        load_tiny_imagenet(tmp_path)
    (tmp_path / "train/n01/images/n01_0.png").write_bytes(b"not an image")
    with pytest.raises(DatasetError, match="n01_0.png: cannot be decoded"):
        load_tiny_imagenet(tmp_path)
    (tmp_path / "wnids.txt").write_text("n01\nn04\n")
    with pytest.raises(DatasetError, match="n04/images: missing directory"):
        load_tiny_imagenet(tmp_path)
