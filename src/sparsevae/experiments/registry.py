"""Experiment names → (argument setup, runner) for ``sparsevae reproduce``."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Experiment:
    name: str
    description: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


EXPERIMENTS: dict[str, Experiment] = {}


def register_experiment(
    name: str, description: str, add_arguments: Callable[[argparse.ArgumentParser], None]
) -> Callable[[Callable[[argparse.Namespace], int]], Callable[[argparse.Namespace], int]]:
    """Decorate ``run(args) -> exit code``; ``add_arguments`` adds the experiment's own flags."""

    def wrap(run: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
        EXPERIMENTS[name] = Experiment(name, description, add_arguments, run)
        return run

    return wrap
