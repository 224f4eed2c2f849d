"""Checked narration: a chat model tells an explanation in two or three sentences, and every claim
it makes is checked against the numbers.

People paste a saliency map into a chat model and trust the paragraph it writes. ``narrate(exp,
model=...)`` asks the model (greedy) for that paragraph, then extracts its claims with fixed
patterns (no second model call) and checks each one:

* a **feature** it names in quotes must be one of the explanation's features (an unquoted word
  counts when it is a feature of at least four letters and not a stop word); a quoted text that
  is the explained **output** itself (narrators copy "log p(' positive')") is supported, not a
  missing feature;
* a **direction** stated next to a feature ("supports", "pushes toward", "lowers", "against", ...)
  must match the sign of its value;
* a **rank** ("the most important", "second", "third", "least") must match its place in the
  ranking (by value, or by |value| for "important");
* a **number** said about faithfulness (AOPC, comprehensiveness, sufficiency) or cost (calls,
  samples, seconds) must match the stored value at the precision it is given.

Each sentence is *checked* (every claim holds), *contradicted* (some claim fails) or *uncheckable*
(no claim found). Cf. Kroeger et al. 2023 ("Are Large Language Models Post Hoc Explainers?") for
LLMs as explainers; here the LLM only narrates, and is held to the numbers.
"""

from __future__ import annotations

import html
import re
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from whyllm.errors import InputError
from whyllm.features.segmenters import SEGMENTERS
from whyllm.models.base import LanguageModel
from whyllm.models.chat import chat_reply

if TYPE_CHECKING:
    from whyllm.explanation import Explanation

POSITIVE = ("support", "supports", "supporting", "increase", "increases", "raise", "raises", "boost",
            "boosts", "push toward", "pushes toward", "pushes the model toward", "favor", "favors",
            "favour", "favours", "positive", "drives", "contributes positively", "in favor",
            "for the output")
NEGATIVE = ("oppose", "opposes", "opposing", "decrease", "decreases", "lower", "lowers", "reduce",
            "reduces", "against", "negative", "pushes away", "pulls away", "hurts", "counts against",
            "works against")
RANKS = {"most important": 1, "most influential": 1, "strongest": 1, "most": 1, "top": 1, "largest": 1,
         "biggest": 1, "first": 1, "second": 2, "third": 3, "least": -1}
STOP = frozenset({"the", "and", "for", "with", "that", "this", "from", "into", "over", "under", "have",
                  "been",
                  "were", "what", "which", "their", "there", "model", "output", "input", "text", "word",
                  "words", "feature", "features", "value", "values"})
METRIC_WORDS = {"aopc": "aopc_comprehensiveness", "comprehensiveness": "aopc_comprehensiveness",
                "sufficiency": "aopc_sufficiency"}
COST_WORDS = {"calls": "sequences", "samples": "sequences", "evaluations": "sequences", "seconds": "seconds"}
INSTRUCTION = ("Below is an explanation of why a language model produced an output: its input features "
               "ranked by their contribution (a positive value supports the output, a negative one "
               "opposes it). In two or three sentences, tell a user what made the model produce it. "
               "Put feature names in quotes.\n\n{facts}")


@dataclass(frozen=True)
class Claim:
    kind: str  # "feature", "direction", "rank", "metric", "cost"
    text: str
    status: str  # "supported" or "contradicted"
    detail: str


@dataclass(frozen=True)
class Sentence:
    text: str
    status: str  # "checked", "contradicted", "uncheckable"
    claims: tuple[Claim, ...]


