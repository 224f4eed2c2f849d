"""The plain strategy: one model does all the sampling, with one registered method."""

from __future__ import annotations

from whyllm.compose.base import STRATEGIES, Call, Strategy
from whyllm.engine import explain_on
from whyllm.explanation import Explanation


@STRATEGIES.register("direct")
class Direct(Strategy):
    name = "direct"

    def explain(self, call: Call) -> Explanation:
        return explain_on(call.model, call.text, call.target, method=call.method, options=call.options,
                          **call.method_params)
