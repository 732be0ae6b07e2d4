"""A folder of images as a data set: ``folder:PATH``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataError
from .base import Dataset
from .registry import register_scheme
from .scaling import check_scaling
from .streaming import ImageFiles, streamed_dataset, streams
from .user import build_dataset, existing_path, fixed_split, shuffled_split, split_record


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


def read_images(
    files: list[Path],
    color: bool,
    size: tuple[int, int] | None,
    reference: tuple[Path, tuple[int, ...]] | None = None,
) -> np.ndarray:
    """The images ``files`` stacked ``(N, C, H, W)``; each must have the size of the first (or
    of ``reference``: a file and its image's shape)."""
    if not files:
        raise DataError("no images found")
    arrays = []
    for f in files:
        array = _read_image(f, color, size)
        if reference is None:
            reference = f, array.shape
        if array.shape != reference[1]:
            raise DataError(
                f"{f}: image is {array.shape[2]}×{array.shape[1]} but {reference[0].name} is "
                f"{reference[1][2]}×{reference[1][1]}; pass --dataset-option size=[H,W] "
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


def _files_split(
    p: Path, test_fraction: float, split_seed: int, stratify: bool
) -> tuple[list[Path], np.ndarray | None, list[str] | None, Any, tuple[np.ndarray, np.ndarray]]:
    """The image files (sorted), their labels, the class names, the split's record and the train
    and test rows into the files, each split in a seeded random order (a sorted folder would put
    one class first)."""
    if (p / "train").is_dir() and (p / "test").is_dir():
        train_files, classes, train_y = _image_files(p / "train")
        test_files, test_classes, test_y = _image_files(p / "test")
        if classes != test_classes:
            raise DataError(f"{p}: train/ and test/ have different class folders")
        rng = np.random.default_rng(split_seed)
        n = len(train_files)
        rows = (rng.permutation(n), n + rng.permutation(len(test_files)))
        labels = None if train_y is None else np.asarray(train_y + (test_y or []))
        return train_files + test_files, labels, classes, "folders", rows
    files, classes, listed = _image_files(p)
    labels = None if listed is None else np.asarray(listed)
    if stratify:  # each class in both splits, in proportion
        rows = shuffled_split(labels, len(files), test_fraction, split_seed, str(p))
        split = split_record(test_fraction, split_seed, "stratified")
    else:  # the split of sparsevae 0.1.0, which runs recorded without a method were made with
        rows = fixed_split(len(files), test_fraction, split_seed, str(p))
        split = split_record(test_fraction, split_seed)
    return files, labels, classes, split, rows


@register_scheme("folder")
def load_folder(
    path: str,
    color: bool = False,
    size: int | list[int] | None = None,
    test_fraction: float = 0.1,
    split_seed: int = 0,
    scaling: dict | str = "auto",
    stratify: bool = True,
    max_memory: int | str | None = None,
) -> Dataset:
    """Images in a folder: flat, one sub-folder per class, or ``train/`` and ``test/`` folders
    (each flat or with class sub-folders).  Grey unless ``color``; all one size unless ``size``.
    A split made here is stratified by class (``stratify``); both splits are shuffled under
    ``split_seed``.  Decoded on demand when the images' float32 tensors exceed ``max_memory``
    (see :mod:`.streaming`)."""
    p = existing_path(path, "image folder")
    if not p.is_dir():
        raise DataError(f"{p}: not a folder; folder:PATH needs a directory of images")
    files, labels, classes, split, rows = _files_split(p, test_fraction, split_seed, stratify)
    if not files:
        raise DataError(f"{p}: no images found")
    info = {"split": split, "classes": classes, "color": color}
    first = _read_image(files[0], color, _size_hw(size))
    if streams(len(files), first.shape, max_memory):
        reader = ImageFiles(tuple(map(str, files)), color, _size_hw(size), first.shape)
        return streamed_dataset(
            f"folder:{path}", "folder", p, reader, rows, labels, check_scaling(scaling), info
        )
    images = read_images(files, color, _size_hw(size))
    return build_dataset(
        f"folder:{path}",
        "folder",
        p,
        images[rows[0]],
        images[rows[1]],
        None if labels is None else labels[rows[0]],
        None if labels is None else labels[rows[1]],
        check_scaling(scaling),
        per_feature=False,
        extra_info=info,
        rows=rows,
    )
