"""Data sets as tensors: ``load_dataset(name, data_dir=...)``; importing registers every set.

Registered names (``digits``, ``mnist``, ``fashion-mnist``, ``cifar10-gray``, ``smiley``,
``templates``, ``natural-patches``) and the user's own data as ``npz:PATH``, ``npy:PATH``,
``folder:PATH``, ``csv:PATH``.
"""

# Importing these registers the sets and the user-data schemes.
from . import (  # noqa: F401
    builtin,
    csv_file,
    image_folder,
    numpy_files,
    patches,
    public,
    synthetic,
)
from .base import Dataset, validate_images
from .downloads import DownloadError, DownloadSettings, RemoteFile
from .record import data_record
from .registry import (
    DATASETS,
    USER_SCHEMES,
    dataset_spec,
    load_dataset,
    register_dataset,
    register_scheme,
    split_scheme,
)

__all__ = [
    "DATASETS",
    "USER_SCHEMES",
    "Dataset",
    "DownloadError",
    "DownloadSettings",
    "RemoteFile",
    "data_record",
    "dataset_spec",
    "load_dataset",
    "register_dataset",
    "register_scheme",
    "split_scheme",
    "validate_images",
]
