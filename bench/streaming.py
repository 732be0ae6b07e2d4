"""Training on data larger than memory: a 2 GiB memory-mapped ``npy:`` file of 28×28 images.

Writes (or reuses) a uint8 ``.npy`` of about 2.7 million synthetic 28×28 images, loads it with a
small ``max_memory`` so that it is read on demand, and trains a VAE (J 32, batch 256) for
``--steps`` steps on the streaming path: the batches of a random sample of ``steps × batch``
examples spread over the whole file, read by ``--workers`` data-loader processes.  Then the same
model trains on an in-memory subset that fits, for the ratio of the two speeds.

Prints one JSON object: samples/s of both paths and the peak resident set (Linux's ru_maxrss) of
the main process while streaming (VmHWM, reset after the file is written) and of the largest
worker process (ru_maxrss of the children; a forked worker counts the pages it shares with the
main process too).  The criterion: both under
1 GB while training on the 2 GiB file.

Run:  python bench/streaming.py --threads 1 --workers 1
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import time
from pathlib import Path

import numpy as np
import torch

import sparsevae
from sparsevae.training import TrainConfig, Trainer

SIDE = 28
CHUNK = 4096  # images made and written at a time


def write_images(path: Path, count: int, seed: int = 0) -> None:
    """``count`` synthetic uint8 images (a blob on noise, not all zeros) as an ``.npy``, written
    in chunks through the file (a mapping written whole would count in this process's memory)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:SIDE, :SIDE]
    temporary = path.with_suffix(".partial")
    with open(temporary, "wb") as f:
        header = {"descr": "|u1", "fortran_order": False, "shape": (count, SIDE, SIDE)}
        np.lib.format.write_array_header_1_0(f, header)
        for start in range(0, count, CHUNK):
            n = min(CHUNK, count - start)
            centre = rng.uniform(6, 22, size=(n, 2, 1, 1))
            blob = np.exp(-((yy - centre[:, 0]) ** 2 + (xx - centre[:, 1]) ** 2) / 18.0)
            noise = rng.integers(0, 40, size=(n, SIDE, SIDE))
            f.write(np.clip(blob * 215 + noise, 0, 255).astype(np.uint8).tobytes())
    temporary.rename(path)


def status_mb(field: str) -> float:
    """A memory line of /proc/self/status (VmRSS: now, VmHWM: peak since the last reset), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return round(int(line.split()[1]) / 1024, 1)
    raise RuntimeError(f"no {field} in /proc/self/status")


def reset_peak() -> None:
    """The peak resident set back to the present one (Linux ≥ 4.0): writing the file is not
    what is measured."""
    Path("/proc/self/clear_refs").write_text("5")


def train(x, steps: int, batch_size: int, latent_dim: int) -> float:
    """Samples/s of one epoch of ``x`` (``steps`` batches) for a fresh VAE."""
    torch.manual_seed(0)
    model = sparsevae.build_model("vae", input_shape=[1, SIDE, SIDE], latent_dim=latent_dim)
    config = TrainConfig(epochs=1, batch_size=batch_size, seed=0, device="cpu")
    started = time.perf_counter()
    Trainer(model, config, progress=False).fit(x)
    return round(steps * batch_size / (time.perf_counter() - started), 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--path", default="/tmp/sparsevae-bench-2gib.npy")
    parser.add_argument("--gib", type=float, default=2.0, help="size of the file (default 2)")
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--latent-dim", type=int, default=32)
    parser.add_argument("--max-memory", default="256MB", help="small enough to force streaming")
    parser.add_argument("--workers", type=int, default=1, help="data-loader worker processes")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--in-memory-examples", type=int, default=60_000)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    os.environ["SPARSEVAE_DATA_WORKERS"] = str(args.workers)

    path = Path(args.path)
    count = int(args.gib * 2**30) // (SIDE * SIDE)
    if not path.is_file() or path.stat().st_size < count * SIDE * SIDE:
        write_images(path, count)
    data = sparsevae.load_dataset(f"npy:{path}", max_memory=args.max_memory, test_fraction=0.01)
    assert data.info.get("streamed"), "the file fits in --max-memory; lower it"
    n = args.steps * args.batch_size
    reset_peak()
    start_rss = status_mb("VmRSS")  # torch, the model code and the set's row indices
    sample = np.random.default_rng(1).choice(len(data.train_x), n, replace=False)
    streamed = train(data.train_x.subset(sample), args.steps, args.batch_size, args.latent_dim)
    main_peak = status_mb("VmHWM")
    worker_peak = round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1)

    subset = data.train_x.head(args.in_memory_examples)[:]  # a tensor: the in-memory fast path
    steps = -(-len(subset) // args.batch_size)
    in_memory = train(subset, steps, args.batch_size, args.latent_dim)
    print(
        json.dumps(
            {
                "file": str(path),
                "file_gib": round(path.stat().st_size / 2**30, 3),
                "examples": len(data.train_x) + len(data.test_x),
                "model": f"vae 784-400-{args.latent_dim}, batch {args.batch_size}",
                "steps": args.steps,
                "workers": args.workers,
                "threads": args.threads,
                "streamed_samples_per_s": streamed,
                "rss_main_before_training_mb": start_rss,
                "peak_rss_main_mb": main_peak,
                "peak_rss_worker_mb": worker_peak,
                "in_memory_samples_per_s": in_memory,
                "in_memory_examples": len(subset),
                "streamed_over_in_memory": round(streamed / in_memory, 3),
                "torch": torch.__version__,
                "machine": platform.machine(),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
