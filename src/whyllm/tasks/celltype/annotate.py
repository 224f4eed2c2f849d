"""Annotate clusters with a language model, explain each annotation over its marker genes, and
check the explanation against biology.

For each cluster: the model's greedy answer after the annotation prompt (parsed to one cell-type
name); an attribution of log p(answer) to the marker genes (features = list items, KernelSHAP by
default: exact Shapley values when 2^n fits the budget); the PanglaoDB markers of the predicted
type among the genes; the agreement with the ground truth when one is given; and plausibility:
precision@k of the k genes that pushed the answer most against PanglaoDB, next to the expected
precision@k of a random order of the same genes (Jacovi & Goldberg 2020 on plausibility vs
faithfulness: a plausible explanation is not proof, so both are reported).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from whyllm.engine import explain_on
from whyllm.errors import WhyllmError
from whyllm.explanation import Explanation
from whyllm.models import LanguageModel
from whyllm.models.base import ScoreRequest
from whyllm.tasks.celltype.inputs import Cluster
from whyllm.tasks.celltype.prompts import celltype_template, parse_answer
from whyllm.tasks.celltype.resources import CelltypeResources

log = logging.getLogger(__name__)


@dataclass
class ClusterResult:
    """Everything whyllm says about one cluster; ``error`` is set when it could not be annotated."""

    cluster: str
    tissue: str
    genes: tuple[str, ...]
    annotation: str | None = None
    raw_answer: str | None = None
    truth: str | None = None
    agreement: float | None = None
    agreement_reason: str | None = None
    contributions: dict[str, float] = field(default_factory=dict)
    known_markers: tuple[str, ...] = ()
    marker_types: tuple[str, ...] = ()
    precision_at_k: float | None = None
    random_precision_at_k: float | None = None
    input_order_precision_at_k: float | None = None
    explanation: Explanation | None = None
    warnings: tuple[str, ...] = ()
    error: str | None = None

    def ranked_genes(self) -> list[tuple[str, float]]:
        return sorted(self.contributions.items(), key=lambda kv: -kv[1])

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["explanation"] = self.explanation.to_dict() if self.explanation is not None else None
        return d


def precision_at_k(ranked: Sequence[str], known: frozenset[str], k: int) -> float:
    """Share of the first ``k`` genes of ``ranked`` that are in ``known`` (case-insensitive)."""
    top = list(ranked)[:k]
    return sum(g.upper() in known for g in top) / len(top) if top else 0.0


def random_precision_at_k(genes: Sequence[str], known: frozenset[str], k: int) -> float:
    """Expected precision@k of a uniformly random order of ``genes``: exactly hits / n."""
    return sum(g.upper() in known for g in genes) / len(genes) if genes else 0.0


def annotate_cluster(cluster: Cluster, model: LanguageModel, res: CelltypeResources, *,
                     style: str = "gptcelltype", few_shot: bool = True,
                     explain_with: str | None = "kernelshap",
                     budget: int = 128, seed: int = 0, k: int = 3, progress: bool = False) -> ClusterResult:
    """Annotate and explain one cluster; errors specific to it are returned, not raised."""
    out = ClusterResult(cluster.name, cluster.tissue, cluster.genes, truth=cluster.truth,
                        warnings=cluster.warnings)
    if not cluster.genes:
        out.error = "the cluster has no marker genes"
        return out
    template = celltype_template(cluster.tissue, style=style, few_shot=few_shot)
    markers_text = ", ".join(cluster.genes)
    try:
        prompt_ids = model.encode(template.replace("{text}", markers_text)).ids
        model.check_fits(ScoreRequest(tuple(prompt_ids), (0,) * 16))
        out.raw_answer = model.decode(model.generate(prompt_ids, 16))
        out.annotation = parse_answer(out.raw_answer)
    except WhyllmError as exc:
        out.error = str(exc)
        return out
    known = res.markers.markers_of(out.annotation)
    out.marker_types = known.cell_types
    out.known_markers = tuple(g for g in cluster.genes if g.upper() in known.genes)
    unknown = [g for g in cluster.genes if g.upper() not in res.markers.all_genes]
    if unknown:
        more = " ..." if len(unknown) > 8 else ""
        out.warnings += (f"not in PanglaoDB: {', '.join(unknown[:8])}{more}",)
    if cluster.truth:
        agreement = res.scorer.score(cluster.truth, out.annotation)
        out.agreement, out.agreement_reason = agreement.score, agreement.reason
    if known.cell_types:
        out.input_order_precision_at_k = precision_at_k(cluster.genes, known.genes, k)
    if explain_with is None:
        return out
    try:
        n = len(cluster.genes)
        exp = explain_on(model, markers_text, " " + out.annotation, method=explain_with, features="items",
                         template=template, budget=max(min(budget, 2**n), n + 2 if n > 1 else 2), seed=seed,
                         progress=progress)
    except WhyllmError as exc:
        out.error = f"explanation failed: {exc}"
        return out
    out.explanation = exp
    out.contributions = {f.text: float(v) for f, v in zip(exp.features, exp.values)}
    if known.cell_types:
        ranked = [g for g, _ in out.ranked_genes()]
        out.precision_at_k = precision_at_k(ranked, known.genes, k)
        out.random_precision_at_k = random_precision_at_k(cluster.genes, known.genes, k)
    return out
