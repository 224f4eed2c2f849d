"""Self-contained HTML report, rendered by Jinja2 with autoescaping of every user string."""

from __future__ import annotations

from typing import TYPE_CHECKING

from jinja2 import Environment, PackageLoader, select_autoescape

from whyllm.report.chunks import prompt_chunks
from whyllm.report.terminal import rule_lines

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
        "rows": [(rank + 1, exp.features[i].text, exp.values[i]) for rank, i in enumerate(order)],
        "target": exp.target.describe(),
        "answer": exp.target.texts[0],
        "rule_lines": [text for text, _ in rule_lines(exp)],
        "fit_rows": list(exp.fit.summary().items()),
    }


def render_fragment(exp: Explanation) -> str:
    """The report body alone (for notebooks' ``_repr_html_``)."""
    return _ENV.get_template("explanation.html.j2").render(page=False, **_context(exp))


def render_html(exp: Explanation) -> str:
    """A whole page with inline CSS and no external resources."""
    return _ENV.get_template("explanation.html.j2").render(page=True, **_context(exp))


def render_neurons_html(result) -> str:
    """A whole page for a neuron set (:class:`whyllm.neurons.NeuronSet`), every string escaped."""
    return _ENV.get_template("neurons.html.j2").render(r=result, fit=result.fit)
