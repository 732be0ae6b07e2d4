"""The k-sparse (TopK) autoencoder: every input keeps its k largest code elements, the rest are 0.

Makhzani & Frey (2014) introduced it; Gao et al. (2024, "Scaling and evaluating sparse
autoencoders") made it the standard sparse autoencoder, with an auxiliary loss (AuxK) that revives
dead latents.  Here:

* code = ReLU of the k largest pre-activations, every other element exactly 0, so the number of
  non-zeros per input is at most k and is set directly (no penalty to tune);
* AuxK: a latent is *dead* when it has not been active for ``dead_after`` training examples.
  While some are, the ``aux_k`` largest pre-activations among the dead latents (raw, without the
  ReLU, as in SAELens: a dead latent's pre-activation is negative) are added to the detached code and the decoder is asked to reconstruct the input from it, weighted by
  ``aux_coef`` (1/32 as in Gao et al.).  With a linear decoder and a Gaussian likelihood this is
  exactly their loss, the dead latents fitting the residual x − x̂; with a network decoder it is the
  same idea in the likelihood's terms.  The gradient reaches only the dead latents' encoder rows
  (and the decoder), pulling them back into use.
* ``select="normalized"`` (default): the k elements are chosen by the batch-normalised
  pre-activations (running statistics at test time), so a latent wins when it is high for this
  input relative to its usual level; with ``"raw"`` most latents of an MLP encoder die in the first
  epoch (176 of 200 on MNIST at k = 10, docs/sparse-models.md) and AuxK revives only some.
  The code holds the raw pre-activations of the chosen elements (``values="raw"``, default): on
  MNIST at k = 5, 10, 20 they reconstruct better (SSE 13.1 / 9.3 / 6.4 against 13.8 / 9.7 / 6.8)
  and probe better than the normalised values (``"normalized"``), and a linear decoder's
  unit-norm atoms could not rescale a normalised code.
* ``k_start`` > k: Makhzani & Frey's schedule, k falling linearly from ``k_start`` to ``k`` over the
  first half of training, which keeps every latent trained early on.
"""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from .base import LossOutput, Schedule, SparseVAEModel
from .config import NetworkConfig, option, require
from .parts import build_decoder_side, build_encoder_side
from .registry import register_model

SCALES = ("normalized", "raw")


@dataclasses.dataclass(frozen=True)
class TopKConfig(NetworkConfig):
    k: int = option(10, "non-zero code elements per input (topk-ae)", flag="--k")
    aux_k: int = option(64, "dead latents the auxiliary loss revives per input (0: off)")
    aux_coef: float = option(1 / 32, "weight of the auxiliary (AuxK) loss")
    dead_after: int = option(
        30_000, "training examples without activity after which a latent counts as dead"
    )
    k_start: int = option(0, "k at the start, falling to k over the first half (0: constant k)")
    select: str = option(
        "normalized",
        "choose the k elements by batch-normalised pre-activations (every latent stays in use) "
        "or by the raw ones",
        choices=SCALES,
    )
    values: str = option(
        "raw", "code values: the raw or the normalised pre-activations", choices=SCALES
    )

    def check(self) -> None:
        super().check()
        require(
            0 < self.k <= self.latent_dim,
            f"k must be between 1 and latent_dim ({self.latent_dim}), got {self.k}",
        )
        require(self.aux_k >= 0, f"aux_k must be >= 0, got {self.aux_k}")
        require(self.aux_coef >= 0, f"aux_coef must be >= 0, got {self.aux_coef}")
        require(self.dead_after > 0, f"dead_after must be positive, got {self.dead_after}")
        require(
            self.k_start == 0 or self.k <= self.k_start <= self.latent_dim,
            f"k_start must be 0 or between k and latent_dim, got {self.k_start}",
        )


class PreActivationNorm(nn.BatchNorm1d):
    """Batch normalisation without scale and shift; a training batch of one example (the last of
    an epoch, say) is normalised with the running statistics instead of failing."""

    def __init__(self, features: int) -> None:
        super().__init__(features, affine=False)

    def forward(self, pre: torch.Tensor) -> torch.Tensor:
        if self.training and len(pre) < 2:
            return nn.functional.batch_norm(
                pre, self.running_mean, self.running_var, training=False, eps=self.eps
            )
        return super().forward(pre)


