"""Model classes; importing this package registers every model kind."""

# Modules that only register model kinds: llgae, lgae, pca, mixture-pca, beta-tcvae, vsc-uai.
from . import baselines, llgae, tcvae, vsc_uai  # noqa: F401
from .autoencoders import Autoencoder, DenoisingAutoencoder, SparseAutoencoder
from .base import LossOutput, SparseVAEModel
from .registry import MODELS, build_model, model_class, register_model
from .vae import CVAE, VAE, VSC, BetaVAE, CauchyVAE, LaplaceVAE, VariationalAutoencoder

__all__ = [
    "CVAE",
    "MODELS",
    "VAE",
    "VSC",
    "Autoencoder",
    "BetaVAE",
    "CauchyVAE",
    "DenoisingAutoencoder",
    "LaplaceVAE",
    "LossOutput",
    "SparseAutoencoder",
    "SparseVAEModel",
    "VariationalAutoencoder",
    "build_model",
    "model_class",
    "register_model",
]
