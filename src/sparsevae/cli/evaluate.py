"""``sparsevae evaluate RUN_DIR``: test metrics of a trained run, as a table or JSON, with figures.

Always: test −ELBO split into reconstruction and KL (nats per example), sparsity of the code,
active units and the distribution of non-zero elements per example.  On request: the
importance-weighted log-likelihood (``--iwae-k``), classification probes (``--probe``) and figures
(``--figures DIR``).  See docs/evaluation.md for the definitions.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import torch

from ..batching import eval_mode
from ..data import Dataset
from ..errors import ConfigError, DataError
from ..evaluation import (
    CODES,
    DEFAULT_IWAE_SAMPLES,
    PROBES,
    encode_dataset,
    evaluate_model,
    iwae_summary,
    run_probes,
)
from ..evaluation.metrics import labels_for
from ..evaluation.probes import DEFAULT_PROBE_LABELS
from ..models import SparseVAEModel
from .common import (
    add_data_arguments,
    add_device_argument,
    check_output_file,
    load_run,
    reconstructions,
    run_dataset,
    sample_labels,
)
from .output import format_table, json_safe, warn_about_usage

FIGURES = (
    "reconstructions.png",
    "samples.png",
    "traversals.png",
    "active_elements.png",
    "code_usage.png",
)


def add_parser(verbs: argparse._SubParsersAction) -> None:
    p = verbs.add_parser(
        "evaluate",
        help="test metrics of a trained run",
        description="Evaluate a run on the test split of its data set: ELBO terms, sparsity, "
        "active units; optionally the importance-weighted likelihood, classification probes and "
        "figures.",
    )
    p.add_argument("run_dir", metavar="RUN_DIR")
    add_data_arguments(p)
    p.add_argument("--split", choices=("train", "test"), default="test")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    p.add_argument(
        "--iwae-k",
        type=int,
        nargs="?",
        const=DEFAULT_IWAE_SAMPLES,
        metavar="K",
        help=f"importance-weighted log-likelihood with K samples (default {DEFAULT_IWAE_SAMPLES} "
        "when the flag is given without a value)",
    )
    p.add_argument(
        "--iwae-examples",
        type=int,
        metavar="N",
        help="estimate the likelihood on the first N examples of the split only (default: all)",
    )
    p.add_argument(
        "--probe",
        action="append",
        choices=(*PROBES, "all"),
        help="classification probe on the codes (repeatable): paper, linear, knn or all",
    )
    p.add_argument(
        "--probe-labels",
        type=int,
        default=DEFAULT_PROBE_LABELS,
        metavar="N",
        help=f"random labelled training codes for the probes (default {DEFAULT_PROBE_LABELS}; "
        "0 = all)",
    )
    p.add_argument(
        "--code",
        choices=CODES,
        default="sparse",
        help="code the probes see: sparse = model.encode (VSC: γ·μ thresholded; VAE: μ), "
        "mu = posterior location μ (default sparse)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the probes and estimates")
    p.add_argument(
        "--figures", metavar="DIR", help="write figures (PNG) into this directory (created)"
    )
    p.add_argument("--overwrite", action="store_true", help="replace existing figure files")
    add_device_argument(p)
    p.set_defaults(func=run)


def write_figures(
    model: SparseVAEModel,
    x: torch.Tensor,
    y: torch.Tensor | None,
    histogram: list[int],
    directory: Path,
    overwrite: bool,
    seed: int,
) -> list[str]:
    """Reconstructions, prior samples (variational models), traversals and the active histogram."""
    from ..plots import reconstruction_pairs, save_image_grid
    from ..plots.curves import plot_active_histogram
    from ..plots.traversals import save_latent_traversals
    from ..plots.usage import plot_code_usage

    if directory.exists() and not directory.is_dir():
        raise DataError(f"{directory}: exists and is not a directory; --figures needs one")
    directory.mkdir(parents=True, exist_ok=True)
    paths = {name: check_output_file(directory / name, overwrite) for name in FIGURES}
    written = []
    labels = labels_for(model, y)
    save_image_grid(
        reconstruction_pairs(x[:32], reconstructions(model, x[:32], labels)),
        paths["reconstructions.png"],
        ncols=8,
        title="originals (odd rows) and reconstructions",
    )
    written.append("reconstructions.png")
    if model.is_variational:
        torch.manual_seed(seed)
        with eval_mode(model):
            images = model.sample(64, sample_labels(model, 64)).cpu()
        save_image_grid(images, paths["samples.png"], title="prior samples")
        written.append("samples.png")
    save_latent_traversals(
        model, x[:1000], paths["traversals.png"], None if labels is None else labels[:1000]
    )
    written.append("traversals.png")
    plot_active_histogram(
        histogram, paths["active_elements.png"], title=f"{model.kind}: non-zero code elements"
    )
    written.append("active_elements.png")
    plot_code_usage(
        encode_dataset(model, x, y), paths["code_usage.png"], y, title=f"{model.kind}: code usage"
    )
    written.append("code_usage.png")
    return written


def run(args: argparse.Namespace) -> int:
    if args.iwae_k is not None and args.iwae_k < 1:
        raise ConfigError(f"--iwae-k must be >= 1, got {args.iwae_k}")
    if args.iwae_examples is not None and args.iwae_examples < 1:
        raise ConfigError(f"--iwae-examples must be >= 1, got {args.iwae_examples}")
    if args.probe_labels < 0:
        raise ConfigError(f"--probe-labels must be >= 0, got {args.probe_labels}")
    model, config = load_run(args.run_dir, args.device)
    data: Dataset = run_dataset(config, args.dataset, args.data_dir, args=args)
    x, y = data.split(args.split)
    metrics: dict[str, Any] = {"model": model.kind, "dataset": data.name, "split": args.split}
    metrics.update(evaluate_model(model, x, y, seed=args.seed))
    if args.iwae_k is not None:
        n = args.iwae_examples or len(x)
        metrics.update(
            iwae_summary(
                model,
                x[:n],
                None if y is None else y[:n],
                samples=args.iwae_k,
                seed=args.seed,
            )
        )
    if args.probe:
        probes = list(PROBES) if "all" in args.probe else args.probe
        metrics.update(
            run_probes(
                model,
                data.train_x,
                data.train_y,
                data.test_x,
                data.test_y,
                probes=probes,
                n_labels=args.probe_labels,
                code=args.code,
                seed=args.seed,
                num_classes=data.num_classes or None,
            )
        )
    if args.figures:
        metrics["figures"] = write_figures(
            model,
            x,
            y,
            metrics["active_elements_histogram"],
            Path(args.figures),
            args.overwrite,
            args.seed,
        )
    if args.json:
        print(json.dumps(json_safe(metrics)))
    else:
        print(format_table(metrics))
        if args.figures:
            print(f"figures written to {args.figures}: {', '.join(metrics['figures'])}")
    warn_about_usage(model, metrics)
    return 0
