"""The LLGAE comparison's settings, its rows, each row's recipe and cost."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ...errors import ConfigError, RunDirectoryError
from ..cost import autoencoder_macs, compute_seconds, training_seconds

NAME = "llgae"
ROWS = ("llgae", "llgae-lstsq-codes", "llgae-lstsq", "lgae", "pca", "mixture-pca", "ae")
# Training lengths of the note's comparison; QUICK replaces them (any flag given still wins).
FULL: dict[str, Any] = {
    "llgae_epochs": 140,
    "llgae_lstsq_epochs": 30,
    "lgae_epochs": 50,
    "ae_epochs": 100,
    "mixture_iterations": 20,
}
QUICK: dict[str, Any] = {
    "llgae_epochs": 2,
    "llgae_lstsq_epochs": 1,
    "lgae_epochs": 1,
    "ae_epochs": 2,
    "mixture_iterations": 3,
}
QUICK_TEXT = "every row with 1–2 epochs and 3 mixture steps (a few minutes on MNIST on a CPU)"
# Settings that change the results: rows made with others are never mixed into one table.
PINNED = (
    "dataset",
    "components",
    "component_dim",
    "step_size",
    "steps",
    "llgae_init",
    "llgae_epochs",
    "llgae_lstsq_epochs",
    "lgae_epochs",
    "ae_epochs",
    "ae_hidden",
    "mixture_iterations",
    "batch_size",
    "lr",
    "seed",
)


@dataclass(frozen=True)
class RowSpec:
    """One row of the table; its name is its id."""

    row: str

    @property
    def id(self) -> str:
        return self.row


@dataclass
class LlgaeSettings:
    dataset: str = "mnist"
    data_dir: str | None = None
    rows: tuple[str, ...] = ROWS
    reuse: dict[str, str] = field(default_factory=dict)  # row → run directory trained elsewhere
    components: int = 11
    component_dim: int = 20
    step_size: float = 0.01
    steps: int = 5
    llgae_init: str = "random"  # or mixture-pca: start from the closed-form mixture of PCAs
    llgae_epochs: int = 140
    llgae_lstsq_epochs: int = 30
    lgae_epochs: int = 50
    ae_epochs: int = 100
    ae_hidden: tuple[int, ...] = (400,)
    mixture_iterations: int = 20
    batch_size: int = 280
    lr: float = 1e-3
    seed: int = 0
    device: str = "auto"

    def __post_init__(self) -> None:
        for name in ("components", "component_dim", "steps", "batch_size", "mixture_iterations"):
            if getattr(self, name) < 1:
                raise ConfigError(f"--{name.replace('_', '-')} must be at least 1")
        unknown = sorted(set(self.rows) - set(ROWS))
        if unknown:
            raise ConfigError(f"unknown rows {unknown}; choose from {', '.join(ROWS)}")
        if self.llgae_init not in ("random", "mixture-pca"):
            raise ConfigError(f"llgae-init must be random or mixture-pca, not {self.llgae_init!r}")
        for row, directory in self.reuse.items():
            if row not in ROWS:
                raise ConfigError(f"--reuse: unknown row {row!r}; choose from {', '.join(ROWS)}")
            if not Path(directory).is_dir():
                raise RunDirectoryError(f"--reuse {row}: {directory} is not a directory")
        if "llgae-lstsq-codes" in self.rows and "llgae" not in self.rows + tuple(self.reuse):
            raise ConfigError(
                "the llgae-lstsq-codes row needs the llgae row (or --reuse llgae=RUN_DIR)"
            )
        self.rows = tuple(self.rows)
        self.ae_hidden = tuple(self.ae_hidden)
        self.reuse = {row: str(directory) for row, directory in self.reuse.items()}

    def record(self) -> dict[str, Any]:
        """The settings as ``sweep.json`` keeps them."""
        return asdict(self)

    def runs(self) -> list[RowSpec]:
        """The chosen rows in the fixed order (llgae-lstsq-codes needs the llgae row first)."""
        return [RowSpec(row) for row in ROWS if row in self.rows]

    def recipe(self, row: str, shape: list[int]) -> tuple[str, dict[str, Any], dict[str, Any]]:
        """(model kind, model config, training config) of a trained row."""
        k, e = self.components, self.component_dim
        iteration = {"step_size": self.step_size, "steps": self.steps}
        mixture = {"components": k, "component_dim": e, **iteration, "init": self.llgae_init}
        rmsprop = {"optimizer": "rmsprop", "lr": self.lr, "batch_size": self.batch_size}
        adam = {"optimizer": "adam", "lr": self.lr, "batch_size": self.batch_size}
        recipes: dict[str, tuple[str, dict[str, Any], dict[str, Any]]] = {
            "llgae": ("llgae", mixture, {**rmsprop, "epochs": self.llgae_epochs}),
            "llgae-lstsq": (
                "llgae",
                {**mixture, "code_solver": "lstsq"},
                {**rmsprop, "epochs": self.llgae_lstsq_epochs},
            ),
            "lgae": (
                "lgae",
                {"component_dim": e, **iteration},
                {**rmsprop, "epochs": self.lgae_epochs},
            ),
            "pca": ("pca", {"latent_dim": e}, {"epochs": 1}),
            "mixture-pca": (
                "mixture-pca",
                {
                    "components": k,
                    "component_dim": e,
                    "iterations": self.mixture_iterations,
                    "seed": self.seed,
                },
                {"epochs": 1},
            ),
            "ae": (
                "ae",
                {"latent_dim": e, "hidden": list(self.ae_hidden), "likelihood": "gaussian"},
                {**adam, "epochs": self.ae_epochs},
            ),
        }
        kind, model_config, train_config = recipes[row]
        return kind, {"input_shape": shape, **model_config}, train_config

    def estimate_seconds(self, spec: RowSpec, n_train: int, n_test: int, pixels: int) -> float:
        """Rough CPU seconds to train (unless reused) and score one row."""
        k, e, t = self.components, self.component_dim, self.steps
        iteration = (2 * t + 1) * pixels * e  # T steps of Wᵀ(x − μ), W c; then the decode
        scoring = compute_seconds(k * iteration * n_test)
        if spec.row in self.reuse or spec.row == "llgae-lstsq-codes":
            return scoring
        if spec.row == "mixture-pca":
            return self._mixture_seconds(n_train, pixels) + scoring
        if spec.row == "pca":
            return compute_seconds(n_train * pixels**2) + scoring
        if spec.row == "ae":
            macs = autoencoder_macs(pixels, self.ae_hidden, e, heads=1)
            return training_seconds(macs, n_train * self.ae_epochs) + scoring
        if spec.row == "lgae":
            return training_seconds(iteration, n_train * self.lgae_epochs) + scoring
        epochs = self.llgae_epochs if spec.row == "llgae" else self.llgae_lstsq_epochs
        start = self._mixture_seconds(n_train, pixels) if self.llgae_init == "mixture-pca" else 0
        return start + training_seconds(k * iteration, n_train * epochs) + scoring

    def _mixture_seconds(self, n_train: int, pixels: int) -> float:
        """Each alternating step: assign every example to a subspace, refit each subspace."""
        step = n_train * (2 * self.components * pixels * self.component_dim + pixels**2)
        return compute_seconds(self.mixture_iterations * step)
