"""``sparsevae explore``: the session's numbers, the web API (through Flask's test client and a real
socket) and the command line.  The page in a real browser: tests/test_explore_browser.py."""

from __future__ import annotations

import base64
import http.client
import io
import json
import socket
import threading
from argparse import Namespace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import sparsevae
from sparsevae.cli.main import main
from sparsevae.errors import ConfigError, DataError
from sparsevae.explore import ExploreSession
from sparsevae.explore.images import image_from_upload, to_png
from sparsevae.models import build_model

pytest.importorskip("flask", reason="the explore extra (Flask) is not installed")
from sparsevae.explore.app import create_app
from sparsevae.explore.server import is_loopback, make_explorer_server, url_of

FIXTURES = Path(__file__).parent / "fixtures" / "runs-0.1.0"
KINDS = sorted(p.name for p in FIXTURES.iterdir() if p.is_dir())


@pytest.fixture(scope="module")
def digits():
    return sparsevae.load_dataset("digits")


def session_for(kind: str, digits) -> ExploreSession:
    return ExploreSession(sparsevae.load(FIXTURES / kind), digits.test_x, digits.test_y)


def png_bytes(array: np.ndarray, mode: str | None = None) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array, mode=mode).save(buffer, format="PNG")
    return buffer.getvalue()


def decoded_array(data_url: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(data_url.split(",", 1)[1]))))


# -- the session, for every model kind ------------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
def test_session_encodes_decodes_and_traverses_every_kind(kind, digits):
    session = session_for(kind, digits)
    model = session.model
    image, label = session.test_image(5)
    result = session.analyse(image, label)
    y = digits.test_y[5:6] if model.num_classes else None
    with torch.no_grad():
        code = model.encode(digits.test_x[5:6], y)
        torch.testing.assert_close(result.code, code[0])
        torch.testing.assert_close(result.reconstruction, model.decode(code, y)[0])
        torch.testing.assert_close(session.decode(result.code, label), model.decode(code, y)[0])
    assert (result.gamma is not None) == (kind in ("vsc", "vsc-uai"))
    dim = int(result.code.abs().argmax())
    frames = session.traverse(result.code, dim, torch.tensor([-1.0, 0.0, 1.0]), label)
    assert frames.shape == (3, *model.input_shape)
    assert len(session.code_low) == model.latent_dim
    assert all(lo <= 0 <= hi for lo, hi in zip(session.code_low, session.code_high, strict=True))
    if model.is_variational:
        assert session.samples(4, seed=1).shape == (4, *model.input_shape)
        torch.testing.assert_close(session.samples(4, seed=1), session.samples(4, seed=1))
    else:
        with pytest.raises(ConfigError, match="no prior"):
            session.samples(4)


@pytest.mark.parametrize(
    ("kind", "options"),
    [
        ("vsc-threshold", {"latent_dim": 6, "hidden": [16]}),
        ("topk-ae", {"latent_dim": 6, "hidden": [16], "k": 2}),
        ("dict-learning", {"latent_dim": 6, "nonzeros": 2}),
    ],
)
def test_session_for_kinds_without_a_fixture(kind, options, digits):
    model = build_model(kind, input_shape=(1, 8, 8), **options)
    if model.fits_in_closed_form:
        model.fit_closed_form(digits.train_x[:200])
    session = ExploreSession(model.eval(), digits.test_x, digits.test_y)
    result = session.analyse(*session.test_image(0))
    with torch.no_grad():
        torch.testing.assert_close(result.reconstruction, model.reconstruct(digits.test_x[:1])[0])
    assert int((result.code != 0).sum()) <= options.get("k", options.get("nonzeros", 6))
    assert session.decode(result.code).shape == (1, 8, 8)


def test_vsc_uai_samples_a_chosen_prior_component(digits):
    session = session_for("vsc-uai", digits)
    assert session.prior_components == session.model.n_pseudo_inputs
    images = session.samples(3, seed=0, component=1)
    assert images.shape == (3, 1, 8, 8)
    with pytest.raises(ConfigError, match="prior component"):
        session.samples(3, component=session.prior_components)


