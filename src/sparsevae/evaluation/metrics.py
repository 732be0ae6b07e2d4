"""Metrics any run can use: test ELBO terms, reconstruction error, sparsity and active units."""

from __future__ import annotations

from typing import Any

import torch

from ..batching import DEFAULT_BATCH_SIZE, eval_mode, iter_batches, map_batches, private_rng
from ..models import SparseVAEModel
from .pixel_error import centred_pixel_error
from .usage import code_usage

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


def total_variance(x: torch.Tensor, batch_size: int = DEFAULT_BATCH_SIZE) -> float:
    """Σ‖x − x̄‖² over the examples: the error of reconstructing every example by the mean.
    In batches (the mean first), so that data read on demand are never all in memory."""
    total = sum(xb.flatten(1).double().sum(0) for xb, _ in iter_batches(x, batch_size=batch_size))
    mean = total / len(x)
    return float(
        sum(
            ((xb.flatten(1).double() - mean) ** 2).sum()
            for xb, _ in iter_batches(x, batch_size=batch_size)
        )
    )


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
    :mod:`.pixel_error`), the fraction of the data's variance the reconstructions explain, how
    the code uses its latents (:func:`.usage.code_usage`: sparsity, non-zeros per example, dead /
    always-on / input-dependent latents, overlap of active sets), active units, and the model's
    own ``extra_metrics``.

    Computed in eval mode (the model's mode is restored) with torch seeded by ``seed`` for this
    call only: the single-sample ELBO is random, the report is reproducible.
    """
    y_all, y = y, labels_for(model, y)  # all labels for the usage by class; y for the model
    with eval_mode(model), private_rng(seed):
        sums, codes = _reconstruction_sums(model, x, y, batch_size)
        result: dict[str, Any] = {name: total / len(x) for name, total in sums.items()}
        result.update(code_usage(codes, y_all))
        result["variance_explained"] = 1.0 - sums["recon_sq_error"] / total_variance(x, batch_size)
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
