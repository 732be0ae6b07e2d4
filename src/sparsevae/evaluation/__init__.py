"""Evaluation: test ELBO terms, importance-weighted likelihood, sparsity, active units, probes."""

from .likelihood import DEFAULT_IWAE_SAMPLES, iwae_log_likelihood, iwae_summary
from .metrics import active_units, encode_dataset, evaluate_model, posterior_means
from .probes import CODES, PROBES, probe_codes, run_probes
from .usage import (
    active_element_counts,
    active_element_distribution,
    code_usage,
    sparsity,
    usage_warning,
)

__all__ = [
    "CODES",
    "DEFAULT_IWAE_SAMPLES",
    "PROBES",
    "active_element_counts",
    "active_element_distribution",
    "active_units",
    "code_usage",
    "encode_dataset",
    "evaluate_model",
    "iwae_log_likelihood",
    "iwae_summary",
    "posterior_means",
    "probe_codes",
    "run_probes",
    "sparsity",
    "usage_warning",
]
