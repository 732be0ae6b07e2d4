"""``sparsevae reproduce iclr2019``: flags → :class:`SweepSettings` → sweep and report."""

from __future__ import annotations

import argparse
from pathlib import Path

from ...errors import RunDirectoryError
from ...evaluation.probes import PROBES
from ..flags import (
    add_data_dir_argument,
    add_max_stack_argument,
    add_shard_argument,
    datasets_for,
    parse_data_dirs,
    settings_from_flags,
    shard_of,
)
from ..registry import register_experiment
from .protocol import FULL, NAME, QUICK, QUICK_TEXT, SweepSettings
from .report import write_report
from .sweep import read_results, run_sweep


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_data_dir_argument(p)
    add_shard_argument(p)
    add_max_stack_argument(p)
    p.add_argument(
        "--datasets",
        nargs="+",
        help="default: the sets --data-dir NAME=DIR names, else mnist fashion-mnist (--quick: "
        "mnist)",
    )
    p.add_argument("--latent-dims", nargs="+", type=int, help="J grid (default 8 16 … 200)")
    p.add_argument(
        "--alphas",
        nargs="*",
        type=float,
        help="VSC α grid (α: the prior probability that a code element is active; default 0.5 0.2 "
        "0.01)",
    )
    p.add_argument("--no-vae", action="store_true", help="leave the VAE out of the J sweep")
    p.add_argument(
        "--sparsity-alphas",
        nargs="*",
        type=float,
        help="α grid of the sparsity sweep (0.01 … 0.99)",
    )
    p.add_argument("--sparsity-dim", type=int, help="J of the sparsity sweep (default 200)")
    p.add_argument("--epochs", type=int, help="training epochs (default 11)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--hidden", type=int, default=400, help="hidden layer width (default 400)")
    p.add_argument(
        "--c-schedule",
        choices=("linear", "constant"),
        default="constant",
        help="VSC sharpness c: constant 50 as the reimplementation (default) or the paper's "
        "linear 50 → 200",
    )
    p.add_argument("--kl-warmup", type=float, default=0.0, help="KL warm-up epochs (default 0)")
    p.add_argument(
        "--ema",
        type=float,
        default=0.999,
        metavar="DECAY",
        help="evaluate the exponential moving average of the weights (default 0.999; 0: the last "
        "iterate, as the reimplementation did)",
    )
    p.add_argument("--train-limit", type=int, help="train on the first N images only (0 = all)")
    p.add_argument(
        "--probes", nargs="*", choices=PROBES, help="probes to run (default: paper linear knn)"
    )
    p.add_argument("--probe-labels", type=int, help="labelled codes per probe (default 5000)")
    p.add_argument(
        "--iwae-k", type=int, default=0, help="importance samples for log p(x) (default 0: off)"
    )
    p.add_argument(
        "--iwae-examples", type=int, default=1000, help="test examples for log p(x) (default 1000)"
    )
    p.add_argument(
        "--report-only", action="store_true", help="write figures and report from finished runs"
    )


def settings_from_args(args: argparse.Namespace) -> SweepSettings:
    args.datasets = datasets_for(args.data_dir, args.datasets)
    return settings_from_flags(
        SweepSettings,
        args,
        FULL,
        QUICK,
        include_vae=not args.no_vae,
        seeds=tuple(args.seeds or (0,)),
        kl_warmup_epochs=args.kl_warmup,
        ema_decay=args.ema,
        probes=tuple(PROBES if args.probes is None else args.probes),
    )


@register_experiment(
    NAME,
    "Variational Sparse Coding (ICLR 2019): −ELBO, probes and sparsity over J and α",
    add_arguments,
    quick=QUICK_TEXT,
    several_seeds=True,
)
def run(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    out = Path(args.out)
    if args.report_only:
        rows = read_results(out)
        if not rows:
            raise RunDirectoryError(f"{out}: no finished runs (results.jsonl) to report on")
    else:
        rows = run_sweep(
            settings,
            out,
            parse_data_dirs(args.data_dir, settings.datasets),
            progress=not args.no_progress,
            epoch_progress=args.progress,
            shard=shard_of(args),
            max_stack=args.max_stack,
        )
    report = write_report(rows, settings, out)
    print(f"{len(rows)} runs in {out / 'results.csv'}; report: {report}")
    return 0
