"""Variational Sparse Coding as in UAI 2019 (Tonolini, Jensen & Murray-Smith, with its supplement).

On top of the fixed-prior ``vsc`` this model adds what the later paper uses to make features
disentangled and controllable:

* **Learned prior from pseudo-inputs.**  ``P`` learnable inputs u_1…u_P; prior component p is the
  recognition model applied to u_p, a spike-and-slab q(z | u_p).  A selection function C_ω(x) picks
  the component for each example, and the KL is the selection-weighted spike-and-slab KL
  ``Σ_p w_p(x)·KL(q(z|x) ‖ q(z|u_p))`` plus the sparsity term ``J·KL(Bern(γ̄) ‖ Bern(α))`` that pulls
  the pseudo-inputs' average probability γ̄ that an element is active towards α.
* **Spike warm-up.**  Training draws use a slab blended from N(0, 1) to the encoder's N(μ, σ²):
  mean λ·μ and log-variance λ·log σ², with λ = 0 up to ``warmup_start`` (so early training learns
  with the spikes only) and a linear ramp to 1 at ``warmup_end`` (fractions of training).
* **Learning-rate drop.**  ``update_schedules`` returns ``lr_scale`` = ``lr_drop_factor`` after
  ``lr_drop_at``; the trainer rescales the learning rate in place, so Adam keeps its moments.

Supplement versus the authors' code (``variant``):

| | ``"supplement"`` (default) | ``"authors"`` (their TensorFlow code) |
|---|---|---|
| selection C_ω(x) | ReLU(Wx + b) normalised to sum 1, then S(a·(w − b)) | S(Wx + b) normalised to unit L2 norm |
| γ̄ in the sparsity term | mean of γ over pseudo-inputs and latents | per example, the selection-weighted γ of the components, averaged over latents (and the batch) |

Spike link (``spike_link``): the paper's log γ = −ReLU(−v) (``"exp-relu"``) saturates at γ = 1
with zero gradient.  With the learned prior that is fatal: about half of the components' γ start at
exactly 1 and can never move, so the sparsity term keeps pushing the movable ones to 0, activating
any latent then costs ≈ −log(10⁻⁶) nats, and the model collapses (measured on MNIST: every code
input-independent, test −ELBO 359).  The default ``"sigmoid"`` uses γ = S(v) = exp(−softplus(−v)),
the smooth version of the same link.

In both variants the component weights used in the KL are the selection outputs renormalised to
sum to one (the authors' division of the weighted mean by the selection's mean amounts to the
same).  With the supplement's steep sigmoid the renormalised weights are
``softmax(log S(a·(w − b)))``, computed in log space so that they stay finite when every w is
below b.

Measured behaviour (docs/uai2019.md): the supplement's selection tends to send every input to one
component, and its γ̄ (a plain average over components) can then be met by the unused components
alone; ``mixture_prior_elbo`` gives a proper bound under the equal-weight mixture prior.
"""

from __future__ import annotations

import dataclasses
import math

import torch
import torch.nn.functional as F
from torch import nn

from ..batching import eval_mode, map_batches
from ..distributions import PROB_EPS, SpikeSlab, bernoulli_kl, normal_kl
from ..errors import ConfigError
from .base import LossOutput, Schedule
from .config import option, redefault, require
from .registry import register_model
from .vae import LOG_VAR_MAX, LOG_VAR_MIN, split_heads
from .vsc import VSC, VSCConfig

VARIANTS = ("supplement", "authors")
SPIKE_LINKS = ("sigmoid", "exp-relu")


