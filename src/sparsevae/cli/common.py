"""Pieces the CLI verbs share: loading a run with its data, refusing to overwrite files, the
reconstructions and sample labels of figures."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import torch

from ..batching import eval_mode
from ..data import USER_SCHEMES, Dataset, DownloadSettings, load_dataset, split_scheme
from ..data.downloads import CACHE_ENV, MIRROR_ENV, OFFLINE_ENV
from ..data.registry import loader_options
from ..data.streaming import parse_memory
from ..errors import ConfigError, DataError, RunDirectoryError
from ..evaluation.metrics import labels_for
from ..models import SparseVAEModel
from ..training import load, read_config
from ..training.trainer import resolve_device


def add_device_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda (default: auto)")


def add_data_arguments(
    parser: argparse.ArgumentParser, default: str | None = None
) -> argparse._ArgumentGroup:
    """``--dataset`` (``default``: a data set's name; None: the run's own) and every flag that
    says where its data come from."""
    group = parser.add_argument_group("data")
    group.add_argument(
        "--dataset",
        default=default,
        help="data set name, or your own data as npz:PATH, npy:PATH, folder:PATH, csv:PATH "
        f"(see `sparsevae datasets list`; default: {default or 'the run’s own'})",
    )
    group.add_argument(
        "--data-dir", help="directory holding the data set's files (instead of the download cache)"
    )
    group.add_argument(
        "--dataset-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="data set option (repeatable), value parsed as JSON, e.g. n_train=2000; "
        "recorded in the run so evaluate/encode rebuild the same data",
    )
    add_download_arguments(group)
    return group


def add_download_arguments(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    parser.add_argument(
        "--cache-dir",
        help=f"download cache (default: ${CACHE_ENV} or the platform's user cache directory)",
    )
    parser.add_argument(
        "--mirror",
        help=f"base URL that replaces the official download sources (default: ${MIRROR_ENV}); "
        "files are fetched from MIRROR/FILENAME, {name} in it is the data set's name",
    )
    parser.add_argument(
        "--offline",
        action="store_true",
        default=None,
        help=f"no network: use only the cache or --data-dir (also ${OFFLINE_ENV}=1)",
    )


def download_settings(args: argparse.Namespace) -> DownloadSettings:
    """The download settings of the command line, falling back on the environment variables."""
    return DownloadSettings.from_environment(
        cache_dir=getattr(args, "cache_dir", None),
        mirror=getattr(args, "mirror", None),
        offline=getattr(args, "offline", None),
        progress=not getattr(args, "no_progress", False),
    )


def dataset_options(args: argparse.Namespace) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for text in getattr(args, "dataset_option", None) or []:
        key, value = parse_option(text, flag="--dataset-option")
        options[key] = value
    memory = getattr(args, "max_memory", None)  # train's --max-memory: an option of file sets
    if memory is not None:
        parse_memory(memory, "--max-memory")  # a typo fails before any data are read
        options["max_memory"] = memory
    return options


def check_output_file(path: str | Path, overwrite: bool) -> Path:
    """Refuse to replace an existing file unless asked to."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise RunDirectoryError(f"{path}: already exists; pass --overwrite to replace it")
    if not path.parent.exists():
        raise RunDirectoryError(f"{path.parent}: directory does not exist")
    return path


def load_run(run_dir: str, device: str = "auto") -> tuple[SparseVAEModel, dict[str, Any]]:
    config = read_config(run_dir)
    model = load(run_dir, map_location=resolve_device(device))
    return model, config


def dataset_from_args(args: argparse.Namespace) -> Dataset:
    """The data set named by ``--dataset`` with its ``--dataset-option``s and download flags.

    The options are recorded in ``Dataset.info["options"]``: the run's config keeps ``info``, so
    ``run_dataset`` can rebuild exactly this data for evaluate and encode.
    """
    options = dataset_options(args)
    data = load_dataset(
        args.dataset, data_dir=args.data_dir, download=download_settings(args), **options
    )
    data.info["options"] = options
    return data


