"""The flags every ``sparsevae reproduce`` experiment shares, defined once.

``--out``, ``--quick``, ``--device``, ``--seeds`` (or ``--seed`` where an experiment has one
seed), ``--no-progress`` and ``--progress``.  Flags that ``--quick`` changes default to None on
the command line; :func:`preset_values` then fills them from the quick or the full protocol.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from dataclasses import fields
from typing import Any, TypeVar

from ..errors import ConfigError
from .runner import Shard
from .stacking import DEFAULT_MAX_STACK

S = TypeVar("S")


def _one_seed(text: str) -> list[int]:
    try:
        return [int(text)]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None


def add_shared_flags(p: argparse.ArgumentParser, *, quick: str, several_seeds: bool) -> None:
    """Add the shared flags; ``quick`` says what ``--quick`` runs."""
    p.add_argument("--out", required=True, help="output directory (created; resumed if present)")
    p.add_argument(
        "--quick",
        action="store_true",
        help=f"small smoke-test protocol: {quick} (any flag given explicitly still wins)",
    )
    p.add_argument("--device", default="auto", help="auto | cpu | cuda (default: auto)")
    if several_seeds:
        seeds = p.add_mutually_exclusive_group()
        seeds.add_argument(
            "--seeds",
            nargs="+",
            type=int,
            metavar="SEED",
            help="repeat every run with each seed (default 0); runs of seed S > 0 get -sS ids",
        )
        seeds.add_argument(
            "--seed", type=_one_seed, dest="seeds", metavar="SEED", help="same as --seeds SEED"
        )
    else:
        p.add_argument("--seed", type=int, default=0, help="seed of data, weights and scores")
    p.add_argument(
        "--no-progress", action="store_true", help="no progress bar over runs, no line per run"
    )
    p.add_argument("--progress", action="store_true", help="also show each run's epochs")


def add_data_dir_argument(p: argparse.ArgumentParser) -> None:
    """``--data-dir NAME=DIR`` (repeatable; a bare DIR for every data set): read by
    :func:`parse_data_dirs`."""
    p.add_argument(
        "--data-dir",
        action="append",
        default=[],
        metavar="NAME=DIR",
        help="where a data set's files are, e.g. mnist=../shared/data/mnist (repeatable); a bare "
        "DIR applies to every data set",
    )


def preset_values(
    args: argparse.Namespace, full: Mapping[str, Any], quick: Mapping[str, Any]
) -> dict[str, Any]:
    """The value of each flag in ``full``: as given, else ``quick``'s (with ``--quick``), else
    ``full``'s.  Those flags default to None on the command line."""
    base = {**full, **quick} if args.quick else dict(full)
    values = {}
    for name in full:
        given = getattr(args, name)
        values[name] = base[name] if given is None else given
    return values


def settings_from_flags(
    settings: type[S],
    args: argparse.Namespace,
    full: Mapping[str, Any],
    quick: Mapping[str, Any],
    **given: Any,
) -> S:
    """The ``settings`` dataclass from the flags named like its fields (those in ``full`` through
    :func:`preset_values`); ``given`` are the fields whose flags differ in name or form."""
    values = {f.name: getattr(args, f.name) for f in fields(settings) if hasattr(args, f.name)}
    values.update(preset_values(args, full, quick))
    values.update(given)
    return settings(**values)


def datasets_for(data_dirs: Sequence[str], datasets: Sequence[str] | None) -> list[str] | None:
    """The data sets of a sweep: ``--datasets`` as given, else those that ``--data-dir
    NAME=DIR`` entries name (None: neither, the protocol's own).  A named directory that
    ``--datasets`` leaves out is an error: it would be ignored."""
    named = [value.split("=", 1)[0].strip() for value in data_dirs if "=" in value]
    if datasets is None:
        return list(dict.fromkeys(named)) or None
    left_out = [name for name in named if name not in datasets]
    if left_out:
        raise ConfigError(
            f"--data-dir names {', '.join(left_out)}, which --datasets {' '.join(datasets)} "
            "leaves out; add it to --datasets (or leave --datasets out: the sets named in "
            "--data-dir are then the sweep's)"
        )
    return list(datasets)


def parse_data_dirs(values: Sequence[str], datasets: Sequence[str]) -> dict[str, str]:
    """``NAME=DIR`` for one data set, a bare ``DIR`` for every one not named otherwise."""
    dirs: dict[str, str] = {}
    for value in values:
        if "=" in value:
            name, directory = value.split("=", 1)
            dirs[name.strip()] = directory
        else:
            dirs.update({name: value for name in datasets if name not in dirs})
    return dirs


def add_shard_argument(p: argparse.ArgumentParser) -> None:
    """``--shard I/N``: this process trains every N-th run (read with :func:`shard_of`)."""
    p.add_argument(
        "--shard",
        metavar="I/N",
        help="train only runs I, I+N, I+2N, … of the grid (1 ≤ I ≤ N): start N processes or "
        "array jobs with the same --out, one per I, and each run is trained once; under torchrun "
        "the rank and world size choose the shard.  Redraw the complete report with "
        "--report-only when all have finished",
    )


def shard_of(args: argparse.Namespace) -> Shard | None:
    """The shard ``--shard`` names, else the torchrun world's, else None (the whole grid)."""
    return Shard.parse(args.shard) if args.shard else Shard.from_environment()


def _stack_size(text: str) -> int:
    try:
        size = int(text)
    except ValueError:
        size = 0
    if size < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return size


def add_max_stack_argument(p: argparse.ArgumentParser) -> None:
    """``--max-stack K``: runs of one shape are trained K at a time (see experiments.stacking)."""
    p.add_argument(
        "--max-stack",
        type=_stack_size,
        default=DEFAULT_MAX_STACK,
        metavar="K",
        help=f"train up to K runs of one data set, model and shape at once, as stacked models "
        f"(default {DEFAULT_MAX_STACK}; 1: one at a time).  Each run is the run it would be "
        "alone (its weights up to float rounding), in its own run directory",
    )
