"""``sparsevae train``: train a model on a data set and write a run directory."""

from __future__ import annotations

import argparse
import contextlib
import sys
import warnings
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

import torch

from .._version import __version__
from ..batching import eval_mode
from ..data import Dataset, data_record
from ..errors import CheckpointError, ConfigError, SparseVAEWarning
from ..evaluation import evaluate_model
from ..models import SparseVAEModel, build_model
from ..models.registry import MODELS, model_class, model_parameters, rebuild_model
from ..plots import reconstruction_pairs, save_image_grid
from ..training import (
    NAN_POLICIES,
    OPTIMIZERS,
    TrainConfig,
    Trainer,
    TrainingInterrupted,
    prepare_run_dir,
    read_config,
)
from ..training.checkpoints import TRAINING_CURVES, fresh_run_dir, newer_version, run_config
from ..training.config import resolve_device
from ..training.distributed import PeerLost, World
from ..training.tracking import TRACKERS, check_trackers, open_trackers, scalars
from .common import (
    add_data_arguments,
    add_device_argument,
    dataset_from_args,
    reconstructions,
    run_dataset,
    sample_labels,
)
from .launch import launch_processes, launched_here
from .model_flags import model_flags, model_kwargs
from .output import format_table, note_on_flat_rows, note_on_streaming, warn_about_usage

# The training flags' defaults are TrainConfig's.
DEFAULTS = {f.name: f.default for f in fields(TrainConfig)}


def add_parser(verbs: argparse._SubParsersAction) -> None:
    p = verbs.add_parser(
        "train",
        help="train a model and write a run directory",
        description="Train a model on a data set; writes config.json, model.safetensors, "
        "metrics.jsonl and figures into --out.",
    )
    p.add_argument(
        "--model", help=f"model kind (required unless resuming): {', '.join(sorted(MODELS))}"
    )
    data = add_data_arguments(p, default="digits")
    data.add_argument(
        "--train-limit",
        type=int,
        metavar="N",
        help="train on the first N training examples only (default: all); the run records it, "
        "so --resume continues on the same ones",
    )
    data.add_argument(
        "--max-memory",
        metavar="SIZE",
        help="npy: and folder: data whose float32 tensors exceed SIZE (e.g. 2GB, 500MB, 0 for "
        "always) are read from disk batch by batch in worker processes "
        "($SPARSEVAE_DATA_WORKERS of them; default: one core fewer than there are, at most 4); "
        "default: half the machine's RAM",
    )
    p.add_argument("--out", help="run directory to write (required unless resuming)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--overwrite", action="store_true", help="replace an existing run directory")
    g.add_argument(
        "--resume",
        nargs="?",
        const=True,
        default=None,
        metavar="RUN_DIR",
        help="continue RUN_DIR (or --out) from its last checkpoint; model, data and training "
        "options come from the run (--epochs raises the total, --nan-policy may change)",
    )

    m = p.add_argument_group("model")
    for flag in model_flags().values():
        m.add_argument(flag.flag, dest=flag.dest, help=flag.help, **flag.argparse_kwargs())
    m.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="any other model keyword (repeatable), value parsed as JSON",
    )

    t = p.add_argument_group("training")
    t.add_argument("--epochs", type=int, help=f"epochs in total (default {DEFAULTS['epochs']})")
    t.add_argument(
        "--batch-size",
        type=int,
        default=DEFAULTS["batch_size"],
        help="examples per step (default %(default)s)",
    )
    t.add_argument(
        "--lr", type=float, default=DEFAULTS["lr"], help="learning rate (default %(default)g)"
    )
    t.add_argument(
        "--seed",
        type=int,
        default=DEFAULTS["seed"],
        help="seed of weights and batches (default %(default)s)",
    )
    t.add_argument(
        "--grad-clip",
        type=float,
        help="clip the gradient norm to this value (default: no clipping)",
    )
    t.add_argument(
        "--kl-warmup",
        type=float,
        default=DEFAULTS["kl_warmup_epochs"],
        help="epochs over which the KL weight rises 0 → 1 (default %(default)g: none)",
    )
    t.add_argument(
        "--optimizer",
        choices=OPTIMIZERS,
        default=DEFAULTS["optimizer"],
        help="the optimiser (default %(default)s)",
    )
    t.add_argument(
        "--ema",
        type=float,
        default=DEFAULTS["ema_decay"],
        metavar="DECAY",
        help="keep an exponential moving average of the weights with this decay (e.g. 0.999) and "
        "use it as the trained model (default %(default)g: off)",
    )
    t.add_argument(
        "--checkpoint-every",
        type=int,
        default=DEFAULTS["checkpoint_every"],
        help="epochs between checkpoints (default %(default)s; one is always written at the end, "
        "and on Ctrl-C)",
    )
    t.add_argument(
        "--nan-policy",
        choices=NAN_POLICIES,
        help="on a non-finite loss or gradient: stop (default; the last good checkpoint is kept) "
        "or skip the batch and count it",
    )
    k = p.add_argument_group("experiment tracking")
    k.add_argument(
        "--log",
        action="append",
        default=[],
        choices=TRACKERS,
        help="also log the config, every loss term, schedule value and test metric per epoch, "
        "and the figures to tensorboard (event files in OUT/tensorboard) or mlflow (a local "
        "mlruns/ unless --mlflow-uri or $MLFLOW_TRACKING_URI); repeatable; optional extras: "
        "pip install 'sparsevae[tensorboard]' or 'sparsevae[mlflow]'",
    )
    k.add_argument(
        "--mlflow-uri",
        metavar="URI",
        help="MLflow tracking store (default: $MLFLOW_TRACKING_URI, else sqlite:///mlruns/"
        "mlflow.db here); the experiment is $MLFLOW_EXPERIMENT_NAME or sparsevae",
    )
    add_device_argument(p)
    p.add_argument(
        "--nproc",
        type=int,
        metavar="N",
        help="train one model in N data-parallel processes on this machine (as torchrun "
        "--standalone --nproc-per-node N -m sparsevae train …; gloo on the CPU, NCCL on CUDA "
        "with a GPU each); --batch-size stays the global batch, so the run is the one a single "
        "process makes",
    )
    p.add_argument(
        "--no-progress",
        action="store_true",
        help="no progress bar (the line per epoch stays; --quiet drops it too)",
    )
    say = p.add_mutually_exclusive_group()
    say.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help="no progress bar and no line per epoch: only the final metrics, warnings and errors",
    )
    say.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="each epoch's line also shows the schedules' values (KL weight, sharpness c, …)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    args.no_progress = args.no_progress or args.quiet  # download bars too
    world = World.from_environment()
    if args.nproc is not None and not world.distributed:
        if args.nproc == 1:
            args.nproc = None
            return run(args)
        return launch_processes(args)
    try:
        if args.resume is not None:
            return resume(args, world)
        return train_new(args, world)
    except TrainingInterrupted as stop:
        # Ctrl-C is the user's choice, not an error: say where the checkpoint is, exit 130.
        if world.is_main:
            print(f"sparsevae: {stop}", file=sys.stderr)
        return 130
    except PeerLost:
        if launched_here():  # the launcher says in one line which process died
            return 2
        raise