def run_dataset(
    config: dict[str, Any],
    dataset: str | None = None,
    data_dir: str | None = None,
    *,
    args: argparse.Namespace | None = None,
) -> Dataset:
    """The run's data set (as recorded in its config), or another one named on the command line.

    Reloading the run's own set reuses its recorded options (and its training limit).  For the
    user's own data the run's scaling is applied (also to other files named with --dataset), so
    codes of new data are computed on the same [0, 1] map the model was trained on.
    """
    data = config.get("data", {})
    info = data.get("info") or {}
    recorded = data.get("name")
    name = dataset or recorded
    if not name:
        raise DataError("the run records no data set; pass --dataset (and --data-dir)")
    same = name == recorded
    options: dict[str, Any] = dict(data.get("options") or info.get("options") or {}) if same else {}
    given = dataset_options(args) if args is not None else {}
    options.update(given)
    user = split_scheme(name)
    if user is not None:
        options.update(_as_the_run_read(config, user[0], same, given))
        if same and info.get("path") and not Path(user[1]).expanduser().exists():
            name = f"{user[0]}:{info['path']}"  # a relative path, run from another directory
    directory = data_dir or (recorded_data_dir(data) if same else None)
    settings = download_settings(args) if args is not None else DownloadSettings.from_environment()
    loaded = load_dataset(name, data_dir=directory, download=settings, **options)
    return loaded.first_train(data.get("train_limit")) if same else loaded


def _as_the_run_read(
    config: dict[str, Any], scheme: str, same: bool, given: dict[str, Any]
) -> dict[str, Any]:
    """Options that read the user's data (scheme ``scheme``) as the run read its own: the
    recorded scaling, the model's input shape, streaming where the run streamed, and a folder
    split as sparsevae 0.1.0 split it."""
    info = config.get("data", {}).get("info") or {}
    accepted = loader_options(USER_SCHEMES[scheme])
    options: dict[str, Any] = {}
    recorded = config.get("data", {}).get("name") or ""
    if split_scheme(recorded) is not None and isinstance(info.get("scaling"), dict):
        options["scaling"] = info["scaling"]  # the map the model was trained on
    if "shape" in accepted:  # rows shaped as the model takes them (0.1.0 kept 1×1×D strips)
        options["shape"] = config["model"]["config"]["input_shape"]
    if same and info.get("streamed") and "max_memory" in accepted:
        options["max_memory"] = 0  # a run that streamed its data streams them again
    split = info.get("split")
    if same and "stratify" in accepted and isinstance(split, dict) and "method" not in split:
        options["stratify"] = False  # a folder split by 0.1.0: the same test images
    return {key: value for key, value in options.items() if key not in given}


def recorded_data_dir(data: dict[str, Any]) -> str | None:
    """The data directory a run recorded, refused in one line when it is no longer there."""
    directory = data.get("data_dir")
    if directory is not None and not Path(directory).is_dir():
        raise DataError(
            f"{directory}: the run's data directory (recorded in its config.json) is not there; "
            "pass --data-dir DIR to read the data from another directory"
        )
    return directory


def parse_option(text: str, flag: str = "--option") -> tuple[str, Any]:
    """``KEY=VALUE`` with VALUE read as JSON where it parses (numbers, lists, true/false)."""
    if "=" not in text:
        raise ConfigError(f"{flag} expects KEY=VALUE, got {text!r}")
    key, value = text.split("=", 1)
    try:
        return key.strip().replace("-", "_"), json.loads(value)
    except json.JSONDecodeError:
        return key.strip().replace("-", "_"), value


def reconstructions(
    model: SparseVAEModel, x: torch.Tensor, y: torch.Tensor | None = None
) -> torch.Tensor:
    """The model's reconstructions of ``x`` (with ``y`` for a conditional model) on the CPU,
    computed in eval mode; for figures, so ``x`` is small and goes in one batch."""
    y = labels_for(model, y)
    with eval_mode(model):
        return model.reconstruct(
            x.to(model.device), None if y is None else y.to(model.device)
        ).cpu()


def sample_labels(model: SparseVAEModel, n: int, label: int | None = None) -> torch.Tensor | None:
    """Class labels for ``n`` prior samples of a conditional model: ``label`` for all, or the
    classes in turn; None for an unconditional model."""
    if not model.num_classes:
        return None
    if label is None:
        return torch.arange(n, device=model.device) % model.num_classes
    return torch.full((n,), label, device=model.device)
