"""Tables of ``benchmarks/results/throughput.jsonl`` (see ``throughput.py``)."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import numpy as np

HEADER = ("| prompt tokens | method | budget | prompts | whyllm s | sample tokens | computed tokens | tok/s "
          "| bound tok/s | ÷bound | naive s | ×naive | Captum s | ×Captum | ContextCite s | ×CC "
          "| bf16 s | ×bf16 | bf16 top-3 same | bf16 max abs Δ | Δ unbatched | peak RSS GiB |")


def _load(store: Path) -> list[dict]:
    return [json.loads(x) for x in store.read_text().splitlines() if x.strip()] if store.exists() else []


def _paired(by: dict, rs: list[dict], system: str) -> tuple[float, float, int]:
    """Mean seconds of ``system`` and mean (its seconds / whyllm's) over the prompts both ran."""
    pairs = [(r, by.get((r["case"], r["method"], r["budget"], system))) for r in rs]
    pairs = [(a, b) for a, b in pairs if b is not None and not b.get("per_sample_only")]
    if not pairs:
        return float("nan"), float("nan"), 0
    return (float(np.mean([b["seconds"] for _, b in pairs])),
            float(np.mean([b["seconds"] / a["seconds"] for a, b in pairs])), len(pairs))


def _row(by: dict, rs: list[dict]) -> str:
    method, budget = rs[0]["method"], rs[0]["budget"]
    naive, xnaive, _ = _paired(by, rs, "naive")
    cap, xcap, ncap = _paired(by, rs, "captum")
    cc, xcc, ncc = _paired(by, rs, "contextcite")
    bf, xbf, nbf = _paired(by, rs, "whyllm-bfloat16")
    same, worst, unbatched = [], 0.0, []
    for r in rs:
        b = by.get((r["case"], method, budget, "whyllm-bfloat16"))
        if b is not None:
            same.append(set(b["top3"]) == set(r["top3"]))
            worst = max(worst, float(np.max(np.abs(np.subtract(b["values"], r["values"])))))
        u = by.get((r["case"], method, budget, "unbatched"))
        if u is not None:
            unbatched.append(float(np.max(np.abs(np.subtract(u["values"], r["values"])))))
    extrapolated = [by.get((r["case"], method, budget, "naive"), {}).get("extrapolated") for r in rs]
    star = "*" if any(extrapolated) else ""
    cells = [
        f"{np.mean([r['prompt_tokens'] for r in rs]):.0f}", method, str(budget or "n+1"), str(len(rs)),
        f"{np.mean([r['seconds'] for r in rs]):.1f}", f"{np.mean([r['sample_tokens'] for r in rs]):.0f}",
        f"{np.mean([r['tokens'] for r in rs]):.0f}",
        f"{np.mean([r['tokens'] / r['seconds'] for r in rs]):.0f}",
        f"{np.mean([r['flops']['computed_tokens'] / r['bound_seconds'] for r in rs]):.0f}",
        f"{np.mean([r['bound_seconds'] / r['seconds'] for r in rs]):.2f}",
        f"{naive:.1f}{star}", f"{xnaive:.2f}", f"{cap:.1f}", f"{xcap:.1f} ({ncap})", f"{cc:.1f}",
        f"{xcc:.1f} ({ncc})", f"{bf:.1f}", f"{1 / xbf if nbf else float('nan'):.2f}",
        f"{sum(same)}/{len(same)}", f"{worst:.3g}", f"{max(unbatched) if unbatched else float('nan'):.2g}",
        f"{max(r['peak_rss'] for r in rs) / 2**30:.2f}",
    ]
    return "| " + " | ".join(c.replace("nan (0)", "–").replace("nan", "–") for c in cells) + " |"


def summarize(store: Path) -> None:
    recs = _load(store)
    by = {tuple(r["key"]): r for r in recs}
    groups = defaultdict(list)
    for r in recs:
        if r["system"] == "whyllm-float32" and r["length"] <= 4000:
            groups[r["length"], r["method"], r["budget"]].append(r)
    print(HEADER)
    print("|" + "---:|" * 22)
    for key in sorted(groups):
        print(_row(by, groups[key]))
    print("\n×peer = peer seconds / whyllm float32 seconds, averaged over the prompts both ran (n); ×bf16 = "
          "float32 seconds / bfloat16 seconds. ÷bound = FLOP-bound seconds / whyllm seconds. * naive timed "
          "on a subset of rows and extrapolated by tokens.")
    for r in recs:
        if r["length"] > 4000:
            print(f"\n{r['system']} occlusion over {r['n_features']} documents of a {r['prompt_tokens']}"
                  f"-token prompt: {r['seconds']:.0f} s, {r['tokens']} tokens computed of "
                  f"{r['sample_tokens']} in the samples, peak RSS {r['peak_rss'] / 2**30:.2f} GiB "
                  f"({r['threads']} thread(s)).")
    for r in (r for r in recs if r.get("per_sample_only")):
        mine = by.get((r["case"], r["method"], r["budget"], "whyllm-float32"))
        line = (f"\nCaptum at {r['prompt_tokens']} tokens: one full-logits forward takes "
                f"{r['seconds']:.1f} s (peak RSS {r['peak_rss'] / 2**30:.2f} GiB); LLMAttribution runs at "
                f"least one per sample")
        if mine is not None:
            samples = mine["n_features"] + 1
            line += (f", so its FeatureAblation over {mine['n_features']} features needs at least "
                     f"{samples * r['seconds']:.0f} s, {samples * r['seconds'] / mine['seconds']:.1f}x "
                     f"whyllm's {mine['seconds']:.0f} s")
        print(line + ".")
