"""The tabular adapter: scikit-learn models explained by whyllm's methods, with exact answers on a
logistic regression (its log-odds are linear, so its Shapley values are coef * (x - background))."""

from __future__ import annotations

import re

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

import whyllm
from tests.chat_models import ScriptedChat
from whyllm.errors import InputError
from whyllm.tasks.tabular import TabularModel, explain_row


@pytest.fixture(scope="module")
def lr():
    data = load_breast_cancer()
    X = StandardScaler().fit_transform(data.data[:, :5])
    clf = LogisticRegression(max_iter=1000).fit(X, data.target)
    names = [n.replace(" ", "_") for n in data.feature_names[:5]]
    # the background is the mean of the first 100 rows, far from the standardised data's 0
    return TabularModel.from_sklearn(clf, X[:100], names, name="lr-breast-cancer"), clf, X


def test_kernelshap_and_occlusion_on_log_odds_are_the_linear_models_exact_shapley_values(lr):
    model, clf, X = lr
    x = X[7]
    background = X[:100].mean(axis=0)
    assert np.abs(background).max() > 0.3
    exact = clf.coef_[0] * (x - background)  # log-odds of class 1 against class 0 is linear
    shap = explain_row(model, x, method="kernelshap", target=1, against=0, budget=32)
    occ = explain_row(model, x, method="occlusion", target=1, against=0)
    assert shap.values == pytest.approx(exact, abs=1e-9) and occ.values == pytest.approx(exact, abs=1e-9)
    assert shap.full_value == pytest.approx(float(clf.decision_function(x[None])[0]), abs=1e-9)
    assert shap.base_value + sum(shap.values) == pytest.approx(shap.full_value, abs=1e-9)
    assert shap.cost.sequences == 32 and occ.cost.sequences == 7  # occlusion: n + full + empty
    assert shap.model.backend == "tabular" and shap.feature_kind == "columns"
    assert shap.features[0].text.startswith("mean_radius = ")
    assert whyllm.Explanation.from_json(shap.to_json()) == shap


def test_llm_icl_sees_the_papers_gaussian_neighbourhood_and_predicted_labels(lr):
    model, _, X = lr
    x = X[3]
    chat = ScriptedChat(["Looking at the changes...\nC, A, B, E, D"])
    e = explain_row(model, x, method="llm-icl", explainer_model=chat, strategy="instruction", budget=18,
                    seed=1)
    prompt = chat.prompts[0]
    changes = [[float(v) for v in re.findall(r"[A-E]: (-?[\d.]+)", ln)] for ln in prompt.splitlines()
               if ln.startswith("Change in Input:")]
    deltas = np.array(changes)
    assert deltas.shape == (16, 5)
    assert 0.05 < deltas.std() < 0.15  # sigma 0.1 around the row, shown at 3 decimals
    outs = {float(v) for v in re.findall(r"^Change in Output: (-?[\d.]+)$", prompt, flags=re.M)}
    assert outs <= {-1.0, 0.0, 1.0}  # changes of the predicted label
    assert "the predicted class (0 = 0, 1 = 1)" in prompt
    assert e.params["llm_icl"]["ranking"] == ["C", "A", "B", "E", "D"]
    assert [e.features[i].text.split(" =")[0] for i in e.ranking()[:2]] == ["mean_perimeter", "mean_radius"]
    # the same seed draws the same neighbourhood
    again = ScriptedChat(["C, A"])
    explain_row(model, x, method="llm-icl", explainer_model=again, strategy="instruction", budget=18, seed=1)
    assert again.prompts[0] == prompt


def test_text_names_are_the_column_names(lr):
    model, _, X = lr
    chat = ScriptedChat(["mean_texture, mean_radius"])
    e = explain_row(model, X[0], method="llm-icl", explainer_model=chat, names="text", budget=10)
    assert "features: ['mean_radius', 'mean_texture'," in chat.prompts[0]
    assert e.params["llm_icl"]["ranking"] == ["mean_texture", "mean_radius"]


def test_bad_rows_and_classes_fail_clearly(lr):
    model, _, X = lr
    with pytest.raises(InputError, match="the row has 3 values for 5 columns"):
        explain_row(model, X[0, :3])
    with pytest.raises(InputError, match="unknown class 'benign'"):
        explain_row(model, X[0], target="benign")
    with pytest.raises(InputError, match="background has 2 values"):
        TabularModel(lambda X: X, ["a", "b", "c"], [0.0, 1.0])
