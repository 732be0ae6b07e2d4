"""Model classes; importing this package registers every model kind."""

from .autoencoders import Autoencoder, DenoisingAutoencoder, SparseAutoencoder
from .base import LossOutput, Schedule, SparseVAEModel
from .baselines import PCA, MixturePCA
from .config import ModelConfig
from .dictionary import DictionaryLearning
from .llgae import LGAE, LLGAE
from .registry import MODELS, build_model, model_class, register_model
from .tcvae import BetaTCVAE
from .topk import TopKAutoencoder
from .vae import CVAE, VAE, BetaVAE, CauchyVAE, LaplaceVAE, VariationalAutoencoder
from .vsc import VSC
from .vsc_threshold import VSCThreshold
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
    "DictionaryLearning",
    "LaplaceVAE",
    "LossOutput",
    "MixturePCA",
    "ModelConfig",
    "Schedule",
    "SparseAutoencoder",
    "SparseVAEModel",
    "TopKAutoencoder",
    "VSCThreshold",
    "VariationalAutoencoder",
    "build_model",
    "model_class",
    "register_model",
]
