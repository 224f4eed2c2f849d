"""llm-icl (Kroeger et al. 2023) on scripted explainers: each strategy's prompt, the parsing of good,
malformed and refusal replies, retries, and what the Explanation records."""

from __future__ import annotations

import re

import pytest

import whyllm
from tests.chat_models import ScriptedChat
from whyllm.errors import InputError, MalformedReplyError
from whyllm.methods.icl_prompts import Example, letter_names, parse_ranking, text_names
from whyllm.models import additive_model

WEIGHTS = {"superb": 3.0, "acting": 1.0, "dull": -2.0, "plot": 0.5}
TEXT = "superb acting but a dull plot"  # features A..F: superb acting but a dull plot


def explain(chat, **kw):
    kw.setdefault("budget", 18)
    return whyllm.explain(TEXT, "yes", model=additive_model(WEIGHTS, cache=None), method="llm-icl",
                          explainer_model=chat, seed=0, **kw)


def rows_of(prompt: str, head: str) -> list[dict[str, float]]:
    return [dict((k, float(v)) for k, v in re.findall(r"(\w+): (-?[\d.]+)", line))
            for line in prompt.splitlines() if line.startswith(head)]


def test_perturbation_prompt_shows_the_targets_own_samples_and_the_last_line_rule():
    chat = ScriptedChat(["A is clearly the strongest, then E.\nA, E, B, F, C"])
    e = explain(chat)
    prompt = chat.prompts[0]
    assert "features: ['A', 'B', 'C', 'D', 'E', 'F']" in prompt and "1 when it is in the input" in prompt
    assert "top 5 most important features" in prompt
    assert "Only provide the feature names on the last line" in prompt
    inputs = rows_of(prompt, "Input:")
    outputs = [float(x) for x in re.findall(r"^Output: (-?[\d.]+)$", prompt, flags=re.M)]
    assert len(inputs) == len(outputs) == 16  # budget 18: 16 samples, the empty and the full input
    weights = [3.0, 1.0, 0.0, 0.0, -2.0, 0.5]  # the toy's value is the sum of the kept words' weights
    for row, y in zip(inputs, outputs):
        assert y == pytest.approx(sum(w * row[n] for n, w in zip(letter_names(6), weights)), abs=1e-3)
    assert e.cost.sequences == 18 and e.params["llm_icl"]["samples"] == 16
    assert e.params["llm_icl"]["ranking"] == ["A", "E", "B", "F", "C"]
    assert [e.features[i].text for i in e.ranking()[:5]] == ["superb", "dull", "acting", "plot", "but"]
    assert dict(zip("ABCDEF", e.values)) == pytest.approx({"A": 1.0, "E": 0.8, "B": 0.6, "F": 0.4, "C": 0.2,
                                                           "D": 0.0})
    assert e.full_value == pytest.approx(2.5) and e.base_value == pytest.approx(0.0)


def test_prediction_prompt_ends_with_the_explained_input_and_reads_the_estimate():
    chat = ScriptedChat(["The final output is about\nOutput: 2.4\nA, E"])
    e = explain(chat, strategy="prediction")
    prompt = chat.prompts[0]
    last_input = prompt.split("Dataset:")[1].split("Question:")[0].strip().splitlines()[-2:]
    assert last_input == ["Input: A: 1, B: 1, C: 1, D: 1, E: 1, F: 1", "Output:"]
    assert "estimate the output for the final input" in prompt
    assert e.params["llm_icl"]["predicted_output"] == 2.4 and e.params["llm_icl"]["ranking"] == ["A", "E"]


def test_instruction_prompt_gives_changes_against_the_explained_input():
    chat = ScriptedChat(["Rating A: 90 ...\nFinal rank: A, E, B, F, C"])
    e = explain(chat, strategy="instruction")
    prompt = chat.prompts[0]
    assert "Rate the importance of the feature in determining the output on a scale of 0-100" in prompt
    assert "running rank" in prompt and "starting with 'A' and continuing to 'F'" in prompt
    changes = rows_of(prompt, "Change in Input:")
    outs = [float(x) for x in re.findall(r"^Change in Output: (-?[\d.]+)$", prompt, flags=re.M)]
    weights = dict(zip("ABCDEF", [3.0, 1.0, 0.0, 0.0, -2.0, 0.5]))
    assert len(changes) == 16 and all(set(r.values()) <= {0.0, -1.0} for r in changes)
    for r, y in zip(changes, outs):  # a removed word (-1) takes its weight away from the full 2.5
        assert y == pytest.approx(sum(weights[k] * v for k, v in r.items()), abs=1e-3)
    assert e.params["llm_icl"]["ranking"] == ["A", "E", "B", "F", "C"]  # "Final rank:" is stripped


