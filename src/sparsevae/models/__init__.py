"""Model classes; importing this package registers every model kind."""

from .autoencoders import Autoencoder, DenoisingAutoencoder, SparseAutoencoder
from .base import LossOutput, SparseVAEModel
from .baselines import PCA, MixturePCA
from .llgae import LGAE, LLGAE
from .registry import MODELS, build_model, model_class, register_model
from .tcvae import BetaTCVAE
from .vae import CVAE, VAE, VSC, BetaVAE, CauchyVAE, LaplaceVAE, VariationalAutoencoder
from .vsc_uai import VSCUAI

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
    "DenoisingAutoencoder",
    "LaplaceVAE",
    "LossOutput",
    "MixturePCA",
    "SparseAutoencoder",
    "SparseVAEModel",
    "VariationalAutoencoder",
    "build_model",
    "model_class",
    "register_model",
]
