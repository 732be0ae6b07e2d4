"""Experiment tracking: a run's config, every epoch record and its figures, sent to TensorBoard or
MLflow (optional extras: ``pip install 'sparsevae[tensorboard]'`` / ``'sparsevae[mlflow]'``).

A tracker is an epoch-record callback of the :class:`~.loop.Trainer` (``callbacks=[tracker]``)
and a context manager that closes it, marking an MLflow run failed or killed when the block
raises::

    with TensorBoardTracker("runs/vsc/tensorboard") as tb:
        sparsevae.fit(model, x, x_test, callbacks=[tb])

Scalars are logged against the epoch: every ``train/<term>`` and ``test/<term>`` loss term, the
schedule values (KL weight, VSC's sharpness, …) and the epoch's seconds.  Neither needs an
account or a server: TensorBoard writes event files into the run directory, MLflow a local
database ``mlruns/mlflow.db`` (artifacts beside it in ``mlruns/``) unless ``MLFLOW_TRACKING_URI``
or ``uri`` names another store.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from .stopping import TrainingInterrupted

TRACKERS = ("tensorboard", "mlflow")
EXTRAS = {"tensorboard": "tensorboard", "mlflow": "mlflow"}
NOT_SCALARS = ("epoch", "step")  # the x axis, and the optimiser's step count
MLFLOW_DIR = "mlruns"
DEFAULT_EXPERIMENT = "sparsevae"
PARAM_LENGTH = 500  # MLflow's limit on a parameter's value in older versions


def scalars(record: Mapping[str, Any]) -> dict[str, float]:
    """The finite numbers of an epoch record (or of final metrics), ``epoch`` and ``step`` aside."""
    return {
        key: float(value)
        for key, value in record.items()
        if key not in NOT_SCALARS
        and isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
    }


def flat_params(config: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """A run's config as ``section.key`` → text (lists as JSON), for trackers' parameters; the data
    set's own record (``data.info``: scalings, class names) is left out."""
    params: dict[str, str] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if name == "data.info":
            continue
        if isinstance(value, Mapping):
            params.update(flat_params(value, f"{name}."))
        else:
            text = value if isinstance(value, str) else json.dumps(value)
            params[name] = text[:PARAM_LENGTH]
    return params


def _missing_extra(name: str) -> ConfigError:
    return ConfigError(
        f"--log {name} needs the {name} package: pip install 'sparsevae[{EXTRAS[name]}]'"
    )


class Tracker:
    """What every tracker does; a no-op base.  ``tracker(record)`` logs one epoch record."""

    def log_params(self, params: Mapping[str, str]) -> None:
        """The run's configuration (see :func:`flat_params`)."""

    def log_metrics(self, metrics: Mapping[str, float], step: int) -> None:
        """Scalars at ``step`` (the epoch)."""

    def log_figures(self, paths: Iterable[Path], step: int) -> None:
        """PNG figures, as images or artifacts."""

    def close(self, status: str = "FINISHED") -> None:
        """Flush and end the run: ``FINISHED``, ``FAILED`` or ``KILLED``."""

    def __call__(self, record: Mapping[str, Any]) -> None:
        self.log_metrics(scalars(record), int(record["epoch"]))

    def __enter__(self) -> Tracker:
        return self

    def __exit__(self, kind: type[BaseException] | None, *_: Any) -> None:
        interrupted = kind is not None and issubclass(kind, KeyboardInterrupt | TrainingInterrupted)
        self.close("FINISHED" if kind is None else "KILLED" if interrupted else "FAILED")


class TensorBoardTracker(Tracker):
    """Event files in ``log_dir`` (``tensorboard --logdir runs`` shows every run)."""

    def __init__(self, log_dir: str | Path) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise _missing_extra("tensorboard") from None
        self.writer = SummaryWriter(log_dir=str(log_dir))

    def log_params(self, params: Mapping[str, str]) -> None:
        from torch.utils.tensorboard.summary import hparams

        table = "\n".join(f"| {k} | {v} |" for k, v in params.items())
        self.writer.add_text("config", "| parameter | value |\n|---|---|\n" + table)
        for summary in hparams(dict(params), {}):  # the HParams dashboard's columns
            self.writer.file_writer.add_summary(summary)

    def log_metrics(self, metrics: Mapping[str, float], step: int) -> None:
        for key, value in metrics.items():
            self.writer.add_scalar(key, value, global_step=step)

    def log_figures(self, paths: Iterable[Path], step: int) -> None:
        import numpy as np
        from PIL import Image

        for path in paths:
            with Image.open(path) as image:
                pixels = np.asarray(image.convert("RGB"))
            self.writer.add_image(Path(path).stem, pixels, global_step=step, dataformats="HWC")

    def close(self, status: str = "FINISHED") -> None:
        self.writer.flush()
        self.writer.close()


