"""Training loop, schedules and run directories (checkpoints)."""

from .checkpoints import load, prepare_run_dir, read_config, read_metrics, save_model
from .trainer import TrainConfig, Trainer, fit

__all__ = [
    "TrainConfig",
    "Trainer",
    "fit",
    "load",
    "prepare_run_dir",
    "read_config",
    "read_metrics",
    "save_model",
]
