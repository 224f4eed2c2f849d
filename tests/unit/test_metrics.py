"""Each metric against values computed by hand."""

from __future__ import annotations

import numpy as np
import pytest

from whyllm.metrics import (
    auc,
    comprehensiveness,
    deletion_curve,
    faithfulness,
    insertion_curve,
    jaccard,
    kendall,
    stability,
    sufficiency,
)
from whyllm.metrics.faithfulness import bin_sizes

# probability = 0.1 + the kept features' weights: 0.4, 0.3, 0.1, 0.05 (sum 0.85 -> full prob 0.95)
W = np.array([0.05, 0.4, 0.1, 0.3])


def prob(masks):
    return 0.1 + np.asarray(masks, dtype=float) @ W


ORDER = np.array([1, 3, 2, 0])  # the true ranking


def test_bin_sizes_round_up_and_keep_at_least_one():
    assert bin_sizes(4) == [1, 1, 1, 1, 2]
    assert bin_sizes(40) == [1, 2, 4, 8, 20]
    assert bin_sizes(3, [0.5, 1.0]) == [2, 3]


def test_comprehensiveness_by_hand():
    # bins of 4 features: k = 1,1,1,1,2 -> removing {1} costs 0.4, removing {1,3} costs 0.7
    np.testing.assert_allclose(comprehensiveness(prob, ORDER), [0.4, 0.4, 0.4, 0.4, 0.7])


def test_sufficiency_by_hand():
    # keeping only {1}: p = 0.5 -> 0.95 - 0.5 = 0.45; keeping {1,3}: p = 0.8 -> 0.15
    np.testing.assert_allclose(sufficiency(prob, ORDER), [0.45, 0.45, 0.45, 0.45, 0.15])


def test_curves_and_auc_by_hand():
    np.testing.assert_allclose(deletion_curve(prob, ORDER), [0.95, 0.55, 0.25, 0.15, 0.1])
    np.testing.assert_allclose(insertion_curve(prob, ORDER), [0.1, 0.5, 0.8, 0.9, 0.95])
    # trapezoids of width 1/4: (0.95+0.55 + 0.55+0.25 + 0.25+0.15 + 0.15+0.1) / 2 / 4
    assert auc(np.array([0.95, 0.55, 0.25, 0.15, 0.1])) == pytest.approx(2.95 / 8)
    assert auc(np.array([0.1, 0.5, 0.8, 0.9, 0.95])) == pytest.approx(5.45 / 8)


def test_faithfulness_report_and_better_ranking_scores_better():
    good = faithfulness(prob, ORDER)
    bad = faithfulness(prob, ORDER[::-1])
    assert good.aopc_comprehensiveness == pytest.approx((0.4 * 4 + 0.7) / 5)
    assert good.aopc_sufficiency == pytest.approx((0.45 * 4 + 0.15) / 5)
    assert good.comprehensiveness["50%"] == pytest.approx(0.7)
    assert good.aopc_comprehensiveness > bad.aopc_comprehensiveness
    assert good.deletion_auc < bad.deletion_auc
    assert good.insertion_auc > bad.insertion_auc


def test_kendall_and_jaccard_by_hand():
    # one discordant pair out of 6 -> tau = (5 - 1) / 6
    assert kendall([1, 2, 3, 4], [1, 2, 4, 3]) == pytest.approx(4 / 6)
    assert kendall([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    assert jaccard({1, 2}, {2, 3}) == pytest.approx(1 / 3)


def test_stability_by_hand():
    runs = [np.array([4.0, 3, 2, 1, 0]), np.array([4.0, 3, 2, 0, 1]), np.array([3.0, 4, 2, 1, 0])]
    out = stability(runs, k=2)
    # taus: (9-1)/10, (9-1)/10, (8-2)/10 ; top-2 sets all {0, 1}
    assert out["kendall_tau"] == pytest.approx((0.8 + 0.8 + 0.6) / 3)
    assert out["top_k_jaccard"] == pytest.approx(1.0)
    assert stability([np.array([1.0, 0, 0, 0, 0]), np.array([0.0, 1, 0, 0, 0])])["top_k_jaccard"] == 0.0
    with pytest.raises(ValueError):
        stability([np.array([1.0])])


def test_stability_accepts_explanations():
    import whyllm
    from whyllm.models import additive_model

    model = additive_model({"a": 1.0, "b": 2.0, "c": -1.0})
    runs = [whyllm.explain("a b c", target=" yes", model=model, method="lime", budget=20, seed=s)
            for s in (0, 1)]
    out = stability(runs, k=1)
    assert out["top_k_jaccard"] == 1.0 and out["kendall_tau"] == pytest.approx(1.0)
