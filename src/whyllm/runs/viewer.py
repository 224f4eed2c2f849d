"""``whyllm serve store.db``: a local, read-only viewer of a dataset run.

Pages: the list of examples (search in the text, filters by label, method, AOPC range and status),
one example with every method run on it side by side (each rendered by the same template as
``Explanation.to_html``, autoescaped), and the global summary. The server binds 127.0.0.1 unless told
otherwise, answers only requests whose ``Host`` header names a loopback address or the address it
binds (so a web page elsewhere cannot reach it through DNS rebinding: 403), opens the store
read-only, and serves these routes only: nothing maps a URL to a file, so ``/../`` paths and
anything else are 404; a malformed query is 400, and a row it cannot show a 500 page. Rows are read
per request (SQL ``LIMIT``), so a store of 10,000 explanations opens at once; the summary is computed
once, in the background, from the start.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, quote, unquote, urlsplit

from whyllm.errors import InputError
from whyllm.explanation import Explanation
from whyllm.report.html import render_fragment, render_template
from whyllm.runs.store import Store
from whyllm.runs.summary import summarize_store, summary_html

PAGE = 200
# json_valid first: a store written before NaN became null holds faithfulness that json_extract rejects
#: the certain top-k of an explanation (schema 3; null before, or for a rule)
CERTAIN = ("CASE WHEN json_valid(explanation) THEN json_extract(explanation, '$.certain_top') END")
AOPC = ("CASE WHEN json_valid(faithfulness) THEN json_extract(faithfulness, '$.aopc_comprehensiveness') "
        "END")
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "[::1]", "::1"})


class BadQuery(ValueError):
    pass


class Viewer:
    """The pages, from a store opened read-only."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.store = Store.open_readonly(path)
        self.lock, self.summary_lock = threading.Lock(), threading.Lock()
        self._summary: str | None = None

    def query(self, sql: str, params: tuple = ()) -> list[tuple]:
        with self.lock:
            return self.store.query(sql, params)

    def list_page(self, qs: dict[str, list[str]]) -> str:
        get = {k: v[-1] for k, v in qs.items()}
        unknown = set(get) - {"q", "label", "method", "aopc_min", "aopc_max", "status"}
        if unknown:
            raise BadQuery(f"unknown filters: {', '.join(sorted(unknown))}")
        where, params = [], []
        if get.get("q"):
            where.append("text LIKE ?")
            params.append(f"%{get['q']}%")
        for key in ("label", "method", "status"):
            if get.get(key):
                where.append(f"{key} = ?")
                params.append(get[key])
        for key, op in (("aopc_min", ">="), ("aopc_max", "<=")):
            if get.get(key):
                try:
                    params.append(float(get[key]))
                except ValueError as exc:
                    raise BadQuery(f"{key} is not a number") from exc
                where.append(f"{AOPC} {op} ?")
        clause = ("WHERE " + " AND ".join(where)) if where else ""
        (total,) = self.query(f"SELECT COUNT(*) FROM results {clause}", tuple(params))[0]
        rows = [dict(zip(("example", "method", "label", "status", "error", "text", "aopc", "certain"), r))
                for r in self.query(f"SELECT example, method, label, status, error, text, {AOPC}, {CERTAIN} "
                                    "FROM results "
                           f"{clause} ORDER BY position, example, method LIMIT {PAGE}", tuple(params))]
        for r in rows:  # every character quoted, "/" included, so that any id opens its own page
            r["href"] = "/example/" + quote(str(r["example"]), safe="")
        return render_template(
            "viewer.html.j2", view="list", title="examples", store=self.path.name, rows=rows, total=total,
            labels=[r[0] for r in self.query("SELECT DISTINCT label FROM results WHERE label IS NOT NULL "
                                             "ORDER BY label")],
            methods=[r[0] for r in self.query("SELECT DISTINCT method FROM results ORDER BY method")],
            q=get.get("q", ""), label=get.get("label", ""), method=get.get("method", ""),
            status=get.get("status", ""), aopc_min=get.get("aopc_min", ""), aopc_max=get.get("aopc_max", ""))

    def example_page(self, example: str) -> str | None:
        rows = self.query("SELECT method, status, explanation, error, text FROM results WHERE example = ? "
                          "ORDER BY method", (example,))
        if not rows:
            return None
        panels = []
        for method, status, explanation, error, _ in rows:
            fragment = None
            if status == "ok" and explanation:
                fragment = render_fragment(Explanation.from_dict(json.loads(explanation)))
            panels.append({"method": method, "fragment": fragment, "error": error})
        return render_template("viewer.html.j2", view="example", title=f"example {example}",
                               store=self.path.name, example=example, text=rows[0][4] or "", panels=panels)

    def summary_page(self) -> str:
        with self.summary_lock:  # computed once, on its own connection: the list pages never wait for it
            if self._summary is None:
                own = Store.open_readonly(self.path)
                try:
                    self._summary = summary_html(summarize_store(own), f"whyllm summary · {self.path.name}")
                finally:
                    own.close()
        return self._summary


