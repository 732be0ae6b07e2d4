"""Data larger than memory: the memory budget, and ``npy:`` / ``folder:`` sets read on demand.

A user's ``npy:`` or ``folder:`` set whose float32 tensors would exceed ``max_memory`` (default:
half the machine's RAM) is built from :class:`.lazy.LazyImages` instead: nothing but the row
indices and labels is held, the scaling is fitted in chunks, and training streams the batches
through worker processes (``training.batches.StreamedBatches``).  Sets that fit stay tensors.
The set records ``info["streamed"]`` so that a resumed run streams again.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ..errors import ConfigError, DataError
from .base import Dataset
from .lazy import LazyImages, RowReader
from .scaling import infer_scaling
from .user import assemble_dataset

DEFAULT_MEMORY_FRACTION = 0.5  # of the machine's RAM, for the in-memory tensors of a data set
SCAN_BYTES = 64 * 2**20  # raw bytes read at a time while fitting a scaling
UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12}
UNITS |= {"k": 2**10, "kib": 2**10, "m": 2**20, "mib": 2**20, "g": 2**30, "gib": 2**30}
UNITS |= {"t": 2**40, "tib": 2**40}


def parse_memory(value: int | float | str, what: str = "max_memory") -> int:
    """A memory size in bytes: a number of bytes, or text such as ``2GB``, ``500MB``, ``1.5GiB``
    (KB/MB/GB/TB are powers of 1000, K/M/G/T and KiB/MiB/GiB/TiB powers of 1024); ``0`` means
    always stream."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number, unit = float(value), ""
    else:
        match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([a-zA-Z]*)\s*", str(value))
        if match is None or match.group(2).lower() not in UNITS:
            raise ConfigError(
                f"{what} must be a size such as 2GB, 500MB or 1.5GiB (or a number of bytes), "
                f"got {value!r}"
            )
        number, unit = float(match.group(1)), match.group(2).lower()
    if not math.isfinite(number) or number < 0:
        raise ConfigError(f"{what} must be a size of at least 0 bytes, got {value!r}")
    return int(number * UNITS[unit])


def machine_memory() -> int:
    """The machine's physical memory in bytes (0 where the system does not say)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return 0


def memory_budget(max_memory: int | float | str | None) -> int:
    """The bytes a data set's tensors may take in memory: ``max_memory`` parsed, or by default
    half the machine's RAM (unlimited where it is unknown)."""
    if max_memory is not None:
        return parse_memory(max_memory)
    total = machine_memory()
    return int(total * DEFAULT_MEMORY_FRACTION) if total else 2**63


def streams(examples: int, example_shape: tuple[int, ...], max_memory: Any) -> bool:
    """Whether ``examples`` float32 examples of ``example_shape`` exceed the memory budget."""
    return examples * math.prod(example_shape) * 4 > memory_budget(max_memory)


@dataclass(frozen=True)
class NpyRows:
    """Rows of a C-ordered ``.npy`` file, read on demand.

    Rows are read with ``os.pread`` (each run of consecutive rows at once), not through a
    memory mapping: the pages a mapping touches, and the neighbours the kernel maps with each
    fault, count in the process's resident memory until it is unmapped, so random batches from
    one mapping kept for an epoch end with the whole file resident.  Read this way, the file's
    hot pages stay in the page cache, outside any process's memory.
    """

    path: str
    dtype: np.dtype
    shape: tuple[int, ...]
    offset: int
    fortran_order: bool

    @classmethod
    def open(cls, path: Path) -> NpyRows:
        """The layout of the ``.npy`` at ``path``, read from its header (DataError when it is not
        a readable one)."""
        try:
            header = np.load(path, mmap_mode="r", allow_pickle=False)  # maps, reads no rows
        except (ValueError, OSError, EOFError) as exc:
            raise DataError(f"{path}: not a readable .npy file ({exc})") from None
        if not isinstance(header, np.memmap):
            raise DataError(f"{path}: is an .npz archive of arrays; name it as npz:{path}")
        fortran = header.ndim > 1 and header.flags.f_contiguous and not header.flags.c_contiguous
        layout = cls(str(path), header.dtype, header.shape, header.offset, fortran)
        del header  # unmapped
        return layout

    def check_rows_readable(self) -> None:
        """Rows are contiguous only in C order; a Fortran-ordered file cannot be streamed."""
        if self.fortran_order:
            raise DataError(
                f"{self.path}: is stored in Fortran order and too large for memory; save it in "
                "C order to stream it: np.save(path, np.ascontiguousarray(x))"
            )

    def read(self, rows: np.ndarray) -> np.ndarray:
        example = self.shape[1:]
        row_bytes = math.prod(example) * self.dtype.itemsize
        order = np.argsort(rows, kind="stable")
        ascending = rows[order]
        runs = np.split(np.arange(len(rows)), np.flatnonzero(np.diff(ascending) != 1) + 1)
        out = np.empty((len(rows), *example), self.dtype)
        with open(self.path, "rb", buffering=0) as f:
            for run in runs:
                if not len(run):
                    continue
                start, count = int(ascending[run[0]]), len(run)
                data = os.pread(f.fileno(), count * row_bytes, self.offset + start * row_bytes)
                if len(data) < count * row_bytes:
                    raise DataError(f"{self.path}: truncated (changed while it was being read?)")
                out[order[run]] = np.frombuffer(data, self.dtype).reshape(count, *example)
        return out


