"""The ``openai`` backend against a real local HTTP server: protocol, retries, timeouts, bad
answers, and that nothing but complete answers reaches the score cache."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from tests.fake_openai import FakeOpenAIServer, hashed_logprobs
from whyllm.errors import ModelError
from whyllm.models import ScoreCache, ScoreRequest
from whyllm.models.openai import OpenAIModel


@pytest.fixture(scope="module")
def tokenizer():
    from whyllm.models import local_model_dir
    from whyllm.models.tokenizer import load_tokenizer

    return load_tokenizer(local_model_dir(None))


@pytest.fixture
def server():
    with FakeOpenAIServer(sleep=1.5) as s:
        yield s


def served(server, tokenizer, **kw) -> OpenAIModel:
    opts = {"retries": 2, "backoff": 0.01, "timeout": 5.0, **kw}
    return OpenAIModel(server.url, "gemma", tokenizer, **opts)


REQ = ScoreRequest((2, 818, 5279, 563), (236761, 9079))


def expected(req: ScoreRequest) -> np.ndarray:
    lps = hashed_logprobs(list(req.prompt + req.continuation))
    return np.array(lps[len(req.prompt):])


def test_scores_from_echoed_prompt_logprobs(server, tokenizer):
    model = served(server, tokenizer)
    other = ScoreRequest((2, 818, 5279), (17,))
    got = model.score([REQ, other, REQ])
    assert np.allclose(got[0], expected(REQ)) and np.allclose(got[1], expected(other))
    assert np.array_equal(got[0], got[2]) and len(server.requests) == 2  # deduplicated
    body = server.requests[0]
    assert body["echo"] is True and body["logprobs"] == 1 and body["max_tokens"] == 1
    assert body["temperature"] == 0.0 and body["repeat_penalty"] == 1.0
    assert body["prompt"] in (list(REQ.prompt + REQ.continuation), list(other.prompt + other.continuation))


def test_top_logprobs(server, tokenizer):
    got = served(server, tokenizer).score([ScoreRequest(REQ.prompt, REQ.continuation, top=True)])[0]
    assert np.allclose(got, np.concatenate([expected(REQ), expected(REQ)]))  # the token is the top-1


def test_retries_500_then_succeeds(server, tokenizer):
    server.faults.extend(["500", "500"])
    model = served(server, tokenizer)
    assert np.allclose(model.score([REQ])[0], expected(REQ))
    assert model.http_calls == 3


def test_timeout_is_retried_then_reported(server, tokenizer):
    server.faults.extend(["sleep"] * 3)
    model = served(server, tokenizer, timeout=0.3)
    with pytest.raises(ModelError, match=r"failed 3 times: no answer within 0.3 s"):
        model.score([REQ])
    server.faults.clear()
    server.faults.append("sleep")
    assert np.allclose(served(server, tokenizer, timeout=0.3).score([REQ])[0], expected(REQ))


def test_client_error_is_not_retried(server, tokenizer):
    server.faults.append("400")
    model = served(server, tokenizer)
    with pytest.raises(ModelError, match=r"refused the request \(HTTP 400\)"):
        model.score([REQ])
    assert model.http_calls == 1


@pytest.mark.parametrize(("fault", "message"), [
    ("malformed", "malformed JSON"), ("nologprobs", "no prompt log-probs"), ("short", "no prompt log-probs")])
def test_bad_answers_raise_and_cache_nothing(server, tokenizer, tmp_path, fault, message):
    cache = ScoreCache(tmp_path / "scores.sqlite")
    model = served(server, tokenizer, cache=cache)
    model.revision  # noqa: B018  (identified at load time, as load_model does, before the faults)
    server.faults.extend([fault] * 3)
    with pytest.raises(ModelError, match=message):
        model.score([REQ])
    assert cache.get_many(model._cache_key(), [REQ]) == {}  # no garbage cached
    server.faults.clear()
    assert np.allclose(model.score([REQ])[0], expected(REQ))
    assert REQ in cache.get_many(model._cache_key(), [REQ])  # a good answer is cached
    cache.close()


def test_dead_server(tokenizer):
    with FakeOpenAIServer() as s:
        url = s.url
    model = OpenAIModel(url, "gemma", tokenizer, retries=1, backoff=0.01, timeout=1.0)
    with pytest.raises(ModelError, match="cannot reach the server"):
        model.score([REQ])


def test_api_key_sent_but_never_logged(server, tokenizer, caplog):
    secret = "sk-test-SECRET-123"
    model = served(server, tokenizer, api_key=secret)
    server.faults.append("500")
    with caplog.at_level(logging.DEBUG, logger="whyllm"):
        model.score([REQ])
    assert server.headers[-1]["Authorization"] == f"Bearer {secret}"
    assert secret not in caplog.text and secret not in repr(model) and "500" in caplog.text


def test_generate_stops_at_line_break(server, tokenizer):
    model = served(server, tokenizer)
    assert model.decode(model.generate((2, 818), 5)) == " Paris"
    assert model.decode(model.generate((2, 818), 5, stop_at_newline=False)) == " Paris\nThe"


def test_text_only_server_llama_cpp_style(tokenizer):
    """A server that takes text prompts only and echoes without the BOS (llama_cpp.server): the
    backend switches to text after its first refusal (no retries), re-aligns, and checks the
    server's tokens."""
    with FakeOpenAIServer(text_only_tokenizer=tokenizer) as s:
        model = served(s, tokenizer)
        ids = tokenizer("The Eiffel Tower is in")["input_ids"]
        req = ScoreRequest(tuple(ids), tuple(tokenizer(" Paris", add_special_tokens=False)["input_ids"]))
        assert np.allclose(model.score([req])[0], expected(req))
        assert model.prompt_mode == "text" and isinstance(s.requests[-1]["prompt"], str)
        assert [isinstance(r["prompt"], str) for r in s.requests] == [False, True]
        # token ids that no text re-tokenizes into (" " then "Paris" comes back as " Paris"): refused
        split = (ids[0], *tokenizer(" ", add_special_tokens=False)["input_ids"],
                 *tokenizer("Paris", add_special_tokens=False)["input_ids"])
        with pytest.raises(ModelError, match=r"re-tokenized|tokenized the prompt into"):
            model.score([ScoreRequest(split, (17,))])


