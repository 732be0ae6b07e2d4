"""K models of one shape held as stacked tensors, for :mod:`.stacked` to train them together.

Each trainable parameter of the K models becomes one leaf tensor ``(K, *shape)``, so that one fused
optimiser and one weight average serve all K (Adam, RMSprop and SGD are element-wise: each model
keeps its own moments) and the loss of all K runs as one ``torch.func.vmap`` over the stacked
tensors, its matrix products batched.  The numbers a model's loss reads that may differ between the
models (``model.per_model_values``: VSC's α and sharpness c, β, an L1 weight) are passed into the
vmapped loss per model, and the noise each model draws comes from its own generator
(:mod:`sparsevae.noise`).  The K models themselves stay ordinary modules: :meth:`ModelStack.
store_into` and :meth:`ModelStack.load_from_models` copy between them and the stack, and
:func:`optimizer_state_of` / :func:`load_stacked_optimizer_state` do the same for the optimiser's
state, so that each model is checkpointed, evaluated and resumed by the solo trainer's own code.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import fields
from typing import Any

import torch
from torch import nn
from torch.func import functional_call, vmap

from ..errors import ConfigError
from ..models import SparseVAEModel
from ..noise import per_model_noise
from .config import TrainConfig

# TrainConfig fields that may differ between the runs of a stack: each run gets its own.
PER_RUN_FIELDS = ("seed", "lr", "kl_warmup_epochs")


def check_stackable(models: Sequence[SparseVAEModel], configs: Sequence[TrainConfig]) -> None:
    """One-line ConfigError unless the models and training configs can share a stack."""
    if len(models) != len(configs) or not models:
        raise ConfigError("a stack needs one training config per model, and at least one model")
    first = models[0]
    if not first.stackable or first.num_classes:
        raise ConfigError(f"model {first.kind!r} cannot be trained in a stack; train it alone")
    free = set(first.per_model_options)
    for i, model in enumerate(models[1:], 1):
        if type(model) is not type(first):
            raise ConfigError(f"a stack holds one kind of model: {first.kind} and {model.kind}")
        differ = [
            name
            for name, value in first.config.items()
            if name not in free and model.config[name] != value
        ]
        if differ:
            raise ConfigError(f"models 0 and {i} of the stack differ in {', '.join(differ)}")
    for f in fields(TrainConfig):
        values = {repr(getattr(c, f.name)) for c in configs}
        if f.name not in PER_RUN_FIELDS and len(values) > 1:
            raise ConfigError(f"the runs of a stack must share {f.name} (got {sorted(values)})")
    if configs[0].nan_policy != "stop":
        raise ConfigError('a stack stops on non-finite values (nan_policy="stop"); skip is per run')


class _Loss(nn.Module):
    """``model.loss`` as a module call, for ``functional_call``."""

    def __init__(self, model: SparseVAEModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor, kl_weight: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out = self.model.loss(x, None, kl_weight)
        self.names = list(out.terms)
        return out.loss, torch.stack(list(out.terms.values()))


class ModelStack:
    """The stacked parameters (``params``: a module holding just them, for the optimiser and the
    weight average) and buffers of ``models``, built from the models' current ones."""

    def __init__(self, models: Sequence[SparseVAEModel]) -> None:
        self.models = list(models)
        self.names = [n for n, p in models[0].named_parameters() if p.requires_grad]
        self.fixed = [n for n, p in models[0].named_parameters() if not p.requires_grad]
        self.fixed += [n for n, _ in models[0].named_buffers()]
        self.params = nn.ParameterList(nn.Parameter(self._gather(n)) for n in self.names)
        self.buffers_ = {n: self._gather(n) for n in self.fixed}
        self.loss_module = _Loss(models[0])
        self._values: tuple[tuple[float, ...], dict[str, torch.Tensor]] | None = None

    def _gather(self, name: str) -> torch.Tensor:
        return torch.stack([_tensors(m)[name] for m in self.models]).detach().clone()

    @property
    def size(self) -> int:
        return len(self.models)

    @torch.no_grad()
    def load_from_models(self) -> None:
        """The models' current weights (and buffers) into the stack."""
        for stacked, name in zip(self.params, self.names, strict=True):
            stacked.copy_(self._gather(name))
        for name, stacked in self.buffers_.items():
            stacked.copy_(self._gather(name))

    @torch.no_grad()
    def store_into(self, k: int) -> None:
        """Model ``k``'s slice of the stack into model ``k``."""
        tensors = _tensors(self.models[k])
        for stacked, name in zip(self.params, self.names, strict=True):
            tensors[name].copy_(stacked[k])
        for name, stacked in self.buffers_.items():
            tensors[name].copy_(stacked[k])

    def per_model_values(self) -> dict[str, torch.Tensor]:
        """The models' ``per_model_values`` now (schedules move them), one ``(K,)`` tensor each."""
        names = self.models[0].per_model_values
        now = tuple(float(getattr(m, n)) for n in names for m in self.models)
        if self._values is None or self._values[0] != now:
            device = self.params[0].device
            table = torch.tensor(now, device=device).reshape(len(names), self.size)
            self._values = now, dict(zip(names, table, strict=True))
        return self._values[1]

    def losses(
        self, x: torch.Tensor, kl_weights: torch.Tensor, generators: Sequence[torch.Generator]
    ) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
        """Each model's loss ``(K,)`` and loss terms ``(K, T)`` (and their names) on its own
        batch ``x[k]``, its noise drawn from ``generators[k]``."""
        params = {f"model.{n}": p for n, p in zip(self.names, self.params, strict=True)}
        params.update({f"model.{n}": b for n, b in self.buffers_.items()})

        def one(weights: dict[str, torch.Tensor], values: dict, xb, kl_weight):
            with _values_set(self.loss_module.model, values):
                return functional_call(self.loss_module, weights, (xb, kl_weight))

        with per_model_noise(generators):
            loss, terms = vmap(one, randomness="error")(
                params, self.per_model_values(), x, kl_weights
            )
        return loss, terms, self.loss_module.names


