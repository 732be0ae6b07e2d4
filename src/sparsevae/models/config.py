"""Typed model configurations: one dataclass per model family, whose fields are the options.

A model is built from its config (``VSC(alpha=0.01)`` builds ``VSCConfig(alpha=0.01)`` first), so
the accepted options, their defaults, their checks and their command-line flags live in one place,
and ``config.json`` records exactly the fields.  Configs are read-only mappings too, so that
``build_model(kind, **model.config)`` rebuilds a model.

Each field is declared with :func:`option`: a default, a help text and, for the options the
``train`` verb offers as flags of their own, the flag.  Types are checked from the annotations
(``int``, ``float``, ``str``, ``bool``, ``tuple[int, ...]`` and ``X | None``) with one-line errors
that name the option; ranges are checked by each family's ``check``.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import types
import typing
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, ClassVar

from ..errors import ConfigError
from ..likelihoods import LIKELIHOODS
from ..networks import ARCHITECTURES


def option(
    default: Any,
    help: str,
    *,
    flag: str | None = None,
    choices: Sequence[str] | None = None,
) -> Any:
    """A config field: ``flag`` (e.g. ``"--alpha"``) makes it a ``sparsevae train`` flag of its own;
    every field can also be given as ``--option NAME=VALUE``."""
    metadata = {"help": help, "flag": flag, "choices": tuple(choices) if choices else None}
    return dataclasses.field(default=default, metadata=metadata)


def redefault(config_class: type, name: str, default: Any) -> Any:
    """Option ``name`` of ``config_class`` with another default, for a subclass's config."""
    meta = config_class.__dataclass_fields__[name].metadata
    return option(default, meta["help"], flag=meta["flag"], choices=meta["choices"])


