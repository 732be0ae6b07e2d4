"""Experiment names → (argument setup, runner) for ``sparsevae reproduce``."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass

Runner = Callable[[argparse.Namespace], int]


@dataclass(frozen=True)
class Experiment:
    """One ``sparsevae reproduce NAME``.

    ``add_arguments`` adds the experiment's own flags; ``reproduce`` adds the shared ones
    (:func:`~sparsevae.experiments.flags.add_shared_flags`): ``quick`` says what ``--quick`` runs,
    ``several_seeds`` whether the sweep repeats over ``--seeds`` (else one ``--seed``).
    """

    name: str
    description: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Runner
    quick: str
    several_seeds: bool = False


EXPERIMENTS: dict[str, Experiment] = {}


def register_experiment(
    name: str,
    description: str,
    add_arguments: Callable[[argparse.ArgumentParser], None],
    *,
    quick: str,
    several_seeds: bool = False,
) -> Callable[[Runner], Runner]:
    """Decorate ``run(args) -> exit code`` (see :class:`Experiment` for the arguments)."""

    def wrap(run: Runner) -> Runner:
        EXPERIMENTS[name] = Experiment(name, description, add_arguments, run, quick, several_seeds)
        return run

    return wrap
