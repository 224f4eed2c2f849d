"""The ``openai`` backend against a real local HTTP server: protocol, retries, timeouts, bad
answers, and that nothing but complete answers reaches the score cache."""

from __future__ import annotations

import numpy as np
import pytest

from tests.fake_openai import FakeOpenAIServer
from whyllm.models import ScoreRequest
from whyllm.models.openai import OpenAIModel


@pytest.mark.gemma
def test_served_gemma_matches_local_gemma(gemma):
    """A server whose log-probs are the real Gemma's: the backend's echo/logprobs indexing must give
    the local scorer's numbers, and the same explanation."""
    import whyllm

    def gemma_logprobs(ids: list[int]) -> list[float]:
        return [0.0, *gemma.plain_logprobs(ids[:1], ids[1:]).tolist()]

    with FakeOpenAIServer(logprob_fn=gemma_logprobs) as s:
        model = OpenAIModel(s.url, "gemma", gemma.tokenizer, concurrency=2)
        ids = gemma.encode("The Eiffel Tower is located in the city of").ids
        req = ScoreRequest(ids, gemma.encode_continuation(" Paris"))
        assert np.allclose(model.score([req])[0], gemma.score([req])[0], atol=1e-4)
        kw = {"method": "kernelshap", "budget": 24, "seed": 0}
        remote = whyllm.explain("Eiffel Tower in the city of", " Paris", model=model, **kw)
        local = whyllm.explain("Eiffel Tower in the city of", " Paris", model=gemma, **kw)
        assert np.allclose(remote.values, local.values, atol=1e-3)
        assert remote.model.backend == "openai" and remote.cost.sequences == local.cost.sequences
