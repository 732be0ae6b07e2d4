"""The loop every experiment shares: skip finished runs, train and score the rest, append rows.

An experiment declares its runs (anything with an ``id``), a function that trains and scores one
run and returns its row, and optionally a cost estimate per run; :func:`run_pending` does the
rest: it states the expected cost, keeps a progress bar over runs, and appends each row to the
:class:`~sparsevae.experiments.results.ResultsStore` as the run finishes, so an interrupted sweep
resumes where it stopped.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import torch
from tqdm.auto import tqdm

from ..errors import CheckpointError, ConfigError, RunDirectoryError
from ..models import SparseVAEModel
from ..training import TrainConfig, Trainer, prepare_run_dir
from ..training.checkpoints import CONFIG_FILE, STATE_FILE
from .cost import Run, cost_statement
from .results import ResultsStore
from .stacking import Stacking

R = TypeVar("R", bound=Run)


@dataclass(frozen=True)
class Shard:
    """Part ``index`` (from 1) of ``count``: one of ``count`` processes or array jobs that share
    a sweep's ``--out``, each training every ``count``-th run of the grid, so that every run is
    trained exactly once and all rows land in the one results store."""

    index: int
    count: int

    def __post_init__(self) -> None:
        if not 1 <= self.index <= self.count:
            raise ConfigError(f"--shard I/N needs 1 ≤ I ≤ N, got {self.index}/{self.count}")

    @classmethod
    def parse(cls, text: str) -> Shard:
        """``"I/N"``, e.g. ``"2/4"``."""
        index, _, count = text.partition("/")
        try:
            numbers = int(index), int(count)
        except ValueError:
            raise ConfigError(f"--shard expects I/N such as 2/4, got {text!r}") from None
        return cls(*numbers)

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> Shard | None:
        """The torchrun world (``RANK`` of ``WORLD_SIZE`` processes), or None outside one."""
        if "RANK" not in environ or "WORLD_SIZE" not in environ:
            return None
        return cls(int(environ["RANK"]) + 1, int(environ["WORLD_SIZE"]))

    def select(self, runs: Sequence[R]) -> list[R]:
        """This shard's runs: the grid's runs number ``index``, ``index + count``, …"""
        return [run for position, run in enumerate(runs) if position % self.count == self.index - 1]


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
    shard: Shard | None = None,
    stacking: Stacking[R] | None = None,
) -> list[dict[str, Any]]:
    """Train and score every run without a row in ``store`` (and those named by ``redo``, or all
    with ``redo=True``), appending each row as it finishes; return all rows of the store.  With
    ``shard``, only that shard's part of ``runs``; with ``stacking``, the pending runs in its
    groups, each group trained by ``stacking.train`` before its runs are scored.

    A row is ``{store.key: run.id, **train_and_score(run)}`` plus ``seconds``, the run's wall
    time, unless ``train_and_score`` measured it itself.
    """
    if shard is not None:
        runs = shard.select(runs)
        name = f"{name} (shard {shard.index}/{shard.count})"
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
        for group in stacking.groups(pending) if stacking else [[run] for run in pending]:
            if stacking is not None:
                bar.set_postfix_str(f"{group[0].id} (stack of {len(group)})")
                stacking.train(group)
            for run in group:
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
