"""Data set names → loaders.  ``load_dataset(name, data_dir=..., **options)`` returns a Dataset.

Names are either registered sets (``mnist``, ``smiley``, …) or ``SCHEME:PATH`` for the user's own
data (``npz:``, ``npy:``, ``folder:``, ``csv:``; see ``user.py``).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import DataError
from .base import Dataset

if TYPE_CHECKING:
    from .downloads import DownloadSettings, RemoteFile


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    loader: Callable[..., Dataset]
    shape: tuple[int, ...]
    sizes: tuple[int, int]
    description: str
    needs_files: bool = False  # True when the data come from files (download or --data-dir)
    files: tuple[RemoteFile, ...] = ()  # what `sparsevae datasets download NAME` fetches

    @property
    def downloadable(self) -> bool:
        return bool(self.files)

    def options(self) -> dict[str, Any]:
        """The loader's keyword options and their defaults (``data_dir``/``download`` excepted)."""
        return {
            name: p.default
            for name, p in inspect.signature(self.loader).parameters.items()
            if name not in ("data_dir", "download") and p.default is not inspect.Parameter.empty
        }


DATASETS: dict[str, DatasetSpec] = {}
# SCHEME → loader(path, **options) for the user's own data, e.g. "npz" for ``npz:PATH``.
USER_SCHEMES: dict[str, Callable[..., Dataset]] = {}


def register_dataset(
    name: str,
    *,
    shape: tuple[int, ...],
    sizes: tuple[int, int],
    description: str,
    needs_files: bool = False,
    files: tuple[RemoteFile, ...] = (),
) -> Callable[[Callable[..., Dataset]], Callable[..., Dataset]]:
    def wrap(loader: Callable[..., Dataset]) -> Callable[..., Dataset]:
        DATASETS[name] = DatasetSpec(
            name, loader, shape, sizes, description, needs_files or bool(files), tuple(files)
        )
        return loader

    return wrap


def register_scheme(scheme: str) -> Callable[[Callable[..., Dataset]], Callable[..., Dataset]]:
    """Register a loader for ``SCHEME:PATH`` data set names (the user's own files)."""

    def wrap(loader: Callable[..., Dataset]) -> Callable[..., Dataset]:
        USER_SCHEMES[scheme] = loader
        return loader

    return wrap


def split_scheme(name: str) -> tuple[str, str] | None:
    """``("npz", "PATH")`` for ``npz:PATH``; None for a registered name."""
    scheme, sep, path = name.partition(":")
    if sep and scheme in USER_SCHEMES:
        if not path:
            raise DataError(f"{name!r}: give a path after '{scheme}:', e.g. {scheme}:data.{scheme}")
        return scheme, path
    return None


def dataset_spec(name: str) -> DatasetSpec:
    try:
        return DATASETS[name]
    except KeyError:
        schemes = ", ".join(f"{s}:PATH" for s in sorted(USER_SCHEMES))
        raise DataError(
            f"unknown data set {name!r}; choose one of {', '.join(sorted(DATASETS))}"
            + (f", or your own data as {schemes}" if schemes else "")
        ) from None


def loader_options(loader: Callable[..., Dataset]) -> set[str]:
    """The keyword options a data set's loader takes (``data_dir`` and ``download`` aside)."""
    return {p for p in inspect.signature(loader).parameters if p not in ("data_dir", "download")}


def _check_options(name: str, loader: Callable[..., Dataset], options: dict[str, Any]) -> None:
    accepted = loader_options(loader)
    unknown = sorted(set(options) - accepted)
    if unknown:
        raise DataError(
            f"data set {name!r} has no option {unknown[0]!r}; it takes: "
            f"{', '.join(sorted(accepted - {'path'})) or 'no options'}"
        )


def load_dataset(
    name: str,
    data_dir: str | Path | None = None,
    download: DownloadSettings | None = None,
    **options: Any,
) -> Dataset:
    """Load a data set by name (or ``SCHEME:PATH``) with its options.

    ``data_dir`` points at local files where a set needs them; otherwise downloadable sets come
    from the cache, fetched as ``download`` (default: the environment's settings) allows.
    """
    user = split_scheme(name)
    if user is not None:
        scheme, path = user
        loader = USER_SCHEMES[scheme]
        _check_options(name, loader, options)
        return loader(path, **options)
    spec = dataset_spec(name)
    _check_options(name, spec.loader, options)
    if spec.needs_files:
        return spec.loader(data_dir=data_dir, download=download, **options)
    if data_dir is not None:
        raise DataError(f"data set {name!r} is generated or built in; it takes no --data-dir")
    return spec.loader(**options)
