"""The peers, each used the way its documentation shows, on the same Gemma model and words.

* Captum: ``LLMAttribution`` over ``TextTemplateInput`` (one feature per word, empty-string
  baseline) with ``FeatureAblation``, ``Lime`` and ``KernelShap``. LLMAttribution explains the
  log-prob of one continuation; for a contrast target it explains the side the model prefers.
* SHAP: ``shap.Explainer`` with a ``Text`` masker splitting on whitespace (same words; its default
  mask token "...", since the masker cannot delete) and
  ``max_evals`` = budget, around a batched transformers forward (what a SHAP user writes).
* LIME: ``LimeTextExplainer`` (positional words, empty mask) with ``num_samples`` = budget, around
  the same batched forward, returning probabilities as LIME expects.
"""

from __future__ import annotations

import re

import numpy as np
import torch
from prompts import Case


class PlainForward:
    """Target values for whole texts by a plain batched transformers forward (left padding,
    full logits): the function a SHAP or LIME user writes."""

    def __init__(self, hf_model, tokenizer, case: Case, batch_size: int = 32) -> None:
        self.model, self.tok, self.case, self.batch_size = hf_model, tokenizer, case, batch_size
        targets = case.target if isinstance(case.target, tuple) else (case.target,)
        self.target_ids = [tokenizer(t, add_special_tokens=False)["input_ids"] for t in targets]

    def prompts(self, texts) -> list[str]:
        tpl = self.case.template or "{text}"
        return [tpl.replace("{text}", t, 1) for t in texts]

    @torch.inference_mode()
    def __call__(self, texts) -> np.ndarray:
        out = []
        for i in range(0, len(texts), self.batch_size):
            chunk = self.prompts(texts[i:i + self.batch_size])
            sums = [self._logprob(chunk, ids) for ids in self.target_ids]
            out.append(sums[0] - sums[1] if len(sums) == 2 else sums[0])
        return np.concatenate(out)

    def _logprob(self, prompts: list[str], cont: list[int]) -> np.ndarray:
        enc = [self.tok(p)["input_ids"] + cont[:-1] for p in prompts]
        width = max(len(e) for e in enc)
        ids = torch.zeros((len(enc), width), dtype=torch.long)
        mask = torch.zeros_like(ids)
        for r, e in enumerate(enc):
            ids[r, width - len(e):] = torch.tensor(e)
            mask[r, width - len(e):] = 1
        pos = mask.cumsum(-1) - 1
        logits = self.model(input_ids=ids, attention_mask=mask, position_ids=pos.clamp(min=0)).logits
        k = len(cont)  # rows end with cont[:-1]: the last k positions predict the k target tokens
        lp = torch.log_softmax(logits[:, -k:, :].float(), -1)
        return sum(lp[:, j, cont[j]] for j in range(k)).double().numpy()


def words_of(text: str) -> list[str]:
    return re.findall(r"\S+", text)


def captum_values(kind: str, hf_model, tokenizer, case: Case, budget: int, seed: int,
                  contrast_side: str | None) -> np.ndarray:
    from captum.attr import FeatureAblation, KernelShap, Lime, LLMAttribution, TextTemplateInput

    words = words_of(case.text)
    tpl = (case.template or "{text}").replace("{", "{{").replace("}", "}}").replace("{{text}}", "{text}")
    tpl = tpl.replace("{text}", " ".join(["{}"] * len(words)))
    inp = TextTemplateInput(template=tpl, values=words)
    method = {"FeatureAblation": FeatureAblation, "Lime": Lime, "KernelShap": KernelShap}[kind](hf_model)
    attr = LLMAttribution(method, tokenizer)
    target = contrast_side if isinstance(case.target, tuple) else case.target
    kwargs = {} if kind == "FeatureAblation" else {"n_samples": budget}
    torch.manual_seed(seed)  # captum samples with torch's global generator
    res = attr.attribute(inp, target=target, **kwargs)
    return res.seq_attr.detach().double().numpy()


def shap_values(f: PlainForward, case: Case, budget: int, seed: int) -> np.ndarray:
    import shap

    # the Text masker cannot delete (an empty mask token fails); it replaces words by its default "..."
    masker = shap.maskers.Text(r"\s+", collapse_mask_token=False)
    explainer = shap.Explainer(lambda texts: f(list(texts)), masker, seed=seed)
    sv = explainer([case.text], max_evals=budget, silent=True)
    return np.asarray(sv.values[0], dtype=np.float64)


def lime_values(f: PlainForward, case: Case, budget: int, seed: int) -> np.ndarray:
    from lime.lime_text import LimeTextExplainer

    contrast = isinstance(case.target, tuple)

    def proba(texts):
        v = f(list(texts))
        p = 1.0 / (1.0 + np.exp(-v)) if contrast else np.exp(v)
        return np.stack([p, 1.0 - p], axis=1)

    n = len(words_of(case.text))
    explainer = LimeTextExplainer(split_expression=r"\s+", bow=False, mask_string="", random_state=seed)
    exp = explainer.explain_instance(case.text, proba, labels=(0,), num_features=n, num_samples=budget)
    values = np.zeros(n)
    for idx, w in exp.as_map()[0]:
        values[idx] = w
    return values
