"""The training loop: data as tensors on the device, batches as index slices of a per-epoch
permutation, fused Adam, and no host synchronisation inside an epoch except the progress bar's and
one read of the non-finite monitor every ``CHECK_EVERY`` batches.

Reliability: checkpoints are atomic and self-contained (weights, optimiser, RNG, loop position), so
a run killed at any instant resumes from its last checkpoint exactly as if never interrupted (CPU);
Ctrl-C saves a mid-epoch checkpoint; a non-finite loss or gradient stops training with the epoch
and the term named (``nan_policy="stop"``) or skips the batch (``"skip"``).
"""

from __future__ import annotations

import contextlib
import json
import math
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from ..data.base import validate_images
from ..errors import ConfigError, DataError, RunDirectoryError, TrainingError
from ..models import Schedule, SparseVAEModel
from . import checkpoints as ckpt
from .schedules import linear_warmup

EpochCallback = Callable[[dict[str, Any]], None]
OPTIMIZERS = ("adam", "rmsprop", "sgd")
NAN_POLICIES = ("stop", "skip")


@dataclass
class TrainConfig:
    """Everything about a training run that is not the model or the data."""

    epochs: int = 10
    batch_size: int = 32
    lr: float = 1e-3
    seed: int = 0
    device: str = "auto"
    grad_clip: float | None = None  # max global gradient norm; None: no clipping
    kl_warmup_epochs: float = 0.0  # KL weight rises 0 → 1 over this many epochs
    eval_batch_size: int = 1000
    checkpoint_every: int = 1  # epochs between checkpoints (always one at the end)
    optimizer: str = "adam"  # adam | rmsprop | sgd
    nan_policy: str = "stop"  # non-finite loss/gradient: stop (keep last checkpoint) | skip batch
    # Exponential moving average of the weights (Polyak averaging); 0 = off.  The averaged weights
    # are what is evaluated, saved and returned; the raw ones only drive the optimiser.
    ema_decay: float = 0.0

    def __post_init__(self) -> None:
        checks = [
            ("epochs", self.epochs >= 1 and int(self.epochs) == self.epochs, "a positive integer"),
            (
                "batch_size",
                self.batch_size >= 1 and int(self.batch_size) == self.batch_size,
                "a positive integer",
            ),
            ("lr", math.isfinite(self.lr) and self.lr > 0, "a positive number"),
            ("grad_clip", self.grad_clip is None or self.grad_clip > 0, "positive (or unset)"),
            ("kl_warmup_epochs", self.kl_warmup_epochs >= 0, ">= 0"),
            ("eval_batch_size", self.eval_batch_size >= 1, "a positive integer"),
            ("checkpoint_every", self.checkpoint_every >= 1, "a positive integer"),
            ("optimizer", self.optimizer in OPTIMIZERS, " | ".join(OPTIMIZERS)),
            ("nan_policy", self.nan_policy in NAN_POLICIES, " | ".join(NAN_POLICIES)),
            ("ema_decay", 0.0 <= self.ema_decay < 1.0, "in [0, 1)"),
            (
                "device",
                self.device in ("auto", "cpu", "cuda") or self.device.startswith("cuda:"),
                "auto, cpu or cuda",
            ),
        ]
        for name, ok, what in checks:
            if not ok:
                raise ConfigError(f"{name} must be {what}, got {getattr(self, name)!r}")

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError("--device cuda was asked for, but PyTorch sees no CUDA device")
    return torch.device(name)


def as_images(x: Any, shape: Sequence[int], what: str) -> torch.Tensor:
    """Data as a float32 tensor shaped ``(N, *shape)``: flat rows are reshaped, values checked."""
    if x is None:
        raise DataError(f"{what}: no data given")
    x = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x)
    if not torch.is_floating_point(x):
        raise DataError(f"{what}: expected floating-point values in [0, 1], got {x.dtype}")
    x = x.to(torch.float32)
    if x.ndim >= 1 and x.shape[0] == 0:
        raise DataError(f"{what}: the data set is empty")
    if tuple(x.shape[1:]) != tuple(shape):
        if x.ndim >= 2 and math.prod(x.shape[1:]) == math.prod(shape):
            x = x.reshape(-1, *shape)
        else:
            raise DataError(
                f"{what}: examples have shape {tuple(x.shape[1:])}, the model expects {tuple(shape)}"
            )
    validate_images(x, what)
    return x


