"""``sparsevae`` entry point: dispatches to the verb modules, turns user errors into one line."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

from .._version import __version__
from ..errors import SparseVAEError, SparseVAEWarning

# Each module defines ``add_parser(subparsers)`` and sets ``func`` on its parser.
VERB_MODULES = (
    "train",
    "evaluate",
    "encode",
    "sample",
    "reproduce",
    "datasets",
    "generate",
    "explore",
)
# Verbs that only list or fetch files: no torch work, so `auto` need not measure the load.
LIGHT_VERBS = ("datasets",)
PROC_STAT = Path("/proc/stat")


def parse_threads(text: str | int) -> int | str:
    """``auto`` or a whole number >= 0 (argparse type)."""
    if text == "auto":
        return "auto"
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected auto or a number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected auto or a number >= 0, got {value}")
    return value


def auto_threads(current: int, cpu_count: int, load: float) -> int:
    """Threads to use when ``load`` cores' worth of other work is running.

    Torch's threads spin-wait for each other: on a machine whose cores are taken by other
    processes, two threads run a small model many times slower than one.  So use the cores that
    are free (never more than torch's own choice, ``current``), and at least one.
    """
    free = int(cpu_count - load + 0.5)
    return max(1, min(current, free))


def cpu_times(stat: str) -> tuple[int, int]:
    """(busy, total) clock ticks of all CPUs from the text of Linux's /proc/stat."""
    ticks = [int(v) for v in stat.split("\n", 1)[0].split()[1:9]]  # user … steal; guest is in user
    idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)  # idle + iowait
    return sum(ticks) - idle, sum(ticks)


def busy_cores(
    cpu_count: int, interval: float = 0.2, read: Callable[[], str] | None = None
) -> float | None:
    """How many cores other processes keep busy now, or None when it cannot be told.

    Linux: CPU time counted in /proc/stat over ``interval`` seconds (this process sleeps
    meanwhile).  Elsewhere: the 1-minute load average, which lags — right after a burst of work it
    still reports cores busy on an idle machine.
    """
    read = read or PROC_STAT.read_text
    try:
        busy0, total0 = cpu_times(read())
        time.sleep(interval)
        busy1, total1 = cpu_times(read())
        if total1 > total0:
            return cpu_count * (busy1 - busy0) / (total1 - total0)
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):  # no load average on this platform
        return None


def set_threads(choice: int | str) -> None:
    if choice == "auto":
        cpu_count = os.cpu_count() or 1
        load = busy_cores(cpu_count)
        if load is not None:
            torch.set_num_threads(auto_threads(torch.get_num_threads(), cpu_count, load))
    elif isinstance(choice, int) and choice > 0:
        torch.set_num_threads(choice)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sparsevae",
        description="Train, evaluate and explain sparse latent-variable autoencoders.",
    )
    parser.add_argument("--version", action="version", version=f"sparsevae {__version__}")
    parser.add_argument(
        "--threads",
        type=parse_threads,
        default=os.environ.get("SPARSEVAE_THREADS", "auto"),
        help="CPU threads for torch: a number, 0 for torch's choice, or auto (default): torch's "
        "choice less the cores other processes keep busy now, at least 1",
    )
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", required=True)
    for name in VERB_MODULES:
        importlib.import_module(f"{__package__}.{name}").add_parser(verbs)
    return parser


def show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """sparsevae's own warnings in one line on stderr; any other in Python's form."""
    if issubclass(category, SparseVAEWarning):
        print(f"sparsevae: warning: {message}", file=sys.stderr)
    else:
        sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # for a verb that relaunches itself
    if not (args.threads == "auto" and args.verb in LIGHT_VERBS):
        set_threads(args.threads)
    with warnings.catch_warnings():
        warnings.showwarning = show_warning
        warnings.simplefilter("always", SparseVAEWarning)  # every run's warning, not the first
        return run_verb(args)


def run_verb(args: argparse.Namespace) -> int:
    """The verb's exit status; a user's error is one line on stderr."""
    try:
        return int(args.func(args) or 0)
    except SparseVAEError as exc:
        print(f"sparsevae: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("sparsevae: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`sparsevae evaluate RUN | head -1`): nothing is wrong here.  Point
        # stdout at /dev/null so that the interpreter's final flush does not fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, what a shell reports for a command killed this way


if __name__ == "__main__":
    sys.exit(main())