@dataclasses.dataclass(frozen=True)
class VSCUAIConfig(VSCConfig):
    """Defaults of the UAI 2019 supplement (see the class docstring)."""

    latent_dim: int = redefault(VSCConfig, "latent_dim", 60)
    hidden: tuple[int, ...] = redefault(VSCConfig, "hidden", (3000,))
    likelihood: str = redefault(VSCConfig, "likelihood", "gaussian-learned")
    alpha: float = redefault(VSCConfig, "alpha", 0.003)
    sharpness_start: float = redefault(VSCConfig, "sharpness_start", 100.0)
    sharpness_end: float = redefault(VSCConfig, "sharpness_end", 100.0)
    sharpness_schedule: str = redefault(VSCConfig, "sharpness_schedule", "constant")
    n_pseudo_inputs: int = option(20, "number P of pseudo-inputs of the learned prior")
    variant: str = option("supplement", "selection and sparsity term", choices=VARIANTS)
    selection_sharpness: float = option(60.0, "selection constant a (supplement variant)")
    selection_threshold: float = option(0.5, "selection constant b (supplement variant)")
    prior_spike_sharpness: float | None = option(
        None,
        "ν: sharpen the pseudo-inputs' probabilities γ of an active element as S(ν·(γ − 0.5)) "
        "(authors)",
    )
    warmup_start: float = option(0.375, "fraction of training where the slab warm-up starts")
    warmup_end: float = option(0.4, "fraction of training where the slab warm-up ends")
    lr_drop_at: float = option(0.4, "fraction of training after which the learning rate drops")
    lr_drop_factor: float = option(0.1, "factor of the learning-rate drop")
    spike_link: str = option("sigmoid", "γ from the encoder's v", choices=SPIKE_LINKS)

    def check(self) -> None:
        super().check()
        require(self.num_classes == 0, "vsc-uai is not conditional: num_classes must be 0")
        require(self.n_pseudo_inputs > 0, "n_pseudo_inputs must be a positive integer")
        require(
            0.0 <= self.warmup_start <= self.warmup_end <= 1.0,
            "spike warm-up needs 0 <= warmup_start <= warmup_end <= 1 (fractions of "
            f"training), got {self.warmup_start} and {self.warmup_end}",
        )
        require(
            0.0 <= self.lr_drop_at <= 1.0,
            f"lr_drop_at must be a fraction of training in [0, 1], got {self.lr_drop_at}",
        )
        require(
            self.lr_drop_factor > 0,
            f"lr_drop_factor must be positive, got {self.lr_drop_factor}",
        )
        require(
            self.selection_sharpness > 0,
            f"selection_sharpness (a) must be positive, got {self.selection_sharpness}",
        )
        spike = self.prior_spike_sharpness
        require(
            spike is None or spike > 0,
            f"prior_spike_sharpness must be positive or unset, got {spike}",
        )


