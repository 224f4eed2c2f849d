"""Proxy explanations (instance and task screens) and focus (coarse-to-fine), on exact toy models."""

from __future__ import annotations

import numpy as np
import pytest

import whyllm
from whyllm.compose.proxy import TaskVerdict, paired_t_pvalues, screen_task
from whyllm.errors import InputError
from whyllm.models import additive_model

TEXT = "alpha beta gamma delta eps"
TARGET_W = {"alpha": 1.5, "beta": -2.0, "gamma": 0.25, "delta": 3.0, "eps": -0.75}


def toy(weights, bias=0.5, **kw):
    return additive_model(weights, bias=bias, cache=None, **kw)


def test_proxy_used_when_decisions_agree():
    target, proxy = toy(TARGET_W), toy({"alpha": 1.0, "delta": 1.0})  # both say "yes" on the full text
    exp = whyllm.explain(TEXT, "yes", model=target, proxy=proxy, method="kernelshap", budget=64)
    alone = whyllm.explain(TEXT, "yes", model=proxy, method="kernelshap", budget=64)
    assert exp.fit.samples_by == proxy.model_id and exp.fit.screen["instance"] == "agree"
    assert exp.values == alone.values  # the proxy's own exact Shapley values
    assert exp.model.model_id == target.model_id and exp.params["proxy"] == proxy.model_id
    assert exp.cost.sequences == 1 and exp.fit.proxy_cost["sequences"] >= 32  # 1 screening call
    assert target.rows_scored == 1


def test_target_explains_when_decisions_differ():
    target, proxy = toy(TARGET_W), toy({"delta": -9.0})  # the proxy says "no" on the full text
    exp = whyllm.explain(TEXT, "yes", model=target, proxy=proxy, method="kernelshap", budget=64)
    assert exp.fit.screen == {"task": None, "instance": "disagree", "target_decision": 1,
                                 "proxy_decision": 0}
    assert exp.fit.samples_by == target.model_id
    assert np.allclose(exp.values, [TARGET_W[w] for w in TEXT.split()], atol=1e-9)
    assert exp.fit.proxy_cost["sequences"] == 1


def test_forced_proxy_skips_the_screens():
    target, proxy = toy(TARGET_W), toy({"delta": -9.0})  # the screen would refuse this proxy
    exp = whyllm.explain(TEXT, "yes", model=target, proxy=proxy, method="kernelshap", budget=64,
                         force_proxy=True)
    alone = whyllm.explain(TEXT, "yes", model=proxy, method="kernelshap", budget=64)
    assert exp.fit.screen == {"forced": True} and exp.fit.samples_by == proxy.model_id
    assert exp.values == alone.values
    assert exp.cost.sequences == 0 and target.rows_scored == 0
    with pytest.raises(InputError, match="has no parameter 'force_proxies'"):
        whyllm.explain(TEXT, "yes", model=target, proxy=proxy, force_proxies=True)


def test_proxy_refuses_token_features():
    with pytest.raises(InputError, match="features both models share"):
        whyllm.explain(TEXT, "yes", model=toy(TARGET_W), proxy=toy(TARGET_W), features="tokens")


def test_paired_t_pvalues():
    up, down = paired_t_pvalues([0.1, 0.2, 0.15, 0.12, 0.18])
    assert up < 1e-3 and down > 0.999 and up + down == pytest.approx(1.0)
    assert paired_t_pvalues([0.0, 0.0, 0.0]) == (1.0, 1.0)
    assert paired_t_pvalues([-1.0, -1.0]) == (1.0, 0.0)


TEXTS = ["alpha beta gamma delta eps", "delta eps alpha", "gamma delta beta alpha", "eps delta gamma",
         "beta delta alpha eps", "alpha delta", "delta gamma eps beta", "alpha gamma delta"]


def test_task_screen_authorises_a_faithful_proxy(tmp_path):
    norm = {"normalize": True}
    target = toy(TARGET_W, **norm)
    same = toy(TARGET_W, **norm)  # an identical proxy: d = 0.1 q_target > 0 on every input
    verdict = screen_task(TEXTS, "yes", model=target, proxy=same, task="toy", method="kernelshap",
                          budget=32, save=tmp_path / "v.json")
    assert verdict.authorised and len(verdict.d) >= 5 and all(d > 0 for d in verdict.d)
    assert verdict.p_value < 0.01
    assert TaskVerdict.load(tmp_path / "v.json") == verdict


def test_task_screen_rejects_an_unfaithful_proxy(tmp_path):
    norm = {"normalize": True}
    target = toy(TARGET_W, **norm)
    # ranks the words in the opposite order, but says "yes" on every input too
    flipped = toy({w: -v / 10 for w, v in TARGET_W.items()}, bias=5.0, **norm)
    verdict = screen_task(TEXTS, "yes", model=target, proxy=flipped, task="toy", method="kernelshap",
                          budget=32, max_inputs=8, save=tmp_path / "v.json")
    assert not verdict.authorised and np.mean(verdict.d) < 0
    # a saved negative verdict sends every explanation of the task to the target
    exp = whyllm.explain(TEXT, "yes", model=target, proxy=flipped, budget=32,
                         task_verdict=str(tmp_path / "v.json"))
    assert exp.fit.samples_by == target.model_id and exp.fit.screen == {"task": False}


