"""Variational sparse coding with learned thresholding (Fallah & Rozell, ICML 2022).

The posterior draw is a Gaussian (or Laplacian) draw passed through a shifted soft threshold
(:class:`~sparsevae.distributions.ShiftedSoftThreshold`): ``z = 0`` where the noise ``|n| ≤ λ``,
else ``μ + sign(n)·(|n| − λ)``.  Zeros are exact and chosen per input: an element is active with
probability ``P(|n| > λ)``, which the encoder sets through the scale.

* **Sparsity knob.**  ``active_fraction`` p sets the threshold from the prior scale so that a draw
  from the prior is non-zero with probability p: λ = σ₀·Φ⁻¹(1 − p/2) (Gaussian), λ = −b₀·ln p
  (Laplacian) — the authors' configurations follow this rule (λ = 0.23 for b₀ = 0.1, p = 0.1).
* **Threshold.**  ``threshold="fixed"``: λ as above.  ``"learned"``: per input and latent,
  λ ~ Gamma(α(x), β(x)) from two more encoder heads, with the prior Gamma(3, 3/λ₀) (mean λ₀, the
  fixed value) and its KL weighted by ``threshold_kl_weight`` (0.1 in the paper); eval mode uses
  the posterior mean α/β.
* **KL.**  ``kl="base"`` (the paper's objective): the closed-form KL between the un-thresholded
  base posterior and the base prior, Normal–Normal or Laplace–Laplace.  ``kl="exact"``: the KL
  between the thresholded posterior and the thresholded prior — closed form for the Laplacian base
  (both are spike-and-slab: KL(Bern(γ) ‖ Bern(γ₀)) + γ·KL(Laplace(μ, b) ‖ Laplace(0, b₀))), one
  Monte Carlo draw for the Gaussian base.  Fixed thresholds only.
* **Gradients.**  Straight-through, as in the paper: the value is the thresholded draw, the
  gradient that of μ + n, plus the threshold's own path.  (The authors' code adds μ twice on
  active elements, doubling that gradient; we use the clean estimator.)
* **Samples.**  ``samples`` S > 1 draws S codes per input in training and keeps the best (the
  paper's "max ELBO" selection, S = 20 in its runs); evaluation always uses one draw.
* **Code.**  An element's P(z ≠ 0) follows its scale, which the KL keeps near the prior's, so it
  rarely reaches ½ and μ-where-P ≥ ½ (``"mean-active"``) is mostly empty.  ``encode`` therefore
  returns μ on the m elements most likely to be active, m = round(Σ P(z ≠ 0)) as many as a draw
  has on average (``code="most-probable"``); ``"best-draw"`` is the paper's inference, of
  ``code_draws`` posterior draws the one that reconstructs the input best (seeded);
  ``"sparse-mean"``, ``"mean-active"`` and ``"mean"`` as for ``vsc``.
"""

from __future__ import annotations

import dataclasses
import math
from statistics import NormalDist

import torch
from torch.distributions import Gamma, Laplace, kl_divergence

from ..batching import private_rng
from ..distributions import BASES, ShiftedSoftThreshold, bernoulli_kl
from .config import option, require
from .registry import register_model
from .spike_codes import CODES, spike_code
from .vae import VAEConfig, VariationalAutoencoder, split_heads

THRESHOLDS = ("fixed", "learned")
KLS = ("base", "exact")
# Gamma parameters of the learned threshold are clamped in log space, as in the authors' code.
LOG_GAMMA_MIN, LOG_GAMMA_MAX = math.log(1e-6), math.log(1e6)


@dataclasses.dataclass(frozen=True)
class VSCThresholdConfig(VAEConfig):
    base: str = option("normal", "base distribution of the draws", choices=BASES)
    prior_scale: float = option(1.0, "prior scale: σ₀ (normal) or b₀ (laplace)")
    active_fraction: float = option(
        0.05,
        "target fraction p of non-zero code elements under the prior",
        flag="--active-fraction",
    )
    threshold: str = option("fixed", "fixed λ, or λ learned per input", choices=THRESHOLDS)
    threshold_prior_shape: float = option(3.0, "shape α₀ of the learned threshold's Gamma prior")
    threshold_kl_weight: float = option(0.1, "weight of the learned threshold's KL")
    kl: str = option("base", "KL of the base distributions (paper) or of the codes", choices=KLS)
    samples: int = option(1, "draws per input in training; the best one is kept")
    code: str = option(
        "most-probable", "the code encode returns", flag="--code", choices=(*CODES, "best-draw")
    )
    code_draws: int = option(20, "draws the best-draw code chooses from (the paper's 20)")
    code_threshold: float = option(
        0.5, "elements with P(z ≠ 0) below this are exactly 0 in the code", flag="--code-threshold"
    )

    def check(self) -> None:
        super().check()
        require(self.num_classes == 0, "vsc-threshold is not conditional: num_classes must be 0")
        require(self.prior_scale > 0, f"prior_scale must be positive, got {self.prior_scale}")
        require(
            0 < self.active_fraction < 1,
            f"active_fraction must be in (0, 1), got {self.active_fraction}",
        )
        require(self.threshold_prior_shape > 0, "threshold_prior_shape must be positive")
        require(self.threshold_kl_weight >= 0, "threshold_kl_weight must be >= 0")
        require(self.samples >= 1, f"samples must be a positive integer, got {self.samples}")
        require(self.code_draws >= 1, f"code_draws must be positive, got {self.code_draws}")
        require(0 <= self.code_threshold <= 1, "code_threshold must be in [0, 1]")
        require(
            self.kl == "base" or self.threshold == "fixed",
            'kl="exact" needs a fixed threshold (the prior is thresholded at the same λ)',
        )

    @property
    def fixed_threshold(self) -> float:
        """λ₀ with P(|n| > λ₀) = active_fraction under the prior."""
        p = self.active_fraction
        if self.base == "normal":
            return self.prior_scale * NormalDist().inv_cdf(1 - p / 2)
        return -self.prior_scale * math.log(p)


