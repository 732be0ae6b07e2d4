"""Deterministic autoencoders: plain, denoising and L1-sparse.

They share the networks and likelihoods of the variational models; their loss is the negative
log-likelihood of the input under the decoder's output (plus the L1 penalty for ``sparse-ae``).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ..errors import ConfigError
from ..likelihoods import build_likelihood
from ..networks import build_decoder, build_encoder
from .base import (
    LossOutput,
    SparseVAEModel,
    check_hidden,
    check_positive_int,
    check_shape,
    init_args,
)
from .registry import register_model

CODE_ACTIVATIONS = ("linear", "relu")


@register_model
class Autoencoder(SparseVAEModel):
    """x → code (``latent_dim``) → x̂; ``code_activation="relu"`` gives non-negative codes with exact
    zeros (the usual choice for sparse codes)."""

    kind = "ae"

    def __init__(
        self,
        input_shape: Sequence[int] = (1, 28, 28),
        latent_dim: int = 32,
        hidden: int | Sequence[int] = (400,),
        arch: str = "mlp",
        likelihood: str = "bernoulli",
        likelihood_sigma: float = 1.0,
        code_activation: str = "linear",
    ) -> None:
        super().__init__()
        self.input_shape = check_shape(input_shape)
        self.latent_dim = check_positive_int("latent_dim", latent_dim)
        hidden = check_hidden(hidden)
        if code_activation not in CODE_ACTIVATIONS:
            raise ConfigError(
                f"code_activation must be one of {', '.join(CODE_ACTIVATIONS)}, got {code_activation!r}"
            )
        self.likelihood = build_likelihood(likelihood, likelihood_sigma)
        self.encoder = build_encoder(arch, self.input_shape, hidden)
        self.to_code = nn.Linear(self.encoder.out_features, self.latent_dim)
        self.code_activation = code_activation
        self.decoder = build_decoder(
            arch, self.latent_dim, self.input_shape, hidden, self.likelihood.params_per_pixel
        )
        self.config = init_args(locals())

    def encode(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        code = self.to_code(self.encoder(x))
        return torch.relu(code) if self.code_activation == "relu" else code

    def decode(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.likelihood.mean(self.decoder(z))

    def corrupt(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def penalty(self, code: torch.Tensor) -> dict[str, torch.Tensor]:
        return {}

    def loss(
        self, x: torch.Tensor, y: torch.Tensor | None = None, kl_weight: float = 1.0
    ) -> LossOutput:
        code = self.encode(self.corrupt(x) if self.training else x)
        recon = -self.likelihood.log_prob(self.decoder(code), x).mean()
        penalties = self.penalty(code)
        loss = recon + sum(penalties.values()) if penalties else recon
        return LossOutput(loss, {"loss": loss, "recon": recon, **penalties})


@register_model
class DenoisingAutoencoder(Autoencoder):
    """Denoising autoencoder (Vincent et al. 2008): the encoder sees a corrupted input, the loss
    compares with the clean one.  ``noise="gaussian"`` adds N(0, noise_level²) and clips to [0, 1];
    ``noise="masking"`` sets a fraction ``noise_level`` of pixels to 0."""

    kind = "dae"

    def __init__(self, *args, noise: str = "gaussian", noise_level: float = 0.3, **kwargs) -> None:
        if noise not in ("gaussian", "masking"):
            raise ConfigError(f"noise must be 'gaussian' or 'masking', got {noise!r}")
        if not noise_level >= 0 or (noise == "masking" and noise_level >= 1):
            raise ConfigError(f"noise_level out of range for {noise} noise: {noise_level}")
        super().__init__(*args, **kwargs)
        self.config.update(noise=noise, noise_level=float(noise_level))
        self.noise, self.noise_level = noise, float(noise_level)

    def corrupt(self, x: torch.Tensor) -> torch.Tensor:
        if self.noise == "gaussian":
            return (x + self.noise_level * torch.randn_like(x)).clamp(0.0, 1.0)
        return x * (torch.rand_like(x) >= self.noise_level)


@register_model
class SparseAutoencoder(Autoencoder):
    """Autoencoder with an L1 penalty ``l1·Σ|code|`` per example; ReLU codes by default so that
    elements are exactly zero."""

    kind = "sparse-ae"

    def __init__(self, *args, l1: float = 1.0, code_activation: str = "relu", **kwargs) -> None:
        if not l1 >= 0:
            raise ConfigError(f"l1 must be >= 0, got {l1}")
        super().__init__(*args, code_activation=code_activation, **kwargs)
        self.config["l1"] = float(l1)
        self.l1 = float(l1)

    def penalty(self, code: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"l1": self.l1 * code.abs().sum(1).mean()}