def train_new(args: argparse.Namespace, world: World) -> int:
    if args.model is None or args.out is None:
        raise ConfigError("--model and --out are required (unless resuming with --resume RUN_DIR)")
    model_class(args.model)  # unknown model: fail before loading data
    kwargs = model_kwargs(args, args.model)
    config = TrainConfig(
        epochs=DEFAULTS["epochs"] if args.epochs is None else args.epochs,
        nan_policy=args.nan_policy or "stop",
        batch_size=args.batch_size,
        lr=args.lr,
        seed=args.seed,
        device=args.device,
        grad_clip=args.grad_clip,
        kl_warmup_epochs=args.kl_warmup,
        checkpoint_every=args.checkpoint_every,
        optimizer=args.optimizer,
        ema_decay=args.ema,
    )
    resolve_device(config.device)  # before loading data or making a run directory
    check_trackers(args.log)
    data = dataset_from_args(args).first_train(args.train_limit)
    if world.is_main:  # one process of several says it
        note_on_flat_rows(data)
        note_on_streaming(data)
    kwargs["input_shape"] = list(data.shape)
    if "num_classes" in model_parameters(model_class(args.model)) and args.model == "cvae":
        kwargs.setdefault("num_classes", data.num_classes)
    torch.manual_seed(args.seed)  # the model's initial weights follow the seed too
    model = build_model(args.model, **kwargs)
    data_info = data_record(
        args.dataset, data, data_dir=args.data_dir, train_limit=args.train_limit
    )
    # Process 0 makes the run directory; the others never touch it.
    making = fresh_run_dir(args.out, overwrite=args.overwrite) if world.is_main else None
    with making or contextlib.nullcontext(Path(args.out)) as run_dir:
        train_and_report(model, config, data, run_dir, data_info, args, world=world)
    return 0


