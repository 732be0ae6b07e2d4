"""One training step, shared by :class:`~sparsevae.training.Trainer` (``sparsevae train``,
``sparsevae.fit``) and the scikit-learn estimators' ``fit`` and ``partial_fit``.

A step: the model's schedules (and learning-rate scale) at this point of training, the loss under
the KL warm-up weight, backward, gradient clipping, the non-finite rule of ``nan_policy``, the
optimiser step and the weight-average update.  Nothing in it reads a value back to the host except
``nan_policy="skip"``, which must decide per batch whether to step.

    >>> step = TrainingStep(model, optimizer, config)                    # doctest: +SKIP
    >>> result = step(xb, None, step.progress(0, steps_per_epoch), monitor)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from ..models import LossOutput, Schedule, SparseVAEModel
from .averaging import WeightAverage
from .config import TrainConfig
from .distributed import SINGLE, World
from .monitor import GRADIENT, NonFiniteMonitor, gradient_norm
from .schedules import Progress


@dataclass(frozen=True, slots=True)
class StepResult:
    names: list[str]  # the loss terms' names, in the order of ``terms``
    terms: torch.Tensor  # this batch's loss terms (detached, on the device: no sync)
    applied: bool  # False: nan_policy="skip" dropped the batch and the weights are unchanged
    schedule: Schedule  # the model's schedules at this step (sharpness, lr_scale, ...)


class TrainingStep:
    """Takes one optimiser step of ``model`` on a batch, as ``config`` says.

    Under data-parallel training ``forward`` is the replicated model's loss (its backward averages
    the gradients over the processes of ``world``); alone it is ``model.loss``.
    """

    def __init__(
        self,
        model: SparseVAEModel,
        optimizer: torch.optim.Optimizer,
        config: TrainConfig,
        averages: WeightAverage | None = None,
        *,
        forward: Callable[..., LossOutput] | None = None,
        world: World = SINGLE,
    ) -> None:
        self.model = model
        self.optimizer = optimizer
        self.config = config
        self.averages = averages
        self.forward = forward or model.loss
        self.world = world
        self.names: list[str] | None = None  # the loss terms' names, known after the first step
        self.watched: list[str] = []  # the names a monitor watches (terms, gradient norm)

    def progress(self, step: int, steps_per_epoch: int) -> Progress:
        """Where step ``step`` (counted from 0) falls in ``config.epochs`` epochs of this size."""
        return Progress(
            step,
            steps_per_epoch * self.config.epochs,
            round(self.config.kl_warmup_epochs * steps_per_epoch),
        )

    def __call__(
        self,
        x: torch.Tensor,
        y: torch.Tensor | None,
        at: Progress,
        monitor: NonFiniteMonitor | None = None,
        weight: float = 1.0,
    ) -> StepResult:
        """One step on ``(x, y)`` at ``at``.  Under ``nan_policy="stop"`` non-finite values are
        recorded in ``monitor`` (when given) for the caller to stop at its next check; under
        ``"skip"`` a batch with any is dropped (``applied`` False).  ``weight`` scales the loss
        whose gradient is taken (a data-parallel process's share of the global batch)."""
        schedule = self._apply_schedules(at)
        out = self.forward(x, y, at.kl_weight)
        self.optimizer.zero_grad(set_to_none=True)
        (out.loss if weight == 1.0 else out.loss * weight).backward()
        terms = torch.stack([t.detach() for t in out.terms.values()])
        if self.names is None:
            self.names = list(out.terms)
            self.watched = self.names + ([GRADIENT] if self.config.grad_clip is not None else [])
        norm = None
        if self.config.grad_clip is not None:  # the norm comes for free with clipping
            norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
        if not self._may_step(terms, norm, monitor):
            self.optimizer.zero_grad(set_to_none=True)
            return StepResult(self.names, terms, False, schedule)
        self.optimizer.step()
        if self.averages is not None:
            self.averages.update()
        return StepResult(self.names, terms, True, schedule)

    def _apply_schedules(self, at: Progress) -> Schedule:
        schedule = self.model.update_schedules(at.fraction)
        if schedule.lr_scale is not None:  # a model-driven learning-rate schedule
            for group in self.optimizer.param_groups:
                group["lr"] = self.config.lr * schedule.lr_scale
        return schedule

    def _may_step(
        self, terms: torch.Tensor, norm: torch.Tensor | None, monitor: NonFiniteMonitor | None
    ) -> bool:
        """The non-finite rule: "skip" reads the values now (its one host sync per batch) and
        refuses a bad batch; "stop" always steps and leaves the verdict to ``monitor``."""
        watched = terms if norm is None else torch.cat([terms, norm.reshape(1).to(terms.dtype)])
        if self.config.nan_policy == "skip":
            if norm is None:
                watched = torch.cat([terms, gradient_norm(self.model).reshape(1)])
            finite = bool(torch.isfinite(watched).all())
            return not self.world.any(not finite, terms.device)  # every process skips, or none
        if monitor is not None:
            monitor.observe(watched, self.watched)
        return True
