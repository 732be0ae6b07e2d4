"""β-TCVAE (Chen, Li, Grosse & Duvenaud 2018): penalise the total correlation of the aggregate
posterior, estimated with minibatch-weighted sampling.

The KL term of the ELBO, averaged over the data, splits into
``index-code MI + total correlation + dimension-wise KL``.  β-TCVAE weights only the total
correlation by β:

    loss = −log p(x|z) + MI + β·TC + Σ_j KL(q(z_j) ‖ p(z_j))

with q(z) and q(z_j) estimated on the minibatch by the minibatch-weighted sampling (MWS)
estimator ``log q(z_n) ≈ logsumexp_m log q(z_n | x_m) − log(N·M)`` (N data-set size, M batch
size).  N only shifts the estimated MI and TC by constants (the gradients do not depend on it); it
defaults to the batch size and can be set with ``dataset_size`` for values comparable with the
paper's.
"""

from __future__ import annotations

import dataclasses
import math

import torch
from torch.distributions import Normal

from .base import LossOutput
from .config import option, require
from .registry import register_model
from .vae import VAEConfig, VariationalAutoencoder


def gaussian_log_density(z: torch.Tensor, loc: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """log N(z; loc, scale²) element-wise (broadcasting)."""
    return -0.5 * (math.log(2 * math.pi) + 2 * torch.log(scale) + ((z - loc) / scale) ** 2)


def total_correlation_terms(
    z: torch.Tensor, q: Normal, dataset_size: int | None = None
) -> dict[str, torch.Tensor]:
    """MWS estimates, per example ``(M,)``: ``mi`` = log q(z|x) − log q(z), ``tc`` = log q(z) −
    Σ_j log q(z_j), ``dim_kl`` = Σ_j log q(z_j) − log p(z_j), for draws ``z`` (M, J) from ``q``."""
    m = z.shape[0]
    n = dataset_size or m
    log_qz_x = gaussian_log_density(z, q.loc, q.scale).sum(1)
    # log q(z_n,j | x_m) for every pair (n, m): (M, M, J).
    pairwise = gaussian_log_density(z[:, None, :], q.loc[None, :, :], q.scale[None, :, :])
    log_norm = math.log(n * m)
    log_qz = torch.logsumexp(pairwise.sum(2), dim=1) - log_norm
    log_qz_marginals = (torch.logsumexp(pairwise, dim=1) - log_norm).sum(1)
    log_pz = gaussian_log_density(z, torch.zeros_like(z), torch.ones_like(z)).sum(1)
    return {
        "mi": log_qz_x - log_qz,
        "tc": log_qz - log_qz_marginals,
        "dim_kl": log_qz_marginals - log_pz,
    }


@dataclasses.dataclass(frozen=True)
class BetaTCVAEConfig(VAEConfig):
    beta: float = option(6.0, "weight β of the total correlation (beta-tcvae)", flag="--beta")
    dataset_size: int = option(0, "data set size N of the minibatch estimator (0: the batch size)")

    def check(self) -> None:
        super().check()
        require(
            self.dataset_size >= 0,
            f"dataset_size must be a non-negative integer, got {self.dataset_size!r}",
        )


@register_model
class BetaTCVAE(VariationalAutoencoder):
    """β-TCVAE: Normal posterior and prior; β (default 6) weights the total correlation only.

    The logged ``kl`` and ``neg_elbo`` use the closed-form KL(q(z|x) ‖ N(0, I)), so the test ELBO
    is comparable with the other VAEs; ``mi``, ``tc`` and ``dim_kl`` are the minibatch estimates.
    """

    kind = "beta-tcvae"
    config_class = BetaTCVAEConfig

    def loss(
        self, x: torch.Tensor, y: torch.Tensor | None = None, kl_weight: float = 1.0
    ) -> LossOutput:
        q = self.posterior(x, y)
        z = self.draw(q)
        recon = -self.likelihood.log_prob(self.decoder_output(z, y), x).mean()
        kl = self.kl(q, x).mean()
        parts = {
            k: v.mean() for k, v in total_correlation_terms(z, q, self.config.dataset_size).items()
        }
        penalty = parts["mi"] + self.beta * parts["tc"] + parts["dim_kl"]
        loss = recon + kl_weight * penalty
        return LossOutput(
            loss, {"loss": loss, "recon": recon, "kl": kl, "neg_elbo": recon + kl, **parts}
        )