def test_text_only_server_empty_prompt(tokenizer):
    """llama_cpp.server gives no log-prob for the first token after the BOS: an all-deleted prompt
    is a clear error, never a made-up score."""
    with FakeOpenAIServer(text_only_tokenizer=tokenizer) as s:
        model = served(s, tokenizer)
        paris = tuple(tokenizer(" Paris", add_special_tokens=False)["input_ids"])
        with pytest.raises(ModelError, match=r"first token after the BOS.*template"):
            model.score([ScoreRequest((tokenizer.bos_token_id,), paris)])


def test_text_only_server_with_ids_forced(tokenizer):
    """With prompt_mode='ids' the refusal is an error at once that says what to change."""
    with FakeOpenAIServer(text_only_tokenizer=tokenizer) as s:
        model = served(s, tokenizer, prompt_mode="ids")
        with pytest.raises(ModelError, match=r"refuses token-id prompts.*prompt_mode='text'"):
            model.score([REQ])
        assert len(s.requests) == 1  # not retried


def test_bad_address(tokenizer):
    with pytest.raises(ModelError, match="http://"):
        OpenAIModel("127.0.0.1:8080", "m", tokenizer)




@pytest.mark.parametrize("status", [408, 409, 425, 429, 500, 502, 503, 504])
def test_documented_statuses_are_retried(server, tokenizer, status):
    from whyllm.models.openai import RETRY_STATUS

    assert status in RETRY_STATUS
    model = served(server, tokenizer)
    server.faults.extend([str(status)])
    assert np.allclose(model.score([REQ])[0], expected(REQ))
    assert len(server.requests) == 2  # the fault, then the retry


@pytest.mark.parametrize("status", [400, 401, 404, 501])
def test_other_statuses_raise_at_once(server, tokenizer, status):
    model = served(server, tokenizer)
    server.faults.extend([str(status)])
    with pytest.raises(ModelError, match=f"HTTP {status}"):
        model.score([REQ])
    assert len(server.requests) == 1


def test_documented_retry_policy_matches_the_code():
    """The module docstring and the served-models guide name exactly the statuses the code retries."""
    from pathlib import Path

    import whyllm.models.openai as backend

    listed = "HTTP 408, 409, 425, 429, 500, 502, 503 and"
    assert listed in " ".join(backend.__doc__.split()) and sorted(backend.RETRY_STATUS) == [
        408, 409, 425, 429, 500, 502, 503, 504]
    guide = Path(__file__).resolve().parents[2] / "docs" / "guides" / "cheap.md"
    assert "HTTP 408, 409, 425, 429, 500, 502, 503 and 504" in " ".join(guide.read_text().split())
