"""The Smiley runs: train each model, score its validation and test codes, one row per run.

Each finished run appends its row to ``OUT/results.jsonl`` and keeps it, with its test codes, in
its run directory (``scores.json``, ``test_codes.npy``); a run with a row is not trained again
unless ``redo``.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ...data import Dataset, data_record, load_dataset
from ...data.synthetic import gate_smiley_sources
from ...evaluation.disentanglement import disentanglement_scores
from ...evaluation.metrics import encode_dataset
from ...models import build_model
from ...training import TrainConfig, Trainer, prepare_run_dir
from ...training.checkpoints import atomic_write_json
from ..results import ResultsStore
from ..runner import Shard, run_pending
from .diagnostics import attribute_accuracy, attribute_switches, usage_summary
from .protocol import N_ATTRIBUTES, NAME, PINNED, RunSpec, SmileySettings

SCORES_FILE = "scores.json"
PIXELS_FILE = "pixel_ceiling.json"
CODES_FILE = "test_codes.npy"


@dataclass
class SmileySplits:
    """Smiley with a validation split held out of training, and the factors to score against."""

    data: Dataset
    options: dict[str, Any]  # the loader's options, recorded in each run
    train_x: torch.Tensor
    val_x: torch.Tensor
    val_factors: np.ndarray
    test_factors: np.ndarray
    factor_names: list[str]
    val_attributes: np.ndarray  # the 4 binary attributes of the validation and test images
    test_attributes: np.ndarray


def load_splits(settings: SmileySettings) -> SmileySplits:
    options = {
        "n_train": settings.n_train + settings.n_val,
        "n_test": settings.n_test,
        "seed": settings.seed,
        **({"l2_normalise": True} if settings.l2_normalise else {}),
    }
    data = load_dataset("smiley", **options)
    names = list(data.factor_names or [])
    val_raw = data.train_factors[settings.n_train :].numpy()
    val_factors, _ = factor_view(val_raw, names, settings)
    test_factors, factor_names = factor_view(data.test_factors.numpy(), names, settings)
    return SmileySplits(
        data=data,
        options=options,
        train_x=data.train_x[: settings.n_train],
        val_x=data.train_x[settings.n_train :],
        val_factors=val_factors,
        test_factors=test_factors,
        factor_names=factor_names,
        val_attributes=val_raw[:, :N_ATTRIBUTES],
        test_attributes=data.test_factors.numpy()[:, :N_ATTRIBUTES],
    )


def factor_view(
    factors: np.ndarray, names: list[str], settings: SmileySettings
) -> tuple[np.ndarray, list[str]]:
    """Smiley's 22 factors as the codes are scored against them (``--factors``): the 18 sources,
    all 22, or the attributes and the sources gated by them."""
    if settings.factors == "sources":
        return factors[:, N_ATTRIBUTES:], names[N_ATTRIBUTES:]
    if settings.factors == "gated":
        gated_names = [f"{name} (gated)" for name in names[N_ATTRIBUTES:]]
        return gate_smiley_sources(factors), names[:N_ATTRIBUTES] + gated_names
    return factors, names


def pixel_ceiling(settings: SmileySettings, splits: SmileySplits, out: Path) -> dict[str, Any]:
    """The scores of the test images themselves as the code (raw pixels, the same regressors):
    how far a model's code is from what the data allow.  Cached in ``OUT/PIXELS_FILE``; what a
    cache of an older release lacks (the attribute accuracy) is added to it."""
    path = Path(out) / PIXELS_FILE
    cached = json.loads(path.read_text()) if path.is_file() else {}
    if cached.get("factors") != settings.factors:
        cached = {}
    pixels = splits.data.test_x.flatten(1).numpy()
    result = {"factors": settings.factors, **cached}
    if "test" not in result:
        result["test"] = disentanglement_scores(
            pixels, splits.test_factors, dci_method=settings.dci_method, seed=settings.seed
        )
    if "attribute_accuracy" not in result:
        val_pixels = splits.val_x.flatten(1).numpy()
        result["attribute_accuracy"] = attribute_accuracy(
            val_pixels, splits.val_attributes, pixels, splits.test_attributes
        )
    if result != cached:
        atomic_write_json(path, result)
    return result


def results_store(out: str | Path) -> ResultsStore:
    return ResultsStore(out, key="id")


def train_and_score(
    spec: RunSpec, settings: SmileySettings, splits: SmileySplits, run_dir: Path, progress: bool
) -> dict[str, Any]:
    """Train one model in ``run_dir`` and score its validation and test codes."""
    started = time.perf_counter()
    torch.manual_seed(settings.seed)
    model = build_model(spec.model_kind, **settings.model_config(spec, list(splits.data.shape)))
    config = TrainConfig(
        epochs=settings.epochs,
        batch_size=settings.batch_size,
        lr=settings.lr_of(spec),
        seed=settings.seed,
        device=settings.device,
        checkpoint_every=settings.epochs,
    )
    prepare_run_dir(run_dir, overwrite=True)
    record = data_record("smiley", splits.data, options=splits.options)
    trainer = Trainer(model, config, run_dir=run_dir, data_info=record, progress=progress)
    history = trainer.fit(splits.train_x, splits.data.test_x)
    val_codes = encode_dataset(model, splits.val_x).numpy()
    test_codes = encode_dataset(model, splits.data.test_x).numpy()

    def scores(codes: np.ndarray, factors: np.ndarray) -> dict[str, float]:
        return disentanglement_scores(
            codes, factors, dci_method=settings.dci_method, seed=settings.seed
        )

    result = {
        "model": spec.kind,
        "latent_dim": spec.latent_dim,
        "beta": spec.beta,
        "validation": scores(val_codes, splits.val_factors),
        "test": scores(test_codes, splits.test_factors),
        "test_neg_elbo": history[-1].get("test/neg_elbo"),
        "test_zero_fraction": float((test_codes == 0).mean()),
        **code_diagnostics(val_codes, test_codes, splits),
        "seconds": round(time.perf_counter() - started, 1),
    }
    np.save(run_dir / CODES_FILE, test_codes)
    atomic_write_json(run_dir / SCORES_FILE, result)
    return result


def code_diagnostics(
    val_codes: np.ndarray, test_codes: np.ndarray, splits: SmileySplits
) -> dict[str, Any]:
    """Attribute accuracy (a logistic regression fitted on the validation codes, scored on the
    test codes), attribute switches and latent usage of the test codes."""
    return {
        "attribute_accuracy": attribute_accuracy(
            val_codes, splits.val_attributes, test_codes, splits.test_attributes
        ),
        "attribute_switches": attribute_switches(test_codes, splits.test_attributes),
        "usage": usage_summary(test_codes),
    }


def run_smiley(
    settings: SmileySettings,
    out: str | Path,
    *,
    redo: bool = False,
    progress: bool = True,
    epoch_progress: bool = False,
    shard: Shard | None = None,
    train: bool = True,
) -> tuple[list[dict[str, Any]], SmileySplits]:
    """Train and score every run without a row (all with ``redo``; with ``shard``, of that part
    of the grid; none unless ``train``); return the grid's finished rows in its order, and the
    data the report needs."""
    store = results_store(out)
    store.refuse_unrecorded(f"runs/*/{SCORES_FILE}")
    store.check_settings(settings.record(), PINNED)
    splits = load_splits(settings)
    if not train:
        return in_grid_order(store.rows(), settings), splits
    rows = run_pending(
        NAME,
        settings.runs(),
        store,
        lambda spec: train_and_score(
            spec, settings, splits, store.out / "runs" / spec.id, epoch_progress
        ),
        estimate=settings.estimate_seconds,
        summary=lambda row: " ".join(f"{k} {v:.3f}" for k, v in row["test"].items()),
        redo=redo,
        progress=progress,
        shard=shard,
    )
    return in_grid_order(rows, settings), splits


def in_grid_order(rows: list[dict[str, Any]], settings: SmileySettings) -> list[dict[str, Any]]:
    """The rows of the grid's runs that have finished, in the grid's order."""
    by_id = {row["id"]: row for row in rows}
    return [by_id[spec.id] for spec in settings.runs() if spec.id in by_id]