@register_model
class VSCUAI(VSC):
    """VSC with a learned pseudo-input prior, selection function, spike warm-up and LR drop.

    Defaults follow the UAI 2019 supplement: Gaussian likelihood with learned per-pixel variance,
    one hidden layer of 3000 units, ``P = 20`` pseudo-inputs, selection constants a = 60, b = 0.5,
    α = 0.003 (the authors' Smiley value) and the authors' schedule fractions (warm-up ramp from
    37.5 % to 40 % of training; learning rate ×0.1 after the ramp).
    """

    kind = "vsc-uai"
    config_class = VSCUAIConfig
    learned_prior = True

    def __init__(self, config: VSCUAIConfig | None = None, /, **options) -> None:
        super().__init__(config, **options)
        c = self.config
        self.n_pseudo_inputs, self.variant = c.n_pseudo_inputs, c.variant
        # Pseudo-inputs live in image space; start them at random grey images in [0, 1].
        self.pseudo_inputs = nn.Parameter(torch.rand(c.n_pseudo_inputs, *self.input_shape))
        self.selector = nn.Linear(self.input_size, c.n_pseudo_inputs)
        # λ: 1 outside training (a loaded model uses its full slab); the schedule sets it while
        # training, starting from 0.
        self.slab_blend = 1.0

    # -- schedules -------------------------------------------------------------------------------
    def update_schedules(self, progress: float) -> Schedule:
        schedule = super().update_schedules(progress)
        c = self.config
        if progress < c.warmup_start:
            self.slab_blend = 0.0
        elif progress >= c.warmup_end:
            self.slab_blend = 1.0
        else:
            self.slab_blend = (progress - c.warmup_start) / (c.warmup_end - c.warmup_start)
        schedule.values["slab_blend"] = self.slab_blend
        schedule.lr_scale = c.lr_drop_factor if progress >= c.lr_drop_at else 1.0
        return schedule

    def make_posterior(self, params: torch.Tensor) -> SpikeSlab:
        """Like ``vsc``, but by default γ = S(v) = exp(−softplus(−v)), the smooth counterpart of the
        paper's exp(−ReLU(−v)): with the ReLU every γ with v > 0 is exactly 1 with zero gradient,
        and prior components stuck at γ = 1 keep γ̄ above α for good (see the module docstring)."""
        if self.config.spike_link == "exp-relu":
            return super().make_posterior(params)
        loc, scale, v = split_heads(params, 3)
        return SpikeSlab(
            torch.sigmoid(v), loc, scale, sharpness=self.sharpness, validate_args=False
        )

    # -- the learned prior -----------------------------------------------------------------------
    def prior_components(self) -> SpikeSlab:
        """The P prior components q(z | u_p), batch shape ``(P, J)``."""
        components = self.posterior(self.pseudo_inputs)
        if self.config.prior_spike_sharpness is not None:
            # The authors sharpen the components' probabilities γ_p of an active element:
            # S(ν·(γ_p − 0.5)).
            probs = torch.sigmoid(self.config.prior_spike_sharpness * (components.probs - 0.5))
            components = SpikeSlab(
                probs, components.loc, components.scale, self.sharpness, validate_args=False
            )
        return components

    def selection(self, x: torch.Tensor) -> torch.Tensor:
        """C_ω(x): each example's weights over the P components, ``(N, P)``, rows summing to 1."""
        pre = self.selector(x.flatten(1))
        if self.variant == "supplement":
            w = F.relu(pre)
            w = w / (w.sum(1, keepdim=True) + PROB_EPS)
            # S(a·(w − b)), renormalised: a softmax of its logarithm, finite for any w.
            return torch.softmax(
                F.logsigmoid(
                    self.config.selection_sharpness * (w - self.config.selection_threshold)
                ),
                dim=1,
            )
        s = torch.sigmoid(pre)
        s = s / s.norm(dim=1, keepdim=True)
        return s / s.sum(1, keepdim=True)

    def prior(self) -> SpikeSlab:
        """The prior as an equal mixture's components: batch shape ``(P, J)`` (see ``sample``)."""
        return self.prior_components()

    def prior_for(self, x: torch.Tensor) -> SpikeSlab:
        """The component the selection function picks for each example, batch ``(N, J)``."""
        p = self.prior_components()
        k = self.selected_component(x)
        return SpikeSlab(p.probs[k], p.loc[k], p.scale[k], self.sharpness, validate_args=False)

    def kl_parts(self, q: SpikeSlab, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per example: the selection-weighted spike-and-slab KL to the components, and the
        sparsity term J·KL(Bern(γ̄) ‖ Bern(α))."""
        p = self.prior_components()
        weights = self.selection(x)  # (N, P)
        # Element-wise KL of every example to every component: (N, P, J).
        slab = normal_kl(
            q.loc[:, None, :], q.scale[:, None, :], p.loc[None, :, :], p.scale[None, :, :]
        )
        gamma = q.probs.clamp(PROB_EPS, 1 - PROB_EPS)[:, None, :]
        per_component = gamma * slab + bernoulli_kl(q.probs[:, None, :], p.probs[None, :, :])
        selected = (weights[:, :, None] * per_component).sum((1, 2))
        if self.variant == "supplement":
            mean_gamma = p.probs.mean().expand(x.shape[0])
        else:
            mean_gamma = (weights @ p.probs).mean(1)
        sparsity = self.latent_dim * bernoulli_kl(mean_gamma, self.alpha)
        return selected, sparsity

    def kl(self, q: SpikeSlab, x: torch.Tensor | None = None) -> torch.Tensor:
        if x is None:
            raise ConfigError("vsc-uai's KL depends on the input through the selection function")
        selected, sparsity = self.kl_parts(q, x)
        return selected + sparsity

    # -- training --------------------------------------------------------------------------------
    def training_posterior(self, q: SpikeSlab) -> SpikeSlab:
        """The slab blended from N(0, 1) to N(μ, σ²) by λ (mean λ·μ, log-variance λ·log σ²)."""
        if self.slab_blend >= 1.0:
            return q
        lam = self.slab_blend
        log_var = (2 * torch.log(q.scale)).clamp(LOG_VAR_MIN, LOG_VAR_MAX)
        return SpikeSlab(
            q.probs, lam * q.loc, torch.exp(0.5 * lam * log_var), q.sharpness, validate_args=False
        )

    def elbo_terms(self, x: torch.Tensor, y: torch.Tensor | None = None):
        recon, selected, sparsity = self._terms(x, y)
        return recon, selected + sparsity

    def _terms(self, x: torch.Tensor, y: torch.Tensor | None = None):
        q = self.posterior(x, y)
        z = self.draw(self.training_posterior(q))
        recon = -self.likelihood.log_prob(self.decoder_output(z, y), x)
        selected, sparsity = self.kl_parts(q, x)
        return recon, selected, sparsity

    def loss(
        self, x: torch.Tensor, y: torch.Tensor | None = None, kl_weight: float = 1.0
    ) -> LossOutput:
        recon, selected, sparsity = (t.mean() for t in self._terms(x, y))
        kl = selected + sparsity
        loss = recon + (self.beta * kl_weight) * kl
        return LossOutput(
            loss,
            {
                "loss": loss,
                "recon": recon,
                "kl": kl,
                "kl_selected": selected,
                "kl_sparsity": sparsity,
                "neg_elbo": recon + kl,
            },
        )

    # -- a proper bound -------------------------------------------------------------------------
    @torch.no_grad()
    def mixture_prior_elbo(self, x: torch.Tensor, n_samples: int = 1) -> torch.Tensor:
        """ELBO per example under the equal-weight mixture prior p(z) = (1/P) Σ_p q(z | u_p) —
        the prior ``sample`` draws from —, by Monte Carlo with exact posterior draws.

        The training objective's KL goes to the components the selection picks *for x*, an
        input-dependent prior, so its ``neg_elbo`` is no bound on −log p(x); this one is.
        """
        q = self.posterior(x)
        p = self.prior_components()
        total = torch.zeros(x.shape[0], device=x.device)
        for _ in range(n_samples):
            z = q.sample()  # exact: inactive elements are exactly 0
            log_q = q.log_prob(z).sum(1)
            per_component = SpikeSlab(
                p.probs[None], p.loc[None], p.scale[None], validate_args=False
            ).log_prob(z[:, None, :])
            log_p = torch.logsumexp(per_component.sum(2), dim=1) - math.log(self.n_pseudo_inputs)
            total += self.likelihood.log_prob(self.decoder_output(z), x) + log_p - log_q
        return total / n_samples

    @torch.no_grad()
    def extra_metrics(self, x: torch.Tensor, y: torch.Tensor | None = None) -> dict[str, float]:
        """Joins ``evaluate_model``: the test −ELBO under the mixture prior (a proper bound)."""
        with eval_mode(self):
            values = map_batches(self.mixture_prior_elbo, x, batch_size=500, device=self.device)
        return {"neg_elbo_mixture_prior": float(-values.mean())}

    # -- generation ------------------------------------------------------------------------------
    @torch.no_grad()
    def sample_latents(self, n: int, component: int | torch.Tensor | None = None) -> torch.Tensor:
        """``n`` exact prior draws: each from component ``component`` (an index, or one per draw),
        or from a uniformly chosen component when it is None."""
        p = self.prior_components()
        if component is None:
            index = torch.randint(self.n_pseudo_inputs, (n,), device=p.probs.device)
        else:
            index = torch.as_tensor(component, device=p.probs.device).long().expand(n)
            if index.numel() and (index.min() < 0 or index.max() >= self.n_pseudo_inputs):
                raise ConfigError(
                    f"prior component must be in [0, {self.n_pseudo_inputs}), got {component}"
                )
        return SpikeSlab(p.probs[index], p.loc[index], p.scale[index], self.sharpness).sample()

    @torch.no_grad()
    def sample(self, n: int, y: torch.Tensor | None = None) -> torch.Tensor:
        """``n`` images from the learned prior (an equal-weight mixture of the P components)."""
        return self.decode(self.sample_latents(n))

    @torch.no_grad()
    def selected_component(self, x: torch.Tensor) -> torch.Tensor:
        """The component the selection function picks for each example, ``(N,)``."""
        return self.selection(x).argmax(1)
