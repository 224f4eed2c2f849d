"""Concept features (ConLUX / UnCLE) on toy models with exact answers."""

from __future__ import annotations

import json

import numpy as np
import pytest

import whyllm
from tests.chat_models import ScriptedChat
from whyllm.concepts import extract
from whyllm.errors import InputError, MalformedReplyError
from whyllm.features.concepts import Concept, ConceptInput, ConceptSet
from whyllm.models import additive_model, planted_model

TEXT = "superb cast and brisk story with tight editing and fine performances"
LEXICON = {"acting": ["superb", "cast", "performances"], "pacing": ["brisk", "tight editing"],
           "plot": ["story"]}
# planted: acting's words sum to 3.0, pacing's to 2.0, plot's to -0.5; the other words weigh 0
WEIGHTS = {"superb": 0.8, "cast": 0.7, "performances": 1.5, "brisk": 1.2, "tight": 0.5, "editing": 0.3,
           "story": -0.5}


def test_concept_shapley_values_recover_the_planted_weights_exactly():
    model = additive_model(WEIGHTS, bias=0.25, cache=None)
    exp = whyllm.explain(TEXT, "yes", model=model, method="kernelshap", features="concepts",
                         extractor="lexicon", concepts=LEXICON, budget=8)
    assert exp.feature_kind == "concepts"
    assert [f.text for f in exp.features] == ["acting", "pacing", "plot"]
    np.testing.assert_allclose(exp.values, [3.0, 2.0, -0.5], atol=1e-9)
    assert exp.full_value == pytest.approx(0.25 + 4.5)
    assert exp.base_value == pytest.approx(0.25)
    # each concept lists its spans; "and", "with", "fine" are in no concept
    acting = exp.features[0]
    assert [TEXT[s:e] for s, e in acting.spans] == ["superb", "cast", "performances"]
    assert [TEXT[s:e] for s, e in exp.features[1].spans] == ["brisk", "tight editing"]
    assert exp.params["concepts"]["extractor"] == "lexicon"
    assert exp.params["concepts"]["extractor_cost"]["calls"] == 0


@pytest.mark.parametrize("method", ["occlusion", "lime"])
def test_other_methods_over_concepts(method):
    exp = whyllm.explain(TEXT, "yes", model=additive_model(WEIGHTS, cache=None), method=method,
                         features="concepts", extractor="lexicon", concepts=LEXICON, budget=40)
    if method == "occlusion":  # additive: leave-one-out is exact too
        np.testing.assert_allclose(exp.values, [3.0, 2.0, -0.5], atol=1e-9)
    assert [exp.features[i].text for i in exp.ranking()] == ["acting", "pacing", "plot"]


def test_concept_anchor_is_exactly_the_two_planted_concepts():
    model = planted_model(["superb", "brisk"], cache=None)  # yes iff acting AND pacing are expressed
    exp = whyllm.explain(TEXT, " yes", model=model, method="anchors", features="concepts",
                         extractor="lexicon", concepts=LEXICON, seed=0)
    assert sorted(exp.fit.anchor_words) == ["acting", "pacing"]
    assert exp.fit.precision == pytest.approx(1.0)
    from whyllm.report.terminal import rule_lines

    assert rule_lines(exp)[0][0].startswith("IF the input mentions 'acting' AND 'pacing' THEN")


def test_json_round_trip_keeps_the_spans_and_rescoring_uses_them():
    model = additive_model(WEIGHTS, cache=None)
    exp = whyllm.explain(TEXT, "yes", model=model, method="kernelshap", features="concepts",
                         extractor="lexicon", concepts=LEXICON, budget=8)
    back = whyllm.Explanation.from_json(exp.to_json())
    assert back == exp
    at = TEXT.index("performances")
    assert json.loads(exp.to_json())["features"][0]["spans"] == [[0, 6], [7, 11], [at, at + 12]]
    # re-scoring rebuilds the input from the explanation's own concepts, not a new extraction
    from whyllm.engine import objective_for

    masks = np.array([[True, True, True], [False, True, True], [False, False, True]])
    value = objective_for(back, model).value(masks)
    np.testing.assert_allclose(value, [4.5, 1.5, -0.5], atol=1e-9)


