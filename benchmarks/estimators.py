"""Shapley and LIME estimators against the truth: interval coverage, error at equal budget, and
``budget="auto"``, on real Gemma value tables.

Every estimator samples the same memoised function: the exact table of all 2^n coalition values
of each prompt (``benchmarks/exact_tables.py``, Gemma 3 270M; SST-2 dev in the 4-shot template,
contrast " positive" vs " negative"; CounterFact known facts, log p of the attribute), so no model
is called here and every method sees the same values.

* ``coverage``: at budgets 2n, 4n, 8n over 10 seeds, how often the 95 % intervals of whyllm's
  KernelSHAP hold the exact Shapley value and LIME's hold the exact infinite-sample LIME surrogate,
  per (prompt, feature, seed).
* ``error``: relative L2 error to exact Shapley, Kendall tau to exact, top-3 set agreement and
  seed-to-seed tau at 2n, 4n, 8n for whyllm's designs (c-kernel, the default; kernel, the design
  before; Leverage SHAP with and without c-weights), regression-adjusted Monte Carlo with trees,
  shap's KernelExplainer, and shapiq's KernelSHAP (plain and paired), kADD-SHAP, SVARM, stratified
  and permutation sampling.
* ``auto``: ``budget="auto"`` on the SST-2 prompts, 5 seeds, KernelSHAP and LIME: how often a
  top-3 set declared certain is the exact one, how often the top 3 is declared certain, whether
  the seeds agree, the model calls and the stopping reasons.

    python benchmarks/estimators.py                 # all three, tables to stdout
    python benchmarks/estimators.py --part coverage --seeds 10
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from collections import Counter
from itertools import combinations
from pathlib import Path

import numpy as np
from scipy.stats import kendalltau

sys.path.insert(0, str(Path(__file__).resolve().parent))
from table_game import Table, TableObjective, exact_lime, exact_shapley, index_of

from whyllm.methods.kernelshap import KernelShap
from whyllm.methods.lime import Lime
from whyllm.methods.stopping import AutoBudget, run_auto

MULTS = (2, 4, 8)


def covered(unc, truth) -> tuple[int, int, int]:
    """(features covered, features with a finite interval, features with an unknown error)."""
    finite = np.isfinite(unc.stderr)
    ok = (unc.low <= truth + 1e-9) & (truth <= unc.high + 1e-9)
    return int((ok & finite).sum()), int(finite.sum()), int((~finite).sum())


def part_coverage(tables: dict[str, list[Table]], seeds: int) -> str:
    rows = ["| set | method | budget | covered | finite intervals | unknown (too few samples) | "
            "mean half-width / |full - base| |", "|---|---|---:|---:|---:|---:|---:|"]
    total: dict[tuple[str, int], list[int]] = {}
    for set_name, tabs in tables.items():
        for label, make, truth_of in (("kernelshap", lambda: KernelShap(), exact_shapley),
                                      ("lime", lambda: Lime(), exact_lime)):
            truths = [truth_of(t) for t in tabs]
            for mult in MULTS:
                hit = fin = unk = 0
                widths = []
                for t, truth in zip(tabs, truths):
                    scale = abs(t.values[-1] - t.values[0]) or 1.0
                    for seed in range(seeds):
                        a = make().attribute(TableObjective(t), mult * t.n, np.random.default_rng(seed))
                        h, f, u = covered(a.uncertainty, truth)
                        hit, fin, unk = hit + h, fin + f, unk + u
                        half = (a.uncertainty.high - a.uncertainty.low) / 2
                        widths.extend(half[np.isfinite(half)] / scale)
                acc = total.setdefault((label, mult), [0, 0, 0])
                acc[0], acc[1], acc[2] = acc[0] + hit, acc[1] + fin, acc[2] + unk
                width = np.mean(widths) if widths else float("nan")
                rows.append(f"| {set_name} ({len(tabs)}) | {label} | {mult}n | "
                            f"{hit / max(fin, 1):.1%} | {fin} | {unk} | {width:.3f} |")
    for (label, mult), (hit, fin, unk) in sorted(total.items()):
        rows.append(f"| all | {label} | {mult}n | **{hit / max(fin, 1):.1%}** | {fin} | {unk} | |")
    return "\n".join(rows)


# --- the estimators of the error table ---------------------------------------------------------
def whyllm_estimate(design: str):
    def run(t: Table, budget: int, seed: int) -> np.ndarray:
        return KernelShap(design).attribute(TableObjective(t), budget, np.random.default_rng(seed)).values
    return run


def shap_estimate(t: Table, budget: int, seed: int) -> np.ndarray:
    import shap

    def f(x):
        return t.values[index_of(np.asarray(x) > 0.5)]

    np.random.seed(seed)  # shap's KernelExplainer samples from numpy's global generator
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ex = shap.KernelExplainer(f, np.zeros((1, t.n)), silent=True)
        return np.asarray(ex.shap_values(np.ones((1, t.n)), nsamples=budget - 2, silent=True))[0]


def shapiq_estimate(name: str, **kw):
    def run(t: Table, budget: int, seed: int) -> np.ndarray:
        from shapiq import approximator as A

        def game(coalitions):
            return t.values[index_of(np.atleast_2d(coalitions))]

        approx = getattr(A, name)(n=t.n, random_state=seed, **kw)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            iv = approx.approximate(budget=budget, game=game)
        return np.asarray(iv.get_n_order_values(1), dtype=np.float64)
    return run


def regression_adjusted(t: Table, budget: int, seed: int) -> np.ndarray:
    """Regression-adjusted Monte Carlo (Witter et al. 2025), tried here and not in whyllm: gradient
    boosted trees fitted on the kernel design's coalitions, their exact Shapley values (over all 2^n
    coalitions of the trees, no model call), plus KernelSHAP's estimate of the residual's."""
    from sklearn.ensemble import GradientBoostingRegressor
    from table_game import all_masks

    from whyllm.methods.kernelshap import solve_constrained
    from whyllm.methods.shapley_design import PairStream, build, shares

    n, obj = t.n, TableObjective(t)
    design = build(n, budget - 2, "kernel", PairStream(n, shares(n, "kernel"), np.random.default_rng(seed)))
    z, w = design.rows()
    y = obj.value(z)
    ends = np.array([np.ones(n, dtype=bool), np.zeros(n, dtype=bool)])
    full, base = obj.value(ends)
    x = np.vstack([z, ends]).astype(float)
    g = GradientBoostingRegressor(n_estimators=100, max_depth=3, random_state=seed)
    g.fit(x, np.r_[y, full, base])
    phi_g = exact_shapley(Table("trees", t.features, g.predict(all_masks(n).astype(float))))
    g_full, g_base = g.predict(ends.astype(float))
    return phi_g + solve_constrained(z, y - g.predict(z.astype(float)), w, base - g_base, full - g_full)


ESTIMATORS = {
    "whyllm c-kernel (new default)": whyllm_estimate("ckernel"),
    "whyllm kernel (before)": whyllm_estimate("kernel"),
    "whyllm Leverage SHAP": whyllm_estimate("leverage"),
    "whyllm Leverage SHAP, c-weights": whyllm_estimate("leverage-c"),
    "regression-adjusted MC (trees; tried, not in whyllm)": regression_adjusted,
    "shap KernelExplainer": shap_estimate,
    "shapiq KernelSHAP": shapiq_estimate("KernelSHAP", pairing_trick=False),
    "shapiq KernelSHAP paired": shapiq_estimate("KernelSHAP", pairing_trick=True),
    "shapiq kADD-SHAP": shapiq_estimate("kADDSHAP"),
    "shapiq SVARM": shapiq_estimate("SVARM"),
    "shapiq stratified": shapiq_estimate("StratifiedSamplingSV"),
    "shapiq permutation": shapiq_estimate("PermutationSamplingSV"),
}


def top3(v: np.ndarray) -> frozenset:
    return frozenset(np.argsort(-v, kind="stable")[:3].tolist())


def tau(a, b) -> float:
    t = kendalltau(a, b).statistic
    return 0.0 if np.isnan(t) else float(t)


def part_error(tables: dict[str, list[Table]], seeds: int) -> str:
    tabs = [t for ts in tables.values() for t in ts]
    truths = [exact_shapley(t) for t in tabs]
    rows = ["| budget | estimator | rel. L2 error | tau to exact | top-3 exact | seed-to-seed tau | failed |",
            "|---:|---|---:|---:|---:|---:|---:|"]
    for mult in MULTS:
        for label, run in ESTIMATORS.items():
            err, taus, tops, seed_taus, failed = [], [], [], [], 0
            for t, truth in zip(tabs, truths):
                ests = []
                for seed in range(seeds):
                    try:
                        est = run(t, mult * t.n, seed)
                    except Exception:  # a peer that cannot run at this budget
                        failed += 1
                        continue
                    if est.shape != truth.shape or not np.all(np.isfinite(est)):
                        failed += 1
                        continue
                    ests.append(est)
                    err.append(np.linalg.norm(est - truth) / np.linalg.norm(truth))
                    taus.append(tau(est, truth))
                    tops.append(top3(est) == top3(truth))
                seed_taus.extend(tau(a, b) for a, b in combinations(ests, 2))
            rows.append(f"| {mult}n | {label} | {np.mean(err):.3f} | {np.mean(taus):.3f} | "
                        f"{np.mean(tops):.0%} | {np.mean(seed_taus):.3f} | {failed} |")
    return "\n".join(rows)


RULE = AutoBudget()


def part_auto(tables: dict[str, list[Table]], seeds: int) -> str:
    tabs = tables["sst2-4shot"]
    out = []
    for label, make, truth_of in (("kernelshap", lambda: KernelShap(), exact_shapley),
                                  ("lime", lambda: Lime(), exact_lime)):
        declared = right = 0
        calls, reasons, agree, disagree = [], Counter(), 0, []
        gaps_agree, gaps_disagree = [], []
        for t in tabs:
            truth = truth_of(t)
            ref = top3(truth)
            ordered = np.sort(truth)[::-1]
            gap = float(ordered[2] - ordered[3]) if len(ordered) > 3 else float("inf")
            sets = []
            for seed in range(seeds):
                obj = TableObjective(t)
                res, _ = run_auto(make(), obj, RULE, np.random.default_rng(seed))
                stop = res.uncertainty.record["stopping"]
                calls.append(obj.evaluations)
                reasons[stop["reason"]] += 1
                sets.append(top3(res.values))
                if res.uncertainty.top_sets and len(res.uncertainty.top_sets) >= 3 and \
                        res.uncertainty.top_sets[2] >= 0.95:
                    declared += 1
                    right += top3(res.values) == ref
            if len(set(sets)) == 1:
                agree += 1
                gaps_agree.append(gap)
            else:
                disagree.append(f"{t.name} ({gap:.3f})")
                gaps_disagree.append(gap)
        runs = len(tabs) * seeds
        q = np.percentile(calls, [10, 25, 50, 75, 90])
        out.append(f"| {label} | {declared}/{runs} ({declared / runs:.0%}) | {right}/{declared} "
                   f"({right / max(declared, 1):.1%}) | {agree}/{len(tabs)} ({agree / len(tabs):.0%}) | "
                   f"{q[2]:.0f} ({q[0]:.0f}, {q[1]:.0f}, {q[3]:.0f}, {q[4]:.0f}) | "
                   + ", ".join(f"{k} {v}" for k, v in reasons.most_common()) + " |")
        there = np.median(gaps_disagree or [0])
        elsewhere = np.median([g for g in gaps_agree if np.isfinite(g)] or [0])
        out.append(f"|  | seeds disagree on (exact gap between the 3rd and 4th value, nats): "
                   f"{', '.join(disagree) or 'none'}; median gap there {there:.3f}, where they agree "
                   f"{elsewhere:.3f} | | | | |")
    head = ["| method | top 3 declared certain | of those, = exact top 3 | prompts whose seeds agree on the "
            "top 3 | model calls: median (p10, p25, p75, p90) | stopping reasons |",
            "|---|---:|---:|---:|---|---|"]
    return "\n".join(head + out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--part", choices=["coverage", "error", "auto", "all"], default="all")
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--auto-seeds", type=int, default=5)
    ap.add_argument("--error-seeds", type=int, default=10)
    ap.add_argument("--tolerance", type=float, default=AutoBudget.tolerance, help="the auto rule's")
    ap.add_argument("--max-budget", type=int, default=AutoBudget.max_budget, help="the auto rule's")
    args = ap.parse_args()
    global RULE
    RULE = AutoBudget(tolerance=args.tolerance, max_budget=args.max_budget)
    from table_game import load_tables

    tables = load_tables()
    sizes = Counter(t.n for ts in tables.values() for t in ts)
    print(f"prompts: {', '.join(f'{k} {len(v)}' for k, v in tables.items())}; features: "
          + ", ".join(f"n={k}: {v}" for k, v in sorted(sizes.items())))
    for part, fn, seeds in (("coverage", part_coverage, args.seeds), ("error", part_error, args.error_seeds),
                            ("auto", part_auto, args.auto_seeds)):
        if args.part in (part, "all"):
            t0 = time.time()
            print(f"\n## {part} ({seeds} seeds{'; ' + str(RULE) if part == 'auto' else ''})\n")
            print(fn(tables, seeds))
            print(f"\n({time.time() - t0:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
