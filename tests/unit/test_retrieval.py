"""Multi-document QA prompts built from NQ-open (shared/data), with a seeded choice of distractors."""

from __future__ import annotations

import pytest

from tests.conftest import SHARED_DATA
from whyllm.errors import InputError
from whyllm.features.segmenters import paragraphs
from whyllm.tasks.retrieval import load_nq_open, retrieval_prompt

NQ = SHARED_DATA / "nq_open" / "nq-open-oracle.jsonl.gz"


@pytest.fixture(scope="module")
def records():
    return load_nq_open(NQ)


def test_gold_passage_sits_at_its_position_among_seeded_distractors(records):
    p = retrieval_prompt(records, 0, n_documents=5, gold_position=2, seed=3)
    docs = p.text.split("\n\n")
    gold = next(c for c in records[0]["ctxs"] if c["isgold"])
    assert len(docs) == 5 == p.n_documents and p.gold_index == 2
    assert docs[2] == f"Document [3](Title: {gold['title']}) {gold['text']}"
    assert p.answer == " " + records[0]["answers"][0]
    assert "Question: " + records[0]["question"] in p.template and p.template.count("{text}") == 1
    assert retrieval_prompt(records, 0, n_documents=5, gold_position=2, seed=3) == p
    assert retrieval_prompt(records, 0, n_documents=5, gold_position=2, seed=4).text != p.text


def test_prompts_grow_to_a_token_count_and_group_documents_into_paragraphs(records):
    def words(s: str) -> int:
        return len(s.split())

    p = retrieval_prompt(records, 1, min_tokens=800, count_tokens=words, per_paragraph=2, gold_position=3)
    assert words(p.template.replace("{text}", p.text)) >= 800
    assert len(paragraphs(p.text)) == -(-p.n_documents // 2)
    assert p.gold_index == 1  # documents 3 and 4 share the second paragraph
    with pytest.raises(InputError):
        retrieval_prompt(records, 1, min_tokens=800)
    with pytest.raises(InputError):
        load_nq_open(NQ.with_name("missing.jsonl.gz"))
