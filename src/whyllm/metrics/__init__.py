"""Faithfulness and stability metrics, each tested against hand-computed values."""

from whyllm.metrics.faithfulness import (
    BINS,
    Faithfulness,
    auc,
    comprehensiveness,
    deletion_curve,
    faithfulness,
    insertion_curve,
    sufficiency,
)
from whyllm.metrics.stability import interval_agreement, jaccard, kendall, stability, top_k

__all__ = ["BINS", "Faithfulness", "auc", "comprehensiveness", "deletion_curve", "faithfulness",
           "insertion_curve", "interval_agreement", "jaccard", "kendall", "stability", "sufficiency", "top_k"]