def _labels(y: Any, n: int, what: str) -> torch.Tensor | None:
    if y is None:
        return None
    y = torch.as_tensor(np.asarray(y) if not isinstance(y, torch.Tensor) else y).long().reshape(-1)
    if len(y) != n:
        raise DataError(f"{what}: {n} examples but {len(y)} labels")
    return y


def optimizer_for(model: torch.nn.Module, name: str, lr: float) -> torch.optim.Optimizer:
    """The named optimiser; Adam uses its fused kernel (CPU and CUDA), several times faster at
    small batch sizes.  SGD uses momentum 0.9."""
    params = [p for p in model.parameters() if p.requires_grad]
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=0.9)
    try:
        return torch.optim.Adam(params, lr=lr, fused=True)
    except (RuntimeError, TypeError):  # a device or dtype without a fused kernel
        return torch.optim.Adam(params, lr=lr)


# -- training state for resume --------------------------------------------------------------------
# ``training_state.safetensors`` is self-contained: the model's weights ("model.*"), the optimiser's
# tensors ("optimizer.<index>.<key>"), the RNG states ("rng.*") and, in its metadata, the optimiser's
# param groups and the loop position.  One atomic file means a kill at any instant leaves either the
# previous complete checkpoint or the new one — never weights from one epoch with moments of another.
def save_training_state(
    run_dir: Path,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    progress: dict[str, Any],
    averages: WeightAverage | None = None,
) -> None:
    state = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {"rng.torch": torch.get_rng_state()}
    if averages is not None:
        tensors.update({f"ema.{i}": t for i, t in enumerate(averages.shadow)})
        tensors["ema_updates"] = torch.tensor(averages.updates, dtype=torch.int64)
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        tensors["rng.cuda"] = torch.cuda.get_rng_state()
    for name, value in model.state_dict().items():
        tensors[f"model.{name}"] = value
    for index, values in state["state"].items():
        for key, value in values.items():
            tensors[f"optimizer.{index}.{key}"] = torch.as_tensor(value)
    metadata = {"param_groups": json.dumps(state["param_groups"]), "progress": json.dumps(progress)}
    ckpt.atomic_save_tensors(run_dir / ckpt.STATE_FILE, tensors, metadata)


def load_training_state(
    run_dir: Path,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    device: torch.device,
    averages: WeightAverage | None = None,
) -> dict[str, Any]:
    """Restore weights, optimiser and RNG from ``training_state.safetensors``; return the progress."""
    from safetensors import SafetensorError, safe_open

    path = run_dir / ckpt.STATE_FILE
    if not path.is_file():
        raise RunDirectoryError(f"{path}: missing; this run cannot be resumed")
    try:
        with safe_open(path, framework="pt") as f:
            metadata = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (safe_open is no dict)
        progress = json.loads(metadata["progress"])
        param_groups = json.loads(metadata["param_groups"])
        check_progress(progress)
        rng = tensors["rng.torch"]
        if rng.dtype != torch.uint8 or rng.ndim != 1:
            raise ValueError("rng.torch is not a byte tensor")
    except (SafetensorError, OSError, KeyError, ValueError, TypeError) as exc:
        raise RunDirectoryError(
            f"{path}: unreadable training state ({exc}); cannot resume"
        ) from None
    weights = {k[len("model.") :]: v for k, v in tensors.items() if k.startswith("model.")}
    if weights:
        ckpt.load_state(model, weights, path)
    else:  # a state file from before weights were stored in it
        ckpt.load_state(model, ckpt.load_file_checked(run_dir), run_dir / ckpt.WEIGHTS_FILE)
    params = [p for group in optimizer.param_groups for p in group["params"]]
    per_param: dict[int, dict[str, torch.Tensor]] = {}
    try:
        for name, value in tensors.items():
            if name.startswith("optimizer."):
                _, index, key = name.split(".", 2)
                if value.ndim and value.shape != params[int(index)].shape:  # moments match params
                    raise ValueError(f"{name} has shape {tuple(value.shape)}")
                per_param.setdefault(int(index), {})[key] = (
                    value.to(device) if key != "step" else value
                )
        optimizer.load_state_dict({"state": per_param, "param_groups": param_groups})
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        raise RunDirectoryError(
            f"{path}: optimiser state does not fit this model or optimiser ({exc})"
        ) from None
    if averages is not None:
        shadow = [tensors.get(f"ema.{i}") for i in range(len(averages.shadow))]
        if any(
            t is None or t.shape != a.shape for t, a in zip(shadow, averages.shadow, strict=True)
        ):
            raise RunDirectoryError(
                f"{path}: no weight averages for this model (was the run trained without "
                "--ema?); cannot resume with them"
            )
        updates = int(tensors.get("ema_updates", torch.tensor(10**9)))
        averages.load([t.to(device) for t in shadow], updates)  # type: ignore[union-attr]
    torch.set_rng_state(tensors["rng.torch"])
    if "rng.cuda" in tensors and device.type == "cuda":
        torch.cuda.set_rng_state(tensors["rng.cuda"])
    return progress


