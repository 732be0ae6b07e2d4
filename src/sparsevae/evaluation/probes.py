"""Classification from codes ("probes"): how much label information a code keeps, linearly.

Every probe is fitted on the codes of a fixed random subset of the training images (5,000 by
default, drawn with ``seed``) and scored on the codes of the full test set.

* ``paper``: a linear layer on the codes, softmax cross-entropy on its raw logits, SGD lr 1e-3,
  momentum 0.9, 20 epochs, batch 32 — the protocol of the public PyTorch reimplementation of VSC,
  *without* its ReLU on the logits (a bug: it clips negative logits to 0 and ties classes).
* ``linear``: scikit-learn multinomial logistic regression (lbfgs, C = 1, 1,000 iterations) on
  standardised codes.
* ``knn``: scikit-learn k-nearest neighbours, k = 5, Euclidean distance, raw codes.

Which code the probes see (``code``):

* ``sparse``: ``model.encode(x)``, the model's downstream code — for VSC μ where γ ≥
  ``code_threshold`` (the paper's γ·μ with ``code="sparse-mean"``), every other element exactly 0;
  for the VAE family the posterior mean μ.
* ``mu``: the posterior location μ for every variational model (for VSC, the slab mean, ignoring γ).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from ..batching import DEFAULT_BATCH_SIZE, eval_mode, map_batches
from ..errors import ConfigError, DataError
from ..models import SparseVAEModel
from .metrics import encode_dataset, labels_for

PROBES = ("paper", "linear", "knn")
CODES = ("sparse", "mu")
DEFAULT_PROBE_LABELS = 5000

# The paper protocol's fixed hyper-parameters.
PAPER_LR = 1e-3
PAPER_MOMENTUM = 0.9
PAPER_EPOCHS = 20
PAPER_BATCH_SIZE = 32
KNN_NEIGHBOURS = 5


def probe_codes(
    model: SparseVAEModel,
    x: torch.Tensor,
    y: torch.Tensor | None = None,
    code: str = "sparse",
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> torch.Tensor:
    """The codes the probes use, ``(N, latent_dim)`` on the CPU (see the module docstring)."""
    if code not in CODES:
        raise ConfigError(f"unknown code {code!r}; choose one of {', '.join(CODES)}")
    if code == "sparse" or not model.is_variational:
        return encode_dataset(model, x, y, batch_size)

    def location(*batch: torch.Tensor) -> torch.Tensor:
        return model.posterior(*batch).loc

    with eval_mode(model):
        return map_batches(
            location, x, labels_for(model, y), batch_size=batch_size, device=model.device
        )


def choose_labelled(n_train: int, n_labels: int | None, seed: int) -> np.ndarray:
    """Indices of the labelled subset: ``n_labels`` distinct training examples (all when None/0)."""
    if not n_labels or n_labels >= n_train:
        return np.arange(n_train)
    if n_labels < 0:
        raise ConfigError(f"the number of probe labels must be >= 0, got {n_labels}")
    return np.sort(np.random.default_rng(seed).choice(n_train, size=n_labels, replace=False))


def paper_probe(
    train_codes: torch.Tensor,
    train_y: torch.Tensor,
    test_codes: torch.Tensor,
    test_y: torch.Tensor,
    num_classes: int,
    *,
    seed: int = 0,
    epochs: int = PAPER_EPOCHS,
    lr: float = PAPER_LR,
    momentum: float = PAPER_MOMENTUM,
    batch_size: int = PAPER_BATCH_SIZE,
) -> float:
    """Test accuracy of a linear softmax classifier trained by SGD with momentum on the codes.

    The logits are the linear layer's output, used as they are: the reimplementation put a ReLU on
    them, which zeroes every negative logit and so ties classes; that bug is not reproduced.
    """
    generator = torch.Generator().manual_seed(seed)
    layer = nn.Linear(train_codes.shape[1], num_classes)
    with torch.no_grad():  # PyTorch's default init, but from our generator: reproducible
        bound = 1.0 / max(train_codes.shape[1], 1) ** 0.5
        layer.weight.uniform_(-bound, bound, generator=generator)
        layer.bias.uniform_(-bound, bound, generator=generator)
    optimizer = torch.optim.SGD(layer.parameters(), lr=lr, momentum=momentum)
    xs, ys = train_codes.float(), train_y.long()
    for _ in range(epochs):
        order = torch.randperm(len(xs), generator=generator)
        for start in range(0, len(xs), batch_size):
            index = order[start : start + batch_size]
            loss = nn.functional.cross_entropy(layer(xs[index]), ys[index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    with torch.no_grad():
        predicted = layer(test_codes.float()).argmax(1)
    return float((predicted == test_y.long()).float().mean())


def linear_probe(
    train_codes: np.ndarray,
    train_y: np.ndarray,
    test_codes: np.ndarray,
    test_y: np.ndarray,
    *,
    max_iter: int = 1000,
) -> float:
    """Test accuracy of multinomial logistic regression on standardised codes (scikit-learn)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    classifier = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=max_iter))
    classifier.fit(train_codes, train_y)
    return float(classifier.score(test_codes, test_y))


