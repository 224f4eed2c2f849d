"""Cache keys that cannot go stale: a changed model never answers from the old model's scores.

* a transformers folder whose weights are changed in place, with the same shapes and file sizes;
* a served model that changes behind the same URL and model name.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.fake_openai import FakeOpenAIServer, hashed_logprobs
from tests.tiny_models import save_random_llama
from whyllm.cost import CostMeter
from whyllm.models import ScoreCache, ScoreRequest, load_model
from whyllm.models.fingerprint import weights_fingerprint
from whyllm.models.openai import OpenAIModel

WORDS = ["the", "cat", "sat", "on", "mat", "dog"]


@pytest.fixture
def llama_folder(tmp_path, monkeypatch):
    """A real (tiny, random) transformers Llama saved as safetensors, with a word-level tokenizer."""
    monkeypatch.setenv("WHYLLM_CACHE", str(tmp_path / "cache"))
    folder = tmp_path / "tiny-llama"
    save_random_llama(folder, WORDS, vocab_size=16)
    return folder


def _score(model, req):
    meter = CostMeter()
    out = model.score([req], meter)[0]
    return out, meter.cache_hits


def test_weights_changed_in_place_miss_the_cache(llama_folder):
    from safetensors.torch import load_file, save_file

    req = ScoreRequest((2, 4, 5, 6), (7, 8))
    first = load_model(llama_folder, dtype="float32", device="cpu")
    before, hits = _score(first, req)
    assert hits == 0
    assert _score(first, req)[1] == 1  # a repeat is answered from the cache

    weights = next(llama_folder.glob("*.safetensors"))
    size = weights.stat().st_size
    state = load_file(weights)
    state["lm_head.weight"] = state["lm_head.weight"] * 1.5  # same shape, same file size
    save_file(state, weights, metadata={"format": "pt"})
    assert weights.stat().st_size == size

    second = load_model(llama_folder, dtype="float32", device="cpu")
    assert second.revision != first.revision
    after, hits = _score(second, req)
    assert hits == 0  # computed, not recalled
    assert not np.allclose(after, before, atol=1e-4)
    torch_direct = second.model(input_ids=torch.tensor([list(req.prompt + req.continuation)])).logits
    direct = torch.log_softmax(torch_direct[0].double(), -1)
    np.testing.assert_allclose(after, [direct[3, 7].item(), direct[4, 8].item()], atol=1e-4)


def test_fingerprint_is_remembered_and_renewed(llama_folder, tmp_path):
    memo = tmp_path / "memo.json"
    a = weights_fingerprint(llama_folder, memo)
    assert memo.is_file() and weights_fingerprint(llama_folder, memo) == a
    (llama_folder / "config.json").write_text((llama_folder / "config.json").read_text() + " ")
    assert weights_fingerprint(llama_folder, memo) != a


def test_served_model_changed_behind_the_same_url_misses_the_cache(tmp_path, tokenizer):
    cache = ScoreCache(tmp_path / "scores.sqlite")
    req = ScoreRequest((2, 818, 5279, 563), (236761, 9079))
    with FakeOpenAIServer() as server:
        first = OpenAIModel(server.url, "gemma", tokenizer, cache=cache, retries=1, backoff=0.01)
        before, hits = _score(first, req)
        assert hits == 0 and _score(first, req)[1] == 1
        np.testing.assert_allclose(before, hashed_logprobs(list(req.prompt + req.continuation))[4:])

        server.logprob_fn = lambda ids: [-(0.2 + (t % 7) / 10) for t in ids]  # another model, same name
        second = OpenAIModel(server.url, "gemma", tokenizer, cache=cache, retries=1, backoff=0.01)
        assert second.revision != first.revision and second.revision.startswith("gemma:")
        after, hits = _score(second, req)
        assert hits == 0
        np.testing.assert_allclose(after, [-(0.2 + (t % 7) / 10) for t in req.continuation])

        server.served_models = ["llama-3"]  # the server reports another model, same answers
        third = OpenAIModel(server.url, "default", tokenizer, cache=cache, retries=1, backoff=0.01)
        assert third.revision.startswith("llama-3:") and third.revision != second.revision


def test_dead_server_fails_at_load_time(tokenizer):
    from whyllm.errors import ModelError

    with FakeOpenAIServer() as s:
        url = s.url
    with pytest.raises(ModelError, match=r"cannot reach|failed"):
        load_model(f"openai:{url}", served_model="gemma", retries=0, timeout=1.0)


@pytest.fixture(scope="module")
def tokenizer():
    from whyllm.models import local_model_dir
    from whyllm.models.tokenizer import load_tokenizer

    return load_tokenizer(local_model_dir(None))
