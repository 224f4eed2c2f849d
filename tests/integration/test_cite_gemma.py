"""whyllm.cite on the real Gemma model: a planted-fact document is the top source of its answer."""

from __future__ import annotations

import pytest

import whyllm

pytestmark = pytest.mark.gemma

DOCS = [
    {"title": "Harbour", "text": "The harbour of Velmar was rebuilt after the storm of 1911 and now holds "
                                 "forty fishing boats."},
    {"title": "Wrendle vault", "text": "The Wrendle vault sits under the old mill. Its secret code is 4821, "
                                       "known only to the miller's family."},
    {"title": "Orchards", "text": "Apple orchards cover the hills north of the town; the harvest festival "
                                  "is held every October."},
    {"title": "Railway", "text": "A narrow-gauge railway once linked Velmar to the coast, until it closed "
                                 "in 1962."},
]
QUERY = "What is the secret code of the Wrendle vault?"


@pytest.mark.parametrize("method", ["occlusion", "lime"])
def test_the_planted_document_is_the_top_source(gemma, method):
    exp = whyllm.cite(DOCS, QUERY, " 4821", model=gemma, method=method, budget=None if method == "occlusion"
                      else 24)
    top = whyllm.cited_sources(exp, 1)[0]
    assert top.document == 1 and top.title == "Wrendle vault"
    assert exp.values[1] > 2.0 + max(v for i, v in enumerate(exp.values) if i != 1)


def test_sentence_sources_find_the_sentence_with_the_code(gemma):
    exp = whyllm.cite(DOCS, QUERY, " 4821", model=gemma, sources="sentences", method="occlusion")
    top = whyllm.cited_sources(exp, 1)[0]
    assert top.document == 1 and "4821" in top.text
    assert DOCS[1]["text"][top.start:top.end] == top.text


def test_generated_answer_is_explained(gemma):
    exp = whyllm.cite(DOCS, QUERY, model=gemma, method="occlusion", max_new_tokens=6)
    assert "4821" in exp.target.texts[0] and exp.target.kind == "greedy"
    assert whyllm.cited_sources(exp, 1)[0].document == 1
