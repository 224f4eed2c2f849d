"""Self-contained HTML report, rendered by Jinja2 with autoescaping of every user string."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from jinja2 import Environment, PackageLoader, select_autoescape

from whyllm.report.chunks import prompt_chunks
from whyllm.report.matrix import answer_sentences, has_answer_matrix, top_sources
from whyllm.report.terminal import certainty_lines, plus_minus, rule_lines

if TYPE_CHECKING:
    from whyllm.explanation import Explanation

_ENV = Environment(loader=PackageLoader("whyllm", "report/templates"),
                   autoescape=select_autoescape(default=True, default_for_string=True))


def heat_color(value: float | None, intensity: float) -> str:
    """The heatmap colour of a value: red supports the target, blue opposes it; None is blank."""
    if value is None:
        return "transparent"
    alpha = round(0.08 + 0.72 * intensity, 3)
    return f"rgba(214, 69, 37, {alpha})" if value >= 0 else f"rgba(38, 110, 214, {alpha})"


def _context(exp: Explanation) -> dict:
    order = exp.ranking()
    return {
        "exp": exp,
        "chunks": [(c, heat_color(c.value, c.intensity)) for c in prompt_chunks(exp)],
        "rows": value_rows(exp, order),
        "certainty": [text for text, _ in certainty_lines(exp)],
        "target": exp.target.describe(),
        "answer": exp.target.texts[0],
        "rule_lines": [text for text, _ in rule_lines(exp)],
        "fit_rows": list(exp.fit.summary().items()),
        **matrix_context(exp),
    }


BAR_WIDTH = 240


def value_rows(exp: Explanation, order) -> list[dict]:
    """Each feature's row: rank, text, value, ± and an SVG bar with its 95 % interval as a whisker
    (on one axis through 0), and whether it lies below the certain top-k (shaded)."""
    v = exp.array
    lo = hi = v
    if exp.interval is not None:
        iv = np.asarray(exp.interval, dtype=np.float64)
        lo, hi = np.where(np.isfinite(iv[:, 0]), iv[:, 0], v), np.where(np.isfinite(iv[:, 1]), iv[:, 1], v)
    left, right = min(0.0, float(lo.min(initial=0.0))), max(0.0, float(hi.max(initial=0.0)))
    span = (right - left) or 1.0

    def x(value: float) -> float:
        return round(4 + (BAR_WIDTH - 8) * (value - left) / span, 1)

    rows, certain = [], exp.certain_top or 0
    for rank, i in enumerate(order, start=1):
        a, b = sorted((x(0.0), x(v[i])))
        rows.append({"rank": rank, "text": exp.features[i].text, "value": float(v[i]),
                     "pm": plus_minus(exp, i) if exp.interval is not None else None,
                     "bar_x": a, "bar_w": max(b - a, 0.5), "zero": x(0.0), "lo": x(lo[i]), "hi": x(hi[i]),
                     "whisker": exp.interval is not None and not exp.exact and hi[i] > lo[i],
                     "colour": "rgb(214,69,37)" if v[i] >= 0 else "rgb(38,110,214)",
                     "uncertain": exp.certain_top is not None and rank > certain,
                     "divider": exp.certain_top is not None and rank == certain and rank < len(order)})
    return rows


def matrix_context(exp: Explanation) -> dict:
    """The heatmap of the features x answer-tokens matrix and the answer's sentences, for the page's
    script: clicking a sentence colours the prompt by that sentence's sources."""
    if not has_answer_matrix(exp):
        return {"matrix": None}
    m = exp.matrix_array
    peak = float(np.abs(m).max()) or 1.0
    cells = [[(float(v), heat_color(float(v), min(1.0, abs(float(v)) / peak))) for v in row] for row in m]
    sentences = answer_sentences(exp)
    colours = []
    for s in sentences:
        top = max((abs(v) for v in s.values), default=0.0) or 1.0
        colours.append([heat_color(v, min(1.0, abs(v) / top)) for v in s.values])
    return {"matrix": {"outputs": [o.text for o in exp.outputs], "cells": cells,
                       "features": [f.text for f in exp.features],
                       "sentences": [(s.text, [top_sources(s, exp)]) for s in sentences],
                       "sentence_colours": colours}}


def render_fragment(exp: Explanation) -> str:
    """The report body alone (for notebooks' ``_repr_html_``)."""
    return _ENV.get_template("explanation.html.j2").render(page=False, bar_width=BAR_WIDTH, **_context(exp))


def render_html(exp: Explanation) -> str:
    """A whole page with inline CSS and no external resources."""
    return _ENV.get_template("explanation.html.j2").render(page=True, bar_width=BAR_WIDTH, **_context(exp))


def render_neurons_html(result) -> str:
    """A whole page for a neuron set (:class:`whyllm.neurons.NeuronSet`), every string escaped."""
    return _ENV.get_template("neurons.html.j2").render(r=result, fit=result.fit)


def render_template(name: str, **context) -> str:
    """Any of the package's templates (the run viewer's pages), with the same autoescaping."""
    return _ENV.get_template(name).render(**context)
