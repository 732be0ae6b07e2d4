"""A folder of images as a data set: ``folder:PATH``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataError
from .base import Dataset
from .registry import register_scheme
from .scaling import check_scaling
from .user import build_dataset, existing_path, fixed_split, shuffled_split, split_record

Labelled = tuple[np.ndarray, np.ndarray | None]  # images (N, C, H, W) and labels (or None)


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


def _size_hw(size: int | list[int] | None) -> tuple[int, int] | None:
    if size is None:
        return None
    pair = [size, size] if isinstance(size, int) else list(size)
    if len(pair) != 2 or not all(isinstance(s, int) and s > 0 for s in pair):
        raise DataError(f"size must be a positive integer or [H, W], got {size!r}")
    return pair[0], pair[1]


def _labels(labels: list[int] | None) -> np.ndarray | None:
    return None if labels is None else np.asarray(labels)


def _train_test_folders(
    p: Path, color: bool, size: tuple[int, int] | None
) -> tuple[Labelled, Labelled, list[str] | None]:
    """The splits of ``p/train`` and ``p/test`` (each flat or with the same class folders)."""
    train_files, classes, train_y = _image_files(p / "train")
    test_files, test_classes, test_y = _image_files(p / "test")
    if classes != test_classes:
        raise DataError(f"{p}: train/ and test/ have different class folders")
    train = _read_images(train_files, color, size)
    test = _read_images(test_files, color, size)
    if train.shape[1:] != test.shape[1:]:
        raise DataError(
            f"{p}: train images are {train.shape[1:]}, test {test.shape[1:]}; "
            "pass --dataset-option size=[H,W]"
        )
    return (train, _labels(train_y)), (test, _labels(test_y)), classes


def _one_folder(
    p: Path, color: bool, size: tuple[int, int] | None
) -> tuple[Labelled, list[str] | None]:
    """The images of ``p`` (flat or in class folders) in sorted order, with their labels."""
    files, classes, labels = _image_files(p)
    if not files:
        raise DataError(f"{p}: no images found")
    return (_read_images(files, color, size), _labels(labels)), classes


def _take(part: Labelled, rows: np.ndarray) -> Labelled:
    images, labels = part
    return images[rows], None if labels is None else labels[rows]


def _split(
    p: Path, color: bool, size: tuple[int, int] | None, test_fraction: float, split_seed: int,
    stratify: bool,
) -> tuple[Labelled, Labelled, list[str] | None, Any, tuple[np.ndarray, np.ndarray]]:  # fmt: skip
    """Train and test images in a seeded random order (a sorted folder would put one class
    first), the class names, the split's record and the images' places in the sorted files."""
    if (p / "train").is_dir() and (p / "test").is_dir():
        train, test, classes = _train_test_folders(p, color, size)
        rng = np.random.default_rng(split_seed)
        n = len(train[0])
        rows = (rng.permutation(n), n + rng.permutation(len(test[0])))
        return _take(train, rows[0]), _take(test, rows[1] - n), classes, "folders", rows
    everything, classes = _one_folder(p, color, size)
    n = len(everything[0])
    if stratify:  # each class in both splits, in proportion
        rows = shuffled_split(everything[1], n, test_fraction, split_seed, str(p))
        split = split_record(test_fraction, split_seed, "stratified")
    else:  # the split of sparsevae 0.1.0, which runs recorded without a method were made with
        rows = fixed_split(n, test_fraction, split_seed, str(p))
        split = split_record(test_fraction, split_seed)
    return _take(everything, rows[0]), _take(everything, rows[1]), classes, split, rows


@register_scheme("folder")
def load_folder(
    path: str,
    color: bool = False,
    size: int | list[int] | None = None,
    test_fraction: float = 0.1,
    split_seed: int = 0,
    scaling: dict | str = "auto",
    stratify: bool = True,
) -> Dataset:
    """Images in a folder: flat, one sub-folder per class, or ``train/`` and ``test/`` folders
    (each flat or with class sub-folders).  Grey unless ``color``; all one size unless ``size``.
    A split made here is stratified by class (``stratify``); both splits are shuffled under
    ``split_seed``."""
    p = existing_path(path, "image folder")
    if not p.is_dir():
        raise DataError(f"{p}: not a folder; folder:PATH needs a directory of images")
    train, test, classes, split, rows = _split(
        p, color, _size_hw(size), test_fraction, split_seed, stratify
    )
    return build_dataset(
        f"folder:{path}",
        "folder",
        p,
        train[0],
        test[0],
        train[1],
        test[1],
        check_scaling(scaling),
        per_feature=False,
        extra_info={"split": split, "classes": classes, "color": color},
        rows=rows,
    )
