"""The user's own data: ``npz:PATH``, ``npy:PATH``, ``folder:PATH`` and ``csv:PATH``.

The readers live in :mod:`.numpy_files`, :mod:`.image_folder` and :mod:`.csv_file`; the scaling
into [0, 1] in :mod:`.scaling`.  What they share is here: examples shaped ``(N, C, H, W)``, labels,
the fixed train/test split, and the :class:`Dataset` with its record.

Where a file has no train/test split, a fixed one is made: a permutation under ``split_seed``,
the last ``test_fraction`` of it is the test set; each split keeps the file's row order.  A folder
of images, sorted by class and name, is split stratified by class and shuffled instead.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from ..errors import DataError
from .base import Dataset, check_label_shape
from .lazy import LazyImages
from .scaling import apply_scaling, infer_scaling


def as_nchw(array: np.ndarray, what: str, shape: list[int] | None = None) -> np.ndarray:
    """Examples as ``(N, C, H, W)``: (N, H, W) gains a channel, channels-last is transposed,
    flat rows (N, D) become square images (N, 1, √D, √D) when D is a square number and
    (N, 1, 1, D) otherwise, unless ``shape`` reshapes them."""
    if array.ndim < 2 or len(array) == 0:
        raise DataError(f"{what}: expected a batch of examples (N, ...), got shape {array.shape}")
    if shape is not None:
        shape = [int(s) for s in shape]
        if math.prod(shape) != math.prod(array.shape[1:]):
            raise DataError(f"{what}: cannot reshape examples of {array.shape[1:]} to {shape}")
        array = array.reshape(len(array), *shape)
    if array.ndim == 2:
        side = math.isqrt(array.shape[1])
        if side * side == array.shape[1]:  # flattened square images, the common case
            return array.reshape(len(array), 1, side, side)
        return array[:, None, None, :]
    if array.ndim == 3:
        return array[:, None]
    if array.ndim == 4:
        # The channel axis is the one of size 1, 3 or 4; when both could be, the smaller.
        if array.shape[1] in (1, 3, 4) and not (
            array.shape[3] in (1, 3, 4) and array.shape[3] < array.shape[1]
        ):
            return array
        if array.shape[3] in (1, 3, 4):
            return np.ascontiguousarray(array.transpose(0, 3, 1, 2))
        raise DataError(
            f"{what}: cannot tell the channel axis of shape {array.shape}; expected (N, C, H, W) "
            "or (N, H, W, C) with C in 1, 3, 4"
        )
    raise DataError(f"{what}: examples of shape {array.shape[1:]} are not images or feature rows")


def as_labels(y: np.ndarray | None, n: int, what: str) -> torch.Tensor | None:
    if y is None:
        return None
    y = np.asarray(y)
    check_label_shape(y.shape, n, what)
    y = y.reshape(-1)
    if not np.issubdtype(y.dtype, np.integer):
        if np.issubdtype(y.dtype, np.floating) and np.all(np.mod(y, 1) == 0):
            y = y.astype(np.int64)
        else:
            raise DataError(f"{what}: labels must be integers, got {y.dtype}")
    if len(y) and y.min() < 0:
        raise DataError(f"{what}: labels must be ≥ 0, found {int(y.min())}")
    return torch.from_numpy(y.astype(np.int64))


def fixed_split(
    n: int, test_fraction: float, split_seed: int, what: str
) -> tuple[np.ndarray, np.ndarray]:
    if not isinstance(test_fraction, (int, float)) or not 0.0 < test_fraction < 1.0:
        raise DataError(f"test_fraction must be in (0, 1), got {test_fraction!r}")
    n_test = max(1, round(n * test_fraction))
    if n - n_test < 1:
        raise DataError(f"{what}: {n} examples are too few to split into train and test")
    order = np.random.default_rng(split_seed).permutation(n)
    # Which rows go where is random; within each split the rows keep the file's order.
    return np.sort(order[:-n_test]), np.sort(order[-n_test:])


def shuffled_split(
    labels: np.ndarray | None, n: int, test_fraction: float, split_seed: int, what: str
) -> tuple[np.ndarray, np.ndarray]:
    """Train and test rows in a seeded random order; with ``labels``, stratified: each class gives
    ``test_fraction`` of its examples (rounded) to the test split.  For sources kept in a sorted
    order (a folder of class folders), where :func:`fixed_split` would leave each split sorted."""
    train, test = fixed_split(n, test_fraction, split_seed, what)  # checks and sizes
    rng = np.random.default_rng(split_seed)
    if labels is not None:
        parts = [rng.permutation(np.flatnonzero(labels == c)) for c in np.unique(labels)]
        counts = [round(len(members) * test_fraction) for members in parts]
        test = np.concatenate([m[:k] for m, k in zip(parts, counts, strict=True)])
        train = np.concatenate([m[k:] for m, k in zip(parts, counts, strict=True)])
        if len(test) == 0:  # every class too small to give one: one example still goes
            test, train = train[:1], train[1:]
    return rng.permutation(train), rng.permutation(test)


def split_record(
    test_fraction: float, split_seed: int, method: str | None = None
) -> dict[str, float | int | str]:
    """How a file was split, as a data set's ``info["split"]`` records it; ``method`` names a
    split other than :func:`fixed_split`'s."""
    record: dict[str, float | int | str] = {
        "test_fraction": test_fraction,
        "split_seed": split_seed,
    }
    return record if method is None else {**record, "method": method}


