"""Training: the loop (``loop``), its one step (``step``), K models at once (``stacked``),
configuration, resume state, weight averaging, the non-finite monitor, and run directories
(``checkpoints``)."""

from .checkpoints import load, prepare_run_dir, read_config, read_metrics, save_model
from .config import NAN_POLICIES, OPTIMIZERS, TrainConfig
from .fit import fit
from .loop import Trainer
from .stacked import StackedTrainer
from .step import StepResult, TrainingStep
from .stopping import Remedies, TrainingInterrupted

__all__ = [
    "NAN_POLICIES",
    "OPTIMIZERS",
    "Remedies",
    "StackedTrainer",
    "StepResult",
    "TrainConfig",
    "Trainer",
    "TrainingInterrupted",
    "TrainingStep",
    "fit",
    "load",
    "prepare_run_dir",
    "read_config",
    "read_metrics",
    "save_model",
]
