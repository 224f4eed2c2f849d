"""An empty context (every feature removed, no template) on tokenizers with and without a BOS, with
and without a chat template: the answer is scored after the tokenizer's BOS-like token, exactly as a
plain forward pass scores it there, and the explanation records that choice."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import whyllm
from whyllm.errors import ModelError
from whyllm.models import ScoreRequest

WORDS = ["the", "code", "is", "4812", "join", "with", "user", "assistant"]
CHAT = ("{% for m in messages %}<bos> user {{ m['content'] }} <eos> {% endfor %}"
        "{% if add_generation_prompt %}assistant{% endif %}")


def reference(folder, prompt: list[int], continuation: list[int]) -> float:
    """Sum of log p(continuation | prompt) from transformers itself, one plain forward pass."""
    from transformers import AutoModelForCausalLM

    net = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
    ids = torch.tensor([prompt + continuation])
    with torch.no_grad():
        logp = torch.log_softmax(net(ids).logits[0].double(), dim=-1)
    return float(sum(logp[len(prompt) - 1 + j, t] for j, t in enumerate(continuation)))


@pytest.fixture(scope="module", params=[True, False], ids=["bos", "no-bos"])
def tiny(request, tmp_path_factory):
    from tests.tiny_models import save_random_llama

    folder = tmp_path_factory.mktemp("tiny")
    save_random_llama(folder, WORDS, bos=request.param, chat_template=CHAT)
    return folder, request.param, whyllm.load_model(str(folder), cache=False, dtype="float32")


def test_the_tokenizers_differ_as_intended(tiny):
    _, bos, model = tiny
    assert model.encode("the code").ids[:1] == ((2,) if bos else (4,))
    assert model.adds_bos is bos


def test_an_empty_prompt_is_scored_after_the_bos_like_token(tiny):
    folder, _, model = tiny
    cont = model.encode_continuation("4812")
    empty, start = model.score([ScoreRequest((), cont), ScoreRequest((2,), cont)])
    assert np.array_equal(empty, start)
    assert empty.sum() == pytest.approx(reference(folder, [2], list(cont)), abs=1e-5)


def test_explain_without_a_template_takes_every_feature_out(tiny):
    folder, bos, model = tiny
    exp = whyllm.explain("the code is", "4812", model=model, method="kernelshap", budget=8)
    assert exp.fit.exact  # all 2^3 coalitions, the empty one included
    assert exp.base_value == pytest.approx(reference(folder, [2], [WORDS.index("4812") + 4]), abs=1e-5)
    assert exp.model.empty_context == (None if bos else "<bos>")
    again = whyllm.Explanation.from_json(exp.to_json())
    assert again.model.empty_context == exp.model.empty_context


def test_explain_inside_a_chat_template(tiny):
    folder, _, model = tiny
    exp = whyllm.explain("the code is", "4812", model=model, method="occlusion", chat=True)
    fixed = model.encode(exp.template.replace("{text}", "")).ids  # the template's own tokens stay
    assert fixed[:2] == (2, 10) and exp.base_value == pytest.approx(
        reference(folder, list(fixed), [WORDS.index("4812") + 4]), abs=1e-5)


def test_a_tokenizer_with_no_bos_like_token_is_a_clear_error(tiny, monkeypatch):
    _, bos, model = tiny
    if bos:
        pytest.skip("a tokenizer that adds its BOS never leaves an empty prompt")
    monkeypatch.setattr(model, "bos_like_token", lambda: None)
    with pytest.raises(ModelError, match="no BOS-like token"):
        model.score([ScoreRequest((), (7,))])
