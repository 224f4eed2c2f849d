"""The four prompting strategies of Kroeger et al. 2023 ("Are Large Language Models Post Hoc
Explainers?", arXiv 2310.05797), and the parser of the explainer's last line.

Each prompt shows an explainer LLM a neighbourhood of the explained input (the perturbed inputs and
the target model's outputs there) and asks for the top-k features. The texts follow the paper's
templates (context, dataset, question, instructions):

* ``perturbation`` (P1): ``Input: A: 1, B: 0, ... / Output: 0.53`` for each sample, then "what
  appears to be the top five most important features"; answer on the last line.
* ``prediction`` (P2): the same, with the explained input last and its output left for the LLM to
  predict before it ranks the features.
* ``instruction`` (P3): changes in input and output against the explained input, with the paper's
  step-by-step instructions (rate each feature 0-100, keep a running rank).
* ``explanation`` (P4): in-context examples of input, output and a post-hoc explanation (a ranking),
  then the explained input.

A feature's value in a row is what the neighbourhood gives: 1/0 (kept/removed) for text features,
a number for a tabular column.
"""

from __future__ import annotations

import re
import string
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

STRATEGIES = ("perturbation", "prediction", "instruction", "explanation")
LABEL = r"^\s*(?:final\s+)?(?:answer|rank(?:ing)?|explanation|top\s*\d*\s*features?)\s*[:\-]\s*"
RETRY = ("\n\nYour previous reply did not end with a usable ranking ({error}). Reply with only the top {k} "
         "feature names, most important first, separated by commas, on one line.")
REFUSAL = re.compile(r"\b(i\s*(?:am|'m)\s*sorry|i\s*can(?:not|'t)|as an ai|unable to (?:help|provide))\b",
                     re.I)


@dataclass(frozen=True)
class Example:
    """One in-context example of P4: feature names, the input's row, the output, and the ranking
    (feature names, most important first) a post-hoc method gave it."""

    names: tuple[str, ...]
    row: tuple[float, ...]
    output: float
    ranking: tuple[str, ...]


def letter_names(n: int) -> tuple[str, ...]:
    """A, B, ..., Z, AA, AB, ...: the paper's anonymised feature names."""
    out = []
    for i in range(n):
        name, i = "", i + 1
        while i:
            i, r = divmod(i - 1, 26)
            name = string.ascii_uppercase[r] + name
        out.append(name)
    return tuple(out)


def text_names(texts: Sequence[str]) -> tuple[str, ...]:
    """Feature texts as names, a repeated text numbered (``the``, ``the#2``) so each is one feature."""
    seen: dict[str, int] = {}
    out = []
    for t in texts:
        t = " ".join(t.split()) or "_"
        seen[t.lower()] = seen.get(t.lower(), 0) + 1
        out.append(t if seen[t.lower()] == 1 else f"{t}#{seen[t.lower()]}")
    return tuple(out)


def _num(v: float) -> str:
    """A value at 3 decimals, trailing zeros dropped (``1``, ``0.5``, ``-0.123``)."""
    out = f"{float(v):.3f}".rstrip("0").rstrip(".")
    return "0" if out in ("-0", "") else out


def _row(names: Sequence[str], row: Sequence[float], quote: bool) -> str:
    q = (lambda n: f"'{n}'") if quote else (lambda n: n)
    return ", ".join(f"{q(n)}: {_num(v)}" for n, v in zip(names, row))


def _context(names: Sequence[str], quote_names: bool, binary: bool, output: str) -> str:
    listed = ", ".join(f"'{n}'" for n in names)
    values = ("each is 1 when it is in the input and 0 when it is removed" if binary
              else "each is a number")
    return (f'Context: "We have a model that predicts based on {len(names)} features: [{listed}] '
            f'({values}). Its output is {output}. The dataset below contains the feature values and '
            f'the corresponding model outputs."')


def _last_line_rule(k: int) -> str:
    return (f"provide your answer as the top {k} most important features ranked from most important to "
            f"least important, in descending order, separated by commas. Only provide the feature "
            f"names on the last line. Do not provide any further details on the last line.")


