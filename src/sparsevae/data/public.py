"""The public data sets fetched from the internet: MNIST, Fashion-MNIST and CIFAR-10 in grey.

Each file has its official source first and known mirrors after it, with its SHA-256.  Sources of
the digests (checked against each other, see docs/datasets.md):

* MNIST: the digests of the gzipped files as published on the ossci / CVDF mirrors, and of the
  decompressed IDX files (which also match copies that were re-compressed, e.g. a local mirror).
* Fashion-MNIST: the digests of the gzipped files of the zalandoresearch/fashion-mnist release.
* CIFAR-10: the digest of ``cifar-10-python.tar.gz`` that Keras pins.
"""

from __future__ import annotations

import io
import pickle
import tarfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import DataError
from .base import Dataset
from .builtin import idx_dataset
from .downloads import DownloadSettings, RemoteFile, fetch, fetch_all, verify
from .registry import register_dataset

MNIST_SOURCES = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)
# filename → (SHA-256 of the .gz file, SHA-256 of its decompressed content)
MNIST_DIGESTS = {
    "train-images-idx3-ubyte.gz": (
        "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
        "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    ),
    "train-labels-idx1-ubyte.gz": (
        "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
        "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    ),
    "t10k-images-idx3-ubyte.gz": (
        "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
        "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    ),
    "t10k-labels-idx1-ubyte.gz": (
        "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
        "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    ),
}
MNIST_FILES = tuple(
    RemoteFile(name, tuple(base + name for base in MNIST_SOURCES), sha, content)
    for name, (sha, content) in MNIST_DIGESTS.items()
)

FASHION_SOURCES = (
    "https://fashion-mnist.s3.eu-central-1.amazonaws.com/",
    "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
)
FASHION_DIGESTS = {
    "train-images-idx3-ubyte.gz": "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
    "train-labels-idx1-ubyte.gz": "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
    "t10k-images-idx3-ubyte.gz": "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
    "t10k-labels-idx1-ubyte.gz": "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
}
FASHION_FILES = tuple(
    RemoteFile(name, tuple(base + name for base in FASHION_SOURCES), sha)
    for name, sha in FASHION_DIGESTS.items()
)
FASHION_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)

CIFAR_TARBALL = "cifar-10-python.tar.gz"
CIFAR_FILE = RemoteFile(
    CIFAR_TARBALL,
    (f"https://www.cs.toronto.edu/~kriz/{CIFAR_TARBALL}",),
    "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce",
    size=170498071,
)
CIFAR_TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR_TEST_BATCH = "test_batch"
# ITU-R BT.601 luma: the usual RGB → grey weights.
LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def _settings(download: DownloadSettings | None) -> DownloadSettings:
    return download if download is not None else DownloadSettings.from_environment()


def _idx_set(
    name: str,
    files: tuple[RemoteFile, ...],
    data_dir: str | Path | None,
    download: DownloadSettings | None,
) -> Dataset:
    if data_dir is not None:
        return idx_dataset(name, data_dir)
    directory = fetch_all(name, files, _settings(download))
    return idx_dataset(name, directory, source="cache")


@register_dataset(
    "mnist",
    shape=(1, 28, 28),
    sizes=(60000, 10000),
    description="MNIST handwritten digits (LeCun et al.): downloaded and cached, or --data-dir",
    files=MNIST_FILES,
)
def load_mnist(
    data_dir: str | Path | None = None, download: DownloadSettings | None = None
) -> Dataset:
    return _idx_set("mnist", MNIST_FILES, data_dir, download)


@register_dataset(
    "fashion-mnist",
    shape=(1, 28, 28),
    sizes=(60000, 10000),
    description="Fashion-MNIST (Zalando): 10 clothing classes, MNIST format, downloaded or "
    "--data-dir",
    files=FASHION_FILES,
)
def load_fashion_mnist(
    data_dir: str | Path | None = None, download: DownloadSettings | None = None
) -> Dataset:
    data = _idx_set("fashion-mnist", FASHION_FILES, data_dir, download)
    data.info["classes"] = list(FASHION_CLASSES)
    return data


class _CifarUnpickler(pickle.Unpickler):
    """Unpickle only what a CIFAR batch holds (dicts, lists, bytes, NumPy arrays).

    The batches are Python pickles; refusing every other global means a tampered or foreign file
    cannot run code even when it comes from --data-dir, where no checksum is enforced.
    """

    ALLOWED = frozenset(
        {
            ("numpy.core.multiarray", "_reconstruct"),
            ("numpy._core.multiarray", "_reconstruct"),
            ("numpy", "ndarray"),
            ("numpy", "dtype"),
        }
    )

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        return super().find_class(module, name)


def _read_cifar_batch(raw: bytes, what: str) -> tuple[np.ndarray, np.ndarray]:
    try:
        batch = _CifarUnpickler(io.BytesIO(raw), encoding="bytes").load()
        data = np.asarray(batch[b"data"], dtype=np.uint8)
        labels = np.asarray(batch[b"labels"], dtype=np.int64)
    except Exception as exc:  # any failure means the batch is not a CIFAR-10 batch
        raise DataError(f"{what}: not a CIFAR-10 batch ({exc}); download it again") from None
    if data.ndim != 2 or data.shape[1] != 3072 or len(labels) != len(data):
        raise DataError(f"{what}: unexpected CIFAR-10 batch shape {data.shape}")
    return data.reshape(-1, 3, 32, 32), labels


def _cifar_batches(source: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The six batches from the tarball or from an extracted ``cifar-10-batches-py`` folder."""
    wanted = (*CIFAR_TRAIN_BATCHES, CIFAR_TEST_BATCH)
    if source.is_dir():
        folder = (
            source / "cifar-10-batches-py" if (source / "cifar-10-batches-py").is_dir() else source
        )
        missing = [b for b in wanted if not (folder / b).is_file()]
        if missing:
            raise DataError(
                f"{folder}: missing CIFAR-10 batch {missing[0]}; expected {CIFAR_TARBALL} or the "
                "extracted cifar-10-batches-py folder"
            )
        return {b: _read_cifar_batch((folder / b).read_bytes(), str(folder / b)) for b in wanted}
    batches = {}
    try:
        with tarfile.open(source, "r:gz") as tar:
            for member in tar.getmembers():
                stem = member.name.rsplit("/", 1)[-1]
                if stem in wanted and member.isfile():
                    handle = tar.extractfile(member)
                    assert handle is not None
                    batches[stem] = _read_cifar_batch(handle.read(), f"{source}:{member.name}")
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise DataError(f"{source}: cannot read the tarball ({exc}); download it again") from None
    missing = [b for b in wanted if b not in batches]
    if missing:
        raise DataError(f"{source}: the tarball has no {missing[0]}; download it again")
    return batches


def to_grey(rgb: np.ndarray, size: int) -> np.ndarray:
    """uint8 ``(N, 3, 32, 32)`` → float32 grey ``(N, 1, size, size)`` in [0, 1].

    Luma weights, then ``size`` 16 averages 2×2 blocks (area downsampling, no aliasing).
    """
    grey = np.tensordot(rgb.astype(np.float32) / 255.0, LUMA, axes=([1], [0]))
    if size == 16:
        grey = grey.reshape(-1, 16, 2, 16, 2).mean(axis=(2, 4))
    return np.clip(grey, 0.0, 1.0)[:, None].astype(np.float32)


@register_dataset(
    "cifar10-gray",
    shape=(1, 32, 32),
    sizes=(50000, 10000),
    description="CIFAR-10 converted to grey (luma), 32×32 or 16×16 (option size=16), "
    "downloaded or --data-dir",
    files=(CIFAR_FILE,),
)
def load_cifar10_gray(
    size: int = 32, data_dir: str | Path | None = None, download: DownloadSettings | None = None
) -> Dataset:
    if size not in (32, 16):
        raise DataError(f"cifar10-gray: size must be 32 or 16, got {size!r}")
    if data_dir is not None:
        source = Path(data_dir)
        if not source.exists():
            raise DataError(f"{source}: data directory not found")
        tarball = source / CIFAR_TARBALL
        if tarball.is_file():
            problem = verify(tarball, CIFAR_FILE)
            if problem is not None:
                raise DataError(f"{tarball}: {problem}; download it again")
            source = tarball
    else:
        source = fetch("cifar10-gray", CIFAR_FILE, _settings(download))
    batches = _cifar_batches(source)
    train_x = np.concatenate([batches[b][0] for b in CIFAR_TRAIN_BATCHES])
    train_y = np.concatenate([batches[b][1] for b in CIFAR_TRAIN_BATCHES])
    test_x, test_y = batches[CIFAR_TEST_BATCH]
    return Dataset(
        "cifar10-gray",
        torch.from_numpy(to_grey(train_x, size)),
        torch.from_numpy(to_grey(test_x, size)),
        torch.from_numpy(train_y),
        torch.from_numpy(test_y),
        num_classes=10,
        info={
            "scale": "luma(R, G, B) / 255" + (", 2×2 mean" if size == 16 else ""),
            "size": size,
            "source": "data_dir" if data_dir is not None else "cache",
        },
    )
