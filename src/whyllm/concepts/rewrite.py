"""``perturbation="rewrite"`` for concepts: a generator rewrites the text without the switched-off
concepts, as UnCLE realises concept assignments for text (arXiv 2410.12439), and a verifier checks it.

For a mask over the concepts, the generator (a chat model, greedy) is asked to rewrite the text so
that it no longer expresses the concepts switched off and still expresses the others. The verifier
(the extractor model by default) is then asked, concept by concept, whether the rewrite expresses
it (a yes/no question, greedy). A rewrite is *compliant* when every switched-off concept is judged
absent and every kept one present; the compliance rate is reported. What happens to a
non-compliant sample is the user's choice (``noncompliant``): ``"drop"`` gives it weight 0 in the
surrogate (LIME, KernelSHAP), ``"downweight"`` weighs it by the share of the verifier's checks it
passed. The full input (every concept on) is the text itself, and the empty one (every concept off)
is the generator's too.

Rewrites and verdicts are cached in SQLite (``rewrite_cache``: a path, ``True`` for the user cache,
``False`` for memory only), keyed by the model, its revision and the exact prompt, because they
are the expensive part; the cost of each model is counted apart from the target's.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from whyllm.errors import InputError
from whyllm.features.concepts import ConceptSet
from whyllm.models.base import LanguageModel
from whyllm.models.cache import default_cache_dir
from whyllm.models.chat import chat_reply, load_chat_model

GENERATE = ("Rewrite the text below so that it no longer expresses: {off}. Keep everything else the "
            "same, and keep expressing: {on}. Reply with the rewritten text only.\n\nText: {text}")
VERIFY = ("Does the text below express the concept \"{name}\" (as in: {examples})? Answer yes or no."
          "\n\nText: {text}")
NONCOMPLIANT = ("drop", "downweight")


class RewriteCache:
    """Rewrites and verdicts by key (SQLite on disk, or a dict in memory)."""

    def __init__(self, where: str | Path | bool | None = True) -> None:
        self._memory: dict[str, str] = {}
        self._db = None
        if where:
            path = default_cache_dir() / "rewrites.sqlite" if where is True else Path(where)
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(str(path), check_same_thread=False)
            self._db.execute("CREATE TABLE IF NOT EXISTS rewrites (key TEXT PRIMARY KEY, value TEXT)")
        self.hits = 0

    def get(self, key: str) -> str | None:
        if key in self._memory:
            self.hits += 1
            return self._memory[key]
        if self._db is not None:
            row = self._db.execute("SELECT value FROM rewrites WHERE key = ?", (key,)).fetchone()
            if row is not None:
                self.hits += 1
                self._memory[key] = row[0]
                return row[0]
        return None

    def put(self, key: str, value: str) -> None:
        self._memory[key] = value
        if self._db is not None:
            self._db.execute("INSERT OR REPLACE INTO rewrites VALUES (?, ?)", (key, value))
            self._db.commit()


def ask(model: LanguageModel, prompt: str, max_new_tokens: int) -> tuple[str, int, int]:
    """The model's greedy reply to ``prompt`` (as a chat turn when it has a chat template)."""
    reply, n_prompt, n_reply = chat_reply(model, prompt, max_new_tokens)
    return reply.strip(), n_prompt, n_reply


