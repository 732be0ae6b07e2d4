"""``sparsevae datasets list|info|download|show``: what data sets there are, fetch and look at them."""

from __future__ import annotations

import argparse
import json
from typing import Any

from ..data import DATASETS, USER_SCHEMES, Dataset, dataset_spec, split_scheme
from ..data.downloads import dataset_cache_dir, fetch, is_cached
from ..errors import DataError
from ..plots import save_image_grid
from .common import (
    add_download_arguments,
    check_output_file,
    dataset_from_args,
    dataset_options,
    download_settings,
)


def add_parser(verbs: argparse._SubParsersAction) -> None:
    p = verbs.add_parser(
        "datasets",
        help="list, describe, download and show data sets",
        description="The registered data sets: list them, describe one, download it into the "
        "cache (verified by SHA-256), or write a grid of its examples.",
    )
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)

    lst = actions.add_parser("list", help="name, shape, sizes and whether cached, per data set")
    lst.add_argument("--json", action="store_true", help="one JSON object per line")
    add_download_arguments(lst)
    lst.set_defaults(func=run_list)

    info = actions.add_parser(
        "info",
        help="a data set's description, options, files and cache; for your own data "
        "(npz:PATH, …) its shape, sizes, classes, scaling and split",
    )
    info.add_argument("name", metavar="NAME")
    add_option_argument(info)
    add_download_arguments(info)
    info.set_defaults(func=run_info)

    dl = actions.add_parser("download", help="fetch a data set's files into the cache")
    dl.add_argument("name", metavar="NAME")
    dl.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_download_arguments(dl)
    dl.set_defaults(func=run_download)

    show = actions.add_parser("show", help="write a grid of a data set's examples to a PNG")
    show.add_argument("name", metavar="NAME")
    show.add_argument("--out", required=True, help="output PNG")
    show.add_argument("-n", type=int, default=64, help="number of examples (default 64)")
    show.add_argument("--split", choices=("train", "test"), default="train")
    show.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    show.add_argument("--data-dir", help="directory holding the data set's files")
    add_option_argument(show)
    show.add_argument("--no-progress", action="store_true", help="no download progress bar")
    add_download_arguments(show)
    show.set_defaults(func=run_show)


def add_option_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dataset-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="data set option (repeatable), value parsed as JSON, e.g. n_train=256",
    )


def _cached(name: str, args: argparse.Namespace) -> str:
    spec = DATASETS[name]
    if not spec.downloadable:
        if spec.needs_files:
            return "--data-dir"
        return "generated" if spec.loader.__module__.endswith(".synthetic") else "built in"
    return "yes" if is_cached(name, spec.files, download_settings(args)) else "no"


def run_list(args: argparse.Namespace) -> int:
    rows = []
    for name in sorted(DATASETS):
        spec = DATASETS[name]
        rows.append(
            {
                "name": name,
                "shape": "×".join(str(s) for s in spec.shape),
                "train": spec.sizes[0],
                "test": spec.sizes[1],
                "cached": _cached(name, args),
            }
        )
    if args.json:
        for row in rows:
            print(json.dumps(row))
        return 0
    headers = {
        "name": "name",
        "shape": "shape",
        "train": "train",
        "test": "test",
        "cached": "cached",
    }
    widths = {k: max(len(str(r[k])) for r in [headers, *rows]) for k in headers}
    for row in [headers, *rows]:
        print("  ".join(str(row[k]).ljust(widths[k]) for k in headers).rstrip())
    print(
        "\nyour own data: "
        + ", ".join(f"{s}:PATH" for s in sorted(USER_SCHEMES))
        + " (see docs/datasets.md)"
    )
    return 0


def _spec_of(name: str):
    if split_scheme(name) is not None:
        raise DataError(f"{name!r} is your own data; `datasets {name}` needs a registered name")
    return dataset_spec(name)


