"""NumPy files as data sets: ``npz:PATH`` and ``npy:PATH`` (never unpickled)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import DataError
from .base import Dataset, check_label_shape
from .registry import register_scheme
from .scaling import check_scaling
from .streaming import NpyRows, streamed_dataset, streams
from .user import as_nchw, build_dataset, existing_path, fixed_split, split_record

TRAIN_KEYS = ("x_train", "train_x", "train_images", "train")
TEST_KEYS = ("x_test", "test_x", "test_images", "test")
SINGLE_KEYS = ("x", "X", "data", "images", "arr_0")
TRAIN_LABEL_KEYS = ("y_train", "train_y", "train_labels")
TEST_LABEL_KEYS = ("y_test", "test_y", "test_labels")
SINGLE_LABEL_KEYS = ("y", "Y", "labels", "targets")


def _pick(arrays: dict[str, np.ndarray], keys: tuple[str, ...]) -> np.ndarray | None:
    for key in keys:
        if key in arrays:
            return arrays[key]
    return None


def _load(path: Path, kind: str) -> np.ndarray | np.lib.npyio.NpzFile:
    try:
        return np.load(path, allow_pickle=False)  # no pickles: a data file must not run code
    except (ValueError, OSError, EOFError) as exc:
        raise DataError(f"{path}: not a readable .{kind} file ({exc})") from None


def _read_npy(path: Path) -> np.ndarray:
    loaded = _load(path, "npy")
    if not isinstance(loaded, np.ndarray):
        loaded.close()
        raise DataError(f"{path}: is an .npz archive of arrays; name it as npz:{path}")
    return loaded


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    loaded = _load(path, "npz")
    if isinstance(loaded, np.ndarray):
        raise DataError(f"{path}: is a single .npy array; name it as npy:{path}")
    with loaded as npz:
        return {k: npz[k] for k in npz.files}


def _check_labels(y: np.ndarray | None, n: int, what: str) -> None:
    """Labels for a file split here must come one per example, before the split indexes them."""
    if y is not None:
        check_label_shape(y.shape, n, what)


@register_scheme("npz")
def load_npz(
    path: str,
    scaling: dict | str = "auto",
    test_fraction: float = 0.1,
    split_seed: int = 0,
    shape: list[int] | None = None,
) -> Dataset:
    """Arrays in a ``.npz``: ``x_train``/``x_test`` (+ ``y_train``/``y_test``), or one ``x``
    (+ ``y``) that is split here."""
    p = existing_path(path, "npz file")
    arrays = _read_npz(p)
    train, test = _pick(arrays, TRAIN_KEYS), _pick(arrays, TEST_KEYS)
    if train is not None and test is not None:
        train_y, test_y = _pick(arrays, TRAIN_LABEL_KEYS), _pick(arrays, TEST_LABEL_KEYS)
        split, rows = "file", None
    else:
        x = _pick(arrays, SINGLE_KEYS) if train is None else train
        if x is None:
            raise DataError(
                f"{p}: no data array; expected x_train and x_test, or x (found: "
                f"{', '.join(arrays) or 'nothing'})"
            )
        y = _pick(arrays, SINGLE_LABEL_KEYS if train is None else TRAIN_LABEL_KEYS)
        _check_labels(y, len(x), str(p))
        tr, te = fixed_split(len(x), test_fraction, split_seed, str(p))
        train, test = x[tr], x[te]
        train_y, test_y = (y[tr], y[te]) if y is not None else (None, None)
        split, rows = split_record(test_fraction, split_seed), (tr, te)
    return build_dataset(
        f"npz:{path}",
        "npz",
        p,
        as_nchw(train, f"{p} (train)", shape),
        as_nchw(test, f"{p} (test)", shape),
        train_y,
        test_y,
        check_scaling(scaling),
        per_feature=False,
        extra_info={"split": split},
        rows=rows,
    )


@register_scheme("npy")
def load_npy(
    path: str,
    labels: str | None = None,
    scaling: dict | str = "auto",
    test_fraction: float = 0.1,
    split_seed: int = 0,
    shape: list[int] | None = None,
    max_memory: int | str | None = None,
) -> Dataset:
    """One array of examples in a ``.npy`` (labels optionally from another ``.npy``), split here.
    Read on demand when its float32 tensors exceed ``max_memory`` (see :mod:`.streaming`)."""
    p = existing_path(path, "npy file")
    layout = NpyRows.open(p)
    stream = len(layout.shape) >= 2 and streams(layout.shape[0], layout.shape[1:], max_memory)
    x = None if stream else _read_npy(p)
    n = layout.shape[0] if layout.shape else 0
    y = None
    if labels is not None:
        y = _read_npy(existing_path(labels, "labels file"))
        _check_labels(y, n, f"{labels} (labels of {p})")
    tr, te = fixed_split(n, test_fraction, split_seed, str(p))
    split = {"split": split_record(test_fraction, split_seed)}
    if x is None:
        layout.check_rows_readable()
        return streamed_dataset(
            f"npy:{path}", "npy", p, layout, (tr, te), y, check_scaling(scaling), split, shape
        )
    return build_dataset(
        f"npy:{path}",
        "npy",
        p,
        as_nchw(x[tr], f"{p} (train)", shape),
        as_nchw(x[te], f"{p} (test)", shape),
        None if y is None else y[tr],
        None if y is None else y[te],
        check_scaling(scaling),
        per_feature=False,
        extra_info=split,
        rows=(tr, te),
    )
