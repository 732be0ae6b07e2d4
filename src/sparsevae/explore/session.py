"""What the explorer computes, in Python: one loaded model and its test images, held in memory.

Every request of the web page is answered from here without touching the file system: codes of a
test image or an upload, the image decoded from an edited code, traversals, prior samples and the
code usage of the whole test split.  The web layer (``app.py``) only parses and formats.

    >>> session = ExploreSession(model, data.test_x, data.test_y)      # doctest: +SKIP
    >>> result = session.analyse(data.test_x[0])                        # doctest: +SKIP
    >>> image = session.decode(result.code)                             # doctest: +SKIP
"""

from __future__ import annotations

import functools
import math
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..batching import eval_mode, map_batches, private_rng
from ..distributions import SpikeSlab
from ..errors import ConfigError, DataError
from ..evaluation.usage import code_usage
from ..generation import _as_batch
from ..models import SparseVAEModel
from ..plots.usage import plot_code_usage

MAX_SAMPLES = 64
MAX_TRAVERSAL_STEPS = 25
MAX_CODE_MAGNITUDE = 1e4  # larger edited values only overflow the decoder


@dataclass
class Analysis:
    """One input, its reconstruction and its code; ``gamma`` is VSC's γ, the probability that an
    element is active."""

    image: torch.Tensor  # (C, H, W)
    reconstruction: torch.Tensor
    code: torch.Tensor  # (J,)
    gamma: torch.Tensor | None
    label: int | None