@dataclass(frozen=True)
class ImageFiles:
    """Images of a folder, decoded on demand; every one must have the first one's size."""

    files: tuple[str, ...]
    color: bool
    size: tuple[int, int] | None
    example_shape: tuple[int, ...]
    dtype: ClassVar[np.dtype] = np.dtype(np.uint8)  # decoded as 8-bit grey or RGB

    def read(self, rows: np.ndarray) -> np.ndarray:
        from .image_folder import read_images  # image_folder builds its lazy sets from here

        files = [Path(self.files[i]) for i in rows]
        return read_images(files, self.color, self.size, (Path(self.files[0]), self.example_shape))


def fitted_scaling(reader: RowReader, rows: np.ndarray, kind: str, per_feature: bool) -> dict:
    """``infer_scaling`` of the examples ``rows`` of ``reader``, reading them in chunks: the
    scaling needs only the dtype and each feature's extremes."""
    if kind == "auto" and reader.dtype in (np.bool_, np.uint8, np.uint16):
        return infer_scaling(np.zeros((1, 1), reader.dtype), kind, per_feature)  # by dtype alone
    low = high = None
    step = max(1, SCAN_BYTES // max(1, reader.read(rows[:1]).nbytes))
    for start in range(0, len(rows), step):
        chunk = reader.read(np.sort(rows[start : start + step]))
        if chunk.dtype.kind == "f" and not np.isfinite(chunk).all():
            raise DataError(
                f"{getattr(reader, 'path', 'the data')}: contains NaN or infinite values"
            )
        low = chunk.min(0) if low is None else np.minimum(low, chunk.min(0))
        high = chunk.max(0) if high is None else np.maximum(high, chunk.max(0))
    return infer_scaling(np.stack([low, high]), kind, per_feature)


def streamed_dataset(
    name: str,
    source: str,
    path: Path,
    reader: RowReader,
    rows: tuple[np.ndarray, np.ndarray],
    labels: np.ndarray | None,
    scaling: dict | str,
    extra_info: dict | None = None,
    shape: list[int] | None = None,
) -> Dataset:
    """The data set of ``reader``'s examples ``rows`` (train, test), read on demand; the scaling
    is fitted on the training rows unless a recorded one is given."""
    fitted = (
        scaling if isinstance(scaling, dict) else fitted_scaling(reader, rows[0], scaling, False)
    )
    train = LazyImages(reader, rows[0], fitted, f"{path} (train)", shape)
    test = LazyImages(reader, rows[1], fitted, f"{path} (test)", shape)
    if train.example_shape != test.example_shape:
        raise DataError(
            f"{path}: train examples are {train.example_shape}, test {test.example_shape}"
        )
    split_labels = (None, None) if labels is None else (labels[rows[0]], labels[rows[1]])
    return assemble_dataset(
        name,
        source,
        path,
        (train, split_labels[0]),
        (test, split_labels[1]),
        fitted,
        extra_info,
        rows,
    )


def streaming_note(name: str, nbytes: int) -> str:
    """The line a run prints when it streams its data."""
    return (
        f"sparsevae: note: {name}: {nbytes / 1e6:,.1f} MB as float32 exceeds the memory budget; "
        "streaming the batches from disk (--max-memory sets the budget)"
    )
