"""sparsevae: sparse latent-variable autoencoders in PyTorch.

Variational Sparse Coding (spike-and-slab VAE), the VAE family (β-VAE, conditional VAE, Laplace and
Cauchy priors), plain, denoising and L1-sparse autoencoders, with one training loop, safe
checkpoints, evaluation and a CLI.

    >>> import sparsevae
    >>> model = sparsevae.VSC(input_shape=(1, 28, 28), latent_dim=200, alpha=0.01)
    >>> history = sparsevae.fit(model, train_x, test_x, epochs=11)        # doctest: +SKIP
    >>> codes = model.encode(test_x)                                         # doctest: +SKIP
"""

from ._version import __version__
from .data import Dataset, load_dataset
from .distributions import SpikeSlab
from .errors import (
    CheckpointError,
    ConfigError,
    DataError,
    SparseVAEError,
    SparseVAEWarning,
    TrainingError,
)
from .evaluation import encode_dataset, evaluate_model
from .models import (
    CVAE,
    LGAE,
    LLGAE,
    MODELS,
    PCA,
    VAE,
    VSC,
    VSCUAI,
    Autoencoder,
    BetaTCVAE,
    BetaVAE,
    CauchyVAE,
    DenoisingAutoencoder,
    LaplaceVAE,
    MixturePCA,
    SparseAutoencoder,
    SparseVAEModel,
    TopKAutoencoder,
    VSCThreshold,
    build_model,
)
from .training import TrainConfig, fit, load, save_model

__all__ = [
    "CVAE",
    "LGAE",
    "LLGAE",
    "MODELS",
    "PCA",
    "VAE",
    "VSC",
    "VSCUAI",
    "Autoencoder",
    "BetaTCVAE",
    "BetaVAE",
    "CauchyVAE",
    "CheckpointError",
    "ConfigError",
    "DataError",
    "Dataset",
    "DenoisingAutoencoder",
    "LaplaceVAE",
    "MixturePCA",
    "SparseAutoencoder",
    "SparseVAEError",
    "SparseVAEModel",
    "SparseVAEWarning",
    "SpikeSlab",
    "TopKAutoencoder",
    "TrainConfig",
    "TrainingError",
    "VSCThreshold",
    "__version__",
    "build_model",
    "encode_dataset",
    "evaluate_model",
    "fit",
    "load",
    "load_dataset",
    "save_model",
]