LONG = "one two three. alpha delta gamma. four five six."
FOCUS_W = {"alpha": 1.5, "delta": 3.0, "gamma": -0.5}


def test_focus_refines_the_best_sentence_exactly():
    model = toy(FOCUS_W)
    exp = whyllm.explain(LONG, "yes", model=model, method="focus", inner="kernelshap", keep=1,
                         coarse_budget=8, budget=16, seed=0)
    words = [f.text for f in exp.features]
    assert exp.fit.focus_units == ["alpha delta gamma."]
    inside = [words.index(w) for w in ("alpha", "delta", "gamma.")]
    assert exp.fit.inside == inside
    # gamma. is not a weighted token (the toy's words carry punctuation): exact Shapley values 1.5, 3, 0
    assert np.allclose([exp.values[i] for i in inside], [1.5, 3.0, 0.0], atol=1e-9)
    assert all(abs(v) < 1e-9 for i, v in enumerate(exp.values) if i not in inside)  # zero-valued units
    assert exp.cost.sequences <= 16 and exp.method == "focus"
    assert words[int(exp.ranking()[0])] == "delta"


def test_focus_with_a_coarse_leave_one_out_pass():
    model = toy(FOCUS_W)
    exp = whyllm.explain(LONG, "yes", model=model, method="focus", inner="kernelshap",
                         coarse_method="occlusion", keep=1, budget=16, seed=0)
    assert exp.params["coarse_method"] == "occlusion"
    assert exp.params["coarse_budget"] == 5  # 3 leave-one-out, the full and the empty input
    assert exp.fit.focus_units == ["alpha delta gamma."]
    inside = exp.fit.inside
    assert np.allclose([exp.values[i] for i in inside], [1.5, 3.0, 0.0], atol=1e-9)
    assert exp.cost.sequences <= 16
    with pytest.raises(whyllm.WhyllmError, match="runs its coarse pass with one of"):
        whyllm.explain(LONG, "yes", model=model, method="focus", coarse_method="anchors", budget=16)


def test_focus_with_proxy_costs_the_target_only_the_fine_pass():
    target, proxy = toy(FOCUS_W), toy({"delta": 2.0})
    exp = whyllm.explain(LONG, "yes", model=target, proxy=proxy, method="focus", inner="kernelshap",
                         keep=1, coarse_budget=8, budget=16)
    assert exp.fit.samples_by == {"coarse": proxy.model_id, "fine": target.model_id}
    assert exp.fit.coarse_cost["sequences"] > 0
    assert exp.cost.sequences <= 1 + 8  # screen + fine pass (2^3 coalitions)


def test_focus_with_a_forced_proxy_runs_the_coarse_pass_on_it():
    target, proxy = toy(FOCUS_W), toy({"delta": -9.0, "beta": 2.0})  # decides "no": screened out
    screened = whyllm.explain(LONG, "yes", model=target, proxy=proxy, method="focus", inner="kernelshap",
                              coarse_method="occlusion", keep=1, budget=16)
    assert screened.fit.samples_by["coarse"] == target.model_id
    forced = whyllm.explain(LONG, "yes", model=target, proxy=proxy, method="focus", inner="kernelshap",
                            coarse_method="occlusion", keep=1, budget=16, force_proxy=True)
    assert forced.fit.screen == {"forced": True}
    assert forced.fit.samples_by == {"coarse": proxy.model_id, "fine": target.model_id}
    assert forced.fit.coarse_cost["sequences"] == 5  # 3 leave-one-out, the full and the empty input
    assert forced.cost.sequences <= 8  # the fine pass only (2^3 coalitions), no screening call
    with pytest.raises(InputError, match="force_proxy goes with a proxy"):
        whyllm.explain(LONG, "yes", model=target, method="focus", force_proxy=True, budget=16)


def test_focus_drops_units_that_do_not_fit_the_budget():
    # the proxy runs the coarse pass: the target's 12 calls are 1 screen + 11 for the fine pass, which
    # covers 2 sentences (6 words: LIME needs 9) but not 3 (9 words: 12)
    exp = whyllm.explain(LONG, "yes", model=toy(FOCUS_W), proxy=toy(FOCUS_W), method="focus", inner="lime",
                         keep=3, coarse_budget=8, budget=12)
    assert len(exp.fit.focus_units) == 2 and exp.cost.sequences <= 12
    with pytest.raises(InputError, match="focus refines with one of"):
        whyllm.explain(LONG, "yes", model=toy(FOCUS_W), method="focus", inner="anchors")


