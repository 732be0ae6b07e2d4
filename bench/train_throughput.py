"""Training throughput of VSC 784–400–200 at batch 32 on MNIST, through the real trainer.

Prints one JSON object.  Run:  python bench/train_throughput.py --data-dir ../shared/data/mnist
Without --data-dir, random binary images of MNIST's shape stand in (same arithmetic, same speed).
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
    parser.add_argument("--model", default="vsc")
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
    options = {"alpha": 0.01} if args.model == "vsc" else {}
    model = sparsevae.build_model(args.model, input_shape=(1, 28, 28), latent_dim=args.latent_dim,
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
    seconds = time.perf_counter() - started
    samples = len(x) * args.epochs
    print(
        json.dumps(
            {
                "benchmark": "train_throughput",
                "model": f"{args.model} 784-{args.hidden}-{args.latent_dim}",
                "data": source,
                "batch_size": args.batch_size,
                "ema_decay": args.ema,
                "device": args.device,
                "torch_threads": torch.get_num_threads(),
                "cpu_count": os.cpu_count(),
                "torch": torch.__version__,
                "machine": platform.machine(),
                "epochs_timed": args.epochs,
                "seconds_per_epoch": round(seconds / args.epochs, 2),
                "samples_per_second": round(samples / seconds),
                "final_train_loss": round(history[-1]["train/loss"], 2),
            }
        )
    )


if __name__ == "__main__":
    main()
