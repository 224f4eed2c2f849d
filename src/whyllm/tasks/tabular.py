"""Tabular models: a numeric function with features as columns, explained by whyllm's methods.

The setting of Kroeger et al. 2023 ("Are Large Language Models Post Hoc Explainers?", arXiv
2310.05797): scikit-learn classifiers on tabular data, explained by LIME, KernelSHAP, gradients and
an LLM in context. This is an adapter, not a second library: :class:`TabularModel` wraps any
``predict_proba``-like function; :func:`explain_row` builds the same scoring function the text path
builds (an :class:`~whyllm.objective.Objective`'s interface over masks) and runs a registered method
on it, returning an ordinary :class:`~whyllm.explanation.Explanation`.

* A **removed column** takes its background value (the training mean by default), as KernelSHAP's
  interventional background and LIME's tabular baseline do.
* The **value** is the text path's: ``log p(class)`` (target ``class``), or the log-odds of one class
  against another (``against``), so the metrics' probability view holds.
* The **neighbourhood** an LLM explainer sees (``llm-icl``) is the paper's: the row plus Gaussian
  noise of standard deviation ``sigma`` (0.1) on every column, with the model's predicted label (or
  its value, ``icl_output="value"``) as the output.

The row is shown as ``name = value, ...``: each column one feature over its piece of that text.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from whyllm.cost import CostMeter
from whyllm.engine import assemble, attribute, budget_record, checked_budget, make_method
from whyllm.errors import InputError
from whyllm.explanation import Explanation
from whyllm.features.prompt_input import Feature
from whyllm.models.base import ModelInfo
from whyllm.objective import MemoisedObjective
from whyllm.targets.base import Output
from whyllm.targets.continuation import Continuation
from whyllm.targets.contrast import Contrast


class TabularModel:
    """``predict(X) -> (rows, classes)`` probabilities over named columns, with a background row."""

    backend = "tabular"

    def __init__(self, predict: Callable[[np.ndarray], np.ndarray], columns: Sequence[str],
                 background: Sequence[float], classes: Sequence[str] | None = None, name: str = "tabular"
                 ) -> None:
        self.predict = predict
        self.columns = tuple(str(c) for c in columns)
        self.background = np.asarray(background, dtype=np.float64)
        if self.background.shape != (len(self.columns),):
            raise InputError(f"the background has {self.background.size} values for "
                             f"{len(self.columns)} columns")
        self.classes = tuple(classes) if classes is not None else None
        self.name = name

    @classmethod
    def from_sklearn(cls, estimator, X_train: np.ndarray, columns: Sequence[str] | None = None,
                     name: str | None = None) -> TabularModel:
        """A fitted scikit-learn classifier, its training means as the background."""
        X_train = np.asarray(X_train, dtype=np.float64)
        columns = columns if columns is not None else [f"x{i}" for i in range(X_train.shape[1])]
        classes = [str(c) for c in getattr(estimator, "classes_", range(2))]
        return cls(estimator.predict_proba, columns, X_train.mean(axis=0), classes,
                   name or type(estimator).__name__)

    @property
    def info(self) -> ModelInfo:
        digest = hashlib.sha256(self.background.tobytes() + "|".join(self.columns).encode()).hexdigest()[:16]
        return ModelInfo(self.backend, self.name, digest, "float64", "cpu")

    def logprobs(self, X: np.ndarray, meter: CostMeter) -> np.ndarray:
        """(rows, classes) log-probabilities, clipped away from log 0."""
        p = np.asarray(self.predict(np.atleast_2d(X)), dtype=np.float64)
        meter.forward_passes += 1
        meter.sequences += len(p)
        meter.requests += len(p)
        return np.log(np.clip(p, 1e-12, 1.0))

    def class_index(self, spec: int | str) -> int:
        if isinstance(spec, str):
            if self.classes is None or spec not in self.classes:
                raise InputError(f"unknown class {spec!r}; the classes are {self.classes}")
            return self.classes.index(spec)
        return int(spec)

    def class_name(self, i: int) -> str:
        return self.classes[i] if self.classes is not None else str(i)


class _RowInput:
    """The row as an interpretable input: its text and one feature per column."""

    kind = "columns"
    template = None

    def __init__(self, model: TabularModel, x: np.ndarray) -> None:
        pieces, at, feats = [], 0, []
        for name, v in zip(model.columns, x):
            piece = f"{name} = {v:.4g}"
            feats.append(Feature(piece, at, at + len(piece)))
            pieces.append(piece)
            at += len(piece) + 2
        self.text = ", ".join(pieces)
        self._features = tuple(feats)
        self.names = model.columns

    @property
    def features(self) -> tuple[Feature, ...]:
        return self._features

    @property
    def n_features(self) -> int:
        return len(self._features)


class TabularObjective(MemoisedObjective):
    """Masks (True = column kept) -> the target's value: an :class:`~whyllm.objective.Objective`
    (and a :class:`~whyllm.objective.NeighbourhoodObjective`, with the paper's Gaussian
    :meth:`neighbourhood`), counting distinct evaluations."""

    def __init__(self, model: TabularModel, x: np.ndarray, target, meter: CostMeter, sigma: float = 0.1,
                 icl_output: str = "label") -> None:
        self.model, self.x, self.target, self.meter = model, np.asarray(x, dtype=np.float64), target, meter
        self.input = _RowInput(model, self.x)
        self.sigma, self.icl_output = float(sigma), icl_output
        self.progress = False
        self._memo: dict[bytes, np.ndarray] = {}

    @property
    def n_features(self) -> int:
        return len(self.x)

    def _columns(self, X: np.ndarray) -> np.ndarray:
        return self._columns_from(self.model.logprobs(X, self.meter))

    def __call__(self, masks: np.ndarray) -> np.ndarray:
        masks = np.atleast_2d(np.asarray(masks, dtype=bool))
        todo = [m for m in dict.fromkeys(m.tobytes() for m in masks) if m not in self._memo]
        if todo:
            keep = np.array([np.frombuffer(k, dtype=bool) for k in todo])
            cols = self._columns(np.where(keep, self.x, self.model.background))
            self._memo.update(zip(todo, cols))
        return np.array([self._memo[m.tobytes()] for m in masks])

    def value(self, masks: np.ndarray) -> np.ndarray:
        return self.reduce(self(masks))

    def sample_weights(self, masks: np.ndarray) -> np.ndarray:
        return np.ones(len(np.atleast_2d(masks)))

    def seen(self, masks: np.ndarray) -> np.ndarray:
        return np.array([m.tobytes() in self._memo for m in np.atleast_2d(np.asarray(masks, dtype=bool))])

    def neighbourhood(self, rows: int, rng: np.random.Generator
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
        """``rows`` points ``x + N(0, sigma^2)``, the model's output at each, the row and its own
        output: the predicted label (the paper's), or the explained value (``icl_output="value"``)."""
        X = np.vstack([self.x[None], self.x + rng.normal(0.0, self.sigma, size=(rows, len(self.x)))])
        lp = self.model.logprobs(X, self.meter)
        if self.icl_output == "label":
            y = lp.argmax(axis=1).astype(np.float64)
        else:
            y = self.target.reduce(self._columns_from(lp))
        return X[1:], y[1:], self.x, float(y[0])

    def describe_output(self) -> str:
        if self.icl_output == "label":
            classes = self.model.classes or ("0", "1")
            return "the predicted class (" + ", ".join(f"{i} = {c}" for i, c in enumerate(classes)) + ")"
        return self.target.describe()

    def _columns_from(self, lp: np.ndarray) -> np.ndarray:
        return np.stack([s * lp[:, c[0]] for s, c in zip(self.target.signs, self.target.ids)], axis=1)


def tabular_target(model: TabularModel, x: np.ndarray, target: int | str | None, against: int | str | None):
    """log p(target) (default: the predicted class), or its log-odds against ``against``."""
    if target is None:
        target = int(model.logprobs(x[None], CostMeter())[0].argmax())
    t = model.class_index(target)
    if against is None:
        return Continuation(texts=(model.class_name(t),), ids=((t,),))
    a = model.class_index(against)
    return Contrast(texts=(model.class_name(t), model.class_name(a)), ids=((t,), (a,)))


def explain_row(model: TabularModel, x: Sequence[float], *, method: str = "kernelshap", target: Any = None,
                against: Any = None, budget: int | None = None, seed: int | None = 0, sigma: float = 0.1,
                icl_output: str = "label", **method_params: Any) -> Explanation:
    """Explain ``model``'s output on the row ``x`` with the registered ``method``."""
    x = np.asarray(x, dtype=np.float64)
    if x.shape != (len(model.columns),):
        raise InputError(f"the row has {x.size} values for {len(model.columns)} columns")
    if icl_output not in ("label", "value"):
        raise InputError(f"icl_output is 'label' or 'value'; got {icl_output!r}")
    algo = make_method(method, method_params)
    meter = CostMeter()
    tgt = tabular_target(model, x, target, against)
    objective = TabularObjective(model, x, tgt, meter, sigma, icl_output)
    budget = checked_budget(algo, len(x), budget)
    result, used = attribute(algo, objective, budget, np.random.default_rng(seed))
    params = {**budget_record(budget, used), "sigma": sigma, "icl_output": icl_output,
              "background": model.background.tolist(), **algo.params, **(result.record or {})}
    outputs = tuple(Output(name, 0, len(name), part) for part, name in enumerate(tgt.texts))
    return assemble(result, text=objective.input.text, template=None, feature_kind="columns",
                    features=objective.input.features, target=tgt, method=method, params=params, seed=seed,
                    model_info=model.info, cost=meter.snapshot(), outputs=outputs)