class MLflowTracker(Tracker):
    """One MLflow run in ``experiment``, named ``run_name``, in the store at ``uri`` (default:
    ``MLFLOW_TRACKING_URI``, else a local SQLite database in ``./mlruns``)."""

    def __init__(
        self, run_name: str, *, uri: str | None = None, experiment: str | None = None
    ) -> None:
        try:
            from mlflow.tracking import MlflowClient
        except ImportError:
            raise _missing_extra("mlflow") from None
        uri = uri or os.environ.get("MLFLOW_TRACKING_URI") or local_mlflow_uri()
        name = experiment or os.environ.get("MLFLOW_EXPERIMENT_NAME") or DEFAULT_EXPERIMENT
        with _quiet_mlflow():  # store creation logs its migrations at INFO
            self.client = MlflowClient(tracking_uri=uri)
            found = self.client.get_experiment_by_name(name)
            if found is not None:
                experiment_id = found.experiment_id
            else:
                experiment_id = self.client.create_experiment(name, _artifacts_for(uri))
            self.run_id = self.client.create_run(experiment_id, run_name=run_name).info.run_id
        self.uri = uri

    def log_params(self, params: Mapping[str, str]) -> None:
        from mlflow.entities import Param

        items = [Param(k, v) for k, v in params.items()]
        for start in range(0, len(items), 100):  # MLflow takes 100 parameters a call
            self.client.log_batch(self.run_id, params=items[start : start + 100])

    def log_metrics(self, metrics: Mapping[str, float], step: int) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        batch = [Metric(k, v, now, step) for k, v in metrics.items()]
        if batch:
            self.client.log_batch(self.run_id, metrics=batch)

    def log_figures(self, paths: Iterable[Path], step: int) -> None:
        for path in paths:
            self.client.log_artifact(self.run_id, str(path))

    def close(self, status: str = "FINISHED") -> None:
        self.client.set_terminated(self.run_id, status)


def local_mlflow_uri(root: str | Path = MLFLOW_DIR) -> str:
    """The default store: a SQLite database in ``root`` (created), the current one by default."""
    directory = Path(root).resolve()
    directory.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{directory / 'mlflow.db'}"


def _artifacts_for(uri: str) -> str | None:
    """Artifacts of a local SQLite store go beside its database; other stores choose."""
    if uri.startswith("sqlite:///"):
        return (Path(uri.removeprefix("sqlite:///")).parent / "artifacts").as_uri()
    return None


@contextmanager
def _quiet_mlflow() -> Iterator[None]:
    loggers = [logging.getLogger(name) for name in ("mlflow", "alembic")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


class Trackers(Tracker):
    """Several trackers as one (each gets every call); closing closes them all."""

    def __init__(self, trackers: Sequence[Tracker] = ()) -> None:
        self.trackers = list(trackers)

    def log_params(self, params: Mapping[str, str]) -> None:
        for tracker in self.trackers:
            tracker.log_params(params)

    def log_metrics(self, metrics: Mapping[str, float], step: int) -> None:
        for tracker in self.trackers:
            tracker.log_metrics(metrics, step)

    def log_figures(self, paths: Iterable[Path], step: int) -> None:
        paths = list(paths)
        for tracker in self.trackers:
            tracker.log_figures(paths, step)

    def close(self, status: str = "FINISHED") -> None:
        with ExitStack() as stack:  # every tracker is closed even when one fails to
            for tracker in self.trackers:
                stack.callback(tracker.close, status)


def check_trackers(names: Iterable[str]) -> None:
    """Refuse, before any work, a tracker whose extra is not installed (one line)."""
    import importlib.util

    modules = {"tensorboard": "tensorboard", "mlflow": "mlflow"}
    for name in dict.fromkeys(names):
        if name not in TRACKERS:
            raise ConfigError(f"unknown tracker {name!r}; choose from {', '.join(TRACKERS)}")
        if importlib.util.find_spec(modules[name]) is None:
            raise _missing_extra(name)


def open_trackers(
    names: Iterable[str],
    run_dir: Path,
    config: Mapping[str, Any],
    *,
    mlflow_uri: str | None = None,
) -> Trackers:
    """The trackers named (``tensorboard``: event files in ``run_dir/tensorboard``; ``mlflow``: a
    run named after ``run_dir``), each given the run's ``config`` as parameters."""
    from .checkpoints import TENSORBOARD_DIR

    opened = Trackers()
    try:
        for name in dict.fromkeys(names):
            if name == "tensorboard":
                opened.trackers.append(TensorBoardTracker(Path(run_dir) / TENSORBOARD_DIR))
            else:
                opened.trackers.append(MLflowTracker(Path(run_dir).resolve().name, uri=mlflow_uri))
        opened.log_params(flat_params(config))
    except BaseException:
        opened.close("FAILED")
        raise
    return opened
