"""Sufficient neuron sets: the fewest MLP neurons whose values, enforced at the last prompt position,
keep the model's output under input perturbations.

In the spirit of WASD (Yu et al. 2026, "Locating critical neurons as sufficient conditions for
explaining and controlling LLM behavior"), with the Anchors machinery for the perturbations and the
confidence bound (Ribeiro et al. 2018, "Anchors: High-Precision Model-Agnostic Explanations"):

1. perturb the input ``samples`` times (deletion, filler or the model's own words, as Anchors);
2. pool: rank every neuron by a first-order estimate of how much clamping it back to its original
   value repairs the perturbed outputs, ``(a_orig - a_perturbed) * d margin / d a`` (a Taylor step
   of Molchanov et al. 2017, "Pruning Convolutional Neural Networks for Resource Efficient
   Inference"), and keep the top ``pool``;
3. grow greedily: re-estimate under the current clamps, verify the ``verify`` best candidates with
   real clamped forward passes, add the one that keeps the output on the most samples, until the
   KL lower confidence bound of the precision reaches ``tau``;
4. prune greedily while the bound holds, then measure the set on fresh perturbations.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from whyllm.errors import InputError
from whyllm.methods.bandit import mean_lower_bound
from whyllm.neurons.hooks import Clamp
from whyllm.neurons.runner import NeuronRunner, RunResult
from whyllm.neurons.setup import NeuronProblem
from whyllm.registry import check_params
from whyllm.request import Options

SLACK = 1.0  # margin (log-prob / logit units) beyond which a kept output counts as safe


class SetSearch:
    """Greedy growth and pruning of a clamp set over one batch of perturbed prompts."""

    def __init__(self, problem: NeuronProblem, runner: NeuronRunner, tau: float, delta: float, pool: int,
                 verify: int, max_size: int, bar: tqdm) -> None:
        self.p, self.runner, self.tau, self.delta = problem, runner, tau, delta
        self.pool_size, self.verify, self.max_size, self.bar = pool, verify, max_size, bar
        self.trace: list[dict] = []

    def clamp(self, chosen: Sequence[int]) -> Clamp:
        return self.p.clamp(chosen)

    def run(self, chosen: Sequence[int], grad: bool = False) -> RunResult:
        res = self.runner.run(self.clamp(chosen) if chosen else None, record=grad, grad=grad)
        self.bar.update(1)
        return res

    def accepted(self, res: RunResult) -> bool:
        return mean_lower_bound(res.holds, self.delta) >= self.tau

    def repair(self, res: RunResult, among: np.ndarray) -> np.ndarray:
        """First-order estimate, per neuron in ``among``, of the capped margin gained by clamping it."""
        est = (self.p.original[among][None, :] - res.acts[:, among]) * res.grads[:, among]
        need = np.maximum(0.0, -res.margins) + SLACK
        return np.minimum(est, need[:, None]).sum(axis=0)

    @staticmethod
    def _quality(res: RunResult) -> tuple[int, float]:
        return int(res.holds.sum()), float(np.minimum(res.margins, SLACK).sum())

    def grow(self, start: RunResult) -> tuple[list[int], RunResult]:
        """Add neurons until the bound clears ``tau``: each step re-estimates under the current
        clamps, verifies the ``verify`` best candidates with real clamped passes and adds the best;
        steps add geometrically more neurons (a quarter of the set so far) once the set has 8."""
        everyone = np.arange(self.p.sites.total)
        pool = everyone[np.argsort(-self.repair(start, everyone), kind="stable")[:self.pool_size]]
        chosen: list[int] = []
        res = start
        while not self.accepted(res) and len(chosen) < self.max_size:
            free = pool[~np.isin(pool, chosen)]
            if not len(free):
                break
            order = free[np.argsort(-self.repair(res, free), kind="stable")]
            step = min(max(1, len(chosen) // 4), self.max_size - len(chosen))
            if step == 1 and self.verify > 1:
                trials = [(self._quality(self.run([*chosen, int(c)])), int(c)) for c in order[:self.verify]]
                added = [max(trials, key=lambda t: t[0])[1]]  # ties: the higher first-order estimate
            else:
                added = [int(c) for c in order[:step]]
            chosen.extend(added)
            res = self.run(chosen, grad=True)
            self.trace.append({"size": len(chosen), "precision": res.precision})
        return chosen, res

    def prune(self, chosen: list[int]) -> list[int]:
        """Drop neurons while the bound still clears ``tau``: blocks of the latest-added first,
        halving the block after a failed removal, down to single neurons."""
        kept = list(chosen)
        block = max(1, len(kept) // 4)
        pos = len(kept)
        while block >= 1 and len(kept) > 1:
            pos = min(pos, len(kept))
            if pos <= 0:
                if block == 1:
                    break
                block, pos = block // 2, len(kept)
                continue
            lo = max(0, pos - block)
            trial = kept[:lo] + kept[pos:]
            if trial and self.accepted(self.run(trial)):
                kept = trial
            pos = lo
        return kept


@dataclass(frozen=True)
class SearchOptions:
    """The neuron search's own parameters: the precision ``tau`` to reach at confidence 1 - ``delta``
    (KL bound), the perturbed prompts it searches on (``samples``) and checks on (``held_out``), each
    word's deletion probability, the candidate ``pool``, the candidates ``verify``-ed by real clamped
    passes each step, the largest set, the decision threshold and prompts per forward."""

    # the goal: precision tau at confidence 1 - delta
    tau: float = 0.9
    delta: float = 0.1
    # the perturbed prompts
    samples: int = 64
    held_out: int = 200
    sample_proba: float = 0.5
    # the greedy search
    pool: int = 1000
    verify: int = 8
    max_size: int = 256
    # the decision, and prompts per forward
    decision_threshold: float | None = None
    batch_size: int = 32

    def __post_init__(self) -> None:
        if not 0.5 <= self.tau < 1:
            raise InputError(f"tau must be in [0.5, 1), got {self.tau}")
        if self.samples < 8 or self.held_out < 1:
            raise InputError("samples must be at least 8 and held_out at least 1")

    def record(self) -> dict[str, Any]:
        """What the neuron set's params keep (prompts per forward is not a result's property)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "batch_size"}