def top_k(pre: torch.Tensor, k: int, values: torch.Tensor | None = None) -> torch.Tensor:
    """ReLU of the ``k`` largest entries of each row (or of ``values`` at their places), exactly
    0 elsewhere."""
    chosen, index = pre.topk(k, dim=1)
    if values is not None:
        chosen = values.gather(1, index)
    return torch.zeros_like(pre).scatter(1, index, torch.relu(chosen))


@register_model
class TopKAutoencoder(SparseVAEModel):
    """k-sparse autoencoder with AuxK (Makhzani & Frey 2014; Gao et al. 2024): the code of an input
    is its k largest ReLU pre-activations."""

    kind = "topk-ae"
    config_class = TopKConfig
    sparse_code = True

    def __init__(self, config: TopKConfig | None = None, /, **options) -> None:
        super().__init__(config, **options)
        c = self.config
        self.latent_dim = c.latent_dim
        self.likelihood, self.encoder = build_encoder_side(c, self.input_shape)
        self.to_code = nn.Linear(self.encoder.out_features, self.latent_dim)
        # Normalised pre-activations: a latent is chosen when it is high *for this input*
        # relative to its usual level, so no latent can fall silent for every input.
        normalized = "normalized" in (c.select, c.values)
        self.norm = PreActivationNorm(self.latent_dim) if normalized else nn.Identity()
        self.decoder = build_decoder_side(c, self.input_shape, self.likelihood)
        self.k = c.k  # the schedule moves it when k_start is set
        # Training examples seen since each latent was last active: defines the dead latents.
        self.register_buffer("since_active", torch.zeros(self.latent_dim, dtype=torch.long))

    def pre_activations(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(scores, values)``: what the k elements are chosen by, and what the code holds."""
        raw = self.to_code(self.encoder(x))
        normalized = self.norm(raw)
        c = self.config
        return (
            normalized if c.select == "normalized" else raw,
            normalized if c.values == "normalized" else raw,
        )

    def code(self, scores: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
        return top_k(scores, self.k, None if values is scores else values)

    def encode(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.code(*self.pre_activations(x))

    def decode(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.likelihood.mean(self.decoder(z))

    def update_schedules(self, progress: float) -> Schedule:
        c = self.config
        if not c.k_start:
            return Schedule()
        fraction = min(max(2 * progress, 0.0), 1.0)  # over the first half of training
        self.k = round(c.k_start + (c.k - c.k_start) * fraction)
        return Schedule({"k": float(self.k)})

    def dead_latents(self) -> torch.Tensor:
        """Boolean ``(latent_dim,)``: inactive for ``dead_after`` training examples."""
        return self.since_active >= self.config.dead_after

    def loss(
        self, x: torch.Tensor, y: torch.Tensor | None = None, kl_weight: float = 1.0
    ) -> LossOutput:
        scores, values = self.pre_activations(x)
        code = self.code(scores, values)
        recon = -self.likelihood.log_prob(self.decoder(code), x).mean()
        if self.training:
            self._count_activity(code)
        if not self.config.aux_k:
            return LossOutput(recon, {"loss": recon, "recon": recon})
        aux = self._aux_loss(values, code, x)
        loss = recon + self.config.aux_coef * aux
        return LossOutput(loss, {"loss": loss, "recon": recon, "aux": aux})

    @torch.no_grad()
    def _count_activity(self, code: torch.Tensor) -> None:
        self.since_active += len(code)
        self.since_active[(code != 0).any(0)] = 0

    def _aux_loss(self, pre: torch.Tensor, code: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        # ``pre``: the values the code holds, for every latent
        """−log p(x | code + the top ``aux_k`` dead latents); 0 while no latent is dead (then the
        extra decoder pass is skipped)."""
        dead = self.dead_latents()
        if not self.training or not bool(dead.any()):
            return torch.zeros((), device=pre.device)
        k = min(self.config.aux_k, self.latent_dim)
        values, index = pre.masked_fill(~dead, float("-inf")).topk(k, dim=1)
        # The raw pre-activations (no ReLU): a dead latent is usually negative everywhere, and
        # only its raw value carries a gradient that can bring it back.
        values = torch.where(torch.isinf(values), torch.zeros_like(values), values)
        aux_code = torch.zeros_like(pre).scatter(1, index, values)
        return -self.likelihood.log_prob(self.decoder(code.detach() + aux_code), x).mean()

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, k={self.config.k}, aux_k={self.config.aux_k}"
