"""What a training run shows and draws: the progress bar, the line per epoch, the loss curves."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from .epoch import EpochRun

NOT_SCHEDULE = ("epoch", "step", "seconds", "skipped_batches")  # record keys that are no schedule


def progress_bar(run: EpochRun, epochs: int, show: bool) -> tqdm:
    """The bar over an epoch's batches (from where a resumed epoch starts)."""
    return tqdm(
        total=run.steps,
        initial=run.first_batch,
        desc=f"epoch {run.epoch + 1}/{epochs}",
        disable=not show,
        leave=False,
        mininterval=0.5,
        dynamic_ncols=True,
    )


def epoch_line(record: dict[str, Any], epochs: int, verbose: bool) -> str:
    """An epoch's record in one line: train and test terms, skipped batches, and with
    ``verbose`` the schedules' values (KL weight, VSC's sharpness, learning-rate scale)."""

    def part(prefix: str) -> str:
        return "  ".join(
            f"{k[len(prefix) :]} {v:.2f}" for k, v in record.items() if k.startswith(prefix)
        )

    line = f"epoch {record['epoch']}/{epochs}  train: {part('train/')}"
    if any(k.startswith("test/") for k in record):
        line += f"  |  test: {part('test/')}"
    if record.get("skipped_batches"):
        line += f"  [{record['skipped_batches']} non-finite batches skipped]"
    if verbose:
        schedule = {k: v for k, v in record.items() if "/" not in k and k not in NOT_SCHEDULE}
        line += "  |  " + "  ".join(f"{k} {v:.4g}" for k, v in schedule.items())
    return line + f"  ({record['seconds']:.1f} s)"


def write_curves(history: list[dict[str, Any]], path: Path, kind: str, data_name: str) -> None:
    """``training_curves.png``: every loss term per epoch, train solid and test dashed."""
    from ..plots.curves import plot_training_curves  # matplotlib only when a run is written

    data = f" on {data_name}" if data_name else ""
    plot_training_curves(
        history, path, title=f"{kind}{data}: loss terms per epoch (train solid, test dashed)"
    )
