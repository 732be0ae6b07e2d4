"""The sparse-coding frontier: which model gives the best code at a given number of non-zeros.

Each sparse model's sparsity knob is swept (TopK's k, vsc-threshold's target active fraction,
VSC's α, the L1 autoencoder's weight) beside the classic baselines (PCA with as many components
as non-zeros, dictionary learning with OMP at k non-zeros), so that each has runs near the target
numbers of non-zeros per example (5, 10 and 20 by default).  Every run is scored on the test set
by its non-zeros per example, its squared reconstruction error and a linear probe on its code.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from ...errors import ConfigError
from ..cost import autoencoder_macs, compute_seconds, dataset_sizes, training_seconds

NAME = "sparse-frontier"
# Each model kind's sparsity knob (a model option).
KNOBS = {
    "topk-ae": "k",
    "vsc-threshold": "active_fraction",
    "vsc": "alpha",
    "sparse-ae": "l1",
    "dict-learning": "nonzeros",
    "pca": "latent_dim",
}
MODELS = tuple(KNOBS)
# Knobs that are not a number of non-zeros: grids measured to land near 5, 10 and 20 non-zeros
# per MNIST image at J = 200 (docs/sparse-models.md).
FIXED_GRIDS: dict[str, tuple[float, ...]] = {
    "vsc": (0.01, 0.2, 0.35, 0.42, 0.46, 0.5),
    "sparse-ae": (30.0, 10.0, 3.0),
}
FULL: dict[str, Any] = {
    "datasets": ["mnist"],
    "latent_dim": 200,
    "targets": [5, 10, 20],
    "epochs": 11,
    "train_limit": 0,
    "probe_labels": 5000,
}
QUICK: dict[str, Any] = {
    "datasets": ["mnist"],
    "latent_dim": 32,
    "targets": [2, 4],
    "epochs": 1,
    "train_limit": 2000,
    "probe_labels": 500,
}
QUICK_GRIDS: dict[str, list[float]] = {"vsc": [0.2, 0.5], "sparse-ae": [1.0, 0.3]}
QUICK_TEXT = "J = 32, 2 and 4 non-zeros, 1 epoch on 2,000 images (about a minute on a CPU)"
# Settings that change the results: a resumed sweep must keep them.
PINNED = (
    "latent_dim",
    "hidden",
    "epochs",
    "batch_size",
    "lr",
    "ema_decay",
    "likelihood",
    "likelihood_sigma",
    "train_limit",
    "probe_labels",
    "seed",
)
# The codes of the models with exact-zero posteriors, each scored (their default is one of them).
SPIKE_CODES = ("sparse-mean", "mean-active", "mean")
CODES_OF = {
    "vsc": (*SPIKE_CODES, "most-probable"),
    "vsc-threshold": (*SPIKE_CODES, "most-probable", "best-draw"),
}


@dataclass(frozen=True)
class RunSpec:
    """One trained model: a kind at one value of its sparsity knob."""

    dataset: str
    kind: str
    knob: str
    value: float

    @property
    def id(self) -> str:
        return f"{self.dataset}-{self.kind}-{self.knob}{self.value:g}"


@dataclass
class FrontierSettings:
    datasets: list[str]
    latent_dim: int
    targets: list[int]
    epochs: int
    train_limit: int  # 0: every training image
    probe_labels: int
    models: tuple[str, ...] = MODELS
    grids: dict[str, list[float]] = field(default_factory=dict)  # a kind's knob values
    hidden: int = 400
    batch_size: int = 32
    lr: float = 1e-3
    ema_decay: float = 0.999
    likelihood: str = "bernoulli"
    likelihood_sigma: float = 1.0  # of a Gaussian likelihood (0.1 suits natural patches)
    seed: int = 0
    device: str = "auto"
    data_dirs: dict[str, str] = field(default_factory=dict)  # data set → directory of its files

    def __post_init__(self) -> None:
        unknown = sorted(set(self.models) - set(KNOBS))
        if unknown:
            raise ConfigError(f"unknown model {unknown[0]!r}; choose from {', '.join(MODELS)}")
        extra = sorted(set(self.grids) - set(self.models))
        if extra:
            raise ConfigError(f"--grid {extra[0]}: that model is not in --models")
        if not self.targets or min(self.targets) < 1 or max(self.targets) > self.latent_dim:
            raise ConfigError(f"targets must lie between 1 and latent-dim ({self.latent_dim})")
        for name in ("latent_dim", "epochs", "batch_size", "hidden", "probe_labels"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name.replace('_', '-')} must be >= 1")
        if self.train_limit < 0 or self.lr <= 0 or not 0 <= self.ema_decay < 1:
            raise ConfigError("train-limit must be >= 0, lr > 0 and ema in [0, 1)")

    def record(self) -> dict[str, Any]:
        return asdict(self)

    def grid(self, kind: str) -> list[float]:
        """The knob values of ``kind``: given, fixed, or the targets themselves."""
        if kind in self.grids:
            return list(self.grids[kind])
        if kind == "vsc-threshold":
            return [t / self.latent_dim for t in self.targets]
        return list(FIXED_GRIDS.get(kind, self.targets))

    def runs(self) -> list[RunSpec]:
        return [
            RunSpec(dataset, kind, KNOBS[kind], float(value))
            for dataset in self.datasets
            for kind in self.models
            for value in self.grid(kind)
        ]

    def model_options(self, spec: RunSpec, shape: list[int]) -> dict[str, Any]:
        """The model's keyword options for ``spec`` on images of ``shape``."""
        value = int(spec.value) if spec.knob in ("k", "nonzeros", "latent_dim") else spec.value
        options: dict[str, Any] = {"input_shape": shape, spec.knob: value}
        if spec.kind in ("pca",):
            return options
        options.setdefault("latent_dim", self.latent_dim)
        if spec.kind == "dict-learning":
            return {**options, "seed": self.seed}
        options.update(
            hidden=[self.hidden], likelihood=self.likelihood, likelihood_sigma=self.likelihood_sigma
        )
        if spec.kind == "vsc":
            options["sharpness_schedule"] = "constant"  # c = 50, as the reimplementation trains
        return options

    def estimate_seconds(self, spec: RunSpec) -> float:
        """Rough CPU seconds to train and score ``spec``."""
        n_train, n_test, pixels = dataset_sizes(spec.dataset)
        n_train = min(n_train, self.train_limit) if self.train_limit else n_train
        if spec.kind == "pca":
            return compute_seconds(n_train * pixels * pixels) + 5.0
        if spec.kind == "dict-learning":
            return 30.0 + 2e-3 * (n_test + self.probe_labels) * spec.value
        heads = {"vsc": 3, "vsc-threshold": 2}.get(spec.kind, 1)
        macs = autoencoder_macs(pixels, [self.hidden], self.latent_dim, heads)
        return training_seconds(macs, n_train * self.epochs) + 10.0
