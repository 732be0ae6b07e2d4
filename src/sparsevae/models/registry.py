"""Model names → classes.  A model class registers itself with ``@register_model``."""

from __future__ import annotations

from typing import Any

from ..errors import ConfigError
from .base import SparseVAEModel

MODELS: dict[str, type[SparseVAEModel]] = {}


def register_model(cls: type[SparseVAEModel]) -> type[SparseVAEModel]:
    if not cls.kind:
        raise TypeError(f"{cls.__name__} must set a `kind` to be registered")
    if cls.kind in MODELS and MODELS[cls.kind] is not cls:
        raise TypeError(f"model kind {cls.kind!r} is registered twice")
    MODELS[cls.kind] = cls
    return cls


def model_class(kind: str) -> type[SparseVAEModel]:
    try:
        return MODELS[kind]
    except KeyError:
        raise ConfigError(
            f"unknown model {kind!r}; choose one of {', '.join(sorted(MODELS))}"
        ) from None


def build_model(kind: str, **config: Any) -> SparseVAEModel:
    """Build a model by registry name from its keyword config (as stored in ``config.json``)."""
    return model_class(kind)(**config)


def rebuild_model(kind: str, config: dict[str, Any]) -> SparseVAEModel:
    """The model of a saved run (``config.json``'s ``model``): options added since the run was
    written take the values the older version used (``ModelConfig.legacy``)."""
    cls = model_class(kind)
    return cls(cls.config_class.from_saved(kind, config))


def model_parameters(cls: type[SparseVAEModel]) -> dict[str, Any]:
    """Keyword options a model class accepts, with their defaults (its config's fields)."""
    return cls.config_class.defaults()