def test_llgae_code_across_blocks_is_refused_in_one_line(digits):
    session = session_for("llgae", digits)
    code = session.analyse(*session.test_image(0)).code
    code[code == 0] = 0.5  # non-zeros in every block
    with pytest.raises(ConfigError, match="exactly one block"):
        session.decode(code)


def test_session_checks_codes_and_indices(digits):
    session = session_for("vsc", digits)
    with pytest.raises(DataError, match="3 elements"):
        session.decode(torch.zeros(5))
    with pytest.raises(DataError, match="finite"):
        session.decode(torch.tensor([0.0, float("nan"), 0.0]))
    with pytest.raises(DataError, match="does not exist"):
        session.test_image(len(digits.test_x))
    assert session.indices(3) == torch.nonzero(digits.test_y == 3).flatten().tolist()
    assert session.labels == list(range(10))


def test_usage_figure_is_a_png_of_the_whole_split(digits):
    session = session_for("vsc", digits)
    assert session.usage_png()[:8] == b"\x89PNG\r\n\x1a\n"
    assert session.usage_summary["dead_latents"] >= 0


# -- images in and out --------------------------------------------------------------------------------
def test_upload_is_converted_to_the_models_input():
    rgba = np.zeros((40, 30, 4), dtype=np.uint8)  # fully transparent: becomes white
    image = image_from_upload(png_bytes(rgba, "RGBA"), (1, 8, 8))
    assert image.shape == (1, 8, 8) and torch.allclose(image, torch.ones(1, 8, 8))
    assert torch.allclose(
        image_from_upload(png_bytes(rgba, "RGBA"), (1, 8, 8), invert=True), torch.zeros(1, 8, 8)
    )
    red = np.zeros((32, 32, 3), dtype=np.uint8)
    red[..., 0] = 255
    colour = image_from_upload(png_bytes(red), (3, 28, 28))
    assert colour.shape == (3, 28, 28)
    assert torch.allclose(colour[0], torch.ones(28, 28)) and float(colour[1:].max()) == 0


def test_upload_refuses_what_is_not_a_small_still_image():
    with pytest.raises(DataError, match="empty"):
        image_from_upload(b"", (1, 8, 8))
    with pytest.raises(DataError, match="not an image"):
        image_from_upload(b"config.json is not a picture", (1, 8, 8))
    buffer = io.BytesIO()
    Image.new("L", (5000, 5000)).save(buffer, format="PNG")  # small file, 25 million pixels
    with pytest.raises(DataError, match="limit"):
        image_from_upload(buffer.getvalue(), (1, 8, 8))
    buffer = io.BytesIO()
    Image.new("L", (8, 8)).save(buffer, format="TIFF")
    with pytest.raises(DataError, match="TIFF"):
        image_from_upload(buffer.getvalue(), (1, 8, 8))


def test_png_round_trip_of_grey_and_colour():
    grey = torch.rand(1, 5, 7)
    back = np.asarray(Image.open(io.BytesIO(to_png(grey))))
    assert back.shape == (5, 7)
    assert np.abs(back / 255 - grey[0].numpy()).max() <= 0.5 / 255 + 1e-6
    assert np.asarray(Image.open(io.BytesIO(to_png(torch.rand(3, 4, 4))))).shape == (4, 4, 3)


# -- the web API --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def vsc_session(digits):
    return session_for("vsc", digits)


@pytest.fixture
def client(vsc_session):
    return create_app(vsc_session).test_client()


def test_page_and_assets_are_served_from_the_package(client):
    page = client.get("/")
    assert page.status_code == 200 and b"/assets/explore.js" in page.data
    policy = page.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "script-src 'self'" in policy
    for name, kind in (("explore.js", "javascript"), ("explore.css", "css")):
        response = client.get(f"/assets/{name}")
        assert response.status_code == 200 and kind in response.content_type
    assert b"http" not in client.get("/assets/explore.css").data  # nothing fetched from outside


@pytest.mark.parametrize(
    "path",
    ["/../config.json", "/assets/../config.json", "/assets/..%2fconfig.json",
     "/assets/%2e%2e/%2e%2e/config.json", "/assets/model.safetensors", "/config.json",
     "/assets/explore.js%00", "/api/nothing"],
)  # fmt: skip
def test_no_path_reaches_the_file_system(client, path):
    response = client.get(path)
    assert response.status_code == 404
    assert set(response.get_json()) == {"error"}


