"""The UAI 2019 Smiley protocol: its settings, the runs (model × J × β) and what each costs."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from ...data.synthetic import SMILEY_SIZE
from ...errors import ConfigError
from ..cost import autoencoder_macs, compute_seconds, training_seconds

NAME = "uai2019-smiley"
# The contenders: the paper's three, the learned prior with the authors' selection and sparsity
# term, and the sparse models of "Sparse codes that work".
PAPER_MODELS = ("vsc-uai", "beta-vae", "beta-tcvae")
MODELS = ("vsc-uai", "vsc-uai-authors", "vsc", "vsc-threshold", "topk-ae", "beta-vae", "beta-tcvae")
BETA_MODELS = ("beta-vae", "beta-tcvae")  # β chosen on validation data from the grid
FACTOR_VIEWS = ("sources", "all", "gated")  # what the codes are scored against (--factors)
N_ATTRIBUTES = 4  # Smiley factors: 4 binary attributes, then the 18 sources
PIXELS = SMILEY_SIZE * SMILEY_SIZE  # a Smiley image is 1×32×32
# The supplement's full-size protocol; QUICK replaces it for a smoke test (any flag still wins).
FULL: dict[str, Any] = {
    "latent_dims": [18, 40, 60],
    "betas": [2.0, 4.0],
    "hidden": [3000],
    "likelihood": "gaussian-learned",
    "n_train": 80000,
    "n_val": 2000,
    "n_test": 5000,
    "epochs": 1250,
    "batch_size": 500,
    "lr": 5e-4,
    "alpha": 0.003,
    "n_pseudo_inputs": 20,
    "variant": "supplement",
    "warmup_start": 0.375,
    "warmup_end": 0.4,
    "lr_drop_at": 0.4,
    "l2_normalise": False,
    "prior_spike_sharpness": None,
    "baseline_lr": None,
    "models": list(PAPER_MODELS),
    "vsc_alpha": 0.1,
    "topk_k": 10,
}
# The authors' Smiley notebook: 60,000 images each divided by its L2 norm, 200,000 iterations of
# batch 500 (1,667 epochs), rate ×0.1 after iteration 60,000, spikes alone until 75,000 then a
# ramp to 80,000, 10 pseudo-inputs with the L2-normalised sigmoid selector, their spikes sharpened
# with ν = 10; the β-VAE and β-TCVAE at rate 5e-5 with β from 1 to 50.  A GPU protocol.
AUTHORS: dict[str, Any] = {
    **FULL,
    "betas": [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 50.0],
    "n_train": 60000,
    "epochs": 1667,
    "n_pseudo_inputs": 10,
    "variant": "authors",
    "lr_drop_at": 0.3,
    "l2_normalise": True,
    "prior_spike_sharpness": 10.0,
    "baseline_lr": 5e-5,
}
# A protocol for this kind of CPU (about an hour per J on one core: 11 runs of 4–6 min) in which
# every baseline learns the data: the authors' 60,000 images, one hidden layer of 512 units,
# Bernoulli pixels, batch 100, 30 epochs (18,000 iterations) at 1e-3; the learned prior's phases
# at the fractions its compressed-schedule runs needed (spikes alone for 10 %, slab ramp to 15 %,
# rate ×0.1 at 80 %, docs/uai2019.md); β from 1 to 16; all contenders.
CPU: dict[str, Any] = {
    **FULL,
    "betas": [1.0, 4.0, 16.0],
    "hidden": [512],
    "likelihood": "bernoulli",
    "n_train": 60000,
    "n_val": 2000,
    "n_test": 5000,
    "epochs": 30,
    "batch_size": 100,
    "lr": 1e-3,
    "alpha": 0.05,
    "warmup_start": 0.1,
    "warmup_end": 0.15,
    "lr_drop_at": 0.8,
    "models": list(MODELS),
}
PROTOCOLS = {"supplement": FULL, "authors": AUTHORS, "cpu": CPU}
QUICK: dict[str, Any] = {
    "latent_dims": [18],
    "betas": [2.0],
    "hidden": [256],
    "likelihood": "bernoulli",
    "n_train": 2000,
    "n_val": 200,
    "n_test": 500,
    "epochs": 2,
    "batch_size": 100,
    "lr": 1e-3,
}
QUICK_TEXT = "J = 18, β = 2, hidden 256, 2 epochs on 2,000 images (about a minute on a CPU)"
# Settings that change the results: rows made with others are never mixed into one table.
PINNED = (
    "hidden",
    "likelihood",
    "alpha",
    "n_pseudo_inputs",
    "variant",
    "warmup_start",
    "warmup_end",
    "lr_drop_at",
    "l2_normalise",
    "prior_spike_sharpness",
    "baseline_lr",
    "n_train",
    "n_val",
    "n_test",
    "epochs",
    "batch_size",
    "lr",
    "seed",
    "factors",
    "dci_method",
)
# Scoring a run's codes (DCI with random forests, MIG, SAP) on validation and test: an allowance,
# not a measurement.
SCORE_SECONDS = 20.0


@dataclass(frozen=True)
class RunSpec:
    kind: str
    latent_dim: int
    beta: float | None = None

    @property
    def model_kind(self) -> str:
        """The registered model a contender is (``vsc-uai-authors`` is ``vsc-uai``)."""
        return "vsc-uai" if self.kind.startswith("vsc-uai") else self.kind

    @property
    def id(self) -> str:
        return f"{self.kind}_J{self.latent_dim}" + ("" if self.beta is None else f"_b{self.beta:g}")


@dataclass
class SmileySettings:
    latent_dims: list[int]
    betas: list[float]
    hidden: list[int]
    likelihood: str
    n_train: int
    n_val: int
    n_test: int
    epochs: int
    batch_size: int
    lr: float
    models: tuple[str, ...] = MODELS
    alpha: float = 0.003  # α: VSC's target probability that a code element is active
    n_pseudo_inputs: int = 20
    variant: str = "supplement"
    warmup_start: float = 0.375  # VSC: the spike-only phase ends (fraction of training)
    warmup_end: float = 0.4  # VSC: the slab warm-up ramp ends
    lr_drop_at: float = 0.4  # VSC: learning rate × 0.1 from here on
    l2_normalise: bool = False  # each image divided by its L2 norm (the authors' scaling)
    prior_spike_sharpness: float | None = None  # VSC: ν sharpening the pseudo-inputs' spikes
    baseline_lr: float | None = None  # the β-VAE's and β-TCVAE's rate (None: lr)
    vsc_alpha: float = 0.1  # α of the fixed-prior contenders (vsc, vsc-threshold)
    topk_k: int = 10  # topk-ae's non-zero elements per input
    protocol: str = "supplement"  # the preset the defaults came from (a name, for the record)
    seed: int = 0
    factors: str = "sources"  # all: the 22 factors; gated: attributes + sources gated by them
    dci_method: str = "forest"
    device: str = "auto"

    def __post_init__(self) -> None:
        if self.n_train < 1 or self.n_val < 10 or self.n_test < 10:
            raise ConfigError("--n-train must be >= 1, --n-val and --n-test >= 10")
        if any(j < 2 for j in self.latent_dims):
            raise ConfigError("--latent-dims must be at least 2")
        if any(not b > 0 for b in self.betas):
            raise ConfigError("--betas must be positive")
        if self.factors not in FACTOR_VIEWS:
            raise ConfigError(
                f"--factors must be one of {', '.join(FACTOR_VIEWS)}, got {self.factors!r}"
            )
        unknown = sorted(set(self.models) - set(MODELS))
        if unknown:
            raise ConfigError(f"--models: unknown {unknown}; choose from {', '.join(MODELS)}")
        self.models = tuple(self.models)

    def record(self) -> dict[str, Any]:
        """The settings as ``sweep.json`` (and results.json's ``protocol``) keep them."""
        return asdict(self)

    def runs(self) -> list[RunSpec]:
        """Per J and model: β-VAE and β-TCVAE for each β, the others once."""
        return [
            RunSpec(kind, latent_dim, beta)
            for latent_dim in self.latent_dims
            for kind in self.models
            for beta in (self.betas if kind in BETA_MODELS else [None])
        ]

    def model_config(self, spec: RunSpec, input_shape: list[int]) -> dict[str, Any]:
        config: dict[str, Any] = {
            "input_shape": input_shape,
            "latent_dim": spec.latent_dim,
            "hidden": list(self.hidden),
            "likelihood": self.likelihood,
        }
        if spec.model_kind == "vsc-uai":
            config.update(
                alpha=self.alpha,
                n_pseudo_inputs=self.n_pseudo_inputs,
                variant="authors" if spec.kind == "vsc-uai-authors" else self.variant,
                warmup_start=self.warmup_start,
                warmup_end=self.warmup_end,
                lr_drop_at=self.lr_drop_at,
            )
            if self.prior_spike_sharpness is not None:
                config["prior_spike_sharpness"] = self.prior_spike_sharpness
        elif spec.kind in ("vsc", "vsc-threshold"):
            config["alpha" if spec.kind == "vsc" else "active_fraction"] = self.vsc_alpha
        elif spec.kind == "topk-ae":
            config["k"] = min(self.topk_k, spec.latent_dim)
        else:
            config["beta"] = spec.beta
            if spec.kind == "beta-tcvae":  # MWS normaliser: only the logged MI/TC depend on it
                config["dataset_size"] = self.n_train
        return config

    def lr_of(self, spec: RunSpec) -> float:
        """The learning rate of ``spec``'s run: the baselines may have their own."""
        if spec.kind not in BETA_MODELS or self.baseline_lr is None:
            return self.lr
        return self.baseline_lr

    def estimate_seconds(self, spec: RunSpec) -> float:
        """Rough CPU seconds to train one run and score it."""
        heads = {"vsc-uai": 3, "vsc": 3, "topk-ae": 1}.get(spec.model_kind, 2)
        macs = autoencoder_macs(PIXELS, self.hidden, spec.latent_dim, heads)
        if spec.model_kind == "vsc-uai":  # the pseudo-inputs go through the encoder every batch
            macs *= 1 + self.n_pseudo_inputs / self.batch_size
        encode = compute_seconds(macs * (self.n_val + self.n_test))
        return training_seconds(macs, self.n_train * self.epochs) + encode + SCORE_SECONDS
