"""Downloads of the public data sets: known URLs and mirrors, SHA-256 checks, a resumable cache.

A file is fetched to ``NAME.part`` in the cache (continuing a partial ``.part`` with an HTTP Range
request), verified, and only then renamed to ``NAME``: a file under its final name has passed its
checksum, and a bad download never sits in the cache under that name.

Settings, each with a flag in the CLI and an environment variable:

* cache directory — ``--cache-dir`` / ``SPARSEVAE_CACHE`` (default: the platform's user cache,
  e.g. ``~/.cache/sparsevae`` on Linux);
* mirror — ``--mirror`` / ``SPARSEVAE_MIRROR``: a base URL that replaces the official sources,
  files are fetched from ``MIRROR/FILENAME`` (``{name}`` in the URL is replaced by the data set's
  name, so one variable can serve several sets);
* offline — ``--offline`` / ``SPARSEVAE_OFFLINE=1``: no network; only the cache or ``--data-dir``.

Written on urllib rather than pooch because resuming a partial file and replacing every source by
one mirror are the two things pooch does not do cleanly; pooch still supplies the cache location.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import urllib.error
import urllib.request
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import DataError
from ..hashing import sha256_file

CACHE_ENV = "SPARSEVAE_CACHE"
MIRROR_ENV = "SPARSEVAE_MIRROR"
OFFLINE_ENV = "SPARSEVAE_OFFLINE"
CHUNK = 1 << 16
TIMEOUT_S = 30.0
USER_AGENT = "sparsevae-downloader"


class DownloadError(DataError):
    """A file that could not be fetched or failed its checksum."""


@dataclass(frozen=True)
class RemoteFile:
    """One published file: its name, where it lives, and what its bytes must hash to.

    ``sha256`` is the digest of the file as published.  ``content_sha256``, for gzipped files,
    is the digest of the decompressed bytes: a mirror that re-compressed the same data (different
    gzip header, same content) is accepted on it.
    """

    filename: str
    urls: tuple[str, ...]
    sha256: str
    content_sha256: str | None = None
    size: int | None = None


@dataclass(frozen=True)
class DownloadSettings:
    """Where the cache is, where to fetch from, and whether the network may be used."""

    cache_dir: Path | None = None
    mirror: str | None = None
    offline: bool = False
    progress: bool = True
    # Fetch attempts per URL; a dropped connection is resumed from where it stopped.
    attempts: int = 3
    timeout_s: float = TIMEOUT_S
    extra_headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_environment(
        cls,
        cache_dir: str | Path | None = None,
        mirror: str | None = None,
        offline: bool | None = None,
        progress: bool = True,
    ) -> DownloadSettings:
        """Explicit values win over the environment variables, which win over the defaults."""
        env_offline = os.environ.get(OFFLINE_ENV, "").strip().lower() in ("1", "true", "yes", "on")
        return cls(
            cache_dir=Path(cache_dir)
            if cache_dir
            else (Path(os.environ[CACHE_ENV]) if os.environ.get(CACHE_ENV) else None),
            mirror=mirror or os.environ.get(MIRROR_ENV) or None,
            offline=env_offline if offline is None else (offline or env_offline),
            progress=progress,
        )

    def cache_root(self) -> Path:
        if self.cache_dir is not None:
            return Path(self.cache_dir).expanduser()
        import pooch

        return Path(pooch.os_cache("sparsevae"))

    def sources(self, dataset: str, remote: RemoteFile) -> list[str]:
        """URLs to try in order: only the mirror when one is set, else the known sources."""
        if self.mirror:
            base = self.mirror.replace("{name}", dataset).rstrip("/")
            return [f"{base}/{remote.filename}"]
        return list(remote.urls)


def _gunzip_sha256(path: Path) -> str | None:
    """SHA-256 of the decompressed content, or None when the file is not valid gzip."""
    digest = hashlib.sha256()
    try:
        with gzip.open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    except (OSError, EOFError, zlib.error):
        return None
    return digest.hexdigest()


def verify(path: Path, remote: RemoteFile) -> str | None:
    """None when ``path`` holds the published data, else a short description of the mismatch."""
    actual = sha256_file(path)
    if actual == remote.sha256:
        return None
    if remote.content_sha256 is not None and _gunzip_sha256(path) == remote.content_sha256:
        return None
    size = path.stat().st_size
    if remote.size is not None and size < remote.size:
        return f"the file is truncated ({size} of {remote.size} bytes)"
    return f"SHA-256 {actual[:16]}… does not match the expected {remote.sha256[:16]}…"


def dataset_cache_dir(dataset: str, settings: DownloadSettings) -> Path:
    return settings.cache_root() / dataset


def cached_path(dataset: str, remote: RemoteFile, settings: DownloadSettings) -> Path | None:
    """The file's path in the cache when it is there under its final (verified) name."""
    path = dataset_cache_dir(dataset, settings) / remote.filename
    return path if path.is_file() else None


