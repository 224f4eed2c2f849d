"""Neuron tools on the real Gemma 3 270M: hooks leave no trace, the cached runner is exact."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from whyllm.neurons import Clamp, NeuronHooks, Sites, steer
from whyllm.neurons.setup import NeuronProblem

pytestmark = pytest.mark.gemma
TEMPLATE = "English: {text}\nFrench:"
TEXT = "The cat is black."
CONTRAST = (" Le", " The")


@pytest.fixture(scope="module")
def problem(gemma):
    return NeuronProblem.build(TEXT, CONTRAST, model=gemma, template=TEMPLATE, seed=0)


def test_hooks_leave_gemma_bit_identical(gemma):
    ids = torch.tensor([gemma.encode("The Eiffel Tower is in the city of").ids])
    with torch.no_grad():
        before = gemma.model(input_ids=ids).logits
    sites = Sites(gemma.white_box())
    assert sites.total == 18 * 2048
    names = ["layers.6.mlp:1234", "layers.17.mlp:5"]
    clamp = Clamp(np.array([sites.flat(n) for n in names]), np.array([3.0, -2.0]))
    with torch.no_grad(), NeuronHooks(gemma.white_box(), sites, clamp=clamp, record=True) as hooks:
        during = gemma.model(input_ids=ids).logits
    assert hooks.recorded().shape == (1, sites.total)
    assert not torch.equal(during, before)
    with torch.no_grad():
        after = gemma.model(input_ids=ids).logits
    assert torch.equal(after, before)


def test_clamping_original_values_reproduces_the_output(problem):
    runner = problem.runner([problem.input.ids])
    rng = np.random.default_rng(0)
    chosen = rng.choice(problem.sites.total, size=500, replace=False)
    assert runner.run(problem.clamp(chosen)).values[0] == pytest.approx(problem.full_value, abs=1e-4)
    assert runner.run().values[0] == pytest.approx(problem.full_value, abs=1e-4)


def test_cached_heads_match_plain_forwards_and_the_scorer(problem, gemma):
    prompts = problem.perturbed(6)
    fast, plain = problem.runner(prompts), problem.runner(prompts)
    plain.reuse_prefix = False
    clamp = problem.clamp(np.argsort(-problem.attribution)[:20])
    np.testing.assert_allclose(fast.run(clamp).values, plain.run(clamp).values, atol=1e-4)
    free = fast.run().values
    a, b = problem.target.ids
    ref = [float(gemma.plain_logprobs(p, a)[0] - gemma.plain_logprobs(p, b)[0]) for p in prompts]
    np.testing.assert_allclose(free, ref, atol=1e-4)


def test_steering_with_nothing_enforced_is_plain_greedy(gemma):
    res = steer(["English: water\nFrench:"], {}, model=gemma, target=" eau", max_new_tokens=3)
    assert res.rows[0]["steered"] == res.rows[0]["unsteered"] and res.success_rate == 1.0


def test_the_search_scores_through_the_plan_as_the_stored_runner_did(gemma, problem):
    """The runner's values and margins on the stored cases equal those of the runner it replaced
    (padded batches over per-row head caches) to 1e-5 (absolute, plus 1e-5 relative: float32 logits
    of ~30 summed in another order), and its heads went through the scorer's plan."""
    import json

    from tests.neuron_cases import STORED, scores

    stored = json.loads(STORED.read_text())
    got = scores(gemma)
    assert sorted(got) == sorted(stored)
    for case, columns in stored.items():
        for key, values in columns.items():
            np.testing.assert_allclose(got[case][key], values, atol=1e-5, rtol=1e-5, err_msg=f"{case} {key}")
    runner = problem.runner(problem.perturbed(6))
    runner.run()
    assert runner.reuse_prefix and runner._prefix is not None and len(runner.chunks) == 1