def test_example_and_decode_match_the_model(client, vsc_session, digits):
    info = client.get("/api/info").get_json()
    assert info["kind"] == "vsc" and info["latent_dim"] == 3 and info["labels"] == list(range(10))
    example = client.get("/api/example/7").get_json()
    assert example["label"] == int(digits.test_y[7]) and len(example["gamma"]) == 3
    code = example["code"]
    code[int(np.argmax(np.abs(code)))] = 0.0
    decoded = client.post("/api/decode", json={"code": code}).get_json()
    expected = vsc_session.model.decode(torch.tensor([code]))[0]
    assert decoded["shape"] == [1, 8, 8]
    torch.testing.assert_close(torch.tensor(decoded["values"]).reshape(1, 8, 8), expected)
    assert decoded_array(decoded["image"]).shape == (8, 8)


def test_images_by_class_traversal_and_samples(client, digits):
    page = client.get("/api/images?label=4&offset=0&count=5").get_json()
    assert page["total"] == int((digits.test_y == 4).sum())
    assert [item["label"] for item in page["items"]] == [4] * 5
    body = {"code": [0.5, 0.0, -0.5], "dim": 1, "low": -2, "high": 2, "steps": 5}
    traversal = client.post("/api/traverse", json=body).get_json()
    assert traversal["values"] == [-2.0, -1.0, 0.0, 1.0, 2.0] and len(traversal["images"]) == 5
    assert len(client.get("/api/samples?n=6&seed=3").get_json()["images"]) == 6
    assert client.get("/api/usage.png").data[:4] == b"\x89PNG"


def test_upload_of_a_users_image(client):
    png = png_bytes(np.random.default_rng(0).integers(0, 256, (20, 20), dtype=np.uint8))
    response = client.post("/api/upload", data={"image": (io.BytesIO(png), "mine.png")})
    assert response.status_code == 200
    assert response.get_json()["index"] is None and len(response.get_json()["code"]) == 3


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status", "message"),
    [
        ("post", "/api/upload", {"data": {"image": (io.BytesIO(b"MZ\x90\x00"), "x.exe")}}, 400, "not an image"),
        ("post", "/api/upload", {"data": {}}, 400, "form field 'image'"),
        ("post", "/api/decode", {"data": "{not json", "content_type": "application/json"}, 400, "JSON object"),
        ("post", "/api/decode", {"json": {"code": [1, 2]}}, 400, "3 elements"),
        ("post", "/api/decode", {"json": {"code": ["a", 0, 0]}}, 400, "list of numbers"),
        ("post", "/api/decode", {"data": '{"code": [NaN, 0, 0]}', "content_type": "application/json"}, 400, "finite"),
        ("post", "/api/traverse", {"json": {"code": [0, 0, 0], "dim": 9, "low": 0, "high": 1, "steps": 3}}, 400, "does not exist"),
        ("post", "/api/traverse", {"json": {"code": [0, 0, 0], "dim": 0, "low": 0, "high": 1, "steps": 10**12}}, 400, "steps"),
        ("post", "/api/traverse", {"json": {"code": [0, 0, 0], "dim": 0, "low": 0, "high": 1e300, "steps": 3}}, 400, "ends"),
        ("post", "/api/decode", {"json": {"code": [0, 0, 0], "label": 1.5}}, 400, "class number"),
        ("get", "/api/samples?seed=99999999999999999999", {}, 400, "seed"),
        ("get", "/api/images?label=99999999999999999999", {}, 400, "label"),
        ("get", "/api/decode", {}, 405, "method"),
        ("get", "/api/example/-3", {}, 400, "does not exist"),
        ("get", "/api/images?count=100000", {}, 400, "count"),
        ("get", "/api/samples?n=ten", {}, 400, "whole number"),
    ],
)  # fmt: skip
def test_malformed_requests_get_one_line_errors(client, method, path, kwargs, status, message):
    response = getattr(client, method)(path, **kwargs)
    assert response.status_code == status
    error = response.get_json()["error"]
    assert message in error and "\n" not in error
    assert client.get("/api/info").status_code == 200  # and the server carries on


