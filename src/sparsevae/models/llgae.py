"""Decoder-only generative autoencoders of the CATSMILE-1022 note: LLGAE and its K = 1 case LGAE.

LLGAE has K components, each a mean μ_k ∈ R^D and a basis W_k ∈ R^{D×E}, and no encoder network.
The code of x is found by optimisation: for every component at once, start from b_k = 0 and take T
steps of

    b_k ← b_k + β·(W_kᵀ(x − μ_k − W_k b_k) − λ·b_k)

(gradient ascent on −½‖x − μ_k − W_k b_k‖² − ½λ‖b_k‖², λ the weight of an L2 prior on the code),
then keep the component k* with the smallest squared residual and decode x̂ = μ_{k*} + W_{k*} b_{k*}.
μ and W are trained by back-propagating ‖x − x̂‖² through the unrolled steps.  ``code_solver="lstsq"``
replaces the T steps by their limit T → ∞, the ridge solution b_k = (W_kᵀW_k + λI)⁻¹ W_kᵀ(x − μ_k).

Cost: the steps only ever need G_k = W_kᵀW_k (E×E) and c_k = W_kᵀ(x − μ_k) (E), so one einsum of
O(N·K·D·E) per batch is followed by T cheap O(N·K·E²) updates; the same quantities give every
component's residual ‖x − μ_k‖² − 2 b_kᵀc_k + b_kᵀG_k b_k without forming K reconstructions.

The code reported by ``encode`` is a sparse vector of K·E numbers: the winner's block holds b_{k*},
every other block is zero.  ``decode`` finds the non-zero block and inverts it.
"""

from __future__ import annotations

import dataclasses
import math
from typing import ClassVar

import torch
from torch import nn

from ..batching import eval_mode, map_batches
from .base import LossOutput, SparseVAEModel
from .baselines import MixturePCA
from .blocks import gather_blocks, own_block, scatter_blocks
from .config import ModelConfig, option, require
from .registry import register_model

CODE_SOLVERS = ("iterative", "lstsq")
INITS = ("random", "mixture-pca")
# A tiny ridge added to λ for the closed-form solve, so that λ = 0 stays well posed.
LSTSQ_JITTER = 1e-6


@dataclasses.dataclass(frozen=True)
class LGAEConfig(ModelConfig):
    """Options of the linear generative autoencoder (one component)."""

    component_dim: int = option(20, "dimension E of each component's subspace")
    step_size: float = option(0.01, "step size β of the code iteration")
    steps: int = option(5, "number T of unrolled code steps")
    code_l2: float = option(1.0, "weight λ of the L2 prior on the code")
    code_solver: str = option("iterative", "T steps, or their limit (lstsq)", choices=CODE_SOLVERS)
    init: str = option("random", "start: random bases, or a mixture of PCAs", choices=INITS)
    components: ClassVar[int] = 1
    init_iterations: ClassVar[int] = 20

    def check(self) -> None:
        super().check()
        require(self.component_dim > 0, "component_dim must be a positive integer")
        require(self.steps > 0, "steps must be a positive integer")
        require(
            self.step_size > 0, f"step_size (β) must be a positive number, got {self.step_size!r}"
        )
        require(self.code_l2 >= 0, f"code_l2 (λ) must be a number >= 0, got {self.code_l2!r}")
        require(self.components > 0, "components must be a positive integer")
        require(self.init_iterations > 0, "init_iterations must be a positive integer")


@dataclasses.dataclass(frozen=True)
class LLGAEConfig(LGAEConfig):
    components: int = option(11, "number K of local linear components")
    init_iterations: int = option(20, "alternating steps of the mixture-of-PCAs start")


