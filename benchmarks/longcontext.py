"""Long inputs: plain LIME vs LIME + focus vs LIME + proxy, on the same target model.

    .venv/bin/python benchmarks/longcontext.py --threads 2               # 30 kv records + 5 reviews
    .venv/bin/python benchmarks/longcontext.py --summarize

Target: Gemma 3 270M; proxy: SmolLM2-135M-Instruct. Two inputs sets, read from ../shared/data:

* **kv**: the first 30 records of "Lost in the Middle" key-value retrieval (Liu et al. 2023),
  trimmed to 6 of their 75 pairs (the gold pair and 5 others drawn with seed = record index), the
  gold pair at position ``index % 6``; one pair per line. The target is the first 8 characters of
  the gold value after "Corresponding value: \\"". Features are words (a key or a value with its
  punctuation); recall@5: the share of the gold pair's 2 words among the top 5.
* **review**: 5 long reviews, each 8 consecutive SST-2 dev sentences joined; contrast target
  ' positive' vs ' negative' in the sentiment template.

Methods, all with words as the reported features and scored with whyllm's ERASER code on the
target model:
* LIME: budget max(60, 2 x words) on the target;
* LIME + focus: coarse pass over lines/sentences (budget 9) on the proxy, or on the target when
  the instance screen finds that they disagree, then a fine pass on the target inside the 2 best
  units (fewer if their words do not fit); at most a quarter of plain LIME's budget in target calls
  in all (screen + coarse on the target + fine);
* LIME + proxy: the proxy samples with the plain budget when the instance screen lets it; else
  the target does.
Target calls are distinct sequences the target scored for the explanation (evaluation calls not
included). Results go to benchmarks/results/longcontext.jsonl (resumable).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from prompts import DATA, SST_TARGET, SST_TEMPLATE, _sst_rows

STORE = Path(__file__).resolve().parent / "results" / "longcontext.jsonl"
KV_TEMPLATE = ("Extract the value corresponding to the specified key in the JSON object below.\n\n"
               "JSON data:\n{text}\n\nKey: \"KEY\"\nCorresponding value: \"")
PAIRS = 6


def kv_cases(n: int = 30) -> list[dict]:
    out = []
    with open(DATA / "lost_in_the_middle_kv" / "kv-retrieval-75_keys.jsonl", encoding="utf-8") as fh:
        for i, line in zip(range(n), fh):
            rec = json.loads(line)
            others = [kv for kv in rec["ordered_kv_records"] if kv[0] != rec["key"]]
            rng = np.random.default_rng(i)
            pairs = [others[j] for j in sorted(rng.choice(len(others), PAIRS - 1, replace=False))]
            pairs.insert(i % PAIRS, [rec["key"], rec["value"]])
            text = "\n".join(f'"{k}": "{v}",' for k, v in pairs)
            out.append({"case": f"kv-{i}", "set": "kv", "text": text, "gold_pos": i % PAIRS,
                        "template": KV_TEMPLATE.replace("KEY", rec["key"]), "target": rec["value"][:8],
                        "gold_words": [f'"{rec["key"]}":', f'"{rec["value"]}",']})
    return out


def review_cases(n: int = 10, per: int = 8) -> list[dict]:
    rows = [s for s, _ in _sst_rows()]
    return [{"case": f"review-{i}", "set": "review", "text": " ".join(rows[i * per:(i + 1) * per]),
             "template": SST_TEMPLATE, "target": list(SST_TARGET), "gold_words": None}
            for i in range(n)]


def run_case(case: dict, method: str, target_model, proxy) -> dict:
    import whyllm

    target = tuple(case["target"]) if isinstance(case["target"], list) else case["target"]
    kw = {"template": case["template"], "seed": 0, "features": "words"}
    budget = max(60, 2 * len(case["text"].split()))  # plain LIME: at least 2 samples per word
    t0 = time.perf_counter()
    if method == "lime":
        exp = whyllm.explain(case["text"], target, model=target_model, method="lime", budget=budget, **kw)
    elif method == "lime+focus":
        exp = whyllm.explain(case["text"], target, model=target_model, proxy=proxy, method="focus",
                             inner="lime", coarse="sentences", keep=2, coarse_budget=9,
                             budget=budget // 4, **kw)
    else:
        exp = whyllm.explain(case["text"], target, model=target_model, proxy=proxy, method="lime",
                             budget=budget, **kw)
    seconds = time.perf_counter() - t0
    faith = whyllm.evaluate(exp, model=target_model)
    top5 = [exp.features[i].text for i in exp.ranking()[:5]]
    rec = {"case": case["case"], "set": case["set"], "method": method, "target_calls": exp.cost.sequences,
           "seconds": round(seconds, 2), "aopc_comprehensiveness": faith.aopc_comprehensiveness,
           "aopc_sufficiency": faith.aopc_sufficiency, "n_features": len(exp.features), "top5": top5,
           "samples_by": getattr(exp.fit, "samples_by", None), "screen": getattr(exp.fit, "screen", None),
           "proxy_calls": (getattr(exp.fit, "proxy_cost", None) or getattr(exp.fit, "coarse_cost", None)
                           or {}).get("sequences", 0)}
    if case["gold_words"]:
        rec["recall_at_5"] = sum(w in top5 for w in case["gold_words"]) / len(case["gold_words"])
        rec["focus_hit"] = (None if method != "lime+focus" else
                            any(case["gold_words"][0] in u for u in exp.fit.focus_units))
    return rec


def summarize() -> None:
    recs = [json.loads(x) for x in STORE.read_text().splitlines() if x.strip()] if STORE.exists() else []
    for name in ("kv", "review"):
        rows = [r for r in recs if r["set"] == name]
        if not rows:
            continue
        n = len({r["case"] for r in rows})
        print(f"\n### {name}: {n} inputs\n")
        print("| method | target calls | proxy calls | seconds | AOPC comprehensiveness | AOPC sufficiency |"
              + (" recall@5 of gold pair |" if name == "kv" else ""))
        print("|---|---:|---:|---:|---:|---:|" + ("---:|" if name == "kv" else ""))
        for m in ("lime", "lime+focus", "lime+proxy"):
            rs = [r for r in rows if r["method"] == m]
            if not rs:
                continue
            def avg(key: str, rs=rs) -> float:
                return float(np.mean([r[key] for r in rs]))

            line = (f"| {m} | {avg('target_calls'):.1f} | {avg('proxy_calls'):.1f} | {avg('seconds'):.1f} | "
                    f"{avg('aopc_comprehensiveness'):.4f} | {avg('aopc_sufficiency'):.4f} |")
            if name == "kv":
                line += f" {avg('recall_at_5'):.3f} |"
            print(line)
        by = {(r["case"], r["method"]): r for r in rows}
        cases = sorted({r["case"] for r in rows})
        both = [c for c in cases if (c, "lime") in by and (c, "lime+focus") in by]
        if both:
            d = np.array([by[c, "lime+focus"]["aopc_comprehensiveness"]
                          - by[c, "lime"]["aopc_comprehensiveness"] for c in both])
            ratio = (np.mean([by[c, "lime+focus"]["target_calls"] for c in both])
                     / np.mean([by[c, "lime"]["target_calls"] for c in both]))
            print(f"\nfocus - plain AOPC comprehensiveness: {d.mean():+.4f} (paired SE "
                  f"{d.std(ddof=1) / np.sqrt(len(d)) if len(d) > 1 else float('nan'):.4f}); focus uses "
                  f"{ratio:.3f} of plain LIME's target calls")
        px = [by[c, "lime+proxy"] for c in cases if (c, "lime+proxy") in by]
        if px:
            used = sum(r["samples_by"] != "gemma-3-270m-q4_k_m" for r in px)
            print(f"proxy used on {used} of {len(px)} inputs (instance screen)")
        hits = [r["focus_hit"] for r in rows if r.get("focus_hit") is not None]
        if hits:
            print(f"focus neighbourhood contains the gold pair on {sum(hits)} of {len(hits)} records")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int)
    ap.add_argument("--kv", type=int, default=30)
    ap.add_argument("--reviews", type=int, default=5)
    ap.add_argument("--summarize", action="store_true")
    args = ap.parse_args()
    if not args.summarize:
        from whyllm.models import load_model

        done = set()
        if STORE.exists():
            done = {(json.loads(x)["case"], json.loads(x)["method"]) for x in STORE.read_text().splitlines()
                    if x.strip()}
        target = load_model(threads=args.threads, cache=False)
        proxy = load_model("smollm2-135m-instruct", threads=args.threads, cache=False)
        for case in review_cases(args.reviews) + kv_cases(args.kv):
            for method in ("lime", "lime+focus", "lime+proxy"):
                if (case["case"], method) in done:
                    continue
                rec = run_case(case, method, target, proxy)
                with STORE.open("a") as fh:
                    fh.write(json.dumps(rec) + "\n")
                print(f"{case['case']} {method}: calls {rec['target_calls']} AOPC "
                      f"{rec['aopc_comprehensiveness']:.4f} recall@5 {rec.get('recall_at_5')} "
                      f"{rec['seconds']:.0f}s", flush=True)
    summarize()


if __name__ == "__main__":
    main()
