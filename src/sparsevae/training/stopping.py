"""Why training stops early, and what it tells the user: non-finite values, Ctrl-C."""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from ..errors import TrainingError
from . import checkpoints as ckpt
from .config import TrainConfig


class TrainingInterrupted(TrainingError):
    """Ctrl-C (SIGINT) stopped training after a checkpoint was saved; resume continues exactly."""

    def __init__(self, message: str, run_dir: Path | None, epoch: int, batch: int) -> None:
        super().__init__(message)
        self.run_dir, self.epoch, self.batch = run_dir, epoch, batch


def join_words(words: Sequence[str], conjunction: str) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} {conjunction} {words[-1]}"


@dataclass(frozen=True)
class Remedies:
    """How a user asks for each remedy of a non-finite loss, in the words of their interface."""

    lower_lr: str = "--lr {lr:g}"
    grad_clip: str = "--grad-clip 10"
    kl_warmup: str = "--kl-warmup 5"
    skip: str = "--nan-policy skip"


CLI_REMEDIES = Remedies()


def advice(
    config: TrainConfig, run_dir: Path | None, variational: bool, remedies: Remedies = CLI_REMEDIES
) -> str:
    """Where the run stands and what to try, leaving out what this run already does."""
    kept = what_is_kept(run_dir)
    tries = [f"a lower learning rate ({remedies.lower_lr.format(lr=config.lr / 10)})"]
    if config.grad_clip is None:
        tries.append(f"gradient clipping ({remedies.grad_clip})")
    if not config.kl_warmup_epochs and variational:
        tries.append(f"KL warm-up ({remedies.kl_warmup})")
    if config.nan_policy != "skip":
        tries.append(f"{remedies.skip} to drop such batches")
    return f"{kept}. Try {join_words(tries, 'or')}"


def what_is_kept(run_dir: Path | None) -> str:
    """What a run stopped early leaves: its last checkpoint, or nothing."""
    if run_dir is None:
        return "no weights were saved"
    if (run_dir / ckpt.STATE_FILE).is_file():
        return f"the last good checkpoint in {run_dir} is kept"
    return (
        f"no checkpoint was written yet (it failed in the first epoch): start {run_dir} "
        "again with --overwrite"
    )


class CtrlC:
    """While :meth:`caught`: the first Ctrl-C (SIGINT) sets ``requested``, for the loop to stop
    after its batch with a checkpoint; a second raises KeyboardInterrupt at once, unless it comes
    within ``echo_seconds`` of the first (a launcher passing the same Ctrl-C on)."""

    def __init__(self, echo_seconds: float = 0.0, *, announce: bool = True) -> None:
        self.requested = False
        self.echo_seconds = echo_seconds
        self.announce = announce  # say that a checkpoint is coming (one process of several does)
        self._first = 0.0

    @contextlib.contextmanager
    def caught(self, enabled: bool) -> Iterator[None]:
        """Catch Ctrl-C in this block when ``enabled`` (signals are the main thread's only)."""
        if not enabled or threading.current_thread() is not threading.main_thread():
            yield
            return

        def on_sigint(signum: int, frame: Any) -> None:
            if self.requested:
                if time.monotonic() - self._first < self.echo_seconds:
                    return
                raise KeyboardInterrupt
            self.requested, self._first = True, time.monotonic()
            if self.announce:
                tqdm.write(
                    "interrupt: saving a checkpoint after this batch (press Ctrl-C again to abort)"
                )

        self.requested = False
        previous = signal.signal(signal.SIGINT, on_sigint)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, previous)
