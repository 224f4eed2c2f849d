"""Concepts on the real Gemma model: hidden-state clusters, and a concept explanation that is exact."""

from __future__ import annotations

import numpy as np
import pytest

import whyllm
from whyllm.concepts import extract

pytestmark = pytest.mark.gemma

TEXT = "The acting is superb and the pacing is brisk, but the plot drags in the middle."
TEMPLATE = "Review: {text}\nSentiment:"


def test_clusters_partition_the_content_words_deterministically(gemma):
    a = extract(gemma, TEXT, template=TEMPLATE, extractor="clusters", k=3)
    b = extract(gemma, TEXT, template=TEMPLATE, extractor="clusters", k=3)
    assert a.concepts == b.concepts
    assert len(a.concepts) == 3
    words = sorted(w for c in a.concepts for w in c.texts(TEXT))
    assert words == sorted(["acting", "superb", "pacing", "brisk,", "plot", "drags", "middle."])
    assert a.record["extractor_cost"]["calls"] == 1  # one forward, not a target call
    with pytest.raises(whyllm.WhyllmError, match=r"k \(how many concepts\) or distance"):
        extract(gemma, TEXT, extractor="clusters", k=3, distance=0.5)


def test_kernelshap_over_clusters_is_exact_and_counts_the_extractor_apart(gemma):
    exp = whyllm.explain(TEXT, (" positive", " negative"), model=gemma, template=TEMPLATE,
                         method="kernelshap", features="concepts", extractor="clusters", k=3, budget=8)
    assert exp.cost.sequences == 8  # all 2^3 coalitions: exact Shapley values
    assert exp.base_value + sum(exp.values) == pytest.approx(exp.full_value, abs=1e-6)
    assert exp.params["concepts"]["extractor_cost"]["calls"] == 1
    back = whyllm.Explanation.from_json(exp.to_json())
    assert back == exp
    faith = whyllm.evaluate(exp, model=gemma)
    assert np.isfinite(faith.aopc_comprehensiveness)
