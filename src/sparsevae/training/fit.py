"""``sparsevae.fit``: the Python API's one call to train a model, with what the CLI's ``train``
also gives: a run directory on request, and a one-line warning when the code does not work."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any

from ..batching import private_rng
from ..errors import ConfigError, SparseVAEWarning
from ..evaluation.metrics import encode_dataset, labels_for
from ..evaluation.usage import code_usage, usage_warning
from ..models import SparseVAEModel
from . import checkpoints as ckpt
from .config import TrainConfig
from .inputs import as_images, as_labels
from .loop import EpochCallback, Trainer


def fit(
    model: SparseVAEModel,
    train_x: Any,
    test_x: Any = None,
    *,
    train_y: Any = None,
    test_y: Any = None,
    run_dir: str | Path | None = None,
    overwrite: bool = False,
    progress: bool = True,
    callbacks: Sequence[EpochCallback] = (),
    **config: Any,
) -> list[dict[str, Any]]:
    """Train ``model`` in place and return the per-epoch history (one dict per epoch).

    ``config`` takes :class:`TrainConfig` fields: ``epochs``, ``batch_size``, ``lr``, ``seed``,
    ``device``, ``grad_clip``, ``kl_warmup_epochs``, …  With ``run_dir`` the run is saved there
    (``config.json``, ``model.safetensors``, ``metrics.jsonl``, ``training_curves.png``) and can
    be loaded with ``load``.  With test data, a code that is dead (or, for a sparse model, dense
    or a choice of dimensions) on them is reported as a :class:`SparseVAEWarning`.
    """
    unknown = set(config) - {f.name for f in fields(TrainConfig)}
    if unknown:
        raise ConfigError(f"unknown training option(s): {', '.join(sorted(unknown))}")
    # The trainer checks the device before a run directory is made.
    trainer = Trainer(
        model, TrainConfig(**config), run_dir=run_dir, progress=progress, callbacks=callbacks
    )
    if run_dir is None:
        history = trainer.fit(train_x, test_x, train_y, test_y)
    else:
        with ckpt.fresh_run_dir(run_dir, overwrite=overwrite):
            history = trainer.fit(train_x, test_x, train_y, test_y)
    if test_x is not None:
        check_code_usage(model, test_x, test_y)
    return history


def check_code_usage(model: SparseVAEModel, x: Any, y: Any = None) -> None:
    """The one-line code-usage warning of the CLI's ``train`` (``usage_warning``) on ``x``."""
    images = as_images(x, model.input_shape, "test data")
    labels = as_labels(y, len(images), "test data") if model.num_classes else None
    with private_rng(0):  # the caller's random stream is not touched
        codes = encode_dataset(model, images, labels_for(model, labels))
        warning = usage_warning(code_usage(codes), sparse=model.sparse_code)
    if warning:
        warnings.warn(f"{model.kind}: {warning}", SparseVAEWarning, stacklevel=3)
