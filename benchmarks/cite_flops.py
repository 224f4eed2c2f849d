"""How much arithmetic each system's ablations take: the speed-up over ContextCite that exact
computation allows (issue 16).

    .venv/bin/python benchmarks/cite_flops.py [--sets 10docs,30docs] [-n N] [--budget 32]

For every prompt of ``benchmarks/cite.py`` on which both ContextCite and whyllm's LASSO
(``contextcite``) ran at the budget, this replays whyllm's method with the benchmark's seed (so the
same masks) against a recorder that scores nothing, builds the prefix tree the ``hf`` backend runs
(:class:`whyllm.models.plan.PrefixTree`) and counts floating-point operations from the model's
config: the linear layers at every computed position, attention at each position over the keys
before it (the last ``window`` for a sliding layer), and the output layer where a log-prob is read.
ContextCite 0.0.4 runs each ablation as one forward over the whole row with logits over the whole
vocabulary at every position (``model(**batch).logits``, batch 1); its rows are estimated from
whyllm's random rows of the same prompt (the same keep-probability of one half; the full and empty
inputs that whyllm scores besides are left out of the estimate). No model call is made.

The ratio of the two counts is the speed-up the two systems would show at the same arithmetic rate;
the measured speed-up and each system's effective rate (GFLOP/s, from the stored seconds) say how
far from that each one runs.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import cite as bench
from prompts import DATA

import whyllm
from whyllm.models import local_model_dir
from whyllm.models.base import ScoreRequest
from whyllm.models.plan import PrefixTree
from whyllm.tasks.retrieval import load_nq_open


class Arithmetic:
    """FLOPs of a decoder's pieces (multiply-adds count two), from a transformers config."""

    def __init__(self, config: dict) -> None:
        c = config.get("text_config", config)
        h, inter, heads, kv = (c["hidden_size"], c["intermediate_size"], c["num_attention_heads"],
                               c["num_key_value_heads"])
        hd = c.get("head_dim") or h // heads
        self.layers = c["num_hidden_layers"]
        per_layer = h * heads * hd + 2 * h * kv * hd + heads * hd * h + 3 * h * inter
        self.linear = 2 * per_layer * self.layers  # per position
        # what the last layer needs at a position no log-prob is read from: its keys and values only
        self.last_layer_spare = 2 * (per_layer - 2 * h * kv * hd)
        self.head = 2 * h * c["vocab_size"]  # per position whose logits are computed
        self.attn_unit = 4 * heads * hd  # per query position and key (scores, then values), per layer
        types = c.get("layer_types") or ["full_attention"] * self.layers
        self.n_sliding = sum(t == "sliding_attention" for t in types)
        self.window = c.get("sliding_window") or 0
        self.last_sliding = types[-1] == "sliding_attention"

    def attention(self, start: int, end: int) -> float:
        """Attention over the keys at positions ``start .. end - 1``, each seeing itself and all
        before it (the last ``window`` on sliding layers)."""
        pos = np.arange(start, end, dtype=np.float64) + 1
        full = pos.sum() * (self.layers - self.n_sliding)
        sliding = np.minimum(pos, self.window).sum() * self.n_sliding if self.window else 0.0
        return self.attn_unit * (full + sliding)

    def tree(self, requests: Sequence[ScoreRequest]) -> tuple[float, float, int]:
        """FLOPs of whyllm's prefix tree over ``requests``, the FLOPs that running the last layer
        only where a log-prob is read would save (its queries, attention, output projection and MLP
        elsewhere), and the computed positions."""
        tree = PrefixTree(list(dict.fromkeys(requests)))
        flops = spare = 0.0
        reads = 0
        for n in tree.nodes:
            flops += self.linear * len(n) + self.attention(n.start, n.end)
            read = sorted({n.start + o.offset for o in n.outputs})
            reads += len(read)
            others = np.setdiff1d(np.arange(n.start, n.end), read) + 1.0  # keys each one attends to
            keys = np.minimum(others, self.window) if self.last_sliding else others
            spare += self.last_layer_spare * len(others) + self.attn_unit * keys.sum()
        return flops + self.head * reads, spare, tree.tokens

    def full_row(self, length: int) -> float:
        """One plain forward over ``length`` tokens with logits at every position (ContextCite)."""
        return (self.linear + self.head) * length + self.attention(0, length)


def requests_of(case: dict, model, budget: int) -> list[ScoreRequest]:
    """The rows whyllm's ``contextcite`` method scores on ``case``: the method runs on a model whose
    ``score`` records its requests and returns zeros (the masks depend on the seed alone)."""
    seen: list[ScoreRequest] = []

    def record(requests, meter=None, progress=False):
        seen.extend(requests)
        return [np.zeros(len(r.continuation)) for r in requests]

    model.score = record
    whyllm.cite(case["docs"], case["query"], case["answer"], model=model, method="contextcite",
                budget=budget)
    return seen


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sets", default="10docs,30docs")
    ap.add_argument("-n", type=int, default=None)
    ap.add_argument("--budget", type=int, default=32)
    args = ap.parse_args()
    folder = local_model_dir(None)
    arith = Arithmetic(json.loads((folder / "config.json").read_text()))
    stored = {(r["case"], r["system"]): r["seconds"] for r in bench.load()}
    model = whyllm.load_model(cache=False, threads=1)
    records = load_nq_open(DATA / "nq_open" / "nq-open-oracle.jsonl.gz")
    ours, peer = f"whyllm contextcite {args.budget}", f"ContextCite {args.budget}"
    print(f"| set | prompts | row tokens | whyllm computed | whyllm GFLOP | ContextCite GFLOP | FLOP ratio "
          f"| ratio, last layer trimmed | measured speed-up | whyllm GFLOP/s | ContextCite GFLOP/s |"
          f"\n|---|{'---:|' * 10}")
    for set_name in args.sets.split(","):
        got = []
        for case in bench.cases(set_name, records)[:args.n]:
            key = case["case"]
            if (key, ours) not in stored or (key, peer) not in stored:
                continue
            reqs = list(dict.fromkeys(requests_of(case, model, args.budget)))
            mine, spare, computed = arith.tree(reqs)
            lengths = [len(r.prompt) + len(r.continuation) - 1 for r in reqs]
            random_rows = sorted(lengths)[1:-1]  # without the empty and the full input
            theirs = args.budget * float(np.mean([arith.full_row(n) for n in random_rows]))
            got.append((np.mean(random_rows), computed, mine, theirs, stored[key, ours], stored[key, peer],
                        mine - spare))
        if not got:
            continue
        a = np.array(got)
        ratio, trimmed = a[:, 3] / a[:, 2], a[:, 3] / a[:, 6]
        measured = a[:, 5] / a[:, 4]
        print(f"| {set_name} | {len(a)} | {a[:, 0].mean():.0f} | {a[:, 1].mean():.0f} "
              f"| {a[:, 2].mean() / 1e9:.0f} "
              f"| {a[:, 3].mean() / 1e9:.0f} | {np.median(ratio):.2f}x ({ratio.min():.2f}-{ratio.max():.2f}) "
              f"| {np.median(trimmed):.2f}x ({trimmed.min():.2f}-{trimmed.max():.2f}) "
              f"| {np.median(measured):.2f}x ({measured.min():.2f}-{measured.max():.2f}) "
              f"| {np.median(a[:, 2] / a[:, 4]) / 1e9:.1f} | {np.median(a[:, 3] / a[:, 5]) / 1e9:.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
