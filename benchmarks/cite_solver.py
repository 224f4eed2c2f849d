"""Does ContextCite's solver recipe explain its LDS? Refit on the cite benchmark's held-out ablations.

    .venv/bin/python benchmarks/cite_solver.py [--sets 30docs] [-n N] [--splits 200]

ContextCite 0.0.4's ``LassoRegression`` standardises the masks, divides the output by the number of
answer tokens, and regresses the logit of the answer's probability (log p - log(1 - p)); whyllm's
``contextcite`` method fits a plain LASSO (alpha 0.01, intercept) on the summed log-prob. For every
prompt of ``benchmarks/cite.py`` that ContextCite ran, this reads the 64 held-out ablations that
the benchmark's LDS uses (from its score cache, ``cite.scores.sqlite``; missing ones are scored),
splits them 32/32 at random ``--splits`` times, fits both ways (and the plain LASSO on the logit)
on one half and reports the Spearman correlation of the predictions with the other half's summed
log-probs: held-out LDS, with no new ablation drawn.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import cite as bench
from prompts import DATA

import whyllm
from whyllm.fits import NoFit
from whyllm.methods.base import METHODS, Attribution, Method
from whyllm.metrics.attribution_scores import ablation_masks
from whyllm.tasks.retrieval import load_nq_open

HELD_OUT: dict = {}


@METHODS.register("held-out-ablations")
class HeldOutAblations(Method):
    """Scores the LDS's 64 held-out masks (seed 314159) and keeps them; attributes nothing."""

    name = "held-out-ablations"

    def min_budget(self, n_features: int) -> int:
        return 0

    def attribute(self, objective, budget: int, rng: np.random.Generator) -> Attribution:
        masks = ablation_masks(objective.n_features, 64, 314159)
        y = np.asarray(objective.value(masks), dtype=np.float64)
        HELD_OUT.update(masks=masks.astype(np.float64), y=y, calls=objective.meter.sequences,
                        tokens=sum(len(i) for i in objective.target.ids))
        return Attribution(np.zeros(objective.n_features), 0.0, 0.0, NoFit())


def held_out_lds(x: np.ndarray, y: np.ndarray, tokens: int, splits: int, seed: int = 0) -> dict[str, float]:
    """Mean held-out Spearman of three fits over random 32/32 splits."""
    from scipy import stats
    from sklearn.linear_model import Lasso
    from sklearn.preprocessing import StandardScaler

    logit = y - np.log(-np.expm1(np.minimum(y, -1e-12)))
    rng = np.random.default_rng(seed)
    out = {"whyllm (log p)": 0.0, "plain LASSO on logit p": 0.0, "ContextCite's recipe": 0.0}
    half = len(y) // 2
    for _ in range(splits):
        p = rng.permutation(len(y))
        tr, te = p[:half], p[half:]
        for name, target in (("whyllm (log p)", y), ("plain LASSO on logit p", logit)):
            coef = Lasso(alpha=0.01, max_iter=10000).fit(x[tr], target[tr]).coef_
            out[name] += stats.spearmanr(x[te] @ coef, y[te]).statistic / splits
        scaler = StandardScaler().fit(x[tr])
        lasso = Lasso(alpha=0.01, random_state=0).fit(scaler.transform(x[tr]), logit[tr] / tokens)
        coef = lasso.coef_ / scaler.scale_
        out["ContextCite's recipe"] += stats.spearmanr(x[te] @ coef, y[te]).statistic / splits
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sets", default="30docs")
    ap.add_argument("-n", type=int, default=None, help="first N prompts ContextCite ran, per set")
    ap.add_argument("--splits", type=int, default=200)
    args = ap.parse_args()
    warnings.filterwarnings("ignore")  # sklearn's convergence notes on degenerate splits
    scorer = whyllm.load_model(dtype="float32", cache=bench.STORE.with_suffix(".scores.sqlite"), threads=1)
    records = load_nq_open(DATA / "nq_open" / "nq-open-oracle.jsonl.gz")
    ran = {r["case"] for r in bench.load() if r["system"].startswith("ContextCite")}
    results = []
    print("| prompt | " + " | ".join(["whyllm (log p)", "plain LASSO on logit p", "ContextCite's recipe"])
          + " | held-out rows scored now |")
    print("|---|---:|---:|---:|---:|")
    for set_name in args.sets.split(","):
        for case in [c for c in bench.cases(set_name, records) if c["case"] in ran][:args.n]:
            whyllm.cite(case["docs"], case["query"], case["answer"], model=scorer,
                        method="held-out-ablations", budget=0)
            r = held_out_lds(HELD_OUT["masks"], HELD_OUT["y"], HELD_OUT["tokens"], args.splits)
            results.append(r)
            cells = " | ".join(f"{v:.3f}" for v in r.values())
            print(f"| {case['case']} | {cells} | {HELD_OUT['calls']} |", flush=True)
    if results:
        means = " | ".join(f"{np.mean([r[k] for r in results]):.3f}" for k in results[0])
        print(f"| mean | {means} | |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