class WeightAverage:
    """Exponential moving average of a model's trainable parameters (Polyak averaging).

    The decay ramps up as min(decay, (1 + t) / (10 + t)), so that a short run is not pulled back
    towards its random initialisation.  ``finish()`` puts the averages into the model and keeps
    the raw weights in ``raw``; ``restore_raw()`` puts those back; ``swapped_in()`` does both
    around a block (evaluation, saving).
    """

    def __init__(self, model: torch.nn.Module, decay: float) -> None:
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.decay = decay
        self.raw: list[torch.Tensor] = []  # the raw weights, once ``finish`` has run
        self.reset()

    @torch.no_grad()
    def reset(self) -> None:
        """Start averaging afresh from the model's current weights."""
        self.shadow = [p.detach().clone() for p in self.params]
        self.updates = 0

    @torch.no_grad()
    def update(self) -> None:
        self.updates += 1
        decay = min(self.decay, (1 + self.updates) / (10 + self.updates))
        torch._foreach_lerp_(self.shadow, [p.detach() for p in self.params], 1.0 - decay)

    @torch.no_grad()
    def load(self, shadow: list[torch.Tensor], updates: int) -> None:
        torch._foreach_copy_(self.shadow, shadow)
        self.updates = updates  # where the decay's ramp had got to

    @torch.no_grad()
    def finish(self) -> None:
        """Put the averages into the model, keeping the raw weights in ``raw`` to continue from."""
        self.raw = [p.detach().clone() for p in self.params]
        torch._foreach_copy_(self.params, self.shadow)

    @torch.no_grad()
    def restore_raw(self) -> None:
        """Put the raw weights kept by ``finish`` back into the model."""
        torch._foreach_copy_(self.params, self.raw)

    @contextlib.contextmanager
    def swapped_in(self) -> Iterator[None]:
        self.finish()
        try:
            yield
        finally:
            self.restore_raw()


def check_progress(progress: Any) -> None:
    """The loop position stored in a training state: non-negative integers (and epoch sums)."""
    if not isinstance(progress, dict):
        raise ValueError("progress is not a JSON object")
    for key in ("epoch", "step", "batch", "used", "skipped"):
        value = progress.get(key, 0)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ValueError(f"progress.{key} must be a non-negative integer, got {value!r}")
    if "epoch" not in progress or "step" not in progress:
        raise ValueError("progress needs epoch and step")
    if progress.get("batch", 0):
        names, sums = progress.get("names"), progress.get("sums")
        if names is not None and not (
            isinstance(names, list)
            and isinstance(sums, list)
            and len(names) == len(sums)
            and all(isinstance(n, str) for n in names)
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in sums)
        ):
            raise ValueError("progress.names/sums of the interrupted epoch are malformed")


class TrainingInterrupted(TrainingError):
    """Ctrl-C (SIGINT) stopped training after a checkpoint was saved; resume continues exactly."""

    def __init__(self, message: str, run_dir: Path | None, epoch: int, batch: int) -> None:
        super().__init__(message)
        self.run_dir, self.epoch, self.batch = run_dir, epoch, batch


