"""The scorer: batching, deduplication, the SQLite cache, resuming a killed run."""

from __future__ import annotations

import numpy as np
import pytest

import whyllm
from tests.conftest import WEIGHTS
from whyllm.models import ScoreCache, ScoreRequest, ToyModel, additive_model

TEXT = " ".join(WEIGHTS)


def test_batch_size_never_changes_results_toy():
    runs = []
    for bs in (1, 64):
        model = additive_model(WEIGHTS, batch_size=bs)
        runs.append(whyllm.explain(TEXT, target=" yes", model=model, method="lime", budget=150, seed=2))
    assert runs[0].values == runs[1].values
    assert runs[0].cost.forward_passes > runs[1].cost.forward_passes


def test_duplicates_are_scored_once():
    model = additive_model(WEIGHTS)
    ids = model.encode("alpha beta").ids
    req = ScoreRequest(ids, model.encode_continuation(" yes"))
    meter = whyllm.cost.CostMeter()
    out = model.score([req, req, req], meter)
    assert model.rows_scored == 1 and meter.cache_hits == 2 and meter.requests == 3
    assert all(np.array_equal(o, out[0]) for o in out)


def test_cached_and_uncached_scores_identical(tmp_cache):
    kw = dict(target=" yes", method="kernelshap", budget=100, seed=0)
    plain = whyllm.explain(TEXT, model=additive_model(WEIGHTS, cache=None), **kw)
    cached_model = additive_model(WEIGHTS, cache=tmp_cache)
    first = whyllm.explain(TEXT, model=cached_model, **kw)
    rows = cached_model.rows_scored
    second = whyllm.explain(TEXT, model=cached_model, **kw)
    assert cached_model.rows_scored == rows  # nothing recomputed
    assert second.cost.cache_hits == second.cost.requests and second.cost.forward_passes == 0
    assert plain.values == first.values == second.values
    assert len(tmp_cache) == first.cost.requests


def test_cache_keys_include_the_model(tmp_cache):
    a = additive_model({"x": 1.0}, cache=tmp_cache)
    b = ToyModel(lambda ws: {"yes": 7.0}, name="other", cache=tmp_cache)
    ea = whyllm.explain("x y", target=" yes", model=a, method="occlusion")
    eb = whyllm.explain("x y", target=" yes", model=b, method="occlusion")
    assert ea.full_value == 1.0 and eb.full_value == 7.0


def test_killed_run_resumes_from_cache(tmp_path):
    path = tmp_path / "scores.sqlite"
    calls = {"n": 0}

    def dying(ws):
        calls["n"] += 1
        if calls["n"] > 70:
            raise KeyboardInterrupt  # the run is killed part-way
        return {"yes": sum(WEIGHTS.get(w, 0.0) for w in ws)}

    model = ToyModel(dying, name="resumable", batch_size=16, cache=ScoreCache(path))
    with pytest.raises(KeyboardInterrupt):
        whyllm.explain(TEXT, target=" yes", model=model, method="kernelshap", budget=200, seed=0)
    saved = len(ScoreCache(path))
    assert 70 - 16 <= saved < 70  # every finished batch is on disk: only the batch cut short (<= 16) is lost

    calls["n"] = -10**9  # the model works again
    again = ToyModel(dying, name="resumable", batch_size=16, cache=ScoreCache(path))
    exp = whyllm.explain(TEXT, target=" yes", model=again, method="kernelshap", budget=200, seed=0)
    assert exp.cost.cache_hits >= saved
    np.testing.assert_allclose(exp.values, list(WEIGHTS.values()), atol=1e-6)


def test_cache_never_unpickles(tmp_cache):
    model = additive_model({"x": 1.0}, cache=tmp_cache)
    whyllm.explain("x", target=" yes", model=model, method="occlusion")
    blob = tmp_cache._db.execute("SELECT logprobs FROM scores").fetchone()[0]
    assert len(blob) % 8 == 0  # raw float64 bytes
