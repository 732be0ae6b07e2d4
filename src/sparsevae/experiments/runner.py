"""The loop every experiment shares: skip finished runs, train and score the rest, append rows.

An experiment declares its runs (anything with an ``id``), a function that trains and scores one
run and returns its row, and optionally a cost estimate per run; :func:`run_pending` does the
rest: it states the expected cost, keeps a progress bar over runs, and appends each row to the
:class:`~sparsevae.experiments.results.ResultsStore` as the run finishes, so an interrupted sweep
resumes where it stopped.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Sequence
from pathlib import Path
from typing import Any, TypeVar

import torch
from tqdm.auto import tqdm

from ..errors import CheckpointError, RunDirectoryError
from ..models import SparseVAEModel
from ..training import TrainConfig, Trainer, prepare_run_dir
from ..training.checkpoints import CONFIG_FILE, STATE_FILE
from .cost import Run, cost_statement
from .results import ResultsStore

R = TypeVar("R", bound=Run)


def run_pending(
    name: str,
    runs: Sequence[R],
    store: ResultsStore,
    train_and_score: Callable[[R], dict[str, Any]],
    *,
    estimate: Callable[[R], float] | None = None,
    summary: Callable[[dict[str, Any]], str] | None = None,
    redo: bool | Collection[str] = False,
    progress: bool = True,
) -> list[dict[str, Any]]:
    """Train and score every run without a row in ``store`` (and those named by ``redo``, or all
    with ``redo=True``), appending each row as it finishes; return all rows of the store.

    A row is ``{store.key: run.id, **train_and_score(run)}`` plus ``seconds``, the run's wall
    time, unless ``train_and_score`` measured it itself.
    """
    done = store.finished()
    again = {r.id for r in runs} if redo is True else set(redo or ())
    pending = [r for r in runs if r.id not in done or r.id in again]
    print(cost_statement(name, runs, pending, store.rows(), estimate, store.key), flush=True)
    bar = tqdm(
        total=len(runs),
        initial=len(runs) - len(pending),
        desc=f"{name} sweep",
        unit="run",
        disable=not progress,
        dynamic_ncols=True,
    )
    try:
        for run in pending:
            bar.set_postfix_str(run.id)
            started = time.perf_counter()
            row = {store.key: run.id, **train_and_score(run)}
            row.setdefault("seconds", round(time.perf_counter() - started, 1))
            store.append(row)
            bar.update(1)
            if progress and summary is not None:
                tqdm.write(f"{run.id}: {summary(row)}")
    finally:
        bar.close()
    return store.rows()


def train_or_resume(
    build: Callable[[], SparseVAEModel],
    config: TrainConfig,
    run_dir: Path,
    data_info: dict[str, Any],
    train_x: torch.Tensor,
    *,
    progress: bool = False,
) -> SparseVAEModel:
    """Train a fresh ``build()`` in ``run_dir``, or resume the run an interrupted sweep left
    there (a checkpoint that cannot be resumed — torn, other settings — is trained afresh)."""
    if (run_dir / CONFIG_FILE).is_file() and (run_dir / STATE_FILE).is_file():
        model = build()
        trainer = Trainer(model, config, run_dir=run_dir, data_info=data_info, progress=progress)
        try:
            trainer.fit(train_x, resume=True)
            return model
        except (RunDirectoryError, CheckpointError):
            pass
    prepare_run_dir(run_dir, overwrite=True)
    model = build()
    Trainer(model, config, run_dir=run_dir, data_info=data_info, progress=progress).fit(train_x)
    return model