@register_model
class LLGAE(SparseVAEModel):
    """Locally Linear Generative Autoencoder: K local linear subspaces, codes found by T unrolled
    gradient steps (``code_solver="iterative"``) or in closed form (``"lstsq"``).

    Defaults follow the note's code: K = 11 components, E = 20 dimensions each, β = 0.01, T = 5.
    Train it with RMSprop, lr 1e-3, batch 280 (``--optimizer rmsprop --batch-size 280``).
    """

    kind = "llgae"
    config_class = LLGAEConfig
    sparse_code = True

    def __init__(self, config: LGAEConfig | None = None, /, **options) -> None:
        super().__init__(config, **options)
        c = self.config
        self.components, self.component_dim = c.components, c.component_dim
        self.step_size, self.code_l2, self.steps = c.step_size, c.code_l2, c.steps
        self.latent_dim = self.components * self.component_dim
        size = self.input_size
        # Scale W so that β·‖W_k‖² ≈ 0.5: the T gradient steps then move b by a useful amount from
        # the first batch on, and stay far from the β·σ_max(W_kᵀW_k) < 2 stability limit.
        scale = math.sqrt(0.5 / (self.step_size * size))
        self.means = nn.Parameter(torch.full((self.components, size), 0.5))
        self.bases = nn.Parameter(torch.randn(self.components, size, self.component_dim) * scale)
        # Means start at K training examples (set on the first training batch), like k-means
        # seeding, so that every component wins some examples; a saved model keeps the flag.
        self.register_buffer("seeded", torch.zeros((), dtype=torch.bool))

    # -- the code ----------------------------------------------------------------------------------
    def _flat(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(len(x), -1).to(self.means.dtype)

    @torch.no_grad()
    def _seed_means(self, flat: torch.Tensor) -> None:
        picks = torch.randperm(len(flat), device=flat.device)[: self.components]
        if len(picks) < self.components:  # a batch smaller than K: reuse examples
            picks = picks.repeat(math.ceil(self.components / len(picks)))[: self.components]
        self.means.copy_(flat[picks])
        self.seeded.fill_(True)

    @torch.no_grad()
    def initialise_from_data(self, x: torch.Tensor) -> None:
        """Called by the trainer once before a fresh run.  ``init="mixture-pca"`` starts from the
        closed-form K-subspaces fit (the ``mixture-pca`` model) instead of random bases: training
        through the unrolled steps then refines a good local optimum rather than finding one."""
        if self.config.init != "mixture-pca":
            return
        start = MixturePCA(
            input_shape=self.input_shape,
            components=self.components,
            component_dim=self.component_dim,
            iterations=self.config.init_iterations,
            seed=int(torch.randint(0, 2**31 - 1, ()).item()),  # follows the run's seed
        ).to(self.device)
        start.fit_closed_form(x)
        # Orthonormal U_k scaled by s with β·(s² + λ) = 1: one step of the iteration lands on the
        # ridge code, and the ridge shrinks the projection only by s²/(s² + λ).
        scale = math.sqrt(max(1.0 / self.step_size - self.code_l2, 1.0))
        self.means.copy_(start.means)
        self.bases.copy_(start.bases * scale)
        self.seeded.fill_(True)

    def solve_codes(self, flat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Codes of every component and their squared residuals: ``b`` (N, K, E), ``r²`` (N, K)."""
        gram = torch.einsum("kde,kdf->kef", self.bases, self.bases)  # G_k = W_kᵀW_k
        # c_k = W_kᵀ(x − μ_k) = W_kᵀx − W_kᵀμ_k, without forming the (N, K, D) differences.
        corr = torch.einsum("nd,kde->nke", flat, self.bases) - torch.einsum(
            "kd,kde->ke", self.means, self.bases
        )
        if self.config.code_solver == "lstsq":
            eye = torch.eye(self.component_dim, device=flat.device, dtype=flat.dtype)
            ridge = gram + (self.code_l2 + LSTSQ_JITTER) * eye
            codes = torch.linalg.solve(ridge.unsqueeze(0), corr.unsqueeze(-1)).squeeze(-1)
        else:
            codes = torch.zeros_like(corr)
            for _ in range(self.steps):  # the note's T unrolled steps; gradients flow through all
                grad = corr - torch.einsum("kef,nkf->nke", gram, codes) - self.code_l2 * codes
                codes = codes + self.step_size * grad
        # ‖x − μ_k − W_k b_k‖² = ‖x − μ_k‖² − 2 b_kᵀc_k + b_kᵀG_k b_k
        dist = (
            flat.pow(2).sum(1, keepdim=True)
            - 2 * flat @ self.means.T
            + self.means.pow(2).sum(1).unsqueeze(0)
        )
        fitted = torch.einsum("nke,kef,nkf->nk", codes, gram, codes)
        residual = dist - 2 * (codes * corr).sum(-1) + fitted
        return codes, residual

    def _winner(self, flat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The winning component per example (N,) and its code (N, E)."""
        codes, residual = self.solve_codes(flat)
        winner = residual.argmin(1)
        return winner, codes[torch.arange(len(flat), device=flat.device), winner]

    def _reconstruct_flat(self, winner: torch.Tensor, code: torch.Tensor) -> torch.Tensor:
        return self.means[winner] + torch.einsum("nde,ne->nd", self.bases[winner], code)

    # -- the SparseVAEModel interface --------------------------------------------------------------
    def loss(
        self, x: torch.Tensor, y: torch.Tensor | None = None, kl_weight: float = 1.0
    ) -> LossOutput:
        flat = self._flat(x)
        if self.training and not bool(self.seeded):
            self._seed_means(flat)
        winner, code = self._winner(flat)
        # The exact residual of the winner (not the expanded form) is what is optimised.
        sq_error = (flat - self._reconstruct_flat(winner, code)).pow(2).sum(1).mean()
        return LossOutput(sq_error, {"loss": sq_error, "sq_error": sq_error})

    def encode(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Sparse codes ``(N, K·E)``: block k* holds b_{k*}, the other K − 1 blocks are zero."""
        winner, code = self._winner(self._flat(x))
        return scatter_blocks(winner, code, self.components)

    def decode(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Images for sparse codes: each row must have its non-zeros in one component's block."""
        z = z.to(self.means.dtype)
        winner, code = gather_blocks(z, self.components, self.component_dim, self.kind)
        return self._reconstruct_flat(winner, code).reshape(len(z), *self.input_shape)

    def settable_elements(self, code: torch.Tensor) -> torch.Tensor:
        return own_block(code, self.components)

    def assign(self, x: torch.Tensor) -> torch.Tensor:
        """The winning component of each example, ``(N,)`` (the discrete part of the code)."""
        return self._winner(self._flat(x))[0]

    def extra_metrics(self, x: torch.Tensor, y: torch.Tensor | None = None) -> dict[str, float]:
        """How many of the K components win at least one example of ``x``."""
        with eval_mode(self):
            winners = map_batches(self.assign, x, device=self.device)
        return {"components_used": int(winners.unique().numel())}

    def extra_repr(self) -> str:
        return (
            f"{super().extra_repr()}, K={self.components}, E={self.component_dim}, "
            f"β={self.step_size}, T={self.steps}, λ={self.code_l2}, solver={self.config.code_solver!r}, "
            f"init={self.config.init!r}"
        )


@register_model
class LGAE(LLGAE):
    """Linear Generative Autoencoder: LLGAE with one component, a learned E-dimensional affine
    subspace found by the same iteration (the gradient-trained counterpart of PCA)."""

    kind = "lgae"
    config_class = LGAEConfig
    sparse_code = False  # one component: every code element is used
