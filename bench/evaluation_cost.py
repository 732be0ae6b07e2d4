"""Time and memory of the evaluation library on MNIST's test set: the −ELBO and sparsity metrics,
the `paper` probe, and the importance-weighted log-likelihood at k = 5000.

Prints one JSON object.  Run:  python bench/evaluation_cost.py --data-dir ../shared/data/mnist
Without --data-dir, random binary images of MNIST's shape stand in (same arithmetic, same cost).
Without --run, an untrained VSC 784–400–200 is measured: the cost does not depend on the weights.

Memory is each step's peak resident set (Linux's VmHWM, reset before the step through
/proc/self/clear_refs) minus the resident set when it starts: what the step itself adds.  The IWAE
estimate is chunked (``chunk_size × batch_size`` decodes at a time), so what it adds should stay in
the tens of MB whatever k is.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import torch

import sparsevae
from sparsevae.evaluation import evaluate_model, iwae_log_likelihood, run_probes


def status_mb(field: str) -> float:
    """A memory line of /proc/self/status (VmRSS: now, VmHWM: peak since the last reset), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def start_memory_window() -> float:
    """Reset the peak to the present resident set (Linux ≥ 4.0); return that resident set."""
    Path("/proc/self/clear_refs").write_text("5")
    return status_mb("VmRSS")


def added_mb(start: float) -> float:
    return round(status_mb("VmHWM") - start, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", help="MNIST IDX directory (default: synthetic stand-in)")
    parser.add_argument("--run", help="a trained run directory (default: an untrained VSC)")
    parser.add_argument("--iwae-k", type=int, default=5000)
    parser.add_argument("--iwae-examples", type=int, default=100)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    if args.data_dir:
        data = sparsevae.load_dataset("mnist", data_dir=args.data_dir)
        train_x, train_y, test_x, test_y = data.train_x, data.train_y, data.test_x, data.test_y
        source = "mnist"
    else:
        generator = torch.Generator().manual_seed(0)
        train_x = torch.rand(60000, 1, 28, 28, generator=generator).round()
        test_x = torch.rand(10000, 1, 28, 28, generator=generator).round()
        train_y = torch.randint(0, 10, (60000,), generator=generator)
        test_y = torch.randint(0, 10, (10000,), generator=generator)
        source = "synthetic"
    if args.run:
        model = sparsevae.load(args.run, map_location=args.device)
    else:
        torch.manual_seed(0)
        model = sparsevae.build_model(
            "vsc", input_shape=(1, 28, 28), latent_dim=200, hidden=400, alpha=0.01
        ).to(args.device)
    model.eval()
    evaluate_model(model, test_x[:1000])  # warm-up (allocator, kernels)
    result: dict[str, object] = {
        "benchmark": "evaluation_cost",
        "model": args.run or "vsc 784-400-200 (untrained)",
        "data": source,
        "device": args.device,
        "torch_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "machine": platform.machine(),
        "test_examples": len(test_x),
    }

    memory = start_memory_window()
    started = time.perf_counter()
    evaluate_model(model, test_x, test_y)
    result["metrics_seconds"] = round(time.perf_counter() - started, 2)
    result["metrics_added_mb"] = added_mb(memory)

    memory = start_memory_window()
    started = time.perf_counter()
    run_probes(
        model, train_x, train_y, test_x, test_y, probes=["paper"], n_labels=5000, num_classes=10
    )
    result["paper_probe_seconds"] = round(time.perf_counter() - started, 2)
    result["paper_probe_added_mb"] = added_mb(memory)

    n = min(args.iwae_examples, len(test_x))
    memory = start_memory_window()
    started = time.perf_counter()
    iwae_log_likelihood(model, test_x[:n], samples=args.iwae_k)
    seconds = time.perf_counter() - started
    result.update(
        iwae_k=args.iwae_k,
        iwae_examples=n,
        iwae_seconds_per_example=round(seconds / n, 3),
        iwae_full_test_set_minutes=round(seconds / n * len(test_x) / 60, 1),
        iwae_added_mb=added_mb(memory),
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