def test_lexicon_with_overlapping_concepts():
    lex = {"acting": ["superb cast", "performances"], "praise": ["superb", "fine"]}
    cs = extract(additive_model(WEIGHTS, cache=None), TEXT, extractor="lexicon", concepts=lex)
    assert [c.name for c in cs.concepts] == ["acting", "praise"]
    assert [TEXT[s:e] for s, e in cs.concepts[0].spans] == ["superb cast", "performances"]
    assert [TEXT[s:e] for s, e in cs.concepts[1].spans] == ["superb", "fine"]
    model = additive_model(WEIGHTS, cache=None)
    inp = ConceptInput(model, TEXT, cs)
    words = lambda keep: model.decode(inp.ids_for(np.array(keep)))  # noqa: E731
    # "superb" belongs to both: it goes when either concept is off
    assert words([False, True]).strip() == "and brisk story with tight editing and fine"
    assert words([True, False]).strip() == "cast and brisk story with tight editing and performances"
    # the additive values: switching "acting" off removes superb, cast, performances
    exp = whyllm.explain(TEXT, "yes", model=model, method="occlusion", features="concepts",
                         extractor="lexicon", concepts=lex)
    np.testing.assert_allclose(exp.values, [3.0, 0.8], atol=1e-9)


def test_lexicon_leaves_out_absent_concepts_and_refuses_an_empty_set():
    cs = extract(additive_model(WEIGHTS, cache=None), TEXT, extractor="lexicon",
                 concepts={"acting": ["cast"], "music": ["score", "soundtrack"]})
    assert [c.name for c in cs.concepts] == ["acting"]
    assert cs.record["absent"] == ["music"]
    with pytest.raises(InputError, match="no concepts"):
        extract(additive_model(WEIGHTS, cache=None), TEXT, extractor="lexicon", concepts={"music": ["score"]})


def test_user_spans_and_their_errors():
    model = additive_model(WEIGHTS, cache=None)
    cs = extract(model, TEXT, extractor="spans",
                 concepts={"opening": [[0, 11]], "end": ["fine performances"]})
    assert [c.texts(TEXT) for c in cs.concepts] == [["superb cast"], ["fine performances"]]
    with pytest.raises(InputError, match="outside the text"):
        extract(model, TEXT, extractor="spans", concepts={"x": [[5, 500]]})
    with pytest.raises(InputError, match="does not occur"):
        extract(model, TEXT, extractor="spans", concepts={"x": ["nowhere"]})
    with pytest.raises(InputError, match="extractor"):
        whyllm.explain(TEXT, "yes", model=model, features="concepts")
    with pytest.raises(InputError, match="has no parameter 'k'"):
        whyllm.explain(TEXT, "yes", model=model, features="concepts", extractor="lexicon",
                       concepts=LEXICON, k=3)


GOOD = '```json\n{"concepts": [{"name": "acting", "spans": ["superb cast", "performances"]}, ' \
       '{"name": "pacing", "spans": ["brisk", "invented words"]}]}\n```'


def test_llm_extractor_validates_spans_against_the_text():
    chat = ScriptedChat([GOOD])
    cs = extract(additive_model(WEIGHTS, cache=None), TEXT, extractor="llm", extractor_model=chat)
    assert [(c.name, c.texts(TEXT)) for c in cs.concepts] == [("acting", ["superb cast", "performances"]),
                                                             ("pacing", ["brisk"])]
    assert cs.record["dropped_spans"] == 1 and cs.record["malformed_replies"] == 0
    assert cs.record["extractor_cost"]["calls"] == 1


def test_malformed_llm_json_is_retried_then_an_error_or_the_fallback():
    model = additive_model(WEIGHTS, cache=None)
    chat = ScriptedChat(["Sure! The concepts are acting and pacing.", GOOD])
    cs = extract(model, TEXT, extractor="llm", extractor_model=chat, retries=1)
    assert cs.record["malformed_replies"] == 1 and len(cs.concepts) == 2
    assert "previous reply was not usable (the reply holds no JSON object)" in chat.prompts[1]

    chat = ScriptedChat(['{"concepts": "acting"}', '{"concepts": [{"name": "x", "spans": ["absent"]}]}'])
    with pytest.raises(MalformedReplyError, match="no usable JSON in 2 replies"):
        extract(model, TEXT, extractor="llm", extractor_model=chat, retries=1)

    chat = ScriptedChat(["no json"])
    cs = extract(model, TEXT, extractor="llm", extractor_model=chat, retries=0, on_malformed="fallback",
                 fallback={"extractor": "lexicon", "concepts": LEXICON})
    assert [c.name for c in cs.concepts] == ["acting", "pacing", "plot"]
    assert cs.record["fell_back"] == "lexicon" and cs.record["malformed_replies"] == 1
    chat = ScriptedChat(["no json"])
    with pytest.raises(InputError, match="on_malformed"):
        extract(model, TEXT, extractor="llm", extractor_model=chat, on_malformed="ignore")


def test_concepts_refuse_a_perturbation_that_needs_one_slot_per_feature():
    cs = ConceptSet((Concept("a", ((0, 6),)),))
    with pytest.raises(InputError, match="delete, replace, rewrite"):
        ConceptInput(additive_model(WEIGHTS, cache=None), TEXT, cs, perturbation="model-words")


