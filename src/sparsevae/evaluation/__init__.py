"""Evaluation: test ELBO terms, sparsity, active units (probes and likelihoods build on these)."""

from .metrics import active_units, encode_dataset, evaluate_model, posterior_means, sparsity

__all__ = ["active_units", "encode_dataset", "evaluate_model", "posterior_means", "sparsity"]
