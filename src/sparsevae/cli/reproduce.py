"""``sparsevae reproduce NAME …``: run one of the papers' experiments (see ``experiments/``)."""

from __future__ import annotations

import argparse
import importlib

from ..experiments import EXPERIMENT_MODULES, EXPERIMENTS
from ..experiments.flags import add_shared_flags


def add_parser(verbs: argparse._SubParsersAction) -> None:
    for module in EXPERIMENT_MODULES:
        importlib.import_module(f"sparsevae.experiments.{module}")
    p = verbs.add_parser(
        "reproduce",
        help="reproduce a paper's experiments (tables, figures, report)",
        description="Run a paper's experimental protocol and write its tables, figures and report.",
    )
    experiments = p.add_subparsers(dest="experiment", metavar="EXPERIMENT", required=True)
    for experiment in EXPERIMENTS.values():
        sub = experiments.add_parser(
            experiment.name, help=experiment.description, description=experiment.description
        )
        add_shared_flags(sub, quick=experiment.quick, several_seeds=experiment.several_seeds)
        experiment.add_arguments(sub)
        sub.set_defaults(func=experiment.run)
