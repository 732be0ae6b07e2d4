"""The variational family: one ELBO, different posteriors and priors.

| kind          | posterior   | prior                 |
|---------------|-------------|-----------------------|
| ``vae``       | Normal      | Normal(0, 1)          |
| ``beta-vae``  | Normal      | Normal(0, 1), KL × β  |
| ``cvae``      | Normal      | Normal(0, 1); label joins encoder and decoder inputs |
| ``vsc``       | SpikeSlab   | SpikeSlab(α, 0, 1)    |
| ``laplace-vae`` | Normal    | Laplace(0, b)         |
| ``cauchy-vae``  | Cauchy    | Cauchy(0, 1)          |

Losses are sums over pixels and latent dimensions, averaged over the batch: nats per example.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn
from torch.distributions import Cauchy, Distribution, Laplace, Normal, kl_divergence

from ..distributions import SpikeSlab
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

# Encoders emit log σ²; the clamp keeps exp() finite in the first steps of training.
LOG_VAR_MIN, LOG_VAR_MAX = -12.0, 8.0


class VariationalAutoencoder(SparseVAEModel):
    """Encoder → posterior q(z|x) → decoder → likelihood p(x|z), with a prior p(z).

    ``loss = −log p(x|z) + β·w·KL(q‖p)`` for one reparameterised draw z, with w the KL warm-up
    weight from the trainer.  Subclasses choose the posterior (``posterior_heads`` and
    ``make_posterior``), the prior (``prior``) and the downstream code (``encode``).
    """

    is_variational = True
    posterior_heads = 2  # μ and log σ²
    #: When True, eval mode also uses reparameterised (for VSC: relaxed) draws; see ``relaxed_draws``.
    relaxed_eval: bool = False

    def __init__(
        self,
        input_shape: Sequence[int] = (1, 28, 28),
        latent_dim: int = 200,
        hidden: int | Sequence[int] = (400,),
        arch: str = "mlp",
        likelihood: str = "bernoulli",
        likelihood_sigma: float = 1.0,
        beta: float = 1.0,
        num_classes: int = 0,
    ) -> None:
        super().__init__()
        self.input_shape = check_shape(input_shape)
        self.latent_dim = check_positive_int("latent_dim", latent_dim)
        hidden = check_hidden(hidden)
        if not beta > 0:
            raise ConfigError(f"beta must be positive, got {beta}")
        if int(num_classes) < 0:
            raise ConfigError(f"num_classes must be >= 0, got {num_classes}")
        self.beta = float(beta)
        self.num_classes = int(num_classes)
        self.likelihood = build_likelihood(likelihood, likelihood_sigma)
        self.encoder = build_encoder(arch, self.input_shape, hidden, extra_inputs=self.num_classes)
        self.head = nn.Linear(self.encoder.out_features, self.posterior_heads * self.latent_dim)
        self.decoder = build_decoder(
            arch,
            self.latent_dim + self.num_classes,
            self.input_shape,
            hidden,
            self.likelihood.params_per_pixel,
        )
        self.config = init_args(locals())

    # -- the parts subclasses change -------------------------------------------------------------
    def make_posterior(self, params: torch.Tensor) -> Distribution:
        loc, log_var = params.chunk(2, dim=-1)
        scale = torch.exp(0.5 * log_var.clamp(LOG_VAR_MIN, LOG_VAR_MAX))
        return Normal(loc, scale, validate_args=False)

    def prior(self) -> Distribution:
        zeros = torch.zeros(self.latent_dim, device=self.head.weight.device)
        return Normal(zeros, torch.ones_like(zeros), validate_args=False)

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


@register_model
class BetaVAE(VariationalAutoencoder):
    """β-VAE (Higgins et al. 2017): the KL is weighted by ``beta`` (default 4)."""

    kind = "beta-vae"

    def __init__(self, *args, beta: float = 4.0, **kwargs) -> None:
        super().__init__(*args, beta=beta, **kwargs)


@register_model
class CVAE(VariationalAutoencoder):
    """Conditional VAE (Sohn et al. 2015): the one-hot label joins encoder and decoder inputs."""

    kind = "cvae"

    def __init__(self, *args, num_classes: int = 10, **kwargs) -> None:
        if int(num_classes) < 1:
            raise ConfigError("cvae needs num_classes >= 1 (a labelled data set)")
        super().__init__(*args, num_classes=num_classes, **kwargs)


@register_model
class VSC(VariationalAutoencoder):
    """Variational Sparse Coding (Tonolini, Jensen & Murray-Smith), fixed spike-and-slab prior.

    The encoder emits μ, log σ² and v with log γ = −ReLU(−v), so γ ≤ 1 is the probability that a
    latent element is active.  Training draws z = S(c·(η − 1 + γ)) ⊙ (μ + σ ⊙ ε) with c rising from
    ``sharpness_start`` to ``sharpness_end`` (linear over training, or ``sharpness_schedule=
    "constant"`` at ``sharpness_start``).  The prior is α·N(0, 1) + (1 − α)·δ(0).

    ``encode`` returns the sparse mean: γ·μ, with every element whose γ < ``code_threshold`` set to
    exactly 0.  (γ < 0.5 means the element is more likely in the spike than in the slab.)
    """

    kind = "vsc"
    posterior_heads = 3  # μ, log σ², v

    def __init__(
        self,
        *args,
        alpha: float = 0.5,
        sharpness_start: float = 50.0,
        sharpness_end: float = 200.0,
        sharpness_schedule: str = "linear",
        code_threshold: float = 0.5,
        **kwargs,
    ) -> None:
        if not 0.0 < alpha < 1.0:
            raise ConfigError(f"alpha (prior spike probability) must be in (0, 1), got {alpha}")
        if sharpness_schedule not in ("linear", "constant"):
            raise ConfigError(
                f"sharpness_schedule must be 'linear' or 'constant', got {sharpness_schedule!r}"
            )
        if not (sharpness_start > 0 and sharpness_end > 0):
            raise ConfigError("sharpness (c) must be positive")
        if not 0.0 <= code_threshold <= 1.0:
            raise ConfigError(f"code_threshold must be in [0, 1], got {code_threshold}")
        super().__init__(*args, **kwargs)
        self.config.update(init_args(locals()))
        del self.config["args"], self.config["kwargs"]
        self.alpha = float(alpha)
        self.sharpness_start, self.sharpness_end = float(sharpness_start), float(sharpness_end)
        self.sharpness_schedule = sharpness_schedule
        self.code_threshold = float(code_threshold)
        self.sharpness = self.sharpness_start

    def update_schedules(self, progress: float) -> dict[str, float]:
        if self.sharpness_schedule == "linear":
            span = self.sharpness_end - self.sharpness_start
            self.sharpness = self.sharpness_start + span * min(max(progress, 0.0), 1.0)
        return {"sharpness": self.sharpness}

    def make_posterior(self, params: torch.Tensor) -> SpikeSlab:
        loc, log_var, v = params.chunk(3, dim=-1)
        scale = torch.exp(0.5 * log_var.clamp(LOG_VAR_MIN, LOG_VAR_MAX))
        probs = torch.exp(-F.relu(-v))  # log γ = −ReLU(−v)
        return SpikeSlab(probs, loc, scale, sharpness=self.sharpness, validate_args=False)

    def prior(self) -> SpikeSlab:
        zeros = torch.zeros(self.latent_dim, device=self.head.weight.device)
        return SpikeSlab(
            zeros + self.alpha, zeros, zeros + 1.0, self.sharpness, validate_args=False
        )

    def encode(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        q = self.posterior(x, y)
        return torch.where(q.probs >= self.code_threshold, q.probs * q.loc, torch.zeros_like(q.loc))


@contextmanager
def relaxed_draws(model: VariationalAutoencoder, sharpness: float | None = None) -> Iterator[None]:
    """Evaluate with the training-time (relaxed) draws instead of exact ones, optionally at another
    VSC sharpness c — to compare with published numbers computed that way (docs/vsc-elbo.md)."""
    saved = (model.relaxed_eval, getattr(model, "sharpness", None))
    model.relaxed_eval = True
    if sharpness is not None:
        if not hasattr(model, "sharpness"):
            raise ConfigError(f"model {model.kind!r} has no sharpness c to set")
        model.sharpness = float(sharpness)
    try:
        yield
    finally:
        model.relaxed_eval = saved[0]
        if saved[1] is not None:
            model.sharpness = saved[1]


@register_model
class LaplaceVAE(VariationalAutoencoder):
    """Normal posterior with a sparsity-inducing Laplace(0, b) prior (closed-form KL)."""

    kind = "laplace-vae"

    def __init__(self, *args, prior_scale: float = 1.0, **kwargs) -> None:
        if not prior_scale > 0:
            raise ConfigError(f"prior_scale (Laplace b) must be positive, got {prior_scale}")
        super().__init__(*args, **kwargs)
        self.config["prior_scale"] = float(prior_scale)
        self.prior_scale = float(prior_scale)

    def prior(self) -> Laplace:
        zeros = torch.zeros(self.latent_dim, device=self.head.weight.device)
        return Laplace(zeros, zeros + self.prior_scale, validate_args=False)


@register_model
class CauchyVAE(VariationalAutoencoder):
    """Cauchy posterior and Cauchy(0, 1) prior (closed-form KL, reparameterised draws).

    The Cauchy has no mean, so ``encode`` returns the posterior location (its median).
    """

    kind = "cauchy-vae"

    def make_posterior(self, params: torch.Tensor) -> Cauchy:
        loc, log_var = params.chunk(2, dim=-1)
        scale = torch.exp(0.5 * log_var.clamp(LOG_VAR_MIN, LOG_VAR_MAX))
        return Cauchy(loc, scale, validate_args=False)

    def prior(self) -> Cauchy:
        zeros = torch.zeros(self.latent_dim, device=self.head.weight.device)
        return Cauchy(zeros, zeros + 1.0, validate_args=False)

    def encode(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.posterior(x, y).loc
