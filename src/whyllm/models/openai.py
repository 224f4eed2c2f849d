"""The ``openai`` backend: a model served behind an OpenAI-compatible ``/v1/completions`` endpoint
that returns prompt log-probabilities (llama.cpp's ``llama_cpp.server``, vLLM).

Scoring sends prompt + continuation as token ids (vLLM) or, for servers that take text only
(llama_cpp.server, detected by its refusal of a token-id prompt: HTTP 422, or 500 with a validation
message about ``prompt``; not retried), as text whose re-tokenization is checked token by
token; with ``echo=true``, ``logprobs=1`` and ``max_tokens=1`` it reads the continuation's entries
of ``logprobs.token_logprobs`` (aligned whether or not the server drops the BOS; the one generated
token is ignored); ``temperature`` is 0 and ``repeat_penalty`` 1.0, so servers that apply
a repetition penalty to the echoed prompt do not distort it. Token ids come from a local copy of
the served model's tokenizer, so features keep exact token boundaries.

Failures are explicit. Connection errors, timeouts, HTTP 408, 409, 425, 429, 500, 502, 503 and
504, and answers that are not a JSON object (a truncated body) are retried with exponential
backoff, then raise :class:`~whyllm.errors.ModelError`. Any other 4xx or 5xx, and a well-formed
answer without the needed log-probs, raise at once. Only complete, finite answers reach the score
cache. The API key is sent in a header and never logged or shown in ``repr``.

The model's revision (part of every cache key) is the id the server reports plus the server's
answer to a fixed probe prompt, asked for when the model is loaded (see
:mod:`whyllm.models.fingerprint`): a different model behind the same URL never reads old scores.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from whyllm.cost import CostMeter
from whyllm.errors import ModelError
from whyllm.models.base import LanguageModel, ScoreRequest
from whyllm.models.cache import ScoreCache
from whyllm.models.http import HTTPFailure, JSONClient, Retryable, check_base_url
from whyllm.models.tokenizer import TokenizedByHF

log = logging.getLogger(__name__)
RETRY_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})


class _PromptTypeRefused(Exception):
    """The server wants another prompt type (llama_cpp.server: text only)."""


def _refuses_prompt_type(code: int, detail: str) -> bool:
    """A 422, or a 400/500 whose validation message is about the ``prompt`` field (llama_cpp.server
    0.3 answers a token-id prompt with HTTP 500 and pydantic's "Input should be a valid string")."""
    low = detail.lower()
    return code == 422 or (code in (400, 500) and "prompt" in low and "valid" in low)


def resolve_api_key(api_key: str | None, api_key_env: str | None) -> str | None:
    """The key given, else the variable named (which must be set: no fall-back to another one),
    else ``OPENAI_API_KEY`` if set, else none (a local server needs none)."""
    if api_key is not None:
        return api_key
    if api_key_env:
        if not os.environ.get(api_key_env):
            raise ModelError(f"the API key variable {api_key_env} is not set (whyllm reads the key from the "
                             "variable named and no other)")
        return os.environ[api_key_env]
    return os.environ.get("OPENAI_API_KEY") or None


class OpenAIModel(TokenizedByHF, LanguageModel):
    """A served model; ``tokenizer`` is a transformers tokenizer identical to the server's."""

    backend = "openai"
    dtype_name = "served"
    device_kind = "remote"

    def __init__(self, base_url: str, model_name: str, tokenizer, *, api_key: str | None = None,
                 max_context: int = 8192, timeout: float = 60.0, retries: int = 3, backoff: float = 0.5,
                 concurrency: int = 4, batch_size: int = 32, revision: str | None = None,
                 prompt_mode: str = "auto", cache: ScoreCache | None = None, deadline: float | None = None,
                 max_bytes: int = 64 << 20, api_key_env: str | None = None) -> None:
        base = check_base_url(base_url)
        super().__init__(f"{model_name}@{base}", revision, max_context, batch_size=batch_size, cache=cache)
        self.base_url = base if base.endswith("/v1") else base + "/v1"
        self.model_name = model_name
        self.tokenizer = tokenizer
        self.timeout, self.retries, self.backoff = float(timeout), int(retries), float(backoff)
        self._http = JSONClient(self.base_url, resolve_api_key(api_key, api_key_env), timeout=self.timeout,
                                deadline=deadline, max_bytes=max_bytes)
        self.concurrency = max(1, int(concurrency))
        self.http_calls = 0
        if prompt_mode not in ("auto", "ids", "text"):
            raise ModelError(f"prompt_mode is auto, ids or text; got {prompt_mode!r}")
        # token ids keep perturbed inputs exact; text (llama_cpp.server) is checked token by token.
        # "auto" starts with ids and keeps them after the first success, or switches to text once
        self._mode_locked = prompt_mode != "auto"
        self.prompt_mode = "ids" if prompt_mode == "auto" else prompt_mode

    @property
    def revision(self) -> str:
        """The server's model id and probe fingerprint (see :mod:`whyllm.models.fingerprint`),
        asked for once, before the first score is read from or written to the cache."""
        if self._revision is None:
            self._revision = self.identify()
        return self._revision

    @revision.setter
    def revision(self, value: str | None) -> None:
        self._revision = value

    def served_id(self) -> str:
        """The model id the server reports for ``model_name`` (``GET /v1/models``), or the name."""
        try:
            answer = self._http.request("GET", self.base_url + "/models")
            listed = answer.get("data", []) if isinstance(answer, dict) else []
        except (Retryable, HTTPFailure):
            return self.model_name  # no /models endpoint: the probe alone identifies the model
        ids = [m.get("id") for m in listed if isinstance(m, dict) and isinstance(m.get("id"), str)]
        if self.model_name in ids:
            return self.model_name
        return ids[0] if len(ids) == 1 else self.model_name

    def identify(self) -> str:
        """Ask the server which model it runs: its reported id and its log-probs on a fixed probe."""
        from whyllm.models.fingerprint import PROBE_CONTINUATION, PROBE_TEXT, probe_fingerprint

        probe = ScoreRequest(self.encode(PROBE_TEXT).ids, self.encode_continuation(PROBE_CONTINUATION))
        return probe_fingerprint(self.served_id(), self._score_one(probe))

    def __repr__(self) -> str:  # no API key here
        return f"OpenAIModel(base_url={self.base_url!r}, model={self.model_name!r})"

    # --- HTTP --------------------------------------------------------------------------------
    def _post(self, path: str, body: dict) -> dict:
        """POST JSON with retries; returns the decoded object or raises ModelError."""
        url = self.base_url + path
        ids_prompt = isinstance(body.get("prompt"), list)
        last = ""
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1))
            try:
                return self._post_once(url, body, ids_prompt)
            except Retryable as exc:
                last = str(exc)
                log.warning("%s: %s (attempt %d of %d)", url, last, attempt + 1, self.retries + 1)
        raise ModelError(f"the model server at {self.base_url} failed {self.retries + 1} times: {last}")

    def _post_once(self, url: str, body: dict, ids_prompt: bool = False) -> dict:
        self.http_calls += 1
        try:
            out = self._http.request("POST", url, body)
        except HTTPFailure as exc:
            if ids_prompt and _refuses_prompt_type(exc.status, exc.detail):
                raise _PromptTypeRefused(str(exc)) from exc
            if exc.status in RETRY_STATUS:
                raise Retryable(str(exc)) from exc
            raise ModelError(f"the model server refused the request (HTTP {exc.status}): "
                             f"{exc.detail}") from exc
        if not isinstance(out, dict):
            raise Retryable(f"the answer is not a JSON object: {str(out)[:80]!r}")
        return out

    def _body_prompt(self, ids: Sequence[int]) -> list[int] | str:
        if self.prompt_mode == "ids":
            return list(ids)
        bos = getattr(self.tokenizer, "bos_token_id", None)
        rest = list(ids[1:]) if ids and bos is not None and ids[0] == bos else list(ids)
        return self.decode(rest)  # the server adds its BOS when it tokenizes

    def _completion(self, ids: Sequence[int], **params) -> dict:
        body = {"model": self.model_name, "prompt": self._body_prompt(ids), "temperature": 0.0,
                "repeat_penalty": 1.0, **params}
        try:
            out = self._post("/completions", body)
        except _PromptTypeRefused as exc:  # llama_cpp.server takes text only
            if self.prompt_mode == "ids":  # (else a concurrent request has switched already)
                if self._mode_locked:
                    raise ModelError(f"the server at {self.base_url} refuses token-id prompts ({exc}); "
                                     "use prompt_mode='text'") from exc
                self.prompt_mode, self._mode_locked = "text", True
                log.info("%s takes text prompts; switching from token ids", self.base_url)
            return self._completion(ids, **params)
        self._mode_locked = True
        choices = out.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            raise ModelError(f"the server's answer has no choices: {str(out)[:120]}")
        return choices[0]

    def _alignment(self, full: tuple[int, ...], lp: dict) -> int:
        """How many leading tokens of ``full`` the echoed log-probs leave out: 0 (vLLM, token-id
        prompts) or 1 (llama_cpp.server drops the BOS); checks that the server saw ``full``."""
        tokens, token_lps = lp.get("tokens"), lp.get("token_logprobs")
        n, bos = len(token_lps), getattr(self.tokenizer, "bos_token_id", None)
        if n == len(full) + 1:  # the whole prompt, then the generated token
            dropped = 0
        elif n == len(full) - 1 and full[:1] == (bos,):  # no BOS, nothing generated (an end token)
            dropped = 1
        elif n == len(full):  # either; the echoed first token says whether it is the BOS
            starts_with_bos = isinstance(tokens, list) and tokens[:1] == [self.decode([bos])]
            dropped = int(full[:1] == (bos,) and not starts_with_bos)
        else:
            raise ModelError(f"the server tokenized the prompt into {n} tokens, expected {len(full)}"
                             " (+1 generated): it must use the same tokenizer as --tokenizer")
        if self.prompt_mode == "text" and isinstance(tokens, list):
            mine = [self.decode([t]) for t in full[dropped:]]
            if [t.strip() for t in tokens[: len(mine)]] != [t.strip() for t in mine]:
                raise ModelError("the server re-tokenized the prompt text differently from the local "
                                 "tokenizer; this perturbed input cannot be scored exactly")
        return dropped

    # --- scoring ---------------------------------------------------------------------------
    def _score_one(self, r: ScoreRequest) -> np.ndarray:
        full = r.prompt + r.continuation
        choice = self._completion(full, max_tokens=1, echo=True, logprobs=1)
        lp = choice.get("logprobs")
        token_lps = lp.get("token_logprobs") if isinstance(lp, dict) else None
        if not isinstance(token_lps, list) or len(token_lps) < len(full) - 1:
            got = "none" if not isinstance(token_lps, list) else f"{len(token_lps)} of {len(full)}"
            raise ModelError(f"the server returned no prompt log-probs ({got}); it must support "
                             "echo=true with logprobs on /v1/completions")
        shift = self._alignment(full, lp)
        lo, hi = len(r.prompt) - shift, len(full) - shift
        if lo == 0 and token_lps[0] is None:
            raise ModelError("the server gives no log-prob for the first token after the BOS, so a prompt "
                             "that is empty (every feature deleted) cannot be scored; put the text in a "
                             "template, or perturb with a filler instead of deleting")
        vals = token_lps[lo:hi]
        tops: list = []
        if r.top:
            top_lps = lp.get("top_logprobs")
            if not isinstance(top_lps, list) or len(top_lps) < hi:
                raise ModelError("the server returned no top log-probs for the prompt positions")
            tops = [max(d.values()) if isinstance(d, dict) and d else None for d in top_lps[lo:hi]]
            # a position's top-1 is at least the chosen token's own log-prob
            tops = [max(t, v) if isinstance(t, (int, float)) and isinstance(v, (int, float)) else t
                    for t, v in zip(tops, vals)]
        values = vals + tops
        if not all(isinstance(v, (int, float)) and math.isfinite(v) and v <= 1e-6 for v in values):
            raise ModelError(f"the server returned invalid log-probs: {values[:6]}")
        return np.asarray(values, dtype=np.float64)

    def _score_batch(self, requests: Sequence[ScoreRequest], meter: CostMeter, shared_prefix: int = 0
                     ) -> list[np.ndarray]:
        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(requests))) as pool:
            out = list(pool.map(self._score_one, requests))
        meter.forward_passes += len(requests)
        meter.sequences += len(requests)
        meter.tokens += sum(len(r.prompt) + len(r.continuation) for r in requests)
        return out

    def generate(self, prompt: Sequence[int], max_new_tokens: int, stop_at_newline: bool = True
                 ) -> tuple[int, ...]:
        # no server-side stop: like the local backends, a leading line break does not end the answer
        choice = self._completion(prompt, max_tokens=int(max_new_tokens))
        text = choice.get("text")
        if not isinstance(text, str):
            raise ModelError(f"the server's completion has no text: {str(choice)[:120]}")
        if stop_at_newline and "\n" in text.lstrip("\n"):
            text = text[: text.index("\n", len(text) - len(text.lstrip("\n")))]
        return self.encode(text, add_special_tokens=False).ids if text else ()
