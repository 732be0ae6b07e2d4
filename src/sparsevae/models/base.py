"""The model protocol: what every sparsevae model has and what the trainer, evaluation and the
scikit-learn estimators may call.

Every hook is declared here with its default, so callers never probe a model with ``getattr``:

===========================  =================================================================
``loss(x, y, kl_weight)``    the objective and its named terms (:class:`LossOutput`)
``encode`` / ``decode``      the downstream code and the expected image of a code
``update_schedules(p)``      schedule-driven values at training progress p (:class:`Schedule`)
``initialise_from_data(x)``  data-dependent start of a fresh run (default: nothing)
``fit_closed_form(x)``       models with ``fits_in_closed_form = True`` are fitted by it instead
                             of gradient steps
``extra_metrics(x, y)``      model-specific numbers that join ``evaluate_model`` (default: none)
``settable_elements(code)``  the elements of one code a traversal may change (default: all)
``posterior`` / ``prior`` /  variational models only (``is_variational = True``); the others
``prior_for`` / ``elbo`` /   raise :class:`ConfigError`
``sample``
===========================  =================================================================

The public ``encode``, ``decode`` and ``elbo`` take NumPy arrays as well as tensors: the base class
wraps each subclass's own methods (:func:`.inputs.checked_call`), so their input is checked
against ``input_shape`` / ``latent_dim`` (flat rows are reshaped, integer values and other shapes
are a one-line :class:`DataError`) and moved to the model's device and dtype before the subclass
sees it.  In eval mode these calls run without autograd unless their input requires a gradient:
codes and images come back as plain tensors (``model.encode(x).numpy()`` works); in training mode,
as inside ``loss``, the graph is kept.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import nn

from ..errors import ConfigError
from .config import ModelConfig
from .inputs import CHECKED, CHECKED_METHODS, checked_call


@dataclass
class LossOutput:
    """``loss`` is what the optimiser minimises (batch mean); ``terms`` are batch means in nats per
    example, every one of them logged (``loss`` included)."""

    loss: torch.Tensor
    terms: dict[str, torch.Tensor] = field(default_factory=dict)


@dataclass
class Schedule:
    """What a model's schedules set at one point of training.

    ``values`` are logged with every epoch (e.g. VSC's sharpness c); ``lr_scale``, when set,
    multiplies the optimiser's base learning rate (and is logged too).
    """

    values: dict[str, float] = field(default_factory=dict)
    lr_scale: float | None = None

    def record(self) -> dict[str, float]:
        """The values as logged in ``metrics.jsonl``."""
        if self.lr_scale is None:
            return dict(self.values)
        return {**self.values, "lr_scale": self.lr_scale}


class SparseVAEModel(nn.Module):
    """Base class.  A subclass sets ``kind`` (its registry name) and ``config_class`` (its options),
    and implements ``loss``, ``encode`` and ``decode``.

    Build it from keyword options (``VSC(latent_dim=200, alpha=0.01)``) or from a config object
    (``VSC(VSCConfig(alpha=0.01))``); ``model.config`` is the validated config.
    """

    kind: ClassVar[str] = ""
    config_class: ClassVar[type[ModelConfig]] = ModelConfig
    #: True for models with a prior (ELBO, importance sampling, prior samples are defined).
    is_variational: ClassVar[bool] = False
    #: True for models fitted by ``fit_closed_form`` rather than by gradient steps.
    fits_in_closed_form: ClassVar[bool] = False
    #: True when the prior is learned and picked per input (vsc-uai's pseudo-input components).
    learned_prior: ClassVar[bool] = False
    #: True for models whose code is meant to be sparse (exact zeros chosen per input): their code
    #: usage is checked at the end of training (``usage_warning``).
    sparse_code: ClassVar[bool] = False
    #: True for models that can be trained in a stack of models of one shape
    #: (:mod:`sparsevae.training.stacked`): their loss draws noise only through
    #: :mod:`sparsevae.noise` and reads numbers that may differ between the models of a stack only
    #: from the float attributes ``per_model_values`` (set from the config fields
    #: ``per_model_options`` and by ``update_schedules``; every other config field must be equal).
    stackable: ClassVar[bool] = False
    per_model_values: ClassVar[tuple[str, ...]] = ()
    per_model_options: ClassVar[tuple[str, ...]] = ()

    input_shape: tuple[int, ...]
    latent_dim: int
    num_classes: int = 0

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Wrap the subclass's own ``encode``, ``decode`` and ``elbo`` in the input check."""
        super().__init_subclass__(**kwargs)
        for name in CHECKED_METHODS:
            method = cls.__dict__.get(name)
            if method is not None and method not in CHECKED:
                setattr(cls, name, checked_call(method, name))

    def __init__(self, config: ModelConfig | None = None, /, **options: Any) -> None:
        super().__init__()
        if config is None:
            config = self.config_class.from_options(self.kind, options)
        elif options or not isinstance(config, self.config_class):
            raise ConfigError(
                f"{type(self).__name__} takes a {self.config_class.__name__} or keyword options"
            )
        self.config = config
        self.input_shape = config.input_shape

    @property
    def input_size(self) -> int:
        return math.prod(self.input_shape)

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    # -- what every model implements ----------------------------------------------------------------
    def loss(
        self, x: torch.Tensor, y: torch.Tensor | None = None, kl_weight: float = 1.0
    ) -> LossOutput:
        """The training objective on a batch and its named terms (nats per example)."""
        raise NotImplementedError

    def encode(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """The deterministic code used downstream, ``(N, latent_dim)``."""
        raise NotImplementedError

    def decode(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Expected image for codes ``z``, shaped like the input."""
        raise NotImplementedError

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.decode(self.encode(x, y), y)

    # -- hooks with defaults ----------------------------------------------------------------------
    def update_schedules(self, progress: float) -> Schedule:
        """Set schedule-driven values for training progress in [0, 1]; return them."""
        return Schedule()

    def initialise_from_data(self, x: torch.Tensor) -> None:
        """Called once by the trainer before the first step of a fresh run (not on resume)."""

    def fit_closed_form(self, x: torch.Tensor) -> None:
        """Fit the model to ``x`` in closed form (only where ``fits_in_closed_form``)."""
        raise ConfigError(f"model {self.kind!r} is trained by gradient steps, not in closed form")

    def extra_metrics(self, x: torch.Tensor, y: torch.Tensor | None = None) -> dict[str, float]:
        """Model-specific test metrics that join ``evaluate_model``'s (default: none)."""
        return {}

    def settable_elements(self, code: torch.Tensor) -> torch.Tensor:
        """Boolean ``(latent_dim,)``: the elements of one example's ``code`` that can take other
        values and still decode (block codes: the example's own block)."""
        return torch.ones_like(code, dtype=torch.bool)

    # -- variational models (``is_variational``) override these ----------------------------------
    def posterior(self, x: torch.Tensor, y: torch.Tensor | None = None):
        """q(z | x) as a ``torch.distributions`` object."""
        raise self._no_prior("a posterior")

    def prior(self):
        """p(z) as a ``torch.distributions`` object."""
        raise self._no_prior("a prior")

    def prior_for(self, x: torch.Tensor):
        """The prior each example's KL is taken against, batch shape ``(N, latent_dim)``: p(z)
        itself, or for a learned prior the component picked for the example."""
        raise self._no_prior("a prior")

    def elbo(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Single-sample ELBO per example (nats)."""
        raise self._no_prior("an ELBO")

    def sample(self, n: int, y: torch.Tensor | None = None) -> torch.Tensor:
        """``n`` images decoded from prior draws."""
        raise self._no_prior("prior samples")

    def _no_prior(self, what: str) -> ConfigError:
        return ConfigError(f"model {self.kind!r} has no prior, so it has no {what}")

    # -- shared helpers -------------------------------------------------------------------------
    def one_hot(self, y: torch.Tensor | None, batch: int) -> torch.Tensor | None:
        """Labels as one-hot rows for conditional models; None for unconditional ones."""
        if not self.num_classes:
            return None
        if y is None:
            raise ConfigError(f"model {self.kind!r} is conditional: pass labels (y) as well")
        y = torch.as_tensor(y, device=self.device).long().reshape(-1)
        if y.numel() != batch or (y.numel() and (y.min() < 0 or y.max() >= self.num_classes)):
            raise ConfigError(f"labels must be {batch} integers in [0, {self.num_classes})")
        return nn.functional.one_hot(y, self.num_classes).to(torch.get_default_dtype())

    def extra_repr(self) -> str:
        return f"kind={self.kind!r}, input_shape={self.input_shape}, latent_dim={self.latent_dim}"
