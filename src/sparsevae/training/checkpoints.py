"""Run directories: ``config.json`` + ``model.safetensors`` (+ training state, ``metrics.jsonl``).

Nothing here unpickles: tensors live in safetensors files, everything else in JSON.  Files are
written to a temporary name and renamed, so a crash never leaves a half-written checkpoint under
its final name, and ``config.json`` records the SHA-256 of the weights so that a truncated or
tampered ``model.safetensors`` is refused on load.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .._version import __version__
from ..errors import CheckpointError, RunDirectoryError, SparseVAEWarning
from ..hashing import sha256_file
from ..models import SparseVAEModel
from ..models.registry import MODELS, rebuild_model

FORMAT_VERSION = 1
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
STATE_FILE = "training_state.safetensors"
METRICS_FILE = "metrics.jsonl"
# Figures a run writes beside its checkpoint (the trainer's curves, the CLI's images) and the
# folder of its TensorBoard event files: what --overwrite removes, with the files above.
TRAINING_CURVES = "training_curves.png"
RUN_FIGURES = (TRAINING_CURVES, "reconstructions.png", "samples.png")
TENSORBOARD_DIR = "tensorboard"


# -- atomic file writes ----------------------------------------------------------------------------
def _temporary_beside(path: Path) -> tuple[int, str]:
    return tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)


def _publish(tmp: str, path: Path) -> None:
    """Give the finished temporary file the permissions a plain ``open`` would (mkstemp makes it
    owner-only, which would hide shared runs from other users), then rename it into place."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    os.replace(tmp, path)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path = Path(path)
    fd, tmp = _temporary_beside(path)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        _publish(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=False) + "\n").encode())


