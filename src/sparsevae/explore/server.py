"""Serving the explorer: a socket on a loopback address and a free port, the URL printed, and a
clean stop on Ctrl-C.  The WSGI server is Werkzeug's, the one Flask ships."""

from __future__ import annotations

import ipaddress
import socket
import sys
from collections.abc import Callable

from flask import Flask
from werkzeug.serving import BaseWSGIServer, make_server

from ..errors import ConfigError
from . import DEFAULT_HOST


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and the loopback addresses (127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def listen(host: str, port: int) -> socket.socket:
    """A listening socket on ``host``:``port`` (0 for a free port), or a one-line error."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET  # as Werkzeug will take it
    try:
        address = socket.getaddrinfo(host, port, family, socket.SOCK_STREAM)[0][4]
        return socket.create_server(address, family=family)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise ConfigError(
            f"cannot serve on {host} port {port}: {reason}; choose another --port (or none: a "
            "free one is picked)"
        ) from None


def make_explorer_server(app: Flask, host: str = DEFAULT_HOST, port: int = 0) -> BaseWSGIServer:
    """A threaded server for ``app`` on a socket bound now (``server.port`` is the real port)."""
    sock = listen(host, port)
    try:  # Werkzeug serves on a duplicate of the socket; this one is closed
        return make_server(host, sock.getsockname()[1], app, threaded=True, fd=sock.fileno())
    finally:
        sock.close()


def url_of(server: BaseWSGIServer) -> str:
    host = server.host
    if not is_loopback(host) and host in ("0.0.0.0", "::"):
        host = "127.0.0.1"  # every address: the local one is the one to open here
    return f"http://{f'[{host}]' if ':' in host else host}:{server.port}/"


def serve(server: BaseWSGIServer, announce: Callable[[str], None] = print) -> None:
    """Serve until Ctrl-C, then close the socket."""
    announce(f"sparsevae explore: serving on {url_of(server)} (Ctrl-C to stop)")
    sys.stdout.flush()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    announce("sparsevae explore: stopped")
