"""Neuron sites, hooks and sufficient sets on a tiny model with a planted gating neuron."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import whyllm
from tests.neuron_toys import DECOY, GATE, TEMPLATE, TEXT, planted_gate_model
from whyllm.errors import InputError, ModelError
from whyllm.fits import NeuronFit
from whyllm.models import additive_model
from whyllm.neurons import Clamp, NeuronHooks, NeuronSet, Sites, sufficient_set
from whyllm.neurons.setup import NeuronProblem

TARGET = (" yes", " no")


@pytest.fixture(scope="module")
def tiny():
    return planted_gate_model()


def _logits(lm, text: str) -> torch.Tensor:
    with torch.no_grad():
        return lm.model(input_ids=torch.tensor([lm.encode(text).ids])).logits


def test_names_round_trip(tiny):
    sites = Sites(tiny.white_box())
    assert sites.total == 32 and [s.name for s in sites] == ["layers.0.mlp", "layers.1.mlp"]
    assert sites.flat("layers.1.mlp:3") == 19 and sites.name(19) == "layers.1.mlp:3"
    for bad in ("layers.7.mlp:1", "layers.0.mlp:99", "mlp:3", "layers.0.attn:1"):
        with pytest.raises(InputError):
            sites.flat(bad)


def test_random_control_sets_keep_the_layers_and_avoid_the_found_set(tiny):
    sites = Sites(tiny.white_box())
    chosen = [1, 2, 3, 17, 30]  # 3 neurons of layer 0, 2 of layer 1 (16 each)
    drawn = sites.random_like(chosen, np.random.default_rng(4))
    assert len(set(drawn)) == 5 and not set(drawn) & set(chosen)
    assert sorted(sites.layer_of(c) for c in drawn) == [0, 0, 0, 1, 1]
    assert drawn == sites.random_like(chosen, np.random.default_rng(4))
    assert drawn != sites.random_like(chosen, np.random.default_rng(5))


def test_hooks_leave_the_model_bit_identical(tiny):
    text = TEMPLATE.replace("{text}", TEXT)
    before = _logits(tiny, text)
    sites = Sites(tiny.white_box())
    clamp = Clamp(np.array([GATE, 20]), np.array([0.0, 3.0]))
    ids = torch.tensor([tiny.encode(text).ids])
    hooks = NeuronHooks(tiny.white_box(), sites, torch.tensor([ids.shape[1] - 1]), clamp, record=True,
                        grad=True)
    with pytest.raises(RuntimeError, match="boom"), torch.enable_grad(), hooks:
        changed = tiny.model(input_ids=ids).logits
        assert not torch.equal(changed, before)  # the clamp did act
        assert hooks.recorded().shape == (1, 32)
        raise RuntimeError("boom")
    assert all(not m._forward_pre_hooks and not m._forward_hooks for m in tiny.model.modules())
    assert torch.equal(_logits(tiny, text), before)


def test_planted_gating_neuron_is_the_whole_set(tiny):
    exp = sufficient_set(TEXT, TARGET, model=tiny, template=TEMPLATE, seed=0)
    fit = exp.fit
    assert [n["name"] for n in fit.neurons] == [f"layers.0.mlp:{GATE}"]
    assert fit.confident and fit.precision == 1.0 and fit.precision_lb >= 0.9
    # without the clamp the output holds only when "great" survives the perturbation (p = 0.5)
    assert 0.35 <= fit.precision_unenforced <= 0.65
    assert f"layers.0.mlp:{DECOY}" not in fit.gradient_ranking[:1]
    assert exp.method == "neurons" and exp.cost.forward_passes > 0


def test_seeds_reproduce(tiny):
    a = sufficient_set(TEXT, TARGET, model=tiny, template=TEMPLATE, seed=3, samples=16, held_out=32)
    b = sufficient_set(TEXT, TARGET, model=tiny, template=TEMPLATE, seed=3, samples=16, held_out=32)
    assert a.fit == b.fit
    back = NeuronSet.from_json(a.to_json())  # an exact JSON round trip, field by field
    assert back == a and back.to_json() == a.to_json()
    assert back.fit.neurons == a.fit.neurons and back.target == a.target and back.cost == a.cost
    assert isinstance(back.fit, NeuronFit) and not hasattr(back, "values")  # its own type, no zeros
    with pytest.raises(whyllm.InputError, match="not a whyllm neuron set"):
        NeuronSet.from_json(whyllm.explain("a b", " yes", model=additive_model({"a": 1.0}),
                                           method="occlusion").to_json())


def test_clamping_the_original_values_reproduces_the_output(tiny):
    prob = NeuronProblem.build(TEXT, TARGET, model=tiny, template=TEMPLATE)
    runner = prob.runner([prob.input.ids])
    every = np.arange(prob.sites.total)
    assert runner.run(prob.clamp(every)).values[0] == pytest.approx(prob.full_value, abs=1e-6)
    off = runner.run(Clamp(np.array([GATE]), np.array([0.0])))
    assert off.values[0] < 0 < prob.full_value  # switching the gate off flips the output


def test_gradient_matches_finite_differences(tiny):
    prob = NeuronProblem.build(TEXT, TARGET, model=tiny, template=TEMPLATE)
    runner = prob.runner(prob.perturbed(6))
    res = runner.run(record=True, grad=True)
    for i in (GATE, 3, 20):
        eps = 1e-2
        bumped = res.acts[:, [i]] + eps
        moved = runner.run(Clamp(np.array([i]), bumped)).margins
        np.testing.assert_allclose((moved - res.margins) / eps, res.grads[:, i], atol=1e-2)


def test_prefix_reuse_matches_plain_forwards(tiny):
    prob = NeuronProblem.build(TEXT, TARGET, model=tiny, template=TEMPLATE)
    prompts = prob.perturbed(10)
    fast = prob.runner(prompts)
    plain = prob.runner(prompts)
    plain.reuse_prefix = False
    clamp = prob.clamp([GATE, 17])
    np.testing.assert_allclose(fast.run(clamp).values, plain.run(clamp).values, atol=1e-6)


def test_needs_a_local_transformers_model(additive):
    with pytest.raises(ModelError, match="local transformers"):
        sufficient_set("alpha beta", " yes", model=additive)


def test_bad_parameters(tiny):
    with pytest.raises(InputError, match="tau"):
        sufficient_set(TEXT, TARGET, model=tiny, template=TEMPLATE, tau=1.0)
