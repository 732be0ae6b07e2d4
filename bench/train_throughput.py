"""Training throughput of a 784–400–200 model (VSC by default) at batch 32 on MNIST, through the
real trainer.

Prints one JSON object per model.  Run:  python bench/train_throughput.py --data-dir
../shared/data/mnist.  With several ``--model``s the models are timed in turns (``--rounds``
rounds of ``--epochs`` epochs each, interleaved so that a busy machine slows them alike) and each
line gives its speed relative to the first model.  Without --data-dir, random binary images of
MNIST's shape stand in (same arithmetic, same speed).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import torch

import sparsevae
from sparsevae.training import TrainConfig, Trainer


def main() -> None:
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
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    if args.data_dir:
        x = sparsevae.load_dataset("mnist", data_dir=args.data_dir).train_x
        source = "mnist"
    else:
        x = torch.rand(60000, 1, 28, 28).round()
        source = "synthetic"
    results = {name: [] for name in args.model}
    for _ in range(args.rounds):
        for name in args.model:
            results[name].append(time_model(name, x, args))
    first = args.model[0]
    for name in args.model:
        seconds, loss = min(results[name])  # the least disturbed round
        samples = len(x) * args.epochs
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
                }
            )
        )


def time_model(name: str, x: torch.Tensor, args: argparse.Namespace) -> tuple[float, float]:
    """Seconds for ``args.epochs`` epochs after one warm-up epoch, and the last training loss."""
    options = {"alpha": 0.01} if name == "vsc" else {}
    model = sparsevae.build_model(name, input_shape=(1, 28, 28), latent_dim=args.latent_dim,
                                  hidden=args.hidden, **options)  # fmt: skip
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
    return time.perf_counter() - started, history[-1]["train/loss"]


if __name__ == "__main__":
    main()
