"""Observation models p(x | z): each maps decoder outputs to a per-example log-likelihood.

The decoder emits ``likelihood.params_per_pixel`` numbers per pixel (1 for a mean or logits, 2 when
the variance is learned); the likelihood turns them into ``log p(x | z)`` summed over pixels, and into
the expected image used for reconstructions and samples.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .errors import ConfigError


class Likelihood(torch.nn.Module):
    """Base class: ``log_prob(output, x)`` is summed over all but the batch dimension."""

    params_per_pixel = 1

    def log_prob(self, output: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def mean(self, output: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


class BernoulliLikelihood(Likelihood):
    """Bernoulli pixels with logits from the decoder (the usual choice for [0, 1] images)."""

    def log_prob(self, output: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        bce = F.binary_cross_entropy_with_logits(output, x, reduction="none")
        return -bce.flatten(1).sum(1)

    def mean(self, output: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(output)


class GaussianLikelihood(Likelihood):
    """Gaussian pixels.  ``learn_variance=False``: fixed ``sigma``; ``True``: the decoder also emits a
    per-pixel log-variance (clamped to [log_var_min, log_var_max] for stability)."""

    def __init__(
        self,
        sigma: float = 1.0,
        learn_variance: bool = False,
        log_var_min: float = -9.0,
        log_var_max: float = 4.0,
    ) -> None:
        super().__init__()
        if sigma <= 0:
            raise ConfigError(f"likelihood sigma must be positive, got {sigma}")
        self.sigma = float(sigma)
        self.learn_variance = bool(learn_variance)
        self.log_var_min, self.log_var_max = log_var_min, log_var_max
        self.params_per_pixel = 2 if learn_variance else 1

    def split(self, output: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.learn_variance:
            log_var = torch.full_like(output, 2 * math.log(self.sigma))
            return output, log_var
        mean, log_var = output.chunk(2, dim=1)
        return mean, log_var.clamp(self.log_var_min, self.log_var_max)

    def log_prob(self, output: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        mean, log_var = self.split(output)
        lp = -0.5 * (math.log(2 * math.pi) + log_var + (x - mean) ** 2 * torch.exp(-log_var))
        return lp.flatten(1).sum(1)

    def mean(self, output: torch.Tensor) -> torch.Tensor:
        return self.split(output)[0]


LIKELIHOODS = ("bernoulli", "gaussian", "gaussian-learned")


def build_likelihood(name: str, sigma: float = 1.0) -> Likelihood:
    """``bernoulli``, ``gaussian`` (fixed ``sigma``) or ``gaussian-learned`` (per-pixel variance)."""
    if name == "bernoulli":
        return BernoulliLikelihood()
    if name == "gaussian":
        return GaussianLikelihood(sigma=sigma)
    if name == "gaussian-learned":
        return GaussianLikelihood(sigma=sigma, learn_variance=True)
    raise ConfigError(f"unknown likelihood {name!r}; choose one of {', '.join(LIKELIHOODS)}")
