"""scikit-learn estimators: a sparse code for any sparsevae model, in ``Pipeline`` and ``GridSearchCV``.

:class:`VariationalSparseCoding` follows the conventions of ``DictionaryLearning`` and
``MiniBatchDictionaryLearning``: ``n_components`` is the code length, ``alpha`` the prior spike
probability, ``fit`` / ``partial_fit`` / ``transform`` (the sparse code) / ``inverse_transform``
(decode) / ``score`` (mean ELBO, higher is better).  :class:`SparseVAETransformer` does the same for
any registered model kind (``model="vae"``, ``"sparse-ae"``, …).

Input is 2-D ``(n_samples, n_features)``.  The models expect values in [0, 1]; ``scale`` says how
other values get there:

* ``"global"`` (default): one minimum and one maximum learned by ``fit`` over all of X, so relative
  intensities are kept (digits' 0–16 become x / 16; data already spanning [0, 1] are unchanged);
* ``"feature"``: a minimum and maximum per feature (like ``MinMaxScaler``);
* ``"none"``: X must already lie in [0, 1]; anything else is an error.

With ``"global"`` and ``"feature"``, ``transform`` clips values outside the range seen in ``fit``,
and ``inverse_transform`` maps back to the original units.

Training uses sparsevae's trainer (same loss, schedules and non-finite checks as ``sparsevae train``)
on the CPU unless ``device`` says otherwise.  Randomness comes from ``random_state`` alone and never
touches torch's global random state.  Fitted estimators pickle (the torch module pickles with them);
sparsevae's own run directories stay pickle-free (``sparsevae.save_model(dir, est.model_)``).
"""

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

from .errors import DataError, TrainingError
from .likelihoods import LIKELIHOODS
from .models import Schedule, SparseVAEModel, build_model
from .models.registry import model_class, model_parameters
from .training.schedules import linear_warmup
from .training.trainer import (
    NAN_POLICIES,
    OPTIMIZERS,
    TrainConfig,
    Trainer,
    WeightAverage,
    gradient_norm,
    optimizer_for,
    resolve_device,
)

__all__ = ["SparseVAETransformer", "VariationalSparseCoding"]

SCALES = ("global", "feature", "none")
FLOAT_DTYPES = [np.float64, np.float32]


class InputRangeError(DataError, ValueError):
    """Data outside [0, 1] with ``scale="none"`` (a ValueError, as scikit-learn expects)."""


