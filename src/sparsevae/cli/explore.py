"""``sparsevae explore RUN_DIR``: a local web page to explore a trained model's codes.

    sparsevae explore runs/digits-vsc                 # http://127.0.0.1:<free port>/
    sparsevae explore runs/digits-vsc --port 8000 --open

Needs the ``explore`` extra (``pip install "sparsevae[explore]"``: Flask).
"""

from __future__ import annotations

import argparse
import sys
import webbrowser
from pathlib import Path

from ..errors import ConfigError
from ..explore import DEFAULT_HOST, ExploreSession
from .common import add_data_arguments, add_device_argument, load_run, run_dataset


def add_parser(verbs: argparse._SubParsersAction) -> None:
    p = verbs.add_parser(
        "explore",
        help="a local web page: codes of test images or uploads, switches and sliders per "
        "element, traversals, prior samples, code usage",
        description="Serve a web page on this machine for exploring a trained model: browse test "
        "images or upload one, see its code and reconstruction, switch code elements off and on "
        "or move them, traverse an element, draw prior samples, see the code usage of the test "
        "split.  Every file the page needs is served by sparsevae; nothing is loaded from the "
        "internet.",
    )
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument(
        "--host",
        default=DEFAULT_HOST,
        help=f"address to listen on (default {DEFAULT_HOST}, this machine only); another "
        "address lets other machines use the page",
    )
    p.add_argument(
        "--port", type=int, default=0, help="port to listen on (default: a free port, printed)"
    )
    p.add_argument("--open", action="store_true", help="open the page in a web browser")
    add_data_arguments(p)  # default: the run's own data set
    add_device_argument(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if not 0 <= args.port <= 65535:
        raise ConfigError(f"--port must be in [0, 65535], got {args.port}")
    try:
        from ..explore.app import create_app
        from ..explore.server import is_loopback, make_explorer_server, serve, url_of
    except ImportError as exc:
        raise ConfigError(
            f"sparsevae explore needs Flask ({exc.name} is missing): "
            'pip install "sparsevae[explore]"'
        ) from None

    model, config = load_run(args.run_dir, args.device)
    data = run_dataset(config, args.dataset, args.data_dir, args=args)
    title = f"{Path(args.run_dir).resolve().name}: {model.kind} on {data.name}"
    session = ExploreSession(model, data.test_x, data.test_y, title=title)
    local = is_loopback(args.host)
    if not local:
        print(
            f"sparsevae explore: warning: listening on {args.host}, so other machines that can "
            "reach it can use the page (it shows this run and its test images)",
            file=sys.stderr,
        )
    server = make_explorer_server(create_app(session, loopback_only=local), args.host, args.port)
    if args.open:
        webbrowser.open(url_of(server))
    serve(server)
    return 0
