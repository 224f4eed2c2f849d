"""``llm-icl``: an LLM, shown the target model's behaviour around the input, names the features that
matter (Kroeger, Ley, Krishna, Agarwal & Lakkaraju 2023, "Are Large Language Models Post Hoc
Explainers?", arXiv 2310.05797).

The neighbourhood is whyllm's own: ``budget - 2`` samples drawn by the seeded sampler (LIME's: a
uniform number of features removed, for text features; the input's own ``neighbourhood`` when it has
one, as the tabular adapter's Gaussian one), scored by the *target* model; the empty and the full
input make up the budget (the base and full value). The explainer (``explainer_model``: a loaded
chat model, a name for ``load_model``, or ``openai:<url>``; default SmolLM2-135M-Instruct) gets one
of the paper's four prompts (:mod:`whyllm.methods.icl_prompts`), greedy, and its reply's last line is
parsed into a ranking of the top ``k`` features. A malformed reply (no feature named on the last
line, a refusal) is retried up to ``retries`` times, the error said back to the explainer (greedy
decoding would otherwise repeat itself), then raises
:class:`~whyllm.errors.MalformedReplyError`; every malformed reply is counted.

Values are rank scores, not effects: ``(k - r) / k`` for the feature ranked ``r`` (0 = first), 0 for
the others, so ``Explanation.ranking()`` is the explainer's ranking. The Explanation's ``params``
hold, under ``llm_icl``, the ranking, the prompt, every reply, the malformed count and the
explainer's own cost (the target's is the Explanation's ``cost``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from whyllm.cost import GeneratorCost
from whyllm.errors import InputError, MalformedReplyError
from whyllm.fits import NoFit
from whyllm.methods.base import METHODS, Attribution, Method
from whyllm.methods.icl_prompts import (
    RETRY,
    STRATEGIES,
    Example,
    build_prompt,
    letter_names,
    parse_ranking,
    text_names,
)
from whyllm.models.base import LanguageModel
from whyllm.models.chat import chat_reply, load_chat_model
from whyllm.objective import NeighbourhoodObjective, Objective

MAX_REPLY_TOKENS = 256


def lime_masks(n: int, rows: int, rng: np.random.Generator) -> np.ndarray:
    """``rows`` masks, each removing a uniformly drawn number (1..n-1) of uniformly drawn features,
    distinct while there are enough (the explainer learns nothing from a repeated row, and the empty
    and full inputs are scored anyway)."""
    masks, seen = [], set()
    room = 2**n - 2 if n < 40 else rows
    for _ in range(rows * 50):
        if len(masks) == rows:
            break
        m = np.ones(n, dtype=bool)
        m[rng.choice(n, size=int(rng.integers(1, max(n, 2))), replace=False)] = False
        key = m.tobytes()
        if key in seen and len(seen) < room:
            continue
        seen.add(key)
        masks.append(m)
    return np.array(masks, dtype=bool).reshape(-1, n)


def as_example(item: Any, names_mode: str, k: int) -> Example:
    """An in-context example from an :class:`Example`, a dict with its fields, or an Explanation
    (its features at 1, its full value, its top-``k`` features by |value|)."""
    if isinstance(item, Example):
        return item
    if isinstance(item, dict):
        return Example(tuple(item["names"]), tuple(float(v) for v in item["row"]), float(item["output"]),
                       tuple(item["ranking"]))
    features = getattr(item, "features", None)
    if features is None:
        raise InputError("an llm-icl example is an Example, a dict (names, row, output, ranking) or an "
                         f"Explanation; got {type(item).__name__}")
    names = letter_names(len(features)) if names_mode == "letters" else text_names([f.text for f in features])
    order = np.argsort(-np.abs(np.asarray(item.values)), kind="stable")[:k]
    return Example(names, (1.0,) * len(names), float(item.full_value), tuple(names[i] for i in order))


@METHODS.register("llm-icl")
class LLMInContext(Method):
    name = "llm-icl"

    def __init__(self, explainer_model: Any = None, strategy: str = "perturbation", names: str = "letters",
                 k: int = 5, retries: int = 2, examples: Sequence[Any] = (),
                 max_new_tokens: int = MAX_REPLY_TOKENS, output_label: str | None = None) -> None:
        if strategy not in STRATEGIES:
            raise InputError(f"llm-icl strategy is one of {', '.join(STRATEGIES)}; got {strategy!r}")
        if names not in ("letters", "text"):
            raise InputError(f"llm-icl names features by 'letters' (as the paper) or 'text'; got {names!r}")
        if int(k) < 1 or int(retries) < 0:
            raise InputError("llm-icl needs k >= 1 and retries >= 0")
        if strategy == "explanation" and not examples:
            raise InputError("the 'explanation' strategy needs in-context examples (examples=[...]: "
                             "Explanations of other inputs by a whyllm method)")
        self.explainer_model = explainer_model
        self.strategy, self.names, self.k, self.retries = strategy, names, int(k), int(retries)
        self.examples = tuple(examples)
        self.max_new_tokens = int(max_new_tokens)
        self.output_label = output_label

    @property
    def params(self) -> dict[str, Any]:
        """What the Explanation records: the explainer by name, the examples as plain data."""
        p = self.get_params()
        m = p["explainer_model"]
        p["explainer_model"] = m.info.model_id if isinstance(m, LanguageModel) else m
        p["examples"] = [vars(as_example(e, self.names, self.k)) for e in self.examples]
        return p

    def min_budget(self, n_features: int) -> int:
        return 4  # two samples, the empty and the full input

    def default_budget(self, n_features: int) -> int:
        return 18  # the paper's 16 perturbations

    def feature_names(self, objective: Objective) -> tuple[str, ...]:
        n = objective.n_features
        if self.names == "letters":
            return letter_names(n)
        columns = getattr(objective.input, "names", None)  # a tabular row's column names
        return text_names(columns if columns is not None else [f.text for f in objective.input.features])

    def neighbourhood(self, objective: Objective, rows: int, rng: np.random.Generator, full: float
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray, float, bool]:
        """(rows, outputs, the explained point, its output, binary): the samples the explainer sees."""
        if isinstance(objective, NeighbourhoodObjective):
            x, y, point, at_point = objective.neighbourhood(rows, rng)
            return (np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64), np.asarray(point),
                    float(at_point), False)
        masks = lime_masks(objective.n_features, rows, rng)
        return masks.astype(np.float64), objective.value(masks), np.ones(objective.n_features), full, True

    def attribute(self, objective: Objective, budget: int, rng: np.random.Generator) -> Attribution:
        n = objective.n_features
        self.check_budget(n, budget)
        full = float(objective.value(np.ones((1, n), dtype=bool))[0])
        base = float(objective.value(np.zeros((1, n), dtype=bool))[0])
        rows, outputs, point, at_point, binary = self.neighbourhood(objective, budget - 2, rng, full)
        names = self.feature_names(objective)
        label = self.output_label or describe_output(objective)
        examples = [as_example(e, self.names, self.k) for e in self.examples]
        prompt = build_prompt(self.strategy, names, rows, outputs, point, at_point, min(self.k, n), label,
                              binary, self.names == "text", examples)
        explainer = load_chat_model(self.explainer_model)
        cost = GeneratorCost()
        replies, errors, refusals = [], [], 0
        for _ in range(self.retries + 1):
            asked = prompt + (RETRY.format(error=errors[-1], k=min(self.k, n)) if errors else "")
            reply, n_prompt, n_reply = chat_reply(explainer, asked, self.max_new_tokens)
            cost.add(n_prompt, n_reply)
            replies.append(reply)
            try:
                parsed = parse_ranking(reply, names, min(self.k, n))
            except ValueError as exc:
                errors.append(str(exc))
                refusals += "refusal" in str(exc)
                continue
            break
        else:
            raise MalformedReplyError(f"the explainer {explainer.info.model_id} named no feature on the last "
                                      f"line in {len(errors)} replies (last: {errors[-1]})")
        values = np.zeros(n)
        kk = min(self.k, n)
        for r, i in enumerate(parsed.ranking):
            values[i] = (kk - r) / kk
        record = {"ranking": [names[i] for i in parsed.ranking], "ranking_index": list(parsed.ranking),
                  "names": list(names), "prompt": prompt, "replies": replies,
                  "malformed_replies": len(errors),
                  "refusals": refusals, "errors": errors, "unknown_items": list(parsed.unknown),
                  "explainer": explainer.info.model_id, "explainer_cost": cost.to_dict(),
                  "samples": len(rows)}
        if self.strategy == "prediction":
            record["predicted_output"] = predicted_output(replies[-1])
        return Attribution(values=values, base_value=base, full_value=full, fit=NoFit(),
                           record={"llm_icl": record})


def describe_output(objective: Objective) -> str:
    """What the outputs are, in words: the objective's or the target's own description."""
    if isinstance(objective, NeighbourhoodObjective):
        return objective.describe_output()
    return objective.target.describe()


def predicted_output(reply: str) -> float | None:
    """P2's estimate for the explained input: the number after the last ``Output:`` in the reply,
    else the first number on a line of its own."""
    found = re.findall(r"output\s*[:=]?\s*(-?\d+(?:\.\d+)?)", reply, flags=re.I)
    if found:
        return float(found[-1])
    for line in reply.splitlines():
        if re.fullmatch(r"\s*-?\d+(?:\.\d+)?\s*", line):
            return float(line)
    return None
