"""``llm``: a chat model names the concepts of the text, as UnCLE's extractor does (arXiv 2410.12439).

The model (``extractor_model``: a loaded model, a spec name such as ``smollm2-135m-instruct``, or
``openai:<url>`` for a served one; default the local SmolLM2 instruct model) gets the text and an
instruction to reply with JSON only::

    {"concepts": [{"name": "acting", "spans": ["superb performances", "the cast"]}, ...]}

Decoding is greedy (temperature 0). The reply is validated: the first JSON object in it must hold a
``concepts`` list of objects with a non-empty ``name`` and ``spans`` copied from the text; every
occurrence of a span (case aside) is one of the concept's pieces; a span not found in the text is dropped (and
counted), a concept left with none is dropped. A reply with no valid concept is malformed: the
model is asked again with the error (up to ``retries`` times); if it stays malformed, ``on_malformed``
says what happens: ``"error"`` raises :class:`~whyllm.errors.MalformedReplyError`, ``"fallback"``
runs the ``fallback`` extractor instead (``clusters`` by default; a name, or ``{"extractor": name,
...its options}``), and the record says so.
"""

from __future__ import annotations

import json
import re
from typing import Any

from whyllm.concepts.base import EXTRACTORS, Extractor, ExtractorCost
from whyllm.errors import InputError, MalformedReplyError
from whyllm.features.concepts import Concept
from whyllm.models.base import LanguageModel
from whyllm.models.chat import DEFAULT_CHAT_MODEL, chat_reply, load_chat_model

DEFAULT_EXTRACTOR_MODEL = DEFAULT_CHAT_MODEL
INSTRUCTION = (
    "List the concepts the text expresses: the topics, qualities, entities or claims a reader would "
    "name when saying what the text is about. Reply with JSON only. Copy every span exactly from the "
    "text. Give at most {max_concepts} concepts.\n\n"
    "Text: The soup was cold, but the waiter was friendly and quick.\n"
    'Reply: {{"concepts": [{{"name": "food", "spans": ["soup was cold"]}}, '
    '{{"name": "service", "spans": ["waiter was friendly", "quick"]}}]}}\n\n'
    "Text: {text}\nReply: ")
PREFILL = '{"concepts": [{"name": "'
MAX_REPLY_TOKENS = 200
RETRY = "\n\nYour previous reply was not usable ({error}). Reply with the JSON object only."


def first_json_object(reply: str) -> Any:
    """The first JSON object in ``reply`` (code fences and chatter around it allowed)."""
    start = reply.find("{")
    while start != -1:
        try:
            return json.JSONDecoder().raw_decode(reply[start:])[0]
        except json.JSONDecodeError:
            start = reply.find("{", start + 1)
    raise ValueError("the reply holds no JSON object")


def parse_concepts(reply: str, text: str, max_concepts: int) -> tuple[list[Concept], int]:
    """The reply's valid concepts and how many spans were dropped; ValueError when it has none."""
    data = first_json_object(reply)
    if not isinstance(data, dict) or not isinstance(data.get("concepts"), list):
        raise ValueError('the JSON has no "concepts" list')
    out, dropped, names = [], 0, set()
    for item in data["concepts"][:max_concepts]:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not item["name"].strip():
            raise ValueError("a concept has no name")
        spans = item.get("spans")
        if not isinstance(spans, list) or not all(isinstance(s, str) for s in spans):
            raise ValueError(f"concept {item['name']!r} has no list of span strings")
        pieces = set()
        for span in spans:
            span = span.strip()
            found = [(m.start(), m.end()) for m in re.finditer(re.escape(span), text, flags=re.IGNORECASE)
                     ] if span else []
            dropped += not found
            pieces.update(found)
        name = " ".join(item["name"].split())
        if pieces and name not in names:
            names.add(name)
            out.append(Concept(name, tuple(sorted(pieces))))
    if not out:
        raise ValueError("no concept has a span found in the text")
    return out, dropped


@EXTRACTORS.register("llm")
class LLMExtractor(Extractor):
    name = "llm"

    def __init__(self, extractor_model: Any = None, max_concepts: int = 6, retries: int = 2,
                 on_malformed: str = "error", fallback: str | dict = "clusters") -> None:
        if on_malformed not in ("error", "fallback"):
            raise InputError(f"on_malformed is 'error' or 'fallback'; got {on_malformed!r}")
        if int(retries) < 0 or int(max_concepts) < 1:
            raise InputError("retries must be at least 0 and max_concepts at least 1")
        fb = fallback.get("extractor") if isinstance(fallback, dict) else fallback
        if fb == "llm" or fb not in EXTRACTORS:
            others = ", ".join(n for n in EXTRACTORS.names() if n != "llm")
            raise InputError(f"the fallback is another extractor ({others}), as a name or "
                             f"{{'extractor': name, ...its options}}; got {fallback!r}")
        self.extractor_model = extractor_model
        self.max_concepts, self.retries = int(max_concepts), int(retries)
        self.on_malformed, self.fallback = on_malformed, fallback
        self.notes: dict[str, Any] = {}

    def ask(self, model: LanguageModel, prompt: str, cost: ExtractorCost) -> str:
        """The model's greedy reply, its first characters given (``PREFILL``: the reply starts as
        the JSON object asked for, which small models otherwise forget)."""
        reply, n_prompt, n_reply = chat_reply(model, prompt, MAX_REPLY_TOKENS, prefill=PREFILL)
        cost.add(n_prompt, n_reply)
        return reply

    def find(self, model: LanguageModel, text: str, template: str | None,
             cost: ExtractorCost) -> list[Concept]:
        explainer = load_chat_model(self.extractor_model)
        prompt = INSTRUCTION.format(max_concepts=self.max_concepts, text=text)
        errors, replies = [], []
        for _attempt in range(self.retries + 1):
            reply = self.ask(explainer, prompt + (RETRY.format(error=errors[-1]) if errors else ""), cost)
            replies.append(reply)
            try:
                concepts, dropped = parse_concepts(reply, text, self.max_concepts)
            except ValueError as exc:
                errors.append(str(exc))
                continue
            self.notes = {"extractor_model": explainer.info.model_id, "malformed_replies": len(errors),
                          "dropped_spans": dropped, "fell_back": False}
            return concepts
        self.notes = {"extractor_model": explainer.info.model_id, "malformed_replies": len(errors),
                      "errors": errors, "last_reply": replies[-1][:500], "fell_back": False}
        if self.on_malformed == "error":
            raise MalformedReplyError(f"the concept extractor {explainer.info.model_id} gave no usable JSON "
                                      f"in {len(errors)} replies (last: {errors[-1]})")
        fb = dict(self.fallback) if isinstance(self.fallback, dict) else {"extractor": self.fallback}
        name = fb.pop("extractor")
        self.notes["fell_back"] = name
        return EXTRACTORS.get(name).create(fb).find(model, text, template, cost)

    def recorded(self) -> dict[str, Any]:
        model = self.extractor_model
        return {"extractor_model": model.info.model_id if isinstance(model, LanguageModel) else model,
                "max_concepts": self.max_concepts, "retries": self.retries, "on_malformed": self.on_malformed,
                "fallback": self.fallback}