def build_prompt(strategy: str, names: Sequence[str], rows: np.ndarray, outputs: np.ndarray,
                 point: np.ndarray, point_output: float, k: int, output_label: str, binary: bool,
                 quote_names: bool, examples: Sequence[Example] = ()) -> str:
    """The explainer's prompt for ``strategy`` over a neighbourhood ``rows`` (samples, features) with
    the target's ``outputs``, around the explained ``point``."""
    q = quote_names
    ctx = _context(names, q, binary, output_label)
    if strategy == "perturbation":
        data = "\n".join(f"Input: {_row(names, r, q)}\nOutput: {_num(y)}" for r, y in zip(rows, outputs))
        return (f"{ctx}\n\nDataset:\n{data}\n\nQuestion: \"Based on the model's predictions and the given "
                f"dataset, what appears to be the top {k} most important features in determining the "
                f"model's prediction?\"\n\nInstructions: \"Think about the question. After explaining your "
                f"reasoning, {_last_line_rule(k)}\"")
    if strategy == "prediction":
        data = "\n".join(f"Input: {_row(names, r, q)}\nOutput: {_num(y)}" for r, y in zip(rows, outputs))
        return (f"{ctx}\n\nDataset:\n{data}\nInput: {_row(names, point, q)}\nOutput:\n\nQuestion: "
                f"\"Based on the model's predictions and the given dataset, estimate the output for the "
                f"final input. What appears to be the top {k} most important features in determining "
                f"the model's prediction?\"\n\nInstructions: \"Think about the question. After explaining "
                f"your reasoning, provide your estimated output for the final input on a line of its "
                f"own, then {_last_line_rule(k)}\"")
    if strategy == "instruction":
        change = "\n".join(f"Change in Input: {_row(names, r - point, q)}\nChange in Output: "
                           f"{_num(round(float(y - point_output), 3))}" for r, y in zip(rows, outputs))
        first, last = names[0], names[-1]
        return (f'Context: "We are analyzing a fixed set of perturbations around a specific input to '
                f"understand the influence of each feature on the model's output ({output_label}). The "
                f"dataset below contains the change in features '{first}' through '{last}' (with negative "
                f"values denoting a decrease in a feature's value) and the corresponding change in "
                f'outputs."\n\nDataset:\n{change}\n\nInstructions: "For each feature, starting with '
                f"'{first}' and continuing to '{last}':\n1. Analyze the feature in question. Rate the "
                f"importance of the feature in determining the output on a scale of 0-100, considering "
                f"both positive and negative correlations. Ensure to give equal emphasis to both positive "
                f"and negative correlations and avoid focusing only on absolute values.\n2. After "
                f"analyzing the feature, position it in a running rank compared to the features already "
                f"analyzed.\nUpon completion of all analyses, provide the final rank of the top {k} "
                f"features on the last line, separated by commas. Avoid providing general methodologies "
                f'or suggesting tools. Justify your findings as you go."')
    if strategy == "explanation":
        shots = "\n".join(f"Input: {_row(e.names, e.row, q)}\nOutput: {_num(e.output)}\nExplanation: "
                          f"{', '.join(e.ranking)}" for e in examples)
        return (f"{ctx}\n\nEach input below is followed by the model's output and an explanation: its "
                f"features ranked from most to least important.\n\n{shots}\nInput: {_row(names, point, q)}"
                f"\nOutput: {_num(point_output)}\nExplanation:\n\nInstructions: \"Give the explanation "
                f"for the last input: {_last_line_rule(k)}\"")
    raise ValueError(f"unknown strategy {strategy!r}")


@dataclass(frozen=True)
class Parsed:
    ranking: tuple[int, ...]  # feature indices, most important first
    unknown: tuple[str, ...]  # items of the last line that name no feature
    refusal: bool


def _match(item: str, lookup: dict[str, int]) -> int | None:
    """The feature an item names: the whole item, else its head before a colon or dash (``E: 1.95``)."""
    item = re.sub(r"^\s*(?:\d+[.)]|[-*•])\s*", "", item).strip().strip("'\"`[]()*.").strip()
    if item.lower() in lookup:
        return lookup[item.lower()]
    head = re.split(r"\s*(?::|\s-\s|\s\()", item, maxsplit=1)[0].strip().strip("'\"`[]()*.").strip()
    return lookup.get(head.lower())


def parse_ranking(reply: str, names: Sequence[str], k: int) -> Parsed:
    """The ranking on the reply's last non-empty line (the paper's rule): items split on commas (or
    ``>``, ``;``), each stripped of numbering, quotes and brackets and matched to a feature name
    (case aside); the first ``k`` distinct ones. A reply that ends with a numbered list (``1. C: ...``
    on each line) is read as that list. ``ValueError`` when no item names a feature."""
    lines = [ln.strip() for ln in reply.strip().splitlines() if ln.strip()]
    if not lines:
        raise ValueError("the reply is empty")
    refusal = bool(REFUSAL.search(reply))
    lookup = {n.lower(): i for i, n in enumerate(names)}
    listed = []
    for ln in reversed(lines):  # a trailing numbered list, one feature per line
        if not re.match(r"^\s*\d+[.)]\s", ln):
            break
        listed.insert(0, ln)
    if len(listed) >= 2:
        items = listed
    else:
        last = re.sub(LABEL, "", lines[-1], flags=re.I)
        items = re.split(r"\s*(?:,|;|>|\|)\s*", last)
    ranking: list[int] = []
    unknown: list[str] = []
    for item in items:
        if not item.strip():
            continue
        i = _match(item, lookup)
        if i is None:
            unknown.append(item.strip())
        elif i not in ranking:
            ranking.append(i)
    if not ranking:
        why = "a refusal" if refusal else f"no feature named on its last line ({lines[-1][:80]!r})"
        raise ValueError(f"the reply is {why}")
    return Parsed(tuple(ranking[:k]), tuple(unknown), refusal)
