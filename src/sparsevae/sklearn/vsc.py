"""Variational Sparse Coding as a scikit-learn transformer."""

from __future__ import annotations

from numbers import Real
from typing import Any, ClassVar

import numpy as np
from sklearn.utils._param_validation import Interval

from .transformer import SparseVAETransformer


class VariationalSparseCoding(SparseVAETransformer):
    """Variational Sparse Coding (spike-and-slab VAE) as a scikit-learn transformer.

    ``transform`` returns the sparse code: μ where γ ≥ ``code_threshold``, exactly 0 elsewhere;
    ``inverse_transform`` decodes codes; ``score`` is the mean ELBO.

    Parameters
    ----------
    n_components : int, default=None
        Code length J (the latent dimension).  None: ``n_features``.
    alpha : float, default=0.5
        α in (0, 1), the prior probability that a code element is active (non-zero); the VSC
        paper uses small values such as 0.01 for sparse codes.
    code_threshold : float, default=0.5
        Elements whose posterior probability γ of being active is below this are set to
        exactly 0.
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
