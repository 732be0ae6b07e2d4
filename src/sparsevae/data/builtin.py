"""The built-in data set (scikit-learn's 8×8 digits, no download) and the IDX-directory loader."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..errors import DataError
from .base import Dataset
from .idx import load_idx_directory
from .registry import register_dataset

# The digits split is fixed: a permutation under this seed, the last DIGITS_TEST examples are test.
DIGITS_SPLIT_SEED = 0
DIGITS_TEST = 297


@register_dataset(
    "digits",
    shape=(1, 8, 8),
    sizes=(1500, 297),
    description="scikit-learn's bundled 8×8 handwritten digits, values /16 (built in, no download)",
)
def load_digits() -> Dataset:
    from sklearn.datasets import load_digits as sk_digits

    bunch = sk_digits()
    x = torch.from_numpy((bunch.images / 16.0).astype(np.float32)).unsqueeze(1)
    y = torch.from_numpy(bunch.target.astype(np.int64))
    order = torch.from_numpy(np.random.default_rng(DIGITS_SPLIT_SEED).permutation(len(x)))
    train, test = order[:-DIGITS_TEST], order[-DIGITS_TEST:]
    return Dataset(
        "digits", x[train], x[test], y[train], y[test], num_classes=10, info={"scale": "x / 16"}
    )


def idx_dataset(name: str, data_dir: str | Path | None, source: str = "data_dir") -> Dataset:
    """MNIST-format data (the four IDX files, gzipped or not) from ``data_dir``."""
    if data_dir is None:
        raise DataError(f"{name}: pass --data-dir DIR, a directory holding the four IDX files")
    train_x, train_y, test_x, test_y = load_idx_directory(data_dir)

    def images(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(a.astype(np.float32) / 255.0).unsqueeze(1)

    return Dataset(
        name,
        images(train_x),
        images(test_x),
        torch.from_numpy(train_y.astype(np.int64)),
        torch.from_numpy(test_y.astype(np.int64)),
        num_classes=10,
        info={"scale": "x / 255", "source": source},
    )
