"""whyllm side by side with Captum, SHAP and LIME on the same model, prompts, words and budget.

    python benchmarks/peers.py --set sst2 --set counterfact --set sst2-4shot

Per method it reports, averaged over prompts: forward passes of the network, sequences scored,
wall seconds per explanation, AOPC comprehensiveness and sufficiency (probability units, all
scored by whyllm's own metric code on the same target), and stability over seeds (Kendall tau,
top-20% Jaccard). Every finished run is appended to benchmarks/results/<set>.jsonl, so a killed
benchmark resumes where it stopped; the summary goes to <set>.json and a Markdown table is
printed (``--summarize`` prints the tables of what is stored without running anything). The
number after a method's name is how many prompts it was run on.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from peer_methods import PlainForward, captum_values, lime_values, shap_values
from prompts import SETS

import whyllm
from whyllm.engine import objective_for
from whyllm.metrics import faithfulness, stability

WHYLLM = ["whyllm occlusion", "whyllm lime", "whyllm kernelshap"]
PEERS = ["captum FeatureAblation", "captum Lime", "captum KernelShap", "shap Partition", "lime LimeText"]
DETERMINISTIC = {"whyllm occlusion", "captum FeatureAblation"}


class PassCounter:
    """Counts forward passes and rows through the network body, whoever calls it."""

    def __init__(self, body) -> None:
        self.calls = self.rows = self.tokens = 0
        body.register_forward_pre_hook(self._hook, with_kwargs=True)

    def _hook(self, module, args, kwargs):
        x = kwargs.get("input_ids") if kwargs.get("input_ids") is not None else kwargs.get("inputs_embeds")
        if x is None and args:
            x = args[0]
        self.calls += 1
        self.rows += int(x.shape[0]) if x is not None else 1
        self.tokens += int(x.shape[0] * x.shape[1]) if x is not None else 0


def run_one(name: str, case, model, budget: int, seed: int, skeleton):
    hf, tok = model.model, model.tokenizer
    t0 = time.perf_counter()
    if name.startswith("whyllm"):
        # "whyllm-noprefix" is the same method with the shared-prefix key/value reuse switched off
        model.reuse_prefix = not name.startswith("whyllm-noprefix")
        try:
            exp = whyllm.explain(case.text, case.target, model=model, template=case.template,
                                 method=name.split()[1], features="words", budget=budget, seed=seed)
        finally:
            model.reuse_prefix = True
        values = np.asarray(exp.values)
    elif name.startswith("captum"):
        side = None
        if isinstance(case.target, tuple):
            side = case.target[0] if skeleton.full_value >= 0 else case.target[1]
        values = captum_values(name.split()[1], hf, tok, case, budget, seed, side)
    elif name.startswith("shap"):
        values = shap_values(PlainForward(hf, tok, case), case, budget, seed)
    else:
        values = lime_values(PlainForward(hf, tok, case), case, budget, seed)
    return values, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--set", action="append", choices=sorted(SETS), help="prompt set(s); default all")
    ap.add_argument("-n", type=int, default=20, help="prompts per set (default 20)")
    ap.add_argument("--budget", type=int, default=200)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--stability-prompts", type=int, default=None,
                    help="measure stability (all seeds) on the first K prompts only; default all")
    ap.add_argument("--methods", default=",".join(WHYLLM + PEERS), help="comma-separated subset")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "results"))
    ap.add_argument("--summarize", action="store_true", help="only print the tables of stored runs")
    ap.add_argument("--reverse", action="store_true",
                    help="take the prompts last first (a second process can share the same store)")
    args = ap.parse_args()
    methods = [m.strip() for m in args.methods.split(",")]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    model = None if args.summarize else whyllm.load_model(cache=False, threads=args.threads)
    for set_name in args.set or sorted(SETS):
        cases = SETS[set_name](args.n)
        store = out / f"{set_name}.jsonl"
        done = load_records(store, args.budget)
        if model is not None:
            run_set(set_name, cases, methods, args, model, store, done)
            done = load_records(store, args.budget)
        meta, summary = summarize(done, [c.name for c in cases], methods, args)
        meta["set"] = set_name
        (out / f"{set_name}.json").write_text(json.dumps({"meta": meta, "summary": summary}, indent=1))
        print(table(set_name, meta, summary))


def load_records(store: Path, budget: int) -> dict[tuple[str, str, int], dict]:
    """Finished runs of a set (a killed benchmark resumes after the last finished one)."""
    if not store.exists():
        return {}
    records = [json.loads(line) for line in store.read_text(encoding="utf-8").splitlines() if line.strip()]
    return {(r["case"], r["method"], r["seed"]): r for r in records if r["budget"] == budget}


def run_set(set_name, cases, methods, args, model, store: Path, done) -> None:
    counter = PassCounter(model.model.base_model)
    k_stab = len(cases) if args.stability_prompts is None else args.stability_prompts
    order = list(enumerate(cases))
    for ci, case in order[::-1] if args.reverse else order:
        if all((case.name, m, 0) in done for m in methods) and ci >= k_stab:
            continue
        done.update(load_records(store, args.budget))  # another process may have finished it
        skeleton = whyllm.explain(case.text, case.target, model=model, template=case.template,
                                  method="occlusion", features="words")
        objective = objective_for(skeleton, model)

        def prob(masks, objective=objective, target=skeleton.target):
            return np.array([target.probability(v) for v in objective(masks)])

        for m in methods:
            n_seeds = 1 if m in DETERMINISTIC or ci >= k_stab else args.seeds
            for seed in range(n_seeds):
                if (case.name, m, seed) in done:
                    continue
                c0, r0, t0 = counter.calls, counter.rows, counter.tokens
                values, secs = run_one(m, case, model, args.budget, seed, skeleton)
                # before scoring its faithfulness
                passes, seqs, tokens = counter.calls - c0, counter.rows - r0, counter.tokens - t0
                if len(values) != len(skeleton.features):
                    raise RuntimeError(f"{m}: {len(values)} values for {len(skeleton.features)} words")
                f = faithfulness(prob, replace(skeleton, values=tuple(map(float, values))).ranking())
                rec = {"case": case.name, "method": m, "seed": seed, "budget": args.budget,
                       "threads": __import__("torch").get_num_threads(), "values": [float(v) for v in values],
                       "passes": passes, "seqs": seqs, "tokens": tokens, "seconds": secs,
                       "comp": f.aopc_comprehensiveness, "suff": f.aopc_sufficiency,
                       "del": f.deletion_auc, "ins": f.insertion_auc}
                with open(store, "a", encoding="utf-8") as fh:
                    fh.write(json.dumps(rec) + "\n")
        print(f"[{set_name}] {ci + 1}/{len(cases)} {case.name} done", file=sys.stderr, flush=True)


def summarize(done, case_names, methods, args):
    summary, n_cases, n_stab = {}, set(), set()
    # only prompts every method has finished, so that all rows average over the same prompts
    complete = [c for c in case_names if all((c, m, 0) in done for m in methods)]
    # stability: only prompts every seeded method ran with every seed, so that every row's Kendall
    # tau and Jaccard average over the same prompts (deterministic methods: 1 by construction)
    seeded = [m for m in methods if m not in DETERMINISTIC]
    stab_cases = [c for c in complete if args.seeds > 1
                  and all((c, m, s) in done for m in seeded for s in range(args.seeds))]
    for m in methods:
        firsts = [done[(c, m, 0)] for c in complete]
        if not firsts:
            continue
        row = {k: float(np.mean([r.get(k, np.nan) for r in firsts]))
               for k in ("passes", "seqs", "tokens", "seconds", "comp", "suff", "del", "ins")}
        taus, jacs = [], []
        for c in stab_cases if m not in DETERMINISTIC else []:
            st = stability([done[(c, m, s)]["values"] for s in range(args.seeds)])
            taus.append(st["kendall_tau"])
            jacs.append(st["top_k_jaccard"])
            n_stab.add(c)
        if m in DETERMINISTIC:
            taus, jacs = [1.0], [1.0]
        row["tau"] = float(np.mean(taus)) if taus else float("nan")
        row["jac"] = float(np.mean(jacs)) if jacs else float("nan")
        row["n"] = len(firsts)
        n_cases.update(r["case"] for r in firsts)
        summary[m] = row
    threads = {r["threads"] for r in done.values()}
    meta = {"n": len(n_cases), "budget": args.budget, "seeds": args.seeds, "stability_prompts": len(n_stab),
            "threads": ",".join(map(str, sorted(threads))), "model": "gemma-3-270m-q4_k_m"}
    return meta, summary


def table(set_name: str, meta: dict, summary: dict) -> str:
    lines = [f"\n### {set_name}: {meta['n']} prompts, budget {meta['budget']}, stability over "
             f"{meta['seeds']} seeds on {meta['stability_prompts']} prompts, {meta['threads']} thread(s)\n",
             "| method | forward passes | sequences | tokens | seconds | AOPC comp ↑ | AOPC suff ↓ "
             "| del AUC ↓ | ins AUC ↑ | Kendall τ | top-k Jaccard |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for m, s in summary.items():
        tokens = "–" if np.isnan(s["tokens"]) else f"{s['tokens']:.0f}"
        lines.append(f"| {m} ({s['n']}) | {s['passes']:.1f} | {s['seqs']:.1f} | {tokens} "
                     f"| {s['seconds']:.2f} | {s['comp']:.3f} | {s['suff']:.3f} | {s['del']:.3f} "
                     f"| {s['ins']:.3f} | {s['tau']:.3f} | {s['jac']:.3f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