def _user_data_lines(args: argparse.Namespace) -> list[tuple[str, Any]]:
    """What ``datasets info`` says of the user's own data: read, as train would read it."""
    args.dataset, args.data_dir = args.name, None
    data = dataset_from_args(args)
    info = data.info
    lines: list[tuple[str, Any]] = [
        ("name", data.name),
        ("file", info.get("path")),
        ("shape", "×".join(str(s) for s in data.shape)),
        ("train / test", f"{len(data.train_x)} / {len(data.test_x)}"),
        ("classes", data.num_classes or "no labels"),
    ]
    if info.get("classes"):
        lines.append(("class names", ", ".join(map(str, info["classes"]))))
    lines.append(("scaling", _settings(info.get("scaling"))))
    lines.append(("split", _settings(info.get("split"))))
    return lines


def _settings(value: Any) -> str:
    """A recorded dict as ``key=value, …`` (per-feature lists left out: too long to print)."""
    if not isinstance(value, dict):
        return str(value)
    return ", ".join(f"{k}={v}" for k, v in value.items() if not isinstance(v, list))


def run_info(args: argparse.Namespace) -> int:
    if split_scheme(args.name) is not None:
        _print_lines(_user_data_lines(args))
        return 0
    spec = _spec_of(args.name)
    lines: list[tuple[str, Any]] = [
        ("name", spec.name),
        ("description", spec.description),
        ("shape", "×".join(str(s) for s in spec.shape) + " (with default options)"),
        ("train / test", f"{spec.sizes[0]} / {spec.sizes[1]}"),
    ]
    options = spec.options()
    if options:
        lines.append(("options", ", ".join(f"{k}={v!r}" for k, v in options.items())))
    if spec.downloadable:
        settings = download_settings(args)
        directory = dataset_cache_dir(spec.name, settings)
        lines.append(
            (
                "cache",
                f"{directory} ({'cached' if is_cached(spec.name, spec.files, settings) else 'not cached'})",
            )
        )
        for remote in spec.files:
            sources = settings.sources(spec.name, remote)
            lines.append(("file", f"{remote.filename}  sha256 {remote.sha256}"))
            lines.append(("  from", " | ".join(sources)))
    elif spec.needs_files:
        lines.append(("files", "pass --data-dir"))
    _print_lines(lines)
    return 0


def _print_lines(lines: list[tuple[str, Any]]) -> None:
    width = max(len(k) for k, _ in lines)
    for key, value in lines:
        print(f"{key:<{width}}  {value}")


def run_download(args: argparse.Namespace) -> int:
    spec = _spec_of(args.name)
    if not spec.downloadable:
        print(
            f"{spec.name}: nothing to download ({'built in' if not spec.needs_files else 'use --data-dir'})"
        )
        return 0
    settings = download_settings(args)
    directory = dataset_cache_dir(spec.name, settings)
    for remote in spec.files:
        final = directory / remote.filename
        before = final.stat().st_ino if final.is_file() else None
        path = fetch(spec.name, remote, settings)
        # Same inode: the cached file verified and nothing was fetched.
        state = "cached, verified" if before == path.stat().st_ino else "downloaded, verified"
        print(f"{remote.filename}: {state}")
    print(f"{spec.name} is in {directory}")
    return 0


def run_show(args: argparse.Namespace) -> int:
    if args.n < 1:
        raise DataError(f"-n must be at least 1, got {args.n}")
    out = check_output_file(args.out, args.overwrite)
    args.dataset = args.name
    data: Dataset = dataset_from_args(args)
    x, _ = data.split(args.split)
    n = min(args.n, len(x))
    options = dataset_options(args)
    suffix = f" ({', '.join(f'{k}={v}' for k, v in options.items())})" if options else ""
    save_image_grid(x[:n], out, title=f"{data.name}{suffix}: {n} {args.split} examples")
    print(f"wrote {n} examples of {data.name} to {out}")
    return 0
