"""Exact value tables: the explained value of every one of the 2^n coalitions of each prompt.

The ground truth of ``benchmarks/estimators.py`` (coverage, error at equal budget, auto budgets):
with the whole table, exact Shapley values and LIME's infinite-sample surrogate are computed
exactly, and every estimator then samples from the same memoised function (no more model calls).

Prompts: SST-2 dev sentences in the 4-shot template (contrast " positive" vs " negative"), the
first ``--sst`` whose word count is 5 to 12, and the first ``--facts`` CounterFact known facts of 5
to 12 words (log p of the attribute). One ``.npz`` per set under ``benchmarks/results/exact/``:
``values[i]`` holds the table of prompt i, coalition index = sum of 2^j over the kept features j.

    python benchmarks/exact_tables.py --sst 50 --facts 12
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from prompts import counterfact, sst2_four_shot

OUT = Path(__file__).resolve().parent / "results" / "exact"


def all_masks(n: int) -> np.ndarray:
    """Row i keeps feature j iff bit j of i is set."""
    idx = np.arange(2**n)
    return ((idx[:, None] >> np.arange(n)[None]) & 1).astype(bool)


def table(model, case, max_features: int, min_features: int):
    """(features, values of all 2^n coalitions, output columns of the full and empty input), or None
    when the prompt has a feature count outside the range."""
    from whyllm.cost import CostMeter
    from whyllm.engine import make_input, target_for
    from whyllm.objective import PromptObjective

    meter = CostMeter()
    inp = make_input(model, case.text, template=case.template, features="words", meter=meter)
    if not min_features <= inp.n_features <= max_features:
        return None
    tgt = target_for(model, inp, case.target, 5)
    objective = PromptObjective(model, inp, tgt, meter)
    masks = all_masks(inp.n_features)
    values = np.concatenate([objective.value(masks[i:i + 512]) for i in range(0, len(masks), 512)])
    return [f.text for f in inp.features], values, tgt.to_dict()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sst", type=int, default=50)
    ap.add_argument("--facts", type=int, default=12)
    ap.add_argument("--max-features", type=int, default=12)
    ap.add_argument("--min-features", type=int, default=5)
    args = ap.parse_args()
    import whyllm

    model = whyllm.load_model()
    OUT.mkdir(parents=True, exist_ok=True)
    sets = {"sst2-4shot": (sst2_four_shot(400), args.sst), "counterfact": (counterfact(200), args.facts)}
    for name, (cases, want) in sets.items():
        path = OUT / f"{name}.npz"
        names, feats, tables, targets = [], [], [], []
        t0 = time.time()
        for case in cases:
            if len(names) >= want:
                break
            got = table(model, case, args.max_features, args.min_features)
            if got is None:
                continue
            f, v, t = got
            names.append(case.name)
            feats.append(f)
            tables.append(v)
            targets.append(t)
            print(f"{name} {len(names)}/{want} {case.name} n={len(f)} {time.time() - t0:.0f}s", flush=True)
        # no texts: SST-2 states no license, so its sentences stay in ../shared/data (rebuilt by name)
        meta = {"model": model.info.model_id, "names": names, "n": [len(f) for f in feats],
                "targets": targets if name == "counterfact" else None,
                "note": "texts are not stored: rebuild them from ../shared/data with benchmarks/prompts.py"}
        np.savez_compressed(path, meta=json.dumps(meta), **{f"t{i}": v for i, v in enumerate(tables)})
        print(f"wrote {path}", flush=True)


if __name__ == "__main__":
    main()