@dataclass(frozen=True)
class Narration:
    text: str
    sentences: tuple[Sentence, ...]
    model: str
    prompt: str
    cost: dict[str, int] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        out = {"checked": 0, "contradicted": 0, "uncheckable": 0}
        for s in self.sentences:
            out[s.status] += 1
        return out

    def claims(self, status: str | None = None) -> list[Claim]:
        return [c for s in self.sentences for c in s.claims if status is None or c.status == status]

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "counts": self.counts()}

    def print(self, console=None) -> None:
        from rich.console import Console
        from rich.text import Text

        console = console or Console()
        marks = {"checked": ("✓", "green"), "contradicted": ("✗", "bold red"), "uncheckable": ("?", "yellow")}
        for s in self.sentences:  # model text as Text, never as markup
            mark, style = marks[s.status]
            console.print(Text(mark + " ", style=style) + Text(s.text))
            for c in s.claims:
                if c.status == "contradicted":
                    console.print(Text("    contradicted: ", style="red") + Text(c.detail))
        n = self.counts()
        console.print(Text(f"{n['checked']} checked · {n['contradicted']} contradicted · "
                           f"{n['uncheckable']} uncheckable sentences ({self.model})"))

    def to_html(self) -> str:
        colors = {"checked": "#e6f4e6", "contradicted": "#fbe3e0", "uncheckable": "#f4f4f4"}
        parts = []
        for s in self.sentences:
            notes = "; ".join(c.detail for c in s.claims if c.status == "contradicted")
            title = f' title="{html.escape(notes, quote=True)}"' if notes else ""
            parts.append(f'<span class="narr {s.status}" style="background:{colors[s.status]}"{title}>'
                         f"{html.escape(s.text)}</span>")
        n = self.counts()
        return (f'<div class="whyllm-narration"><p>{" ".join(parts)}</p><p><small>{n["checked"]} checked, '
                f'{n["contradicted"]} contradicted, {n["uncheckable"]} uncheckable · '
                f"{html.escape(self.model)}</small></p></div>")


def facts(exp: Explanation, top: int = 8) -> str:
    """The numbers the narrator is given (and held to)."""
    lines = [f"Output explained: {exp.target.describe()}"]
    for rank, i in enumerate(exp.ranking()[:top], start=1):
        lines.append(f"{rank}. '{exp.features[i].text}': {exp.values[i]:+.3f}")
    if exp.metrics:
        for key in ("aopc_comprehensiveness", "aopc_sufficiency"):
            if key in exp.metrics:
                lines.append(f"{key.replace('_', ' ')}: {exp.metrics[key]:.3f}")
    lines.append(f"cost: {exp.cost.sequences} model calls, {exp.cost.seconds:.1f} seconds")
    return "\n".join(lines)


def _norm(text: str) -> str:
    return re.sub(r"^\W+|\W+$", "", text.strip().lower())


def _decimals(number: str) -> int:
    return len(number.split(".")[1]) if "." in number else 0


