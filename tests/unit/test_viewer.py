"""The run viewer: pages, filters, hostile text shown as text, nothing but its routes served."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request

import pytest

from tests.run_models import additive
from whyllm.runs import Store, build_config, read_dataset, run_dataset
from whyllm.runs.viewer import make_server

HOSTILE = '<img src=x onerror="alert(1)"> good <script>alert(2)</script> movie'


@pytest.fixture(scope="module")
def viewer(tmp_path_factory):
    folder = tmp_path_factory.mktemp("viewer")
    data = folder / "d.jsonl"
    rows = [{"id": "evil", "text": HOSTILE, "label": "pos"},
            {"id": "plain", "text": "bad dull plot", "label": "neg"},
            {"id": "a/b", "text": "great fine movie", "label": "pos"}]
    data.write_text("\n".join(json.dumps(r) for r in rows) + "\n{broken\n", encoding="utf-8")
    config = build_config({"methods": [{"method": "kernelshap", "budget": 16}, {"method": "occlusion"}]},
                          target="yes", id_column="id", label_column="label", evaluate=True)
    store = Store(folder / "s.db")
    run_dataset(read_dataset(data, config.columns), config, store, progress=False, model=additive())
    store.close()
    server = make_server(folder / "s.db", port=0)  # the default host
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    host, port = server.server_address[:2]
    yield f"http://{host}:{port}", folder
    server.shutdown()
    server.server_close()


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_binds_localhost_by_default(viewer):
    """The address the server really bound (the fixture takes it from the socket), not one the test
    wrote itself."""
    import socket

    base, folder = viewer
    assert base.startswith("http://127.0.0.1:")
    server = make_server(folder / "s.db", port=0)
    try:
        assert server.socket.getsockname()[0] == "127.0.0.1"
        assert server.socket.family == socket.AF_INET
    finally:
        server.server_close()


def test_list_filters_and_search(viewer):
    base, _ = viewer
    code, page = get(base + "/")
    assert code == 200 and "8 rows" in page  # 4 examples (one broken) x 2 methods
    assert get(base + "/?label=neg")[1].count('class="row"') == 2
    assert get(base + "/?status=error")[1].count('class="row"') == 2
    assert get(base + "/?q=dull&method=occlusion")[1].count('class="row"') == 1
    code, page = get(base + "/?aopc_min=-100&aopc_max=100")
    assert code == 200 and page.count('class="row"') == 6  # the errors have no AOPC
    assert get(base + "/?aopc_min=abc")[0] == 400
    assert get(base + "/?nosuch=1")[0] == 400
    assert get(base + "/?q=%ff%fe%00'%22--")[0] == 200  # odd bytes are just a search


def test_example_page_shows_every_method_and_hostile_text_as_text(viewer):
    base, _ = viewer
    code, page = get(base + "/example/evil")
    assert code == 200
    assert page.count('class="method"') == 2  # kernelshap and occlusion side by side
    assert "<script>alert(2)" not in page and '<img src=x' not in page
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in page
    assert get(base + "/example/a%2Fb")[0] == 200  # an id with a slash, quoted
    assert get(base + "/example/nobody")[0] == 404


def test_nothing_but_its_routes(viewer):
    base, _ = viewer
    for path in ("/../s.db", "/%2e%2e/s.db", "/static/../../etc/passwd", "/s.db", "/example/evil/../../s.db",
                 "//etc/passwd"):
        assert get(base + path)[0] == 404, path
    code, page = get(base + "/summary")
    assert code == 200 and "<svg" in page and "<script>" not in page