def test_explanation_prompt_shows_in_context_examples_from_a_whyllm_method():
    model = additive_model(WEIGHTS, cache=None)
    shots = [whyllm.explain(t, "yes", model=model, method="kernelshap", budget=32)
             for t in ("dull plot and superb acting", "a superb plot", "dull dull acting", "plot acting")]
    chat = ScriptedChat(["'superb', 'dull', 'acting'"])
    e = explain(chat, strategy="explanation", names="text", examples=shots, k=3)
    prompt = chat.prompts[0]
    assert prompt.count("Explanation: ") == 4
    assert "Input: 'dull': 1, 'plot': 1, 'and': 1, 'superb': 1, 'acting': 1\nOutput: 2.5\n" \
           "Explanation: superb, dull, acting" in prompt  # KernelSHAP's top 3 by |value|
    assert prompt.rstrip().endswith("separated by commas. Only provide the feature names on the last line. "
                                    "Do not provide any further details on the last line.\"")
    assert e.params["llm_icl"]["ranking"] == ["superb", "dull", "acting"]
    assert len(e.params["examples"]) == 4
    assert e.params["examples"][0]["ranking"] == ["superb", "dull", "acting"]
    with pytest.raises(InputError, match="needs in-context examples"):
        explain(ScriptedChat([]), strategy="explanation")


def test_malformed_and_refusal_replies_are_counted_and_retried_then_a_clear_error():
    chat = ScriptedChat(["I'm sorry, I cannot rank features.", "The features are important.", "B, A"])
    e = explain(chat, retries=2)
    rec = e.params["llm_icl"]
    assert rec["malformed_replies"] == 2 and rec["refusals"] == 1 and rec["ranking"] == ["B", "A"]
    assert rec["explainer_cost"]["calls"] == 3 and len(rec["replies"]) == 3
    assert "Your previous reply did not end with a usable ranking (the reply is a refusal)" in chat.prompts[1]
    assert chat.prompts[1].startswith(chat.prompts[0])
    assert e.cost.sequences == 18  # the retries cost the explainer, never the target
    with pytest.raises(MalformedReplyError, match="named no feature on the last line in 2 replies"):
        explain(ScriptedChat(["no idea", "still no idea"]), retries=1)


def test_parsing_the_last_line():
    names = letter_names(6)
    assert parse_ranking("reasoning\n\n1. C, 2. A, 3. Z, A, 'F'\n", names, 5).ranking == (2, 0, 5)
    assert parse_ranking("x\nB > D > A", names, 2).ranking == (1, 3)
    assert parse_ranking("x\nAnswer: [e, b]", names, 5).ranking == (4, 1)
    assert parse_ranking("x\nC, Q, R", names, 5).unknown == ("Q", "R")
    # a reply that ends with a numbered list, one feature per line, "name: reason" on each
    listed = "The top features:\n1. D: 1.95\n2. B - strong\n3. 'F' (weak)"
    assert parse_ranking(listed, names, 5).ranking == (3, 1, 5)
    assert parse_ranking("so\n5. E: 1.951", names, 5).ranking == (4,)  # one numbered line: the last line
    with pytest.raises(ValueError, match="no feature named"):
        parse_ranking("A is the most important.\nThat is all.", names, 5)
    with pytest.raises(ValueError, match="empty"):
        parse_ranking("  \n ", names, 5)
    assert letter_names(28)[-3:] == ("Z", "AA", "AB")
    assert text_names(["the", "plot", "The", "end"]) == ("the", "plot", "The#2", "end")


def test_text_names_and_the_record_round_trip():
    chat = ScriptedChat(["'dull', 'superb'"])
    e = explain(chat, names="text", k=2)
    assert "features: ['superb', 'acting', 'but', 'a', 'dull', 'plot']" in chat.prompts[0]
    assert [e.features[i].text for i in e.ranking()[:2]] == ["dull", "superb"]
    again = whyllm.Explanation.from_json(e.to_json())
    assert again.params["llm_icl"]["prompt"] == chat.prompts[0] and again == e
    assert e.params["explainer_model"] == "scripted-chat"


def test_same_seed_same_prompt_and_bad_options_fail_clearly():
    a, b = ScriptedChat(["A"]), ScriptedChat(["A"])
    explain(a)
    explain(b)
    assert a.prompts == b.prompts
    with pytest.raises(InputError, match="strategy is one of"):
        explain(ScriptedChat([]), strategy="vibes")
    with pytest.raises(InputError, match="'letters'"):
        explain(ScriptedChat([]), names="numbers")


def test_an_example_can_be_plain_data():
    ex = Example(("A", "B"), (0.5, -1.0), 1.0, ("B", "A"))
    chat = ScriptedChat(["B, A"])
    plain = {"names": ["A"], "row": [2], "output": 0, "ranking": ["A"]}
    explain(chat, strategy="explanation", examples=[ex, plain])
    assert "Input: A: 0.5, B: -1\nOutput: 1\nExplanation: B, A" in chat.prompts[0]
