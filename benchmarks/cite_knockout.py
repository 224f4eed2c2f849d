"""Can an approximate ablation buy the 5x over ContextCite that exact ablations cannot? (issue 16)

    .venv/bin/python benchmarks/cite_knockout.py --threads 2 [-n 10] [--variants knockout,window]
    .venv/bin/python benchmarks/cite_knockout.py --summarize

Exact context ablation removes a document and recomputes every token after it; on 10 passages
that caps whyllm at ~4x ContextCite's arithmetic (``benchmarks/cite_flops.py``). The cheap
alternative is **attention knockout** (Geva, Bastings, Filippova & Globerson 2023, "Dissecting
Recall of Factual Associations in Auto-Regressive Language Models", who block attention edges
the same way): the context is computed once with every document, and per ablation only the tokens
after the context (the question and the answer) are recomputed, with their attention to the
removed documents' tokens blocked in every layer. A cached implementation would
run one context plus 32 short suffixes, ~8x fewer positions than whyllm's exact prefix tree.
Whether its attributions are worth having is a question of quality, measured here before any such
implementation:

* ``knockout``: positions unchanged, sliding-window layers see the same positions as with every
  document (the removed ones masked);
* ``window``: as ``knockout``, but in sliding-window layers the question and answer see the last
  ``window - 1`` *kept* tokens, as they would with the documents removed (their rotary positions
  stay those of the full prompt).

Same prompts (``benchmarks/cite.py``'s ``10docs``), same 30 random masks plus the full and empty
ones as whyllm's exact ``contextcite`` method at 32 ablations (seed 0), same LASSO; the knockout
values are computed here by masking a full forward (an experiment, so not timed), and the
attributions are scored exactly as ``cite.py`` scores them: top-k log-prob drop and LDS on the 64
held-out exact ablations. Rows go to ``benchmarks/results/cite_knockout.jsonl`` (resumable) and
the summary sets them beside the stored ``cite.jsonl`` rows of ContextCite and of whyllm's exact
LASSO on the same prompts.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cite import STORE as CITE_STORE
from cite import cases, scores
from prompts import DATA, read_jsonl

import whyllm
from whyllm.cite import SOURCES, context_prompt, read_context
from whyllm.engine import make_input
from whyllm.methods.contextcite import ContextCite
from whyllm.tasks.retrieval import load_nq_open

ROOT = Path(__file__).resolve().parents[1]
STORE = ROOT / "benchmarks" / "results" / "cite_knockout.jsonl"
BUDGET = 32
PEERS = ("ContextCite 32", "whyllm contextcite 32")


def knockout_values(hf, prompt: list[int], answer: list[int], groups: list[list[int]], q0: int,
                    masks: np.ndarray, variant: str, batch: int = 8) -> np.ndarray:
    """Summed answer log-prob per keep-mask, the tokens from ``q0`` on blind to removed sources."""
    seq = torch.tensor(prompt + answer[:-1])
    n_pos, window = len(seq), hf.config.sliding_window
    pos = torch.arange(n_pos)
    causal = pos[None, :] <= pos[:, None]
    sliding = causal & (pos[:, None] - pos[None, :] < window)
    after = pos >= q0
    neg = torch.finfo(torch.float32).min
    cap = getattr(hf.config, "final_logit_softcapping", None)
    out: list[float] = []
    for a in range(0, len(masks), batch):
        rows = masks[a:a + batch]
        hidden = torch.zeros(len(rows), n_pos, dtype=torch.bool)
        for r, keep in enumerate(rows):
            for f in np.flatnonzero(~keep):
                hidden[r, groups[f]] = True
        blocked = after[None, :, None] & hidden[:, None, :]  # (rows, query, key)
        if variant == "window":
            kept_at = torch.cumsum((~hidden).long(), 1)  # position once the removed tokens are gone
            near = (kept_at[:, :, None] - kept_at[:, None, :]) < window
            seen = torch.where(after[None, :, None], causal[None] & near, sliding[None])
        else:
            seen = sliding[None].expand(len(rows), -1, -1)
        masks4 = {"full_attention": torch.where(causal[None] & ~blocked, 0.0, neg)[:, None],
                  "sliding_attention": torch.where(seen & ~blocked, 0.0, neg)[:, None]}
        with torch.no_grad():
            h = hf.model(input_ids=seq[None].expand(len(rows), -1), attention_mask=masks4,
                         use_cache=False).last_hidden_state[:, len(prompt) - 1:]
            logits = hf.get_output_embeddings()(h).float()
            if cap:
                logits = torch.tanh(logits / cap) * cap
            lp = torch.log_softmax(logits, -1)[:, torch.arange(len(answer)), torch.tensor(answer)]
        out += lp.sum(-1).tolist()
    return np.asarray(out)


class KnockoutObjective:
    """What a method samples through (``n_features``, ``value(masks)``), with knockout values, so that
    whyllm's own ``contextcite`` method draws the masks and fits the LASSO as in the exact run."""

    def __init__(self, hf, prompt: list[int], answer: list[int], groups: list[list[int]], q0: int,
                 variant: str) -> None:
        self.hf, self.prompt, self.answer, self.groups, self.q0 = hf, prompt, answer, groups, q0
        self.variant, self.n_features = variant, len(groups)

    def value(self, masks: np.ndarray) -> np.ndarray:
        return knockout_values(self.hf, self.prompt, self.answer, self.groups, self.q0,
                               np.asarray(masks, dtype=bool), self.variant)


