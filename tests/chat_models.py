"""A chat model whose replies are scripted (what an LLM explainer, narrator or extractor would say),
so the parsing, retries and checks around it have exact answers."""

from __future__ import annotations

from whyllm.models import ToyModel


class ScriptedChat(ToyModel):
    """Replies in order; every prompt it was given is kept, as the text it was encoded from (the
    toy tokenizer drops line breaks), in ``prompts``."""

    def __init__(self, replies, name: str = "scripted-chat"):
        super().__init__(lambda words: {}, name=name, cache=None)
        self.replies, self.prompts = list(replies), []
        self._texts: dict[tuple[int, ...], str] = {}

    def encode(self, text, add_special_tokens=True):
        enc = super().encode(text, add_special_tokens)
        self._texts[tuple(enc.ids)] = text
        return enc

    def generate(self, prompt, max_new_tokens, stop_at_newline=True):
        self.prompts.append(self._texts.get(tuple(prompt), self.decode(prompt)))
        return self.encode(self.replies.pop(0), add_special_tokens=False).ids

    def decode(self, ids):
        return self._texts.get(tuple(ids), super().decode(ids))
