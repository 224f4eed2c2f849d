"""ContextCite's scores (top-k log-prob drop, LDS) against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from whyllm.metrics.attribution_scores import ablation_masks, lds, logprob_drop

W = np.array([3.0, -1.0, 0.5, 2.0])


def additive(masks):
    return 0.25 + np.atleast_2d(masks).astype(float) @ W


def test_logprob_drop_is_the_removed_weight():
    order = np.argsort(-W)  # 0, 3, 2, 1
    assert logprob_drop(additive, order, 4, ks=(1, 2, 9)) == {1: 3.0, 2: 5.0, 9: 4.5}


def test_lds_is_one_for_exact_and_lower_for_wrong_attributions():
    assert lds(additive, W, 0.25, count=64, seed=0) == pytest.approx(1.0)
    assert lds(additive, -W, 0.25, count=64, seed=0) == pytest.approx(-1.0)
    assert lds(additive, W[::-1], 0.25, count=64, seed=0) < 0.9
    masks = ablation_masks(4, 64, seed=0)
    assert masks.shape == (64, 4) and 0.3 < masks.mean() < 0.7
    np.testing.assert_array_equal(masks, ablation_masks(4, 64, seed=0))  # its own seeded generator


def test_lds_matches_spearman_by_hand():
    """LDS is the rank correlation of the predicted and the true values over the ablations: here the
    ranks (average ranks for ties) and their Pearson correlation are computed by hand, not with
    scipy, on the same ablations."""
    def quad(masks):  # not additive: the prediction is imperfect
        m = np.atleast_2d(masks).astype(float)
        return m @ W + 2.0 * m[:, 0] * m[:, 1]

    def ranks(x):
        order = np.argsort(x, kind="stable")
        r = np.empty(len(x))
        r[order] = np.arange(1, len(x) + 1)
        for v in np.unique(x):  # ties share their average rank
            r[x == v] = r[x == v].mean()
        return r

    masks = ablation_masks(4, 32, seed=5)
    a, b = ranks(masks.astype(float) @ W), ranks(quad(masks))
    a, b = a - a.mean(), b - b.mean()
    want = float((a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum()))
    assert 0.3 < want < 0.99  # imperfect, as the interaction makes it
    assert lds(quad, W, 0.0, count=32, seed=5) == pytest.approx(want)
