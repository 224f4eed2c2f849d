"""Where the API key goes: to the host it was given for, from the variable named, and nowhere else;
and every request to a served model ends (deadline, size cap)."""

from __future__ import annotations

import contextlib
import logging
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.fake_openai import FakeOpenAIServer
from tests.subprocess_env import child_env
from whyllm.errors import ModelError
from whyllm.models.openai import OpenAIModel

ROOT = Path(__file__).resolve().parents[2]
SECRET = "sk-test-0123456789"


class Recorder:
    """A local HTTP server that records every request's headers and answers as ``answer`` says."""

    def __init__(self, answer) -> None:
        self.seen: list[dict] = []
        rec = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def handle_any(self) -> None:
                if self.headers.get("Content-Length"):
                    self.rfile.read(int(self.headers["Content-Length"]))
                rec.seen.append({"path": self.path, **{k.lower(): v for k, v in self.headers.items()}})
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    answer(self)

            do_GET = do_POST = handle_any

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def tokenizer():
    from tests.tiny_models import word_tokenizer

    return word_tokenizer(["The", "capital", "of", "France", "is", "Paris."])


def test_a_redirect_never_carries_the_key_to_another_host(tokenizer):
    second = Recorder(lambda h: (h.send_response(200), h.end_headers(), h.wfile.write(b"{}")))

    def redirect(h) -> None:
        h.send_response(302)
        h.send_header("Location", second.url + h.path)
        h.send_header("Content-Length", "0")
        h.end_headers()

    first = Recorder(redirect)
    try:
        with pytest.raises(ModelError, match="redirect"):
            OpenAIModel(first.url, "m", tokenizer, api_key=SECRET, retries=0).revision  # noqa: B018
        assert first.seen and all(s["authorization"] == f"Bearer {SECRET}" for s in first.seen)
        assert not any("authorization" in s for s in second.seen)
        assert second.seen == []  # no redirect is followed at all
    finally:
        first.close()
        second.close()


def test_a_named_key_variable_that_is_unset_is_an_error_not_another_key(tokenizer, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    monkeypatch.delenv("MY_KEY", raising=False)
    with pytest.raises(ModelError, match="MY_KEY is not set"):
        OpenAIModel("http://127.0.0.1:9", "m", tokenizer, api_key_env="MY_KEY")


def test_the_cli_refuses_an_unset_key_variable_before_any_request():
    with FakeOpenAIServer() as server:
        env = child_env(OPENAI_API_KEY=SECRET)
        env.pop("MY_KEY", None)
        out = subprocess.run([sys.executable, "-m", "whyllm", "explain", "Paris is in", "--target", " France",
                              "--model", "openai:" + server.url, "--api-key-env", "MY_KEY", "--quiet"],
                             capture_output=True, text=True, env=env, timeout=120)
        assert out.returncode == 2, out.stderr
        assert out.stderr.strip().count("\n") == 0 and "MY_KEY is not set" in out.stderr
        assert server.headers == [] and SECRET not in out.stderr + out.stdout


def test_credentials_in_the_address_are_refused(tokenizer):
    with pytest.raises(ModelError, match="credentials") as info:
        OpenAIModel("http://user:hunter2@127.0.0.1:9/v1", "m", tokenizer)
    assert "hunter2" not in str(info.value)


def test_a_key_over_plain_http_to_another_host_is_warned_about(caplog):
    from whyllm.models.http import JSONClient

    with caplog.at_level(logging.WARNING, logger="whyllm"):
        JSONClient("http://models.example.com/v1", SECRET).close()
        JSONClient("http://127.0.0.1:8000/v1", SECRET).close()
        JSONClient("https://models.example.com/v1", SECRET).close()
    warned = [r.getMessage() for r in caplog.records]
    assert len(warned) == 1 and "models.example.com" in warned[0] and SECRET not in warned[0]


def test_a_trickling_answer_is_cut_at_the_deadline():
    from whyllm.models.http import JSONClient, Retryable

    def trickle(h) -> None:
        h.send_response(200)
        h.send_header("Content-Length", "1000")
        h.end_headers()
        for _ in range(1000):
            h.wfile.write(b" ")
            h.wfile.flush()
            time.sleep(0.05)

    server = Recorder(trickle)
    try:
        client = JSONClient(server.url, timeout=1.0, deadline=1.5)
        t = time.monotonic()
        with pytest.raises(Retryable, match="deadline"):
            client.request("GET", server.url + "/v1/models")
        assert time.monotonic() - t < 3.0  # the socket timeout alone would wait 50 s
    finally:
        server.close()


def test_an_oversized_answer_is_refused():
    from whyllm.models.http import JSONClient

    def huge(h) -> None:
        h.send_response(200)
        h.end_headers()  # no Content-Length: the cap is found while reading
        h.wfile.write(b"[" + b"0," * 200_000 + b"0]")

    server = Recorder(huge)
    try:
        with pytest.raises(ModelError, match="cap"):
            JSONClient(server.url, max_bytes=100_000).request("GET", server.url + "/x")
    finally:
        server.close()