class ExploreSession:
    """A model and the test split it is explored on.  Model calls hold a lock: the web server
    answers requests on several threads, and one model is shared."""

    def __init__(
        self,
        model: SparseVAEModel,
        test_x: torch.Tensor,
        test_y: torch.Tensor | None = None,
        *,
        title: str = "",
    ) -> None:
        if tuple(test_x.shape[1:]) != tuple(model.input_shape):
            raise DataError(
                f"the test images have shape {tuple(test_x.shape[1:])}, the model expects "
                f"{tuple(model.input_shape)}"
            )
        if model.num_classes and test_y is None:
            raise DataError(f"{model.kind!r} is conditional, but the data set has no labels")
        self.model, self.test_x, self.test_y = model, test_x, test_y
        self.title = title or model.kind
        self._lock = threading.RLock()
        self._usage_png: bytes | None = None
        with self._lock, eval_mode(model):
            y = test_y if model.num_classes else None  # map_batches passes labels when given
            self.codes = map_batches(model.encode, test_x, y, device=model.device)
        self.code_low, self.code_high = code_ranges(self.codes)

    # -- what the page shows first -----------------------------------------------------------------
    @property
    def labels(self) -> list[int]:
        """The classes of the test split, sorted (empty without labels)."""
        return [] if self.test_y is None else sorted(int(v) for v in self.test_y.unique())

    @property
    def prior_components(self) -> int:
        """How many prior components a user may pick from (vsc-uai), else 0."""
        if not self.model.learned_prior:
            return 0
        with self._lock, eval_mode(self.model):
            return int(self.model.prior().batch_shape[0])

    def indices(self, label: int | None = None) -> list[int]:
        """Test images with class ``label``, or all of them."""
        if label is None:
            return list(range(len(self.test_x)))
        if self.test_y is None:
            raise DataError("this data set has no labels to choose images by")
        return torch.nonzero(self.test_y == label).flatten().tolist()

    def test_image(self, index: int) -> tuple[torch.Tensor, int | None]:
        if not 0 <= index < len(self.test_x):
            raise DataError(f"test image {index} does not exist: there are {len(self.test_x)}")
        label = None if self.test_y is None else int(self.test_y[index])
        return self.test_x[index], label

    # -- the model -------------------------------------------------------------------------------
    def analyse(self, image: torch.Tensor, label: int | None = None) -> Analysis:
        """Code, γ (spike-and-slab posteriors) and reconstruction of one image."""
        model = self.model
        y = self._labels(label, 1)
        with self._lock, eval_mode(model):
            x = _as_batch(model, image)
            code = model.encode(x, y)
            reconstruction = model.decode(code, y)
            gamma = None
            if model.is_variational:
                posterior = model.posterior(x, y)
                gamma = posterior.probs[0].cpu() if isinstance(posterior, SpikeSlab) else None
        return Analysis(image.cpu(), reconstruction[0].cpu(), code[0].cpu(), gamma, label)

    def decode(self, code: torch.Tensor, label: int | None = None) -> torch.Tensor:
        """The image ``(C, H, W)`` decoded from one code ``(J,)``."""
        return self.decode_many(self.check_code(code)[None], label)[0]

    @staticmethod
    def traversal_values(low: float, high: float, steps: int) -> torch.Tensor:
        """``steps`` evenly spaced values from ``low`` to ``high``, within the allowed steps."""
        if not 2 <= steps <= MAX_TRAVERSAL_STEPS:
            raise ConfigError(f"a traversal takes 2 to {MAX_TRAVERSAL_STEPS} steps, got {steps}")
        if not (abs(low) <= MAX_CODE_MAGNITUDE and abs(high) <= MAX_CODE_MAGNITUDE):
            raise ConfigError(f"traversal ends must lie within ±{MAX_CODE_MAGNITUDE:g}")
        return torch.linspace(low, high, steps)

    def traverse(
        self, code: torch.Tensor, dim: int, values: torch.Tensor, label: int | None = None
    ) -> torch.Tensor:
        """Images ``(V, C, H, W)`` of ``code`` with element ``dim`` set to each of ``values``."""
        code = self.check_code(code)
        if not 0 <= dim < self.model.latent_dim:
            raise ConfigError(f"latent element {dim} does not exist: J = {self.model.latent_dim}")
        if not 1 <= len(values) <= MAX_TRAVERSAL_STEPS:
            raise ConfigError(f"a traversal takes 1 to {MAX_TRAVERSAL_STEPS} values")
        codes = code.repeat(len(values), 1)
        codes[:, dim] = values
        return self.decode_many(codes, label)

    def decode_many(self, codes: torch.Tensor, label: int | None = None) -> torch.Tensor:
        with self._lock, eval_mode(self.model):
            y = self._labels(label, len(codes))
            images = self.model.decode(codes.to(self.model.device), y).cpu()
        if not bool(torch.isfinite(images).all()):
            raise DataError("the decoded image is not finite: move the values back towards 0")
        return images

    def samples(self, n: int, seed: int = 0, component: int | None = None) -> torch.Tensor:
        """``n`` images decoded from prior draws, or from one prior component (vsc-uai)."""
        model = self.model
        if not model.is_variational:
            raise ConfigError(f"model {model.kind!r} has no prior to sample from")
        if not 1 <= n <= MAX_SAMPLES:
            raise ConfigError(f"the number of samples must be in [1, {MAX_SAMPLES}], got {n}")
        components = self.prior_components
        if component is not None and not 0 <= component < components:
            raise ConfigError(f"prior component {component} does not exist ({components} in all)")
        with self._lock, eval_mode(model), private_rng(seed):
            if component is None:
                return model.sample(n, self._labels(None, n)).cpu()
            prior = model.prior()  # the components, batch shape (P, J)
            picked = SpikeSlab(prior.probs[component], prior.loc[component],
                               prior.scale[component], validate_args=False)  # fmt: skip
            return model.decode(picked.sample((n,))).cpu()

    def usage_png(self) -> bytes:
        """The code-usage figure of the whole test split (drawn once, kept in memory)."""
        with self._lock:
            if self._usage_png is None:
                with tempfile.TemporaryDirectory() as tmp:
                    path = plot_code_usage(
                        self.codes, Path(tmp) / "usage.png", self.test_y, title=self.title
                    )
                    self._usage_png = path.read_bytes()
            return self._usage_png

    @functools.cached_property
    def usage_summary(self) -> dict[str, Any]:
        """The headline numbers of ``code_usage`` on the test split."""
        summary = code_usage(self.codes, self.test_y, pairs=2000)
        keys = ("dead_latents", "always_on_latents", "input_dependent_latents",
                "active_elements_mean", "jaccard_mean")  # fmt: skip
        return {key: summary[key] for key in keys}

    # -- checks ------------------------------------------------------------------------------------
    def check_code(self, code: torch.Tensor) -> torch.Tensor:
        code = torch.as_tensor(code, dtype=torch.float32).reshape(-1)
        if len(code) != self.model.latent_dim:
            raise DataError(f"a code has {self.model.latent_dim} elements, got {len(code)}")
        if not bool(torch.isfinite(code).all()) or float(code.abs().max()) > MAX_CODE_MAGNITUDE:
            raise DataError(f"code values must be finite numbers within ±{MAX_CODE_MAGNITUDE:g}")
        return code

    def _labels(self, label: int | None, n: int) -> torch.Tensor | None:
        """Labels for a conditional model: ``label`` for all ``n`` or the classes in turn."""
        classes = self.model.num_classes
        if not classes:
            return None
        if label is None:
            return torch.arange(n, device=self.model.device) % classes
        if not 0 <= label < classes:
            raise ConfigError(f"the label must be in [0, {classes}), got {label}")
        return torch.full((n,), label, device=self.model.device)


def code_ranges(codes: torch.Tensor) -> tuple[list[float], list[float]]:
    """Per latent, a slider range: the values seen on the test split and 0, widened by a quarter
    (by 1 for a latent that never moves)."""
    low = codes.min(0).values.clamp(max=0)
    high = codes.max(0).values.clamp(min=0)
    pad = torch.where(high > low, 0.25 * (high - low), torch.ones_like(low))
    return [_round(v) for v in low - pad], [_round(v) for v in high + pad]


def _round(value: torch.Tensor) -> float:
    """A range end with 3 significant digits, for readable slider ends."""
    v = float(value)
    if v == 0 or not math.isfinite(v):
        return 0.0
    digits = 2 - math.floor(math.log10(abs(v)))
    return round(v, digits)