def check_sentence(exp: Explanation, sentence: str) -> Sentence:
    low = sentence.lower()
    names = {}
    for i, f in enumerate(exp.features):
        names.setdefault(_norm(f.text), i)
    order = list(exp.ranking())
    by_abs = sorted(range(len(exp.values)), key=lambda i: -abs(exp.values[i]))
    claims: list[Claim] = []
    mentioned: list[tuple[int, int]] = []  # (feature index, position in the sentence)
    outputs = {_norm(t) for t in exp.target.texts}
    for m in re.finditer(r"[\"'‘“]([^\"'’”]{1,40})[\"'’”]", sentence):
        key = _norm(m.group(1))
        if key in outputs and key not in names:  # the explained output named, as in "log p(' positive')"
            claims.append(Claim("output", m.group(0), "supported", f"{m.group(1)!r} is the explained output"))
        elif key in names:
            mentioned.append((names[key], m.start()))
            claims.append(Claim("feature", m.group(0), "supported", f"{m.group(1)!r} is a feature"))
        elif key:
            claims.append(Claim("feature", m.group(0), "contradicted", f"{m.group(1)!r} is not a feature"))
    for key, i in names.items():
        if len(key) >= 4 and key not in STOP and not any(j == i for j, _ in mentioned):
            m = re.search(rf"(?<!\w){re.escape(key)}(?!\w)", low)
            if m:
                mentioned.append((i, m.start()))
                claims.append(Claim("feature", key, "supported", f"{key!r} is a feature"))
    mentioned.sort(key=lambda t: t[1])
    for n, (i, at) in enumerate(mentioned):  # the words after a mention, up to the next one, speak of it
        end = mentioned[n + 1][1] if n + 1 < len(mentioned) else len(low)
        window = low[max(0, at - 40):end] if n == 0 else low[at:end]
        name, value = exp.features[i].text, exp.values[i]
        for word, sign in [*((w, 1) for w in POSITIVE), *((w, -1) for w in NEGATIVE)]:
            if re.search(rf"(?<!\w){re.escape(word)}(?!\w)", window):
                ok = (value > 0) == (sign > 0)
                claims.append(Claim("direction", word, "supported" if ok else "contradicted",
                                    f"{name!r} {'supports' if value > 0 else 'opposes'} the output "
                                    f"(value {value:+.3f}); the text says {word!r}"))
                break
        for word, rank in RANKS.items():
            if re.search(rf"(?<!\w){re.escape(word)}(?!\w)", window):
                place = order.index(i) + 1
                abs_place = by_abs.index(i) + 1
                want = len(order) if rank == -1 else rank
                ok = place == want or (abs_place == want and rank != -1)
                claims.append(Claim("rank", word, "supported" if ok else "contradicted",
                                    f"{name!r} ranks {place} of {len(order)} (by |value|: {abs_place}); "
                                    f"the text says {word!r}"))
                break
    for m in re.finditer(r"(\d+(?:\.\d+)?)", sentence):
        said, places = float(m.group(1)), _decimals(m.group(1))
        cost_word = next((key for word, key in COST_WORDS.items()
                          if re.match(rf"\s+(?:\w+\s+)?{word}(?!\w)", low[m.end():])), None)
        if cost_word is not None:  # "64 model calls", "12.3 seconds"
            true = float(getattr(exp.cost, cost_word))
            slack = 0.05 * true if cost_word == "seconds" else 0.0  # seconds are rounded loosely
            ok = abs(round(true, places) - said) <= max(10 ** -places / 2, slack) + 1e-9
            claims.append(Claim("cost", m.group(0), "supported" if ok else "contradicted",
                                f"cost {cost_word} is {true:g}; the text says {m.group(0)}"))
            continue
        before, near = low[max(0, m.start() - 40):m.start()], low[max(0, m.start() - 40):m.end() + 40]
        key = next((k for word, k in METRIC_WORDS.items() if word in before and k in exp.metrics), None)
        if key is not None and "sufficiency" in near and "aopc_sufficiency" in exp.metrics:
            key = "aopc_sufficiency"  # the more specific word wins
        if key is not None:  # "an AOPC comprehensiveness of 0.43"
            true = float(exp.metrics[key])
            ok = abs(round(true, places) - said) <= 10 ** -places / 2 + 1e-9
            claims.append(Claim("metric", m.group(0), "supported" if ok else "contradicted",
                                f"{key} is {true:.4f}; the text says {m.group(0)}"))
    status = ("uncheckable" if not claims else
              "contradicted" if any(c.status == "contradicted" for c in claims) else "checked")
    return Sentence(sentence.strip(), status, tuple(claims))


def check_narration(exp: Explanation, text: str, model_id: str = "", prompt: str = "",
                    cost: dict | None = None) -> Narration:
    """Split ``text`` into sentences and check each one's claims against ``exp``."""
    spans = SEGMENTERS.get("sentences")(text) or [(0, len(text))]
    sentences = tuple(check_sentence(exp, text[s:e]) for s, e in spans if text[s:e].strip())
    return Narration(text.strip(), sentences, model_id, prompt, dict(cost or {}))


def narrate(exp: Explanation, model: LanguageModel, max_new_tokens: int = 160, retries: int = 1) -> Narration:
    """Ask ``model`` (greedy) for a short account of ``exp``, then check every claim in it."""
    if not isinstance(model, LanguageModel):
        raise InputError("narrate needs a chat model (whyllm.load_model('smollm2-135m-instruct'), say)")
    prompt = INSTRUCTION.format(facts=facts(exp))
    asked = prompt if getattr(getattr(model, "tokenizer", None), "chat_template", None) else (
        prompt + "\n\nAnswer:")
    cost = {"calls": 0, "prompt_tokens": 0, "generated_tokens": 0}
    text = ""
    for _ in range(retries + 1):
        reply, n_prompt, n_reply = chat_reply(model, asked, max_new_tokens)
        cost["calls"] += 1
        cost["prompt_tokens"] += n_prompt
        cost["generated_tokens"] += n_reply
        text = reply.strip()
        if text:
            break
    if not text:
        raise InputError(f"{model.model_id} gave an empty narration")
    return check_narration(exp, text, model.info.model_id, prompt, cost)