def run_case(case: dict, model, variant: str) -> dict:
    exp = whyllm.cite(case["docs"], case["query"], case["answer"], model=model, method="contextcite",
                      budget=BUDGET)  # the exact run: its target and its values
    text, template, _ = context_prompt(read_context(case["docs"]), case["query"])
    inp = make_input(model, text, template=template, features=SOURCES["documents"], perturbation="delete",
                     filler=" _", meter=None)
    answer = list(model.encode(case["answer"], add_special_tokens=False).ids)
    n = inp.n_features
    q0 = max(max(g) for g in inp.groups) + 1
    knockout = KnockoutObjective(model.model, list(inp.ids), answer, inp.groups, q0, variant)
    # the exact run's seed (cite's default 0): the same masks, the same fit, knockout values
    fit = ContextCite().attribute(knockout, BUDGET, np.random.default_rng(0))
    values = fit.values
    suffix = len(inp.ids) - q0 + len(answer) - 1
    row = {"case": case["case"], "variant": variant, "n_sources": n, "prompt_tokens": len(inp.ids),
           "full_gap": float(abs(fit.full_value - exp.full_value)),  # knockout with nothing removed is exact
           "values": values.tolist(), "exact_values": list(exp.values),
           "knockout_positions": q0 + BUDGET * suffix,
           "exact_positions": exp.cost.tokens,  # 0 where the score cache had the exact run
           **{f"exact_{k}": v for k, v in scores(case, exp, exp.values, model).items()},
           **scores(case, exp, values, model)}
    return row


def summarize() -> str:
    rows = read_jsonl(STORE)
    peers = {(r["case"], r["system"]): r for r in read_jsonl(CITE_STORE) if r["system"] in PEERS}
    # a case's later variants find its exact run in the score cache (0 positions): take its first
    exact = {r["case"]: max(q["exact_positions"] for q in rows if q["case"] == r["case"]) for r in rows}
    lines = ["| variant | prompts | positions vs exact | drop@1 ↑ | drop@3 ↑ | drop@5 ↑ | LDS ↑ | recall@1 "
             "| exact LASSO LDS | ContextCite LDS | LDS ≥ ContextCite's |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for variant in dict.fromkeys(r["variant"] for r in rows):
        rs = [r for r in rows if r["variant"] == variant and (r["case"], PEERS[0]) in peers]
        if not rs:
            continue
        cc = [peers[(r["case"], PEERS[0])]["lds"] for r in rs]
        m = {k: float(np.mean([r[k] for r in rs])) for k in ("drop1", "drop3", "drop5", "lds", "recall1",
                                                                 "exact_lds")}
        ratio = float(np.median([exact[r["case"]] / r["knockout_positions"] for r in rs]))
        wins = sum(r["lds"] >= c for r, c in zip(rs, cc))
        lines.append(f"| {variant} | {len(rs)} | {ratio:.1f}x fewer | {m['drop1']:.3f} | {m['drop3']:.3f} "
                     f"| {m['drop5']:.3f} | {m['lds']:.3f} | {m['recall1']:.2f} | {m['exact_lds']:.3f} "
                     f"| {np.mean(cc):.3f} | {wins} of {len(rs)} |")
    per = ["| prompt | variant | LDS ↑ | exact LASSO LDS | ContextCite LDS | top source (exact's) |",
           "|---|---|---:|---:|---:|---|"]
    per += [f"| {r['case']} | {r['variant']} | {r['lds']:.3f} | {r['exact_lds']:.3f} "
            f"| {peers[(r['case'], PEERS[0])]['lds']:.3f} | {int(np.argmax(r['values']))} "
            f"({int(np.argmax(r['exact_values']))}) |" for r in rows if (r["case"], PEERS[0]) in peers]
    return "\n".join([*lines, "", *per])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=10, help="first N prompts of the 10docs set")
    ap.add_argument("--variants", default="knockout,window")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--summarize", action="store_true")
    args = ap.parse_args()
    if args.summarize:
        print(summarize())
        return 0
    done = {(r["case"], r["variant"]) for r in read_jsonl(STORE)}
    # the exact runs and the held-out ablations are not timed here: a score cache shares them
    model = whyllm.load_model(dtype="float32", cache=STORE.with_suffix(".scores.sqlite"),
                              threads=args.threads)
    records = load_nq_open(DATA / "nq_open" / "nq-open-oracle.jsonl.gz")
    for case in cases("10docs", records)[:args.n]:
        for variant in args.variants.split(","):
            if (case["case"], variant) in done:
                continue
            row = run_case(case, model, variant)
            with open(STORE, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(row) + "\n")
            print(variant, case["case"], {k: round(v, 3) for k, v in row.items() if isinstance(v, float)},
                  flush=True)
    print(summarize())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
