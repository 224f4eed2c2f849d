"""Proxy explanations on SST-2: is SmolLM2-135M a faithful stand-in for Gemma 3 270M?

    .venv/bin/python benchmarks/proxy.py -n 50 --threads 1
    .venv/bin/python benchmarks/proxy.py -n 50 --summarize

Target: Gemma 3 270M; proxy: SmolLM2-135M-Instruct; the first 50 SST-2 dev sentences of 6-25 words
in the 4-shot sentiment template (zero-shot, this target answers "positive" to everything), contrast
target ' positive' vs ' negative', word features, KernelSHAP with budget 64 for both models.

Per sentence: the target-only explanation and the proxy's, each scored *on the target* (AOPC
comprehensiveness); the instance screen's decision (one call to each model). A proxy explanation
is "unfaithful" when q_proxy < 0.9 q_target. The task screen is whyllm's own ``screen_task`` run on
the same sentences in order (it stops as soon as its sequential test decides).

Reported: the cost reduction ratio in target calls (target-only / actual, the actual cost
counting the task screen, the instance screens and the fallbacks), the faithfulness kept (mean q of
the explanations actually returned over mean q of target-only ones, both on the target), and the
instance screen's precision and recall at catching unfaithful proxy explanations.
Per-sentence results go to benchmarks/results/proxy.jsonl (resumable); the verdict to
benchmarks/results/proxy-verdict.json.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from prompts import sst2_four_shot

RESULTS = Path(__file__).resolve().parent / "results"
STORE, VERDICT = RESULTS / "proxy.jsonl", RESULTS / "proxy-verdict.json"
BUDGET = 64


def run(cases, target, proxy) -> None:
    from whyllm.compose.proxy import (
        decision_on_full,
        explain_with_proxy,
        screen_task,
        target_comprehensiveness,
    )
    from whyllm.cost import CostMeter
    from whyllm.engine import explain_on

    done = (
        {json.loads(x)["case"] for x in STORE.read_text().splitlines() if x.strip()}
        if STORE.exists()
        else set()
    )
    for case in cases:
        if case.name in done:
            continue
        kw = {"template": case.template, "budget": BUDGET, "seed": 0, "features": "words"}
        e_t = explain_on(target, case.text, case.target, method="kernelshap", **kw)
        e_p = explain_with_proxy(
            case.text, case.target, model=target, proxy=proxy, method="kernelshap", force_proxy=True, **kw
        )
        meter = CostMeter()
        q_t, q_p = target_comprehensiveness(e_t, target, meter), target_comprehensiveness(e_p, target, meter)
        args = (case.text, e_t.target, case.template, "words", "delete", " _")
        t_dec, p_dec = (
            decision_on_full(target, *args, CostMeter()),
            decision_on_full(proxy, *args, CostMeter()),
        )
        rec = {
            "case": case.name,
            "target_calls": e_t.cost.sequences,
            "proxy_calls": e_p.fit.proxy_cost["sequences"],
            "q_target": q_t,
            "q_proxy": q_p,
            "target_decision": t_dec,
            "proxy_decision": p_dec,
            "agree": t_dec == p_dec,
        }
        with STORE.open("a") as fh:
            fh.write(json.dumps(rec) + "\n")
        print(f"{case.name}: q_t {q_t:.4f} q_p {q_p:.4f} agree {rec['agree']}", flush=True)
    if not VERDICT.exists():
        verdict = screen_task(
            [c.text for c in cases],
            cases[0].target,
            model=target,
            proxy=proxy,
            task="sst2-4shot",
            method="kernelshap",
            template=cases[0].template,
            budget=BUDGET,
            seed=0,
            save=VERDICT,
        )
        print(f"task screen: authorised={verdict.authorised} after {len(verdict.d)} inputs", flush=True)


def summarize(n: int) -> None:
    recs = [json.loads(x) for x in STORE.read_text().splitlines() if x.strip()][:n]
    v = json.loads(VERDICT.read_text()) if VERDICT.exists() else None
    q_t = np.array([r["q_target"] for r in recs])
    q_p = np.array([r["q_proxy"] for r in recs])
    agree = np.array([r["agree"] for r in recs])
    calls_t = np.array([r["target_calls"] for r in recs])
    unfaithful = q_p < 0.9 * q_t
    flagged = ~agree
    target_only = calls_t.sum()
    instance_cost = len(recs) + calls_t[flagged].sum()  # one screening call each + fallbacks
    task_cost = v["target_calls"] if v else 0
    authorised = bool(v and v["authorised"])
    actual = task_cost + (instance_cost if authorised else target_only)
    q_returned = np.where(agree, q_p, q_t) if authorised else q_t
    print(f"\n{len(recs)} SST-2 dev sentences (4-shot template), KernelSHAP budget {BUDGET}\n")
    print("| quantity | value |")
    print("|---|---:|")
    if v:
        print(
            f"| task screen | {'authorised' if authorised else 'not authorised'} after {len(v['d'])} "
            f"inputs (mean d {np.mean(v['d']):+.4f}, one-sided p {v['p_value']:.2g}); "
            f"{v['target_calls']} target calls |"
        )
    print(f"| instance screen: proxy and target agree | {agree.sum()} of {len(recs)} |")
    print(f"| target calls, target-only explanations | {target_only} |")
    print(f"| target calls with the proxy (task screen + instance screens + fallbacks) | {actual} |")
    print(f"| **cost reduction ratio** (target-only / actual) | **{target_only / actual:.2f}** |")
    print(
        f"| cost reduction ratio once the task is screened (instance screens + fallbacks) | "
        f"{target_only / instance_cost:.2f} |"
    )
    print(f"| mean AOPC comprehensiveness on the target: target-only | {q_t.mean():.4f} |")
    print(f"| same, proxy explanations (all sentences) | {q_p.mean():.4f} |")
    print(f"| same, explanations returned with the screens | {q_returned.mean():.4f} |")
    print(f"| **faithfulness kept** (returned / target-only) | **{q_returned.mean() / q_t.mean():.3f}** |")
    print(f"| unfaithful proxy explanations (q_proxy < 0.9 q_target) | {unfaithful.sum()} of {len(recs)} |")
    if flagged.any():
        print(
            f"| instance screen precision (flagged that are unfaithful) | "
            f"{(unfaithful & flagged).sum() / flagged.sum():.3f} "
            f"({(unfaithful & flagged).sum()}/{flagged.sum()}) |"
        )
    if unfaithful.any():
        print(
            f"| instance screen recall (unfaithful that are flagged) | "
            f"{(unfaithful & flagged).sum() / unfaithful.sum():.3f} |"
        )
    print(
        f"| base rate of unfaithful among agreeing sentences | "
        f"{(unfaithful & agree).sum() / max(agree.sum(), 1):.3f} |"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=50)
    ap.add_argument("--threads", type=int)
    ap.add_argument("--summarize", action="store_true")
    args = ap.parse_args()
    if not args.summarize:
        from whyllm.models import load_model

        target = load_model(threads=args.threads, cache=False)
        proxy = load_model("smollm2-135m-instruct", threads=args.threads, cache=False)
        run(sst2_four_shot(args.n), target, proxy)
    summarize(args.n)


if __name__ == "__main__":
    main()
