"""Deterministic autoencoders: plain, denoising and L1-sparse.

They share the networks and likelihoods of the variational models; their loss is the negative
log-likelihood of the input under the decoder's output (plus the L1 penalty for ``sparse-ae``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, ClassVar

import torch
from torch import nn

from .. import noise
from .base import LossOutput, Schedule, SparseVAEModel
from .config import NetworkConfig, latent_dim_option, option, require
from .parts import build_decoder_side, build_encoder_side
from .registry import register_model

CODE_ACTIVATIONS = ("linear", "relu")


@dataclasses.dataclass(frozen=True)
class AutoencoderConfig(NetworkConfig):
    latent_dim: int = latent_dim_option(32)
    code_activation: str = option(
        "linear", "autoencoder code activation", flag="--code-activation", choices=CODE_ACTIVATIONS
    )


@register_model
class Autoencoder(SparseVAEModel):
    """x → code (``latent_dim``) → x̂; ``code_activation="relu"`` gives non-negative codes with exact
    zeros (the usual choice for sparse codes)."""

    kind = "ae"
    config_class = AutoencoderConfig
    stackable = True  # and so are dae and sparse-ae

    def __init__(self, config: AutoencoderConfig | None = None, /, **options) -> None:
        super().__init__(config, **options)
        c = self.config
        self.latent_dim = c.latent_dim
        self.likelihood, self.encoder = build_encoder_side(c, self.input_shape)
        self.to_code = nn.Linear(self.encoder.out_features, self.latent_dim)
        self.decoder = build_decoder_side(c, self.input_shape, self.likelihood)

    def encode(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        code = self.to_code(self.encoder(x))
        return torch.relu(code) if self.config.code_activation == "relu" else code

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


NOISES = ("gaussian", "masking")


@dataclasses.dataclass(frozen=True)
class DenoisingConfig(AutoencoderConfig):
    noise: str = option("gaussian", "input corruption (dae)", flag="--noise", choices=NOISES)
    noise_level: float = option(0.3, "noise std or masked fraction (dae)", flag="--noise-level")

    def check(self) -> None:
        super().check()
        too_high = self.noise == "masking" and self.noise_level >= 1
        require(
            self.noise_level >= 0 and not too_high,
            f"noise_level out of range for {self.noise} noise: {self.noise_level}",
        )


@register_model
class DenoisingAutoencoder(Autoencoder):
    """Denoising autoencoder (Vincent et al. 2008): the encoder sees a corrupted input, the loss
    compares with the clean one.  ``noise="gaussian"`` adds N(0, noise_level²) and clips to [0, 1];
    ``noise="masking"`` sets a fraction ``noise_level`` of pixels to 0."""

    kind = "dae"
    config_class = DenoisingConfig

    def corrupt(self, x: torch.Tensor) -> torch.Tensor:
        level = self.config.noise_level
        if self.config.noise == "gaussian":
            return (x + level * noise.standard_normal(x.shape, x)).clamp(0.0, 1.0)
        return x * (noise.uniform(x.shape, x) >= level)


@dataclasses.dataclass(frozen=True)
class SparseAEConfig(AutoencoderConfig):
    code_activation: str = option(
        "relu", "autoencoder code activation", flag="--code-activation", choices=CODE_ACTIVATIONS
    )
    l1: float = option(0.3, "weight of the L1 penalty on the code (sparse-ae)", flag="--l1")
    # Without a warm-up the penalty wins before the reconstruction has taken shape, and every
    # ReLU code unit can die (all 3 seeds on digits at l1 = 1, docs/sparse-models.md).
    l1_warmup: float = option(
        0.2, "fraction of training over which the L1 weight rises from 0 to l1"
    )
    legacy: ClassVar[Mapping[str, Any]] = {"l1_warmup": 0.0}

    def check(self) -> None:
        super().check()
        require(self.l1 >= 0, f"l1 must be >= 0, got {self.l1}")
        require(0 <= self.l1_warmup <= 1, f"l1_warmup must be in [0, 1], got {self.l1_warmup}")


@register_model
class SparseAutoencoder(Autoencoder):
    """Autoencoder with an L1 penalty ``l1·Σ|code|`` per example; ReLU codes by default so that
    elements are exactly zero."""

    kind = "sparse-ae"
    config_class = SparseAEConfig
    sparse_code = True
    per_model_values = ("l1_weight",)
    per_model_options = ("l1", "l1_warmup")

    def __init__(self, config: SparseAEConfig | None = None, /, **options) -> None:
        super().__init__(config, **options)
        self.l1_weight = self.config.l1  # the warm-up moves it while training

    def update_schedules(self, progress: float) -> Schedule:
        c = self.config
        if not c.l1_warmup:
            return Schedule()
        self.l1_weight = c.l1 * min(max(progress, 0.0) / c.l1_warmup, 1.0)
        return Schedule({"l1_weight": self.l1_weight})

    def penalty(self, code: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"l1": self.l1_weight * code.abs().sum(1).mean()}
