"""LIME's budget floor, and the underdetermined regime of long documents (Focus-LIME's setting)."""

from __future__ import annotations

import pytest

import whyllm
from whyllm.errors import BudgetError
from whyllm.models import additive_model

WORDS = [f"w{i}" for i in range(60)]
PLANTED = "w37"


def planted_model():
    return additive_model({w: (10.0 if w == PLANTED else 0.0) for w in WORDS}, bias=0.0, cache=None)


def test_default_lime_needs_a_sample_per_feature():
    with pytest.raises(BudgetError, match="at least 63"):
        whyllm.explain(" ".join(WORDS), "yes", model=planted_model(), method="lime", budget=20)


def test_underdetermined_lime_runs_below_the_floor_and_finds_a_dominant_feature():
    exp = whyllm.explain(" ".join(WORDS), "yes", model=planted_model(), method="lime", budget=20,
                         underdetermined=True, seed=3)
    assert exp.cost.sequences <= 20
    assert exp.params["underdetermined"] is True
    ranking = [exp.features[i].text for i in exp.ranking()]
    assert ranking[0] == PLANTED
    # diluted: 19 samples for 60 features shrink the planted 10 to a fraction of it, and the other
    # 59 (truly 0) carry noise of a quarter of that on average
    rest = [abs(v) for f, v in zip(exp.features, exp.values) if f.text != PLANTED]
    top = next(v for f, v in zip(exp.features, exp.values) if f.text == PLANTED)
    assert 1.0 < top < 5.0
    assert top > 4 * sum(rest) / len(rest)


def test_underdetermined_lime_still_needs_three_calls():
    with pytest.raises(BudgetError, match="at least 3"):
        whyllm.explain(" ".join(WORDS), "yes", model=planted_model(), method="lime", budget=2,
                       underdetermined=True)
