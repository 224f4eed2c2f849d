"""Context attribution (whyllm.cite) on exact toy models: documents and sentences as sources, the
headers fixed, LOO with head reuse equal to plain LOO, the per-token matrix recovered exactly."""

from __future__ import annotations

import json

import numpy as np
import pytest

import whyllm
from whyllm.cite import context_prompt, read_context
from whyllm.models import additive_model
from whyllm.models.toy import EOS, ToyModel

DOCS = [{"title": "One", "text": "alpha beta. gamma delta."}, {"title": "Two", "text": "eps zeta."},
        "eta theta iota."]
W = {"alpha": 1.5, "beta.": -2.0, "gamma": 0.25, "delta.": 3.0, "eps": -0.75, "zeta.": 0.5, "eta": 1.25,
     "iota.": -1.0}
QUERY = "Which one?"


def toy(**kw):
    return additive_model(W, bias=0.5, cache=None, **kw)


def test_documents_are_features_and_headers_stay_fixed():
    model = toy()
    exp = whyllm.cite(DOCS, QUERY, "yes", model=model, method="kernelshap", budget=16)
    assert [f.text for f in exp.features] == ["alpha beta. gamma delta.", "eps zeta.", "eta theta iota."]
    np.testing.assert_allclose(exp.values, [1.5 - 2 + 0.25 + 3, -0.75 + 0.5, 1.25 - 1], atol=1e-9)  # exact
    inp = whyllm.features.PromptInput(model, exp.text, template=exp.template, features="documents")
    kept = model.decode(inp.ids_for(np.zeros(3, dtype=bool)))
    assert "Document [1](Title: One)" in kept and "Document [3]" in kept and "alpha" not in kept
    assert "Question: Which one?" in kept


def test_sources_link_back_to_their_documents():
    exp = whyllm.cite(DOCS, QUERY, "yes", model=toy(), sources="sentences", method="occlusion")
    assert [f.text for f in exp.features] == ["alpha beta.", "gamma delta.", "eps zeta.", "eta theta iota."]
    top = whyllm.cited_sources(exp)
    assert [(s.document, s.text) for s in top[:2]] == [(0, "gamma delta."), (2, "eta theta iota.")]
    docs = read_context(DOCS)
    for s in top:  # every span points into its document's own text
        assert docs[s.document].text[s.start:s.end] == s.text
    assert top[0].title == "One" and top[0].value == pytest.approx(3.25)


def test_loo_with_head_reuse_equals_plain_loo():
    shared = whyllm.cite(DOCS, QUERY, "yes", model=toy(share_prefixes=True), sources="sentences",
                         method="occlusion")
    plain = whyllm.cite(DOCS, QUERY, "yes", model=toy(share_prefixes=False), sources="sentences",
                        method="occlusion")
    assert shared.values == plain.values and shared.cost.tokens < plain.cost.tokens


def test_answer_token_j_from_document_j_gives_the_identity_matrix():
    answer = ["A0", "A1", "A2"]
    keys = ["alpha", "eps", "eta"]

    def score(words):
        j = sum(w in answer for w in words)
        if j == len(answer):
            return {EOS: 0.0}
        return {answer[j]: 1.0 if keys[j] in words else 0.0, EOS: -5.0}

    exp = whyllm.cite(DOCS, QUERY, " A0 A1 A2", model=ToyModel(score, cache=None), method="kernelshap",
                      budget=8)
    np.testing.assert_allclose(exp.matrix_array, np.eye(3), atol=1e-9)
    np.testing.assert_allclose(exp.matrix_array.sum(axis=1), exp.values, atol=1e-12)


def test_hierarchical_refines_the_best_document():
    exp = whyllm.cite(DOCS, QUERY, "yes", model=toy(), method="hierarchical", inner="kernelshap", keep=1,
                      coarse_budget=8, budget=16)
    assert exp.method == "focus" and exp.fit.focus_units == ["alpha beta. gamma delta."]
    np.testing.assert_allclose(exp.values[:2], [-0.5, 3.25], atol=1e-9)  # exact inside the best document


def test_contextcite_lasso_finds_the_supporting_document():
    exp = whyllm.cite(DOCS, QUERY, "yes", model=toy(), method="contextcite", budget=40, seed=1)
    assert int(exp.ranking()[0]) == 0 and exp.fit.r2 > 0.9


def test_contextcite_lasso_recovers_sparse_sources_with_fewer_ablations_than_sources():
    """ContextCite's regime: 30 one-word sources, two of which matter, 24 evaluations (22 random
    ablations): the L1 fit recovers both planted weights and leaves the other 28 near zero."""
    words = [f"w{i}" for i in range(30)]
    model = additive_model({"w3": 4.0, "w17": -3.0}, bias=0.5, cache=None)
    exp = whyllm.cite(words, QUERY, "yes", model=model, method="contextcite", budget=24, seed=0)
    assert exp.cost.sequences <= 24
    values = np.asarray(exp.values)
    np.testing.assert_allclose(values[[3, 17]], [4.0, -3.0], atol=0.1)
    assert np.abs(np.delete(values, [3, 17])).max() < 0.1
    with pytest.raises(whyllm.BudgetError, match="at least 3"):
        whyllm.cite(words, QUERY, "yes", model=model, method="contextcite", budget=2)


def test_context_files_and_bad_input(tmp_path):
    jsonl = tmp_path / "c.jsonl"
    jsonl.write_text("\n".join(json.dumps(d if isinstance(d, dict) else {"text": d}) for d in DOCS))
    assert [d.title for d in read_context(jsonl)] == ["One", "Two", ""]
    txt = tmp_path / "c.txt"
    txt.write_text("first passage\nstill first\n\nsecond passage\n")
    assert [d.text for d in read_context(txt)] == ["first passage still first", "second passage"]
    with pytest.raises(whyllm.InputError, match="no documents"):
        read_context([])
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{not json")
    with pytest.raises(whyllm.InputError, match="not JSONL"):
        read_context(bad)
    with pytest.raises(whyllm.InputError, match="query is empty"):
        context_prompt(read_context(DOCS), " ")
    with pytest.raises(whyllm.InputError, match=r"one \{context\} and one \{query\}"):
        context_prompt(read_context(DOCS), QUERY, "no slots")
    with pytest.raises(whyllm.InputError, match="not a cite explanation"):
        whyllm.cited_sources(whyllm.explain("alpha beta", "yes", model=toy(), method="occlusion"))


def test_cli_cite(tmp_path, monkeypatch, capsys):
    import whyllm.cli.common
    from whyllm.cli import main

    model = toy()
    monkeypatch.setattr(whyllm.cli.common, "load_model_from", lambda args: model)
    ctx = tmp_path / "ctx.jsonl"
    ctx.write_text("\n".join(json.dumps(d if isinstance(d, dict) else {"text": d}) for d in DOCS))
    out = tmp_path / "cite.json"
    assert main(["cite", "--context-file", str(ctx), "--query", QUERY, "--answer", "yes", "--sources",
                 "sentences", "--method", "occlusion", "--json", str(out), "--quiet"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0] == "+3.2500\t1\t12:24\tgamma delta."
    exp = whyllm.Explanation.from_json(out.read_text())
    assert exp.params["cite"]["query"] == QUERY and len(exp.params["cite"]["documents"]) == 3
    f = whyllm.evaluate(exp, model=model)  # the explanation is rebuilt from its own features
    assert 0 <= f.aopc_comprehensiveness <= 1
    assert main(["cite", "--context-file", str(tmp_path / "none.jsonl"), "--query", "q"]) == 2
    assert "no such context file" in capsys.readouterr().err
