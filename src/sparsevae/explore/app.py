"""The explorer's web application (Flask): the page, its assets and a small JSON API.

Safe as a local server: the page and its scripts are read from the package once, at start, and
served from memory by name, so no part of a request's path reaches the file system; the run's
data are in the :class:`ExploreSession`; uploads are decoded in memory under a size limit; every
error is answered as ``{"error": "one line"}`` with a 4xx status, and the server keeps running.
"""

from __future__ import annotations

import math
from importlib import resources
from typing import Any

import torch
from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import BadRequest, HTTPException, RequestEntityTooLarge

from ..errors import SparseVAEError
from .images import image_from_upload, png_data_url
from .session import Analysis, ExploreSession

MAX_UPLOAD_BYTES = 5 * 1024 * 1024
PAGE_SIZE_LIMIT = 200
MAX_INT = 2**31 - 1  # bound of every whole number a request may carry
ASSET_TYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css"}
# Nothing but the page's own origin: no script, style or font from the internet.
CONTENT_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
LOOPBACK_NAMES = ["127.0.0.1", "localhost", "::1"]


def load_assets() -> dict[str, tuple[bytes, str]]:
    """The page's files (``assets/`` in the package), by name, with their media types."""
    folder = resources.files(__package__) / "assets"
    assets = {}
    for entry in folder.iterdir():
        suffix = "." + entry.name.rsplit(".", 1)[-1]
        if suffix in ASSET_TYPES:
            assets[entry.name] = (entry.read_bytes(), ASSET_TYPES[suffix])
    return assets


def create_app(
    session: ExploreSession, *, loopback_only: bool = True, max_upload: int = MAX_UPLOAD_BYTES
) -> Flask:
    """The explorer for ``session``.  ``loopback_only`` refuses requests whose Host header is not
    a loopback name (so a web page elsewhere cannot reach the server by DNS rebinding)."""
    app = Flask(__name__, static_folder=None)
    app.config.update(
        MAX_CONTENT_LENGTH=max_upload,
        TRUSTED_HOSTS=LOOPBACK_NAMES if loopback_only else None,
    )
    assets = load_assets()

    @app.get("/")
    def index() -> Response:
        return asset("index.html")

    @app.get("/assets/<name>")
    def asset(name: str) -> Response:
        if name not in assets:
            return error(404, f"no asset named {name!r}")
        body, mimetype = assets[name]
        return Response(body, mimetype=mimetype)

    _add_api(app, session)
    _add_error_handlers(app, max_upload)

    @app.after_request
    def secure(response: Response) -> Response:
        response.headers["Content-Security-Policy"] = CONTENT_POLICY
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["Cache-Control"] = "no-store"
        return response

    return app


def _add_api(app: Flask, session: ExploreSession) -> None:
    @app.get("/api/info")
    def info() -> Response:
        return jsonify(session_info(session))

    @app.get("/api/images")
    def images() -> Response:
        label = int_arg("label", None, low=0, high=MAX_INT)
        offset = int_arg("offset", 0, low=0, high=MAX_INT)
        count = int_arg("count", 60, low=1, high=PAGE_SIZE_LIMIT)
        chosen = session.indices(label)
        items = [thumbnail(session, i) for i in chosen[offset : offset + count]]
        return jsonify({"total": len(chosen), "offset": offset, "items": items})

    @app.get("/api/example/<int(signed=True):index>")
    def example(index: int) -> Response:
        image, label = session.test_image(index)
        return jsonify({"index": index, **analysis_json(session.analyse(image, label))})

    @app.post("/api/upload")
    def upload() -> Response:
        file = request.files.get("image")
        if file is None:
            raise BadRequest("send the image as the form field 'image'")
        invert = request.form.get("invert", "false") == "true"
        image = image_from_upload(file.read(), tuple(session.model.input_shape), invert=invert)
        label = int_arg("label", None, low=0, high=MAX_INT, source=request.form)
        return jsonify({"index": None, **analysis_json(session.analyse(image, label))})

    @app.post("/api/decode")
    def decode() -> Response:
        body = json_body()
        image = session.decode(code_arg(body), label_arg(body))
        return jsonify({"image": png_data_url(image), "shape": list(image.shape),
                        "values": image.flatten().tolist()})  # fmt: skip

    @app.post("/api/traverse")
    def traverse() -> Response:
        body = json_body()
        low, high, steps = (number(body, key) for key in ("low", "high", "steps"))
        values = session.traversal_values(low, high, int(steps))
        dim = int(number(body, "dim"))
        images = session.traverse(code_arg(body), dim, values, label_arg(body))
        return jsonify({"values": values.tolist(), "images": [png_data_url(i) for i in images]})

    @app.get("/api/samples")
    def samples() -> Response:
        n, seed = int_arg("n", 16), int_arg("seed", 0, low=0, high=MAX_INT)
        images = session.samples(n, seed, int_arg("component", None, low=0, high=MAX_INT))
        return jsonify({"images": [png_data_url(i) for i in images]})

    @app.get("/api/usage.png")
    def usage() -> Response:
        return Response(session.usage_png(), mimetype="image/png")


