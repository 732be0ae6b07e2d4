"""The variational family: one ELBO, different posteriors and priors.

| kind          | posterior   | prior                 |
|---------------|-------------|-----------------------|
| ``vae``       | Normal      | Normal(0, 1)          |
| ``beta-vae``  | Normal      | Normal(0, 1), KL × β  |
| ``cvae``      | Normal      | Normal(0, 1); label joins encoder and decoder inputs |
| ``laplace-vae`` | Normal    | Laplace(0, b)         |
| ``cauchy-vae``  | Cauchy    | Cauchy(0, 1)          |

(``vsc`` and ``vsc-uai``, with spike-and-slab posteriors, live in vsc.py and vsc_uai.py.)
Losses are sums over pixels and latent dimensions, averaged over the batch: nats per example.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn
from torch.distributions import Cauchy, Distribution, Laplace, Normal, kl_divergence

from ..distributions import ReparameterisedNormal
from ..errors import ConfigError
from .base import LossOutput, SparseVAEModel
from .config import NetworkConfig, option, require
from .parts import build_decoder_side, build_encoder_side
from .registry import register_model

# Encoders emit log σ²; the clamp keeps exp() finite in the first steps of training.
LOG_VAR_MIN, LOG_VAR_MAX = -12.0, 8.0


def split_heads(params: torch.Tensor, heads: int) -> tuple[torch.Tensor, ...]:
    """Encoder outputs as ``(loc, scale, *further heads)``: μ first, log σ² second (clamped so
    that exp() stays finite), then any others (VSC's spike logits v)."""
    loc, log_var, *rest = params.chunk(heads, dim=-1)
    return (loc, torch.exp(0.5 * log_var.clamp(LOG_VAR_MIN, LOG_VAR_MAX)), *rest)


@dataclasses.dataclass(frozen=True)
class VAEConfig(NetworkConfig):
    beta: float = option(1.0, "weight β of the KL term (beta-vae)", flag="--beta")
    num_classes: int = option(0, "number of classes of a conditional model (cvae)")

    def check(self) -> None:
        super().check()
        require(self.beta > 0, f"beta must be positive, got {self.beta}")
        require(self.num_classes >= 0, f"num_classes must be >= 0, got {self.num_classes}")


class VariationalAutoencoder(SparseVAEModel):
    """Encoder → posterior q(z|x) → decoder → likelihood p(x|z), with a prior p(z).

    ``loss = −log p(x|z) + β·w·KL(q‖p)`` for one reparameterised draw z, with w the KL warm-up
    weight from the trainer.  Subclasses choose the posterior (``posterior_heads`` and
    ``make_posterior``), the prior (``prior``) and the downstream code (``encode``).
    """

    config_class = VAEConfig
    is_variational = True
    posterior_heads = 2  # μ and log σ²
    #: The sharpness c of relaxed spike-and-slab draws (VSC); None for models without one.
    sharpness: float | None = None

    def __init__(self, config: VAEConfig | None = None, /, **options) -> None:
        super().__init__(config, **options)
        c = self.config
        self.latent_dim, self.beta, self.num_classes = c.latent_dim, c.beta, c.num_classes
        #: When True, eval mode also uses reparameterised (for VSC: relaxed) draws.
        self.relaxed_eval = False
        self.likelihood, self.encoder = build_encoder_side(c, self.input_shape, c.num_classes)
        self.head = nn.Linear(self.encoder.out_features, self.posterior_heads * self.latent_dim)
        self.decoder = build_decoder_side(c, self.input_shape, self.likelihood, c.num_classes)

    # -- the parts subclasses change -------------------------------------------------------------
    def make_posterior(self, params: torch.Tensor) -> Distribution:
        loc, scale = split_heads(params, 2)
        return ReparameterisedNormal(loc, scale, validate_args=False)

    def prior(self) -> Distribution:
        zeros = torch.zeros(self.latent_dim, device=self.head.weight.device)
        return Normal(zeros, torch.ones_like(zeros), validate_args=False)

    def prior_for(self, x: torch.Tensor) -> Distribution:
        return self.prior().expand((len(x), self.latent_dim))

    def kl(self, q: Distribution, x: torch.Tensor | None = None) -> torch.Tensor:
        """KL(q(z|x) ‖ p(z)) per example, summed over latent dimensions (closed form)."""
        return kl_divergence(q, self.prior()).sum(-1)

    def encode(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.posterior(x, y).mean

    # -- shared machinery ------------------------------------------------------------------------
    def posterior(self, x: torch.Tensor, y: torch.Tensor | None = None) -> Distribution:
        return self.make_posterior(self.head(self.encoder(x, self.one_hot(y, x.shape[0]))))

    def decoder_output(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        label = self.one_hot(y, z.shape[0])
        return self.decoder(z if label is None else torch.cat([z, label], dim=1))

    def decode(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.likelihood.mean(self.decoder_output(z, y))

    def draw(self, q: Distribution) -> torch.Tensor:
        """A posterior draw: reparameterised while training, exact (``sample``) in eval mode."""
        return q.rsample() if self.training or self.relaxed_eval else q.sample()

    def elbo_terms(self, x: torch.Tensor, y: torch.Tensor | None = None):
        """Per-example ``(−log p(x|z), KL)`` for one draw z ~ q(z|x)."""
        q = self.posterior(x, y)
        z = self.draw(q)
        recon = -self.likelihood.log_prob(self.decoder_output(z, y), x)
        return recon, self.kl(q, x)

    def elbo(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Single-sample ELBO per example (nats); β and warm-up do not enter it."""
        recon, kl = self.elbo_terms(x, y)
        return -(recon + kl)

    def loss(
        self, x: torch.Tensor, y: torch.Tensor | None = None, kl_weight: float = 1.0
    ) -> LossOutput:
        recon, kl = self.elbo_terms(x, y)
        recon, kl = recon.mean(), kl.mean()
        loss = recon + (self.beta * kl_weight) * kl
        return LossOutput(loss, {"loss": loss, "recon": recon, "kl": kl, "neg_elbo": recon + kl})

    @torch.no_grad()
    def sample(self, n: int, y: torch.Tensor | None = None) -> torch.Tensor:
        """``n`` images decoded from prior draws (conditional models need ``y``)."""
        z = self.prior().sample((n,))
        return self.decode(z, y)


@register_model
class VAE(VariationalAutoencoder):
    """Gaussian-posterior VAE (Kingma & Welling 2014)."""

    kind = "vae"
    stackable = True
    per_model_values = ("beta",)
    per_model_options = ("beta",)


@dataclasses.dataclass(frozen=True)
class BetaVAEConfig(VAEConfig):
    beta: float = option(4.0, "weight β of the KL term (beta-vae)", flag="--beta")


@register_model
class BetaVAE(VariationalAutoencoder):
    """β-VAE (Higgins et al. 2017): the KL is weighted by ``beta`` (default 4)."""

    kind = "beta-vae"
    config_class = BetaVAEConfig
    stackable = True
    per_model_values = ("beta",)
    per_model_options = ("beta",)


@dataclasses.dataclass(frozen=True)
class CVAEConfig(VAEConfig):
    num_classes: int = option(10, "number of classes (the labels' one-hot width)")

    def check(self) -> None:
        super().check()
        require(self.num_classes >= 1, "cvae needs num_classes >= 1 (a labelled data set)")


@register_model
class CVAE(VariationalAutoencoder):
    """Conditional VAE (Sohn et al. 2015): the one-hot label joins encoder and decoder inputs."""

    kind = "cvae"
    config_class = CVAEConfig


@dataclasses.dataclass(frozen=True)
class LaplaceVAEConfig(VAEConfig):
    prior_scale: float = option(1.0, "Laplace prior scale b (laplace-vae)", flag="--prior-scale")

    def check(self) -> None:
        super().check()
        require(
            self.prior_scale > 0,
            f"prior_scale (Laplace b) must be positive, got {self.prior_scale}",
        )


@register_model
class LaplaceVAE(VariationalAutoencoder):
    """Normal posterior with a sparsity-inducing Laplace(0, b) prior (closed-form KL)."""

    kind = "laplace-vae"
    config_class = LaplaceVAEConfig

    def prior(self) -> Laplace:
        zeros = torch.zeros(self.latent_dim, device=self.head.weight.device)
        return Laplace(zeros, zeros + self.config.prior_scale, validate_args=False)


@register_model
class CauchyVAE(VariationalAutoencoder):
    """Cauchy posterior and Cauchy(0, 1) prior (closed-form KL, reparameterised draws).

    The Cauchy has no mean, so ``encode`` returns the posterior location (its median).
    """

    kind = "cauchy-vae"

    def make_posterior(self, params: torch.Tensor) -> Cauchy:
        loc, scale = split_heads(params, 2)
        return Cauchy(loc, scale, validate_args=False)

    def prior(self) -> Cauchy:
        zeros = torch.zeros(self.latent_dim, device=self.head.weight.device)
        return Cauchy(zeros, zeros + 1.0, validate_args=False)

    def encode(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.posterior(x, y).loc


@contextmanager
def relaxed_draws(model: VariationalAutoencoder, sharpness: float | None = None) -> Iterator[None]:
    """Evaluate with the training-time (relaxed) draws instead of exact ones, optionally at another
    VSC sharpness c — to compare with published numbers computed that way (docs/vsc-elbo.md)."""
    if sharpness is not None and model.sharpness is None:
        raise ConfigError(f"model {model.kind!r} has no sharpness c to set")
    saved = (model.relaxed_eval, model.sharpness)
    model.relaxed_eval = True
    if sharpness is not None:
        model.sharpness = float(sharpness)
    try:
        yield
    finally:
        model.relaxed_eval, model.sharpness = saved