def test_html_colours_a_concepts_pieces_together_and_escapes_names(tmp_path):
    lex = {"<b>acting</b>": ["superb", "performances"], "pacing": ["brisk"]}
    exp = whyllm.explain(TEXT, "yes", model=additive_model(WEIGHTS, cache=None), method="occlusion",
                         features="concepts", extractor="lexicon", concepts=lex)
    html = exp.to_html()
    assert "<b>acting</b>" not in html and "&lt;b&gt;acting&lt;/b&gt;" in html
    import re

    pieces = re.findall(r'<span class="feat" data-f="(\d)" data-c="([^"]+)"[^>]*>([^<]+)</span>', html)
    assert [(f, t) for f, _, t in pieces] == [("0", "superb"), ("1", "brisk"), ("0", "performances")]
    assert pieces[0][1] == pieces[2][1] != pieces[1][1]  # one colour per concept


def test_cli_explains_over_concepts(tmp_path, capsys, monkeypatch):
    from whyllm.cli import main

    toy = additive_model(WEIGHTS, cache=None)
    monkeypatch.setattr("whyllm.cli.common.load_model_from", lambda *a, **k: toy)
    lex = tmp_path / "lex.json"
    lex.write_text(json.dumps(LEXICON))
    out = tmp_path / "exp.json"
    rc = main(["explain", TEXT, "--target", "yes", "--method", "kernelshap", "--budget", "8",
               "--features", "concepts", "--option", "extractor=lexicon", "--option", f"concepts={lex}",
               "--json", str(out), "--quiet"])
    assert rc == 0
    exp = whyllm.Explanation.from_json(out.read_text())
    np.testing.assert_allclose(exp.values, [3.0, 2.0, -0.5], atol=1e-9)
    rc = main(["explain", TEXT, "--target", "yes", "--features", "concepts", "--quiet"])
    assert rc == 2
    assert "extractor=" in capsys.readouterr().err


class ScriptedRewriter(whyllm.models.ToyModel):
    """Generator and verifier in one: rewrites drop the words of the concepts asked to go (except
    that "brisk" always stays: a planted failure), and the verifier says yes iff one of a concept's
    words is in the text."""

    def __init__(self):
        super().__init__(lambda words: {}, name="scripted-rewriter", cache=None)

    def generate(self, prompt, max_new_tokens, stop_at_newline=True):
        import re

        asked = self.decode(prompt)
        text = asked.split("Text:")[-1].split()
        if "Rewrite" in asked:
            off = re.findall(r'"([a-z]+)"', asked.split("no longer expresses:")[1].split("Keep")[0])
            gone = {w for c in off for p in LEXICON[c] for w in p.split()} - {"brisk"}
            out = " ".join(w for w in text if w not in gone)
        else:
            name = re.search(r'concept "([a-z]+)"', asked).group(1)
            words = {w for p in LEXICON[name] for w in p.split()}
            out = "yes" if words & set(text) else "no"
        return self.encode(out, add_special_tokens=False).ids


def test_rewrite_compliance_is_counted_and_rewrites_are_cached(tmp_path):
    target, scripted = additive_model(WEIGHTS, cache=None), ScriptedRewriter()
    kw = {"model": target, "method": "kernelshap", "features": "concepts", "extractor": "lexicon",
          "concepts": LEXICON, "budget": 8, "perturbation": "rewrite", "generator": scripted,
          "verifier": scripted, "rewrite_cache": tmp_path / "rw.sqlite"}
    exp = whyllm.explain(TEXT, "yes", **kw)
    rw = exp.params["rewrite"]
    # 6 coalitions besides the two ends; the 3 with pacing off keep "brisk": non-compliant
    assert (rw["samples_verified"], rw["compliant"], rw["compliance"]) == (6, 3, 0.5)
    assert rw["generator_calls"] == 7 and rw["verifier_calls"] == 18  # the empty input is a rewrite too
    assert exp.cost.sequences == 8  # target calls, counted apart
    # the rewrites (not deletions) are what the target saw: every concept off still keeps "brisk"
    assert exp.base_value == pytest.approx(WEIGHTS["brisk"])
    assert exp.full_value == pytest.approx(sum(WEIGHTS.values()))
    again = whyllm.explain(TEXT, "yes", **kw)
    rw2 = again.params["rewrite"]
    assert rw2["generator_calls"] == 0 and rw2["verifier_calls"] == 0 and rw2["cache_hits"] == 25
    assert again.values == exp.values
    down = whyllm.explain(TEXT, "yes", **{**kw, "noncompliant": "downweight"})
    assert down.params["rewrite"]["compliance"] == 0.5
    with pytest.raises(InputError, match="go with perturbation='rewrite'"):
        whyllm.explain(TEXT, "yes", **{**kw, "perturbation": "delete"})
