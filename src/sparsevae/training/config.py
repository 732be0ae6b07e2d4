"""What a training run is told: :class:`TrainConfig`, the device and the optimiser it names."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

import torch

from ..errors import ConfigError

OPTIMIZERS = ("adam", "rmsprop", "sgd")
NAN_POLICIES = ("stop", "skip")


@dataclass
class TrainConfig:
    """Everything about a training run that is not the model or the data."""

    epochs: int = 10
    batch_size: int = 32
    lr: float = 1e-3
    seed: int = 0
    device: str = "auto"
    grad_clip: float | None = None  # max global gradient norm; None: no clipping
    kl_warmup_epochs: float = 0.0  # KL weight rises 0 → 1 over this many epochs
    eval_batch_size: int = 1000
    checkpoint_every: int = 1  # epochs between checkpoints (always one at the end)
    optimizer: str = "adam"  # adam | rmsprop | sgd
    nan_policy: str = "stop"  # non-finite loss/gradient: stop (keep last checkpoint) | skip batch
    # Exponential moving average of the weights (Polyak averaging); 0 = off.  The averaged weights
    # are what is evaluated, saved and returned; the raw ones only drive the optimiser.
    ema_decay: float = 0.0

    def __post_init__(self) -> None:
        checks = [
            ("epochs", self.epochs >= 1 and int(self.epochs) == self.epochs, "a positive integer"),
            (
                "batch_size",
                self.batch_size >= 1 and int(self.batch_size) == self.batch_size,
                "a positive integer",
            ),
            ("lr", math.isfinite(self.lr) and self.lr > 0, "a positive number"),
            ("grad_clip", self.grad_clip is None or self.grad_clip > 0, "positive (or unset)"),
            ("kl_warmup_epochs", self.kl_warmup_epochs >= 0, ">= 0"),
            ("eval_batch_size", self.eval_batch_size >= 1, "a positive integer"),
            ("checkpoint_every", self.checkpoint_every >= 1, "a positive integer"),
            ("optimizer", self.optimizer in OPTIMIZERS, " | ".join(OPTIMIZERS)),
            ("nan_policy", self.nan_policy in NAN_POLICIES, " | ".join(NAN_POLICIES)),
            ("ema_decay", 0.0 <= self.ema_decay < 1.0, "in [0, 1)"),
            (
                "device",
                self.device in ("auto", "cpu", "cuda") or self.device.startswith("cuda:"),
                "auto, cpu or cuda",
            ),
        ]
        for name, ok, what in checks:
            if not ok:
                raise ConfigError(f"{name} must be {what}, got {getattr(self, name)!r}")

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        if torch.version.cuda is None:
            raise ConfigError(
                f"--device {name} was asked for, but the installed torch {torch.__version__} is a "
                "CPU-only build; install a CUDA build of torch, or use --device cpu"
            )
        raise ConfigError(
            f"--device {name} was asked for, but torch {torch.__version__} (built for CUDA "
            f"{torch.version.cuda}) sees no CUDA device; check the driver and CUDA_VISIBLE_DEVICES"
        )
    return torch.device(name)


def optimizer_for(model: torch.nn.Module, name: str, lr: float) -> torch.optim.Optimizer:
    """The named optimiser; Adam uses its fused kernel (CPU and CUDA), several times faster at
    small batch sizes.  SGD uses momentum 0.9."""
    params = [p for p in model.parameters() if p.requires_grad]
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=0.9)
    try:
        return torch.optim.Adam(params, lr=lr, fused=True)
    except (RuntimeError, TypeError):  # a device or dtype without a fused kernel
        return torch.optim.Adam(params, lr=lr)
