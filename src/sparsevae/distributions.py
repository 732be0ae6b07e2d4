"""Priors and posteriors as ``torch.distributions`` classes, with their KL registered.

``SpikeSlab`` is the spike-and-slab distribution of Variational Sparse Coding (Tonolini et al.):
each element is exactly zero with probability ``1 - probs`` (the spike) and otherwise drawn from
``Normal(loc, scale)`` (the slab).  It is a mixed distribution: ``log_prob`` is taken with respect to
Lebesgue measure plus a unit point mass at zero, which is the measure under which the closed-form
KL between two spike-and-slab distributions below is exact.
"""

from __future__ import annotations

import math
from typing import ClassVar

import torch
from torch.distributions import Distribution, Laplace, Normal, constraints, register_kl
from torch.distributions.utils import broadcast_all

from . import noise

# γ is clamped away from 0 and 1 in log terms so that the Bernoulli KL stays finite.
PROB_EPS = 1e-6


class SpikeSlab(Distribution):
    """Element-wise spike-and-slab: ``probs·Normal(loc, scale) + (1 - probs)·δ(0)``.

    Args:
        probs: probability of the slab (the element is non-zero), γ in the VSC paper; α for a prior.
        loc, scale: mean and standard deviation of the slab.
        sharpness: c in the relaxed draw ``sigmoid(c·(η - 1 + γ))·(μ + σ·ε)`` used by ``rsample``;
            larger c is closer to the exact binary selection.
        log_probs: optionally ``log(probs)`` as computed by the encoder, kept for precision.
    """

    arg_constraints: ClassVar[dict[str, constraints.Constraint]] = {
        "probs": constraints.unit_interval,
        "loc": constraints.real,
        "scale": constraints.positive,
    }
    support = constraints.real
    has_rsample = True

    def __init__(
        self,
        probs: torch.Tensor | float,
        loc: torch.Tensor | float = 0.0,
        scale: torch.Tensor | float = 1.0,
        sharpness: float | torch.Tensor = 50.0,
        validate_args: bool | None = None,
    ) -> None:
        self.probs, self.loc, self.scale = broadcast_all(probs, loc, scale)
        # A tensor in a stack of models trained together (each model its own c), else a float.
        self.sharpness = sharpness if isinstance(sharpness, torch.Tensor) else float(sharpness)
        super().__init__(self.probs.shape, validate_args=validate_args)

    def expand(self, batch_shape: torch.Size, _instance: SpikeSlab | None = None) -> SpikeSlab:
        new = self._get_checked_instance(SpikeSlab, _instance)
        batch_shape = torch.Size(batch_shape)
        new.probs = self.probs.expand(batch_shape)
        new.loc = self.loc.expand(batch_shape)
        new.scale = self.scale.expand(batch_shape)
        new.sharpness = self.sharpness
        super(SpikeSlab, new).__init__(batch_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    @property
    def slab(self) -> Normal:
        return Normal(self.loc, self.scale, validate_args=False)

    @property
    def mean(self) -> torch.Tensor:
        return self.probs * self.loc

    @property
    def variance(self) -> torch.Tensor:
        return self.probs * (self.scale**2 + self.loc**2) - (self.probs * self.loc) ** 2

    def rsample(self, sample_shape: torch.Size = torch.Size()) -> torch.Tensor:  # noqa: B008
        """Relaxed, reparameterised draw: the selection is a steep sigmoid instead of a step."""
        shape = self._extended_shape(sample_shape)
        eps = noise.standard_normal(shape, self.loc)
        eta = noise.uniform(shape, self.loc)
        selection = torch.sigmoid(self.sharpness * (eta - 1.0 + self.probs))
        return selection * (self.loc + self.scale * eps)

    @torch.no_grad()
    def sample(self, sample_shape: torch.Size = torch.Size()) -> torch.Tensor:  # noqa: B008
        """Exact draw: an element is exactly zero with probability ``1 - probs``."""
        shape = self._extended_shape(sample_shape)
        active = torch.bernoulli(self.probs.expand(shape))
        return active * torch.normal(self.loc.expand(shape), self.scale.expand(shape))

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        """Log density w.r.t. Lebesgue measure plus a unit atom at 0 (see the module docstring)."""
        if self._validate_args:
            self._validate_sample(value)
        probs = self.probs.clamp(PROB_EPS, 1 - PROB_EPS)
        slab = torch.log(probs) + self.slab.log_prob(value)
        spike = torch.log1p(-probs).expand_as(slab)
        return torch.where(value == 0, spike, slab)

    def entropy(self) -> torch.Tensor:
        probs = self.probs.clamp(PROB_EPS, 1 - PROB_EPS)
        bernoulli = -(probs * probs.log() + (1 - probs) * torch.log1p(-probs))
        return bernoulli + probs * self.slab.entropy()


class ReparameterisedNormal(Normal):
    """torch's ``Normal`` whose ``rsample`` draws its noise through :mod:`sparsevae.noise` (the
    same numbers alone; each model's own in a stack of models trained together)."""

    def rsample(self, sample_shape: torch.Size = torch.Size()) -> torch.Tensor:  # noqa: B008
        return self.loc + noise.standard_normal(self._extended_shape(sample_shape), self.loc) * (
            self.scale
        )


def bernoulli_kl(q: torch.Tensor, p: torch.Tensor | float) -> torch.Tensor:
    """KL(Bern(q) ‖ Bern(p)) element-wise, both clamped away from 0 and 1."""
    q = q.clamp(PROB_EPS, 1 - PROB_EPS)
    p = torch.as_tensor(p, dtype=q.dtype, device=q.device).clamp(PROB_EPS, 1 - PROB_EPS)
    return q * (q.log() - p.log()) + (1 - q) * (torch.log1p(-q) - torch.log1p(-p))


def normal_kl(q_loc, q_scale, p_loc, p_scale) -> torch.Tensor:
    """KL(N(q_loc, q_scale²) ‖ N(p_loc, p_scale²)) element-wise."""
    var_ratio = (q_scale / p_scale) ** 2
    t1 = ((q_loc - p_loc) / p_scale) ** 2
    return 0.5 * (var_ratio + t1 - 1 - torch.log(var_ratio))


@register_kl(SpikeSlab, SpikeSlab)
def _kl_spikeslab_spikeslab(q: SpikeSlab, p: SpikeSlab) -> torch.Tensor:
    """Element-wise γ·KL(N(μ,σ²) ‖ N(μp,σp²)) + KL(Bern(γ) ‖ Bern(α)) — exact (VSC eq. 9)."""
    slab = normal_kl(q.loc, q.scale, p.loc, p.scale)
    return q.probs.clamp(PROB_EPS, 1 - PROB_EPS) * slab + bernoulli_kl(q.probs, p.probs)


BASES = ("normal", "laplace")


class ShiftedSoftThreshold(Distribution):
    """The posterior of VSC with learned thresholding (Fallah & Rozell, ICML 2022).

    A base draw ``n ~ Normal(0, scale)`` (or ``Laplace(0, scale)``) is soft-thresholded and shifted:
    ``z = 0`` where ``|n| ≤ threshold``, else ``z = loc + sign(n)·(|n| − threshold)``.  So an
    element is exactly zero with probability ``1 − probs``, where ``probs = P(|n| > threshold)``
    depends on the scale only; for the Laplace base the non-zero part is exactly
    ``Laplace(loc, scale)`` (memorylessness), a spike-and-slab.

    ``rsample`` is the straight-through estimator: the value is the thresholded draw, the gradient
    that of the un-thresholded ``loc + n`` plus ``−sign(n)`` for the threshold where active.
    ``log_prob`` is taken with respect to Lebesgue measure plus a unit atom at zero, like
    :class:`SpikeSlab`.
    """

    arg_constraints: ClassVar[dict[str, constraints.Constraint]] = {
        "loc": constraints.real,
        "scale": constraints.positive,
        "threshold": constraints.nonnegative,
    }
    support = constraints.real
    has_rsample = True

    def __init__(
        self,
        loc: torch.Tensor | float,
        scale: torch.Tensor | float,
        threshold: torch.Tensor | float,
        base: str = "normal",
        validate_args: bool | None = None,
    ) -> None:
        if base not in BASES:
            raise ValueError(f"base must be one of {', '.join(BASES)}, got {base!r}")
        self.loc, self.scale, self.threshold = broadcast_all(loc, scale, threshold)
        self.base_family = base
        super().__init__(self.loc.shape, validate_args=validate_args)

    def expand(self, batch_shape, _instance=None) -> ShiftedSoftThreshold:
        batch_shape = torch.Size(batch_shape)
        return ShiftedSoftThreshold(
            self.loc.expand(batch_shape),
            self.scale.expand(batch_shape),
            self.threshold.expand(batch_shape),
            self.base_family,
            validate_args=False,
        )

    @property
    def base(self) -> Distribution:
        """The un-thresholded distribution of ``loc + n``."""
        family = Normal if self.base_family == "normal" else Laplace
        return family(self.loc, self.scale, validate_args=False)

    @property
    def noise(self) -> Distribution:
        family = Normal if self.base_family == "normal" else Laplace
        return family(torch.zeros_like(self.loc), self.scale, validate_args=False)

    @property
    def probs(self) -> torch.Tensor:
        """P(z ≠ 0) = P(|n| > threshold)."""
        ratio = self.threshold / self.scale
        if self.base_family == "normal":
            return torch.erfc(ratio / math.sqrt(2.0))
        return torch.exp(-ratio)

    @property
    def mean(self) -> torch.Tensor:
        return self.probs * self.loc  # the shrunk tails are symmetric about loc

    def _threshold(self, n: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        active = n.abs() > self.threshold
        shrunk = self.loc + torch.sign(n) * (n.abs() - self.threshold)
        return torch.where(active, shrunk, torch.zeros_like(shrunk)), active

    def rsample(self, sample_shape: torch.Size = torch.Size()) -> torch.Tensor:  # noqa: B008
        n = self.noise.rsample(sample_shape)
        hard, active = self._threshold(n)
        smooth = self.loc + n
        threshold_path = torch.where(active, torch.sign(n), torch.zeros_like(n)) * (
            self.threshold - self.threshold.detach()
        )
        return smooth + (hard - smooth).detach() - threshold_path

    @torch.no_grad()
    def sample(self, sample_shape: torch.Size = torch.Size()) -> torch.Tensor:  # noqa: B008
        return self._threshold(self.noise.sample(sample_shape))[0]

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        """Log density w.r.t. Lebesgue measure plus a unit atom at 0: ``log(1 − probs)`` at 0, else
        the base density of the noise that lands there, ``n = u + sign(u)·threshold``
        (``u = value − loc``)."""
        if self._validate_args:
            self._validate_sample(value)
        u = value - self.loc
        n = u + torch.sign(u) * self.threshold
        continuous = self.noise.log_prob(n)
        spike = torch.log1p(-self.probs.clamp(max=1 - PROB_EPS)).expand_as(continuous)
        return torch.where(value == 0, spike, continuous)
