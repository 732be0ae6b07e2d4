"""Reader for the IDX format of MNIST and Fashion-MNIST, gzipped or not.

The header is checked against the file's size, so a truncated or corrupt file is refused with the
file's name rather than read as garbage.
"""

from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path

import numpy as np

from ..errors import DataError

_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (``.gz`` or plain) into an array of its declared shape."""
    path = Path(path)
    try:
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(
            f"{path}: cannot decompress ({exc}); the file is corrupt or truncated"
        ) from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _DTYPES:
        raise DataError(f"{path}: not an IDX file (bad magic number)")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{path}: truncated IDX header")
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    dtype = np.dtype(_DTYPES[raw[2]])
    expected = header + int(np.prod(shape)) * dtype.itemsize
    if len(raw) != expected:
        raise DataError(
            f"{path}: IDX file is {len(raw)} bytes but its header declares {expected}; "
            "the file is truncated or corrupt — download it again"
        )
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)


def find_idx_file(directory: Path, stem: str) -> Path:
    """``stem`` or ``stem.gz`` in ``directory`` (also accepting the ``-idx3.ubyte`` spelling)."""
    candidates = [
        stem,
        stem + ".gz",
        stem.replace("-idx", ".idx"),
        stem.replace("-idx", ".idx") + ".gz",
    ]
    for name in candidates:
        if (directory / name).is_file():
            return directory / name
    raise DataError(
        f"{directory}: missing {stem}[.gz]; expected the four IDX files "
        "(train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, "
        "t10k-labels-idx1-ubyte), gzipped or not"
    )


def load_idx_directory(directory: str | Path) -> tuple[np.ndarray, ...]:
    """Train images, train labels, test images, test labels from a directory of IDX files."""
    directory = Path(directory)
    if not directory.is_dir():
        raise DataError(f"{directory}: data directory not found")
    arrays = [
        read_idx(find_idx_file(directory, stem))
        for stem in (
            "train-images-idx3-ubyte",
            "train-labels-idx1-ubyte",
            "t10k-images-idx3-ubyte",
            "t10k-labels-idx1-ubyte",
        )
    ]
    for images, labels, part in ((arrays[0], arrays[1], "train"), (arrays[2], arrays[3], "t10k")):
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise DataError(
                f"{directory}: {part} images {images.shape} and labels {labels.shape} do not match"
            )
    return tuple(arrays)