def _tensors(model: nn.Module) -> dict[str, torch.Tensor]:
    return {**dict(model.named_parameters()), **dict(model.named_buffers())}


@contextlib.contextmanager
def _values_set(model: nn.Module, values: dict[str, torch.Tensor]) -> Iterator[None]:
    """``model``'s per-model values replaced by this model's (batched) ones inside vmap."""
    saved = {name: getattr(model, name) for name in values}
    for name, value in values.items():
        object.__setattr__(model, name, value)
    try:
        yield
    finally:
        for name, value in saved.items():
            object.__setattr__(model, name, value)


# -- optimiser state: stacked ↔ per model ----------------------------------------------------------
def optimizer_state_of(stacked: torch.optim.Optimizer, k: int, lr: float) -> dict[str, Any]:
    """Model ``k``'s optimiser state dict, sliced out of the stacked optimiser's (its step
    counts are shared: every model of a stack has taken the same steps)."""
    state = stacked.state_dict()
    per_param = {
        index: {key: (v[k].clone() if v.ndim else v.clone()) for key, v in values.items()}
        for index, values in state["state"].items()
    }
    groups = [{**group, "lr": lr} for group in state["param_groups"]]
    return {"state": per_param, "param_groups": groups}


def load_stacked_optimizer_state(
    stacked: torch.optim.Optimizer, optimizers: Sequence[torch.optim.Optimizer]
) -> None:
    """The per-model optimisers' states, stacked, into ``stacked`` (nothing if they are fresh)."""
    states = [o.state_dict()["state"] for o in optimizers]
    if not states[0]:
        return
    per_param = {
        index: {
            key: torch.stack([s[index][key] for s in states]) if v.ndim else v
            for key, v in values.items()
        }
        for index, values in states[0].items()
    }
    stacked.load_state_dict(
        {"state": per_param, "param_groups": stacked.state_dict()["param_groups"]}
    )


@contextlib.contextmanager
def global_rng(generator: torch.Generator) -> Iterator[None]:
    """For the block, torch's global generator of ``generator``'s device takes ``generator``'s
    state (what a run alone would draw from); afterwards ``generator`` keeps where it got to and
    the global generator is as before."""
    device = generator.device
    if device.type == "cuda":
        default = torch.cuda.default_generators[device.index or 0]
    else:
        default = torch.default_generator
    saved = default.get_state()
    default.set_state(generator.get_state())
    try:
        yield
    finally:
        generator.set_state(default.get_state())
        default.set_state(saved)
