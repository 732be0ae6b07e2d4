"""The real download path (urllib, Range resume, SHA-256, atomic rename) against a local server.

A ThreadingHTTPServer on 127.0.0.1 (random port) serves bytes made by each test; it can serve a
corrupt file and drop a connection half-way.  No external network is used.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

import sparsevae
from sparsevae.cli.main import main
from sparsevae.data import DATASETS, public
from sparsevae.data.downloads import (
    DownloadError,
    DownloadSettings,
    RemoteFile,
    fetch,
    is_cached,
)

from .conftest import write_idx


class FileServer:
    """Files by URL path; ``drop`` paths send half their bytes then close, ``drops`` times."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.drops: dict[str, int] = {}
        self.requests: list[tuple[str, str | None]] = []  # (path, Range header)
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # keep pytest output clean
                pass

            def do_GET(self) -> None:
                range_header = self.headers.get("Range")
                server.requests.append((self.path, range_header))
                body = server.files.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                start = 0
                if range_header:
                    start = int(range_header.removeprefix("bytes=").split("-")[0])
                    if start >= len(body):
                        self.send_error(416)
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                else:
                    self.send_response(200)
                rest = body[start:]
                self.send_header("Content-Length", str(len(rest)))
                self.end_headers()
                if server.drops.get(self.path, 0) > 0:
                    server.drops[self.path] -= 1
                    self.wfile.write(rest[: len(rest) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(rest)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def add(self, path: str, body: bytes) -> str:
        self.files[path] = body
        return self.url + path

    def gets(self, path: str) -> int:
        return sum(p == path for p, _ in self.requests)


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FileServer]:
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    s = FileServer()
    s.thread.start()
    yield s
    s.httpd.shutdown()
    s.httpd.server_close()


def remote_for(name: str, body: bytes, urls: tuple[str, ...], **kw) -> RemoteFile:
    return RemoteFile(name, urls, hashlib.sha256(body).hexdigest(), **kw)


def settings(tmp_path: Path, **kw) -> DownloadSettings:
    return DownloadSettings(cache_dir=tmp_path / "cache", progress=False, timeout_s=5.0, **kw)


def test_fetch_verifies_caches_and_does_not_refetch(server, tmp_path):
    body = np.random.default_rng(0).bytes(50_000)
    remote = remote_for("a.bin", body, (server.add("/a.bin", body),))
    path = fetch("toy", remote, settings(tmp_path))
    assert path == tmp_path / "cache" / "toy" / "a.bin" and path.read_bytes() == body
    assert not path.with_name("a.bin.part").exists()
    assert is_cached("toy", [remote], settings(tmp_path))
    again = fetch("toy", remote, settings(tmp_path))
    assert again == path and server.gets("/a.bin") == 1  # the second call used the cache


def test_checksum_mismatch_leaves_nothing_in_the_cache(server, tmp_path):
    good = b"the published bytes" * 100
    url = server.add("/c.bin", b"corrupted bytes!!!!" * 100)
    remote = remote_for("c.bin", good, (url,))
    with pytest.raises(DownloadError, match=r"c\.bin.*SHA-256.*does not match"):
        fetch("toy", remote, settings(tmp_path))
    directory = tmp_path / "cache" / "toy"
    assert not (directory / "c.bin").exists() and not (directory / "c.bin.part").exists()


def test_a_truncated_file_is_named_as_truncated(server, tmp_path):
    body = np.random.default_rng(3).bytes(10_000)
    url = server.add("/t.bin", body[:4_000])  # the mirror holds a cut-off copy
    remote = remote_for("t.bin", body, (url,), size=len(body))
    with pytest.raises(DownloadError, match=r"t\.bin from .*truncated \(4000 of 10000 bytes\)"):
        fetch("toy", remote, settings(tmp_path))
    assert not any((tmp_path / "cache" / "toy").iterdir())


def test_dropped_connection_is_resumed_with_a_range_request(server, tmp_path):
    body = np.random.default_rng(1).bytes(200_000)
    url = server.add("/big.bin", body)
    server.drops["/big.bin"] = 1
    remote = remote_for("big.bin", body, (url,))
    # One attempt: the drop fails the call, the part file stays for a resume, no final file.
    with pytest.raises(DownloadError, match="partial download kept"):
        fetch("toy", remote, settings(tmp_path, attempts=1))
    part = tmp_path / "cache" / "toy" / "big.bin.part"
    assert part.is_file() and 0 < part.stat().st_size < len(body)
    assert not (tmp_path / "cache" / "toy" / "big.bin").exists()
    path = fetch("toy", remote, settings(tmp_path, attempts=1))
    assert path.read_bytes() == body and not part.exists()
    assert server.requests[-1] == ("/big.bin", f"bytes={len(body) // 2}-")


def test_a_drop_within_one_call_is_retried_and_resumed(server, tmp_path):
    body = np.random.default_rng(2).bytes(100_000)
    url = server.add("/d.bin", body)
    server.drops["/d.bin"] = 1
    path = fetch("toy", remote_for("d.bin", body, (url,)), settings(tmp_path, attempts=3))
    assert path.read_bytes() == body
    assert [r for p, r in server.requests] == [None, f"bytes={len(body) // 2}-"]


def test_a_failing_source_falls_back_to_the_next_mirror(server, tmp_path):
    body = b"mirror copy" * 50
    remote = remote_for("m.bin", body, (server.url + "/gone/m.bin", server.add("/m.bin", body)))
    assert fetch("toy", remote, settings(tmp_path)).read_bytes() == body
    assert server.gets("/gone/m.bin") == 1


def test_mirror_override_replaces_the_sources_and_fills_in_the_name(server, tmp_path):
    body = b"hosted by an organisation" * 20
    server.add("/datasets/toy/o.bin", body)
    remote = remote_for("o.bin", body, ("http://127.0.0.1:9/never-used/o.bin",))
    s = settings(tmp_path, mirror=server.url + "/datasets/{name}/")
    assert fetch("toy", remote, s).read_bytes() == body
    assert [p for p, _ in server.requests] == ["/datasets/toy/o.bin"]


def test_a_recompressed_gzip_is_accepted_on_its_content_digest(server, tmp_path):
    content = b"IDX payload " * 500
    published = gzip.compress(content, mtime=1)
    recompressed = gzip.compress(content, compresslevel=1, mtime=2)
    assert published != recompressed
    remote = RemoteFile(
        "r.gz",
        (server.add("/r.gz", recompressed),),
        hashlib.sha256(published).hexdigest(),
        content_sha256=hashlib.sha256(content).hexdigest(),
    )
    assert gzip.decompress(fetch("toy", remote, settings(tmp_path)).read_bytes()) == content


def test_offline_uses_the_cache_only(server, tmp_path):
    body = b"cached already" * 10
    remote = remote_for("f.bin", body, (server.add("/f.bin", body),))
    with pytest.raises(DownloadError, match=r"f\.bin: not in the cache and --offline"):
        fetch("toy", remote, settings(tmp_path, offline=True))
    fetch("toy", remote, settings(tmp_path))
    assert fetch("toy", remote, settings(tmp_path, offline=True)).read_bytes() == body
    assert server.gets("/f.bin") == 1


def test_a_corrupted_cached_file_is_fetched_again(server, tmp_path):
    body = b"good" * 1000
    remote = remote_for("g.bin", body, (server.add("/g.bin", body),))
    path = fetch("toy", remote, settings(tmp_path))
    path.write_bytes(b"bit rot")
    assert fetch("toy", remote, settings(tmp_path)).read_bytes() == body
    assert server.gets("/g.bin") == 2 and path.with_name("g.bin.bad").read_bytes() == b"bit rot"


def test_http_error_names_the_file(server, tmp_path):
    remote = remote_for("h.bin", b"x", (server.url + "/missing/h.bin",))
    with pytest.raises(DownloadError, match=r"h\.bin: download failed: .*HTTP 404"):
        fetch("toy", remote, settings(tmp_path))


def test_environment_variables_configure_the_settings(monkeypatch, tmp_path):
    monkeypatch.setenv("SPARSEVAE_CACHE", str(tmp_path / "env-cache"))
    monkeypatch.setenv("SPARSEVAE_MIRROR", "http://mirror.example/{name}")
    monkeypatch.setenv("SPARSEVAE_OFFLINE", "1")
    s = DownloadSettings.from_environment()
    assert s.cache_root() == tmp_path / "env-cache" and s.offline
    assert s.sources("mnist", public.MNIST_FILES[0]) == [
        "http://mirror.example/mnist/train-images-idx3-ubyte.gz"
    ]
    flagged = DownloadSettings.from_environment(cache_dir=tmp_path / "flag", mirror="http://m2")
    assert flagged.cache_root() == tmp_path / "flag" and flagged.mirror == "http://m2"
    monkeypatch.delenv("SPARSEVAE_CACHE")
    assert "sparsevae" in str(DownloadSettings().cache_root())  # the platform default


@pytest.fixture
def tiny_mnist_remote(server, tmp_path, monkeypatch) -> tuple[FileServer, tuple[RemoteFile, ...]]:
    """The registry's ``mnist`` pointed at tiny IDX files served locally (real checksums of them)."""
    rng = np.random.default_rng(0)
    source = tmp_path / "src"
    source.mkdir()
    files = []
    for prefix, n in (("train", 20), ("t10k", 10)):
        for kind, array in (
            ("images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28))),
            ("labels-idx1-ubyte", rng.integers(0, 10, n)),
        ):
            path = write_idx(source / f"{prefix}-{kind}", array)
            body = path.read_bytes()
            url = server.add(f"/mnist/{path.name}", body)
            files.append(
                remote_for(path.name, body, ("http://127.0.0.1:9/official/" + path.name, url))
            )
    files = tuple(files)
    monkeypatch.setattr(public, "MNIST_FILES", files)
    monkeypatch.setitem(DATASETS, "mnist", dataclasses.replace(DATASETS["mnist"], files=files))
    return server, files


def test_mnist_loads_through_the_download_cache(tiny_mnist_remote, tmp_path):
    server, _ = tiny_mnist_remote
    s = settings(tmp_path, mirror=server.url + "/mnist")
    data = sparsevae.load_dataset("mnist", download=s)
    assert data.train_x.shape == (20, 1, 28, 28) and data.test_x.shape == (10, 1, 28, 28)
    n = len(server.requests)
    offline = sparsevae.load_dataset("mnist", download=settings(tmp_path, offline=True))
    assert len(server.requests) == n and np.array_equal(offline.test_x, data.test_x)


def test_cli_download_then_offline_cache(tiny_mnist_remote, tmp_path, capsys):
    server, _ = tiny_mnist_remote
    cache = str(tmp_path / "cli-cache")
    args = ["datasets", "download", "mnist", "--cache-dir", cache, "--no-progress"]
    assert main([*args, "--mirror", server.url + "/mnist"]) == 0
    assert capsys.readouterr().out.count("downloaded, verified") == 4
    n = len(server.requests)
    assert main([*args, "--offline"]) == 0
    assert capsys.readouterr().out.count("cached, verified") == 4 and len(server.requests) == n
    assert main(["datasets", "list", "--cache-dir", cache, "--json"]) == 0
    assert '"name": "mnist"' in (out := capsys.readouterr().out) and '"cached": "yes"' in out


def test_cli_errors_are_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("SPARSEVAE_MIRROR", raising=False)
    cache = str(tmp_path / "empty")
    assert main(["datasets", "download", "mnist", "--cache-dir", cache, "--offline"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("sparsevae: error: ") and "\n" not in err
    assert "train-images-idx3-ubyte.gz" in err and "--offline" in err
