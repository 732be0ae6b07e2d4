"""The training loop: ``Trainer.fit`` → ``run_epoch`` → ``step``.

Batches come from :mod:`.batches` (tensors on the device, or read on demand), Adam is fused, and
nothing reads back to the host inside an epoch except the progress bar and the non-finite monitor
every ``CHECK_EVERY`` batches; several processes train one model through :mod:`.distributed`.

Reliability: checkpoints are atomic and self-contained (weights, optimiser, RNG, loop position), so
a run killed at any instant resumes from its last checkpoint exactly as if never interrupted (CPU);
Ctrl-C saves a mid-epoch checkpoint; a non-finite loss or gradient stops training with the epoch
and the term named (``nan_policy="stop"``) or skips the batch (``"skip"``).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any, NoReturn

import torch
from tqdm.auto import tqdm

from ..batching import eval_mode, iter_batches
from ..data.lazy import LazyImages
from ..errors import ConfigError, DataError, RunDirectoryError, TrainingError
from ..models import SparseVAEModel
from . import checkpoints as ckpt
from .averaging import WeightAverage, averages_swapped_in
from .batches import (
    Batch,
    BatchSource,
    InMemoryBatches,
    StreamedBatches,
    global_batch_size,
)
from .config import TrainConfig, optimizer_for, resolve_device
from .distributed import SINGLE, World
from .epoch import EpochRun
from .inputs import as_images, as_labels
from .monitor import CHECK_EVERY
from .progress import epoch_line, progress_bar, write_curves
from .state import load_training_state, save_training_state
from .step import StepResult, TrainingStep
from .stopping import (
    CLI_REMEDIES,
    CtrlC,
    Remedies,
    TrainingInterrupted,
    advice,
    what_is_kept,
)

EpochCallback = Callable[[dict[str, Any]], None]
Pair = Batch  # examples and their labels (or None)
INIT_EXAMPLES = 16_384  # examples read on demand that a data-dependent initialisation sees


class Trainer:
    """Trains a model on tensors (or examples read on demand); writes a run directory when
    ``run_dir`` is given.

    With a run directory, Ctrl-C (SIGINT, main thread only) finishes the current batch, saves a
    checkpoint and raises :class:`TrainingInterrupted`; a second Ctrl-C aborts at once.
    ``remedies`` words the advice of a non-finite stop for the caller's interface.  ``progress``
    shows a progress bar and, unless ``epoch_lines`` says otherwise, a line per epoch (with the
    schedule values too when ``verbose``).

    With a ``world`` of several processes (data-parallel training, see :mod:`.distributed`) each
    process trains on its slice of every global batch and process 0 alone writes the run
    directory, reports and calls the callbacks.
    """

    def __init__(
        self,
        model: SparseVAEModel,
        config: TrainConfig,
        *,
        run_dir: str | Path | None = None,
        data_info: dict[str, Any] | None = None,
        progress: bool = True,
        callbacks: Sequence[EpochCallback] = (),
        remedies: Remedies = CLI_REMEDIES,
        epoch_lines: bool | None = None,
        verbose: bool = False,
        world: World = SINGLE,
    ) -> None:
        self.model = model
        self.config = config
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.world = world
        self.writes = self.run_dir is not None and world.is_main  # this process writes the run
        self.data_info = data_info or {}
        self.show_progress = progress and world.is_main
        self.epoch_lines = self.show_progress if epoch_lines is None else epoch_lines
        self.epoch_lines = self.epoch_lines and world.is_main
        self.verbose = verbose
        self.callbacks = list(callbacks) if world.is_main else []
        self.remedies = remedies
        self.device = world.device(resolve_device(config.device))
        self.history: list[dict[str, Any]] = []
        self.optimizer: torch.optim.Optimizer | None = None  # the last fit's, for callers to reuse
        self.averages: WeightAverage | None = None  # the last fit's weight averages (--ema)
        self.stepper: TrainingStep | None = None  # the last fit's step (optimiser, averages)
        self.steps_done = 0  # optimiser steps taken (skipped batches included)
        self.skipped_batches = 0  # batches dropped by nan_policy="skip" (all epochs of this fit)
        # The launcher passes a terminal's Ctrl-C on to its processes: the echo is the same one.
        self._ctrl_c = CtrlC(2.0 if world.distributed else 0.0, announce=world.is_main)

    # -- fit → run_epoch → step ------------------------------------------------------------------
    def fit(
        self,
        train_x: Any,
        test_x: Any = None,
        train_y: Any = None,
        test_y: Any = None,
        *,
        resume: bool = False,
    ) -> list[dict[str, Any]]:
        """Train for ``config.epochs`` epochs (from the run directory's checkpoint with
        ``resume``); return the per-epoch history."""
        train, test = self._on_device(train_x, test_x, train_y, test_y)
        # PCA-like baselines are fitted in closed form: no gradient steps.
        if self.model.fits_in_closed_form:
            return self._fit_closed_form(train[0], test)
        self.world.join(self.device)
        kept = functools.partial(what_is_kept, self.run_dir)  # read when a peer is lost
        with self._ctrl_c.caught(self.run_dir is not None), self.world.peers_watched(kept):
            start_epoch, interrupted = self._begin(train[0], resume)
            batches = self._batches(*train)
            for epoch in range(start_epoch, self.config.epochs):
                started = time.perf_counter()
                run = self.run_epoch(batches, epoch, interrupted if epoch == start_epoch else None)
                self._end_epoch(run, test, started)
        return self._finish()

    def fit_epoch(self, train_x: Any) -> dict[str, Any]:
        """One more epoch over ``train_x`` (unlabelled), continuing the optimiser, schedules and
        weight averages of the last ``fit`` or ``fit_epoch`` (the first call starts afresh);
        return its record.  The schedules run over ``config.epochs`` such epochs."""
        if self.model.fits_in_closed_form:
            raise ConfigError(
                f"model {self.model.kind!r} is fitted in closed form, not epoch by epoch; use fit"
            )
        (x, _), _ = self._on_device(train_x)
        if self.stepper is None:
            self._begin(x, resume=False)
        elif self.averages is not None and self.averages.raw:
            self.averages.restore_raw()  # the model holds the average; training goes on from the raw
        started = time.perf_counter()
        batches = self._batches(x, None)
        self._end_epoch(self.run_epoch(batches, len(self.history)), None, started)
        self._finish()
        return self.history[-1]

    def run_epoch(
        self, batches: BatchSource, epoch: int, interrupted: dict[str, Any] | None = None
    ) -> EpochRun:
        """Step through ``epoch``'s batches (the rest of them for an ``interrupted`` one)."""
        steps = len(batches)
        watch = self.config.nan_policy == "stop"
        run = EpochRun.begin(
            epoch, steps, self.steps_done, self.device, watch=watch, interrupted=interrupted
        )
        bar = progress_bar(run, self.config.epochs, self.show_progress)
        for b, (xb, yb) in enumerate(batches.epoch(epoch, run.first_batch), run.first_batch):
            if self._interrupt_requested(b):
                bar.close()
                self._stop_on_interrupt(run, b)
            size = global_batch_size(batches.examples, self.config.batch_size, b)
            weight = self.world.loss_weight(size)
            run.add(self.step(xb, yb, run, weight), self.world.share(size))
            if self.show_progress and (b % CHECK_EVERY == 0 or b == steps - 1):
                bar.set_postfix({k: f"{v:.2f}" for k, v in run.means().items()}, refresh=False)
            if watch and b % CHECK_EVERY == CHECK_EVERY - 1:
                self._stop_if_non_finite(run)
            bar.update(1)
        bar.close()
        self._stop_if_non_finite(run)
        if run.used == 0:
            raise TrainingError(
                f"every batch of epoch {epoch + 1} had a non-finite loss or gradient and was "
                f"skipped; {self._advice()}"
            )
        return run

    def step(
        self, x: torch.Tensor, y: torch.Tensor | None, run: EpochRun, weight: float = 1.0
    ) -> StepResult:
        """One optimiser step on the batch ``(x, y)`` of ``run`` (``weight``: see TrainingStep)."""
        assert self.stepper is not None, "fit or fit_epoch starts the optimiser"
        at = self.stepper.progress(self.steps_done, run.steps)
        result = self.stepper(x, y, at, run.monitor, weight)
        self.steps_done += 1
        return result

    def _batches(self, x: torch.Tensor | LazyImages, y: torch.Tensor | None) -> BatchSource:
        cfg, part = self.config, self.world.part
        if isinstance(x, LazyImages):  # larger than memory: read in worker processes
            return StreamedBatches(x, y, cfg.batch_size, cfg.seed, part, device=self.device)
        return InMemoryBatches(x, y, cfg.batch_size, cfg.seed, part)

    # -- starting and ending ---------------------------------------------------------------------
    def _on_device(
        self, train_x: Any, test_x: Any = None, train_y: Any = None, test_y: Any = None
    ) -> tuple[Pair, Pair | None]:
        """The data checked, shaped and on the device (labels only for conditional models); the
        model on the device in training mode."""
        model = self.model
        x = as_images(train_x, model.input_shape, "training data")
        tx = None if test_x is None else as_images(test_x, model.input_shape, "test data")
        if isinstance(x, LazyImages) and model.fits_in_closed_form:
            raise DataError(
                f"model {model.kind!r} is fitted in closed form on data in memory; this data set "
                "is read on demand (larger than --max-memory)"
            )
        y = as_labels(train_y, len(x), "training data")
        ty = None if tx is None else as_labels(test_y, len(tx), "test data")
        if model.num_classes and (y is None or (tx is not None and ty is None)):
            raise DataError(f"model {model.kind!r} is conditional and needs labelled data")
        if not model.num_classes:
            y = ty = None  # unconditional models ignore labels
        model.to(self.device).train()

        def moved(t: Any) -> Any:  # data read on demand move batch by batch
            return t if t is None or isinstance(t, LazyImages) else t.to(self.device)

        return (moved(x), moved(y)), (None if tx is None else (moved(tx), moved(ty)))

    def _begin(self, train_x: torch.Tensor, resume: bool) -> tuple[int, dict[str, Any] | None]:
        """A fresh optimiser (and weight averages), then either the checkpoint's state or a seeded
        start; return the first epoch and, when resuming mid-epoch, its saved progress."""
        cfg, model = self.config, self.model
        self.optimizer = optimizer_for(model, cfg.optimizer, cfg.lr)
        self.averages = WeightAverage(model, cfg.ema_decay) if cfg.ema_decay else None
        begun = self._resume() if resume else self._start(train_x)
        replica = self.world.replicate(model, self.device) if self.world.distributed else None
        self.stepper = TrainingStep(
            model, self.optimizer, cfg, self.averages, forward=replica, world=self.world
        )
        if self.world.rank:  # each process draws its own noise; process 0 that of a lone run
            torch.manual_seed(cfg.seed * 1_000_003 + self.world.rank * 7_919 + self.steps_done)
        return begun

    def _start(self, train_x: torch.Tensor) -> tuple[int, None]:
        """A seeded start: data-dependent initialisation (e.g. LLGAE from a mixture of PCAs)."""
        torch.manual_seed(self.config.seed)
        if self.writes:
            assert self.run_dir is not None
            self.run_dir.mkdir(parents=True, exist_ok=True)
        # Of data read on demand, the first examples (LLGAE's mixture-of-PCAs start).
        start = train_x[:INIT_EXAMPLES] if isinstance(train_x, LazyImages) else train_x
        self.model.initialise_from_data(start.to(self.device))
        if self.averages is not None:
            self.averages.reset()  # from the initialised weights, not the constructor's
        return 0, None

    def _resume(self) -> tuple[int, dict[str, Any] | None]:
        if self.run_dir is None:
            raise RunDirectoryError("resume needs a run directory")
        assert self.optimizer is not None
        if self.writes:
            ckpt.remove_stale_temporaries(self.run_dir)
        state = load_training_state(
            self.run_dir, self.model, self.optimizer, self.device, self.averages
        )
        epoch, self.steps_done = int(state["epoch"]), int(state["step"])
        self.history = [r for r in ckpt.read_metrics(self.run_dir) if r["epoch"] <= epoch]
        if self.writes:
            ckpt.rewrite_metrics(self.run_dir, self.history)
        if not int(state.get("batch", 0)):
            return epoch, None
        # Mid-epoch: the saved loss sums are all processes' together; process 0 carries them.
        if self.world.is_main or state.get("sums") is None:
            return epoch, state
        return epoch, {**state, "sums": [0.0] * len(state["sums"]), "used": 0}

    def _end_epoch(self, run: EpochRun, test: Pair | None, started: float) -> None:
        """The epoch's record: logged, appended to the history and metrics, checkpointed."""
        record = self._epoch_record(run, test)
        record["seconds"] = round(time.perf_counter() - started, 3)
        self.history.append(record)
        self._report(record)
        epoch = run.epoch + 1
        if self.writes:
            assert self.run_dir is not None
            ckpt.append_metrics(self.run_dir, record)
            if epoch % self.config.checkpoint_every == 0 or epoch == self.config.epochs:
                self.save_checkpoint({"epoch": epoch, "step": self.steps_done})
        for callback in self.callbacks:
            callback(record)

    def _epoch_record(self, run: EpochRun, test: Pair | None) -> dict[str, Any]:
        assert self.stepper is not None
        record: dict[str, Any] = {"epoch": run.epoch + 1, "step": self.steps_done}
        record.update({f"train/{k}": v for k, v in run.combined(self.world).means().items()})
        if self.config.nan_policy == "skip":
            record["skipped_batches"] = run.skipped
            self.skipped_batches += run.skipped - run.skipped_before
        if test is not None and self.world.is_main:
            with averages_swapped_in(self.averages):
                record.update({f"test/{k}": v for k, v in self.evaluate(*test).items()})
        record.update(run.schedule.record())
        record["kl_weight"] = self.stepper.progress(self.steps_done, run.steps).kl_weight
        return record

    def _finish(self) -> list[dict[str, Any]]:
        if self.averages is not None:  # the averaged weights are the result
            self.averages.finish()
        self.model.eval()
        self._write_curves()
        return self.history

    def _write_curves(self) -> None:
        if self.writes and self.history:
            assert self.run_dir is not None
            kind, name = self.model.kind, self.data_info.get("name", "")
            write_curves(self.history, self.run_dir / ckpt.TRAINING_CURVES, kind, name)

    def _fit_closed_form(self, train_x: torch.Tensor, test: Pair | None) -> list[dict[str, Any]]:
        """Models fitted in closed form (``model.fit_closed_form(x)``): one record, one checkpoint."""
        started = time.perf_counter()
        self.model.fit_closed_form(train_x)
        record: dict[str, Any] = {"epoch": 1, "step": 0}
        record.update({f"train/{k}": v for k, v in self.evaluate(train_x).items()})
        if test is not None:
            record.update({f"test/{k}": v for k, v in self.evaluate(*test).items()})
        record["seconds"] = round(time.perf_counter() - started, 3)
        self.history = [record]
        self._report(record)
        if self.writes:
            assert self.run_dir is not None
            ckpt.append_metrics(self.run_dir, record)
            ckpt.write_model(self.run_dir, self.model, self.data_info, asdict(self.config))
        for callback in self.callbacks:
            callback(record)
        self.model.eval()
        self._write_curves()
        return self.history

    # -- stopping: non-finite values and Ctrl-C ----------------------------------------------------
    def _advice(self) -> str:
        return advice(self.config, self.run_dir, self.model.is_variational, self.remedies)

    def _stop_if_non_finite(self, run: EpochRun) -> None:
        where = run.non_finite()
        if self.world.any(where is not None, self.device):  # all processes stop, or none
            where = where or f"a non-finite value in another process than {self.world}"
            raise TrainingError(f"{where}; training stopped and {self._advice()}")

    def _interrupt_requested(self, batch: int) -> bool:
        """Ctrl-C: every batch alone; every ``CHECK_EVERY`` batches, agreed by all processes."""
        if not self.world.distributed:
            return self._ctrl_c.requested
        return batch % CHECK_EVERY == 0 and self.world.any(self._ctrl_c.requested, self.device)

    def _stop_on_interrupt(self, run: EpochRun, batch: int) -> NoReturn:
        """Save a mid-epoch checkpoint (unless the weights went non-finite) and stop."""
        self._stop_if_non_finite(run)
        if self.run_dir is None:  # no handler is installed without a run directory
            raise KeyboardInterrupt
        progress = run.combined(self.world).progress(batch, self.steps_done)
        if self.writes:
            self.save_checkpoint(progress)
        raise TrainingInterrupted(
            f"interrupted in epoch {run.epoch + 1} after batch {batch} of {run.steps}; checkpoint "
            f"saved. Continue with: sparsevae train --resume {self.run_dir}"
            + (f" --nproc {self.world.size}" if self.world.distributed else ""),
            self.run_dir,
            run.epoch,
            batch,
        )

    # -- evaluation, checkpoints, logging ----------------------------------------------------------
    def evaluate(self, x: torch.Tensor, y: torch.Tensor | None = None) -> dict[str, float]:
        """Loss terms on ``x`` in eval mode (exact posterior draws, full KL weight), per example."""
        sums: torch.Tensor | None = None
        names: list[str] = []
        with eval_mode(self.model):
            batches = iter_batches(x, y, batch_size=self.config.eval_batch_size, device=self.device)
            for xb, yb in batches:
                out = self.model.loss(xb, yb)
                terms = torch.stack([t.detach() for t in out.terms.values()]) * len(xb)
                names = list(out.terms)
                sums = terms if sums is None else sums + terms
        assert sums is not None
        return dict(zip(names, (sums / len(x)).tolist(), strict=True))

    def save_checkpoint(self, progress: dict[str, Any]) -> None:
        """Training state first (self-contained, what resume reads), then the loadable model."""
        assert self.run_dir is not None and self.optimizer is not None
        averages = self.averages
        save_training_state(self.run_dir, self.model, self.optimizer, progress, averages)
        with averages_swapped_in(averages):
            ckpt.write_model(self.run_dir, self.model, self.data_info, asdict(self.config))

    def _report(self, record: dict[str, Any]) -> None:
        if self.epoch_lines:
            tqdm.write(epoch_line(record, self.config.epochs, self.verbose))
