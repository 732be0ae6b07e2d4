"""Importance-weighted estimate of the test log-likelihood log p(x) (Burda et al., 2016).

    log p(x) ≈ log (1/k) Σ_i p(x | z_i) p(z_i) / q(z_i | x),   z_i ~ q(z | x) exactly,

a lower bound that equals the ELBO's expectation at k = 1 and rises towards log p(x) as k grows.

**VSC's spike.**  The spike-and-slab posterior and prior both put an atom at 0 on every latent
element.  The draws are exact (``SpikeSlab.sample``: an element is exactly 0 with probability 1 − γ),
and both densities are taken with respect to the same dominating measure, Lebesgue measure plus a
unit point mass at 0 (``SpikeSlab.log_prob``).  The ratio p(z)/q(z|x) is then a proper
Radon–Nikodym derivative: on a spike element it is (1 − α)/(1 − γ), on a slab element
α·N(z; 0, 1) / (γ·N(z; μ, σ²)).  The estimator stays unbiased for p(x) and needs no relaxation, and
the sharpness c of training plays no part in it.

Memory stays bounded: examples go in batches and the k samples in chunks, with a running
log-sum-exp across chunks, so a batch never holds more than ``chunk_size × batch_size`` decodes.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from ..batching import eval_mode, iter_batches, private_rng
from ..errors import ConfigError
from ..models import SparseVAEModel
from .metrics import labels_for

DEFAULT_IWAE_SAMPLES = 5000
DEFAULT_CHUNK_SIZE = 500


def _check_variational(model: SparseVAEModel) -> None:
    if not model.is_variational:
        raise ConfigError(
            f"model {model.kind!r} has no prior: the importance-weighted likelihood is defined "
            "only for variational models"
        )


@torch.no_grad()
def log_importance_weights(
    model: SparseVAEModel, x: torch.Tensor, y: torch.Tensor | None, samples: int
) -> torch.Tensor:
    """``log p(x, z_i) − log q(z_i | x)`` for ``samples`` exact posterior draws, ``(samples, B)``."""
    _check_variational(model)
    q = model.posterior(x, y)
    z = q.sample((samples,))  # (S, B, J); exact draws, atoms included for VSC
    batch = x.shape[0]
    flat_z = z.reshape(samples * batch, -1)
    flat_y = None if y is None else y.repeat(samples)  # matches z's (sample, example) order
    flat_x = x.unsqueeze(0).expand(samples, *x.shape).reshape(samples * batch, *x.shape[1:])
    log_px_z = model.likelihood.log_prob(model.decoder_output(flat_z, flat_y), flat_x)
    log_pz = model.prior().log_prob(z).sum(-1)
    log_qz = q.log_prob(z).sum(-1)
    return log_px_z.reshape(samples, batch) + log_pz - log_qz


def iwae_log_likelihood(
    model: SparseVAEModel,
    x: torch.Tensor,
    y: torch.Tensor | None = None,
    *,
    samples: int = DEFAULT_IWAE_SAMPLES,
    batch_size: int = 10,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    seed: int = 0,
) -> torch.Tensor:
    """Per-example importance-weighted estimate of log p(x) in nats, ``(N,)``.

    ``samples`` is k; each batch of ``batch_size`` examples is decoded ``chunk_size`` samples at a
    time, in eval mode (the model's mode is restored).  Draws come from torch seeded with ``seed``
    for this call only, so the estimate is reproducible and the caller's RNG state is kept.
    """
    _check_variational(model)
    if int(samples) != samples or samples < 1:
        raise ConfigError(f"the number of importance samples k must be >= 1, got {samples!r}")
    if batch_size < 1 or chunk_size < 1:
        raise ConfigError("batch_size and chunk_size must be positive")
    estimates = []
    with eval_mode(model), private_rng(seed):
        for xb, yb in iter_batches(
            x, labels_for(model, y), batch_size=batch_size, device=model.device
        ):
            total = torch.full((len(xb),), -math.inf, device=xb.device)
            remaining = int(samples)
            while remaining:
                s = min(chunk_size, remaining)
                log_w = log_importance_weights(model, xb, yb, s)
                total = torch.logaddexp(total, torch.logsumexp(log_w, dim=0))
                remaining -= s
            estimates.append((total - math.log(samples)).cpu())
    return torch.cat(estimates)


def iwae_summary(
    model: SparseVAEModel,
    x: torch.Tensor,
    y: torch.Tensor | None = None,
    *,
    samples: int = DEFAULT_IWAE_SAMPLES,
    batch_size: int = 10,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    seed: int = 0,
) -> dict[str, Any]:
    """``iwae_log_likelihood`` as report entries: mean log p(x) and −log p(x) in nats per example."""
    values = iwae_log_likelihood(
        model, x, y, samples=samples, batch_size=batch_size, chunk_size=chunk_size, seed=seed
    )
    mean = float(values.mean())
    return {
        "iwae_log_likelihood": mean,
        "iwae_neg_log_likelihood": -mean,
        "iwae_k": int(samples),
        "iwae_examples": len(values),
    }
