"""``sparsevae train --nproc N``: the same command in N data-parallel processes on this machine.

A convenience for ``torchrun --standalone --nproc-per-node N -m sparsevae train …``: the launcher
is torch's own elastic launcher (what torchrun runs), started here so that its failures end in one
line instead of its report.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import uuid
from collections.abc import Sequence
from pathlib import Path

from ..errors import ConfigError
from ..models.registry import model_class
from ..training import prepare_run_dir
from ..training.config import resolve_device

LAUNCHED = "SPARSEVAE_LAUNCHED"  # set in the processes this launcher starts


def without_nproc(argv: Sequence[str]) -> list[str]:
    """``argv`` less ``--nproc N`` / ``--nproc=N``."""
    kept: list[str] = []
    skip = False
    for token in argv:
        if skip:
            skip = False
        elif token == "--nproc":
            skip = True
        elif not token.startswith("--nproc="):
            kept.append(token)
    return kept


def quiet_launcher_logs() -> None:
    """The launcher's own log lines (each of its loggers sets its level) are not for users."""
    for name in list(logging.root.manager.loggerDict):
        if name.startswith("torch.distributed"):
            logging.getLogger(name).setLevel(logging.CRITICAL)


def launched_here() -> bool:
    """Whether this process was started by :func:`launch`."""
    return os.environ.get(LAUNCHED) == "1"


def launch(argv: Sequence[str], nproc: int, run_dir: str) -> int:
    """Run ``sparsevae ARGV`` in ``nproc`` processes; return the exit status (0, 2 or 130)."""
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    config = LaunchConfig(
        min_nodes=1,
        max_nodes=1,
        nproc_per_node=nproc,
        run_id=str(uuid.uuid4()),
        rdzv_backend="c10d",
        rdzv_endpoint="localhost:0",  # a free port, as torchrun --standalone
        max_restarts=0,
        monitor_interval=0.5,
    )
    os.environ[LAUNCHED] = "1"
    # Each process gets its share of the cores unless the user set the threads.
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // nproc)))
    quiet_launcher_logs()
    try:
        elastic_launch(config, sys.executable)("-m", "sparsevae", *without_nproc(argv))
    except ChildFailedError as failed:
        return _report_failure(failed, nproc, run_dir)
    except SignalException as stop:  # Ctrl-C: the processes saved a checkpoint and said so
        return 130 if stop.sigval == signal.SIGINT else 128 + int(stop.sigval)
    finally:
        os.environ.pop(LAUNCHED, None)
    return 0


def _report_failure(failed: object, nproc: int, run_dir: str) -> int:
    """One line for a process that died without saying why (a signal, a crash); a process that
    stopped with sparsevae's own error has said it already (those that only lost a peer are
    silent under this launcher)."""
    failures = failed.failures  # type: ignore[attr-defined]  # rank → ProcessFailure
    silent = {rank: f for rank, f in failures.items() if f.exitcode not in (2, 130)}
    if not silent:
        return min(f.exitcode for f in failures.values())
    # The launcher stops the survivors with SIGTERM: the one that failed first is another.
    first = {r: f for r, f in silent.items() if f.exitcode != -signal.SIGTERM} or silent
    rank, failure = min(first.items())
    how = (
        f"was killed by {signal.Signals(-failure.exitcode).name}"
        if failure.exitcode < 0
        else f"exited with status {failure.exitcode}"
    )
    print(
        f"sparsevae: error: process {rank} of {nproc} {how}; the other processes were stopped. "
        f"Continue from the last checkpoint with: sparsevae train --resume {run_dir} --nproc "
        f"{nproc}",
        file=sys.stderr,
    )
    return 2


def launch_processes(args: argparse.Namespace) -> int:
    """``train --nproc N``: the checks that need no data here, then N processes run the command."""
    if args.nproc < 1:
        raise ConfigError(f"--nproc must be a positive number of processes, got {args.nproc}")
    run_dir = args.out if args.resume in (None, True) else args.resume
    if args.resume is None:
        if args.model is None or args.out is None:
            raise ConfigError("--model and --out are required (unless resuming with --resume)")
        model_class(args.model)
        if Path(args.out).is_dir() and any(Path(args.out).iterdir()) and not args.overwrite:
            prepare_run_dir(args.out)  # its one-line refusal
    resolve_device(args.device)
    return launch(args.argv, args.nproc, str(run_dir))
