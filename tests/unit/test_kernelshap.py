"""KernelSHAP against exact Shapley values computed independently from the definition."""

from __future__ import annotations

import math
from itertools import combinations

import numpy as np
import pytest

import whyllm
from tests.conftest import WEIGHTS
from whyllm.methods.shapley_design import PairStream, build, shares
from whyllm.models import ToyModel


def brute_force_shapley(f, n: int) -> np.ndarray:
    """phi_i = sum over S not containing i of |S|!(n-|S|-1)!/n! (f(S+i) - f(S))."""
    phi = np.zeros(n)
    for i in range(n):
        others = [j for j in range(n) if j != i]
        for s in range(n):
            for sub in combinations(others, s):
                w = math.factorial(s) * math.factorial(n - s - 1) / math.factorial(n)
                phi[i] += w * (f(set(sub) | {i}) - f(set(sub)))
    return phi


def test_exact_shapley_of_additive_model(additive):
    words = list(WEIGHTS)[:9]
    exp = whyllm.explain(" ".join(words), target=" yes", model=additive, method="kernelshap",
                         budget=2**9, seed=0)
    assert exp.fit.exact is True
    np.testing.assert_allclose(exp.values, [WEIGHTS[w] for w in words], atol=1e-6)
    assert exp.base_value == pytest.approx(0.5, abs=1e-12)
    assert exp.full_value == pytest.approx(0.5 + sum(WEIGHTS[w] for w in words), abs=1e-9)


def test_sampled_kernelshap_is_still_exact_on_additive_model(additive):
    words = list(WEIGHTS)  # 14 features, 2^14 coalitions, budget 300: sampled regime
    exp = whyllm.explain(" ".join(words), target=" yes", model=additive, method="kernelshap",
                         budget=300, seed=5)
    assert exp.fit.exact is False
    assert exp.cost.sequences <= 300
    np.testing.assert_allclose(exp.values, [WEIGHTS[w] for w in words], atol=1e-6)


def test_exact_shapley_with_interaction_matches_definition():
    # score(yes) = 2 if a and b present, plus 1 if c present; known Shapley: a=1, b=1, c=1, rest 0
    def score(ws):
        return {"yes": 2.0 * ("a" in ws and "b" in ws) + 1.0 * ("c" in ws) + 0.1 * ("d" in ws and "a" in ws),
                "no": 0.0}

    model = ToyModel(score)
    words = ["a", "b", "c", "d", "e", "f"]
    exp = whyllm.explain(" ".join(words), target=" yes", model=model, method="kernelshap", budget=64)
    truth = brute_force_shapley(lambda s: score([words[i] for i in s])["yes"], len(words))
    np.testing.assert_allclose(exp.values, truth, atol=1e-9)
    np.testing.assert_allclose(truth[:3], [1.05, 1.0, 1.0], atol=1e-12)


def test_efficiency_holds_on_non_additive_model():
    model = ToyModel(lambda ws: {"yes": float(len(ws)) ** 1.5 - 3.0 * ("x" in ws and "y" in ws)})
    exp = whyllm.explain("x y z w v u t s r q p o", target=" yes", model=model, budget=100, seed=1)
    assert exp.base_value + sum(exp.values) == pytest.approx(exp.full_value, abs=1e-9)


def test_kernel_design_enumerates_small_sizes_first():
    design = build(10, 60, "kernel", PairStream(10, shares(10, "kernel"), np.random.default_rng(0)))
    z, w = design.rows()
    sizes = z.sum(axis=1)
    assert not design.exact
    # sizes 1 and 9 (20 coalitions) are enumerated completely, the rest is sampled in pairs
    assert (sizes == 1).sum() == 10 and (sizes == 9).sum() == 10
    assert len(z) <= 60
    assert len({row.tobytes() for row in z}) == len(z)
    assert np.all(w > 0)


def test_single_feature():
    model = ToyModel(lambda ws: {"yes": 2.0 if "a" in ws else -1.0})
    exp = whyllm.explain("a", target=" yes", model=model, method="kernelshap")
    assert exp.values == (3.0,)
