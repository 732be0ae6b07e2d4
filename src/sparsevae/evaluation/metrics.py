"""Metrics any run can use: test ELBO terms, reconstruction error, sparsity and active units."""

from __future__ import annotations

from typing import Any

import torch

from ..batching import DEFAULT_BATCH_SIZE, eval_mode, iter_batches, map_batches, private_rng
from ..models import SparseVAEModel
from .pixel_error import centred_pixel_error

# Burda et al. (2016): a unit is active when the variance over the data of its posterior mean
# exceeds 0.01.
ACTIVE_UNIT_THRESHOLD = 1e-2


def labels_for(model: SparseVAEModel, y: torch.Tensor | None) -> torch.Tensor | None:
    """The labels a model takes: ``y`` for a conditional model, None for the others."""
    return y if model.num_classes else None


def encode_dataset(
    model: SparseVAEModel,
    x: torch.Tensor,
    y: torch.Tensor | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> torch.Tensor:
    """The downstream code of every example, ``(N, latent_dim)`` on the CPU, in the data's order
    (computed in eval mode; the model's mode is restored)."""
    with eval_mode(model):
        return map_batches(
            model.encode, x, labels_for(model, y), batch_size=batch_size, device=model.device
        )


def posterior_means(
    model: SparseVAEModel,
    x: torch.Tensor,
    y: torch.Tensor | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> torch.Tensor:
    """E_q[z | x] for variational models (γ·μ for VSC; the location for Cauchy); the code otherwise."""
    if not model.is_variational:
        return encode_dataset(model, x, y, batch_size)

    def mean(*batch: torch.Tensor) -> torch.Tensor:
        q = model.posterior(*batch)
        return q.loc if isinstance(q, torch.distributions.Cauchy) else q.mean

    with eval_mode(model):
        return map_batches(
            mean, x, labels_for(model, y), batch_size=batch_size, device=model.device
        )


def sparsity(codes: torch.Tensor) -> dict[str, Any]:
    """Fraction of exactly-zero code elements, overall and per example (mean, min, max)."""
    zero = (codes == 0).float()
    per_example = zero.mean(1)
    active = active_element_counts(codes).float()
    return {
        "sparsity": float(zero.mean()),
        "sparsity_per_example_min": float(per_example.min()),
        "sparsity_per_example_max": float(per_example.max()),
        "active_elements_mean": float(active.mean()),
    }


def active_element_counts(codes: torch.Tensor) -> torch.Tensor:
    """Number of non-zero code elements of each example, ``(N,)`` integers."""
    return (codes != 0).sum(1)


def active_element_distribution(codes: torch.Tensor) -> dict[str, Any]:
    """How many elements each example's code uses: quantiles and the full histogram.

    ``active_elements_histogram[j]`` is the number of examples with exactly ``j`` non-zero elements
    (``j`` from 0 to ``latent_dim``).
    """
    counts = active_element_counts(codes)
    as_float = counts.float()
    quantiles = torch.quantile(as_float, torch.tensor([0.1, 0.5, 0.9]))
    return {
        "active_elements_std": float(as_float.std()) if len(counts) > 1 else 0.0,
        "active_elements_p10": float(quantiles[0]),
        "active_elements_median": float(quantiles[1]),
        "active_elements_p90": float(quantiles[2]),
        "active_elements_histogram": torch.bincount(counts, minlength=codes.shape[1] + 1).tolist(),
    }


def active_units(means: torch.Tensor, threshold: float = ACTIVE_UNIT_THRESHOLD) -> int:
    """Number of latent dimensions whose posterior mean varies over the data (Var > threshold)."""
    return int((means.var(0) > threshold).sum())


def evaluate_model(
    model: SparseVAEModel,
    x: torch.Tensor,
    y: torch.Tensor | None = None,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    seed: int = 0,
) -> dict[str, Any]:
    """Test metrics in nats per example: the loss terms (``neg_elbo``, ``recon``, ``kl`` for
    variational models), squared reconstruction error, the pixel error (see
    :mod:`.pixel_error`), sparsity, the distribution of non-zero code elements per example
    (``active_elements_histogram`` among them), active units, and the model's own
    ``extra_metrics``.

    Computed in eval mode (the model's mode is restored) with torch seeded by ``seed`` for this
    call only: the single-sample ELBO is random, the report is reproducible.
    """
    y = labels_for(model, y)
    with eval_mode(model), private_rng(seed):
        sums, codes = _reconstruction_sums(model, x, y, batch_size)
        result: dict[str, Any] = {name: total / len(x) for name, total in sums.items()}
        result.update(sparsity(codes))
        result.update(active_element_distribution(codes))
        means = posterior_means(model, x, y, batch_size) if model.is_variational else codes
        result["active_units"] = active_units(means)
        # Model-specific metrics join the common ones, never replace them.
        result.update({k: v for k, v in model.extra_metrics(x, y).items() if k not in result})
    result["latent_dim"] = model.latent_dim
    result["n_examples"] = len(x)
    return result


def _reconstruction_sums(
    model: SparseVAEModel, x: torch.Tensor, y: torch.Tensor | None, batch_size: int
) -> tuple[dict[str, float], torch.Tensor]:
    """Sums over ``x`` of the loss terms and of both reconstruction errors, and the codes
    ``(N, latent_dim)`` (deterministic in eval mode) on the CPU."""
    sums: dict[str, float] = {}
    code_parts = []
    for xb, yb in iter_batches(x, y, batch_size=batch_size, device=model.device):
        batch = {name: float(value) * len(xb) for name, value in model.loss(xb, yb).terms.items()}
        code = model.encode(xb, yb)
        recon = model.decode(code, yb)
        batch["recon_sq_error"] = float(((recon - xb) ** 2).flatten(1).sum(1).sum())
        batch["pixel_error"] = float(centred_pixel_error(xb, recon).sum())
        for name, value in batch.items():
            sums[name] = sums.get(name, 0.0) + value
        code_parts.append(code.cpu())
    return sums, torch.cat(code_parts)
