"""Variational Sparse Coding (Tonolini, Jensen & Murray-Smith, ICLR 2019 submission): a VAE whose
prior and posterior are spike-and-slab distributions."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, ClassVar

import torch
import torch.nn.functional as F

from ..distributions import SpikeSlab
from .base import Schedule
from .config import option, require
from .registry import register_model
from .spike_codes import CODES, spike_code
from .vae import VAEConfig, VariationalAutoencoder, split_heads

SHARPNESS_SCHEDULES = ("linear", "constant")


@dataclasses.dataclass(frozen=True)
class VSCConfig(VAEConfig):
    alpha: float = option(
        0.5, "α, the prior probability that a code element is active, in (0, 1)", flag="--alpha"
    )
    sharpness_start: float = option(
        50.0, "sharpness c of the relaxed draws at the start of training", flag="--c-start"
    )
    sharpness_end: float = option(
        200.0, "sharpness c of the relaxed draws at the end of training", flag="--c-end"
    )
    sharpness_schedule: str = option(
        "linear", "how c moves over training", flag="--c-schedule", choices=SHARPNESS_SCHEDULES
    )
    code_threshold: float = option(
        0.5, "elements whose γ is below this are exactly 0 in the code", flag="--code-threshold"
    )
    # μ where γ ≥ ½ reconstructs MNIST a little better than γ·μ at the same probe accuracy and
    # non-zeros (docs/sparse-models.md); runs of 0.1.0 keep the paper's γ·μ.
    code: str = option("mean-active", "the code encode returns", flag="--code", choices=CODES)
    legacy: ClassVar[Mapping[str, Any]] = {"code": "sparse-mean"}

    def check(self) -> None:
        super().check()
        require(
            0.0 < self.alpha < 1.0,
            f"alpha (α, the prior probability that a code element is active) must be in (0, 1), "
            f"got {self.alpha}",
        )
        require(
            self.sharpness_start > 0 and self.sharpness_end > 0, "sharpness (c) must be positive"
        )
        require(
            0.0 <= self.code_threshold <= 1.0,
            f"code_threshold must be in [0, 1], got {self.code_threshold}",
        )


@register_model
class VSC(VariationalAutoencoder):
    """Variational Sparse Coding (Tonolini, Jensen & Murray-Smith), fixed spike-and-slab prior.

    The encoder emits μ, log σ² and v with log γ = −ReLU(−v), so γ ≤ 1 is the probability that a
    latent element is active.  Training draws z = S(c·(η − 1 + γ)) ⊙ (μ + σ ⊙ ε) with c rising from
    ``sharpness_start`` to ``sharpness_end`` (linear over training, or ``sharpness_schedule=
    "constant"`` at ``sharpness_start``).  The prior is α·N(0, 1) + (1 − α)·δ(0).

    ``encode`` returns μ on the elements whose γ ≥ ``code_threshold`` and exactly 0 elsewhere
    (γ < 0.5: the element is more likely in the spike than in the slab); ``code="sparse-mean"``
    gives the paper's sparse mean γ·μ there instead (see :mod:`.spike_codes`).
    """

    kind = "vsc"
    config_class = VSCConfig
    sparse_code = True
    posterior_heads = 3  # μ, log σ², v
    stackable = True
    per_model_values = ("beta", "alpha", "sharpness")
    # The code options only change encode, which a stack leaves to each model alone.
    per_model_options = (
        "beta",
        "alpha",
        "sharpness_start",
        "sharpness_end",
        "code_threshold",
        "code",
    )

    def __init__(self, config: VSCConfig | None = None, /, **options) -> None:
        super().__init__(config, **options)
        self.alpha = self.config.alpha
        self.sharpness = self.config.sharpness_start

    def update_schedules(self, progress: float) -> Schedule:
        c = self.config
        if c.sharpness_schedule == "linear":
            span = c.sharpness_end - c.sharpness_start
            self.sharpness = c.sharpness_start + span * min(max(progress, 0.0), 1.0)
        return Schedule({"sharpness": self.sharpness})

    def make_posterior(self, params: torch.Tensor) -> SpikeSlab:
        loc, scale, v = split_heads(params, 3)
        probs = torch.exp(-F.relu(-v))  # log γ = −ReLU(−v)
        return SpikeSlab(probs, loc, scale, sharpness=self.sharpness, validate_args=False)

    def prior(self) -> SpikeSlab:
        zeros = torch.zeros(self.latent_dim, device=self.head.weight.device)
        return SpikeSlab(
            zeros + self.alpha, zeros, zeros + 1.0, self.sharpness, validate_args=False
        )

    def encode(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return spike_code(self.posterior(x, y), self.config.code_threshold, self.config.code)