@contextmanager
def _private_rng(seed: int) -> Iterator[None]:
    """Seed torch for this block only; the caller's global torch RNG state is restored after."""
    devices = [torch.cuda.current_device()] if torch.cuda.is_initialized() else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


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
        x = self._to_unit_range(X)
        seed = self._draw_seed()
        with _private_rng(seed):
            model = self._build_model(X.shape[1])
            config = self._train_config(seed, epochs=self.max_iter)
            trainer = Trainer(model, config, progress=bool(self.verbose))
            history = trainer.fit(torch.from_numpy(x))
        self.model_ = model.eval()
        self.history_ = history
        self.n_iter_ = len(history)
        self.n_steps_ = int(history[-1]["step"]) if history else 0
        self.n_skipped_ = trainer.skipped_batches
        self._optimizer = trainer.optimizer  # partial_fit continues with Adam's moments
        self._averages = trainer.averages  # and with the raw weights behind the average
        self._seed = seed
        return self

    def partial_fit(self, X: Any, y: Any = None) -> SparseVAETransformer:
        """One pass over X (in mini-batches) from the current state; the first call builds the
        model and learns the scaling from this X.  Schedules (VSC sharpness, KL warm-up) advance
        over ``max_iter`` calls.  ``y`` is ignored."""
        first = not hasattr(self, "model_")
        if first:
            self._validate_params()
        X = validate_data(self, X, dtype=FLOAT_DTYPES, reset=first)
        if first:
            self._learn_scaling(X)
            self._seed = self._draw_seed()
            with _private_rng(self._seed):
                self.model_ = self._build_model(X.shape[1])
            self.history_, self.n_iter_, self.n_steps_, self.n_skipped_ = [], 0, 0, 0
            self._optimizer = None
            self._averages = None
        x = torch.from_numpy(self._to_unit_range(X))
        with _private_rng(self._seed + 7919 * (self.n_iter_ + 1)):
            self._one_pass(x)
        return self

    def _one_pass(self, x: torch.Tensor) -> None:
        config = self._train_config(self._seed, epochs=self.max_iter)
        model = self.model_
        device = resolve_device(config.device)
        model.to(device).train()
        x = x.to(device).reshape(-1, *model.input_shape)
        if self._optimizer is None:
            self._optimizer = optimizer_for(model, config.optimizer, config.lr)
        optimizer = self._optimizer
        averages = self._averages if config.ema_decay else None
        if averages is not None and averages.raw:
            averages.restore_raw()  # the model holds the average; training goes on from the raw
        elif config.ema_decay:
            averages = self._averages = WeightAverage(model, config.ema_decay)
        n = len(x)
        steps = -(-n // config.batch_size)
        warmup_steps = round(config.kl_warmup_epochs * steps)
        order = torch.randperm(n, device=device)
        schedule = Schedule()
        sums, used, skipped = None, 0, 0
        for b in range(steps):
            index = order[b * config.batch_size : (b + 1) * config.batch_size]
            progress = min((self.n_iter_ + b / steps) / max(self.max_iter - 1, 1), 1.0)
            schedule = model.update_schedules(progress)
            if schedule.lr_scale is not None:
                for group in optimizer.param_groups:
                    group["lr"] = config.lr * schedule.lr_scale
            out = model.loss(x[index], None, linear_warmup(self.n_steps_, warmup_steps))
            optimizer.zero_grad(set_to_none=True)
            out.loss.backward()
            if config.grad_clip is not None:
                norm = torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            else:
                norm = gradient_norm(model)
            terms = torch.stack([t.detach() for t in out.terms.values()])
            self.n_steps_ += 1
            # partial_fit passes are small: one host read per batch keeps bad values out of the
            # weights for both policies.
            if not bool(torch.isfinite(terms).all() & torch.isfinite(norm)):
                if config.nan_policy == "stop":
                    model.eval()
                    raise TrainingError(
                        f"non-finite loss or gradient in partial_fit pass {self.n_iter_ + 1} "
                        f"(batch {b + 1} of {steps}); lower learning_rate, set grad_clip, or "
                        'use nan_policy="skip"'
                    )
                skipped += 1
                continue
            optimizer.step()
            if averages is not None:
                averages.update()
            sums = terms * len(index) if sums is None else sums + terms * len(index)
            used += len(index)
        if averages is not None:
            averages.finish()
        model.eval()
        self.n_iter_ += 1
        self.n_skipped_ += skipped
        if used == 0:
            raise TrainingError("every batch of this partial_fit pass had a non-finite loss")
        record: dict[str, Any] = {"epoch": self.n_iter_, "step": self.n_steps_}
        record.update(
            {f"train/{k}": v for k, v in zip(out.terms, (sums / used).tolist(), strict=True)}
        )
        record.update(schedule.record())
        self.history_.append(record)

    # -- using the fitted model ------------------------------------------------------------------
    def transform(self, X: Any) -> np.ndarray:
        """The code of each row (for VSC: the sparse posterior mean, exact zeros included)."""
        check_is_fitted(self)
        X = validate_data(self, X, dtype=FLOAT_DTYPES, reset=False)
        shape = self.model_.input_shape
        return self._batched(
            lambda xb: self.model_.encode(xb.reshape(-1, *shape)), self._to_unit_range(X), X.dtype
        )

    def inverse_transform(self, X: Any) -> np.ndarray:
        """Decode codes back to data space (the decoder's mean, in the units ``fit`` saw)."""
        check_is_fitted(self)
        Z = check_array(X, dtype=FLOAT_DTYPES)
        if Z.shape[1] != self.n_components_:
            raise ValueError(
                f"X has {Z.shape[1]} features (code elements), but {type(self).__name__} "
                f"has n_components_={self.n_components_}"
            )
        unit = self._batched(lambda zb: self.model_.decode(zb), Z.astype(np.float32), Z.dtype)
        return (unit * self.data_range_ + self.data_min_).astype(Z.dtype, copy=False)

    def score(self, X: Any, y: Any = None) -> float:
        """Mean ELBO per example in nats (higher is better) — one exact posterior draw per
        example, seeded by ``random_state``.  Models without a prior (autoencoders) return minus
        their mean loss (so that, like an ELBO, higher is better)."""
        check_is_fitted(self)
        X = validate_data(self, X, dtype=FLOAT_DTYPES, reset=False)
        x = torch.from_numpy(self._to_unit_range(X))
        model = self.model_
        total = 0.0
        with _private_rng(self._seed), torch.no_grad():
            for start in range(0, len(x), 1000):
                xb = x[start : start + 1000].to(model.device).reshape(-1, *model.input_shape)
                if model.is_variational:
                    total += float(model.elbo(xb).sum())
                else:
                    total -= float(model.loss(xb).loss) * len(xb)
        return total / len(x)

    @property
    def _n_features_out(self) -> int:
        return self.n_components_

    # -- helpers ---------------------------------------------------------------------------------
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
            self.data_min_, self.data_range_ = np.zeros(1), np.ones(1)
            self._check_unit_range(X)
            return
        axis = 0 if self.scale == "feature" else None
        low = np.atleast_1d(X.min(axis=axis)).astype(np.float64)
        span = np.atleast_1d(X.max(axis=axis)).astype(np.float64) - low
        self.data_min_ = low
        self.data_range_ = np.where(span > 0, span, 1.0)  # a constant feature maps to 0

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
            return np.ascontiguousarray(X, dtype=np.float32)
        unit = (X - self.data_min_) / self.data_range_
        return np.clip(unit, 0.0, 1.0).astype(np.float32)

    def _batched(self, function: Any, values: np.ndarray, dtype: np.dtype) -> np.ndarray:
        model = self.model_
        was_training = model.training
        model.eval()
        parts = []
        with torch.no_grad():
            for start in range(0, len(values), 1000):
                batch = torch.from_numpy(values[start : start + 1000]).to(model.device)
                parts.append(function(batch).reshape(len(batch), -1).cpu().numpy())
        model.train(was_training)
        out = np.concatenate(parts) if parts else np.zeros((0, 0), np.float32)
        return out.astype(np.float32 if dtype == np.float32 else np.float64, copy=False)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags


class VariationalSparseCoding(SparseVAETransformer):
    """Variational Sparse Coding (spike-and-slab VAE) as a scikit-learn transformer.

    ``transform`` returns the sparse code γ·μ (elements with γ below ``code_threshold`` exactly 0);
    ``inverse_transform`` decodes codes; ``score`` is the mean ELBO.

    Parameters
    ----------
    n_components : int, default=None
        Code length J (the latent dimension).  None: ``n_features``.
    alpha : float, default=0.5
        Prior spike probability α in (0, 1): the prior probability that a code element is
        active (the VSC paper uses small values such as 0.01 for sparse codes).
    code_threshold : float, default=0.5
        Elements whose posterior spike probability γ is below this are set to exactly 0.
    sharpness : tuple of (float, float), default=(50.0, 200.0)
        The relaxation sharpness c at the start and end of training (rises linearly).

    All other parameters are those of :class:`SparseVAETransformer` (without ``model``).

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.pipeline import make_pipeline
    >>> X, y = load_digits(return_X_y=True)
    >>> pipe = make_pipeline(VariationalSparseCoding(n_components=64, random_state=0),
    ...                      LogisticRegression(max_iter=1000))
    >>> pipe.fit(X, y).score(X, y)  # doctest: +SKIP
    """

    _parameter_constraints: ClassVar[dict] = {
        **{k: v for k, v in SparseVAETransformer._parameter_constraints.items() if k != "model"},
        "alpha": [Interval(Real, 0, 1, closed="neither")],
        "code_threshold": [Interval(Real, 0, 1, closed="both")],
        "sharpness": ["array-like"],
    }

    def __init__(
        self,
        n_components: int | None = None,
        *,
        alpha: float = 0.5,
        code_threshold: float = 0.5,
        sharpness: tuple[float, float] = (50.0, 200.0),
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
        # Set here rather than through SparseVAETransformer.__init__: ``model`` is no parameter of
        # this class, and scikit-learn reads the parameters from this signature.
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
        self.alpha = alpha
        self.code_threshold = code_threshold
        self.sharpness = sharpness

    def _model_kind(self) -> str:
        return "vsc"

    def _model_keywords(self) -> dict[str, Any]:
        sharpness = [float(c) for c in np.ravel(self.sharpness)]
        if len(sharpness) != 2 or min(sharpness) <= 0:
            raise ValueError(
                f"sharpness must be two positive numbers (start, end), got {sharpness}"
            )
        return {
            "alpha": float(self.alpha),
            "code_threshold": float(self.code_threshold),
            "sharpness_start": sharpness[0],
            "sharpness_end": sharpness[1],
            **(self.model_options or {}),
        }