@register_model
class VSCThreshold(VariationalAutoencoder):
    """Variational sparse coding with learned thresholding (Fallah & Rozell 2022): exact zeros
    chosen per input by a shifted soft threshold of Gaussian or Laplacian posterior draws."""

    kind = "vsc-threshold"
    config_class = VSCThresholdConfig
    sparse_code = True

    @property
    def posterior_heads(self) -> int:  # μ, log-scale, and log α, log β of a learned threshold
        return 4 if self.config.threshold == "learned" else 2

    def make_posterior(self, params: torch.Tensor) -> ShiftedSoftThreshold:
        c = self.config
        loc, scale, *gamma = split_heads(params, self.posterior_heads)
        if c.threshold == "fixed":
            return ShiftedSoftThreshold(loc, scale, c.fixed_threshold, c.base, validate_args=False)
        shape, rate = (g.clamp(LOG_GAMMA_MIN, LOG_GAMMA_MAX).exp() for g in gamma)
        lam = Gamma(shape, rate, validate_args=False)
        threshold = lam.rsample() if self.training else lam.mean
        q = ShiftedSoftThreshold(loc, scale, threshold, c.base, validate_args=False)
        q.threshold_posterior = lam  # for the KL; not part of the distribution's value
        return q

    def prior(self) -> ShiftedSoftThreshold:
        c = self.config
        zeros = torch.zeros(self.latent_dim, device=self.head.weight.device)
        return ShiftedSoftThreshold(
            zeros, zeros + c.prior_scale, c.fixed_threshold, c.base, validate_args=False
        )

    def threshold_prior(self, like: torch.Tensor) -> Gamma:
        c = self.config
        shape = torch.full_like(like, c.threshold_prior_shape)
        return Gamma(shape, shape / c.fixed_threshold, validate_args=False)

    def kl(self, q: ShiftedSoftThreshold, x: torch.Tensor | None = None) -> torch.Tensor:
        c, p = self.config, self.prior()
        if c.kl == "base":
            kl = kl_divergence(q.base, p.base.expand(q.batch_shape)).sum(-1)
        elif c.base == "laplace":
            kl = thresholded_laplace_kl(q, p).sum(-1)
        else:  # one draw: E_q[log q(z) − log p(z)] has no closed form for the Gaussian base
            z = self.draw(q)
            kl = (q.log_prob(z) - p.log_prob(z)).sum(-1)
        if c.threshold == "learned":
            lam = q.threshold_posterior
            gamma_kl = kl_divergence(lam, self.threshold_prior(lam.concentration)).sum(-1)
            kl = kl + c.threshold_kl_weight * gamma_kl
        return kl

    def elbo_terms(self, x: torch.Tensor, y: torch.Tensor | None = None):
        if not self.training or self.config.samples == 1:
            return super().elbo_terms(x, y)
        q = self.posterior(x, y)
        z = q.rsample((self.config.samples,))  # (S, N, J): keep each input's best draw
        repeated = x.expand(self.config.samples, *x.shape).flatten(0, 1)
        recon = -self.likelihood.log_prob(self.decoder_output(z.flatten(0, 1)), repeated)
        return recon.view(self.config.samples, -1).min(0).values, self.kl(q, x)

    def encode(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        q = self.posterior(x, y)
        if self.config.code == "best-draw":
            return self.best_draw(q, x)
        return spike_code(q, self.config.code_threshold, self.config.code)

    def best_draw(self, q: ShiftedSoftThreshold, x: torch.Tensor) -> torch.Tensor:
        """The paper's inference: of ``code_draws`` exact posterior draws, the one that
        reconstructs ``x`` best (seeded, so a batch always gets the same code)."""
        draws = self.config.code_draws
        with private_rng(0):
            z = q.sample((draws,))  # (S, N, J)
        repeated = x.expand(draws, *x.shape).flatten(0, 1)
        recon = -self.likelihood.log_prob(self.decoder_output(z.flatten(0, 1)), repeated)
        best = recon.view(draws, -1).argmin(0)
        return z[best, torch.arange(len(x), device=x.device)]


def thresholded_laplace_kl(q: ShiftedSoftThreshold, p: ShiftedSoftThreshold) -> torch.Tensor:
    """KL between two Laplace-based thresholded distributions with the same threshold, element-
    wise: both are spike-and-slab with Laplace slabs (memorylessness), so the KL is
    KL(Bern(γ_q) ‖ Bern(γ_p)) + γ_q·KL(Laplace(μ, b) ‖ Laplace(μ_p, b_p))."""
    slab = kl_divergence(
        Laplace(q.loc, q.scale, validate_args=False), Laplace(p.loc, p.scale, validate_args=False)
    )
    return bernoulli_kl(q.probs, p.probs) + q.probs * slab