def atomic_save_tensors(
    path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None
) -> None:
    path = Path(path)
    fd, tmp = _temporary_beside(path)
    os.close(fd)
    try:
        save_file(
            {k: v.detach().contiguous().cpu() for k, v in tensors.items()}, tmp, metadata=metadata
        )
        _publish(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# -- run directories -------------------------------------------------------------------------------
def prepare_run_dir(path: str | Path, *, overwrite: bool = False, resume: bool = False) -> Path:
    """Create ``path``; refuse a non-empty directory unless ``overwrite`` or ``resume``."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise RunDirectoryError(f"{path}: exists and is not a directory")
    if resume:
        if not (path / CONFIG_FILE).is_file():
            raise RunDirectoryError(f"{path}: nothing to resume (no {CONFIG_FILE} there)")
        return path
    if path.is_dir() and any(path.iterdir()):
        if not overwrite and (path / CONFIG_FILE).is_file():
            raise RunDirectoryError(
                f"{path}: run directory is not empty; replace it with --overwrite (Python: "
                "overwrite=True) or continue it with --resume"
            )
        if not overwrite:
            raise RunDirectoryError(
                f"{path}: not empty and not a sparsevae run; choose another directory, or pass "
                "--overwrite (Python: overwrite=True) to write the run beside the files there, "
                "which are kept"
            )
        remove_run_files(path)
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextlib.contextmanager
def fresh_run_dir(path: str | Path, *, overwrite: bool = False) -> Iterator[Path]:
    """``prepare_run_dir`` for a new run, undone when the run fails before its first checkpoint:
    the files it wrote are removed, and the directory too when this run created it."""
    path = Path(path)
    created = not path.exists()
    prepare_run_dir(path, overwrite=overwrite)
    try:
        yield path
    except BaseException:
        if not (path / CONFIG_FILE).exists():
            remove_run_files(path)
            if created:
                with contextlib.suppress(OSError):  # something else was put there meanwhile
                    path.rmdir()
        raise


def remove_run_files(path: Path) -> None:
    """Delete what a run writes into ``path`` (checkpoint, metrics, figures, event files),
    leaving every other file there alone."""
    remove_stale_temporaries(path)
    for name in (CONFIG_FILE, WEIGHTS_FILE, STATE_FILE, METRICS_FILE, *RUN_FIGURES):
        (path / name).unlink(missing_ok=True)
    events = path / TENSORBOARD_DIR
    if events.is_dir():
        for file in events.glob("events.out.tfevents.*"):
            file.unlink()
        with contextlib.suppress(OSError):  # not empty: the user's files stay, and the folder
            events.rmdir()


def run_config(
    model: SparseVAEModel, data: dict[str, Any] | None, training: dict[str, Any] | None
) -> dict:
    return {
        "format_version": FORMAT_VERSION,
        "sparsevae_version": __version__,
        "model": {"kind": model.kind, "config": model.config.to_dict()},
        "data": data or {},
        "training": training or {},
    }


def save_model(
    run_dir: str | Path,
    model: SparseVAEModel,
    data: dict[str, Any] | None = None,
    training: dict[str, Any] | None = None,
    *,
    overwrite: bool = False,
) -> Path:
    """Save ``model`` as a run directory that ``load`` reads: ``model.safetensors`` and
    ``config.json`` (with the weights' SHA-256).

    A directory that is not empty is refused unless ``overwrite=True``, which replaces the run's
    files there (config, weights, training state, metrics) and leaves any other file alone.
    """
    prepare_run_dir(run_dir, overwrite=overwrite)
    return write_model(run_dir, model, data, training)


def write_model(
    run_dir: str | Path,
    model: SparseVAEModel,
    data: dict[str, Any] | None = None,
    training: dict[str, Any] | None = None,
) -> Path:
    """``save_model`` without the check: the trainer rewrites its own run at every epoch."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    atomic_save_tensors(run_dir / WEIGHTS_FILE, model.state_dict(), {"format": "pt"})
    config = run_config(model, data, training)
    config["weights_sha256"] = sha256_file(run_dir / WEIGHTS_FILE)
    atomic_write_json(run_dir / CONFIG_FILE, config)
    return run_dir


def read_config(run_dir: str | Path) -> dict[str, Any]:
    """``config.json`` of a run, validated: format version, model kind and config."""
    run_dir = Path(run_dir)
    path = run_dir / CONFIG_FILE
    if not run_dir.is_dir():
        raise CheckpointError(f"{run_dir}: run directory not found")
    if not path.is_file():
        raise CheckpointError(f"{path}: missing; is {run_dir} a sparsevae run directory?")
    try:
        config = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(config, dict):
        raise CheckpointError(f"{path}: expected a JSON object")
    version = config.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise CheckpointError(f"{path}: missing or invalid format_version")
    if version > FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: written by a newer sparsevae (format {version}, this is {__version__} reading "
            f"format {FORMAT_VERSION}); upgrade sparsevae to load it"
        )
    model = config.get("model")
    if not isinstance(model, dict) or not isinstance(model.get("kind"), str):
        raise CheckpointError(f"{path}: missing model.kind")
    if model["kind"] not in MODELS:
        raise CheckpointError(
            f"{path}: unknown model kind {model['kind']!r}; known kinds: {', '.join(sorted(MODELS))}"
        )
    if not isinstance(model.get("config"), dict):
        raise CheckpointError(f"{path}: model.config must be a JSON object")
    for section in ("data", "training"):
        if not isinstance(config.get(section, {}), dict):
            raise CheckpointError(f"{path}: {section} must be a JSON object")
    return config


def _release(version: str) -> tuple[int, ...]:
    """``"0.10.2rc1"`` → ``(0, 10, 2)``: the release numbers a version starts with."""
    match = re.match(r"\d+(?:\.\d+)*", version)
    return tuple(int(part) for part in match.group().split(".")) if match else ()


def newer_version(config: dict[str, Any]) -> str | None:
    """The sparsevae version that wrote a run's config when it is newer than this one."""
    written = config.get("sparsevae_version")
    if isinstance(written, str) and _release(written) > _release(__version__):
        return written
    return None


def load(
    run_dir: str | Path, *, map_location: str | torch.device = "cpu", verify: bool = True
) -> SparseVAEModel:
    """Rebuild a model from a run directory alone (``config.json`` + ``model.safetensors``).

    ``verify`` checks the weights' SHA-256 recorded in ``config.json``.  The model is returned in
    eval mode.  Nothing is unpickled.
    """
    run_dir = Path(run_dir)
    config = read_config(run_dir)
    newer = newer_version(config)
    if newer:
        warnings.warn(
            f"{run_dir} was written by sparsevae {newer}, newer than this {__version__}; it may "
            "hold what this version does not know of (upgrade sparsevae to be sure)",
            SparseVAEWarning,
            stacklevel=2,
        )
    weights = run_dir / WEIGHTS_FILE
    if not weights.is_file():
        raise CheckpointError(f"{weights}: missing")
    expected = config.get("weights_sha256")
    if verify and expected is not None and sha256_file(weights) != expected:
        raise CheckpointError(
            f"{weights}: SHA-256 does not match config.json; the file was truncated or modified"
        )
    try:
        model = rebuild_model(config["model"]["kind"], config["model"]["config"])
    except Exception as exc:  # any invalid config value; torch's own errors can run to many lines
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise CheckpointError(
            f"{run_dir / CONFIG_FILE}: cannot build the model: {reason}"
        ) from None
    load_state(model, load_file_checked(run_dir), weights)
    return model.to(map_location).eval()


def load_state(model: torch.nn.Module, state: dict[str, torch.Tensor], source: Path) -> None:
    """``load_state_dict`` with one-line errors naming the first mismatch."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    if missing or unexpected:
        raise CheckpointError(
            f"{source}: weights do not match the model in config.json "
            f"(missing: {missing[:3]}, unexpected: {unexpected[:3]})"
        )
    for name, tensor in state.items():
        if tensor.shape != own[name].shape:
            raise CheckpointError(
                f"{source}: {name} has shape {tuple(tensor.shape)}, the model expects {tuple(own[name].shape)}"
            )
    model.load_state_dict(state)


def load_file_checked(run_dir: Path) -> dict[str, torch.Tensor]:
    """The state dict in ``model.safetensors``, refusing unreadable files with a one-line error."""
    weights = Path(run_dir) / WEIGHTS_FILE
    try:
        return load_file(weights)
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{weights}: not a readable safetensors file ({exc})") from None


def rewrite_metrics(run_dir: Path, records: list[dict[str, Any]]) -> None:
    """Replace ``metrics.jsonl`` (on resume, epochs after the checkpoint are dropped)."""
    text = "".join(json.dumps(r) + "\n" for r in records)
    atomic_write_bytes(Path(run_dir) / METRICS_FILE, text.encode())


def append_metrics(run_dir: Path, record: dict[str, Any]) -> None:
    with open(Path(run_dir) / METRICS_FILE, "a") as f:
        f.write(json.dumps(record) + "\n")
        f.flush()


def read_metrics(run_dir: str | Path) -> list[dict[str, Any]]:
    """The per-epoch records of ``metrics.jsonl``.

    A last line cut short (a kill while appending) is dropped: resuming rewrites the file anyway.
    Any other unreadable line is an error.
    """
    path = Path(run_dir) / METRICS_FILE
    if not path.is_file():
        return []
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{path}: unreadable ({exc})") from None
    lines = [line for line in text.splitlines() if line.strip()]
    records: list[dict[str, Any]] = []
    for number, line in enumerate(lines, 1):
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            if number == len(lines) and not text.endswith("\n"):
                break  # torn final write
            raise CheckpointError(f"{path}: line {number} is not valid JSON") from None
        if not isinstance(record, dict) or not isinstance(record.get("epoch"), int):
            raise CheckpointError(f"{path}: line {number} is not an epoch record")
        records.append(record)
    return records


def remove_stale_temporaries(run_dir: Path) -> None:
    """Delete temporary files left by a writer that was killed before its rename."""
    for name in (CONFIG_FILE, WEIGHTS_FILE, STATE_FILE, METRICS_FILE):
        for tmp in Path(run_dir).glob(f".{name}.*.tmp"):
            tmp.unlink(missing_ok=True)
