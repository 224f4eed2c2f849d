"""Reports of a cell-type run: a terminal table, and an HTML page with one card per cluster
(genes coloured by contribution, PanglaoDB markers boxed). Every user string is escaped."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from jinja2 import Environment, PackageLoader, select_autoescape
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from whyllm.report.html import heat_color

if TYPE_CHECKING:
    from whyllm.tasks.celltype.annotate import ClusterResult

_ENV = Environment(loader=PackageLoader("whyllm", "report/templates"),
                   autoescape=select_autoescape(default=True, default_for_string=True))


def summarize(results: Sequence[ClusterResult]) -> list[tuple[str, str]]:
    """Mean agreement and plausibility over the clusters that have them."""
    def mean(xs: list[float]) -> str:
        return f"{sum(xs) / len(xs):.3f} over {len(xs)}" if xs else "n/a"

    return [
        ("clusters", str(len(results))),
        ("failed", str(sum(r.error is not None for r in results))),
        ("mean agreement", mean([r.agreement for r in results if r.agreement is not None])),
        ("precision@k, explanation", mean([r.precision_at_k for r in results
                                           if r.precision_at_k is not None])),
        ("precision@k, random order", mean([r.random_precision_at_k for r in results
                                            if r.random_precision_at_k is not None])),
    ]


def _card(r: ClusterResult) -> dict:
    peak = max((abs(v) for v in r.contributions.values()), default=0.0) or 1.0
    known = {g.upper() for g in r.known_markers}
    genes = []
    for g in r.genes:
        v = r.contributions.get(g)
        color = heat_color(v, abs(v) / peak) if v is not None else "transparent"
        genes.append((g, v, color, g.upper() in known))
    score_class = {1.0: "score1", 0.5: "score05", 0.0: "score0"}.get(r.agreement, "")
    return {"r": r, "genes": genes, "score_class": score_class}


def render_celltype_html(results: Sequence[ClusterResult], *, model_id: str, style: str, method: str,
                         k: int = 3) -> str:
    return _ENV.get_template("celltype.html.j2").render(
        cards=[_card(r) for r in results], model_id=model_id, style=style, method=method, k=k,
        summary=summarize(results))


def print_celltype_table(results: Sequence[ClusterResult], console: Console | None = None, k: int = 3,
                         top: int = 3) -> None:
    console = console or Console()
    table = Table(title="cell-type annotation, explained")
    for col in ("cluster", "annotation", "truth", "agree", f"top {top} genes", "known markers",
                f"P@{k}", "random"):
        table.add_column(col, overflow="fold")
    for r in results:
        if r.error:
            table.add_row(escape(r.cluster), f"[red]error: {escape(r.error)}[/red]", escape(r.truth or ""),
                          "", "", "", "", "")
            continue
        top_genes = ", ".join(f"{g} {v:+.2f}" for g, v in r.ranked_genes()[:top])
        table.add_row(
            escape(r.cluster), escape(r.annotation or ""), escape(r.truth or ""),
            "" if r.agreement is None else f"{r.agreement:g}", escape(top_genes),
            escape(", ".join(r.known_markers)),
            "" if r.precision_at_k is None else f"{r.precision_at_k:.2f}",
            "" if r.random_precision_at_k is None else f"{r.random_precision_at_k:.2f}")
    console.print(table)
    for key, value in summarize(results):
        console.print(f"{key}: {value}")