def is_cached(dataset: str, files: Sequence[RemoteFile], settings: DownloadSettings) -> bool:
    return all(cached_path(dataset, remote, settings) is not None for remote in files)


def _fetch_to_part(url: str, part: Path, settings: DownloadSettings, label: str) -> None:
    """Append the rest of ``url`` to ``part`` (a Range request when part of it is already there)."""
    have = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": USER_AGENT, **settings.extra_headers}
    if have:
        headers["Range"] = f"bytes={have}-"
    request = urllib.request.Request(url, headers=headers)
    try:
        response = urllib.request.urlopen(request, timeout=settings.timeout_s)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # nothing left to fetch: the part file is complete
            return
        raise
    with response:
        if have and response.status != 206:  # the server ignored Range: start again
            have = 0
        length = response.headers.get("Content-Length")
        total = have + int(length) if length is not None else None
        mode = "ab" if have else "wb"
        bar = None
        if settings.progress:
            from tqdm import tqdm

            bar = tqdm(
                total=total,
                initial=have,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                desc=label,
                leave=False,
            )
        try:
            with open(part, mode) as f:
                received = have
                while True:
                    block = response.read(CHUNK)
                    if not block:
                        break
                    f.write(block)
                    received += len(block)
                    if bar is not None:
                        bar.update(len(block))
        finally:
            if bar is not None:
                bar.close()
        if total is not None and received < total:
            # The connection closed before Content-Length bytes: keep the part for a resume.
            raise ConnectionError(f"connection closed after {received} of {total} bytes")


def fetch(dataset: str, remote: RemoteFile, settings: DownloadSettings) -> Path:
    """The verified local copy of ``remote`` in the cache, downloading it if needed."""
    directory = dataset_cache_dir(dataset, settings)
    final = directory / remote.filename
    if final.is_file():
        problem = verify(final, remote)
        if problem is None:
            return final
        # A cached file that no longer verifies (disk error, edited by hand): move it aside.
        final.replace(final.with_name(final.name + ".bad"))
        if settings.offline:
            raise DownloadError(
                f"{final}: cached file is corrupt ({problem}); moved to {final.name}.bad — "
                "run `sparsevae datasets download "
                f"{dataset}` without --offline to fetch it again"
            )
    if settings.offline:
        raise DownloadError(
            f"{final}: not in the cache and --offline is set; run `sparsevae datasets download "
            f"{dataset}` with network access, or pass --data-dir with the files"
        )
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DownloadError(f"{directory}: cannot create the cache directory ({exc})") from None
    part = final.with_name(final.name + ".part")
    errors: list[str] = []
    for url in settings.sources(dataset, remote):
        for _ in range(max(1, settings.attempts)):
            size_before = part.stat().st_size if part.exists() else 0
            try:
                _fetch_to_part(url, part, settings, remote.filename)
            except urllib.error.HTTPError as exc:
                errors.append(f"{url}: HTTP {exc.code}")
                part.unlink(missing_ok=True)
                break  # the server answered: retrying this URL will not help
            except (TimeoutError, urllib.error.URLError, ConnectionError, OSError) as exc:
                reason = getattr(exc, "reason", exc)
                errors.append(f"{url}: {reason}")
                if (part.stat().st_size if part.exists() else 0) > size_before:
                    continue  # dropped mid-transfer: the next attempt resumes the part file
                break  # unreachable (no bytes came): try the next source
            problem = verify(part, remote)
            if problem is None:
                part.replace(final)  # atomic: the final name only ever holds a verified file
                return final
            part.unlink()  # a wrong file must not be resumed or kept
            raise DownloadError(
                f"{remote.filename} from {url}: {problem}; the file is corrupt or the mirror "
                "serves a different file — it was deleted, check the mirror and download again"
            )
    last = errors[-1] if errors else "no source URL"
    kept = " (partial download kept for resume)" if part.exists() else ""
    raise DownloadError(
        f"{remote.filename}: download failed{kept}: {last}; check the network or set "
        f"--mirror / {MIRROR_ENV}, or pass --data-dir with the files"
    )


def fetch_all(dataset: str, files: Sequence[RemoteFile], settings: DownloadSettings) -> Path:
    """Every file of ``dataset`` in the cache, verified; returns the data set's cache directory."""
    for remote in files:
        fetch(dataset, remote, settings)
    return dataset_cache_dir(dataset, settings)
