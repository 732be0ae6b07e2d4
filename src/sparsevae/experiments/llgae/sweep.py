"""The LLGAE comparison's runs: train (or take a reused run), score on the test set, one row each.

Each finished row is appended to ``OUT/results.jsonl`` (and the tables rewritten); a row already
there is not produced again unless ``redo`` says so.  Each row's run directory also keeps its row
as ``result.json``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Collection
from pathlib import Path
from typing import Any

import torch

from ...data import Dataset, data_record, load_dataset
from ...errors import ConfigError
from ...evaluation.pixel_error import model_pixel_error
from ...models import LLGAE, MixturePCA, SparseVAEModel, build_model
from ...training import TrainConfig, Trainer, load, prepare_run_dir, read_config, read_metrics
from ...training.checkpoints import atomic_write_json
from ..results import ResultsStore
from ..runner import run_pending
from .protocol import NAME, PINNED, ROWS, LlgaeSettings, RowSpec

RESULT_FILE = "result.json"
COLUMNS = [
    ("model", "model"),
    ("code_nonzeros", "code non-zeros"),
    ("optimizer", "optimiser"),
    ("epochs", "epochs"),
    ("train_seconds", "train wall time (s)"),
    ("sq_error", "test squared error (sum over pixels, [0,1])"),
    ("pixel_error", "test pixel error (note's metric)"),
]


def results_store(out: str | Path) -> ResultsStore:
    columns = ["row", *(key for key, _ in COLUMNS), "run_dir"]
    return ResultsStore(out, key="row", columns=columns, json_table=True)


def describe(model: SparseVAEModel) -> str:
    c = model.config
    if model.kind == "llgae":
        return (
            f"LLGAE K={c['components']} E={c['component_dim']} "
            f"({'T→∞ ridge codes' if c['code_solver'] == 'lstsq' else 'T=' + str(c['steps'])}"
            + (", started from the mixture of PCAs" if c.get("init") == "mixture-pca" else "")
            + ")"
        )
    if model.kind == "lgae":
        return f"LGAE E={c['component_dim']} (T={c['steps']})"
    if model.kind == "pca":
        return f"PCA {c['latent_dim']}"
    if model.kind == "mixture-pca":
        return (
            f"mixture of PCAs K={c['components']} E={c['component_dim']} "
            f"(≤{c['iterations']} alternating steps)"
        )
    if model.kind == "ae":
        hidden = "–".join(str(h) for h in c["hidden"])
        return f"autoencoder {model.input_size}–{hidden}–{c['latent_dim']}"
    return model.kind


def score(model: SparseVAEModel, test_x: torch.Tensor) -> dict[str, float]:
    """The note's metric and the plain squared error (sum over pixels, [0, 1] scale) on the test set."""
    model.eval()
    sq = 0.0
    with torch.no_grad():
        for start in range(0, len(test_x), 1000):
            xb = test_x[start : start + 1000].to(model.device)
            sq += float((model.reconstruct(xb) - xb).pow(2).flatten(1).sum(1).double().sum())
    return {"pixel_error": model_pixel_error(model, test_x), "sq_error": sq / len(test_x)}


def training_summary(run_dir: Path) -> dict[str, Any]:
    """Epochs and training wall time of a run directory (from ``metrics.jsonl``)."""
    records = read_metrics(run_dir)
    training = read_config(run_dir).get("training", {})
    return {
        "epochs": int(records[-1]["epoch"]) if records else 0,
        "train_seconds": round(sum(float(r.get("seconds", 0.0)) for r in records), 1),
        "optimizer": training.get("optimizer", ""),
        "batch_size": training.get("batch_size", ""),
    }


def code_nonzeros(model: SparseVAEModel) -> int:
    """Numbers a code holds: one component's block for the block-sparse models."""
    return model.component_dim if isinstance(model, LLGAE | MixturePCA) else model.latent_dim


def row_of(row: str, model: SparseVAEModel, run_dir: Path, test_x: torch.Tensor) -> dict[str, Any]:
    return {
        "row": row,
        "model": describe(model),
        "run_dir": str(run_dir),
        **training_summary(run_dir),
        "code_nonzeros": code_nonzeros(model),
        **score(model, test_x),
    }