SEARCH_PARAMS = tuple(f.name for f in fields(SearchOptions))
#: the shared options (:class:`~whyllm.request.Options`) the neuron search reads
SHARED_PARAMS = ("features", "template", "perturbation", "filler", "max_new_tokens", "seed", "progress")


def sufficient_set(text: str, target: str | Sequence[str] | None = None, *, model=None,
                   options: Options | None = None, search: SearchOptions | None = None, **params: Any):
    """The smallest set of MLP neurons (found greedily) that keeps ``target``'s decision when enforced
    at the last prompt position while the input is perturbed. Returns a :class:`NeuronSet` whose
    ``fit`` holds the neurons (names, original values, predicates), the enforced precision with its
    confidence bound on ``held_out`` fresh perturbations, the unenforced precision on the same
    perturbations (the baseline), and the model work in ``cost``.

    ``options`` are the shared request options (template, features, perturbation, seed, ...),
    ``search`` the search's own (:class:`SearchOptions`); ``params`` set fields of either by name
    (``template=..., seed=0, tau=0.95``), and a name of neither is an :class:`InputError`."""
    options, search = search_request(options, search, params)
    problem = NeuronProblem.build(text, target, model=model, template=options.template,
                                  features=options.features, perturbation=options.perturbation,
                                  filler=options.filler, sample_proba=search.sample_proba,
                                  decision_threshold=search.decision_threshold,
                                  max_new_tokens=options.max_new_tokens, seed=options.seed,
                                  batch_size=search.batch_size)
    search_prompts = problem.perturbed(search.samples)
    runner = problem.runner(search_prompts)
    with tqdm(desc="neurons", unit="pass", leave=False, disable=not options.progress) as bar:
        greedy = SetSearch(problem, runner, search.tau, search.delta, search.pool, search.verify,
                           search.max_size, bar)
        start = greedy.run([], grad=True)
        chosen, res = greedy.grow(start)
        confident = greedy.accepted(res)
        if confident:
            chosen = greedy.prune(chosen)
        check = problem.precision(chosen, problem.perturbed(search.held_out, held_out=True))
        bar.update(2)
    fit = problem.report(chosen, check, search.delta)
    fit.update({"search_samples": search.samples, "search_precision_unenforced": start.precision,
                "confident": bool(confident), "trace": greedy.trace})
    if not confident:
        fit["warning"] = (f"no set of up to {search.max_size} neurons reached precision {search.tau} "
                          f"with confidence {1 - search.delta:g} on the search samples; this is the best "
                          "set found")
    params = {**search.record(), "perturbation": options.perturbation,
              "max_new_tokens": options.max_new_tokens}
    params.update(problem.input.perturber.recorded())
    return problem.result(fit, params)


def search_request(options: Options | None, search: SearchOptions | None, params: dict[str, Any]
                   ) -> tuple[Options, SearchOptions]:
    """The typed options of one search: ``options`` and ``search`` with ``params`` set by name."""
    check_params("the neuron search", params, SHARED_PARAMS + SEARCH_PARAMS)
    options = (options or Options()).but(**{k: v for k, v in params.items() if k in SHARED_PARAMS})
    search = replace(search or SearchOptions(), **{k: v for k, v in params.items() if k in SEARCH_PARAMS})
    return options, search


#: ``sufficient_set``'s parameters the command line sets from its own flags
_SET_BY_FLAGS = ("template", "features", "perturbation", "tau", "samples", "seed", "progress")


def check_search_params(params: dict) -> None:
    """Refuse a parameter :func:`sufficient_set` does not take (``whyllm neurons --option``)."""
    valid = tuple(p for p in SHARED_PARAMS + SEARCH_PARAMS if p not in _SET_BY_FLAGS)
    check_params("the neuron search", params, valid)