def handler_for(viewer: Viewer, allowed: frozenset[str] = LOOPBACK_HOSTS) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "whyllm-viewer"

        def log_message(self, format: str, *args) -> None:  # quiet: no access log on stderr
            pass

        def send(self, code: int, body: str, kind: str = "text/html; charset=utf-8") -> None:
            data = body.encode("utf-8")
            self.send_response(code)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; "
                             "script-src 'unsafe-inline'; img-src data:")
            self.send_header("X-Content-Type-Options", "nosniff")
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if not host_allowed(self.headers.get("Host"), allowed):  # DNS rebinding: a page elsewhere
                return self.send(403, "forbidden: unknown Host header", "text/plain; charset=utf-8")
            try:
                url = urlsplit(self.path)
                try:
                    qs = parse_qs(url.query, keep_blank_values=True, strict_parsing=False, max_num_fields=20)
                except ValueError as exc:
                    raise BadQuery(str(exc)) from exc
                path = url.path
                if path == "/":
                    return self.send(200, viewer.list_page(qs))
                if path == "/summary":
                    return self.send(200, viewer.summary_page())
                if path.startswith("/example/") and path.count("/") == 2:
                    page = viewer.example_page(unquote(path[len("/example/"):]))
                    if page is not None:
                        return self.send(200, page)
                return self.send(404, "not found", "text/plain; charset=utf-8")
            except BadQuery as exc:
                return self.send(400, f"bad request: {exc}", "text/plain; charset=utf-8")
            except Exception as exc:  # a data fault in the store: a page that says so, not a dropped line
                return self.send(500, f"the store holds data this viewer cannot show: {type(exc).__name__}: "
                                 f"{exc}", "text/plain; charset=utf-8")

    return Handler


def host_allowed(header: str | None, allowed: frozenset[str]) -> bool:
    """Whether a request's ``Host`` (port aside) names this server: loopback names, or the address
    it was told to bind."""
    if not header:
        return False
    host = header.strip().lower()
    if host.startswith("["):
        host = host[: host.find("]") + 1]
    elif host.count(":") == 1:
        host = host.split(":")[0]
    return host in allowed


def make_server(store: str | Path, host: str = "127.0.0.1", port: int = 8765) -> ThreadingHTTPServer:
    """The viewer's server (not yet serving); the summary page is computed in the background from
    the start (about a second on 10,000 rows), so the first pages need not wait for it."""
    viewer = Viewer(store)
    allowed = LOOPBACK_HOSTS | {host.lower(), f"[{host.lower()}]"}
    try:
        server = ThreadingHTTPServer((host, port), handler_for(viewer, frozenset(allowed)))
    except OSError as exc:  # a port in use, an address not of this machine, a name that does not resolve
        viewer.store.close()
        raise InputError(f"cannot serve on {host}:{port}: {exc.strerror or exc}") from exc
    threading.Thread(target=viewer.summary_page, daemon=True).start()
    return server
