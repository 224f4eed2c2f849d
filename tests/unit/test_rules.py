"""Anchors and LORE on toy models with planted answers."""

from __future__ import annotations

import io

import numpy as np
import pytest
from rich.console import Console

import whyllm
from whyllm.methods.bandit import kl_bernoulli, kl_lower, kl_upper
from whyllm.models import ToyModel, planted_model

WORDS = "w0 w1 w2 w3 w4 w5 w6 w7 w8 w9"


@pytest.mark.parametrize("target", [" yes", ("yes", "no")])
def test_anchor_of_planted_conjunction(target):
    model = planted_model(["w2", "w5"])  # the output holds iff features 2 and 5 are both present
    exp = whyllm.explain(WORDS, target=target, model=model, method="anchors", seed=0)
    assert exp.fit.anchor == [2, 5] and exp.fit.confident
    assert exp.fit.precision >= 0.95 and exp.fit.precision_lb >= 0.95
    assert exp.values == tuple(1.0 if i in (2, 5) else 0.0 for i in range(10))
    assert exp.fit.coverage == pytest.approx(0.25, abs=0.02)  # both kept w.p. 1/2 each


def test_anchor_precision_is_honest_on_held_out_samples():
    """The held-out check calls the model on fresh perturbations: the found anchor keeps the output
    on all of them; half of it (w2 alone) keeps it only when w5 survives, p = 1/2."""
    from dataclasses import replace

    from whyllm.metrics.rules import anchor_precision

    model = planted_model(["w2", "w5"], cache=None)
    exp = whyllm.explain(WORDS, target=" yes", model=model, method="anchors", seed=3)
    assert exp.fit.anchor == [2, 5]
    before = model.rows_scored
    found = anchor_precision(exp, model, n=500, seed=99)
    assert found["precision"] == 1.0 and found["n"] == 500
    assert found["model_calls"] > 100 and model.rows_scored - before == found["cost"]["sequences"] > 100
    half = replace(exp, fit=replace(exp.fit, anchor=[2], anchor_words=["w2"]))
    assert anchor_precision(half, model, n=500, seed=99)["precision"] == pytest.approx(0.5, abs=0.07)
    with pytest.raises(whyllm.InputError, match="not an Anchors explanation"):
        anchor_precision(whyllm.explain(WORDS, " yes", model=model, method="occlusion"), model)


def test_anchors_reproduce_with_seed_and_another_seed_samples_otherwise():
    model = planted_model(["w1", "w4"])
    a = whyllm.explain(WORDS, target=" yes", model=model, method="anchors", seed=7)
    b = whyllm.explain(WORDS, target=" yes", model=model, method="anchors", seed=7)
    c = whyllm.explain(WORDS, target=" yes", model=model, method="anchors", seed=8)
    assert a.fit == b.fit and a.values == b.values
    # the same anchor, from other samples: a method that ignored its seed would draw the same ones
    assert c.fit.anchor == a.fit.anchor and c.fit.coverage != a.fit.coverage
    assert (c.fit.samples, c.fit.samples_drawn) != (a.fit.samples, a.fit.samples_drawn)


def test_empty_anchor_when_output_never_changes():
    model = ToyModel(lambda ws: {"yes": 1.0, "no": 0.0})
    exp = whyllm.explain(WORDS, target=("yes", "no"), model=model, method="anchors", seed=0)
    assert exp.fit.anchor == [] and exp.fit.confident and exp.fit.coverage == 1.0


def test_small_budget_returns_honest_best_with_warning():
    model = planted_model(["w2", "w5"])
    with pytest.warns(UserWarning, match="ran out"):
        exp = whyllm.explain(WORDS, target=" yes", model=model, method="anchors", seed=0, budget=30)
    assert not exp.fit.confident and exp.fit.precision_lb < 0.95
    assert exp.cost.sequences <= 30


def test_single_feature_sentence():
    exp = whyllm.explain("w2", target=" yes", model=planted_model(["w2"]), method="anchors", seed=0)
    assert exp.fit.anchor == [0] and exp.fit.confident


