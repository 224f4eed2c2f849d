"""Model factories for dataset-run tests (``--model py:tests.run_models:additive``): exact, word-level
toy models a worker process or a Ray actor can build by name."""

from __future__ import annotations

import os
import time

from whyllm.models import additive_model

WEIGHTS = {"good": 2.0, "great": 3.0, "fine": 1.0, "bad": -2.0, "awful": -3.0, "dull": -1.0, "not": -0.5}


def additive():
    return additive_model(WEIGHTS, bias=0.25, cache=None)


def slow_additive():
    """The same model, pausing on every scored prefix (so that a run can be killed half way)."""
    model = additive()
    inner = model.score_fn
    pause = float(os.environ.get("WHYLLM_TEST_PAUSE", "0.004"))

    def score(words):
        time.sleep(pause)
        return inner(words)

    model.score_fn = score
    return model


def flaky_additive():
    """The additive model, failing on every text with the word in ``$WHYLLM_TEST_FAIL`` (so that a
    first run leaves failed rows and a second, without it, can retry them)."""
    model = additive()
    inner, word = model.score_fn, os.environ.get("WHYLLM_TEST_FAIL")

    def score(words):
        if word and word in words:
            raise RuntimeError(f"scripted failure on {word!r}")
        return inner(words)

    model.score_fn = score
    return model


def broken():
    """A factory whose model cannot load (as a missing weight file or a full GPU would do)."""
    raise RuntimeError("scripted: the weights cannot be loaded")
