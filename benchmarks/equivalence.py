"""Explanations before and after a refactor: compute a fixed set, or compare two sets.

    python benchmarks/equivalence.py --out before.jsonl [--gemma]
    python benchmarks/equivalence.py --compare before.jsonl after.jsonl

The set is every method on exact toy models (continuation and contrast targets, proxy and focus),
and with ``--gemma`` every method on the README's Gemma examples. ``--compare`` reports the largest
difference of values, base and full values per case, and fails above 1e-9 (toy) or 1e-6 (Gemma).
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings

import numpy as np

import whyllm
from whyllm.models import additive_model, planted_model

TOY_TEXT = "alpha beta gamma delta eps zeta"
TOY_W = {"alpha": 1.5, "beta": -2.0, "gamma": 0.25, "delta": 3.0, "eps": -0.75, "zeta": 0.4}
LONG_TOY = ("one two three. four five six. seven eight nine. ten alpha twelve. delta fourteen "
            "fifteen.")
EIFFEL = "The Eiffel Tower is located in the city of"
REVIEW = "the acting was superb, though the ending dragged."
SST = "Review: {text}\nSentiment (positive or negative):"
TOL = {"toy": 1e-9, "gemma": 1e-6}


def toy_cases():
    add = additive_model(TOY_W, bias=0.5, cache=None)
    planted = planted_model(["beta", "delta"], cache=None)
    proxy = additive_model({"alpha": 1.0, "delta": 1.0}, bias=0.5, cache=None)
    yield "toy/occlusion", dict(text=TOY_TEXT, target="yes", model=add, method="occlusion")
    yield "toy/kernelshap-exact", dict(text=TOY_TEXT, target="yes", model=add, budget=64)
    yield "toy/kernelshap-sampled", dict(text=TOY_TEXT, target="yes", model=add, budget=20, seed=3)
    yield "toy/kernelshap-contrast", dict(text=TOY_TEXT, target=("yes", "no"), model=add, budget=30)
    yield "toy/lime", dict(text=TOY_TEXT, target="yes", model=add, method="lime", budget=50, seed=1)
    yield "toy/lime-contrast", dict(text=TOY_TEXT, target=("yes", "no"), model=add, method="lime",
                                    budget=40)
    yield "toy/greedy", dict(text=TOY_TEXT, target=None, model=add, method="occlusion")
    yield "toy/anchors", dict(text=TOY_TEXT, target="yes", model=planted, method="anchors", budget=600)
    yield "toy/anchors-contrast", dict(text=TOY_TEXT, target=("yes", "no"), model=planted,
                                       method="anchors", budget=600)
    yield "toy/lore", dict(text=TOY_TEXT, target="yes", model=planted, method="lore", budget=400)
    yield "toy/proxy", dict(text=TOY_TEXT, target="yes", model=add, proxy=proxy, budget=64)
    yield "toy/focus", dict(text=LONG_TOY, target="yes", model=additive_model(TOY_W, cache=None),
                            method="focus", inner="kernelshap", coarse_budget=32, budget=40, keep=1)


def gemma_cases():
    # scores computed, not recalled; one thread: a different thread count moves float32 sums by ~1e-6
    model = whyllm.load_model(dtype="float32", cache=False, threads=1)
    for method in ("kernelshap", "lime", "occlusion"):
        yield f"gemma/eiffel-{method}", dict(text=EIFFEL, target=" Paris", model=model, method=method,
                                             budget=200 if method != "occlusion" else None)
        yield f"gemma/review-{method}", dict(text=REVIEW, target=(" positive", " negative"), model=model,
                                             method=method, template=SST)
    yield "gemma/eiffel-anchors", dict(text=EIFFEL, target=" Paris", model=model, method="anchors",
                                       perturbation="model-words")
    yield "gemma/eiffel-lore", dict(text=EIFFEL, target=" Paris", model=model, method="lore")


def record(name: str, exp: whyllm.Explanation) -> dict:
    return {"case": name, "values": list(exp.values), "base": exp.base_value, "full": exp.full_value,
            "method": exp.method, "params": exp.params, "target": exp.target.to_dict(),
            "fit": exp.fit.to_dict() if hasattr(exp.fit, "to_dict") else exp.fit}


def compute(out: str, gemma: bool) -> None:
    cases = list(toy_cases()) + (list(gemma_cases()) if gemma else [])
    with open(out, "w", encoding="utf-8") as f, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, kw in cases:
            text, target = kw.pop("text"), kw.pop("target")
            exp = whyllm.explain(text, target, **kw)
            f.write(json.dumps(record(name, exp)) + "\n")
            print(name, [round(v, 4) for v in exp.values], flush=True)


def compare(a: str, b: str) -> int:
    def load(p):
        return {r["case"]: r for r in map(json.loads, open(p, encoding="utf-8"))}

    before, after = load(a), load(b)
    worst = 0
    for name, r in before.items():
        if name not in after:
            print(f"{name}: missing after")
            worst = 1
            continue
        s = after[name]
        diff = max(np.max(np.abs(np.subtract(r["values"], s["values"]))), abs(r["base"] - s["base"]),
                   abs(r["full"] - s["full"]))
        ok = diff <= TOL[name.split("/")[0]]
        print(f"{name:28s} max |Δ| = {diff:.3g} {'ok' if ok else 'FAIL'}")
        worst |= not ok
    return worst


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out")
    ap.add_argument("--gemma", action="store_true")
    ap.add_argument("--compare", nargs=2)
    args = ap.parse_args()
    if args.compare:
        return compare(*args.compare)
    compute(args.out, args.gemma)
    return 0


if __name__ == "__main__":
    sys.exit(main())
