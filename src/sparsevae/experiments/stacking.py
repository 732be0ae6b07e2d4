"""Sweeps that train runs of one shape together (``--max-stack K``): the grouping and the
stacked counterpart of :func:`~.runner.train_or_resume`.

:func:`~.runner.run_pending` cuts the pending runs into groups of up to K runs that share a key
(data set, model kind, shape: what :class:`~sparsevae.training.StackedTrainer` needs equal), trains
each group at once, then scores its runs one by one and appends their rows as before.  Each run keeps
its own run directory, so an interrupted group resumes: runs whose checkpoints stand at the same
point resume together, the others (a kill between two runs' checkpoint writes) in their own stacks.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

import torch

from ..errors import CheckpointError, ConfigError, RunDirectoryError
from ..models import SparseVAEModel
from ..training import StackedTrainer, TrainConfig, prepare_run_dir
from ..training.checkpoints import CONFIG_FILE, STATE_FILE
from .cost import Run

R = TypeVar("R", bound=Run)
DEFAULT_MAX_STACK = 8


@dataclass(frozen=True)
class Stacking(Generic[R]):
    """How a sweep stacks its runs: runs with equal ``key`` can share a stack of at most
    ``size``; ``train`` trains one group (before :func:`~.runner.run_pending` scores its runs)."""

    key: Callable[[R], Hashable]
    size: int
    train: Callable[[list[R]], None]

    def __post_init__(self) -> None:
        if self.size < 1:
            raise ConfigError(f"--max-stack must be at least 1, got {self.size}")

    def groups(self, runs: Sequence[R]) -> list[list[R]]:
        """``runs`` in groups of one key, at most ``size`` each, in the order of their first run."""
        by_key: dict[Hashable, list[R]] = {}
        for run in runs:
            by_key.setdefault(self.key(run), []).append(run)
        return [
            same[i : i + self.size]
            for same in by_key.values()
            for i in range(0, len(same), self.size)
        ]


def saved_position(run_dir: Path) -> tuple[int, int, int] | None:
    """(epoch, batch, step) of ``run_dir``'s training checkpoint, or None when it has none that
    could be resumed."""
    from safetensors import SafetensorError, safe_open

    if not (run_dir / CONFIG_FILE).is_file() or not (run_dir / STATE_FILE).is_file():
        return None
    try:
        with safe_open(run_dir / STATE_FILE, framework="pt") as f:
            progress = json.loads((f.metadata() or {})["progress"])
        return int(progress["epoch"]), int(progress.get("batch", 0)), int(progress["step"])
    except (SafetensorError, OSError, KeyError, ValueError, TypeError):
        return None


def train_stacked_or_resume(
    builds: Sequence[Callable[[], SparseVAEModel]],
    configs: Sequence[TrainConfig],
    run_dirs: Sequence[Path],
    data_infos: Sequence[dict[str, Any]],
    train_x: torch.Tensor,
    *,
    progress: bool = False,
) -> list[SparseVAEModel]:
    """Train the runs together in their ``run_dirs``, resuming those an interrupted sweep left
    there (runs saved at one point together; a checkpoint that cannot be resumed is trained
    afresh); return the trained models in the order of ``builds``."""
    by_position: dict[tuple[int, int, int] | None, list[int]] = {}
    for i, run_dir in enumerate(run_dirs):
        by_position.setdefault(saved_position(run_dir), []).append(i)
    models: dict[int, SparseVAEModel] = {}
    for position, members in by_position.items():

        def stack(resume: bool, members: list[int] = members) -> None:
            built = [builds[i]() for i in members]
            StackedTrainer(
                built,
                [configs[i] for i in members],
                run_dirs=[run_dirs[i] for i in members],
                data_infos=[data_infos[i] for i in members],
                progress=progress,
                epoch_lines=progress,
            ).fit(train_x, resume=resume)
            models.update(zip(members, built, strict=True))

        try:
            if position is not None:
                stack(resume=True)
                continue
        except (RunDirectoryError, CheckpointError):
            pass
        for i in members:
            prepare_run_dir(run_dirs[i], overwrite=True)
        stack(resume=False)
    return [models[i] for i in range(len(builds))]
