"""Training loop, schedules and run directories (checkpoints)."""

from .checkpoints import load, prepare_run_dir, read_config, read_metrics, save_model
from .trainer import NAN_POLICIES, TrainConfig, Trainer, TrainingInterrupted, fit

__all__ = [
    "NAN_POLICIES",
    "TrainConfig",
    "Trainer",
    "TrainingInterrupted",
    "fit",
    "load",
    "prepare_run_dir",
    "read_config",
    "read_metrics",
    "save_model",
]
