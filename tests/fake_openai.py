"""A real HTTP server on 127.0.0.1 that speaks the OpenAI ``/v1/completions`` protocol, for tests.

Log-probs come from ``logprob_fn(ids) -> list of per-token log-probs`` (position 0 gets None, as
servers do); a queue of scripted faults (``"500"``, ``"sleep"``, ``"malformed"``, ``"nologprobs"``,
``"short"``, or any HTTP status such as ``"400"``) is consumed one per request before normal answers resume.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections import deque
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def hashed_logprobs(ids: list[int]) -> list[float]:
    """A deterministic stand-in model: log p(token i) = -(0.1 + (ids[i] % 10) / 10)."""
    return [-(0.1 + (t % 10) / 10) for t in ids]


# what llama_cpp.server 0.3.36 answers to a token-id prompt
# (seen in tests/integration/test_llamacpp_server.py)
LLAMA_CPP_REFUSAL = (b'{"error":{"message":"12 validation errors:\\n  {\'type\': \'string_type\', \'loc\': '
                     b'(\'body\', \'prompt\', \'str\'), \'msg\': \'Input should be a valid string\'"}}')


class FakeOpenAIServer:
    def __init__(self, logprob_fn: Callable[[list[int]], list[float]] = hashed_logprobs,
                 generate_text: str = " Paris\nThe", sleep: float = 2.0, text_only_tokenizer=None) -> None:
        """``text_only_tokenizer``: behave like llama_cpp.server 0.3: refuse token-id prompts with
        HTTP 500 and its pydantic validation message, tokenize text prompts with this tokenizer,
        echo without the BOS."""
        self.logprob_fn, self.generate_text, self.sleep = logprob_fn, generate_text, sleep
        self.text_tok = text_only_tokenizer
        self.faults: deque[str] = deque()
        self.served_models = ["gemma"]  # what GET /v1/models lists
        self.requests: list[dict] = []
        self.headers: list[dict] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                if self.path.rstrip("/").endswith("/models"):
                    data = [{"id": m, "object": "model"} for m in server.served_models]
                    self._send(200, json.dumps({"object": "list", "data": data}).encode())
                else:
                    self._send(404, b'{"error": "not found"}')

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.requests.append(body)
                server.headers.append(dict(self.headers))
                fault = server.faults.popleft() if server.faults else None
                if server.text_tok is not None and not isinstance(body["prompt"], str):
                    self._send(500, LLAMA_CPP_REFUSAL)
                    return
                if fault == "sleep":
                    time.sleep(server.sleep)
                if fault is not None and fault.isdigit():  # any HTTP status, e.g. "500", "429", "404"
                    self._send(int(fault), b'{"error": "scripted"}')
                elif fault == "malformed":
                    self._send(200, b'{"choices": [{"logprobs": ')
                else:
                    self._send(200, json.dumps(server.answer(body, fault)).encode())

            def _send(self, code: int, payload: bytes) -> None:
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(payload)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def answer(self, body: dict, fault: str | None) -> dict:
        if self.text_tok is not None:
            return self.answer_text(body)
        ids = list(body["prompt"])
        if not body.get("echo"):
            return {"choices": [{"text": self.generate_text, "index": 0}]}
        if fault == "nologprobs":
            return {"choices": [{"text": "x", "index": 0, "logprobs": None}]}
        lps = self.logprob_fn([*ids, 7])
        token_lps: list = [None, *lps[1:]]
        if fault == "short":
            token_lps = token_lps[: len(ids) // 2]
        tops = [None] + [{"a": lp, "b": lp - 1.0} for lp in lps[1:]]
        return {"choices": [{"text": "x", "index": 0,
                             "logprobs": {"tokens": [str(t) for t in [*ids, 7]],
                                          "token_logprobs": token_lps, "top_logprobs": tops}}]}

    def answer_text(self, body: dict) -> dict:
        """llama_cpp.server's echo: the BOS is dropped and the first remaining entry is None."""
        ids = self.text_tok(body["prompt"])["input_ids"]
        if not body.get("echo"):
            return {"choices": [{"text": self.generate_text, "index": 0}]}
        lps = self.logprob_fn([*ids, 7])
        rest = [*ids[1:], 7]
        return {"choices": [{"text": "x", "index": 0, "logprobs": {
            "tokens": [self.text_tok.decode([t]) for t in rest],
            "token_logprobs": [None, *lps[2:]],
            "top_logprobs": [None] + [{"a": lp} for lp in lps[2:]]}}]}

    def __enter__(self) -> FakeOpenAIServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