def test_a_bug_is_a_json_500_and_the_server_carries_on(vsc_session, monkeypatch):
    client = create_app(vsc_session).test_client()
    monkeypatch.setattr(vsc_session, "usage_png", lambda: 1 / 0)
    response = client.get("/api/usage.png")
    assert response.status_code == 500
    assert "internal error (ZeroDivisionError)" in response.get_json()["error"]
    assert client.get("/api/info").status_code == 200


def test_oversized_upload_is_refused(vsc_session):
    client = create_app(vsc_session, max_upload=1000).test_client()
    big = {"image": (io.BytesIO(png_bytes(np.zeros((8, 8), np.uint8)) + b"\0" * 5000), "big.png")}
    response = client.post("/api/upload", data=big)
    assert response.status_code == 413
    assert "too large" in response.get_json()["error"]


def test_requests_for_other_host_names_are_refused(vsc_session):
    client = create_app(vsc_session).test_client()
    assert client.get("/api/info", headers={"Host": "attacker.example:80"}).status_code == 400
    assert client.get("/api/info", headers={"Host": "localhost:5000"}).status_code == 200
    open_client = create_app(vsc_session, loopback_only=False).test_client()
    assert open_client.get("/api/info", headers={"Host": "myhost.lan"}).status_code == 200


# -- a real socket --------------------------------------------------------------------------------
@pytest.fixture
def live_server(vsc_session):
    server = make_explorer_server(create_app(vsc_session))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def raw_request(server, request: bytes) -> tuple[int, bytes]:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(request)
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    status = int(reply.split(b" ", 2)[1]) if reply.startswith(b"HTTP/") else 0
    return status, reply


def test_live_server_survives_traversal_and_garbage(live_server):
    assert url_of(live_server) == f"http://127.0.0.1:{live_server.port}/"
    for path in (b"/../config.json", b"/assets/../../config.json", b"/%2e%2e/model.safetensors"):
        status, reply = raw_request(
            live_server,
            b"GET " + path + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
        )
        assert status in (400, 404)
        assert b"weights_sha256" not in reply and b"format_version" not in reply
    raw_request(live_server, b"\x16\x03\x01 not http at all\r\n\r\n")
    raw_request(
        live_server,
        b"POST /api/upload HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 99999999\r\n\r\nshort",
    )
    connection = http.client.HTTPConnection("127.0.0.1", live_server.port, timeout=10)
    connection.request("GET", "/api/info")
    response = connection.getresponse()
    assert response.status == 200 and json.loads(response.read())["kind"] == "vsc"


def test_loopback_names():
    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5")


# -- the command line ---------------------------------------------------------------------------
def test_cli_serves_the_run_and_warns_for_other_hosts(monkeypatch, capsys):
    import sparsevae.explore.server as server_module

    served = []
    monkeypatch.setattr(server_module, "serve", served.append)
    run = str(FIXTURES / "vae")
    assert main(["--threads", "1", "explore", run]) == 0
    served[0].server_close()
    assert served[0].host == "127.0.0.1" and served[0].port > 0
    assert served[0].app.config["TRUSTED_HOSTS"] is not None
    assert "warning" not in capsys.readouterr().err

    def fake_server(app, host, port):  # nothing is bound to every address in a test
        return Namespace(app=app, host=host, port=port)

    monkeypatch.setattr(server_module, "make_explorer_server", fake_server)
    assert main(["--threads", "1", "explore", run, "--host", "0.0.0.0", "--port", "8123"]) == 0
    assert "warning: listening on 0.0.0.0" in capsys.readouterr().err
    assert (served[1].host, served[1].port) == ("0.0.0.0", 8123)
    assert served[1].app.config["TRUSTED_HOSTS"] is None


def test_cli_errors_are_one_line(capsys, tmp_path):
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        assert main(["--threads", "1", "explore", str(FIXTURES / "vae"), "--port", str(port)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"port {port}" in err
    assert main(["explore", str(tmp_path / "missing")]) == 2
    assert main(["explore", str(FIXTURES / "vae"), "--port", "70000"]) == 2
