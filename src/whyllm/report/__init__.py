"""Human-readable views of results: HTML pages, terminal tables, narration; registered in
:data:`whyllm.registry.VIEWS`, through which an Explanation's ``to_html``/``print``/``narrate`` and a
NeuronSet's reach them."""

from whyllm.registry import VIEWS
from whyllm.report.html import render_fragment, render_html, render_neurons_html
from whyllm.report.narration import narrate
from whyllm.report.terminal import print_explanation, print_neurons

VIEWS.register("html")(render_html)
VIEWS.register("fragment")(render_fragment)
VIEWS.register("terminal")(print_explanation)
VIEWS.register("narrate")(narrate)
VIEWS.register("neurons-html")(render_neurons_html)
VIEWS.register("neurons-terminal")(print_neurons)
