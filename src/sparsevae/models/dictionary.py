"""Dictionary learning with orthogonal matching pursuit: the classic sparse-coding baseline.

scikit-learn's ``MiniBatchDictionaryLearning`` learns ``latent_dim`` unit-norm atoms D from (a
sample of) the training images, fitting with Lasso codes (penalty ``alpha``); the code of an
image is then found by OMP with exactly ``nonzeros`` atoms (fewer only if the fit is exact), and
the reconstruction is ``z·D``.  No network, no gradient steps: ``sparsevae train --model
dict-learning`` fits it in closed form and writes a run directory like any other model.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch
from sklearn.decomposition import MiniBatchDictionaryLearning, sparse_encode

from ..errors import ConfigError
from .baselines import ClosedFormModel, frozen
from .config import ModelConfig, latent_dim_option, option, require
from .registry import register_model


@dataclasses.dataclass(frozen=True)
class DictionaryConfig(ModelConfig):
    latent_dim: int = latent_dim_option(200)
    nonzeros: int = option(10, "atoms per code, chosen by OMP (dict-learning)")
    alpha: float = option(1.0, "Lasso penalty of the codes while the dictionary is fitted")
    epochs: int = option(10, "passes over the fitting sample at most")
    batch_size: int = option(256, "images per dictionary update")
    fit_examples: int = option(20_000, "training images the dictionary is fitted on (a sample)")
    seed: int = option(0, "seed of the sample and of the fit")

    def check(self) -> None:
        super().check()
        positive = (self.latent_dim, self.nonzeros, self.epochs, self.batch_size, self.fit_examples)
        require(
            min(positive) > 0,
            "latent_dim, nonzeros, epochs, batch_size and fit_examples must be positive integers",
        )
        require(
            self.nonzeros <= self.latent_dim,
            f"nonzeros ({self.nonzeros}) cannot exceed latent_dim ({self.latent_dim})",
        )
        require(self.alpha > 0, f"alpha must be positive, got {self.alpha}")


@register_model
class DictionaryLearning(ClosedFormModel):
    """``latent_dim`` atoms learned by mini-batch dictionary learning; codes by OMP with
    ``nonzeros`` atoms per image."""

    kind = "dict-learning"
    config_class = DictionaryConfig
    sparse_code = True

    def __init__(self, config: DictionaryConfig | None = None, /, **options) -> None:
        super().__init__(config, **options)
        self.latent_dim = self.config.latent_dim
        self.atoms = frozen(self.latent_dim, self.input_size)  # rows: unit-norm atoms
        self.register_buffer("fitted", torch.zeros((), dtype=torch.bool))

    @torch.no_grad()
    def fit_closed_form(self, x: torch.Tensor) -> None:
        c = self.config
        flat = self._check_data(x, c.latent_dim).cpu().numpy()
        rng = np.random.default_rng(c.seed)
        sample = flat[rng.permutation(len(flat))[: c.fit_examples]]
        learner = MiniBatchDictionaryLearning(
            n_components=c.latent_dim,
            alpha=c.alpha,
            max_iter=c.epochs,
            batch_size=c.batch_size,
            random_state=c.seed,
        )
        learner.fit(sample)
        self.atoms.copy_(torch.from_numpy(learner.components_.astype(np.float32)))
        self.fitted.fill_(True)

    def encode(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        self._check_fitted()
        flat = self._flat(x).cpu().numpy().astype(np.float64)
        atoms = self.atoms.cpu().numpy().astype(np.float64)
        codes = sparse_encode(flat, atoms, algorithm="omp", n_nonzero_coefs=self.config.nonzeros)
        return torch.from_numpy(codes.astype(np.float32)).to(self.atoms.device)

    def decode(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise ConfigError(
                f"dict-learning codes must have shape (N, {self.latent_dim}), got {tuple(z.shape)}"
            )
        return (z.to(self.atoms.dtype) @ self.atoms).reshape(len(z), *self.input_shape)
