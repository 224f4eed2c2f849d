"""Occlusion (leave-one-out): value of a feature = f(all) - f(all but that feature).

Zeiler & Fergus 2014, "Visualizing and Understanding Convolutional Networks"; for text, Li, Monroe
& Jurafsky 2016, "Understanding Neural Networks through Representation Erasure".
"""

from __future__ import annotations

import numpy as np

from whyllm import uncertainty
from whyllm.fits import NoFit
from whyllm.methods.base import METHODS, Attribution, Method
from whyllm.objective import Objective

ESTIMAND = "the change of the explained value when the feature alone is removed (computed, not sampled)"


@METHODS.register("occlusion")
class Occlusion(Method):
    name = "occlusion"
    multi_output = True
    scores_each_removal = True

    def min_budget(self, n_features: int) -> int:
        return n_features + 2  # each leave-one-out, the full and the empty input

    def default_budget(self, n_features: int) -> int:
        return self.min_budget(n_features)

    def attribute(self, objective: Objective, budget: int, rng: np.random.Generator) -> Attribution:
        n = objective.n_features
        self.check_budget(n, budget)
        masks = np.ones((n + 2, n), dtype=bool)
        masks[np.arange(n), np.arange(n)] = False
        masks[n + 1] = False
        cols = objective(masks)
        vals = objective.reduce(cols)
        full, base = vals[n], vals[n + 1]
        values, matrix = full - vals[:n], cols[n] - cols[:n]
        return Attribution(values, float(base), float(full), NoFit(), matrix=matrix,
                           base_columns=cols[n + 1], full_columns=cols[n],
                           uncertainty=uncertainty.exact(values, ESTIMAND, matrix))