def llgae_run_dir(settings: LlgaeSettings, store: ResultsStore) -> Path:
    """Where the llgae row's run is: reused, recorded in its row, or trained here."""
    if "llgae" in settings.reuse:
        return Path(settings.reuse["llgae"])
    rows = {row["row"]: row for row in store.rows()}
    return Path(rows["llgae"]["run_dir"]) if "llgae" in rows else store.out / "runs" / "llgae"


def lstsq_codes_row(source: Path, test_x: torch.Tensor) -> dict[str, Any]:
    """The llgae row's weights, decoded with the closed-form ridge codes instead of T steps."""
    trained = load(source, map_location="cpu")
    if trained.kind != "llgae":
        raise ConfigError(f"llgae-lstsq-codes needs an llgae run, {source} is {trained.kind!r}")
    model = build_model("llgae", **{**trained.config, "code_solver": "lstsq"})
    model.load_state_dict(trained.state_dict())
    row = row_of("llgae-lstsq-codes", model, source, test_x)
    row["model"] += ", weights of the llgae row"
    return row


def train_row(
    row: str, settings: LlgaeSettings, data: Dataset, run_dir: Path, progress: bool
) -> dict[str, Any]:
    """Train one row's model in ``run_dir`` and score it."""
    kind, model_config, train_config = settings.recipe(row, list(data.shape))
    prepare_run_dir(run_dir, overwrite=True)
    torch.manual_seed(settings.seed)
    model = build_model(kind, **model_config)
    config = TrainConfig(seed=settings.seed, device=settings.device, **train_config)
    record = data_record(settings.dataset, data, data_dir=settings.data_dir, options={})
    trainer = Trainer(model, config, run_dir=run_dir, data_info=record, progress=progress)
    started = time.perf_counter()
    trainer.fit(data.train_x, data.test_x)
    elapsed = time.perf_counter() - started  # includes a data-dependent initialisation
    result = row_of(row, model.cpu(), run_dir, data.test_x)
    result["train_seconds"] = round(elapsed, 1)
    if model.fits_in_closed_form:  # no optimiser, no epochs
        result.update(optimizer="closed form", epochs="–")
    return result


def run_rows(
    settings: LlgaeSettings,
    out: str | Path,
    *,
    redo: bool = False,
    progress: bool = True,
    epoch_progress: bool = False,
) -> list[dict[str, Any]]:
    """Produce every chosen row not yet in ``OUT/results.jsonl`` (all with ``redo``; reused runs
    are always scored again); return all rows, in the table's order."""
    store = results_store(out)
    store.refuse_unrecorded(f"runs/*/{RESULT_FILE}")
    store.check_settings(settings.record(), PINNED)
    data = load_dataset(settings.dataset, data_dir=settings.data_dir)

    def produce(spec: RowSpec) -> dict[str, Any]:
        if spec.row == "llgae-lstsq-codes":
            result = lstsq_codes_row(llgae_run_dir(settings, store), data.test_x)
        elif spec.row in settings.reuse:
            run_dir = Path(settings.reuse[spec.row])
            result = row_of(spec.row, load(run_dir, map_location="cpu"), run_dir, data.test_x)
        else:
            run_dir = store.out / "runs" / spec.row
            result = train_row(spec.row, settings, data, run_dir, epoch_progress)
        (store.out / "runs" / spec.row).mkdir(parents=True, exist_ok=True)
        atomic_write_json(store.out / "runs" / spec.row / RESULT_FILE, result)
        return result

    def estimate(spec: RowSpec) -> float:
        pixels = math.prod(data.shape)
        return settings.estimate_seconds(spec, len(data.train_x), len(data.test_x), pixels)

    rows = run_pending(
        NAME,
        settings.runs(),
        store,
        produce,
        estimate=estimate,
        summary=lambda row: f"{row['model']}: pixel error {row['pixel_error']:.1f}",
        redo=True if redo else rescored(settings),
        progress=progress,
    )
    return sorted(rows, key=lambda row: ROWS.index(row["row"]))


def rescored(settings: LlgaeSettings) -> Collection[str]:
    """Rows scored again on every call: reused runs (the directory may have changed), and the
    closed-form decoding of a reused llgae run."""
    rows = set(settings.reuse)
    if "llgae" in rows:
        rows.add("llgae-lstsq-codes")
    return rows