class NonFiniteMonitor:
    """Watches loss terms (and the gradient norm) for NaN/inf without a host sync per batch.

    Each batch costs a few tiny device ops: the first batch number at which each watched value went
    non-finite is kept in a device tensor, read back only by :meth:`first_failure` (every
    ``CHECK_EVERY`` batches and at the end of an epoch).
    """

    NEVER = 2**62

    def __init__(self, names: list[str], device: torch.device) -> None:
        self.names = names
        self.first_bad = torch.full((len(names),), self.NEVER, dtype=torch.long, device=device)
        self.never = torch.tensor(self.NEVER, dtype=torch.long, device=device)
        self.counter = torch.zeros((), dtype=torch.long, device=device)

    def observe(self, values: torch.Tensor) -> None:
        self.counter += 1
        marks = torch.where(torch.isfinite(values), self.never, self.counter)
        torch.minimum(self.first_bad, marks, out=self.first_bad)

    def first_failure(self) -> tuple[int, list[str]] | None:
        """``(batch number counted from 1, names that went non-finite first)`` or None."""
        first = self.first_bad.tolist()
        worst = min(first)
        if worst >= self.NEVER:
            return None
        return worst, [n for n, f in zip(self.names, first, strict=True) if f == worst]


def gradient_norm(model: torch.nn.Module) -> torch.Tensor:
    """Global L2 norm of the gradients (a device scalar; no sync)."""
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    if not grads:
        return torch.zeros((), device=next(model.parameters()).device)
    if hasattr(torch.nn.utils, "get_total_norm"):  # torch >= 2.6: one fused reduction
        return torch.nn.utils.get_total_norm(grads)
    return torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))


# -- the loop --------------------------------------------------------------------------------------
def join_words(words: Sequence[str], conjunction: str) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} {conjunction} {words[-1]}"


CHECK_EVERY = 100  # batches between host reads of the non-finite monitor (and progress bar updates)
GRADIENT = "gradient norm"


