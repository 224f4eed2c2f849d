"""Screenshots of the documentation site (the quickstart and one API page) in headless Chromium.

    .venv/bin/mkdocs build --strict --site-dir site && .venv/bin/python benchmarks/site_screenshots.py

The pages are served from ``site/`` on 127.0.0.1 (Material's pages load their assets by relative
URL, which a ``file://`` page also does, but search and fonts expect a server).
"""

from __future__ import annotations

import functools
import http.server
import threading
from pathlib import Path

from browser import screenshot

ROOT = Path(__file__).resolve().parents[1]
PAGES = {"quickstart/": "site-quickstart.png", "reference/api/": "site-api.png"}


def main() -> None:
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(ROOT / "site"))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        for page, png in PAGES.items():
            url = f"http://127.0.0.1:{server.server_port}/{page}"
            screenshot(url, ROOT / "docs" / png, size=(1280, 1600))
            print("wrote", ROOT / "docs" / png)
    finally:
        server.shutdown()


if __name__ == "__main__":
    main()
