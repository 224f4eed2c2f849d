"""``budget="auto"``: sample in rounds until the answer is settled.

A sampled method (LIME, KernelSHAP, ContextCite) draws from one stream per explanation
(:class:`~whyllm.methods.base.Session`); each round continues it at a larger budget (x ``growth``),
scores the round's new inputs together (the prefix-sharing scorer batches them, the objective's
memo scores nothing twice), refits, and stops at the first of:

* ``exact``: the design enumerated every coalition (KernelSHAP at small n);
* ``top-k certain``: the top-``top_k`` set is certain at 95 % (:mod:`whyllm.uncertainty`);
* ``intervals narrow``: every interval's half-width is within ``tolerance`` x |full - base|;
* ``max budget``: ``max_budget`` evaluations.

The idea is that of sequential sampling with a stopping test on the estimate's own error, as
S-LIME (Zhou, Hooker & Wang, KDD 2021) picks LIME's sample size and Covert & Lee (AISTATS 2021)
detect KernelSHAP's convergence. The explanation records the reason, the rounds and the budgets.
A number as the budget still means that fixed budget.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

from whyllm.errors import InputError
from whyllm.methods.base import Attribution, Method
from whyllm.uncertainty import LEVEL


@dataclass(frozen=True)
class AutoBudget:
    """The stopping rule of ``budget="auto"`` (see the module docstring)."""

    top_k: int = 3
    tolerance: float = 0.05
    max_budget: int = 1000
    first: int | None = None
    growth: float = 1.5

    def __post_init__(self) -> None:
        if self.top_k < 1 or self.max_budget < 3 or self.growth <= 1 or self.tolerance < 0:
            raise InputError("budget='auto' takes top_k >= 1, max_budget >= 3, growth > 1, tolerance >= 0")

    def first_budget(self, algo: Method, n: int) -> int:
        floor = max(algo.min_budget(n), 3 * n + 2)  # n pairs or more: a residual to measure noise with
        return min(self.max_budget, max(floor, self.first or 0))

    def reason(self, result: Attribution, budget: int, n: int) -> str | None:
        unc = result.uncertainty
        if unc is not None and unc.kind == "exact":
            return "exact"
        k = min(self.top_k, n - 1)
        if unc is not None and k >= 1 and len(unc.top_sets) >= k and unc.top_sets[k - 1] >= LEVEL:
            return f"top-{k} certain"
        scale = abs(result.full_value - result.base_value)
        if unc is not None and np.all(np.isfinite(unc.stderr)) and scale > 0:
            half = (unc.high - unc.low) / 2
            if float(np.max(half)) <= self.tolerance * scale:
                return "intervals narrow"
        if budget >= self.max_budget:
            return "max budget"
        return None


Budget = int | AutoBudget | None


def parse_budget(budget: Any) -> Budget:
    """``None`` (the method's default), a positive number, ``"auto"`` or an :class:`AutoBudget`."""
    if budget is None or isinstance(budget, AutoBudget):
        return budget
    if isinstance(budget, str):
        if budget.strip().lower() == "auto":
            return AutoBudget()
        try:
            budget = int(budget)
        except ValueError:
            raise InputError(f"a budget is a number of model evaluations or 'auto'; got {budget!r}") from None
    if isinstance(budget, bool) or not isinstance(budget, (int, np.integer)):
        raise InputError(f"a budget is a number of model evaluations or 'auto'; got {budget!r}")
    return int(budget)


def run_auto(algo: Method, objective, rule: AutoBudget, rng: np.random.Generator) -> tuple[Attribution, int]:
    """Rounds of ``algo``'s stream until ``rule`` stops them: the last result (its uncertainty
    records the stopping) and its budget."""
    n = objective.n_features
    session = algo.session(objective, rng)
    budget = rule.first_budget(algo, n)
    budgets = []
    while True:
        budgets.append(budget)
        result = session.estimate(budget)
        why = rule.reason(result, budget, n)
        if why is not None:
            break
        budget = min(rule.max_budget, max(budget + 1, math.ceil(budget * rule.growth)))
    stopping = {"reason": why, "rounds": len(budgets), "budgets": budgets,
                "evaluations": int(objective.evaluations), "rule": asdict(rule)}
    unc = result.uncertainty
    if unc is not None:
        unc = replace(unc, record={**unc.record, "stopping": stopping})
    return replace(result, uncertainty=unc), budget
