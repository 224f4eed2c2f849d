"""Tables of ``benchmarks/results/throughput.jsonl`` (see ``throughput.py``)."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import numpy as np


def _load(store: Path) -> list[dict]:
    return [json.loads(x) for x in store.read_text().splitlines() if x.strip()] if store.exists() else []


def summarize(store: Path) -> None:
    recs = _load(store)
    by = {tuple(r["key"]): r for r in recs}
    groups = defaultdict(list)
    for r in recs:
        if r["system"] == "whyllm-float32":
            groups[r["length"], r["method"], r["budget"]].append(r)
    print("| prompt tokens | method | budget | prompts | whyllm s | sample tokens | computed tokens | tok/s "
          "| bound tok/s | ratio | naive s | ×naive | captum s | ×captum | contextcite s | ×cc | bf16 s "
          "| ×bf16 | bf16 top-3 same | bf16 max abs Δ | Δ vs unbatched | peak RSS GiB |")
    print("|" + "---:|" * 22)
    for (n, method, budget), rs in sorted(groups.items()):
        def paired(system: str, rs=rs) -> tuple[float, float, int]:
            pairs = [(r, by.get((r["case"], method, budget, system))) for r in rs]
            pairs = [(a, b) for a, b in pairs if b is not None]
            if not pairs:
                return float("nan"), float("nan"), 0
            return (float(np.mean([b["seconds"] for _, b in pairs])),
                    float(np.mean([b["seconds"] / a["seconds"] for a, b in pairs])), len(pairs))

        sec = np.mean([r["seconds"] for r in rs])
        tps = np.mean([r["tokens"] / r["seconds"] for r in rs])
        bound = np.mean([r["flops"]["computed_tokens"] / r["bound_seconds"] for r in rs])
        ratio = np.mean([r["bound_seconds"] / r["seconds"] for r in rs])
        naive, xnaive, nn = paired("naive")
        cap, xcap, nc = paired("captum")
        cc, xcc, ncc = paired("contextcite")
        bf, xbf, nb = paired("whyllm-bfloat16")
        same, worst, dun = [], 0.0, []
        for r in rs:
            b = by.get((r["case"], method, budget, "whyllm-bfloat16"))
            if b is not None:
                same.append(set(b["top3"]) == set(r["top3"]))
                worst = max(worst, float(np.max(np.abs(np.subtract(b["values"], r["values"])))))
            u = by.get((r["case"], method, budget, "unbatched"))
            if u is not None:
                dun.append(float(np.max(np.abs(np.subtract(u["values"], r["values"])))))
        ext = "*" if any(by.get((r["case"], method, budget, "naive"), {}).get("extrapolated") for r in rs) else ""
        rss = max(r["peak_rss"] for r in rs) / 2**30
        tokens = int(np.mean([r["prompt_tokens"] for r in rs]))
        print(f"| {tokens} | {method} | {budget or 'n+1'} | {len(rs)} | {sec:.1f} | "
              f"{np.mean([r['sample_tokens'] for r in rs]):.0f} | {np.mean([r['tokens'] for r in rs]):.0f} | "
              f"{tps:.0f} | {bound:.0f} | {ratio:.2f} | {naive:.1f}{ext} | {1 / xnaive if nn else float('nan'):.2f} "
              f"| {cap:.1f} | {1 / xcap if nc else float('nan'):.2f} ({nc}) | {cc:.1f} | "
              f"{1 / xcc if ncc else float('nan'):.2f} ({ncc}) | {bf:.1f} | {1 / xbf if nb else float('nan'):.2f} | "
              f"{sum(same)}/{len(same)} | {worst:.3g} | {max(dun) if dun else float('nan'):.2g} | {rss:.2f} |")
    print("\n×peer = peer seconds / whyllm float32 seconds, averaged per prompt (for bf16: float32 / bf16 "
          "seconds). ratio = FLOP-bound seconds / whyllm seconds. * naive timed on a subset of rows and "
          "extrapolated by tokens. (n) = prompts the peer ran on.")
