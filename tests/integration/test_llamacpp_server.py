"""The ``openai`` backend against a real ``llama_cpp.server`` on 127.0.0.1 serving the default Gemma
GGUF, started by the test. Not part of ``make test`` (llama-cpp-python builds from source in about
ten minutes); run with ``make test-server``."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request

import numpy as np
import pytest

import whyllm
from whyllm.models import ScoreRequest

pytestmark = [pytest.mark.llamacpp, pytest.mark.gemma]
pytest.importorskip("llama_cpp.server", reason="needs pip install 'whyllm[server]' (make test-server)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server_url():
    from whyllm.models.convert import default_gguf_path

    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "llama_cpp.server", "--model", str(default_gguf_path()),
                             "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048",
                             "--model_alias", "gemma"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        for _ in range(240):
            try:
                urllib.request.urlopen(url + "/models", timeout=1).read()
                break
            except OSError:
                if proc.poll() is not None:
                    pytest.fail("llama_cpp.server exited at start")
                time.sleep(0.5)
        else:
            pytest.fail("llama_cpp.server did not answer within 120 s")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_served_gemma_scores_like_local_gemma(server_url, gemma):
    model = whyllm.load_model("openai:" + server_url, served_model="gemma", cache=False)
    ids = gemma.encode("The Eiffel Tower is located in the city of").ids
    req = ScoreRequest(ids, gemma.encode_continuation(" Paris"))
    served, local = model.score([req])[0], gemma.score([req])[0]
    # the server runs the Q4_K_M weights, the local model their float32 dequantization
    assert np.allclose(served, local, atol=0.25)
    assert model.prompt_mode == "text"  # llama_cpp.server takes text prompts


def test_explanation_through_the_server(server_url, gemma):
    """The same explanation through the server as locally (within the quantization's tolerance);
    the server's 4 concurrent requests meet its refusal of token ids and all switch to text."""
    model = whyllm.load_model("openai:" + server_url, served_model="gemma", cache=False)
    kw = dict(template="Fact: {text}", method="kernelshap", budget=32)
    exp = whyllm.explain("The Eiffel Tower is located in the city of", " Paris", model=model, **kw)
    local = whyllm.explain("The Eiffel Tower is located in the city of", " Paris", model=gemma, **kw)
    assert exp.model.backend == "openai" and exp.features[int(exp.ranking()[0])].text == "Eiffel"
    assert sum(exp.values) == pytest.approx(exp.full_value - exp.base_value, abs=1e-6)
    assert np.corrcoef(exp.values, local.values)[0, 1] > 0.9
    # without a template, deleting every word leaves only the BOS, whose next-token log-prob
    # llama_cpp.server does not return: a clear error
    with pytest.raises(whyllm.WhyllmError, match="first token after the BOS"):
        whyllm.explain("The Eiffel Tower is located in the city of", " Paris", model=model,
                       method="kernelshap", budget=32)


def test_dead_server_after_stop(gemma):
    """A dead server fails at load time (the model is identified then), with the reason."""
    with pytest.raises(whyllm.WhyllmError, match="cannot reach the server"):
        whyllm.load_model("openai:http://127.0.0.1:9/v1", served_model="gemma", cache=False, retries=1,
                          timeout=1.0)
