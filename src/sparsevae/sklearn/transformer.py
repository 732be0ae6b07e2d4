"""Any sparsevae model as a scikit-learn transformer (see :mod:`sparsevae.sklearn`)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from numbers import Integral, Real
from typing import Any, ClassVar

import numpy as np
import torch
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
    _fit_context,
)
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_array, check_is_fitted, validate_data

from ..batching import eval_mode, iter_batches, map_batches, private_rng
from ..data.scaling import apply_scaling, infer_scaling, invert_scaling, unit_map
from ..errors import DataError
from ..likelihoods import LIKELIHOODS
from ..models import SparseVAEModel, build_model
from ..models.registry import model_class, model_parameters
from ..training import NAN_POLICIES, OPTIMIZERS, Remedies, TrainConfig, Trainer

# ``scale`` names the scaling kind it fits (sparsevae.data.scaling).
SCALES = {"global": "minmax", "feature": "minmax-per-feature", "none": "none"}
FLOAT_DTYPES = [np.float64, np.float32]
# A non-finite stop advises the estimator's parameters, not the CLI's flags.
ESTIMATOR_REMEDIES = Remedies(
    lower_lr="learning_rate={lr:g}",
    grad_clip="grad_clip=10",
    kl_warmup="kl_warmup=5",
    skip='nan_policy="skip"',
)


class InputRangeError(DataError, ValueError):
    """Data outside [0, 1] with ``scale="none"`` (a ValueError, as scikit-learn expects)."""


class SparseVAETransformer(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Any sparsevae model as a scikit-learn transformer: ``transform`` gives its code.

    Parameters
    ----------
    model : str, default="vsc"
        Registered model kind (``sparsevae.MODELS``): ``"vsc"``, ``"vae"``, ``"sparse-ae"``, …
    n_components : int, default=None
        Code length (the model's ``latent_dim``).  None: ``n_features``.
    hidden_layer_sizes : tuple of int, default=(400,)
        Hidden layer sizes of the MLP encoder (the decoder mirrors them).
    likelihood : {"bernoulli", "gaussian", "gaussian-learned"}, default="bernoulli"
        Pixel likelihood ``p(x | z)``.
    model_options : dict, default=None
        Further model keywords (e.g. ``{"l1": 0.1}`` for ``sparse-ae``, ``{"beta": 4}``).
    max_iter : int, default=30
        Passes (epochs) over the data in ``fit``; ``partial_fit`` schedules over this many calls.
    batch_size : int, default=32
        Mini-batch size.
    learning_rate : float, default=1e-3
        Adam's learning rate.
    kl_warmup : float, default=0.0
        Passes over which the KL weight rises from 0 to 1.
    grad_clip : float, default=None
        Clip the global gradient norm to this value.
    ema : float, default=0.0
        Decay of an exponential moving average of the weights (e.g. 0.999); the average is the
        fitted model, and ``partial_fit`` continues from the raw weights.  0 turns it off.
    nan_policy : {"stop", "skip"}, default="stop"
        On a non-finite loss or gradient: raise, or skip that batch (counted in ``n_skipped_``).
    scale : {"global", "feature", "none"}, default="global"
        How X is brought into [0, 1] (see the module documentation).
    device : str, default="cpu"
        ``"cpu"``, ``"cuda"`` or ``"auto"``.
    random_state : int, RandomState instance or None, default=None
        Seeds the weights, the batch order and the posterior draws.
    verbose : bool, default=False
        Print a progress bar and one line per pass.

    Attributes
    ----------
    model_ : SparseVAEModel
        The trained torch module (eval mode).
    n_components_ : int
        Code length.
    n_features_in_ : int
        Number of features seen in ``fit``.
    feature_names_in_ : ndarray of str
        Feature names, when X had string column names.
    data_min_, data_range_ : ndarray
        The affine map into [0, 1]: ``(X - data_min_) / data_range_``.
    history_ : list of dict
        Per-pass training record (loss terms, schedules).
    n_iter_ : int
        Passes over the data so far.
    n_steps_ : int
        Mini-batch steps so far.
    n_skipped_ : int
        Batches skipped for non-finite values (``nan_policy="skip"``).
    """

    _parameter_constraints: ClassVar[dict] = {
        "model": [str],
        "n_components": [Interval(Integral, 1, None, closed="left"), None],
        "hidden_layer_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
        "likelihood": [StrOptions(set(LIKELIHOODS))],
        "model_options": [dict, None],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "kl_warmup": [Interval(Real, 0, None, closed="left")],
        "grad_clip": [Interval(Real, 0, None, closed="neither"), None],
        "ema": [Interval(Real, 0, 1, closed="left")],
        "nan_policy": [StrOptions(set(NAN_POLICIES))],
        "scale": [StrOptions(set(SCALES))],
        "device": [str],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        model: str = "vsc",
        n_components: int | None = None,
        *,
        hidden_layer_sizes: tuple[int, ...] = (400,),
        likelihood: str = "bernoulli",
        model_options: dict[str, Any] | None = None,
        max_iter: int = 30,
        batch_size: int = 32,
        learning_rate: float = 1e-3,
        kl_warmup: float = 0.0,
        grad_clip: float | None = None,
        ema: float = 0.0,
        nan_policy: str = "stop",
        scale: str = "global",
        device: str = "cpu",
        random_state: int | np.random.RandomState | None = None,
        verbose: bool = False,
    ) -> None:
        self.model = model
        self.n_components = n_components
        self.hidden_layer_sizes = hidden_layer_sizes
        self.likelihood = likelihood
        self.model_options = model_options
        self.max_iter = max_iter
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.kl_warmup = kl_warmup
        self.grad_clip = grad_clip
        self.ema = ema
        self.nan_policy = nan_policy
        self.scale = scale
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    # -- what subclasses change ------------------------------------------------------------------
    def _model_kind(self) -> str:
        return self.model

    def _model_keywords(self) -> dict[str, Any]:
        return dict(self.model_options or {})

    # -- fitting ---------------------------------------------------------------------------------
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: Any, y: Any = None) -> SparseVAETransformer:
        """Train a fresh model for ``max_iter`` passes over X.  ``y`` is ignored."""
        X = validate_data(self, X, dtype=FLOAT_DTYPES, reset=True)
        self._learn_scaling(X)
        x = torch.from_numpy(self._to_unit_range(X))
        self._seed, self._rng_states = self._draw_seed(), None
        with self._training_rng():
            self._trainer = self._new_trainer(X.shape[1])
            self._trainer.fit(x)
        return self._fitted()

    def partial_fit(self, X: Any, y: Any = None) -> SparseVAETransformer:
        """One pass over X (in mini-batches) from the current state; the first call builds the
        model and learns the scaling from this X.  ``y`` is ignored.

        A pass is one more epoch of the trainer that ``fit`` runs, through the same step: the
        schedules (VSC sharpness, KL warm-up) advance over ``max_iter`` passes, the optimiser and
        weight averages carry over, and ``max_iter`` calls on the same X train exactly as ``fit``.
        The non-finite rules are ``fit``'s: with ``nan_policy="stop"`` the check reads the device
        every 100 batches and at the end of the pass, so a stopped pass may leave non-finite
        weights behind (fit again)."""
        first = not hasattr(self, "model_")
        if first:
            self._validate_params()
        X = validate_data(self, X, dtype=FLOAT_DTYPES, reset=first)
        if first:
            self._learn_scaling(X)
            self._seed, self._rng_states = self._draw_seed(), None
        x = torch.from_numpy(self._to_unit_range(X))
        with self._training_rng():
            if first:
                self._trainer = self._new_trainer(X.shape[1])
            self._trainer.fit_epoch(x)
        return self._fitted()

    @contextmanager
    def _training_rng(self) -> Iterator[None]:
        """torch's random state where the last ``fit`` or pass left it (``random_state``'s seed at
        the start), so passes continue one stream; the caller's own state is restored after."""
        with private_rng(self._seed):
            if self._rng_states is not None:
                cpu, cuda = self._rng_states
                torch.set_rng_state(cpu)
                if cuda:
                    torch.cuda.set_rng_state_all(cuda)
            yield
            cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else []
            self._rng_states = (torch.get_rng_state(), cuda)

    def _fitted(self) -> SparseVAETransformer:
        """The fitted attributes, from the trainer (which ``partial_fit`` continues)."""
        trainer = self._trainer
        self.model_ = trainer.model
        self.history_ = trainer.history
        self.n_iter_ = len(trainer.history)
        self.n_steps_ = trainer.steps_done
        self.n_skipped_ = trainer.skipped_batches
        return self

    # -- using the fitted model ------------------------------------------------------------------
    def transform(self, X: Any) -> np.ndarray:
        """The code of each row (for VSC: the sparse posterior mean, exact zeros included)."""
        check_is_fitted(self)
        X = validate_data(self, X, dtype=FLOAT_DTYPES, reset=False)
        x = torch.from_numpy(self._to_unit_range(X)).reshape(-1, *self.model_.input_shape)
        return self._batched(self.model_.encode, x, X.dtype)

    def inverse_transform(self, X: Any) -> np.ndarray:
        """Decode codes back to data space (the decoder's mean, in the units ``fit`` saw)."""
        check_is_fitted(self)
        Z = check_array(X, dtype=FLOAT_DTYPES)
        if Z.shape[1] != self.n_components_:
            raise ValueError(
                f"X has {Z.shape[1]} features (code elements), but {type(self).__name__} "
                f"has n_components_={self.n_components_}"
            )
        unit = self._batched(self.model_.decode, torch.from_numpy(Z.astype(np.float32)), Z.dtype)
        return invert_scaling(unit, self._scaling).astype(Z.dtype, copy=False)

    def score(self, X: Any, y: Any = None) -> float:
        """Mean ELBO per example in nats (higher is better) — one exact posterior draw per
        example, seeded by ``random_state``.  Models without a prior (autoencoders) return minus
        their mean loss (so that, like an ELBO, higher is better)."""
        check_is_fitted(self)
        X = validate_data(self, X, dtype=FLOAT_DTYPES, reset=False)
        model = self.model_
        x = torch.from_numpy(self._to_unit_range(X)).reshape(-1, *model.input_shape)
        total = 0.0
        with private_rng(self._seed), eval_mode(model):
            for xb, _ in iter_batches(x, device=model.device):
                if model.is_variational:
                    total += float(model.elbo(xb).sum())
                else:
                    total -= float(model.loss(xb).loss) * len(xb)
        return total / len(x)

    @property
    def _n_features_out(self) -> int:
        return self.n_components_

    # -- helpers ---------------------------------------------------------------------------------
    def _new_trainer(self, n_features: int) -> Trainer:
        """A fresh model for ``n_features`` and the trainer of ``max_iter`` passes over it."""
        return Trainer(
            self._build_model(n_features),
            self._train_config(self._seed, epochs=self.max_iter),
            progress=bool(self.verbose),
            remedies=ESTIMATOR_REMEDIES,
        )

    def _build_model(self, n_features: int) -> SparseVAEModel:
        kind = self._model_kind()
        accepted = model_parameters(model_class(kind))
        hidden = self.hidden_layer_sizes
        hidden = [int(hidden)] if isinstance(hidden, Integral) else [int(h) for h in hidden]
        if any(h < 1 for h in hidden):
            raise ValueError(f"hidden_layer_sizes must be positive integers, got {hidden!r}")
        self.n_components_ = int(self.n_components or n_features)
        keywords: dict[str, Any] = {
            "input_shape": [1, n_features],
            "latent_dim": self.n_components_,
            "hidden": hidden,
            "likelihood": self.likelihood,
        }
        keywords = {k: v for k, v in keywords.items() if k in accepted}
        keywords.update(self._model_keywords())
        unknown = sorted(set(keywords) - set(accepted))
        if unknown:
            raise ValueError(f"model {kind!r} takes no option(s) {', '.join(unknown)}")
        model = build_model(kind, **keywords)
        if model.num_classes:
            raise ValueError(f"model {kind!r} is conditional (needs labels); it cannot transform X")
        return model

    def _train_config(self, seed: int, epochs: int) -> TrainConfig:
        return TrainConfig(
            epochs=epochs,
            batch_size=self.batch_size,
            lr=float(self.learning_rate),
            seed=seed,
            device=self.device,
            grad_clip=self.grad_clip,
            kl_warmup_epochs=float(self.kl_warmup),
            optimizer=OPTIMIZERS[0],
            nan_policy=self.nan_policy,
            ema_decay=float(self.ema),
        )

    def _draw_seed(self) -> int:
        return int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))

    def _learn_scaling(self, X: np.ndarray) -> None:
        if self.scale == "none":
            self._check_unit_range(X)
        self._scaling = infer_scaling(X, SCALES[self.scale])
        self.data_min_, self.data_range_ = unit_map(self._scaling)

    def _check_unit_range(self, X: np.ndarray) -> None:
        low, high = float(X.min()), float(X.max())
        if low < 0.0 or high > 1.0:
            raise InputRangeError(
                f"X has values in [{low:.4g}, {high:.4g}] but scale='none' needs [0, 1]; "
                "rescale X or use scale='global' or scale='feature'"
            )

    def _to_unit_range(self, X: np.ndarray) -> np.ndarray:
        if self.scale == "none":
            self._check_unit_range(X)
        return apply_scaling(X, self._scaling, "X")

    def _batched(self, function: Any, x: torch.Tensor, dtype: np.dtype) -> np.ndarray:
        """``function`` over batches of ``x`` in eval mode, as rows of ``dtype``'s precision."""
        with eval_mode(self.model_):
            out = map_batches(function, x, device=self.model_.device)
        out = out.reshape(len(out), -1).numpy()
        return out.astype(np.float32 if dtype == np.float32 else np.float64, copy=False)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags
