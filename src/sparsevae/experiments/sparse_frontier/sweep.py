"""Train (or resume) each run of the frontier and score its code: one results row per run."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ...batching import eval_mode, map_batches
from ...data import Dataset, data_record, load_dataset
from ...evaluation import code_usage
from ...evaluation.metrics import total_variance
from ...evaluation.probes import choose_labelled, linear_probe
from ...models import SparseVAEModel, build_model
from ...models.registry import model_class
from ...models.spike_codes import spike_code
from ...training import TrainConfig, load
from ...training.checkpoints import CONFIG_FILE
from ..results import ResultsStore
from ..runner import Shard, run_pending, train_or_resume
from ..stacking import DEFAULT_MAX_STACK, Stacking, train_stacked_or_resume
from .protocol import CODES_OF, NAME, PINNED, FrontierSettings, RunSpec

PROBE_ITERATIONS = 3000  # logistic regression's max_iter in the frontier's probe
USAGE_KEYS = (
    "dead_latents",
    "always_on_latents",
    "input_dependent_latents",
    "active_1_to_99_percent_of_used",
    "always_on_share_of_nonzeros",
    "jaccard_mean",
    "jaccard_within_class",
    "jaccard_across_class",
)


def results_store(out: str | Path) -> ResultsStore:
    return ResultsStore(out, key="id")


# -- one run ---------------------------------------------------------------------------------------
def build_run_model(spec: RunSpec, data: Dataset, settings: FrontierSettings) -> SparseVAEModel:
    """The untrained model of ``spec``; its initial weights follow the seed."""
    torch.manual_seed(settings.seed)
    return build_model(spec.kind, **settings.model_options(spec, list(data.shape)))


def train_config(settings: FrontierSettings) -> TrainConfig:
    return TrainConfig(
        epochs=settings.epochs,
        batch_size=settings.batch_size,
        lr=settings.lr,
        seed=settings.seed,
        device=settings.device,
        ema_decay=settings.ema_decay,
    )


def training_data(data: Dataset, settings: FrontierSettings) -> torch.Tensor:
    return data.train_x[: settings.train_limit] if settings.train_limit else data.train_x


def data_info(spec: RunSpec, data: Dataset, settings: FrontierSettings) -> dict[str, Any]:
    return data_record(spec.dataset, data, data_dir=settings.data_dirs.get(spec.dataset))


def stack_key(spec: RunSpec) -> tuple[str, ...]:
    """Runs that can share a stack: one data set and a kind whose knob a stack lets differ (VSC's
    α, the L1 weight); the others (TopK's k, baselines) train alone."""
    cls = model_class(spec.kind)
    if cls.stackable and spec.knob in cls.per_model_options:
        return spec.dataset, spec.kind
    return (spec.id,)


def train_run(
    spec: RunSpec,
    data: Dataset,
    settings: FrontierSettings,
    run_dir: Path,
    progress: bool = False,
) -> SparseVAEModel:
    """Train ``spec`` in ``run_dir``, resuming an interrupted run there."""
    return train_or_resume(
        lambda: build_run_model(spec, data, settings),
        train_config(settings),
        run_dir,
        data_info(spec, data, settings),
        training_data(data, settings),
        progress=progress,
    )


def train_stack(
    specs: list[RunSpec], data: Dataset, settings: FrontierSettings, out: Path, progress: bool
) -> dict[str, tuple[SparseVAEModel, float]]:
    """Train (or resume) ``specs`` together; return each run's model and its share of the
    training seconds."""
    started = time.perf_counter()
    models = train_stacked_or_resume(
        [functools.partial(build_run_model, spec, data, settings) for spec in specs],
        [train_config(settings)] * len(specs),
        [out / "runs" / spec.id for spec in specs],
        [data_info(spec, data, settings) for spec in specs],
        training_data(data, settings),
        progress=progress,
    )
    share = (time.perf_counter() - started) / len(specs)
    return {spec.id: (model, share) for spec, model in zip(specs, models, strict=True)}


# -- scores ----------------------------------------------------------------------------------------
def code_scores(
    model: SparseVAEModel,
    encode: Callable[[torch.Tensor], torch.Tensor],
    data: Dataset,
    settings: FrontierSettings,
) -> dict[str, Any]:
    """Non-zeros per test image, squared error of its reconstruction (summed over pixels), the
    probe's accuracy and how the code uses its latents, for the code ``encode`` gives."""
    x = data.test_x
    with eval_mode(model):
        codes = map_batches(encode, x, device=model.device)
        recon = map_batches(model.decode, codes, device=model.device)
    sq_error = ((recon - x) ** 2).flatten(1).sum(1)
    scores: dict[str, Any] = {
        "nonzeros": float((codes != 0).sum(1).float().mean()),
        "sse": float(sq_error.mean()),
        "variance_explained": 1.0 - float(sq_error.double().sum()) / total_variance(x),
    }
    usage = code_usage(codes, data.test_y)
    scores.update({key: usage[key] for key in USAGE_KEYS})
    if data.train_y is not None and data.test_y is not None:
        scores["probe"] = probe_accuracy(model, encode, codes, data, settings)
    return scores


def probe_accuracy(
    model: SparseVAEModel,
    encode: Callable[[torch.Tensor], torch.Tensor],
    test_codes: torch.Tensor,
    data: Dataset,
    settings: FrontierSettings,
) -> float:
    """Standardised logistic regression on the codes of ``probe_labels`` random training images
    (seed 0, as the issue's protocol), scored on every test image's code."""
    index = torch.from_numpy(choose_labelled(len(data.train_x), settings.probe_labels, 0))
    with eval_mode(model):
        train_codes = map_batches(encode, data.train_x[index], device=model.device)
    return linear_probe(
        train_codes.numpy(),
        data.train_y[index].numpy(),
        test_codes.numpy(),
        np.asarray(data.test_y),
        max_iter=PROBE_ITERATIONS,
    )


def score_run(model: SparseVAEModel, data: Dataset, settings: FrontierSettings) -> dict[str, Any]:
    """The model's own code; for the spike-and-slab models every code choice as well."""
    row = code_scores(model, model.encode, data, settings)
    for code in CODES_OF.get(model.kind, ()):
        row[f"code_{code}"] = code_scores(model, code_encoder(model, code), data, settings)
    return row


def code_encoder(model: SparseVAEModel, code: str) -> Callable[[torch.Tensor], torch.Tensor]:
    """``encode`` with another choice of code (``CODES_OF``)."""

    def encode(x: torch.Tensor) -> torch.Tensor:
        q = model.posterior(x)
        if code == "best-draw":
            return model.best_draw(q, x)
        return spike_code(q, model.config.code_threshold, code)

    return encode


# -- the sweep -------------------------------------------------------------------------------------
def run_frontier(
    settings: FrontierSettings,
    out: str | Path,
    *,
    redo: bool = False,
    progress: bool = True,
    epoch_progress: bool = False,
    loader: Callable[..., Dataset] = load_dataset,
    shard: Shard | None = None,
    max_stack: int = DEFAULT_MAX_STACK,
) -> list[dict[str, Any]]:
    """Train and score every run not yet in ``OUT/results.jsonl`` (all with ``redo``; with
    ``shard``, of that shard's part of the grid) in stacks of up to ``max_stack`` where
    ``stack_key`` allows (``train_seconds``: the run's share); return all rows."""
    out = Path(out)
    store = results_store(out)
    store.check_settings(settings.record(), PINNED)
    datasets: dict[str, Dataset] = {}
    stacked: dict[str, tuple[SparseVAEModel, float]] = {}  # trained by stacks, not yet scored

    def dataset_of(name: str) -> Dataset:
        if name not in datasets:
            datasets[name] = loader(name, data_dir=settings.data_dirs.get(name))
        return datasets[name]

    def train_group(specs: list[RunSpec]) -> None:
        if len(specs) > 1:  # a run alone is trained by train_and_score, as without stacking
            data = dataset_of(specs[0].dataset)
            stacked.update(train_stack(specs, data, settings, out, epoch_progress))

    def train_and_score(spec: RunSpec) -> dict[str, Any]:
        data, started = dataset_of(spec.dataset), time.perf_counter()
        if spec.id in stacked:
            model, seconds = stacked.pop(spec.id)
        else:
            model = train_run(spec, data, settings, out / "runs" / spec.id, epoch_progress)
            seconds = time.perf_counter() - started
        row: dict[str, Any] = {
            "dataset": spec.dataset,
            "kind": spec.kind,
            "knob": spec.knob,
            "value": spec.value,
            "train_seconds": round(seconds, 1),
        }
        row.update(score_run(model.cpu(), data, settings))
        return row

    return run_pending(
        NAME,
        settings.runs(),
        store,
        train_and_score,
        estimate=settings.estimate_seconds,
        summary=run_summary,
        redo=redo,
        progress=progress,
        shard=shard,
        stacking=Stacking(stack_key, max_stack, train_group) if max_stack > 1 else None,
    )


def rescore_frontier(
    settings: FrontierSettings,
    out: str | Path,
    *,
    loader: Callable[..., Dataset] = load_dataset,
) -> list[dict[str, Any]]:
    """Score the finished runs again from their run directories (no training): after a new code
    choice or a change in the scores; each row keeps its training time.  Return all rows."""
    out = Path(out)
    store = results_store(out)
    store.check_settings(settings.record(), PINNED)
    rows = {row["id"]: row for row in store.rows()}
    datasets: dict[str, Dataset] = {}
    for spec in settings.runs():
        run_dir = out / "runs" / spec.id
        if spec.id not in rows or not (run_dir / CONFIG_FILE).is_file():
            continue
        if spec.dataset not in datasets:
            directory = settings.data_dirs.get(spec.dataset)
            datasets[spec.dataset] = loader(spec.dataset, data_dir=directory)
        model = load(run_dir)
        store.append({**rows[spec.id], **score_run(model, datasets[spec.dataset], settings)})
    return store.rows()


def run_summary(row: dict[str, Any]) -> str:
    probe = row.get("probe")
    return (
        f"{row['nonzeros']:.1f} non-zeros, SSE {row['sse']:.2f}"
        + ("" if probe is None else f", probe {100 * probe:.1f} %")
        + f", {row['dead_latents']} dead latents"
    )