def test_focus_budget_that_cannot_work_fails_before_any_model_call():
    many = " ".join(f"w{i} x{i} y{i}." for i in range(60))  # 60 sentences: LIME's coarse pass needs 63
    model = toy(FOCUS_W)
    with pytest.raises(whyllm.BudgetError, match=r"focus needs a budget of at least 69 .* got 30"):
        whyllm.explain(many, "yes", model=model, method="focus", inner="lime", budget=30)
    with pytest.raises(whyllm.BudgetError, match="needs a budget of at least 63"):
        whyllm.explain(many, "yes", model=model, method="focus", inner="lime", coarse_budget=20)
    assert model.rows_scored == 0


def test_focus_splits_a_total_budget_when_the_target_runs_both_passes():
    # the README's case: --budget 30 and no coarse_budget; the coarse pass takes half
    model = toy(FOCUS_W)
    exp = whyllm.explain(LONG, "yes", model=model, method="focus", inner="lime", keep=2, budget=30)
    assert exp.params["coarse_budget"] == 15 and exp.cost.sequences <= 30
    assert exp.fit.focus_units[0] == "alpha delta gamma."


def test_focus_reads_the_task_verdict():
    target, proxy = toy(FOCUS_W), toy(FOCUS_W)
    refused = TaskVerdict("t", proxy.model_id, target.model_id, "lime", authorised=False)
    exp = whyllm.explain(LONG, "yes", model=target, proxy=proxy, method="focus", inner="kernelshap",
                         keep=1, coarse_budget=8, budget=16, task_verdict=refused)
    assert exp.fit.screen == {"task": False}  # no instance screen: the verdict refused the proxy
    assert exp.fit.samples_by["coarse"] == target.model_id and proxy.rows_scored == 0
    allowed = TaskVerdict("t", proxy.model_id, target.model_id, "lime", authorised=True)
    exp = whyllm.explain(LONG, "yes", model=target, proxy=proxy, method="focus", inner="kernelshap",
                         keep=1, coarse_budget=8, budget=16, task_verdict=allowed)
    assert exp.fit.screen["task"] is True and exp.fit.samples_by["coarse"] == proxy.model_id
    with pytest.raises(InputError, match="goes with a proxy"):
        whyllm.explain(LONG, "yes", model=target, method="focus", task_verdict=allowed)
    with pytest.raises(InputError, match="goes with a proxy"):
        whyllm.explain(LONG, "yes", model=target, method="lime", task_verdict=allowed)


PARAS = "one two. three four.\n\nx alpha y. delta gamma z.\n\nfive six. seven eight."


def test_focus_through_a_middle_level_refines_the_best_sentence_of_the_best_paragraph():
    model = toy(FOCUS_W)
    exp = whyllm.explain(PARAS, "yes", model=model, method="focus", inner="kernelshap",
                         coarse="paragraphs,sentences", coarse_method="occlusion", keep=1, budget=15, seed=0)
    words = [f.text for f in exp.features]
    assert exp.fit.focus_units == ["delta gamma z."]
    level = exp.fit.levels[0]
    assert level["kind"] == "sentences" and level["features"] == ["x alpha y.", "delta gamma z."]
    assert np.allclose(level["values"], [1.5, 2.5], atol=1e-9) and level["chosen"] == [1]
    inside = [words.index(w) for w in ("delta", "gamma", "z.")]
    assert exp.fit.inside == inside
    assert np.allclose([exp.values[i] for i in inside], [3.0, -0.5, 0.0], atol=1e-9)  # exact Shapley
    # the other sentence of the paragraph: its leave-one-out spread over its 3 words; the rest 0
    assert np.allclose([exp.values[words.index(w)] for w in ("x", "alpha", "y.")], [0.5] * 3, atol=1e-9)
    assert all(abs(exp.values[i]) < 1e-9 for i, w in enumerate(words) if i not in inside and i > 7)
    # paragraphs' leave-one-out 5 calls, sentences' 4, the fine pass 8 less the 2 the level scored
    assert exp.cost.sequences == 5 + 4 + 6 and exp.params["coarse"] == "paragraphs,sentences"
    assert exp.params["fine_budget"] == 8  # the 6 calls left and the 2 inputs scored already


def test_focus_skips_a_middle_level_the_budget_cannot_cover():
    model = toy(FOCUS_W)
    exp = whyllm.explain(PARAS, "yes", model=model, method="focus", inner="lime", underdetermined=True,
                         coarse="paragraphs,sentences", coarse_method="occlusion", keep=1, budget=9, seed=0)
    # 4 for the sentences' leave-one-out, and 1 more than the 2 inputs it scores for the fine pass
    assert exp.fit.levels[0]["skipped"] == "needs 5 target calls, 4 left"
    assert exp.fit.focus_units == ["x alpha y. delta gamma z."] and exp.cost.sequences <= 9
    with pytest.raises(InputError, match="comma-separated"):
        whyllm.explain(PARAS, "yes", model=model, method="focus", coarse="paragraphs,", budget=20)
    before = model.rows_scored
    with pytest.raises(whyllm.WhyllmError, match="sentencs"):  # a bad level fails before any call
        whyllm.explain(PARAS, "yes", model=model, method="focus", coarse="paragraphs,sentencs", budget=20)
    assert model.rows_scored == before
