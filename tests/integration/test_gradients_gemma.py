"""White-box baselines (saliency, input x gradient, integrated gradients, attention) on Gemma."""

from __future__ import annotations

import numpy as np
import pytest

import whyllm

pytestmark = pytest.mark.gemma
EIFFEL = "The Eiffel Tower is located in the city of"
SST = "Review: {text}\nSentiment (positive or negative):"
REVIEW = "the acting was superb, though the ending dragged."


@pytest.mark.parametrize("method", ["saliency", "input_x_gradient", "integrated_gradients", "attention"])
def test_each_gives_the_per_token_matrix(gemma, method):
    exp = whyllm.explain(EIFFEL, " Paris, France", model=gemma, method=method)
    m = exp.matrix_array
    assert m.shape == (9, 3) and [o.text for o in exp.outputs] == [" Paris", ",", " France"]
    np.testing.assert_allclose(m.sum(axis=1), exp.values, atol=1e-9)
    # one pass through the model's internals, one for base and full (IG: one more, for its path's ends)
    assert exp.cost.forward_passes == (3 if method == "integrated_gradients" else 2)
    assert whyllm.Explanation.from_json(exp.to_json()) == exp
    if method in ("saliency", "attention"):
        assert (m >= 0).all()
    if method == "attention":
        assert (m.sum(axis=0) <= 1 + 1e-6).all()  # weights of one query position over the prompt


def test_integrated_gradients_with_one_step_is_input_x_gradient(gemma):
    ig = whyllm.explain(EIFFEL, " Paris", model=gemma, method="integrated_gradients", steps=1)
    ixg = whyllm.explain(EIFFEL, " Paris", model=gemma, method="input_x_gradient")
    np.testing.assert_allclose(ig.values, ixg.values, atol=1e-5)
    more = whyllm.explain(EIFFEL, " Paris", model=gemma, method="integrated_gradients", steps=8)
    assert more.cost.sequences == 8 + 2 and not np.allclose(more.values, ixg.values, atol=1e-3)


def test_a_contrast_is_the_difference_of_its_two_sides(gemma):
    both = whyllm.explain(REVIEW, (" positive", " negative"), template=SST, model=gemma,
                          method="input_x_gradient")
    pos = whyllm.explain(REVIEW, " positive", template=SST, model=gemma, method="input_x_gradient")
    neg = whyllm.explain(REVIEW, " negative", template=SST, model=gemma, method="input_x_gradient")
    np.testing.assert_allclose(both.values, np.subtract(pos.values, neg.values), atol=1e-5)


def test_integrated_gradients_in_chunks_and_without_the_matrix_give_the_same_values(gemma, monkeypatch):
    import whyllm.methods.gradients as gradients

    whole = whyllm.explain(EIFFEL, " Paris, France", model=gemma, method="integrated_gradients", steps=6)
    monkeypatch.setattr(gradients, "CHUNK_TOKENS", 2 * 14)  # 14 tokens a row: 3 chunks of 2 points
    chunked = whyllm.explain(EIFFEL, " Paris, France", model=gemma, method="integrated_gradients", steps=6)
    assert chunked.cost.forward_passes == 3 + 2 and whole.cost.forward_passes == 1 + 2
    np.testing.assert_allclose(chunked.matrix_array, whole.matrix_array, atol=1e-5)
    summed = whyllm.explain(EIFFEL, " Paris, France", model=gemma, method="integrated_gradients", steps=6,
                            matrix=False)
    assert summed.matrix is None and summed.cost.sequences == whole.cost.sequences
    np.testing.assert_allclose(summed.values, whole.values, atol=1e-5)
    assert np.abs(whole.values).max() > 0.1  # not trivially zero


def test_integrated_gradients_reports_its_completeness_gap(gemma):
    """The error of the path integral is its completeness gap (captum's convergence delta): the sum
    of the values minus f(input) - f(zero embeddings); a finer path shrinks it."""
    coarse = whyllm.explain(EIFFEL, " Paris", model=gemma, method="integrated_gradients", steps=2)
    fine = whyllm.explain(EIFFEL, " Paris", model=gemma, method="integrated_gradients", steps=32)
    gaps = [e.uncertainty["completeness_gap"] for e in (coarse, fine)]
    assert all(e.uncertainty["kind"] == "completeness" and e.stderr is None for e in (coarse, fine))
    assert np.isfinite(gaps).all() and abs(gaps[1]) < abs(gaps[0]), gaps
