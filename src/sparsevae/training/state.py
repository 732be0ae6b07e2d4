"""Training state for resume: ``training_state.safetensors`` in a run directory.

The file is self-contained: the model's weights ("model.*"), the optimiser's tensors
("optimizer.<index>.<key>"), the RNG states ("rng.*"), the weight averages ("ema.*") and, in its
metadata, the optimiser's param groups and the loop position.  One atomic file means a kill at any
instant leaves either the previous complete checkpoint or the new one — never weights from one
epoch with moments of another.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from ..errors import RunDirectoryError
from . import checkpoints as ckpt
from .averaging import WeightAverage


def save_training_state(
    run_dir: Path,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    progress: dict[str, Any],
    averages: WeightAverage | None = None,
) -> None:
    state = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {"rng.torch": torch.get_rng_state()}
    if averages is not None:
        tensors.update({f"ema.{i}": t for i, t in enumerate(averages.shadow)})
        tensors["ema_updates"] = torch.tensor(averages.updates, dtype=torch.int64)
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        tensors["rng.cuda"] = torch.cuda.get_rng_state()
    for name, value in model.state_dict().items():
        tensors[f"model.{name}"] = value
    for index, values in state["state"].items():
        for key, value in values.items():
            tensors[f"optimizer.{index}.{key}"] = torch.as_tensor(value)
    metadata = {"param_groups": json.dumps(state["param_groups"]), "progress": json.dumps(progress)}
    ckpt.atomic_save_tensors(run_dir / ckpt.STATE_FILE, tensors, metadata)


def load_training_state(
    run_dir: Path,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    device: torch.device,
    averages: WeightAverage | None = None,
) -> dict[str, Any]:
    """Restore weights, optimiser and RNG from ``training_state.safetensors``; return the progress."""
    path = run_dir / ckpt.STATE_FILE
    tensors, progress, param_groups = _read_state(path)
    weights = {k[len("model.") :]: v for k, v in tensors.items() if k.startswith("model.")}
    if weights:
        ckpt.load_state(model, weights, path)
    else:  # a state file from before weights were stored in it
        ckpt.load_state(model, ckpt.load_file_checked(run_dir), run_dir / ckpt.WEIGHTS_FILE)
    _load_optimizer(path, optimizer, tensors, param_groups, device)
    if averages is not None:
        _load_averages(path, averages, tensors, device)
    torch.set_rng_state(tensors["rng.torch"])
    if "rng.cuda" in tensors and device.type == "cuda":
        torch.cuda.set_rng_state(tensors["rng.cuda"])
    return progress


def _read_state(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any], list]:
    """The tensors, the checked progress and the optimiser's param groups of a state file."""
    from safetensors import SafetensorError, safe_open

    if not path.is_file():
        raise RunDirectoryError(f"{path}: missing; this run cannot be resumed")
    try:
        with safe_open(path, framework="pt") as f:
            metadata = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (safe_open is no dict)
        progress = json.loads(metadata["progress"])
        param_groups = json.loads(metadata["param_groups"])
        check_progress(progress)
        rng = tensors["rng.torch"]
        if rng.dtype != torch.uint8 or rng.ndim != 1:
            raise ValueError("rng.torch is not a byte tensor")
    except (SafetensorError, OSError, KeyError, ValueError, TypeError) as exc:
        raise RunDirectoryError(
            f"{path}: unreadable training state ({exc}); cannot resume"
        ) from None
    return tensors, progress, param_groups


def _load_optimizer(
    path: Path,
    optimizer: torch.optim.Optimizer,
    tensors: dict[str, torch.Tensor],
    param_groups: list,
    device: torch.device,
) -> None:
    params = [p for group in optimizer.param_groups for p in group["params"]]
    per_param: dict[int, dict[str, torch.Tensor]] = {}
    try:
        for name, value in tensors.items():
            if name.startswith("optimizer."):
                _, index, key = name.split(".", 2)
                if value.ndim and value.shape != params[int(index)].shape:  # moments match params
                    raise ValueError(f"{name} has shape {tuple(value.shape)}")
                per_param.setdefault(int(index), {})[key] = (
                    value.to(device) if key != "step" else value
                )
        optimizer.load_state_dict({"state": per_param, "param_groups": param_groups})
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        raise RunDirectoryError(
            f"{path}: optimiser state does not fit this model or optimiser ({exc})"
        ) from None


def _load_averages(
    path: Path, averages: WeightAverage, tensors: dict[str, torch.Tensor], device: torch.device
) -> None:
    shadow = [tensors.get(f"ema.{i}") for i in range(len(averages.shadow))]
    if any(t is None or t.shape != a.shape for t, a in zip(shadow, averages.shadow, strict=True)):
        raise RunDirectoryError(
            f"{path}: no weight averages for this model (was the run trained without "
            "--ema?); cannot resume with them"
        )
    updates = int(tensors.get("ema_updates", torch.tensor(10**9)))
    averages.load([t.to(device) for t in shadow], updates)  # type: ignore[union-attr]


def check_progress(progress: Any) -> None:
    """The loop position stored in a training state: non-negative integers (and epoch sums)."""
    if not isinstance(progress, dict):
        raise ValueError("progress is not a JSON object")
    for key in ("epoch", "step", "batch", "used", "skipped"):
        value = progress.get(key, 0)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ValueError(f"progress.{key} must be a non-negative integer, got {value!r}")
    if "epoch" not in progress or "step" not in progress:
        raise ValueError("progress needs epoch and step")
    if progress.get("batch", 0):
        names, sums = progress.get("names"), progress.get("sums")
        if names is not None and not (
            isinstance(names, list)
            and isinstance(sums, list)
            and len(names) == len(sums)
            and all(isinstance(n, str) for n in names)
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in sums)
        ):
            raise ValueError("progress.names/sums of the interrupted epoch are malformed")
