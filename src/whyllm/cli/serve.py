"""``whyllm serve``: a local, read-only viewer of a run's store."""

from __future__ import annotations

import argparse
import sys

from whyllm.errors import InputError


def add_parser(sub) -> None:
    p = sub.add_parser("serve", help="browse a run's store in a local, read-only viewer")
    p.add_argument("store", help="the SQLite store of whyllm run")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: this machine only)")
    p.add_argument("--port", type=int, default=8765)
    p.add_argument("--quiet", action="store_true")


def run(args: argparse.Namespace) -> int:
    from whyllm.runs.viewer import LOOPBACK_HOSTS, make_server

    if not 0 <= args.port <= 65535:
        raise InputError(f"--port is 0 to 65535, got {args.port}")
    server = make_server(args.store, args.host, args.port)
    if args.host.lower() not in LOOPBACK_HOSTS:
        print(f"whyllm: warning: serving on {args.host}, reachable from other machines; the viewer has no "
              "login, so anyone who can reach it can read the store", file=sys.stderr)
    host, port = server.server_address[:2]
    print(f"whyllm viewer on http://{host}:{port}/ (Ctrl-C stops it)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0
