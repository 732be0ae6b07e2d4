"""Closed-form baselines for LLGAE: PCA and a mixture of PCAs (K-subspaces).

Both are fitted by ``fit_closed_form(x)`` (the trainer calls it instead of taking gradient steps),
so ``sparsevae train --model pca`` / ``--model mixture-pca`` fit them and write a run directory
like any other model.

* ``pca``: the E leading principal directions of the training data (scikit-learn's PCA); the code
  is the E projections, the reconstruction μ + U Uᵀ(x − μ).
* ``mixture-pca``: K affine subspaces of dimension E fitted by alternating minimisation (Bradley &
  Mangasarian's K-planes / Tseng's K-subspaces): assign every example to the subspace with the
  smallest squared residual, refit each subspace as the mean and the E leading principal directions
  of its examples, repeat.  Each half-step cannot increase the total squared residual, so the
  objective decreases monotonically.  It is the closed-form counterpart of LLGAE (same code: a
  component and E numbers), started from k-means clusters.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch
from torch import nn

from ..errors import ConfigError, DataError
from .base import LossOutput, SparseVAEModel
from .blocks import gather_blocks, own_block, scatter_blocks
from .config import ModelConfig, latent_dim_option, option, require
from .registry import register_model


def frozen(*shape: int) -> nn.Parameter:
    # Parameters (not buffers) so that ``model.device`` works; no optimiser ever sees them.
    return nn.Parameter(torch.zeros(*shape), requires_grad=False)


class ClosedFormModel(SparseVAEModel):
    """Shared parts: the fitted flag, the squared-error loss and the note's pixel metric."""

    fits_in_closed_form = True

    def _flat(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(len(x), -1).to(torch.get_default_dtype())

    def _check_fitted(self) -> None:
        if not bool(self.fitted):
            raise ConfigError(
                f"model {self.kind!r} is not fitted yet: train it (sparsevae train) or call "
                "fit_closed_form(x)"
            )

    def _check_data(self, x: torch.Tensor, minimum: int) -> torch.Tensor:
        flat = self._flat(x)
        if flat.shape[1] != self.input_size:
            raise DataError(
                f"{self.kind}: examples have {flat.shape[1]} values, the model expects "
                f"{self.input_size}"
            )
        if len(flat) < minimum:
            raise DataError(f"{self.kind}: needs at least {minimum} examples, got {len(flat)}")
        return flat

    def loss(
        self, x: torch.Tensor, y: torch.Tensor | None = None, kl_weight: float = 1.0
    ) -> LossOutput:
        self._check_fitted()
        sq_error = (self.reconstruct_flat(self._flat(x)) - self._flat(x)).pow(2).sum(1).mean()
        return LossOutput(sq_error, {"loss": sq_error, "sq_error": sq_error})

    def reconstruct_flat(self, flat: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(flat)).reshape(len(flat), -1)


@dataclasses.dataclass(frozen=True)
class PCAConfig(ModelConfig):
    latent_dim: int = latent_dim_option(20)

    def check(self) -> None:
        super().check()
        require(
            self.latent_dim > 0, f"latent_dim must be a positive integer, got {self.latent_dim}"
        )


@register_model
class PCA(ClosedFormModel):
    """Principal component analysis with ``latent_dim`` components (scikit-learn)."""

    kind = "pca"
    config_class = PCAConfig

    def __init__(self, config: PCAConfig | None = None, /, **options) -> None:
        super().__init__(config, **options)
        self.latent_dim = self.config.latent_dim
        if self.latent_dim > self.input_size:
            raise ConfigError(
                f"pca: latent_dim {self.latent_dim} exceeds the {self.input_size} input values"
            )
        self.mean = frozen(self.input_size)
        self.directions = frozen(self.input_size, self.latent_dim)  # orthonormal columns
        self.register_buffer("fitted", torch.zeros((), dtype=torch.bool))

    @torch.no_grad()
    def fit_closed_form(self, x: torch.Tensor) -> None:
        from sklearn.decomposition import PCA as SkPCA

        flat = self._check_data(x, self.latent_dim + 1)
        # Exact solvers only: the covariance eigendecomposition when N ≥ D (fast for MNIST),
        # a full SVD otherwise; never the randomized one that "auto" may pick.
        solver = "covariance_eigh" if len(flat) >= flat.shape[1] else "full"
        pca = SkPCA(n_components=self.latent_dim, svd_solver=solver).fit(flat.cpu().numpy())
        self.mean.copy_(torch.from_numpy(pca.mean_.astype(np.float32)))
        self.directions.copy_(torch.from_numpy(pca.components_.T.astype(np.float32)))
        self.explained_variance_ratio = pca.explained_variance_ratio_.tolist()
        self.fitted.fill_(True)

    def encode(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        self._check_fitted()
        return (self._flat(x) - self.mean) @ self.directions

    def decode(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise ConfigError(
                f"pca codes must have shape (N, {self.latent_dim}), got {tuple(z.shape)}"
            )
        return (self.mean + z @ self.directions.T).reshape(len(z), *self.input_shape)


@dataclasses.dataclass(frozen=True)
class MixturePCAConfig(ModelConfig):
    components: int = option(11, "number K of subspaces")
    component_dim: int = option(20, "dimension E of each subspace")
    iterations: int = option(20, "alternating steps at most")
    seed: int = option(0, "seed of the k-means start")

    def check(self) -> None:
        super().check()
        require(
            min(self.components, self.component_dim, self.iterations) > 0,
            "components, component_dim and iterations must be positive integers",
        )


@register_model
class MixturePCA(ClosedFormModel):
    """K affine subspaces of dimension E (K-subspaces), fitted by alternating minimisation from a
    k-means start.  The code is sparse like LLGAE's: K·E numbers, the winner's E non-zero."""

    kind = "mixture-pca"
    config_class = MixturePCAConfig
    sparse_code = True

    def __init__(self, config: MixturePCAConfig | None = None, /, **options) -> None:
        super().__init__(config, **options)
        c = self.config
        self.components, self.component_dim, self.iterations = (
            c.components,
            c.component_dim,
            c.iterations,
        )
        self.seed = c.seed
        if self.component_dim > self.input_size:
            raise ConfigError(
                f"mixture-pca: component_dim {self.component_dim} exceeds the {self.input_size} "
                "input values"
            )
        self.latent_dim = self.components * self.component_dim
        self.means = frozen(self.components, self.input_size)
        self.bases = frozen(self.components, self.input_size, self.component_dim)
        self.register_buffer("fitted", torch.zeros((), dtype=torch.bool))
        #: Total squared residual per example after each alternating step (filled by fitting).
        self.fit_history: list[float] = []

    # -- fitting -----------------------------------------------------------------------------------
    def _residuals(self, flat: torch.Tensor, chunk: int = 4096) -> torch.Tensor:
        """Squared residual of every example to every subspace, ``(N, K)``: for orthonormal U_k,
        ‖x − μ_k‖² − ‖U_kᵀ(x − μ_k)‖²."""
        parts = []
        shift = torch.einsum("kd,kde->ke", self.means, self.bases)
        means_sq = self.means.pow(2).sum(1)
        for start in range(0, len(flat), chunk):
            xb = flat[start : start + chunk]
            dist = xb.pow(2).sum(1, keepdim=True) - 2 * xb @ self.means.T + means_sq
            proj = torch.einsum("nd,kde->nke", xb, self.bases) - shift
            parts.append((dist - proj.pow(2).sum(-1)).clamp_min(0))
        return torch.cat(parts)

    def _refit(self, flat: torch.Tensor, assignment: torch.Tensor) -> None:
        """Mean and leading principal directions of each component's examples."""
        for k in range(self.components):  # one component at a time: memory O(D²), not O(K·D²)
            members = flat[assignment == k].double()
            mean = members.mean(0)
            centred = members - mean
            if len(centred) < centred.shape[1]:
                # Fewer examples than pixels (many components): the thin SVD is the cheaper route.
                _, _, right = torch.linalg.svd(centred, full_matrices=False)
                top = right[: self.component_dim].T
            else:
                _, vectors = torch.linalg.eigh(centred.T @ centred)  # ascending eigenvalues
                top = vectors[:, -self.component_dim :].flip(-1)
            self.means[k] = mean.to(self.means.dtype)
            self.bases[k] = top.to(self.bases.dtype)

    def _fill_empty(self, assignment: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        """Give a component with too few examples the worst-fitted ones (keeps all K in use)."""
        need = self.component_dim + 1
        counts = torch.bincount(assignment, minlength=self.components)
        worst = residual.argsort(descending=True)
        taken = 0
        for k in torch.nonzero(counts < need).flatten().tolist():
            assignment[worst[taken : taken + need]] = k
            taken += need
        return assignment

    @torch.no_grad()
    def fit_closed_form(self, x: torch.Tensor) -> None:
        from sklearn.cluster import KMeans

        flat = self._check_data(x, self.components * (self.component_dim + 1))
        start = KMeans(n_clusters=self.components, n_init=1, random_state=self.seed, max_iter=50)
        assignment = torch.from_numpy(start.fit_predict(flat.cpu().numpy())).long()
        assignment = assignment.to(flat.device)
        self.fit_history = []
        best = torch.zeros(len(flat), device=flat.device)
        for _ in range(self.iterations):
            assignment = self._fill_empty(assignment, best)
            self._refit(flat, assignment)
            residuals = self._residuals(flat)
            best, new_assignment = residuals.min(1)
            self.fit_history.append(float(best.double().mean()))
            changed = int((new_assignment != assignment).sum())
            assignment = new_assignment
            if changed == 0:  # a fixed point: the next refit would reproduce these subspaces
                break
        self.fitted.fill_(True)

    # -- codes -------------------------------------------------------------------------------------
    def encode(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Sparse codes ``(N, K·E)``: the winning subspace's block holds U_kᵀ(x − μ_k)."""
        self._check_fitted()
        flat = self._flat(x)
        winner = self._residuals(flat).argmin(1)
        code = torch.einsum("nd,nde->ne", flat - self.means[winner], self.bases[winner])
        return scatter_blocks(winner, code, self.components)

    def decode(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        winner, code = gather_blocks(z, self.components, self.component_dim, self.kind)
        flat = self.means[winner] + torch.einsum("nde,ne->nd", self.bases[winner], code)
        return flat.reshape(len(z), *self.input_shape)

    def settable_elements(self, code: torch.Tensor) -> torch.Tensor:
        return own_block(code, self.components)