def build_dataset(
    name: str,
    source: str,
    path: Path,
    train: np.ndarray,
    test: np.ndarray,
    train_y: np.ndarray | None,
    test_y: np.ndarray | None,
    scaling: dict | str,
    per_feature: bool,
    extra_info: dict | None = None,
    rows: tuple[np.ndarray, np.ndarray] | None = None,
) -> Dataset:
    """The :class:`Dataset` of a user file: ``scaling`` (a recorded one, or a kind to fit on the
    training split) applied to both splits and recorded in ``info``; ``rows`` are the examples'
    places in the file (``Dataset.source_rows``)."""
    if train.shape[1:] != test.shape[1:]:
        raise DataError(f"{path}: train examples are {train.shape[1:]}, test {test.shape[1:]}")
    for values, part in ((train, "train"), (test, "test")):
        if values.dtype.kind == "f" and not np.isfinite(values).all():  # before any arithmetic
            raise DataError(f"{path} ({part}): contains NaN or infinite values")
    fitted = scaling if isinstance(scaling, dict) else infer_scaling(train, scaling, per_feature)
    return assemble_dataset(
        name,
        source,
        path,
        (apply_scaling(train, fitted, f"{path} (train)"), train_y),
        (apply_scaling(test, fitted, f"{path} (test)"), test_y),
        fitted,
        extra_info,
        rows,
    )


def assemble_dataset(
    name: str,
    source: str,
    path: Path,
    train: tuple[np.ndarray | LazyImages, np.ndarray | None],
    test: tuple[np.ndarray | LazyImages, np.ndarray | None],
    scaling: dict,
    extra_info: dict | None = None,
    rows: tuple[np.ndarray, np.ndarray] | None = None,
) -> Dataset:
    """The :class:`Dataset` of scaled ``(examples, labels)`` splits (arrays, or examples read on
    demand), recording the source, the ``scaling`` and, for a set read on demand, ``streamed``."""
    (train_x, train_y), (test_x, test_y) = train, test
    ty = as_labels(train_y, len(train_x), f"{path} (train)")
    sy = as_labels(test_y, len(test_x), f"{path} (test)")
    num_classes = int(max(ty.max(), sy.max() if sy is not None else 0)) + 1 if ty is not None else 0
    streamed = isinstance(train_x, LazyImages)
    return Dataset(
        name,
        train_x if streamed else torch.from_numpy(train_x),
        test_x if isinstance(test_x, LazyImages) else torch.from_numpy(test_x),
        ty,
        sy,
        num_classes=num_classes,
        info={
            "source": source,
            "path": str(path.resolve()),
            "scaling": scaling,
            **(extra_info or {}),
            **({"streamed": True} if streamed else {}),
        },
        source_rows=rows,
    )


def existing_path(path: str, what: str) -> Path:
    p = Path(path).expanduser()
    if not p.exists():
        raise DataError(f"{p}: {what} not found")
    return p
