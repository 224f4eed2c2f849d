"""Vector-valued objectives: the features x answer-tokens matrix, from the same samples.

The toy's answer has one token per feature, and token j's log-prob is 1 exactly when feature j is
present (0 otherwise): the exact Shapley matrix is the identity. Its row sums are the scalar values
(the summed log-prob of the answer), and efficiency holds per column.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import whyllm
from whyllm.models.toy import EOS, ToyModel
from whyllm.targets import span

WORDS = ["red", "green", "blue", "cyan"]
ANSWER = ["A0", "A1", "A2", "A3"]
DATA = Path(__file__).resolve().parents[1] / "data" / "v1"


def identity_model() -> ToyModel:
    def score(words):
        answer_so_far = [w for w in words if w in ANSWER]
        j = len(answer_so_far)
        if j == len(ANSWER):
            return {EOS: 0.0}
        present = WORDS[j] in words
        return {ANSWER[j]: 1.0 if present else 0.0, EOS: -5.0}

    return ToyModel(score, name="toy-identity", cache=None)


TEXT = " ".join(WORDS)
TARGET = " " + " ".join(ANSWER)


@pytest.mark.parametrize("method,budget", [("kernelshap", 16), ("occlusion", None)])
def test_token_j_depends_on_feature_j_only_gives_the_identity(method, budget):
    exp = whyllm.explain(TEXT, TARGET, model=identity_model(), method=method, budget=budget)
    m = exp.matrix_array
    assert m.shape == (4, 4)
    np.testing.assert_allclose(m, np.eye(4), atol=1e-9)
    assert [o.text for o in exp.outputs] == ANSWER


@pytest.mark.parametrize("method,budget", [("kernelshap", 16), ("kernelshap", 9), ("lime", 40),
                                           ("occlusion", None)])
def test_row_sums_are_the_scalar_values_and_efficiency_holds_per_column(method, budget):
    exp = whyllm.explain(TEXT, TARGET, model=identity_model(), method=method, budget=budget, seed=2)
    m = exp.matrix_array
    np.testing.assert_allclose(m.sum(axis=1), exp.values, atol=1e-9)
    np.testing.assert_allclose(sum(exp.full_columns), exp.full_value, atol=1e-9)
    np.testing.assert_allclose(sum(exp.base_columns), exp.base_value, atol=1e-9)
    if method == "kernelshap":  # sampled or exact: base + column sum = full, for every column
        np.testing.assert_allclose(np.array(exp.base_columns) + m.sum(axis=0), exp.full_columns, atol=1e-9)


def test_contrast_columns_are_a_then_minus_b():
    model = identity_model()
    exp = whyllm.explain(TEXT, (" A0 A1", " A0"), model=model, method="kernelshap", budget=16)
    assert [(o.text, o.part) for o in exp.outputs] == [("A0", 0), ("A1", 0), ("A0", 1)]
    m = exp.matrix_array
    np.testing.assert_allclose(m[:, 0] + m[:, 2], 0.0, atol=1e-9)  # A0 in both parts cancels
    np.testing.assert_allclose(m[:, 1], [0, 1, 0, 0], atol=1e-9)
    np.testing.assert_allclose(m.sum(axis=1), exp.values, atol=1e-9)


def test_span_target_explains_only_its_tokens_given_the_answer_before_it():
    model = identity_model()
    answer = TARGET  # " A0 A1 A2 A3"; characters of "A2"
    start = answer.index("A2")
    exp = whyllm.explain(TEXT, span(answer, start, start + 2), model=model, method="kernelshap", budget=16)
    assert exp.target.kind == "span" and [o.text for o in exp.outputs] == ["A2"]
    np.testing.assert_allclose(exp.values, [0, 0, 1, 0], atol=1e-9)
    whole = whyllm.explain(TEXT, TARGET, model=model, method="kernelshap", budget=16)
    np.testing.assert_allclose(exp.values, whole.matrix_array[:, 2], atol=1e-12)
    assert whyllm.Explanation.from_json(exp.to_json()) == exp
    with pytest.raises(whyllm.InputError, match="not inside the answer"):
        span(answer, 3, 99)


def test_rule_methods_are_scalar_only():
    exp = whyllm.explain(TEXT, " A0", model=identity_model(), method="lore", budget=60)
    assert exp.matrix is None and exp.outputs == ()
    with pytest.raises(whyllm.InputError, match="no per-output matrix"):
        exp.matrix_frame()


def test_matrix_round_trips_and_has_a_long_frame():
    exp = whyllm.explain(TEXT, TARGET, model=identity_model(), method="lime", budget=30)
    back = whyllm.Explanation.from_json(exp.to_json())
    assert back == exp and back.to_json() == exp.to_json()
    frame = exp.matrix_frame()
    assert len(frame) == 16
    assert list(frame.columns[:4]) == ["feature", "feature_index", "output", "output_index"]
    assert frame.loc[5, "value"] == exp.matrix[1][1]


@pytest.mark.parametrize("name", ["toy_kernelshap.json", "toy_lime_contrast.json", "gemma_kernelshap.json"])
def test_schema_1_files_load(name):
    text = (DATA / name).read_text(encoding="utf-8")
    assert json.loads(text)["schema_version"] == 1
    exp = whyllm.Explanation.from_json(text)
    assert exp.schema_version == whyllm.SCHEMA_VERSION == 3 and exp.matrix is None
    assert exp.stderr is None and exp.interval is None and exp.certain_top is None
    assert list(exp.values) == json.loads(text)["values"]
    assert whyllm.Explanation.from_json(exp.to_json()) == exp
    if name.startswith("gemma"):
        assert exp.top(1)[0][0] == "Eiffel" and abs(exp.base_value + sum(exp.values) - exp.full_value) < 1e-9


def test_schema_2_file_loads_without_uncertainty():
    """A schema-2 file (written by whyllm before intervals) loads with its matrix and no errors."""
    text = (DATA.parent / "v2" / "toy_lime_matrix.json").read_text(encoding="utf-8")
    assert json.loads(text)["schema_version"] == 2
    exp = whyllm.Explanation.from_json(text)
    assert exp.schema_version == 3 and exp.matrix is not None and len(exp.matrix) == 6
    assert exp.stderr is None and exp.matrix_stderr is None and exp.uncertainty == {}
    assert list(exp.values) == json.loads(text)["values"]
    frame = exp.to_frame()
    assert frame["stderr"].isna().all() and not frame["certain_top"].any()
    assert whyllm.Explanation.from_json(exp.to_json()) == exp
