"""Examples read on demand: a data set's split that stays on disk until a batch asks for rows.

A :class:`LazyImages` stands where a ``(N, C, H, W)`` float32 tensor would: ``len``, ``shape``,
``dtype``, and indexing (an int, a slice, an index array or tensor) that returns a float32 tensor
in [0, 1].  Each read goes through a :class:`RowReader` (the rows of an ``.npy`` file, the image
files of a folder), is shaped like :func:`.user.as_nchw` and scaled by the set's recorded scaling,
so a batch read here equals the same rows of the in-memory set.  Readers hold no open files or
mappings, so a lazy split pickles into data-loader worker processes.
"""

from __future__ import annotations

import math
from typing import Any, Protocol

import numpy as np
import torch

from .scaling import apply_scaling

READ_CHUNK = 4096  # examples read and scaled at a time


class RowReader(Protocol):
    """The raw values (as stored) of some examples of a source, in the order asked."""

    dtype: np.dtype

    def read(self, rows: np.ndarray) -> np.ndarray: ...


class LazyImages:
    """The examples ``rows`` of ``reader``'s source, shaped ``(N, C, H, W)`` and scaled into [0, 1]
    as they are read."""

    dtype = torch.float32
    device = torch.device("cpu")

    def __init__(
        self,
        reader: RowReader,
        rows: np.ndarray,
        scaling: dict,
        what: str,
        shape: list[int] | None = None,
    ) -> None:
        self.reader, self.rows = reader, np.asarray(rows, dtype=np.int64)
        self.scaling, self.what, self.reshape_to = scaling, what, shape
        self.example_shape = tuple(self._read(self.rows[:1]).shape[1:])

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def shape(self) -> torch.Size:
        return torch.Size((len(self), *self.example_shape))

    @property
    def ndim(self) -> int:
        return 1 + len(self.example_shape)

    @property
    def nbytes(self) -> int:
        """What the split takes as an in-memory float32 tensor."""
        return len(self) * math.prod(self.example_shape) * 4

    def __getitem__(self, key: Any) -> torch.Tensor:
        if isinstance(key, (int, np.integer)):
            return self._read(self.rows[[int(key)]])[0]
        return self._read(self.rows[_index(key)])

    def head(self, n: int) -> LazyImages:
        """The first ``n`` examples, still lazy."""
        return self.subset(np.arange(min(n, len(self))))

    def subset(self, index: Any) -> LazyImages:
        """The examples at ``index`` (positions in this split), still lazy."""
        return LazyImages(
            self.reader, self.rows[_index(index)], self.scaling, self.what, self.reshape_to
        )

    def _read(self, source_rows: np.ndarray) -> torch.Tensor:
        """The examples at ``source_rows``, a chunk at a time: scaling goes through float64,
        which a large read must not hold for all its rows at once."""
        starts = range(0, max(1, len(source_rows)), READ_CHUNK)
        chunks = [self._read_chunk(source_rows[s : s + READ_CHUNK]) for s in starts]
        return chunks[0] if len(chunks) == 1 else torch.cat(chunks)

    def _read_chunk(self, source_rows: np.ndarray) -> torch.Tensor:
        from .user import as_nchw  # user.py builds data sets from this module's class

        values = as_nchw(self.reader.read(source_rows), self.what, self.reshape_to)
        return torch.from_numpy(apply_scaling(values, self.scaling, self.what))

    def __repr__(self) -> str:
        return f"LazyImages({self.what}, shape={tuple(self.shape)})"


def _index(key: Any) -> Any:
    """A slice as it is; an index tensor, array or list as an int64 array (no boolean masks)."""
    if isinstance(key, slice):
        return key
    index = key.cpu().numpy() if isinstance(key, torch.Tensor) else np.asarray(key)
    if index.dtype == np.bool_ or not np.issubdtype(index.dtype, np.integer):
        raise TypeError(f"lazy examples are indexed by integers or slices, not {index.dtype}")
    return index.astype(np.int64, copy=False)


def is_lazy(x: Any) -> bool:
    """Whether ``x`` is read on demand (a :class:`LazyImages`) rather than held in memory."""
    return isinstance(x, LazyImages)