def knn_probe(
    train_codes: np.ndarray, train_y: np.ndarray, test_codes: np.ndarray, test_y: np.ndarray
) -> float:
    """Test accuracy of 5-nearest-neighbour classification on the raw codes (scikit-learn)."""
    from sklearn.neighbors import KNeighborsClassifier

    k = min(KNN_NEIGHBOURS, len(train_codes))
    classifier = KNeighborsClassifier(n_neighbors=k)
    classifier.fit(train_codes, train_y)
    return float(classifier.score(test_codes, test_y))


def check_probes(probes: Sequence[str]) -> list[str]:
    names = list(dict.fromkeys(probes))  # keep order, drop repeats
    unknown = [p for p in names if p not in PROBES]
    if unknown:
        raise ConfigError(f"unknown probe {unknown[0]!r}; choose from {', '.join(PROBES)}")
    return names


def run_probes(
    model: SparseVAEModel,
    train_x: torch.Tensor,
    train_y: torch.Tensor | None,
    test_x: torch.Tensor,
    test_y: torch.Tensor | None,
    *,
    probes: Sequence[str] = PROBES,
    n_labels: int | None = DEFAULT_PROBE_LABELS,
    code: str = "sparse",
    seed: int = 0,
    num_classes: int | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> dict[str, Any]:
    """Fit each probe on ``n_labels`` random training codes; return test accuracies in [0, 1].

    Keys: ``probe_<name>_accuracy`` per probe, ``probe_code``, ``probe_labels`` (how many labelled
    codes were used) and ``probe_seed``.
    """
    names = check_probes(probes)
    if train_y is None or test_y is None:
        raise DataError("classification probes need a labelled data set (train and test labels)")
    train_y = torch.as_tensor(train_y).long().reshape(-1)
    test_y = torch.as_tensor(test_y).long().reshape(-1)
    index = torch.from_numpy(choose_labelled(len(train_x), n_labels, seed))
    labelled_x, labelled_y = train_x[index], train_y[index]
    train_codes = probe_codes(model, labelled_x, labelled_y, code, batch_size)
    test_codes = probe_codes(model, test_x, test_y, code, batch_size)
    classes = int(num_classes or int(max(train_y.max(), test_y.max())) + 1)
    result: dict[str, Any] = {"probe_code": code, "probe_labels": len(index), "probe_seed": seed}
    train_np, test_np = train_codes.numpy(), test_codes.numpy()
    for name in names:
        if name == "paper":
            accuracy = paper_probe(train_codes, labelled_y, test_codes, test_y, classes, seed=seed)
        elif name == "linear":
            accuracy = linear_probe(train_np, labelled_y.numpy(), test_np, test_y.numpy())
        else:
            accuracy = knn_probe(train_np, labelled_y.numpy(), test_np, test_y.numpy())
        result[f"probe_{name}_accuracy"] = accuracy
    return result
