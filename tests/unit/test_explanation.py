"""Reproducibility, the JSON round trip, the HTML and terminal views, method conformance."""

from __future__ import annotations

import copy
import io

import numpy as np
import pytest
from rich.console import Console

import whyllm
from tests.chat_models import ScriptedChat
from tests.conftest import WEIGHTS
from whyllm.methods import METHODS
from whyllm.models import ToyModel, additive_model
from whyllm.objective import PromptObjective

TEXT = " ".join(WEIGHTS)


@pytest.mark.parametrize("method", ["lime", "kernelshap"])
def test_same_seed_same_explanation_other_seed_other_samples(method):
    # not additive (KernelSHAP would be exact whatever it drew): the values depend on the samples
    model = ToyModel(lambda ws: {"yes": float(len(ws)) ** 1.5 - 3.0 * ("w1" in ws and "w2" in ws), "no": 0.0})
    kw = dict(target=" yes", model=model, method=method, budget=60)
    text = " ".join(f"w{i}" for i in range(16))
    a = whyllm.explain(text, seed=7, **kw)
    b = whyllm.explain(text, seed=7, **kw)
    c = whyllm.explain(text, seed=8, **kw)
    assert a.values == b.values and a.fit == b.fit
    assert np.abs(np.subtract(a.values, c.values)).max() > 1e-6


def test_seed_does_not_touch_global_random_state(additive):
    np.random.seed(123)
    before = np.random.random()
    np.random.seed(123)
    whyllm.explain(TEXT, target=" yes", model=additive, method="lime", budget=50, seed=1)
    assert np.random.random() == before


def test_json_round_trip_is_exact(additive):
    exp = whyllm.explain(TEXT, target=" yes", model=additive, method="lime", budget=80, seed=3,
                         template="Q: {text} A:")
    exp = exp.with_metrics(whyllm.evaluate(exp, model=additive).to_dict())
    back = whyllm.Explanation.from_json(exp.to_json())
    assert back == exp
    assert back.to_json() == exp.to_json()
    assert back.model.model_id == "toy-additive-yes" and back.schema_version == whyllm.SCHEMA_VERSION


def test_json_rejects_other_schema_and_garbage(additive):
    exp = whyllm.explain("alpha beta", target=" yes", model=additive, method="occlusion")
    with pytest.raises(whyllm.InputError, match="schema"):
        current = f'"schema_version": {whyllm.SCHEMA_VERSION}'
        whyllm.Explanation.from_json(exp.to_json().replace(current, '"schema_version": 99'))
    with pytest.raises(whyllm.InputError):
        whyllm.Explanation.from_json("{not json")
    with pytest.raises(whyllm.InputError):
        whyllm.Explanation.from_json("[1, 2]")


def test_html_escapes_user_text():
    model = additive_model({"<script>alert(1)</script>": 1.0})
    exp = whyllm.explain("hello <script>alert(1)</script> world", target=" yes", model=model,
                         template="<b>{text}</b> &", method="occlusion")
    for page in (exp.to_html(), exp._repr_html_()):
        assert "<script>" not in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
        assert "&lt;b&gt;" in page


def test_frame_and_terminal(additive):
    exp = whyllm.explain("alpha beta delta", target=" yes", model=additive, method="kernelshap")
    frame = exp.to_frame()
    assert list(frame["feature"]) == ["alpha", "beta", "delta"]
    assert list(frame["rank"]) == [2, 3, 1]
    buf = io.StringIO()
    exp.print(Console(file=buf, width=100))
    out = buf.getvalue()
    assert "delta" in out and "+3.0000" in out and "cost:" in out


class RecordingObjective(PromptObjective):
    """An objective that keeps every mask a method passes and every array it hands back, each with a
    copy taken at that moment, so a later in-place change by the method is visible."""

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self.seen: list[tuple[np.ndarray, np.ndarray]] = []

    def _keep(self, a):
        self.seen.append((a, np.array(a, copy=True)))
        return a

    def _seqs(self, masks):
        if isinstance(masks, np.ndarray):
            self._keep(masks)
        return super()._seqs(masks)

    def columns_ids(self, seqs):
        return self._keep(super().columns_ids(seqs))

    def score_ids(self, seqs):
        return self._keep(super().score_ids(seqs))


@pytest.mark.parametrize("name", METHODS.names())
def test_method_conformance(name, additive):
    """sklearn-style rules for every registered method: repr, budget, and no mutation of anything
    it is given (the input's token groups and candidates, the target, the masks it passed, the
    arrays the objective returned)."""
    from whyllm.features import PromptInput
    from whyllm.targets import resolve_target

    cls = METHODS.get(name)
    # an LLM explainer is scripted: it ranks as the additive model's weights do (delta, then alpha)
    method = cls(explainer_model=ScriptedChat(["D, A, B, C, E"])) if name == "llm-icl" else cls()
    assert repr(method).startswith(cls.__name__ + "(")
    inp = PromptInput(additive, "alpha beta gamma delta eps")
    tgt = resolve_target(additive, ("yes", "no"), inp.ids)
    obj = RecordingObjective(additive, inp, tgt, with_top=method.needs_top(tgt))
    if cls.white_box:  # gradients and attention need a local transformers model: a clear error
        with pytest.raises(whyllm.ModelError, match="need a local transformers model"):
            method.attribute(obj, method.default_budget(5), np.random.default_rng(0))
        return
    # .params: what the Explanation records (an explainer model by its id: the model itself answers)
    before = copy.deepcopy((inp.ids, inp.groups, inp.candidates, inp.features, tgt, method.params))
    rng = np.random.default_rng(0)
    res = method.attribute(obj, method.default_budget(5), rng)
    assert (inp.ids, inp.groups, inp.candidates, inp.features, tgt, method.params) == before
    assert len(obj.seen) >= 2
    for kept, copied in obj.seen:
        np.testing.assert_array_equal(kept, copied)
    assert obj.evaluations <= method.default_budget(5)
    assert res.values.shape == (5,)
    if cls.kind == "attribution":  # additive model: every attribution ranks the features by weight
        order = np.argsort(-res.values)
        assert list(order[:2]) == [3, 0]
    else:  # rule methods flag the features of their rule
        assert set(np.unique(res.values)) <= {0.0, 1.0}
