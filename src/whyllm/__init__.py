"""whyllm: why did the language model say that?

>>> import whyllm
>>> model = whyllm.load_model()
>>> exp = whyllm.explain("The Eiffel Tower is located in the city of", target=" Paris", model=model)
>>> whyllm.evaluate(exp, model=model).aopc_comprehensiveness
"""

# every documented module is reachable after ``import whyllm`` (whyllm.metrics.rules.anchor_precision,
# whyllm.compose.proxy.screen_task, ...), without importing it by hand
from whyllm import compose, engine, methods, metrics, neurons, report, tasks
from whyllm._version import SCHEMA_VERSION, __version__
from whyllm.api import evaluate, explain
from whyllm.cite import cite, cited_sources
from whyllm.cost import Cost
from whyllm.errors import (
    BudgetError,
    ContextLengthError,
    InputError,
    ModelError,
    UnknownNameError,
    WhyllmError,
)
from whyllm.explanation import Explanation
from whyllm.features import Feature
from whyllm.methods.stopping import AutoBudget
from whyllm.metrics import rules as _anchor_checks  # noqa: F401  (whyllm.metrics.rules)
from whyllm.metrics import stability
from whyllm.models import load_model

__all__ = [
    "SCHEMA_VERSION",
    "AutoBudget",
    "BudgetError",
    "ContextLengthError",
    "Cost",
    "Explanation",
    "Feature",
    "InputError",
    "ModelError",
    "UnknownNameError",
    "WhyllmError",
    "__version__",
    "cite",
    "cited_sources",
    "compose",
    "engine",
    "evaluate",
    "explain",
    "load_model",
    "methods",
    "metrics",
    "neurons",
    "report",
    "stability",
    "tasks",
]
