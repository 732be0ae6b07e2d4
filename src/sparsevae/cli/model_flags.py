"""The ``train`` verb's model flags, derived from the model config dataclasses.

A config field declared with ``option(..., flag="--alpha")`` becomes a flag of its own; the help
says which model kinds take it and with which default.  Every other field is reachable as
``--option NAME=VALUE``.
"""

from __future__ import annotations

import argparse
import dataclasses
import typing
from functools import cache
from typing import Any

from ..errors import ConfigError
from ..models.registry import MODELS, model_class, model_parameters
from .common import parse_option


@dataclasses.dataclass
class ModelFlag:
    flag: str  # "--c-start"
    name: str  # the config field: "sharpness_start"
    help: str
    annotation: Any
    choices: tuple[str, ...] | None
    defaults: dict[str, Any]  # model kind → default

    @property
    def dest(self) -> str:
        return self.flag.removeprefix("--").replace("-", "_")

    def argparse_kwargs(self) -> dict[str, Any]:
        base = _base_type(self.annotation)
        if base is bool:
            return {"action": "store_true", "default": None}
        if typing.get_origin(base) is tuple:
            return {"type": int, "nargs": "*", "metavar": "N"}
        if self.choices:
            return {"choices": self.choices}
        return {"type": base}


def _base_type(annotation: Any) -> Any:
    """``float | None`` → ``float``."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    return args[0] if typing.get_origin(annotation) is not tuple and args else annotation


@cache
def model_flags() -> dict[str, ModelFlag]:
    """Flag → :class:`ModelFlag`, over every registered model kind.  The help text is that of the
    most basic config declaring the field (VAEConfig's β rather than β-TCVAE's)."""
    flags: dict[str, ModelFlag] = {}
    depth: dict[str, int] = {}
    for kind in sorted(MODELS):
        config = MODELS[kind].config_class
        hints = typing.get_type_hints(config)
        for f in dataclasses.fields(config):
            flag = f.metadata.get("flag")
            if not flag:
                continue
            meta = f.metadata
            if flag not in flags or len(config.__mro__) < depth[flag]:
                defaults = flags[flag].defaults if flag in flags else {}
                flags[flag] = ModelFlag(
                    flag, f.name, meta["help"], hints[f.name], meta["choices"], defaults
                )
                depth[flag] = len(config.__mro__)
            flags[flag].defaults[kind] = f.default
    for entry in flags.values():
        entry.help = f"{entry.help} ({_defaults_text(entry.defaults)})"
    return flags


def _defaults_text(defaults: dict[str, Any]) -> str:
    """``default 200; 32 for ae, dae`` — the most common default first, the others by kind."""
    by_value: dict[str, list[str]] = {}
    for kind, value in defaults.items():
        by_value.setdefault(_show(value), []).append(kind)
    common, *others = sorted(by_value, key=lambda v: -len(by_value[v]))
    few = len(by_value[common]) <= 3  # name the kinds of a flag only a few models take
    kinds = f" for {', '.join(by_value[common])}" if few and not others else ""
    text = f"default {common}{kinds}"
    return "; ".join([text, *(f"{v} for {', '.join(by_value[v])}" for v in others)])


def _show(value: Any) -> str:
    return " ".join(map(str, value)) if isinstance(value, tuple) else str(value)


def model_kwargs(args: argparse.Namespace, kind: str) -> dict[str, Any]:
    accepted = model_parameters(model_class(kind))
    kwargs: dict[str, Any] = {}
    for flag in model_flags().values():
        value = vars(args)[flag.dest]
        if value is None:
            continue
        if flag.name not in accepted:
            raise ConfigError(f"{flag.flag} does not apply to model {kind!r}")
        kwargs[flag.name] = value
    for text in args.option:
        key, value = parse_option(text)
        if key not in accepted:
            raise ConfigError(
                f"model {kind!r} has no option {key!r}; it takes: {', '.join(sorted(accepted))}"
            )
        kwargs[key] = value  # the model's config checks its type
    return kwargs
