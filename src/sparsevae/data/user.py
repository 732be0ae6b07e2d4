"""The user's own data: ``npz:PATH``, ``npy:PATH``, ``folder:PATH`` and ``csv:PATH``.

Values are mapped to [0, 1] by a *scaling* chosen from the training split (``"auto"``) and
recorded in ``Dataset.info["scaling"]``; a run's config keeps it, so encoding new data with the run
applies the same map (values outside the fitted range are clipped to [0, 1]).  Scalings:

* ``{"kind": "none"}`` — floats already in [0, 1] (booleans too);
* ``{"kind": "divide", "by": 255}`` — 8-bit data (``by`` 65535 for 16-bit);
* ``{"kind": "minmax", "min": lo, "max": hi}`` — one range for all values (images);
* ``{"kind": "minmax-per-feature", "min": [...], "max": [...]}`` — one range per column (CSV).

Where a file has no train/test split, a fixed one is made: a permutation under ``split_seed``,
the last ``test_fraction`` of it is the test set; each split keeps the file's row order.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import DataError
from .base import Dataset
from .registry import register_scheme

TRAIN_KEYS = ("x_train", "train_x", "train_images", "train")
TEST_KEYS = ("x_test", "test_x", "test_images", "test")
SINGLE_KEYS = ("x", "X", "data", "images", "arr_0")
TRAIN_LABEL_KEYS = ("y_train", "train_y", "train_labels")
TEST_LABEL_KEYS = ("y_test", "test_y", "test_labels")
SINGLE_LABEL_KEYS = ("y", "Y", "labels", "targets")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".pgm", ".ppm")
SCALING_KINDS = ("none", "divide", "minmax", "minmax-per-feature")


# ----------------------------------------------------------------------------------------------
# scaling


def infer_scaling(train: np.ndarray, kind: str = "auto", per_feature: bool = False) -> dict:
    """The scaling that maps the training values into [0, 1]."""
    if kind not in ("auto", *SCALING_KINDS):
        raise DataError(
            f"scaling must be 'auto' or one of {', '.join(SCALING_KINDS)}, got {kind!r}"
        )
    if kind == "auto":
        if train.dtype == np.bool_:
            kind = "none"
        elif train.dtype == np.uint8:
            return {"kind": "divide", "by": 255.0}
        elif train.dtype == np.uint16:
            return {"kind": "divide", "by": 65535.0}
        elif np.issubdtype(train.dtype, np.floating) and train.min() >= 0 and train.max() <= 1:
            kind = "none"
        else:
            kind = "minmax-per-feature" if per_feature else "minmax"
    if kind == "none":
        return {"kind": "none"}
    if kind == "divide":
        return {
            "kind": "divide",
            "by": float(np.iinfo(train.dtype).max)
            if np.issubdtype(train.dtype, np.integer)
            else float(train.max()),
        }
    values = train.astype(np.float64)
    if kind == "minmax":
        return {"kind": "minmax", "min": float(values.min()), "max": float(values.max())}
    flat = values.reshape(len(values), -1)
    return {
        "kind": "minmax-per-feature",
        "min": flat.min(axis=0).tolist(),
        "max": flat.max(axis=0).tolist(),
    }


def check_scaling(scaling: Any) -> dict | str:
    if isinstance(scaling, str):
        return scaling
    if not isinstance(scaling, dict) or scaling.get("kind") not in SCALING_KINDS:
        raise DataError(
            f"scaling must be 'auto', one of {', '.join(SCALING_KINDS)}, or a recorded scaling "
            f"dict; got {scaling!r}"
        )
    return scaling


def apply_scaling(values: np.ndarray, scaling: dict, what: str) -> np.ndarray:
    """``values`` mapped into [0, 1] by ``scaling`` as float32 (outside the fitted range: clipped)."""
    x = values.astype(np.float64)
    kind = scaling["kind"]
    if kind == "divide":
        by = float(scaling["by"])
        if by <= 0:
            raise DataError(f"{what}: scaling divides by {by}")
        x = x / by
    elif kind == "minmax":
        lo, hi = float(scaling["min"]), float(scaling["max"])
        x = (x - lo) / (hi - lo if hi > lo else 1.0)
    elif kind == "minmax-per-feature":
        flat = x.reshape(len(x), -1)
        lo, hi = np.asarray(scaling["min"], np.float64), np.asarray(scaling["max"], np.float64)
        if lo.shape != flat.shape[1:]:
            raise DataError(
                f"{what}: {flat.shape[1]} features per example but the scaling was fitted on "
                f"{lo.size}"
            )
        x = ((flat - lo) / np.where(hi > lo, hi - lo, 1.0)).reshape(x.shape)
    if not np.isfinite(x).all():
        raise DataError(f"{what}: contains NaN or infinite values")
    return np.clip(x, 0.0, 1.0).astype(np.float32)


# ----------------------------------------------------------------------------------------------
# shapes, labels, splits


def as_nchw(array: np.ndarray, what: str, shape: list[int] | None = None) -> np.ndarray:
    """Examples as ``(N, C, H, W)``: (N, H, W) gains a channel, channels-last is transposed,
    feature rows (N, D) become (N, 1, 1, D) unless ``shape`` reshapes them."""
    if array.ndim < 2 or len(array) == 0:
        raise DataError(f"{what}: expected a batch of examples (N, ...), got shape {array.shape}")
    if shape is not None:
        shape = [int(s) for s in shape]
        if math.prod(shape) != math.prod(array.shape[1:]):
            raise DataError(f"{what}: cannot reshape examples of {array.shape[1:]} to {shape}")
        array = array.reshape(len(array), *shape)
    if array.ndim == 2:
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
    y = np.asarray(y).reshape(-1)
    if len(y) != n:
        raise DataError(f"{what}: {n} examples but {len(y)} labels")
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


def _build(
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
) -> Dataset:
    if train.shape[1:] != test.shape[1:]:
        raise DataError(f"{path}: train examples are {train.shape[1:]}, test {test.shape[1:]}")
    fitted = scaling if isinstance(scaling, dict) else infer_scaling(train, scaling, per_feature)
    ty = as_labels(train_y, len(train), f"{path} (train)")
    sy = as_labels(test_y, len(test), f"{path} (test)")
    num_classes = int(max(ty.max(), sy.max() if sy is not None else 0)) + 1 if ty is not None else 0
    return Dataset(
        name,
        torch.from_numpy(apply_scaling(train, fitted, f"{path} (train)")),
        torch.from_numpy(apply_scaling(test, fitted, f"{path} (test)")),
        ty,
        sy,
        num_classes=num_classes,
        info={
            "source": source,
            "path": str(path.resolve()),
            "scaling": fitted,
            **(extra_info or {}),
        },
    )


def _existing(path: str, what: str) -> Path:
    p = Path(path).expanduser()
    if not p.exists():
        raise DataError(f"{p}: {what} not found")
    return p


# ----------------------------------------------------------------------------------------------
# npz / npy


def _pick(arrays: dict[str, np.ndarray], keys: tuple[str, ...]) -> np.ndarray | None:
    for key in keys:
        if key in arrays:
            return arrays[key]
    return None


def _read_npy(path: Path) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)  # no pickles: a data file must not run code
    except (ValueError, OSError, EOFError) as exc:
        raise DataError(f"{path}: not a readable .npy file ({exc})") from None


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
    p = _existing(path, "npz file")
    try:
        with np.load(p, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except (ValueError, OSError, EOFError) as exc:
        raise DataError(f"{p}: not a readable .npz file ({exc})") from None
    train, test = _pick(arrays, TRAIN_KEYS), _pick(arrays, TEST_KEYS)
    if train is not None and test is not None:
        train_y, test_y = _pick(arrays, TRAIN_LABEL_KEYS), _pick(arrays, TEST_LABEL_KEYS)
        split = "file"
    else:
        x = _pick(arrays, SINGLE_KEYS) if train is None else train
        if x is None:
            raise DataError(
                f"{p}: no data array; expected x_train and x_test, or x (found: "
                f"{', '.join(arrays) or 'nothing'})"
            )
        y = _pick(arrays, SINGLE_LABEL_KEYS if train is None else TRAIN_LABEL_KEYS)
        tr, te = fixed_split(len(x), test_fraction, split_seed, str(p))
        train, test = x[tr], x[te]
        train_y, test_y = (y[tr], y[te]) if y is not None else (None, None)
        split = {"test_fraction": test_fraction, "split_seed": split_seed}
    return _build(
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
    )


@register_scheme("npy")
def load_npy(
    path: str,
    labels: str | None = None,
    scaling: dict | str = "auto",
    test_fraction: float = 0.1,
    split_seed: int = 0,
    shape: list[int] | None = None,
) -> Dataset:
    """One array of examples in a ``.npy`` (labels optionally from another ``.npy``), split here."""
    p = _existing(path, "npy file")
    x = _read_npy(p)
    y = None
    if labels is not None:
        y = _read_npy(_existing(labels, "labels file"))
        if len(y) != len(x):
            raise DataError(f"{labels}: {len(y)} labels for {len(x)} examples in {p}")
    tr, te = fixed_split(len(x), test_fraction, split_seed, str(p))
    return _build(
        f"npy:{path}",
        "npy",
        p,
        as_nchw(x[tr], f"{p} (train)", shape),
        as_nchw(x[te], f"{p} (test)", shape),
        None if y is None else y[tr],
        None if y is None else y[te],
        check_scaling(scaling),
        per_feature=False,
        extra_info={"split": {"test_fraction": test_fraction, "split_seed": split_seed}},
    )


# ----------------------------------------------------------------------------------------------
# folder of images


def _visible(path: Path) -> bool:
    return not path.name.startswith(".")  # .DS_Store, editor swap files: never data


def _image_files(directory: Path) -> tuple[list[Path], list[str] | None, list[int] | None]:
    """Image paths in ``directory``: flat (no labels) or one sub-folder per class (sorted)."""
    entries = sorted(e for e in directory.iterdir() if _visible(e))
    folders = [e for e in entries if e.is_dir()]
    if not folders:
        return entries, None, None
    stray = [e for e in entries if not e.is_dir()]
    if stray:
        raise DataError(
            f"{stray[0]}: a file beside class folders; put every image in its class's folder"
        )
    classes = [f.name for f in folders]
    files, labels = [], []
    for label, folder in enumerate(folders):
        inner = sorted(e for e in folder.iterdir() if _visible(e))
        nested = [e for e in inner if e.is_dir()]
        if nested:
            raise DataError(f"{nested[0]}: class folders must hold images, not folders")
        files += inner
        labels += [label] * len(inner)
    return files, classes, labels


def _read_image(path: Path, color: bool, size: tuple[int, int] | None) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            image = image.convert("RGB" if color else "L")
            if size is not None and image.size != (size[1], size[0]):
                image = image.resize((size[1], size[0]), Image.BILINEAR)
            array = np.asarray(image, dtype=np.uint8)
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise DataError(
            f"{path}: not an image that can be read ({type(exc).__name__}); remove it from the "
            "folder or replace it"
        ) from None
    return array.transpose(2, 0, 1) if color else array[None]


def _read_images(files: list[Path], color: bool, size: tuple[int, int] | None) -> np.ndarray:
    if not files:
        raise DataError("no images found")
    arrays = []
    for f in files:
        array = _read_image(f, color, size)
        if arrays and array.shape != arrays[0].shape:
            raise DataError(
                f"{f}: image is {array.shape[2]}×{array.shape[1]} but {files[0].name} is "
                f"{arrays[0].shape[2]}×{arrays[0].shape[1]}; pass --dataset-option size=[H,W] "
                "to resize all images"
            )
        arrays.append(array)
    return np.stack(arrays)


@register_scheme("folder")
def load_folder(
    path: str,
    color: bool = False,
    size: int | list[int] | None = None,
    test_fraction: float = 0.1,
    split_seed: int = 0,
    scaling: dict | str = "auto",
) -> Dataset:
    """Images in a folder: flat, one sub-folder per class, or ``train/`` and ``test/`` folders
    (each flat or with class sub-folders).  Grey unless ``color``; all one size unless ``size``."""
    p = _existing(path, "image folder")
    if not p.is_dir():
        raise DataError(f"{p}: not a folder; folder:PATH needs a directory of images")
    if size is not None:
        pair = [size, size] if isinstance(size, int) else list(size)
        if len(pair) != 2 or not all(isinstance(s, int) and s > 0 for s in pair):
            raise DataError(f"size must be a positive integer or [H, W], got {size!r}")
        size_hw: tuple[int, int] | None = (pair[0], pair[1])
    else:
        size_hw = None
    if (p / "train").is_dir() and (p / "test").is_dir():
        train_files, train_classes, train_y = _image_files(p / "train")
        test_files, test_classes, test_y = _image_files(p / "test")
        if train_classes != test_classes:
            raise DataError(f"{p}: train/ and test/ have different class folders")
        classes = train_classes
        train = _read_images(train_files, color, size_hw)
        test = _read_images(test_files, color, size_hw)
        if train.shape[1:] != test.shape[1:]:
            raise DataError(
                f"{p}: train images are {train.shape[1:]}, test {test.shape[1:]}; "
                "pass --dataset-option size=[H,W]"
            )
        split: Any = "folders"
    else:
        files, classes, labels = _image_files(p)
        if not files:
            raise DataError(f"{p}: no images found")
        images = _read_images(files, color, size_hw)
        tr, te = fixed_split(len(images), test_fraction, split_seed, str(p))
        train, test = images[tr], images[te]
        y = np.asarray(labels) if labels is not None else None
        train_y, test_y = (y[tr], y[te]) if y is not None else (None, None)
        split = {"test_fraction": test_fraction, "split_seed": split_seed}
    return _build(
        f"folder:{path}",
        "folder",
        p,
        train,
        test,
        None if train_y is None else np.asarray(train_y),
        None if test_y is None else np.asarray(test_y),
        check_scaling(scaling),
        per_feature=False,
        extra_info={"split": split, "classes": classes, "color": color},
    )


# ----------------------------------------------------------------------------------------------
# csv


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


@register_scheme("csv")
def load_csv(
    path: str,
    label_column: int | str | None = None,
    delimiter: str = ",",
    scaling: dict | str = "auto",
    test_fraction: float = 0.1,
    split_seed: int = 0,
) -> Dataset:
    """Rows of numeric features (a header row is detected); ``label_column`` (index or header
    name) holds labels.  Each feature is scaled to [0, 1] by its own training range."""
    p = _existing(path, "csv file")
    try:
        with open(p, newline="") as f:
            rows = [
                r for r in csv.reader(f, delimiter=delimiter) if r and any(c.strip() for c in r)
            ]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"{p}: cannot read as CSV ({exc})") from None
    if not rows:
        raise DataError(f"{p}: the file has no rows")
    header = None if all(_is_number(c) for c in rows[0]) else [c.strip() for c in rows[0]]
    body = rows[1:] if header else rows
    width = len(rows[0])
    label_index = None
    if label_column is not None:
        if isinstance(label_column, str) and not label_column.lstrip("-").isdigit():
            if header is None or label_column not in header:
                raise DataError(f"{p}: no column named {label_column!r} (header: {header})")
            label_index = header.index(label_column)
        else:
            label_index = int(label_column) % width
    features, labels = [], []
    for line, row in enumerate(body, start=2 if header else 1):
        if len(row) != width:
            raise DataError(f"{p}:{line}: {len(row)} columns, expected {width}")
        try:
            features.append([float(c) for i, c in enumerate(row) if i != label_index])
        except ValueError:
            raise DataError(f"{p}:{line}: a feature is not a number") from None
        if label_index is not None:
            labels.append(row[label_index].strip())
    if not features or not features[0]:
        raise DataError(f"{p}: no feature columns")
    x = np.asarray(features, dtype=np.float64)
    classes = None
    y = None
    if label_index is not None:
        if all(_is_number(v) and float(v).is_integer() and float(v) >= 0 for v in labels):
            y = np.asarray([int(float(v)) for v in labels], dtype=np.int64)
        else:  # text labels: classes in sorted order
            classes = sorted(set(labels))
            y = np.asarray([classes.index(v) for v in labels], dtype=np.int64)
    tr, te = fixed_split(len(x), test_fraction, split_seed, str(p))
    return _build(
        f"csv:{path}",
        "csv",
        p,
        as_nchw(x[tr], f"{p} (train)"),
        as_nchw(x[te], f"{p} (test)"),
        None if y is None else y[tr],
        None if y is None else y[te],
        check_scaling(scaling),
        per_feature=True,
        extra_info={
            "split": {"test_fraction": test_fraction, "split_seed": split_seed},
            "columns": [c for i, c in enumerate(header) if i != label_index] if header else None,
            "classes": classes,
        },
    )