def resume(args: argparse.Namespace, world: World) -> int:
    target = args.out if args.resume is True else args.resume
    if target is None:
        raise ConfigError("--resume needs a run directory: --resume RUN_DIR (or --out RUN_DIR)")
    if args.resume is not True and args.out is not None and Path(args.out) != Path(args.resume):
        raise ConfigError(f"--resume {args.resume} and --out {args.out} name different runs")
    run_dir = prepare_run_dir(target, resume=True)
    saved = read_config(run_dir)
    newer = newer_version(saved)
    if newer:
        warnings.warn(
            f"{run_dir} was written by sparsevae {newer}, newer than this {__version__}; resuming "
            f"rewrites its checkpoint as {__version__} (stop now and upgrade to keep it as it is)",
            SparseVAEWarning,
            stacklevel=1,
        )
    if args.model is not None and args.model != saved["model"]["kind"]:
        raise ConfigError(
            f"{run_dir} is a {saved['model']['kind']!r} run; --model {args.model} cannot resume it"
        )
    try:
        model = rebuild_model(saved["model"]["kind"], saved["model"]["config"])
        config = resumed_config(saved["training"], args, run_dir)
    except (ConfigError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{run_dir}: config.json cannot be resumed: {exc}") from None
    check_trackers(args.log)
    # The run's own data set, rebuilt with its recorded options (and scaling for user data).
    data = run_dataset(saved, data_dir=args.data_dir, args=args)
    if world.is_main:
        note_on_streaming(data)
    data_info = saved.get("data", {})
    train_and_report(model, config, data, run_dir, data_info, args, resume=True, world=world)
    return 0


def resumed_config(
    training: dict[str, Any], args: argparse.Namespace, run_dir: Path
) -> TrainConfig:
    """The run's training options with what resuming may change: more epochs, the NaN policy."""
    changes: dict[str, Any] = {}
    if args.epochs is not None:  # resuming may extend a run, never shorten it
        planned = int(training.get("epochs", 0))
        if args.epochs < planned:
            print(
                f"sparsevae: note: {run_dir} is set to {planned} epochs and resuming never "
                f"shortens a run; --epochs {args.epochs} is ignored",
                file=sys.stderr,
            )
        changes["epochs"] = max(args.epochs, planned)
    if args.nan_policy is not None:
        changes["nan_policy"] = args.nan_policy
    return TrainConfig.from_dict({**training, **changes})


def train_and_report(
    model: SparseVAEModel,
    config: TrainConfig,
    data: Dataset,
    run_dir: Path,
    data_info: dict[str, Any],
    args: argparse.Namespace,
    *,
    resume: bool = False,
    world: World | None = None,
) -> None:
    """Train (or continue) a run with the trackers asked for (``--log``), then its figures and
    final metrics, which the trackers get too (process 0 of a data-parallel run alone)."""
    world = world or World()
    params = run_config(model, data_info, asdict(config))
    logs = args.log if world.is_main else []
    with open_trackers(logs, run_dir, params, mlflow_uri=args.mlflow_uri) as trackers:
        trainer = Trainer(
            model,
            config,
            run_dir=run_dir,
            data_info=data_info,
            progress=not args.no_progress,
            callbacks=[trackers],
            epoch_lines=not args.quiet,
            verbose=args.verbose,
            world=world,
        )
        history = trainer.fit(data.train_x, data.test_x, data.train_y, data.test_y, resume=resume)
        if not world.is_main:
            return
        figures, metrics = finish(model, data, Path(run_dir))
        epoch = history[-1]["epoch"] if history else 0
        trackers.log_metrics({f"final/{k}": v for k, v in scalars(metrics).items()}, epoch)
        trackers.log_figures(figures, epoch)


def finish(
    model: SparseVAEModel, data: Dataset, run_dir: Path
) -> tuple[list[Path], dict[str, Any]]:
    """Figures and the final metrics of a finished run: the figure files (the trainer's curves
    among them) and the metrics, which are printed."""
    x = data.test_x[:32]
    y = data.test_y[:32] if data.test_y is not None else None
    figures = [run_dir / TRAINING_CURVES, run_dir / "reconstructions.png"]
    save_image_grid(
        reconstruction_pairs(x, reconstructions(model, x, y)),
        figures[-1],
        ncols=8,
        title=f"{model.kind} on {data.name}: test images (odd rows) and reconstructions",
    )
    if model.is_variational:
        with eval_mode(model):
            samples = model.sample(64, sample_labels(model, 64)).cpu()
        figures.append(run_dir / "samples.png")
        save_image_grid(
            samples, figures[-1], ncols=8, title=f"{model.kind}: samples from the prior"
        )
    metrics = evaluate_model(model, data.test_x, data.test_y)
    # The final table is the run's result, not progress: --no-progress keeps it.
    print(f"\ntest metrics of {model.kind} on {data.name}:")
    print(format_table(metrics))
    print(f"run written to {run_dir}")
    warn_about_usage(model, metrics)
    return [path for path in figures if path.is_file()], metrics
