"""Shared fixtures: toy models with known answers, and the real default Gemma model."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from whyllm.models import ScoreCache, additive_model

# the project's evaluation data (not shipped): ../shared/data beside the checkout, or $WHYLLM_DATA
SHARED_DATA = Path(os.environ.get("WHYLLM_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
WEIGHTS = {"alpha": 1.5, "beta": -2.0, "gamma": 0.25, "delta": 3.0, "eps": -0.75, "zeta": 0.5,
           "eta": 1.25, "theta": -1.0, "iota": 2.0, "kappa": -0.5, "lam": 0.75, "mu": -1.5,
           "nu": 1.0, "xi": -0.25}


@pytest.fixture
def additive():
    return additive_model(WEIGHTS, bias=0.5, cache=None)


@pytest.fixture(scope="session")
def gemma():
    """The default Gemma 3 270M (converted once under the user cache) in float32, scores not cached:
    the exact reference the integration tests compare against."""
    import whyllm

    return whyllm.load_model(cache=False, dtype="float32")


@pytest.fixture
def tmp_cache(tmp_path):
    cache = ScoreCache(tmp_path / "scores.sqlite")
    yield cache
    cache.close()


def pytest_collection_modifyitems(config, items):
    """Every test that loads the real Gemma model carries the ``gemma`` marker (so that
    ``-m "not gemma"`` really runs without it): a test that does not is a collection error."""
    unmarked = [item.nodeid for item in items
                if "gemma" in getattr(item, "fixturenames", ()) and item.get_closest_marker("gemma") is None]
    if unmarked:
        raise pytest.UsageError("tests use the gemma fixture without the gemma marker: "
                                + ", ".join(unmarked))
