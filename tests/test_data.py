"""Built-in data sets and the IDX reader (on files the tests make)."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
import torch

import sparsevae
from sparsevae.data import DownloadSettings
from sparsevae.data.idx import read_idx
from sparsevae.errors import DataError

from .conftest import write_idx


def test_digits():
    data = sparsevae.load_dataset("digits")
    assert data.shape == (1, 8, 8)
    assert len(data.train_x) == 1500 and len(data.test_x) == 297
    assert (
        data.train_x.min() >= 0 and data.train_x.max() <= 1 and data.train_x.dtype == torch.float32
    )
    assert set(data.train_y.tolist()) == set(range(10))
    again = sparsevae.load_dataset("digits")
    assert torch.equal(data.test_x, again.test_x)  # the split is fixed


def test_mnist_from_idx_directory(tiny_mnist):
    data = sparsevae.load_dataset("mnist", data_dir=tiny_mnist)
    assert data.train_x.shape == (64, 1, 28, 28) and data.test_x.shape == (32, 1, 28, 28)
    assert data.train_x.max() <= 1 and data.num_classes == 10


@pytest.mark.parametrize("gz", [True, False])
def test_read_idx_roundtrip(tmp_path, gz):
    array = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    path = write_idx(tmp_path / "x-idx3-ubyte", array, gz=gz)
    assert np.array_equal(read_idx(path), array)


def test_truncated_idx_is_refused(tmp_path):
    path = write_idx(tmp_path / "x-idx3-ubyte", np.zeros((10, 28, 28)), gz=False)
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(DataError, match="truncated"):
        read_idx(path)


def test_truncated_gzip_is_refused(tmp_path):
    path = write_idx(tmp_path / "x-idx3-ubyte", np.zeros((10, 28, 28)))
    path.write_bytes(path.read_bytes()[:40])
    with pytest.raises(DataError, match="corrupt or truncated"):
        read_idx(path)


def test_not_an_idx_file(tmp_path):
    path = tmp_path / "x.gz"
    path.write_bytes(gzip.compress(b"hello world, not idx"))
    with pytest.raises(DataError, match="magic"):
        read_idx(path)


def test_missing_files_are_named(tmp_path):
    with pytest.raises(DataError, match="train-images-idx3-ubyte"):
        sparsevae.load_dataset("mnist", data_dir=tmp_path)
    # Without --data-dir, mnist comes from the download cache; offline and not cached: an error
    # that names the file and both ways out.
    offline = DownloadSettings(cache_dir=tmp_path / "cache", offline=True)
    with pytest.raises(
        DataError, match=r"train-images-idx3-ubyte\.gz: not in the cache.*--data-dir"
    ):
        sparsevae.load_dataset("mnist", download=offline)
    with pytest.raises(DataError, match="unknown data set"):
        sparsevae.load_dataset("imagenet")
