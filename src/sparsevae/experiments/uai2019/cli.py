"""``sparsevae reproduce uai2019-smiley``: flags → :class:`SmileySettings` → runs and report."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..flags import add_shard_argument, settings_from_flags, shard_of
from ..registry import register_experiment
from .protocol import FACTOR_VIEWS, MODELS, NAME, PROTOCOLS, QUICK, QUICK_TEXT, SmileySettings
from .report import write_report
from .sweep import run_smiley


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--overwrite", action="store_true", help="retrain runs that already exist")
    add_shard_argument(p)
    p.add_argument(
        "--report-only", action="store_true", help="write figures and report from finished runs"
    )
    p.add_argument(
        "--protocol",
        choices=tuple(PROTOCOLS),
        default="supplement",
        help="whose defaults: the UAI supplement's (default), the authors' notebook (L2 "
        "scaling, 10 pseudo-inputs, 200,000 iterations, β from 1 to 50; for a GPU), or cpu (about "
        "an hour per J on one core: hidden 512, Bernoulli pixels, 30 epochs of batch 100 on "
        "60,000 images, β 1/4/16, every contender).  Any flag given still wins",
    )
    p.add_argument("--latent-dims", type=int, nargs="+", help="default 18 40 60")
    p.add_argument(
        "--models",
        nargs="+",
        choices=MODELS,
        help="contenders (default: the paper's vsc-uai, beta-vae and beta-tcvae; --protocol cpu: "
        "all)",
    )
    p.add_argument(
        "--vsc-alpha", type=float, help="α of the fixed-prior vsc and vsc-threshold (default 0.1)"
    )
    p.add_argument("--topk-k", type=int, help="topk-ae's non-zero elements per input (default 10)")
    p.add_argument("--betas", type=float, nargs="+", help="β grid (default 2 4)")
    p.add_argument("--hidden", type=int, nargs="+", help="default 3000")
    p.add_argument(
        "--likelihood",
        choices=("bernoulli", "gaussian", "gaussian-learned"),
        help="default gaussian-learned",
    )
    p.add_argument(
        "--alpha", type=float, help="α: the target probability that an element is active"
    )
    p.add_argument("--n-pseudo-inputs", type=int, help="default 20 (authors: 10)")
    p.add_argument("--variant", choices=("supplement", "authors"), help="vsc-uai's variant")
    p.add_argument("--warmup-start", type=float, help="VSC: spike-only phase ends (fraction)")
    p.add_argument("--warmup-end", type=float, help="VSC: slab warm-up ramp ends (fraction)")
    p.add_argument(
        "--lr-drop-at", type=float, help="VSC: learning rate ×0.1 from here on (fraction)"
    )
    p.add_argument(
        "--l2-normalise",
        action=argparse.BooleanOptionalAction,
        help="divide each image by its L2 norm (authors: yes)",
    )
    p.add_argument(
        "--prior-spike-sharpness", type=float, help="VSC: ν sharpening the pseudo-inputs' spikes"
    )
    p.add_argument("--baseline-lr", type=float, help="the β-VAE's and β-TCVAE's rate (default lr)")
    p.add_argument("--n-train", type=int, help="default 80000")
    p.add_argument("--n-val", type=int, help="validation images for choosing β (default 2000)")
    p.add_argument("--n-test", type=int, help="default 5000")
    p.add_argument("--epochs", type=int, help="default 1250")
    p.add_argument("--batch-size", type=int, help="default 500")
    p.add_argument("--lr", type=float, help="default 5e-4")
    p.add_argument(
        "--factors",
        choices=FACTOR_VIEWS,
        default="sources",
        help="score against the 18 sources (default), all 22 factors, or the identifiable "
        "view: the 4 attributes and each source set to 0 where its attribute is absent",
    )
    p.add_argument("--dci-method", choices=("forest", "gbt", "lasso"), default="forest")


def settings_from_args(args: argparse.Namespace) -> SmileySettings:
    full = PROTOCOLS[args.protocol]
    return settings_from_flags(SmileySettings, args, full, QUICK, protocol=args.protocol)


@register_experiment(
    NAME,
    "VSC (UAI 2019, learned prior) vs β-VAE and β-TCVAE on Smiley: correlation matrices and "
    "MIG/DCI/SAP for J = 18, 40, 60",
    add_arguments,
    quick=QUICK_TEXT,
)
def run(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    out = Path(args.out)
    rows, splits = run_smiley(
        settings,
        out,
        redo=args.overwrite,
        progress=not args.no_progress,
        epoch_progress=args.progress,
        shard=shard_of(args),
        train=not args.report_only,
    )
    missing = len(settings.runs()) - len(rows)
    if missing:  # other shards still at work, or a report asked for too early
        print(f"{missing} of the grid's {len(settings.runs())} runs have not finished; the report "
              "needs them all: run again with --report-only when every shard is done")  # fmt: skip
        return 0
    print(write_report(rows, settings, splits, out))
    print(f"wrote {out}/results.md, results.json and correlation_J*.png")
    return 0
