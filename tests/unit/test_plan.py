"""The prefix tree and its token-bounded schedule, on toy models whose scores are exact."""

from __future__ import annotations

import numpy as np
import pytest

import whyllm
from tests.conftest import WEIGHTS
from whyllm.cost import CostMeter
from whyllm.models import ScoreRequest, ToyModel, additive_model
from whyllm.models.plan import PrefixTree, Schedule

TEXT = " ".join(WEIGHTS)


def position_model(**kw) -> ToyModel:
    """Scores that depend on every earlier word and its position: any mix-up of rows, positions or
    heads changes them."""

    def score(words):
        h = sum((i + 1) * (len(w) + 3 * (w[0] > "m")) for i, w in enumerate(words))
        return {"yes": h % 97 / 7.0, "no": (h * 31) % 89 / 5.0, "<eos>": -3.0}

    return ToyModel(score, name="toy-positions", normalize=True, **kw)


def random_requests(model: ToyModel, n: int, seed: int) -> list[ScoreRequest]:
    ids = model.encode(TEXT + " " + TEXT).ids
    rng = np.random.default_rng(seed)
    reqs = []
    for i in range(n):
        keep = rng.random(len(ids)) > 0.3
        keep[0] = True
        prompt = tuple(t for t, k in zip(ids, keep) if k)
        cont = model.encode_continuation(" yes no yes" if i % 3 else " no")
        reqs.append(ScoreRequest(prompt, cont, top=bool(i % 2)))
    reqs.append(ScoreRequest(ids[:5], model.encode_continuation(" yes")))
    reqs.append(ScoreRequest(ids[:5] + model.encode_continuation(" yes"), model.encode_continuation(" no")))
    return reqs


def one_row_scores(model: ToyModel, reqs: list[ScoreRequest]) -> list[np.ndarray]:
    """Each request alone: one row, one batch, nothing shared or cut."""
    saved = model.batch_size, model.max_batch_tokens, model.share_prefixes
    model.batch_size, model.max_batch_tokens, model.share_prefixes = 1, 10**6, False
    try:
        return [model.score([r])[0] for r in reqs]
    finally:
        model.batch_size, model.max_batch_tokens, model.share_prefixes = saved


@pytest.mark.parametrize("tokens,share", [(2048, False), (2048, True), (7, True), (1, True), (40, False)])
def test_batching_sharing_and_chunking_give_one_row_scores_exactly(tokens, share):
    model = position_model(max_batch_tokens=tokens, share_prefixes=share, batch_size=None)
    reqs = random_requests(model, 40, seed=tokens)
    ref = one_row_scores(model, reqs)
    meter = CostMeter()
    got = model.score(reqs, meter)
    for a, b in zip(got, ref):
        assert np.array_equal(a, b)
    cost = meter.snapshot()
    assert cost.sample_tokens == sum(len(r.prompt) + len(r.continuation) - 1 for r in dict.fromkeys(reqs))
    if share:
        assert cost.tokens < cost.sample_tokens  # shared heads computed once
    else:
        assert cost.tokens == cost.sample_tokens


def test_tree_shares_leave_one_out_heads():
    # occlusion of n features: row i keeps features 0..i-1, so it shares them with the full row
    model = additive_model(WEIGHTS)
    ids = model.encode(TEXT).ids
    n = len(ids) - 1
    rows = [ids] + [ids[:1 + i] + ids[2 + i:] for i in range(n)]
    reqs = [ScoreRequest(r, model.encode_continuation(" yes")) for r in rows]
    tree = PrefixTree(reqs, min_saved=1)
    unshared = sum(len(r.prompt) for r in reqs)
    # the full row once, then each branch from its removed feature on
    assert tree.tokens == len(ids) + sum(n - 1 - i for i in range(n))
    assert tree.row_tokens == unshared
    # every node's absolute start equals its parent's end
    for node in tree.nodes:
        parent_end = 0 if node.parent is tree.root else node.parent.end
        assert node.start == parent_end


def test_short_shared_runs_are_folded_into_children():
    model = additive_model(WEIGHTS)
    a = model.encode("alpha beta gamma").ids
    b = model.encode("alpha delta eps").ids  # shares <bos> alpha: 2 tokens, 1 saved
    reqs = [ScoreRequest(a, (5,)), ScoreRequest(b, (5,))]
    assert len(PrefixTree(reqs, min_saved=1).nodes) == 3
    folded = PrefixTree(reqs, min_saved=4)
    assert len(folded.nodes) == 2 and all(n.start == 0 for n in folded.nodes)


def test_schedule_respects_the_token_budget_and_releases_heads():
    model = position_model()
    reqs = random_requests(model, 30, seed=1)
    tree = PrefixTree(reqs, max_segment=16, min_saved=1)
    schedule = Schedule(tree, max_tokens=16)
    done, released, finished = set(), [], []
    for batch in schedule:
        assert sum(len(n) for n in batch) <= 16
        for n in batch:
            assert n.parent is tree.root or id(n.parent) in done  # parents always run first
            done.add(id(n))
        released.extend(schedule.done(batch))
        finished.extend(schedule.finished())
    assert sorted(finished) == list(range(len(reqs)))
    internal = [n for n in tree.nodes if n.children]
    assert {id(n) for n in released} == {id(n) for n in internal}


def test_cost_reports_sample_and_computed_tokens_on_an_explanation():
    model = additive_model(WEIGHTS, max_batch_tokens=64)
    exp = whyllm.explain(TEXT, target=" yes", model=model, method="occlusion")
    assert exp.cost.sample_tokens > exp.cost.tokens > 0
    np.testing.assert_allclose(exp.values, list(WEIGHTS.values()), atol=1e-9)