def require(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(message)


@dataclasses.dataclass(frozen=True)
class ModelConfig(Mapping):
    """Options every model has.  Subclasses add fields and extend :meth:`check`."""

    input_shape: tuple[int, ...] = option((1, 28, 28), "shape of one example, (C, H, W)")

    #: Fields of older configs that are read and dropped (none yet).
    retired: ClassVar[frozenset[str]] = frozenset()
    #: Values that options added after 0.1.0 take when a saved config lacks them: what the older
    #: version did, so that its runs load and resume unchanged (the default may differ).
    legacy: ClassVar[Mapping[str, Any]] = {}

    def __post_init__(self) -> None:
        hints = typing.get_type_hints(type(self))
        for f in dataclasses.fields(self):
            value = _coerce(f.name, getattr(self, f.name), hints[f.name], f.metadata.get("choices"))
            object.__setattr__(self, f.name, value)
        self.check()

    def check(self) -> None:
        """Range checks beyond the field types; raise :class:`ConfigError` naming the option."""
        require(
            len(self.input_shape) > 0 and all(s > 0 for s in self.input_shape),
            f"input_shape must be positive sizes such as (1, 28, 28), got {self.input_shape!r}",
        )

    @classmethod
    def from_options(cls, kind: str, options: Mapping[str, Any]) -> ModelConfig:
        """The config of model ``kind`` from keyword options; unknown names are an error."""
        accepted = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(options) - accepted - cls.retired)
        if unknown:
            raise ConfigError(
                f"model {kind!r} has no option {', '.join(map(repr, unknown))}; it takes: "
                f"{', '.join(sorted(accepted))}"
            )
        return cls(**{k: v for k, v in options.items() if k in accepted})

    @classmethod
    def from_saved(cls, kind: str, options: Mapping[str, Any]) -> ModelConfig:
        """The config of a saved run: options it lacks take their ``legacy`` values first."""
        return cls.from_options(kind, {**cls.legacy, **options})

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        """Option name → default value."""
        return {f.name: f.default for f in dataclasses.fields(cls)}

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly: what ``config.json`` stores under ``model.config``."""
        return {f.name: _jsonable(getattr(self, f.name)) for f in dataclasses.fields(self)}

    def replace(self, **changes: Any) -> ModelConfig:
        return dataclasses.replace(self, **changes)

    # -- the read-only mapping, so that ``**config`` and ``config["alpha"]`` work -----------------
    def __getitem__(self, name: str) -> Any:
        if name not in self._names():
            raise KeyError(name)
        return _jsonable(getattr(self, name))

    def __iter__(self) -> Iterator[str]:
        return iter(self._names())

    def __len__(self) -> int:
        return len(self._names())

    @classmethod
    def _names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls))


def _jsonable(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _coerce(name: str, value: Any, annotation: Any, choices: tuple[str, ...] | None) -> Any:
    """``value`` as the annotated type, or a ConfigError naming the option."""
    args = typing.get_args(annotation)
    if isinstance(annotation, types.UnionType) and type(None) in args:
        if value is None:
            return None
        annotation = next(a for a in args if a is not type(None))
    if annotation is bool:
        require(isinstance(value, bool), f"{name} must be true or false, got {value!r}")
        return value
    if annotation is int:
        return _integer(name, value)
    if annotation is float:
        real = isinstance(value, numbers.Real) and not isinstance(value, bool)
        require(real and math.isfinite(value), f"{name} must be a number, got {value!r}")
        return float(value)
    if annotation is str:
        require(isinstance(value, str), f"{name} must be a string, got {value!r}")
        if choices is not None:
            require(value in choices, f"{name} must be one of {', '.join(choices)}, got {value!r}")
        return value
    if typing.get_origin(annotation) is tuple:  # tuple[int, ...]: one integer or a sequence
        if isinstance(value, numbers.Integral) and not isinstance(value, bool):
            value = (value,)
        is_sequence = isinstance(value, Sequence) and not isinstance(value, str | bytes)
        require(is_sequence, f"{name} must be a list of integers, got {value!r}")
        return tuple(_integer(name, v, "a list of integers") for v in value)
    raise TypeError(f"config field {name}: unsupported annotation {annotation!r}")


def _integer(name: str, value: Any, what: str = "an integer") -> int:
    number = isinstance(value, numbers.Real) and not isinstance(value, bool)
    ok = number and math.isfinite(value) and value == int(value)
    require(ok, f"{name} must be {what}, got {value!r}")
    return int(value)


# -- options shared by several families ------------------------------------------------------------
def latent_dim_option(default: int) -> Any:
    return option(default, "code length J (latent dimension)", flag="--latent-dim")


@dataclasses.dataclass(frozen=True)
class NetworkConfig(ModelConfig):
    """Models with an encoder network, a decoder network and a pixel likelihood."""

    latent_dim: int = latent_dim_option(200)
    hidden: tuple[int, ...] = option(
        (400,), "hidden layer sizes, e.g. 400 or 512 256", flag="--hidden"
    )
    arch: str = option("mlp", "network architecture", flag="--arch", choices=ARCHITECTURES)
    likelihood: str = option(
        "bernoulli", "pixel likelihood p(x | z)", flag="--likelihood", choices=LIKELIHOODS
    )
    likelihood_sigma: float = option(
        1.0, "standard deviation of the fixed Gaussian likelihood", flag="--sigma"
    )
    linear_decoder: bool = option(
        False,
        "a linear decoder x ≈ D·z + b with unit-norm atoms (classic sparse coding)",
        flag="--linear-decoder",
    )

    def check(self) -> None:
        super().check()
        require(
            self.latent_dim > 0, f"latent_dim must be a positive integer, got {self.latent_dim}"
        )
        require(
            all(h > 0 for h in self.hidden),
            f"hidden layer sizes must be positive integers, got {list(self.hidden)}",
        )
        require(
            self.likelihood_sigma > 0,
            f"likelihood_sigma must be positive, got {self.likelihood_sigma}",
        )
