"""Training throughput of a 784–400–200 model (VSC by default) at batch 32 on MNIST, through the
real trainer.

Prints one JSON object per model.  Run:  python bench/train_throughput.py --data-dir
../shared/data/mnist.  With several ``--model``s the models are timed in turns (``--rounds``
rounds of ``--epochs`` epochs each, interleaved so that a busy machine slows them alike) and each
line gives its speed relative to the first model.  Without --data-dir, random binary images of
MNIST's shape stand in (same arithmetic, same speed).

Each line also sets the training's arithmetic rate (6 multiply-adds per weight of the linear
layers per example: forward, and the two products of the backward pass) beside the rate this
machine reaches on exactly those matrix products alone (``gemm_gflops_per_second``, measured in
the same process right after), so ``share_of_gemm_rate`` says how much of the hardware the
training loop uses: at batch 32 the per-step overhead dominates, at batch 1024 the products do.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import torch
from torch import nn

import sparsevae
from sparsevae.training import StackedTrainer, TrainConfig, Trainer


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", help="MNIST IDX directory (default: synthetic stand-in)")
    parser.add_argument(
        "--model", nargs="+", default=["vsc"], help="model kinds; several are timed in turns"
    )
    parser.add_argument("--rounds", type=int, default=1, help="turns per model (the best counts)")
    parser.add_argument("--latent-dim", type=int, default=200)
    parser.add_argument("--hidden", type=int, default=400)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument(
        "--epochs", type=int, default=2, help="timed epochs (after one warm-up epoch)"
    )
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    parser.add_argument("--ema", type=float, default=0.0, help="weight-averaging decay (0: off)")
    parser.add_argument("--stack", type=int, default=1, help="K > 1: stacked vs one at a time")
    parser.add_argument("--examples", type=int, help="train on the first N images only")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    if args.data_dir:
        x = sparsevae.load_dataset("mnist", data_dir=args.data_dir).train_x
        source = "mnist"
    else:
        x = torch.rand(60000, 1, 28, 28).round()
        source = "synthetic"
    x = x[: args.examples] if args.examples else x
    if args.stack > 1:
        print(json.dumps(stack_comparison(args.model[0], x, source, args)))
        return
    results = {name: [] for name in args.model}
    for _ in range(args.rounds):
        for name in args.model:
            results[name].append(time_model(name, x, args))
    first = args.model[0]
    for name in args.model:
        seconds, loss, shapes = min(results[name])  # the least disturbed round
        samples = len(x) * args.epochs
        train_rate = 6 * sum(i * o for i, o in shapes) * samples / seconds / 1e9
        gemm_rate = gemm_gflops(shapes, args.batch_size, args.device)
        print(
            json.dumps(
                {
                    "benchmark": "train_throughput",
                    "model": f"{name} 784-{args.hidden}-{args.latent_dim}",
                    "data": source,
                    "batch_size": args.batch_size,
                    "ema_decay": args.ema,
                    "device": args.device,
                    "torch_threads": torch.get_num_threads(),
                    "cpu_count": os.cpu_count(),
                    "torch": torch.__version__,
                    "machine": platform.machine(),
                    "epochs_timed": args.epochs,
                    "rounds": args.rounds,
                    "seconds_per_epoch": round(seconds / args.epochs, 2),
                    "samples_per_second": round(samples / seconds),
                    f"time_relative_to_{first}": round(seconds / min(results[first])[0], 3),
                    "final_train_loss": round(loss, 2),
                    "train_gflops_per_second": round(train_rate, 2),
                    "gemm_gflops_per_second": round(gemm_rate, 2),
                    "share_of_gemm_rate": round(train_rate / gemm_rate, 3),
                }
            )
        )


def linear_shapes(model: torch.nn.Module) -> list[tuple[int, int]]:
    """``(in, out)`` of every linear layer: the matrix products training multiplies through."""
    return [(m.in_features, m.out_features) for m in model.modules() if isinstance(m, nn.Linear)]


def gemm_gflops(
    shapes: list[tuple[int, int]], batch: int, device: str, seconds: float = 1.0
) -> float:
    """This machine's rate (GFLOP/s) on a training step's products alone: for each layer the
    forward ``X·Wᵀ`` and the backward ``G·W`` and ``Gᵀ·X`` at ``batch`` rows, repeated for about
    ``seconds`` after a warm-up."""
    operands = [
        (torch.rand(batch, i, device=device), torch.rand(o, i, device=device),
         torch.rand(batch, o, device=device))
        for i, o in shapes
    ]  # fmt: skip

    def one_step() -> None:
        for x, w, g in operands:
            x @ w.T, g @ w, g.T @ x

    one_step()
    steps, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        one_step()
        steps += 1
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    flops = 6 * batch * sum(i * o for i, o in shapes) * steps
    return flops / (time.perf_counter() - started) / 1e9


def stack_comparison(name: str, x: torch.Tensor, source: str, args: argparse.Namespace) -> dict:
    """Samples per second of ``args.stack`` models trained one at a time and as one stack (the
    best of ``args.rounds`` turns each, after a short warm-up of both)."""
    k = args.stack
    config = {"batch_size": args.batch_size, "device": args.device, "ema_decay": args.ema}

    def train(epochs: int, stacked: bool, examples: torch.Tensor) -> float:
        models = [build(name, args) for _ in range(k)]
        configs = [TrainConfig(epochs=epochs, seed=seed, **config) for seed in range(k)]
        started = time.perf_counter()
        if stacked:
            StackedTrainer(models, configs, progress=False).fit(examples)
        else:
            for model, cfg in zip(models, configs, strict=True):
                Trainer(model, cfg, progress=False).fit(examples)
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        return time.perf_counter() - started

    warm_up = x[: 20 * args.batch_size]
    train(1, False, warm_up), train(1, True, warm_up)
    alone, stacked = [], []
    for _ in range(args.rounds):
        alone.append(train(args.epochs, False, x))
        stacked.append(train(args.epochs, True, x))
    samples = k * len(x) * args.epochs
    return {
        "benchmark": "train_throughput_stacked",
        "model": f"{k} × {name} 784-{args.hidden}-{args.latent_dim}",
        "data": source,
        "examples": len(x),
        "batch_size": args.batch_size,
        "ema_decay": args.ema,
        "device": args.device,
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "epochs_timed": args.epochs,
        "rounds": args.rounds,
        "one_at_a_time_samples_per_second": round(samples / min(alone)),
        "stacked_samples_per_second": round(samples / min(stacked)),
        "stacked_speedup": round(min(alone) / min(stacked), 2),
        "seconds_one_at_a_time": [round(t, 1) for t in alone],
        "seconds_stacked": [round(t, 1) for t in stacked],
    }


def build(name: str, args: argparse.Namespace) -> sparsevae.SparseVAEModel:
    options = {"alpha": 0.01} if name == "vsc" else {}
    return sparsevae.build_model(name, input_shape=(1, 28, 28), latent_dim=args.latent_dim,
                                 hidden=args.hidden, **options)  # fmt: skip


def time_model(
    name: str, x: torch.Tensor, args: argparse.Namespace
) -> tuple[float, float, list[tuple[int, int]]]:
    """Seconds for ``args.epochs`` epochs after one warm-up epoch, the last training loss and the
    model's linear layers."""
    model = build(name, args)
    trainer = Trainer(
        model, TrainConfig(epochs=1, batch_size=args.batch_size, device=args.device), progress=False
    )
    trainer.fit(x)  # warm-up epoch (allocator, kernels)
    config = TrainConfig(
        epochs=args.epochs, batch_size=args.batch_size, device=args.device, ema_decay=args.ema
    )
    trainer = Trainer(model, config, progress=False)
    started = time.perf_counter()
    history = trainer.fit(x)
    if args.device.startswith("cuda"):
        torch.cuda.synchronize()
    return time.perf_counter() - started, history[-1]["train/loss"], linear_shapes(model)


if __name__ == "__main__":
    main()
