"""Context attribution: which documents, or sentences, of a context made the model write its answer
(cf. ContextCite, Cohen-Wang et al. 2024; AttriBoT, Liu et al. 2025).

``cite(context, query, answer=None)`` puts the documents into a question-answering prompt, makes
each document (``sources="documents"``) or each sentence (``"sentences"``) one feature, and explains
the answer (generated greedily, up to the first line break, when not given) with a registered
method: ``lime``, ``kernelshap``, ``occlusion`` (leave-one-out, sharing the key/value state of the
unchanged head), ``contextcite`` (ContextCite's random ablations and LASSO), or ``hierarchical``
(documents first, then the sentences of the ``keep`` best documents: the focus strategy with
documents as its coarse units). A ``proxy`` samples when the screens allow it, as for ``explain``.

The default prompt is Lost in the Middle's QA prompt (Liu et al. 2023): its instruction, the
documents as ``Document [i](Title: t) text`` separated by blank lines, then ``Question: q`` and
``Answer:``. A template of one's own has a ``{context}`` and a ``{query}`` slot. Only the sources
are perturbed; the titles' headers and the question stay. The explanation records each document's
title and character span, so :func:`cited_sources` links every source back to its document.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from whyllm.compose import Call, run
from whyllm.engine import default_model
from whyllm.errors import InputError
from whyllm.explanation import Explanation
from whyllm.methods.stopping import AutoBudget, parse_budget
from whyllm.models.base import LanguageModel
from whyllm.request import Options
from whyllm.tasks.retrieval import INSTRUCTION

DEFAULT_TEMPLATE = INSTRUCTION + "\n\n{context}\n\nQuestion: {query}\nAnswer:"
SOURCES = {"documents": "documents", "sentences": "document-sentences"}


@dataclass(frozen=True)
class Document:
    title: str
    text: str


@dataclass(frozen=True)
class Source:
    """A cited source: its document (index and title), its characters [start, end) in that
    document's text, its text and its value."""

    document: int
    title: str
    start: int
    end: int
    text: str
    value: float


def read_context(context: str | Path | Sequence[Any]) -> list[Document]:
    """Documents from a list (strings, ``{"title", "text"}`` dicts or :class:`Document`), a JSONL
    file of ``{"title", "text"}`` objects, or a text file of blank-line-separated passages."""
    if isinstance(context, (str, Path)):
        path = Path(context)
        if not path.is_file():
            raise InputError(f"no such context file: {context}")
        raw = path.read_text(encoding="utf-8")
        if path.suffix == ".jsonl":
            try:
                items: list[Any] = [json.loads(line) for line in raw.splitlines() if line.strip()]
            except json.JSONDecodeError as exc:
                raise InputError(f"{path} is not JSONL: {exc}") from exc
        else:
            items = [p.strip() for p in raw.split("\n\n") if p.strip()]
    else:
        items = list(context)
    docs = []
    for i, item in enumerate(items):
        if isinstance(item, Document):
            docs.append(item)
        elif isinstance(item, str):
            docs.append(Document("", item))
        elif isinstance(item, dict) and isinstance(item.get("text"), str):
            docs.append(Document(str(item.get("title") or ""), item["text"]))
        else:
            raise InputError(f"context item {i} is not a text or a {{'title', 'text'}} object: {item!r}")
    docs = [Document(d.title, " ".join(d.text.split())) for d in docs]  # one paragraph each
    if not docs or not any(d.text for d in docs):
        raise InputError("the context holds no documents")
    return docs


def context_prompt(docs: Sequence[Document], query: str, template: str | None = None
                   ) -> tuple[str, str, list[dict]]:
    """The context text (the documents, blank-line separated), the template around it with the
    query filled in, and each document's title and [start, end) of its own text in the context."""
    template = DEFAULT_TEMPLATE if template is None else template
    if template.count("{context}") != 1 or template.count("{query}") != 1:
        raise InputError("a cite template needs one {context} and one {query} slot")
    if not isinstance(query, str) or not query.strip():
        raise InputError("the query is empty")
    parts, spans, at = [], [], 0
    for i, d in enumerate(docs):
        head = f"Document [{i + 1}](Title: {d.title}) " if d.title else f"Document [{i + 1}] "
        parts.append(head + d.text)
        spans.append({"title": d.title, "start": at + len(head), "end": at + len(head) + len(d.text)})
        at += len(parts[-1]) + 2
    filled = template.replace("{query}", query).replace("{context}", "{text}")
    return "\n\n".join(parts), filled, spans


def cite(context: str | Path | Sequence[Any], query: str, answer: str | None = None, *,
         model: LanguageModel | None = None, sources: str = "documents", method: str = "lime",
         budget: int | str | None = None, seed: int | None = 0, template: str | None = None,
         chat: bool = False,
         proxy: LanguageModel | None = None, max_new_tokens: int = 32, progress: bool = False,
         **method_params: Any) -> Explanation:
    """Attribute ``answer`` (or the model's own answer) to the sources of ``context``; see the
    module docstring. The explanation's features are the sources; ``cited_sources(exp)`` ranks them
    with their documents."""
    if sources not in SOURCES:
        raise InputError(f"sources is documents or sentences; got {sources!r}")
    docs = read_context(context)
    text, filled, spans = context_prompt(docs, query, template)
    features = SOURCES[sources]
    if method == "hierarchical":
        method = "focus"
        method_params = {"coarse": "documents", "inner": method_params.pop("inner", "lime"), **method_params}
        features = "document-sentences"
    options = Options(features=features, template=filled, budget=cite_budget(budget), seed=seed,
                      max_new_tokens=max_new_tokens, progress=progress, chat=chat,
                      record={"cite": {"query": query, "sources": sources, "documents": spans}})
    model = model if model is not None else default_model()
    return run(Call(text, answer, model, method, dict(method_params), proxy, None, options))


def cite_budget(budget: Any) -> Any:
    """``budget="auto"`` (and the default) in ``cite`` stops when the *first* source is certain:
    the question is which source the answer came from (``AutoBudget(top_k=3)`` asks for more)."""
    parsed = parse_budget(budget)
    return AutoBudget(top_k=1) if parsed is None or parsed == AutoBudget() else parsed


def cited_sources(exp: Explanation, k: int | None = None) -> list[Source]:
    """The explanation's sources, most supportive first, each linked to its document."""
    info = exp.params.get("cite")
    if not info:
        raise InputError("not a cite explanation (made by whyllm.cite)")
    out = []
    for i in exp.ranking()[:k]:
        f = exp.features[int(i)]
        doc = next((j for j, d in enumerate(info["documents"]) if d["start"] <= f.start < d["end"] + 1), None)
        if doc is None:  # a feature in a document header (never perturbed alone)
            continue
        d = info["documents"][doc]
        out.append(Source(doc, d["title"], max(0, f.start - d["start"]), min(f.end, d["end"]) - d["start"],
                          f.text, float(exp.values[int(i)])))
    return out