class Trainer:
    """Trains a model on in-memory tensors; writes a run directory when ``run_dir`` is given.

    With a run directory, Ctrl-C (SIGINT, main thread only) finishes the current batch, saves a
    checkpoint and raises :class:`TrainingInterrupted`; a second Ctrl-C aborts at once.
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
    ) -> None:
        self.model = model
        self.config = config
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.data_info = data_info or {}
        self.show_progress = progress
        self.callbacks = list(callbacks)
        self.device = resolve_device(config.device)
        self.history: list[dict[str, Any]] = []
        self.optimizer: torch.optim.Optimizer | None = None  # the last fit's, for callers to reuse
        self.averages: WeightAverage | None = None  # the last fit's weight averages (--ema)
        self.skipped_batches = 0  # batches dropped by nan_policy="skip" (all epochs of this fit)
        self._interrupt_requested = False

    def fit(
        self,
        train_x: Any,
        test_x: Any = None,
        train_y: Any = None,
        test_y: Any = None,
        *,
        resume: bool = False,
    ) -> list[dict[str, Any]]:
        model = self.model
        train_x = as_images(train_x, model.input_shape, "training data")
        test_x = None if test_x is None else as_images(test_x, model.input_shape, "test data")
        train_y = _labels(train_y, len(train_x), "training data")
        test_y = None if test_x is None else _labels(test_y, len(test_x), "test data")
        if model.num_classes and (train_y is None or (test_x is not None and test_y is None)):
            raise DataError(f"model {model.kind!r} is conditional and needs labelled data")
        if not model.num_classes:
            train_y = test_y = None  # unconditional models ignore labels

        model.to(self.device).train()
        train_x = train_x.to(self.device)
        train_y = None if train_y is None else train_y.to(self.device)
        if test_x is not None:
            test_x = test_x.to(self.device)
            test_y = None if test_y is None else test_y.to(self.device)

        # PCA-like baselines are fitted in closed form: no gradient steps.
        if model.fits_in_closed_form:
            return self._fit_closed_form(train_x, test_x, test_y)
        with self._sigint_handler():
            return self._fit_gradient(train_x, test_x, train_y, test_y, resume)

    def _fit_gradient(
        self,
        train_x: torch.Tensor,
        test_x: torch.Tensor | None,
        train_y: torch.Tensor | None,
        test_y: torch.Tensor | None,
        resume: bool,
    ) -> list[dict[str, Any]]:
        cfg, model = self.config, self.model
        optimizer = self.optimizer = optimizer_for(model, cfg.optimizer, cfg.lr)
        averages = self.averages = WeightAverage(model, cfg.ema_decay) if cfg.ema_decay else None
        n = len(train_x)
        steps_per_epoch = math.ceil(n / cfg.batch_size)
        total_steps = steps_per_epoch * cfg.epochs
        warmup_steps = round(cfg.kl_warmup_epochs * steps_per_epoch)
        skip_bad = cfg.nan_policy == "skip"
        start_epoch, start_batch, step = 0, 0, 0
        partial: dict[str, Any] = {}  # sums of a part-finished epoch (interrupted, then resumed)

        if resume:
            if self.run_dir is None:
                raise RunDirectoryError("resume needs a run directory")
            ckpt.remove_stale_temporaries(self.run_dir)
            state = load_training_state(self.run_dir, model, optimizer, self.device, averages)
            start_epoch, step = int(state["epoch"]), int(state["step"])
            start_batch = int(state.get("batch", 0))
            if start_batch:
                partial = state
            self.history = [r for r in ckpt.read_metrics(self.run_dir) if r["epoch"] <= start_epoch]
            ckpt.rewrite_metrics(self.run_dir, self.history)
        else:
            torch.manual_seed(cfg.seed)
            if self.run_dir is not None:
                self.run_dir.mkdir(parents=True, exist_ok=True)
            # Data-dependent initialisation (e.g. LLGAE from a mixture of PCAs), fresh runs only.
            model.initialise_from_data(train_x)
            if averages is not None:
                averages.reset()  # from the initialised weights, not the constructor's
        first_step = step  # the monitor counts batches from here

        monitor: NonFiniteMonitor | None = None
        for epoch in range(start_epoch, cfg.epochs):
            started = time.perf_counter()
            order = torch.randperm(
                n, generator=torch.Generator().manual_seed(cfg.seed * 1_000_003 + epoch)
            )
            order = order.to(self.device)
            first_batch = start_batch if epoch == start_epoch else 0
            names: list[str] | None = partial.get("names") if first_batch else None
            sums = (
                torch.tensor(partial["sums"], device=self.device)
                if first_batch and partial.get("sums") is not None
                else torch.zeros(0, device=self.device)
            )
            used = int(partial.get("used", 0)) if first_batch else 0  # examples that stepped
            skipped = int(partial.get("skipped", 0)) if first_batch else 0
            skipped_before = skipped  # already counted by the run that was interrupted
            bar = tqdm(
                total=steps_per_epoch,
                initial=first_batch,
                desc=f"epoch {epoch + 1}/{cfg.epochs}",
                disable=not self.show_progress,
                leave=False,
                mininterval=0.5,
                dynamic_ncols=True,
            )
            schedule = Schedule()
            for b in range(first_batch, steps_per_epoch):
                if self._interrupt_requested:
                    bar.close()
                    self._stop_on_interrupt(
                        optimizer, monitor, first_step, steps_per_epoch,
                        {"epoch": epoch, "batch": b, "step": step, "names": names,
                         "sums": sums.tolist() if names else None, "used": used,
                         "skipped": skipped},
                    )  # fmt: skip
                index = order[b * cfg.batch_size : (b + 1) * cfg.batch_size]
                schedule = model.update_schedules(step / max(total_steps - 1, 1))
                if schedule.lr_scale is not None:  # a model-driven learning-rate schedule
                    for group in optimizer.param_groups:
                        group["lr"] = cfg.lr * schedule.lr_scale
                kl_weight = linear_warmup(step, warmup_steps)
                out = model.loss(
                    train_x[index], None if train_y is None else train_y[index], kl_weight
                )
                optimizer.zero_grad(set_to_none=True)
                out.loss.backward()
                terms = torch.stack([t.detach() for t in out.terms.values()])
                if names is None:
                    names, sums = list(out.terms), torch.zeros_like(terms)
                if cfg.grad_clip is not None:  # the norm comes for free with clipping
                    norm = torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
                    watched = torch.cat([terms, norm.reshape(1).to(terms.dtype)])
                else:
                    norm, watched = None, terms
                step += 1
                if skip_bad:
                    # A per-batch decision needs the value on the host: only this policy syncs.
                    if norm is None:
                        watched = torch.cat([terms, gradient_norm(model).reshape(1)])
                    if not bool(torch.isfinite(watched).all()):
                        optimizer.zero_grad(set_to_none=True)
                        skipped += 1
                        bar.update(1)
                        continue
                else:
                    if monitor is None:
                        watch_names = names + ([GRADIENT] if norm is not None else [])
                        monitor = NonFiniteMonitor(watch_names, self.device)
                    monitor.observe(watched)
                optimizer.step()
                if averages is not None:
                    averages.update()
                sums += terms * len(index)
                used += len(index)
                if self.show_progress and (b % CHECK_EVERY == 0 or b == steps_per_epoch - 1):
                    means = (sums / max(used, 1)).tolist()
                    bar.set_postfix(
                        {k: f"{v:.2f}" for k, v in zip(names, means, strict=True)}, refresh=False
                    )
                if monitor is not None and b % CHECK_EVERY == CHECK_EVERY - 1:
                    self._stop_if_non_finite(monitor, first_step, steps_per_epoch)
                bar.update(1)
            bar.close()
            if monitor is not None:
                self._stop_if_non_finite(monitor, first_step, steps_per_epoch)
            if used == 0:
                raise TrainingError(
                    f"every batch of epoch {epoch + 1} had a non-finite loss or gradient and was "
                    f"skipped; {self._advice()}"
                )

            train_terms = dict(zip(names or [], (sums / used).tolist(), strict=True))
            record: dict[str, Any] = {"epoch": epoch + 1, "step": step}
            record.update({f"train/{k}": v for k, v in train_terms.items()})
            if skip_bad:
                record["skipped_batches"] = skipped
                self.skipped_batches += skipped - skipped_before
            if test_x is not None:
                with averages.swapped_in() if averages else contextlib.nullcontext():
                    test = self.evaluate(test_x, test_y)
                record.update({f"test/{k}": v for k, v in test.items()})
            record.update(schedule.record())
            record["kl_weight"] = linear_warmup(step, warmup_steps)
            record["seconds"] = round(time.perf_counter() - started, 3)
            self.history.append(record)
            self._report(record)
            if self.run_dir is not None:
                ckpt.append_metrics(self.run_dir, record)
                if (epoch + 1) % cfg.checkpoint_every == 0 or epoch + 1 == cfg.epochs:
                    self.save_checkpoint(optimizer, {"epoch": epoch + 1, "step": step})
            for callback in self.callbacks:
                callback(record)
        if averages is not None:  # the averaged weights are the result
            averages.finish()
        model.eval()
        return self.history

    # -- stopping: non-finite values and Ctrl-C ----------------------------------------------------
    def _advice(self) -> str:
        """Where the run stands and what to try, leaving out what this run already does."""
        if self.run_dir is None:
            kept = "no weights were saved"
        elif (self.run_dir / ckpt.STATE_FILE).is_file():
            kept = f"the last good checkpoint in {self.run_dir} is kept"
        else:
            kept = (
                f"no checkpoint was written yet (it failed in the first epoch): start {self.run_dir} "
                "again with --overwrite"
            )
        config = self.config
        tries = [f"a lower learning rate (--lr {config.lr / 10:g})"]
        if config.grad_clip is None:
            tries.append("gradient clipping (--grad-clip 10)")
        if not config.kl_warmup_epochs and self.model.is_variational:
            tries.append("KL warm-up (--kl-warmup 5)")
        if config.nan_policy != "skip":
            tries.append("--nan-policy skip to drop such batches")
        return f"{kept}. Try {join_words(tries, 'or')}"

    def _stop_if_non_finite(
        self, monitor: NonFiniteMonitor, first_step: int, steps_per_epoch: int
    ) -> None:
        failure = monitor.first_failure()
        if failure is None:
            return
        batch, names = failure
        global_step = first_step + batch - 1  # 0-based step of the failing batch
        epoch, within = divmod(global_step, steps_per_epoch)
        what = join_words(names, "and")
        raise TrainingError(
            f"non-finite {what} in epoch {epoch + 1} (batch {within + 1} of {steps_per_epoch}, "
            f"step {global_step + 1}); training stopped and {self._advice()}"
        )

    def _stop_on_interrupt(
        self,
        optimizer: torch.optim.Optimizer,
        monitor: NonFiniteMonitor | None,
        first_step: int,
        steps_per_epoch: int,
        progress: dict[str, Any],
    ) -> None:
        """Save a mid-epoch checkpoint (unless the weights went non-finite) and stop."""
        if monitor is not None:
            self._stop_if_non_finite(monitor, first_step, steps_per_epoch)
        epoch, batch = progress["epoch"], progress["batch"]
        if self.run_dir is None:  # no handler is installed without a run directory
            raise KeyboardInterrupt
        self.save_checkpoint(optimizer, progress)
        raise TrainingInterrupted(
            f"interrupted in epoch {epoch + 1} after batch {batch} of {steps_per_epoch}; checkpoint "
            f"saved. Continue with: sparsevae train --resume {self.run_dir}",
            self.run_dir,
            epoch,
            batch,
        )

    @contextlib.contextmanager
    def _sigint_handler(self) -> Iterator[None]:
        """First Ctrl-C: stop after this batch with a checkpoint; second: KeyboardInterrupt now."""
        if self.run_dir is None or threading.current_thread() is not threading.main_thread():
            yield
            return

        def on_sigint(signum: int, frame: Any) -> None:
            if self._interrupt_requested:
                raise KeyboardInterrupt
            self._interrupt_requested = True
            tqdm.write(
                "interrupt: saving a checkpoint after this batch (press Ctrl-C again to abort)"
            )

        self._interrupt_requested = False
        previous = signal.signal(signal.SIGINT, on_sigint)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, previous)

    def _fit_closed_form(self, train_x: torch.Tensor, test_x, test_y) -> list[dict[str, Any]]:
        """Models fitted in closed form (``model.fit_closed_form(x)``): one record, one checkpoint."""
        started = time.perf_counter()
        self.model.fit_closed_form(train_x)
        record: dict[str, Any] = {"epoch": 1, "step": 0}
        record.update({f"train/{k}": v for k, v in self.evaluate(train_x).items()})
        if test_x is not None:
            record.update({f"test/{k}": v for k, v in self.evaluate(test_x, test_y).items()})
        record["seconds"] = round(time.perf_counter() - started, 3)
        self.history = [record]
        self._report(record)
        if self.run_dir is not None:
            ckpt.append_metrics(self.run_dir, record)
            ckpt.write_model(self.run_dir, self.model, self.data_info, asdict(self.config))
        for callback in self.callbacks:
            callback(record)
        self.model.eval()
        return self.history

    @torch.no_grad()
    def evaluate(self, x: torch.Tensor, y: torch.Tensor | None = None) -> dict[str, float]:
        """Loss terms on ``x`` in eval mode (exact posterior draws, full KL weight), per example."""
        was_training = self.model.training
        self.model.eval()
        sums: torch.Tensor | None = None
        names: list[str] = []
        size = self.config.eval_batch_size
        for start in range(0, len(x), size):
            xb = x[start : start + size]
            out = self.model.loss(xb, None if y is None else y[start : start + size])
            terms = torch.stack([t.detach() for t in out.terms.values()]) * len(xb)
            names = list(out.terms)
            sums = terms if sums is None else sums + terms
        self.model.train(was_training)
        assert sums is not None
        return dict(zip(names, (sums / len(x)).tolist(), strict=True))

    def save_checkpoint(self, optimizer: torch.optim.Optimizer, progress: dict[str, Any]) -> None:
        """Training state first (self-contained, what resume reads), then the loadable model."""
        assert self.run_dir is not None
        averages = self.averages
        save_training_state(self.run_dir, self.model, optimizer, progress, averages)
        with averages.swapped_in() if averages else contextlib.nullcontext():
            ckpt.write_model(self.run_dir, self.model, self.data_info, asdict(self.config))

    def _report(self, record: dict[str, Any]) -> None:
        if not self.show_progress:
            return

        def part(prefix: str) -> str:
            return "  ".join(
                f"{k[len(prefix) :]} {v:.2f}" for k, v in record.items() if k.startswith(prefix)
            )

        line = f"epoch {record['epoch']}/{self.config.epochs}  train: {part('train/')}"
        if any(k.startswith("test/") for k in record):
            line += f"  |  test: {part('test/')}"
        if record.get("skipped_batches"):
            line += f"  [{record['skipped_batches']} non-finite batches skipped]"
        tqdm.write(line + f"  ({record['seconds']:.1f} s)")


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
    (``config.json``, ``model.safetensors``, ``metrics.jsonl``) and can be loaded with ``load``.
    """
    unknown = set(config) - {f.name for f in fields(TrainConfig)}
    if unknown:
        raise ConfigError(f"unknown training option(s): {', '.join(sorted(unknown))}")
    train_config = TrainConfig(**config)
    if run_dir is not None:
        run_dir = ckpt.prepare_run_dir(run_dir, overwrite=overwrite)
    trainer = Trainer(model, train_config, run_dir=run_dir, progress=progress, callbacks=callbacks)
    return trainer.fit(train_x, test_x, train_y, test_y)
