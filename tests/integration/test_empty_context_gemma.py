"""An empty context (every feature removed, no template) on tokenizers with and without a BOS, with
and without a chat template: the answer is scored after the tokenizer's BOS-like token, exactly as a
plain forward pass scores it there, and the explanation records that choice."""

from __future__ import annotations

import numpy as np
import pytest

WORDS = ["the", "code", "is", "4812", "join", "with", "user", "assistant"]
CHAT = ("{% for m in messages %}<bos> user {{ m['content'] }} <eos> {% endfor %}"
        "{% if add_generation_prompt %}assistant{% endif %}")


@pytest.mark.gemma
def test_real_tokenizers_smollm2_without_bos_and_gemma_with_it(gemma, tmp_path, monkeypatch):
    import whyllm.cli.common
    from whyllm.cli import main

    smol = whyllm.load_model("smollm2-135m-instruct", cache=False, dtype="float32")
    assert not smol.adds_bos and gemma.adds_bos
    text, target = "The meeting code is 4812. Please join with code", " 4812"
    for model, start, recorded in ((smol, smol.tokenizer.bos_token_id, "<|im_start|>"),
                                   (gemma, gemma.tokenizer.bos_token_id, None)):
        cont = model.encode_continuation(target)
        want = float(model.plain_logprobs((start,), cont).sum())
        exp = whyllm.explain(text, target, model=model, method="kernelshap", budget=32)
        assert exp.base_value == pytest.approx(want, abs=2e-3) and exp.model.empty_context == recorded
    # the command the bug report gave, on the model without a BOS: no traceback, the choice recorded
    monkeypatch.setattr(whyllm.cli.common, "load_model_from", lambda args: smol)
    out = tmp_path / "e.json"
    assert main(["explain", text, "--target", target, "--model", "smollm2-135m-instruct", "--budget", "32",
                 "--json", str(out), "--quiet"]) == 0
    assert whyllm.Explanation.from_json(out.read_text()).model.empty_context == "<|im_start|>"
    chat = whyllm.explain(text, target, model=smol, method="occlusion", chat=True)
    assert np.isfinite(chat.base_value) and chat.template.count("<|im_start|>") >= 1
