"""The import path of sparsevae 0.1.0's training module, kept for code that uses it: everything
here lives in the modules named below (the loop in :mod:`.loop`)."""

from .averaging import WeightAverage
from .config import NAN_POLICIES, OPTIMIZERS, TrainConfig, optimizer_for, resolve_device
from .fit import fit
from .inputs import as_images
from .loop import EpochCallback, Trainer
from .monitor import CHECK_EVERY, GRADIENT, NonFiniteMonitor, gradient_norm
from .state import check_progress, load_training_state, save_training_state
from .stopping import TrainingInterrupted, join_words

__all__ = [
    "CHECK_EVERY",
    "GRADIENT",
    "NAN_POLICIES",
    "OPTIMIZERS",
    "EpochCallback",
    "NonFiniteMonitor",
    "TrainConfig",
    "Trainer",
    "TrainingInterrupted",
    "WeightAverage",
    "as_images",
    "check_progress",
    "fit",
    "gradient_norm",
    "join_words",
    "load_training_state",
    "optimizer_for",
    "resolve_device",
    "save_training_state",
]
