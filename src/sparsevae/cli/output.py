"""How the CLI prints metrics: an aligned table with readable labels, or JSON-safe values."""

from __future__ import annotations

import math
import sys
from typing import Any

from ..data import Dataset
from ..data.lazy import LazyImages
from ..data.streaming import streaming_note
from ..evaluation.usage import usage_warning
from ..models import SparseVAEModel

# Metric key → the label the table shows; keys without one are shown as they are.
LABELS = {
    "neg_elbo": "test −ELBO (nats/example)",
    "recon": "reconstruction −log p(x|z) (nats)",
    "kl": "KL(q‖p) (nats)",
    "loss": "training objective (nats)",
    "recon_sq_error": "squared reconstruction error (sum over pixels)",
    "sparsity": "sparsity (fraction of exact zeros in codes)",
    "sparsity_per_example_min": "sparsity per example, min",
    "sparsity_per_example_max": "sparsity per example, max",
    "active_elements_mean": "non-zero code elements per example",
    "active_elements_std": "non-zero code elements per example, std",
    "active_elements_p10": "non-zero code elements per example, 10th pct",
    "active_elements_median": "non-zero code elements per example, median",
    "active_elements_p90": "non-zero code elements per example, 90th pct",
    "active_elements_min": "non-zero code elements per example, min",
    "active_elements_max": "non-zero code elements per example, max",
    "variance_explained": "variance explained by the reconstructions",
    "dead_latents": "latents never active (dead)",
    "always_on_latents": "latents active for ≥ 99 % of inputs (always on)",
    "input_dependent_latents": "latents that switch with the input",
    "active_1_to_99_percent_latents": "latents active for 1–99 % of inputs",
    "input_dependent_fraction_of_used": "input-dependent share of the used latents",
    "active_1_to_99_percent_of_used": "share of the used latents active for 1–99 % of inputs",
    "always_on_share_of_nonzeros": "share of the non-zeros in always-on latents",
    "jaccard_mean": "overlap of two inputs' active sets (mean Jaccard)",
    "jaccard_within_class": "overlap of active sets, same class",
    "jaccard_across_class": "overlap of active sets, different classes",
    "active_units": "active units (Var of mean > 0.01)",
    "iwae_neg_log_likelihood": "−log p(x), importance-weighted (nats)",
    "iwae_log_likelihood": "log p(x), importance-weighted (nats)",
    "iwae_k": "importance samples k",
    "iwae_examples": "examples in the likelihood estimate",
    "probe_code": "code used by the probes",
    "probe_labels": "labelled training codes for the probes",
    "probe_seed": "probe seed",
    "probe_paper_accuracy": "accuracy, paper probe (linear, SGD)",
    "probe_linear_accuracy": "accuracy, logistic regression probe",
    "probe_knn_accuracy": "accuracy, 5-NN probe",
    "pixel_error": "pixel error (CATSMILE-1022: mean-centred, 0–255 pixels)",
    "components_used": "mixture components used",
    "neg_elbo_mixture_prior": "test −ELBO under the mixture prior (nats)",
}


# Settings of the measures rather than results: not shown in the table (they stay in --json).
HIDDEN = {"always_on_threshold", "rare_threshold", "jaccard_pairs", "dead_fraction"}
HIDDEN |= {"always_on_fraction", "input_dependent_fraction"}


def format_table(metrics: dict[str, Any]) -> str:
    """One line per scalar metric: its label, then the value (accuracies in %); lists and dicts
    (histograms, file lists), unset values and the measures' settings are left out."""
    shown = {
        k: v
        for k, v in metrics.items()
        if not isinstance(v, list | dict) and v is not None and k not in HIDDEN
    }
    width = max(len(LABELS.get(k, k)) for k in shown)
    lines = []
    for key, value in shown.items():
        if isinstance(value, float) and key.endswith("_accuracy"):
            text = f"{100 * value:.2f} %"
        else:
            text = f"{value:.4f}" if isinstance(value, float) else str(value)
        lines.append(f"{LABELS.get(key, key):<{width}}  {text}")
    return "\n".join(lines)


def json_safe(metrics: dict[str, Any]) -> dict[str, Any]:
    """The metrics with non-finite floats as strings ("nan", "inf"): strict JSON has no NaN."""
    return {
        k: (str(v) if isinstance(v, float) and not math.isfinite(v) else v)
        for k, v in metrics.items()
    }


def warn_about_usage(model: SparseVAEModel, metrics: dict[str, Any]) -> None:
    """One line on stderr when the test codes are dead, or not sparse for a sparse model."""
    warning = usage_warning(metrics, sparse=model.sparse_code)
    if warning:
        print(f"sparsevae: warning: {model.kind}: {warning}", file=sys.stderr)


def note_on_flat_rows(data: Dataset) -> None:
    """Rows that are not square images train as they are; say how to view them as images."""
    if len(data.shape) == 3 and data.shape[:2] == (1, 1) and data.shape[2] > 1:
        print(
            f"sparsevae: note: {data.name}: examples are rows of {data.shape[2]} values, shown as "
            f"1×{data.shape[2]} strips in the figures; --dataset-option shape=[C,H,W] makes them "
            "images",
            file=sys.stderr,
        )


def note_on_streaming(data: Dataset) -> None:
    """A data set read on demand trains at disk speed; say so, and what decides it."""
    if isinstance(data.train_x, LazyImages):
        print(streaming_note(data.name, data.train_x.nbytes + data.test_x.nbytes), file=sys.stderr)
