"""``sparsevae reproduce llgae``: flags → :class:`LlgaeSettings` → rows and tables."""

from __future__ import annotations

import argparse
from pathlib import Path

from ...errors import ConfigError
from ..flags import settings_from_flags
from ..registry import register_experiment
from .protocol import FULL, NAME, QUICK, QUICK_TEXT, ROWS, LlgaeSettings
from .report import write_report
from .sweep import run_rows


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--overwrite", action="store_true", help="redo rows that already have results")
    p.add_argument("--dataset", default="mnist", help="data set (default mnist)")
    p.add_argument("--data-dir", help="directory of the data set's files (MNIST IDX files)")
    p.add_argument("--rows", nargs="+", choices=ROWS, default=list(ROWS), help="rows to produce")
    p.add_argument(
        "--reuse",
        action="append",
        default=[],
        metavar="ROW=RUN_DIR",
        help="use a run trained elsewhere for a row (repeatable), e.g. llgae=runs/llgae",
    )
    p.add_argument("--components", type=int, default=11, help="K (default 11)")
    p.add_argument("--component-dim", type=int, default=20, help="E (default 20)")
    p.add_argument("--step-size", type=float, default=0.01, help="β of the code iteration")
    p.add_argument("--steps", type=int, default=5, help="T, steps of the code iteration")
    p.add_argument(
        "--llgae-init",
        choices=("random", "mixture-pca"),
        default="random",
        help="start the llgae rows from random bases (the note) or from the closed-form mixture "
        "of PCAs with the same K and E",
    )
    p.add_argument("--llgae-epochs", type=int, help="default 140")
    p.add_argument("--llgae-lstsq-epochs", type=int, help="default 30")
    p.add_argument("--lgae-epochs", type=int, help="default 50")
    p.add_argument("--ae-epochs", type=int, help="default 100")
    p.add_argument("--ae-hidden", type=int, nargs="+", default=[400])
    p.add_argument("--mixture-iterations", type=int, help="default 20")
    p.add_argument("--batch-size", type=int, default=280)
    p.add_argument("--lr", type=float, default=1e-3)


def parse_reuse(items: list[str]) -> dict[str, str]:
    """``ROW=RUN_DIR`` items as ``{row: run_dir}``."""
    reuse: dict[str, str] = {}
    for item in items:
        row, sep, directory = item.partition("=")
        if not sep or row not in ROWS or not directory:
            raise ConfigError(
                f"--reuse expects ROW=RUN_DIR with ROW one of {', '.join(ROWS)}, got {item!r}"
            )
        reuse[row] = directory
    return reuse


def settings_from_args(args: argparse.Namespace) -> LlgaeSettings:
    return settings_from_flags(
        LlgaeSettings,
        args,
        FULL,
        QUICK,
        rows=tuple(args.rows),
        reuse=parse_reuse(args.reuse),
        ae_hidden=tuple(args.ae_hidden),
    )


@register_experiment(
    NAME,
    "LLGAE vs LGAE, PCA, a mixture of PCAs and an autoencoder on the CATSMILE-1022 pixel error",
    add_arguments,
    quick=QUICK_TEXT,
)
def run(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    out = Path(args.out)
    rows = run_rows(
        settings,
        out,
        redo=args.overwrite,
        progress=not args.no_progress,
        epoch_progress=args.progress,
    )
    report = write_report(rows, settings, out)
    print(f"wrote {report}, results.csv and results.json")
    return 0
