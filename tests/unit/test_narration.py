"""Checked narration: every claim of a scripted narrator is checked against the numbers."""

from __future__ import annotations

import pytest

import whyllm
from tests.chat_models import ScriptedChat
from whyllm.models import additive_model
from whyllm.report.narration import check_narration

WEIGHTS = {"superb": 3.0, "acting": 1.0, "dull": -2.0, "plot": 0.5}
TEXT = "superb acting but a dull plot"


@pytest.fixture
def exp():
    e = whyllm.explain(TEXT, "yes", model=additive_model(WEIGHTS, cache=None), method="kernelshap", budget=64)
    return e.with_metrics({"aopc_comprehensiveness": 0.4321, "aopc_sufficiency": 0.1})


def test_a_correct_narration_passes(exp):
    text = ("The word 'superb' is the most important feature and supports the output. "
            "'dull' pushes against it. The explanation has an AOPC comprehensiveness of 0.43 "
            f"and took {exp.cost.sequences} model calls.")
    n = check_narration(exp, text)
    assert n.counts() == {"checked": 3, "contradicted": 0, "uncheckable": 0}
    kinds = sorted({c.kind for c in n.claims()})
    assert kinds == ["cost", "direction", "feature", "metric", "rank"]


@pytest.mark.parametrize("text,detail", [
    ("'dull' supports the output.", "'dull' opposes the output"),          # swapped sign
    ("'acting' is the most important word.", "'acting' ranks 2"),          # wrong rank
    ("'wonderful' drives the prediction.", "'wonderful' is not a feature"),  # no such feature
    ("Its AOPC comprehensiveness is 0.91.", "aopc_comprehensiveness is 0.4321"),
    ("It took 5 model calls.", "cost sequences is"),
])
def test_each_kind_of_wrong_claim_is_caught(exp, text, detail):
    n = check_narration(exp, text)
    assert n.counts()["contradicted"] == 1
    assert any(detail in c.detail for c in n.claims("contradicted"))


def test_the_quoted_output_is_not_taken_for_a_missing_feature(exp):
    """Narrators copy the objective, "log p('yes')": the output named is a supported claim, not a
    feature that does not exist; another quoted word still is."""
    n = check_narration(exp, "The value is log p('yes'). The value is log p('maybe').")
    assert [s.status for s in n.sentences] == ["checked", "contradicted"]
    assert [c.kind for c in n.sentences[0].claims] == ["output"]
    assert "'maybe' is not a feature" in n.sentences[1].claims[0].detail


def test_a_sentence_without_claims_is_uncheckable(exp):
    n = check_narration(exp, "The model reads the review carefully. 'superb' supports it.")
    assert [s.status for s in n.sentences] == ["uncheckable", "checked"]


def test_narrate_gives_the_numbers_and_marks_unsupported_sentences(exp):
    chat = ScriptedChat(["'superb' supports the output most. 'plot' opposes it."])
    n = exp.narrate(chat)
    assert "1. 'superb': +3.000" in chat.prompts[0] and "aopc comprehensiveness: 0.432" in chat.prompts[0]
    assert [s.status for s in n.sentences] == ["checked", "contradicted"]
    assert n.cost["calls"] == 1
    page = n.to_html()
    assert 'class="narr contradicted"' in page and "opposes the output" not in page.split("title=")[0]


def test_narrate_retries_an_empty_reply_then_fails_clearly(exp):
    chat = ScriptedChat(["", "'superb' supports it."])
    assert exp.narrate(chat).counts()["checked"] == 1
    with pytest.raises(whyllm.WhyllmError, match="empty narration"):
        exp.narrate(ScriptedChat(["", ""]))


def test_cli_narrates_a_saved_explanation(exp, tmp_path, capsys, monkeypatch):
    from whyllm.cli import main

    saved = tmp_path / "exp.json"
    saved.write_text(exp.to_json())
    chat = ScriptedChat(["'superb' supports the output. 'wonderful' drives it."])
    monkeypatch.setattr("whyllm.cli.common.load_model_from", lambda args: chat)
    assert main(["narrate", str(saved), "--quiet", "--json", str(tmp_path / "n.json")]) == 0
    out = capsys.readouterr().out
    assert out.strip().endswith("checked=1 contradicted=1 uncheckable=0")
    import json

    assert json.loads((tmp_path / "n.json").read_text())["counts"]["contradicted"] == 1


def test_the_more_specific_metric_word_wins(exp):
    n = check_narration(exp, "Its AOPC of 0.10 is the sufficiency.")
    assert [c.detail for c in n.claims()] == ["aopc_sufficiency is 0.1000; the text says 0.10"]
