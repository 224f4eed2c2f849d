"""Intervals with known answers: zero width where the values are exact, nominal coverage where they
are sampled, and the stopping rule of ``budget="auto"`` on toys whose ranking is or is not settled."""

from __future__ import annotations

import math
from itertools import combinations

import numpy as np
import pytest

import whyllm
from tests.conftest import WEIGHTS
from whyllm.methods.stopping import AutoBudget
from whyllm.models import ToyModel
from whyllm.models.toy import additive_model

from .test_kernelshap import brute_force_shapley

WORDS = ["w0", "w1", "w2", "w3", "w4", "w5", "w6", "w7", "w8", "w9"]
MAIN = dict(zip(WORDS, [1.6, -1.1, 0.9, 0.7, -0.5, 0.4, 0.3, -0.2, 0.15, 0.05]))
PAIRS = {("w0", "w1"): 0.8, ("w2", "w5"): -0.6, ("w3", "w8"): 0.5, ("w6", "w9"): 0.4}


def interacting(words) -> float:
    """Main effects, pairwise interactions and a saturating term (of every order: paired
    KernelSHAP is exact on games of order two, so the test needs more)."""
    present = set(words)
    main = sum(MAIN[w] for w in present if w in MAIN)
    return (main + sum(v for (a, b), v in PAIRS.items() if a in present and b in present)
            + 1.5 * math.tanh(main))


def interacting_model() -> ToyModel:
    def score(ws):
        if ws and ws[-1] in ("yes", "no"):
            return {"<eos>": 0.0, "yes": -1e9, "no": -1e9}
        return {"yes": interacting(ws), "no": 0.0, "<eos>": -1e9}
    return ToyModel(score, name="toy-interacting")


def exact_shapley(f, words) -> np.ndarray:
    """From the definition, over every coalition (the brute force of test_kernelshap)."""
    return brute_force_shapley(lambda kept: f([words[i] for i in sorted(kept)]), len(words))


def test_enumeration_is_exact_with_zero_width(additive):
    words = list(WEIGHTS)[:8]
    exp = whyllm.explain(" ".join(words), target=" yes", model=additive, method="kernelshap", budget=2**8)
    assert exp.exact and exp.fit.exact is True
    np.testing.assert_allclose(exp.values, [WEIGHTS[w] for w in words], atol=1e-9)
    assert exp.stderr == (0.0,) * 8
    assert all(lo == v == hi for (lo, hi), v in zip(exp.interval, exp.values))
    assert exp.certain_top == 7 and exp.uncertainty["kind"] == "exact"
    frame = exp.to_frame()
    assert (frame["ci_low"] == frame["value"]).all() and (frame["stderr"] == 0).all()


def test_occlusion_is_exact():
    model = interacting_model()
    exp = whyllm.explain(" ".join(WORDS), target=" yes", model=model, method="occlusion")
    assert exp.exact and exp.stderr == (0.0,) * len(WORDS)


@pytest.mark.parametrize("method", ["kernelshap", "lime"])
def test_sampled_intervals_cover_at_the_nominal_rate(method):
    """200 seeds at a budget of 60 (of 1,024 coalitions): the 95 % intervals hold the truth for
    93-97 % of (seed, feature) cases. The truth is the exact Shapley value for KernelSHAP, and for
    LIME its surrogate from every coalition weighted by its probability and kernel."""
    model = interacting_model()
    truth = exact_shapley(interacting, WORDS) if method == "kernelshap" else exact_lime_surrogate()
    hits = total = 0
    for seed in range(200):
        exp = whyllm.explain(" ".join(WORDS), target=" yes", model=model, method=method, budget=60, seed=seed)
        assert not exp.exact
        lo, hi = np.asarray(exp.interval).T
        hits += int(((lo <= truth + 1e-9) & (truth <= hi + 1e-9)).sum())
        total += len(truth)
    assert 0.93 <= hits / total <= 0.97, hits / total


