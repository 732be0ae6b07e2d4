"""Training K models of one shape at once: :class:`StackedTrainer`.

Sweeps train dozens of small models, and at batch 32 one small model leaves most of a machine
idle.  A stack trains K models of one kind and shape (different seeds, learning rates, and the
options their model lets differ: VSC's α and sharpness, β, an L1 weight) in one process: their
parameters are stacked (:mod:`.stacking`), the K losses run as one ``vmap`` with batched matrix
products, and one fused optimiser step and one weight-average update serve all K.

Each run is still the run it would be alone: its own data order (its seed's
:func:`~.batches.epoch_order`), its own noise (its own generator, seeded and saved as a solo run's
global one), its own optimiser moments, schedules, KL warm-up, learning rate, gradient clipping,
weight average, run directory, ``metrics.jsonl`` and checkpoints.  Everything per run that is not
a training step is done by a solo :class:`~.loop.Trainer` of that run (begin or resume, per-epoch
record and evaluation, checkpoint, finish), with the run's slice of the stack copied into its model
and optimiser first: a stacked run's directory loads with ``sparsevae.load`` and resumes with
``sparsevae train --resume`` like any other, and on the CPU its weights equal those of the run
trained alone up to float rounding (batched products sum in another order; tests/test_stacked.py).

Why stacked leaves rather than K modules stacked anew each step: one optimiser kernel and no copy
of the weights per step.  Why per-model generators rather than vmap's own randomness: vmap's
``"different"`` draws one (K, …) tensor from one generator, so no model would see the noise of its
solo run.  Not stackable: conditional and closed-form models, models whose loss draws noise other
than through :mod:`sparsevae.noise` (``model.stackable``), ``nan_policy="skip"`` (the stack steps
all K or none).  A non-finite value in any run stops the stack, naming the run.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, NoReturn

import torch
from tqdm.auto import tqdm

from ..errors import RunDirectoryError, TrainingError
from ..models import Schedule, SparseVAEModel
from .averaging import WeightAverage
from .batches import global_batches
from .config import TrainConfig, optimizer_for
from .epoch import EpochRun
from .loop import EpochCallback, Trainer
from .monitor import CHECK_EVERY, GRADIENT
from .stacking import (
    ModelStack,
    check_stackable,
    global_rng,
    load_stacked_optimizer_state,
    optimizer_state_of,
)
from .stopping import CtrlC, TrainingInterrupted

History = list[dict[str, Any]]


class StackedTrainer:
    """Trains ``models[k]`` as ``configs[k]`` says, in ``run_dirs[k]`` (optional), all at once.

    ``fit`` returns each run's history.  Ctrl-C saves every run's checkpoint after the current
    batch and raises :class:`TrainingInterrupted`; ``fit(resume=True)`` continues them all.
    """

    def __init__(
        self,
        models: Sequence[SparseVAEModel],
        configs: Sequence[TrainConfig],
        *,
        run_dirs: Sequence[str | Path | None] | None = None,
        data_infos: Sequence[dict[str, Any] | None] | None = None,
        progress: bool = True,
        epoch_lines: bool = False,
        callbacks: Sequence[Sequence[EpochCallback]] | None = None,
    ) -> None:
        check_stackable(models, configs)
        size = len(models)
        run_dirs = list(run_dirs) if run_dirs is not None else [None] * size
        data_infos = list(data_infos) if data_infos is not None else [None] * size
        callbacks = list(callbacks) if callbacks is not None else [()] * size
        self.trainers = [
            Trainer(m, c, run_dir=d, data_info=i, progress=False, epoch_lines=epoch_lines,
                    callbacks=cb)
            for m, c, d, i, cb in zip(models, configs, run_dirs, data_infos, callbacks, strict=True)
        ]  # fmt: skip
        self.config, self.device = configs[0], self.trainers[0].device
        self.show_progress = progress
        self.labels = [Path(d).name if d is not None else f"model {k + 1}"
                       for k, d in enumerate(run_dirs)]  # fmt: skip
        self.steps_done = 0
        self._ctrl_c = CtrlC()

    def fit(self, train_x: Any, test_x: Any = None, *, resume: bool = False) -> list[History]:
        """Train every run for ``config.epochs`` epochs (from their checkpoints with
        ``resume``); return the runs' per-epoch histories."""
        train, test = self.trainers[0]._on_device(train_x, test_x)
        for trainer in self.trainers[1:]:
            trainer.model.to(self.device).train()
        saving = any(t.run_dir is not None for t in self.trainers)
        with self._ctrl_c.caught(saving):
            start, interrupted = self._begin(train[0], resume)
            for epoch in range(start, self.config.epochs):
                started = time.perf_counter()
                first = interrupted if epoch == start else [None] * len(self.trainers)
                runs = self.run_epoch(train[0], epoch, first)
                self._end_epoch(runs, test, started)
        return self._finish()

    # -- starting, syncing, ending -----------------------------------------------------------------
    def _begin(self, x: torch.Tensor, resume: bool) -> tuple[int, list[dict[str, Any] | None]]:
        """Each run begun (or resumed) by its own trainer, with its own generator standing in for
        the global one; then the stack, its optimiser and weight average built from the runs'."""
        self.generators = [torch.Generator(self.device) for _ in self.trainers]
        starts = []
        for trainer, generator in zip(self.trainers, self.generators, strict=True):
            with global_rng(generator):
                starts.append(trainer._begin(x, resume))
        where = {(e, (i or {}).get("batch", 0), t.steps_done)
                 for (e, i), t in zip(starts, self.trainers, strict=True)}  # fmt: skip
        if len(where) > 1:
            raise RunDirectoryError(
                f"the runs of this stack were saved at different points (epoch, batch, step: "
                f"{sorted(where)}); resume them in smaller stacks or alone"
            )
        self.stack = ModelStack([t.model for t in self.trainers])
        cfg = self.config
        self.optimizer = optimizer_for(self.stack.params, cfg.optimizer, cfg.lr)
        load_stacked_optimizer_state(self.optimizer, [t.optimizer for t in self.trainers])
        self.averages = self._stacked_averages()
        self.steps_done = self.trainers[0].steps_done
        self.schedules = [Schedule() for _ in self.trainers]
        self._kl: tuple[tuple[float, ...], torch.Tensor] | None = None
        return starts[0][0], [i for _, i in starts]

    def _stacked_averages(self) -> WeightAverage | None:
        if not self.config.ema_decay:
            return None
        averages = WeightAverage(self.stack.params, self.config.ema_decay)
        runs = [t.averages for t in self.trainers]
        shadow = [torch.stack(parts) for parts in zip(*(a.shadow for a in runs if a), strict=True)]
        averages.load(shadow, runs[0].updates if runs[0] else 0)
        return averages

    def _sync(self, k: int) -> None:
        """Run ``k``'s weights, optimiser state and weight average copied out of the stack."""
        trainer = self.trainers[k]
        self.stack.store_into(k)
        assert trainer.optimizer is not None
        lr = trainer.config.lr * (self.schedules[k].lr_scale or 1.0)
        trainer.optimizer.load_state_dict(optimizer_state_of(self.optimizer, k, lr))
        if self.averages is not None and trainer.averages is not None:
            trainer.averages.load([s[k] for s in self.averages.shadow], self.averages.updates)
        trainer.steps_done = self.steps_done

    def _end_epoch(self, runs: list[EpochRun], test: Any, started: float) -> None:
        for k, (trainer, run) in enumerate(zip(self.trainers, runs, strict=True)):
            self._sync(k)
            with global_rng(self.generators[k]):  # evaluation draws from the run's generator
                trainer._end_epoch(run, test, started)

    def _finish(self) -> list[History]:
        for k, trainer in enumerate(self.trainers):
            self._sync(k)
            trainer._finish()
        return [trainer.history for trainer in self.trainers]

    # -- epochs and steps --------------------------------------------------------------------------
    def run_epoch(
        self, x: torch.Tensor, epoch: int, interrupted: list[dict[str, Any] | None]
    ) -> list[EpochRun]:
        """Step through ``epoch``'s batches (the rest of them for an ``interrupted`` one); return
        each run's :class:`EpochRun`."""
        steps = -(-len(x) // self.config.batch_size)
        runs = [EpochRun.begin(epoch, steps, self.steps_done, self.device, watch=False,
                               interrupted=part) for part in interrupted]  # fmt: skip
        watch = EpochRun.begin(epoch, steps, self.steps_done, self.device, watch=True,
                               interrupted=interrupted[0])  # fmt: skip
        sums = torch.stack([r.sums for r in runs]) if runs[0].names else None
        used = runs[0].used
        bar = tqdm(total=steps, initial=watch.first_batch, disable=not self.show_progress,
                   desc=f"epoch {epoch + 1}/{self.config.epochs} ×{len(runs)}", leave=False)  # fmt: skip
        for b, index in enumerate(
            self._batches(len(x), epoch, watch.first_batch), watch.first_batch
        ):
            if self._ctrl_c.requested:
                bar.close()
                self._stop_on_interrupt(runs, watch, sums, used, b)
            terms = self.step(x[index], watch, steps) * index.shape[1]
            sums, used = (terms if sums is None else sums + terms), used + index.shape[1]
            if b % CHECK_EVERY == CHECK_EVERY - 1:
                self._stop_if_non_finite(watch)
            bar.update(1)
        bar.close()
        self._stop_if_non_finite(watch)
        self._write_back(runs, sums, used)
        return runs

    def _batches(self, n: int, epoch: int, first_batch: int) -> Iterator[torch.Tensor]:
        """``(K, B)`` indices: each run's batch of ``epoch`` in its own seed's order."""
        size = self.config.batch_size
        orders = [global_batches(n, size, t.config.seed, epoch, first_batch) for t in self.trainers]
        for parts in zip(*orders, strict=True):
            yield torch.stack(parts).to(self.device)

    def step(self, x: torch.Tensor, watch: EpochRun, steps: int) -> torch.Tensor:
        """One optimiser step of every run on its batch ``x[k]``; return the loss terms ``(K, T)``."""
        at = [t.stepper.progress(self.steps_done, steps) for t in self.trainers]  # type: ignore[union-attr]
        self.schedules = [
            t.model.update_schedules(a.fraction) for t, a in zip(self.trainers, at, strict=True)
        ]
        loss, terms, names = self.stack.losses(x, self._kl_weights([a.kl_weight for a in at]),
                                               self.generators)  # fmt: skip
        self.optimizer.zero_grad(set_to_none=True)
        loss.sum().backward()
        terms = terms.detach()
        watched, watched_names = (
            terms.flatten(),
            [f"{n} ({label})" for label in self.labels for n in names],
        )
        if self.config.grad_clip is not None:
            watched = torch.cat([watched, self._clip_gradients(self.config.grad_clip)])
            watched_names += [f"{GRADIENT} ({label})" for label in self.labels]
        assert watch.monitor is not None
        watch.monitor.observe(watched, watched_names)
        self._optimizer_step()
        if self.averages is not None:
            self.averages.update()
        self.steps_done += 1
        self.names = names
        return terms

    def _kl_weights(self, weights: list[float]) -> torch.Tensor:
        key = tuple(weights)
        if self._kl is None or self._kl[0] != key:
            self._kl = key, torch.tensor(key, device=self.device)
        return self._kl[1]

    def _clip_gradients(self, max_norm: float) -> torch.Tensor:
        """Each run's gradients clipped to ``max_norm`` by its own global norm, as
        ``clip_grad_norm_`` does alone; return the norms ``(K,)``."""
        grads = [p.grad for p in self.stack.params if p.grad is not None]
        norms = torch.linalg.vector_norm(
            torch.stack([torch.linalg.vector_norm(g.flatten(1), dim=1) for g in grads]), dim=0
        )
        scale = (max_norm / (norms + 1e-6)).clamp(max=1.0)
        for g in grads:
            g.mul_(scale.view(-1, *[1] * (g.ndim - 1)))
        return norms

    def _optimizer_step(self) -> None:
        """One step at each run's learning rate: the optimisers' updates are proportional to the
        learning rate, so a run whose rate differs from the first run's has its update rescaled."""
        lrs = [
            t.config.lr * (s.lr_scale or 1.0)
            for t, s in zip(self.trainers, self.schedules, strict=True)
        ]
        for group in self.optimizer.param_groups:
            group["lr"] = lrs[0]
        if all(lr == lrs[0] for lr in lrs):
            self.optimizer.step()
            return
        params = list(self.stack.params)
        before = [p.detach().clone() for p in params]
        self.optimizer.step()
        ratio = torch.tensor([lr / lrs[0] for lr in lrs], device=self.device)
        with torch.no_grad():
            for p, old in zip(params, before, strict=True):
                p.copy_(torch.lerp(old, p, ratio.view(-1, *[1] * (p.ndim - 1))))

    # -- stopping ----------------------------------------------------------------------------------
    def _write_back(self, runs: list[EpochRun], sums: torch.Tensor | None, used: int) -> None:
        """The stack's loss sums into each run's :class:`EpochRun`."""
        for k, run in enumerate(runs):
            run.schedule = self.schedules[k]
            if sums is not None:
                run.names, run.sums, run.used = self.names, sums[k], used

    def _stop_if_non_finite(self, watch: EpochRun) -> None:
        where = watch.non_finite()
        if where is not None:
            raise TrainingError(f"{where}; the stack stopped and {self.trainers[0]._advice()}")

    def _stop_on_interrupt(
        self, runs: list[EpochRun], watch: EpochRun, sums: torch.Tensor | None, used: int, b: int
    ) -> NoReturn:
        """Save every run's mid-epoch checkpoint (unless values went non-finite) and stop."""
        self._stop_if_non_finite(watch)
        self._write_back(runs, sums, used)
        for k, (trainer, run) in enumerate(zip(self.trainers, runs, strict=True)):
            self._sync(k)
            if trainer.run_dir is not None:
                with global_rng(self.generators[k]):
                    trainer.save_checkpoint(run.progress(b, self.steps_done))
        first = self.trainers[0].run_dir
        raise TrainingInterrupted(
            f"interrupted in epoch {watch.epoch + 1} after batch {b} of {watch.steps}; the "
            f"checkpoints of {len(runs)} stacked runs saved. Resume the stack to continue",
            first,
            watch.epoch,
            b,
        )