def _add_error_handlers(app: Flask, max_upload: int) -> None:
    @app.errorhandler(SparseVAEError)
    def user_error(exc: SparseVAEError) -> Response:
        return error(400, str(exc))

    @app.errorhandler(RequestEntityTooLarge)
    def too_large(exc: RequestEntityTooLarge) -> Response:
        return error(413, f"the upload is too large: the limit is {max_upload / 2**20:g} MB")

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        if exc.code == 404:
            return error(404, f"no such page: {request.path}")
        return error(exc.code or 400, exc.description or exc.name)

    @app.errorhandler(Exception)
    def bug(exc: Exception) -> Response:  # a bug in sparsevae: keep its traceback in the log
        app.logger.exception("sparsevae explore: %s %s failed", request.method, request.path)
        return error(500, f"internal error ({type(exc).__name__}); the server keeps running")


def error(status: int, message: str) -> Response:
    response = jsonify({"error": message})
    response.status_code = status
    return response


# -- parsing requests ----------------------------------------------------------------------------
def int_arg(
    name: str, default: int | None, *, low: int | None = None, high: int | None = None, source=None
) -> int | None:
    """An integer from the query string (or ``source``), with a one-line error when it is not."""
    text = (request.args if source is None else source).get(name, "")
    if text in ("", "all", "null"):
        return default
    try:
        value = int(text)
    except ValueError:
        raise BadRequest(f"{name} must be a whole number, got {text[:40]!r}") from None
    if (low is not None and value < low) or (high is not None and value > high):
        raise BadRequest(f"{name} must be in [{low}, {high}], got {value}")
    return value


def json_body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise BadRequest("send a JSON object")
    return body


def number(body: dict[str, Any], key: str) -> float:
    value = body.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise BadRequest(f"{key} must be a finite number")
    return float(value)


def code_arg(body: dict[str, Any]) -> torch.Tensor:
    code = body.get("code")
    if not isinstance(code, list) or not all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in code
    ):
        raise BadRequest("code must be a list of numbers")
    return torch.tensor(code, dtype=torch.float32)


def label_arg(body: dict[str, Any]) -> int | None:
    if body.get("label") is None:
        return None
    label = number(body, "label")
    if label != int(label) or not 0 <= label <= MAX_INT:
        raise BadRequest(f"label must be a class number, got {label:g}")
    return int(label)


# -- answers -------------------------------------------------------------------------------------
def session_info(session: ExploreSession) -> dict[str, Any]:
    model = session.model
    return {
        "title": session.title,
        "kind": model.kind,
        "input_shape": list(model.input_shape),
        "latent_dim": model.latent_dim,
        "test_images": len(session.test_x),
        "labels": session.labels,
        "conditional": bool(model.num_classes),
        "has_prior": model.is_variational,
        "prior_components": session.prior_components,
        "code_low": session.code_low,
        "code_high": session.code_high,
        "usage": session.usage_summary,
    }


def thumbnail(session: ExploreSession, index: int) -> dict[str, Any]:
    image, label = session.test_image(index)
    return {"index": index, "label": label, "image": png_data_url(image)}


def analysis_json(result: Analysis) -> dict[str, Any]:
    return {
        "label": result.label,
        "image": png_data_url(result.image),
        "reconstruction": png_data_url(result.reconstruction),
        "code": result.code.tolist(),
        "gamma": None if result.gamma is None else result.gamma.tolist(),
    }
