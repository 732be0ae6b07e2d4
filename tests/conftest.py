from __future__ import annotations

import gzip
import os
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

# Tests train tiny models: one thread is faster (no OpenMP spin-waits on a busy machine), and the
# CLI subprocesses some tests start inherit it through the environment.
torch.set_num_threads(1)
os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def write_idx(path: Path, array: np.ndarray, gz: bool = True) -> Path:
    """Write an IDX file (uint8) like the MNIST originals."""
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(
        f">{array.ndim}I", *array.shape
    )
    data = header + array.astype(np.uint8).tobytes()
    if gz:
        path = path.with_name(path.name + ".gz")
        path.write_bytes(gzip.compress(data))
    else:
        path.write_bytes(data)
    return path


@pytest.fixture
def tiny_mnist(tmp_path: Path) -> Path:
    """A directory of MNIST-format IDX files: 64 train and 32 test 28×28 images with labels."""
    rng = np.random.default_rng(0)
    directory = tmp_path / "mnist"
    directory.mkdir()
    for prefix, n in (("train", 64), ("t10k", 32)):
        write_idx(directory / f"{prefix}-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28)))
        write_idx(directory / f"{prefix}-labels-idx1-ubyte", rng.integers(0, 10, n))
    return directory