class Rewriter:
    """Realises concept masks as rewritten texts, verifies them, and counts each model's work."""

    def __init__(self, text: str, concepts: ConceptSet, generator: LanguageModel, verifier: LanguageModel,
                 noncompliant: str = "drop", cache: RewriteCache | None = None) -> None:
        if noncompliant not in NONCOMPLIANT:
            raise InputError(f"noncompliant is one of {', '.join(NONCOMPLIANT)}; got {noncompliant!r}")
        self.text, self.concepts = text, concepts
        self.generator, self.verifier = generator, verifier
        self.noncompliant = noncompliant
        self.cache = cache if cache is not None else RewriteCache(False)
        self.counts = {"generator_calls": 0, "generator_tokens": 0, "verifier_calls": 0, "verifier_tokens": 0,
                       "verifier_unparsed": 0}
        self._checks: dict[tuple[bool, ...], list[bool]] = {}
        self._texts: dict[tuple[bool, ...], str] = {}  # this run's rewrites (the cache spans runs)

    def _key(self, model: LanguageModel, prompt: str) -> str:
        return hashlib.sha256(json.dumps([model.model_id, model.revision, prompt]).encode()).hexdigest()

    def _cached_reply(self, model: LanguageModel, prompt: str, max_new_tokens: int, who: str) -> str:
        key = self._key(model, prompt)
        got = self.cache.get(key)
        if got is None:
            got, n_in, n_out = ask(model, prompt, max_new_tokens)
            self.counts[f"{who}_calls"] += 1
            self.counts[f"{who}_tokens"] += n_in + n_out
            self.cache.put(key, got)
        return got

    def rewrite(self, keep: np.ndarray) -> str:
        keep = np.asarray(keep, dtype=bool)
        if keep.all():
            return self.text
        key = tuple(bool(k) for k in keep)
        if key not in self._texts:
            self._texts[key] = self._rewrite(keep)
        return self._texts[key]

    def _rewrite(self, keep: np.ndarray) -> str:
        names = [c.name for c in self.concepts.concepts]
        off = ", ".join(f'"{names[i]}"' for i in np.flatnonzero(~keep))
        on = ", ".join(f'"{names[i]}"' for i in np.flatnonzero(keep)) or "nothing in particular"
        prompt = GENERATE.format(off=off, on=on, text=self.text)
        budget = 2 * len(self.generator.encode(self.text, add_special_tokens=False).ids) + 16
        return self._cached_reply(self.generator, prompt, budget, "generator") or " "

    def present(self, text: str, i: int) -> bool | None:
        c = self.concepts.concepts[i]
        examples = "; ".join(f'"{t}"' for t in c.texts(self.text)[:3])
        reply = self._cached_reply(self.verifier, VERIFY.format(name=c.name, examples=examples, text=text), 3,
                                   "verifier").lower()
        word = reply.split()[0].strip(".,!:;\"'") if reply.split() else ""
        if word not in ("yes", "no"):
            self.counts["verifier_unparsed"] += 1
            return None
        return word == "yes"

    def checks(self, keep: np.ndarray) -> list[bool]:
        """Per concept: did the rewrite do what the mask asks (absent when off, present when on)?"""
        key = tuple(bool(k) for k in keep)
        if key not in self._checks:
            if all(key):
                self._checks[key] = [True] * len(key)
            else:
                text = self.rewrite(np.array(key))
                self._checks[key] = [self.present(text, i) is k for i, k in enumerate(key)]
        return self._checks[key]

    def weight(self, keep: np.ndarray) -> float:
        ok = self.checks(keep)
        if self.noncompliant == "drop":
            return 1.0 if all(ok) else 0.0
        return sum(ok) / len(ok)

    def recorded(self) -> dict[str, Any]:
        verified = [v for k, v in self._checks.items() if not all(k)]
        compliant = sum(all(v) for v in verified)
        return {"rewrite": {
            "generator": self.generator.info.model_id, "verifier": self.verifier.info.model_id,
            "noncompliant": self.noncompliant, "samples_verified": len(verified), "compliant": compliant,
            "compliance": compliant / len(verified) if verified else None, "cache_hits": self.cache.hits,
            **self.counts}}


def rewriter_for(text: str, concepts: ConceptSet, generator: Any = None, verifier: Any = None,
                 noncompliant: str = "drop", rewrite_cache: str | Path | bool = True,
                 default_verifier: Any = None) -> ConceptSet:
    """``concepts`` with the rewriter that realises their masks on ``text``: ``generator`` and
    ``verifier`` are loaded models or specs (default SmolLM2-135M-Instruct; the verifier defaults to
    the extractor's model, then to the generator)."""
    gen = load_chat_model(generator)
    ver = load_chat_model(verifier if verifier is not None else
                               default_verifier if default_verifier is not None else gen)
    rewriter = Rewriter(text, concepts, gen, ver, noncompliant, RewriteCache(rewrite_cache))
    return replace(concepts, rewriter=rewriter)
