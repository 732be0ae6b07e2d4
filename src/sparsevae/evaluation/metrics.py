"""Metrics any run can use: test ELBO terms, reconstruction error, sparsity and active units."""

from __future__ import annotations

from typing import Any

import torch

from ..models import SparseVAEModel

# Burda et al. (2016): a unit is active when the variance over the data of its posterior mean
# exceeds 0.01.
ACTIVE_UNIT_THRESHOLD = 1e-2


@torch.no_grad()
def batched(
    fn, x: torch.Tensor, y: torch.Tensor | None = None, batch_size: int = 1000
) -> torch.Tensor:
    """Apply ``fn(xb, yb)`` over batches and concatenate along the first dimension."""
    parts = [
        fn(x[i : i + batch_size], None if y is None else y[i : i + batch_size])
        for i in range(0, len(x), batch_size)
    ]
    return torch.cat(parts)


@torch.no_grad()
def encode_dataset(
    model: SparseVAEModel, x: torch.Tensor, y: torch.Tensor | None = None, batch_size: int = 1000
) -> torch.Tensor:
    """The downstream code of every example, ``(N, latent_dim)``, in the data's order (eval mode)."""
    model.eval()
    device = model.device
    return batched(
        lambda xb, yb: model.encode(xb.to(device), None if yb is None else yb.to(device)).cpu(),
        x,
        y if model.num_classes else None,
        batch_size,
    )


@torch.no_grad()
def posterior_means(
    model: SparseVAEModel, x: torch.Tensor, y: torch.Tensor | None = None, batch_size: int = 1000
):
    """E_q[z | x] for variational models (γ·μ for VSC; the location for Cauchy); the code otherwise."""
    if not model.is_variational:
        return encode_dataset(model, x, y, batch_size)
    model.eval()
    device = model.device

    def mean(xb, yb):
        q = model.posterior(xb.to(device), None if yb is None else yb.to(device))
        return (q.loc if isinstance(q, torch.distributions.Cauchy) else q.mean).cpu()

    return batched(mean, x, y if model.num_classes else None, batch_size)


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


@torch.no_grad()
def evaluate_model(
    model: SparseVAEModel,
    x: torch.Tensor,
    y: torch.Tensor | None = None,
    *,
    batch_size: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """Test metrics in nats per example: the loss terms (``neg_elbo``, ``recon``, ``kl`` for
    variational models), squared reconstruction error, sparsity, the distribution of non-zero code
    elements per example (``active_elements_histogram`` among them) and active units."""
    model.eval()
    device = model.device
    y = y if model.num_classes else None
    generator_state = torch.get_rng_state()
    torch.manual_seed(seed)  # the single-sample ELBO is random: make the report reproducible
    sums: dict[str, float] = {}
    sq_error = 0.0
    code_parts = []  # encode is deterministic in eval mode: these are the codes of every example
    for i in range(0, len(x), batch_size):
        xb = x[i : i + batch_size].to(device)
        yb = None if y is None else y[i : i + batch_size].to(device)
        for name, value in model.loss(xb, yb).terms.items():
            sums[name] = sums.get(name, 0.0) + float(value) * len(xb)
        code = model.encode(xb, yb)
        code_parts.append(code.cpu())
        recon = model.decode(code, yb)
        sq_error += float(((recon - xb) ** 2).flatten(1).sum(1).sum())
    torch.set_rng_state(generator_state)
    n = len(x)
    result: dict[str, Any] = {name: total / n for name, total in sums.items()}
    result["recon_sq_error"] = sq_error / n
    codes = torch.cat(code_parts)
    result.update(sparsity(codes))
    result.update(active_element_distribution(codes))
    means = posterior_means(model, x, y, batch_size) if model.is_variational else codes
    result["active_units"] = active_units(means)
    result.update(model.extra_metrics(x, y))  # model-specific metrics join the usual ones
    result["latent_dim"] = model.latent_dim
    result["n_examples"] = n
    return result