def exact_lime_surrogate(kernel_width: float = 25.0) -> np.ndarray:
    """LIME's infinite-sample surrogate: weighted least squares (with intercept) over every coalition
    but the full one, weighted by its probability under LIME's sampler times LIME's kernel."""
    n = len(WORDS)
    rows, ys, ws = [], [], []
    for kept_n in range(n):
        prob = 1.0 / (n * math.comb(n, n - kept_n))
        kernel = math.sqrt(math.exp(-((1 - math.sqrt(kept_n / n)) * 100) ** 2 / kernel_width**2))
        for kept in combinations(range(n), kept_n):
            z = np.zeros(n)
            z[list(kept)] = 1
            rows.append(np.concatenate([[1.0], z]))
            ys.append(interacting([WORDS[j] for j in kept]))
            ws.append(prob * kernel)
    x, y, sw = np.array(rows), np.array(ys), np.sqrt(np.array(ws))
    coef, *_ = np.linalg.lstsq(x * sw[:, None], y * sw, rcond=None)
    return coef[1:]


@pytest.mark.parametrize("method", ["kernelshap", "lime"])
def test_auto_stops_at_once_on_one_dominant_feature(method):
    weights = {w: (8.0 if w == "w4" else 0.1) for w in WORDS}
    model = additive_model(weights)
    exp = whyllm.explain(" ".join(WORDS), target=" yes", model=model, method=method,
                         budget=AutoBudget(top_k=1))
    stop = exp.uncertainty["stopping"]
    assert stop["rounds"] == 1 and stop["reason"] == "top-1 certain", stop
    assert exp.top(1)[0][0] == "w4" and exp.top_certain(1)


@pytest.mark.parametrize("method", ["kernelshap", "lime"])
def test_auto_runs_to_the_maximum_on_tied_features(method):
    """Ten words of equal weight, with interactions so that the samples are noisy: no top-3 set can
    be certain, the rounds go on to the maximum."""
    def score(ws):
        if ws and ws[-1] in ("yes", "no"):
            return {"<eos>": 0.0, "yes": -1e9, "no": -1e9}
        k = sum(w in WORDS for w in ws)
        return {"yes": 0.1 * k + math.sin(2.5 * k) + 0.8 * ("w1" in ws) * ("w2" in ws)
                - 0.8 * ("w1" in ws) * ("w3" in ws) + 0.8 * ("w2" in ws) * ("w3" in ws), "no": 0.0}

    exp = whyllm.explain(" ".join(WORDS), target=" yes", model=ToyModel(score), method=method,
                         budget=AutoBudget(max_budget=300))
    stop = exp.uncertainty["stopping"]
    assert stop["reason"] == "max budget" and stop["budgets"][-1] == 300, stop
    assert exp.certain_top is not None and exp.certain_top < 3
    assert exp.cost.sequences <= 300


def test_auto_is_the_default_for_sampled_methods_and_a_number_is_fixed(additive):
    text = " ".join(list(WEIGHTS)[:12])
    auto = whyllm.explain(text, target=" yes", model=additive, method="lime")
    fixed = whyllm.explain(text, target=" yes", model=additive, method="lime", budget=80)
    assert "stopping" in auto.uncertainty and auto.params["auto_budget"]["top_k"] == 3
    assert "stopping" not in fixed.uncertainty and fixed.params["budget"] == 80
    # the stream is one per seed: the auto run equals a fixed run at the budget it stopped at
    again = whyllm.explain(text, target=" yes", model=additive, method="lime", budget=auto.params["budget"])
    np.testing.assert_allclose(again.values, auto.values, atol=1e-12)


def test_schema_3_round_trip_and_frames():
    model = interacting_model()
    exp = whyllm.explain(" ".join(WORDS), target=" yes", model=model, method="kernelshap", budget=80)
    back = whyllm.Explanation.from_json(exp.to_json())
    assert back == exp and back.schema_version == 3
    assert len(exp.stderr) == len(WORDS) and all(s > 0 for s in exp.stderr)
    frame = exp.to_frame()
    assert {"stderr", "ci_low", "ci_high", "certain_top"} <= set(frame.columns)
    assert (frame["ci_low"] <= frame["value"]).all() and (frame["value"] <= frame["ci_high"]).all()
    cells = exp.matrix_frame()
    assert {"stderr", "ci_low", "ci_high"} <= set(cells.columns) and (cells["stderr"] >= 0).all()


def test_contextcite_bootstrap_and_stability_check():
    from whyllm.metrics.stability import interval_agreement

    model = interacting_model()
    exps = [whyllm.explain(" ".join(WORDS), target=" yes", model=model, method="contextcite", budget=60,
                           seed=s) for s in range(4)]
    assert all(e.uncertainty["kind"] == "bootstrap" and e.uncertainty["replicates"] == 200 for e in exps)
    agreement = interval_agreement(exps)
    assert 0.6 <= agreement <= 1.0