def test_undeterminable_decision():
    tie = ToyModel(lambda ws: {"yes": 0.0, "no": 0.0})
    with pytest.raises(whyllm.InputError, match="cannot be determined"):
        whyllm.explain(WORDS, target=("yes", "no"), model=tie, method="anchors")
    not_top = ToyModel(lambda ws: {"yes": 0.0, "no": 1.0}, normalize=True)
    with pytest.raises(whyllm.InputError, match="greedy continuation"):
        whyllm.explain(WORDS, target=" yes", model=not_top, method="lore")
    exp = whyllm.explain(WORDS, target=" yes", model=not_top, method="anchors", decision_threshold=-2.0)
    assert exp.fit.anchor == [] and "stays >= -2" in exp.fit.decision


def test_lore_finds_planted_flip():
    model = planted_model(["w3"])  # removing feature 3 flips the output
    exp = whyllm.explain(WORDS, target=" yes", model=model, method="lore", seed=0)
    assert exp.fit.counterfactuals[0] == {"perturb": [3], "words": ["w3"], "flips": True}
    assert exp.fit.rule == [{"feature": 3, "word": "w3", "kept": True}]
    assert exp.fit.fidelity == 1.0 and exp.fit.hit and exp.fit.c_hit == 1.0
    assert exp.values[3] == 1.0 and sum(exp.values) == 1.0


def test_lore_conjunction_and_seeds():
    model = planted_model(["w2", "w5"])
    a = whyllm.explain(WORDS, target=("yes", "no"), model=model, method="lore", seed=4)
    b = whyllm.explain(WORDS, target=("yes", "no"), model=model, method="lore", seed=4)
    assert a.fit == b.fit
    assert {tuple(c["perturb"]) for c in a.fit.counterfactuals} == {(2,), (5,)}
    assert {c["feature"] for c in a.fit.rule} == {2, 5}


def test_kl_bounds_by_hand():
    assert kl_bernoulli(0.5, 0.5) == pytest.approx(0.0, abs=1e-9)
    # KL(1, q) = -log q, so the lower bound of an all-success arm is exp(-level)
    assert kl_lower(1.0, 0.05) == pytest.approx(np.exp(-0.05), abs=1e-6)
    assert kl_upper(0.0, 0.05) == pytest.approx(1 - np.exp(-0.05), abs=1e-6)
    lb, ub = kl_lower(0.7, 0.02), kl_upper(0.7, 0.02)
    assert lb < 0.7 < ub
    assert kl_bernoulli(0.7, lb) == pytest.approx(0.02, abs=1e-6)
    assert kl_bernoulli(0.7, ub) == pytest.approx(0.02, abs=1e-6)


def test_rule_views_and_json(tmp_path):
    model = planted_model(["w2", "<b>w5</b>"])
    words = "w0 w1 w2 w3 <b>w5</b> w6"
    for method in ("anchors", "lore"):
        exp = whyllm.explain(words, target=" yes", model=model, method=method, seed=0)
        assert whyllm.Explanation.from_json(exp.to_json()) == exp
        page = exp.to_html()
        assert "<b>w5</b>" not in page and "&lt;b&gt;w5&lt;/b&gt;" in page
        assert ("IF " in page) and ("Features, most supportive first" not in page)
        buf = io.StringIO()
        exp.print(Console(file=buf, width=120))
        assert "'w2'" in buf.getvalue()


def test_held_out_anchor_precision():
    from whyllm.metrics.rules import anchor_precision

    model = planted_model(["w2", "w5"])
    exp = whyllm.explain(WORDS, target=("yes", "no"), model=model, method="anchors", seed=0)
    held = anchor_precision(exp, model, n=500, seed=1)
    assert held["precision"] == 1.0 and held["n"] == 500
    with pytest.warns(UserWarning):
        partial = whyllm.explain(WORDS, target=("yes", "no"), model=model, method="anchors", seed=0,
                                 budget=30)
    assert anchor_precision(partial, model, n=500, seed=1)["precision"] < 0.95
