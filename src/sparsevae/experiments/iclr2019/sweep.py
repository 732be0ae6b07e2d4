"""The ICLR 2019 sweep: train (or resume) and evaluate each run, one results row per run.

Each finished run appends one row to ``OUT/results.jsonl`` (and rewrites ``results.csv``), so an
interrupted sweep resumes where it stopped; an interrupted run resumes from its last epoch
checkpoint.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ...batching import private_rng
from ...data import Dataset, data_record, load_dataset
from ...errors import RunDirectoryError
from ...evaluation import evaluate_model, iwae_summary, run_probes
from ...models import SparseVAEModel, build_model
from ...models.vae import relaxed_draws
from ...training import TrainConfig
from ..results import ResultsStore
from ..runner import Shard, run_pending, train_or_resume
from ..stacking import DEFAULT_MAX_STACK, Stacking, train_stacked_or_resume
from .protocol import CODES, CSV_COLUMNS, NAME, PINNED, RELAXED_SHARPNESS, RunSpec, SweepSettings

EVALUATED = ("neg_elbo", "recon", "kl", "sparsity", "active_elements_mean", "active_units")


def results_store(out: str | Path) -> ResultsStore:
    return ResultsStore(out, key="id", columns=CSV_COLUMNS)


def read_results(out: str | Path) -> list[dict[str, Any]]:
    """Rows of ``OUT/results.jsonl``; a torn last line (killed mid-write) is ignored."""
    return results_store(out).rows()


# -- one run ---------------------------------------------------------------------------------------
def build_run_model(spec: RunSpec, data: Dataset, settings: SweepSettings) -> SparseVAEModel:
    """The untrained model of ``spec``, initialised from its seed (so the run is the same
    whatever ran before it in the process, alone or in a stack)."""
    options: dict[str, Any] = {
        "input_shape": list(data.shape),
        "latent_dim": spec.latent_dim,
        "hidden": [settings.hidden],
        "likelihood": "bernoulli",
    }
    if spec.kind == "vsc":
        options["alpha"] = spec.alpha
        options["sharpness_schedule"] = settings.c_schedule
        options["code"] = "sparse-mean"  # the paper's code, γ·μ, whatever VSC's default
    with private_rng(spec.seed):
        return build_model(spec.kind, **options)


def train_config(spec: RunSpec, settings: SweepSettings) -> TrainConfig:
    return TrainConfig(
        epochs=settings.epochs,
        batch_size=settings.batch_size,
        lr=settings.lr,
        seed=spec.seed,
        device=settings.device,
        kl_warmup_epochs=settings.kl_warmup_epochs,
        ema_decay=settings.ema_decay,
    )


def stack_key(spec: RunSpec) -> tuple[str, str, int]:
    """Runs that can be trained in one stack: one data set, model kind and J (α, seed free)."""
    return spec.dataset, spec.kind, spec.latent_dim


def train_one(
    spec: RunSpec,
    data: Dataset,
    settings: SweepSettings,
    run_dir: Path,
    data_info: dict[str, Any],
    *,
    progress: bool = False,
) -> tuple[SparseVAEModel, float]:
    """Train (or resume) one run in ``run_dir``; return the model and the training seconds."""
    train_x = data.first_train(settings.train_limit).train_x
    started = time.perf_counter()
    model = train_or_resume(
        lambda: build_run_model(spec, data, settings),
        train_config(spec, settings),
        run_dir,
        data_info,
        train_x,
        progress=progress,
    )
    return model, time.perf_counter() - started


def train_stack(
    specs: list[RunSpec],
    data: Dataset,
    settings: SweepSettings,
    out: Path,
    data_info: dict[str, Any],
    *,
    progress: bool = False,
) -> dict[str, tuple[SparseVAEModel, float]]:
    """Train (or resume) ``specs`` together, each in its run directory; return each run's model
    and its share of the training seconds."""
    started = time.perf_counter()
    models = train_stacked_or_resume(
        [functools.partial(build_run_model, spec, data, settings) for spec in specs],
        [train_config(spec, settings) for spec in specs],
        [out / "runs" / spec.id for spec in specs],
        [data_info] * len(specs),
        data.first_train(settings.train_limit).train_x,
        progress=progress,
    )
    share = (time.perf_counter() - started) / len(specs)
    return {spec.id: (model, share) for spec, model in zip(specs, models, strict=True)}


def evaluate_one(
    model: SparseVAEModel, data: Dataset, settings: SweepSettings, seed: int = 0
) -> dict[str, Any]:
    """Test −ELBO terms, sparsity, probes on both codes (one for the VAE, where they coincide)."""
    metrics = evaluate_model(model, data.test_x, data.test_y, seed=seed)
    row: dict[str, Any] = {key: metrics.get(key) for key in (*EVALUATED, "recon_sq_error")}
    if model.kind == "vsc":
        with relaxed_draws(model, sharpness=RELAXED_SHARPNESS):
            relaxed = evaluate_model(model, data.test_x, seed=seed)
        row["neg_elbo_relaxed_c50"] = relaxed["neg_elbo"]
    if settings.probes and data.train_y is not None and data.test_y is not None:
        row.update(probe_accuracies(model, data, settings, seed))
    if settings.iwae_k:
        n = min(settings.iwae_examples or len(data.test_x), len(data.test_x))
        row.update(iwae_summary(model, data.test_x[:n], None, samples=settings.iwae_k))
    return row


def probe_accuracies(
    model: SparseVAEModel, data: Dataset, settings: SweepSettings, seed: int
) -> dict[str, float]:
    """``acc_CODE_PROBE`` for each probe on γ·μ and μ (the VAE's μ once, under both names)."""
    accuracies: dict[str, float] = {}
    for code in CODES if model.kind == "vsc" else ("sparse",):
        result = run_probes(
            model,
            data.train_x,
            data.train_y,
            data.test_x,
            data.test_y,
            probes=settings.probes,
            n_labels=settings.probe_labels,
            code=code,
            seed=seed,
            num_classes=data.num_classes or None,
        )
        for probe in settings.probes:
            accuracies[f"acc_{code}_{probe}"] = result[f"probe_{probe}_accuracy"]
    if model.kind != "vsc":  # a VAE's code is its posterior mean μ: one number serves both
        for probe in settings.probes:
            accuracies[f"acc_mu_{probe}"] = accuracies[f"acc_sparse_{probe}"]
    return accuracies


def score_run(
    spec: RunSpec, model: SparseVAEModel, data: Dataset, settings: SweepSettings, seconds: float
) -> dict[str, Any]:
    """The results row of a run trained in ``seconds``."""
    started = time.perf_counter()
    row: dict[str, Any] = {
        "id": spec.id,
        "dataset": spec.dataset,
        "model": spec.label,
        "kind": spec.kind,
        "alpha": spec.alpha,
        "latent_dim": spec.latent_dim,
        "seed": spec.seed,
    }
    row.update(evaluate_one(model, data, settings, spec.seed))
    row["train_seconds"] = round(seconds, 1)
    row["eval_seconds"] = round(time.perf_counter() - started, 1)
    row["seconds"] = round(seconds + time.perf_counter() - started, 1)
    return row


# -- the sweep -------------------------------------------------------------------------------------
def run_sweep(
    settings: SweepSettings,
    out: str | Path,
    data_dirs: dict[str, str] | None = None,
    *,
    progress: bool = True,
    epoch_progress: bool = False,
    loader: Callable[..., Dataset] = load_dataset,
    shard: Shard | None = None,
    max_stack: int = DEFAULT_MAX_STACK,
) -> list[dict[str, Any]]:
    """Train and evaluate every run not yet in ``OUT/results.jsonl`` (with ``shard``, of that
    shard's part of the grid); return all rows.  Runs of one data set, kind and J are trained
    in stacks of up to ``max_stack`` (1: one at a time); a stacked run's ``train_seconds`` is its
    share of its stack's."""
    out = Path(out)
    store = results_store(out)
    refuse_unseeded_results(store)
    store.check_settings(settings.record(), PINNED)
    data_dirs = data_dirs or {}
    datasets: dict[str, tuple[Dataset, dict[str, Any]]] = {}
    stacked: dict[str, tuple[SparseVAEModel, float]] = {}  # trained by stacks, not yet scored

    def dataset_of(name: str) -> tuple[Dataset, dict[str, Any]]:
        if name not in datasets:
            data = loader(name, data_dir=data_dirs.get(name))
            datasets[name] = data, data_record(name, data, data_dir=data_dirs.get(name))
        return datasets[name]

    def train_group(specs: list[RunSpec]) -> None:
        if len(specs) > 1:  # a run alone is trained by train_and_score, as without stacking
            data, record = dataset_of(specs[0].dataset)
            stacked.update(train_stack(specs, data, settings, out, record, progress=epoch_progress))

    def train_and_score(spec: RunSpec) -> dict[str, Any]:
        data, record = dataset_of(spec.dataset)
        if spec.id in stacked:
            model, train_seconds = stacked.pop(spec.id)
        else:
            run_dir = out / "runs" / spec.id
            model, train_seconds = train_one(
                spec, data, settings, run_dir, record, progress=epoch_progress
            )
        return score_run(spec, model, data, settings, train_seconds)

    return run_pending(
        NAME,
        settings.runs(),
        store,
        train_and_score,
        estimate=settings.estimate_seconds,
        summary=run_summary,
        progress=progress,
        shard=shard,
        stacking=Stacking(stack_key, max_stack, train_group) if max_stack > 1 else None,
    )


def run_summary(row: dict[str, Any]) -> str:
    accuracy = row.get("acc_sparse_paper")
    return (
        f"−ELBO {row['neg_elbo']:.2f}  sparsity {row['sparsity']:.3f}"
        + ("" if accuracy is None else f"  paper-probe acc {100 * accuracy:.2f} %")
        + f"  ({row['train_seconds']:.0f} s)"
    )


def refuse_unseeded_results(store: ResultsStore) -> None:
    """Sweeps of sparsevae 0.1 kept one ``seed`` and no seed in their run ids: their rows are
    seed 0's only if that seed was 0."""
    saved = store.saved_settings() or {}
    if "seeds" not in saved and saved.get("seed", 0) != 0:
        raise RunDirectoryError(
            f"{store.out} holds results made with seed={saved['seed']} by an older sparsevae; "
            "use a new --out directory"
        )
