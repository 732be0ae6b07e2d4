"""``sparsevae reproduce sparse-frontier``: flags → :class:`FrontierSettings` → sweep and report."""

from __future__ import annotations

import argparse
from pathlib import Path

from ...errors import ConfigError, RunDirectoryError
from ..flags import (
    add_data_dir_argument,
    add_max_stack_argument,
    add_shard_argument,
    parse_data_dirs,
    settings_from_flags,
    shard_of,
)
from ..registry import register_experiment
from .protocol import FULL, MODELS, NAME, QUICK, QUICK_GRIDS, QUICK_TEXT, FrontierSettings
from .report import write_report
from .sweep import rescore_frontier, results_store, run_frontier


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_data_dir_argument(p)
    add_shard_argument(p)
    add_max_stack_argument(p)
    p.add_argument(
        "--datasets",
        nargs="+",
        help="built-in names or your own npz:PATH, … (default: those named by --data-dir, else "
        "mnist)",
    )
    p.add_argument("--models", nargs="+", choices=MODELS, help="model kinds (default: all)")
    p.add_argument(
        "--grid",
        action="append",
        default=[],
        metavar="KIND=V1,V2,…",
        help="sparsity-knob values of one model kind (repeatable), e.g. vsc=0.1,0.3",
    )
    p.add_argument("--latent-dim", type=int, help="code length J (default 200)")
    p.add_argument("--targets", nargs="+", type=int, help="non-zeros per image (default 5 10 20)")
    p.add_argument("--epochs", type=int, help="training epochs (default 11)")
    p.add_argument("--train-limit", type=int, help="train on the first N images (0 = all)")
    p.add_argument("--probe-labels", type=int, help="labelled codes for the probe (default 5000)")
    p.add_argument("--hidden", type=int, default=400, help="hidden layer width (default 400)")
    p.add_argument(
        "--likelihood",
        choices=("bernoulli", "gaussian"),
        default="bernoulli",
        help="pixel likelihood of the network models (default bernoulli; gaussian for "
        "natural-patches)",
    )
    p.add_argument("--sigma", type=float, default=1.0, help="σ of the Gaussian likelihood")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--ema", type=float, default=0.999, help="weight averaging decay (0: off)")
    p.add_argument("--overwrite", action="store_true", help="redo runs that already have rows")
    p.add_argument(
        "--report-only", action="store_true", help="write figures and report from finished runs"
    )
    p.add_argument(
        "--rescore",
        action="store_true",
        help="score the finished runs again from their run directories (no training), then report",
    )


def parse_grids(items: list[str]) -> dict[str, list[float]]:
    """``KIND=V1,V2`` items as ``{kind: [v1, v2]}``."""
    grids: dict[str, list[float]] = {}
    for item in items:
        kind, sep, values = item.partition("=")
        try:
            grids[kind.strip()] = [float(v) for v in values.split(",")]
        except ValueError:
            sep = ""
        if not sep or not values:
            raise ConfigError(f"--grid expects KIND=V1,V2,…, got {item!r}")
    return grids


def settings_from_args(args: argparse.Namespace) -> FrontierSettings:
    named = [d.split("=", 1)[0] for d in args.data_dir if "=" in d]
    if args.datasets is None and named:
        args.datasets = named  # the data sets follow from --data-dir when not given
    settings = settings_from_flags(
        FrontierSettings,
        args,
        FULL,
        QUICK,
        models=tuple(args.models or MODELS),
        grids=parse_grids(args.grid) or (dict(QUICK_GRIDS) if args.quick else {}),
        ema_decay=args.ema,
        likelihood_sigma=args.sigma,
    )
    settings.data_dirs = parse_data_dirs(args.data_dir, settings.datasets)
    return settings


@register_experiment(
    NAME,
    "sparse codes at 5, 10 and 20 non-zeros: reconstruction and probe against DL+OMP, TopK, PCA",
    add_arguments,
    quick=QUICK_TEXT,
)
def run(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    out = Path(args.out)
    if args.report_only or args.rescore:
        rows = rescore_frontier(settings, out) if args.rescore else results_store(out).rows()
        if not rows:
            raise RunDirectoryError(f"{out}: no finished runs (results.jsonl) to report on")
    else:
        rows = run_frontier(
            settings,
            out,
            redo=args.overwrite,
            progress=not args.no_progress,
            epoch_progress=args.progress,
            shard=shard_of(args),
            max_stack=args.max_stack,
        )
    report = write_report(rows, settings, out)
    print(f"{len(rows)} runs in {out / 'results.csv'}; report: {report}")
    return 0
