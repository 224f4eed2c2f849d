"""Known marker genes per cell type from PanglaoDB (Franzén et al., Database 2019), looked up
through the Cell Ontology so that a predicted ``"T cell"`` finds the markers of PanglaoDB's
``"T cells"``, ``"T helper cells"``, ``"T regulatory cells"`` and the other is_a descendants.
"""

from __future__ import annotations

import csv
import gzip
import io
from dataclasses import dataclass
from pathlib import Path

from whyllm.errors import InputError
from whyllm.tasks.celltype.agreement import CelltypeScorer
from whyllm.tasks.celltype.ontology import normalize_celltype


@dataclass(frozen=True)
class KnownMarkers:
    """The PanglaoDB types that match a predicted name and the union of their genes (upper case)."""

    cell_types: tuple[str, ...]
    genes: frozenset[str]


class MarkerDatabase:
    """PanglaoDB rows of one species (``"Hs"`` human, ``"Mm"`` mouse), indexed by cell type."""

    def __init__(self, genes_by_type: dict[str, frozenset[str]], scorer: CelltypeScorer) -> None:
        self.genes_by_type = genes_by_type
        self.scorer = scorer
        self._terms = {t: scorer.resolve(t).cl_ids for t in genes_by_type}
        self.all_genes = frozenset().union(*genes_by_type.values()) if genes_by_type else frozenset()

    @classmethod
    def load(cls, path: str | Path, scorer: CelltypeScorer, species: str = "Hs") -> MarkerDatabase:
        """Read the PanglaoDB TSV (``.tsv`` or ``.tsv.gz``): needs species, gene symbol, cell type."""
        path = Path(path)
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise InputError(f"cannot read the marker database {path}: {exc.strerror}") from exc
        text = (gzip.decompress(raw) if path.suffix == ".gz" else raw).decode("utf-8")
        reader = csv.DictReader(io.StringIO(text), delimiter="\t")
        need = {"species", "official gene symbol", "cell type"}
        if not need <= set(reader.fieldnames or ()):
            raise InputError(f"{path} needs the columns {sorted(need)}")
        genes: dict[str, set[str]] = {}
        for row in reader:
            if species in (row["species"] or "").split():
                genes.setdefault(row["cell type"], set()).add(row["official gene symbol"].upper())
        return cls({t: frozenset(g) for t, g in genes.items()}, scorer)

    def markers_of(self, predicted: str) -> KnownMarkers:
        """Markers of the PanglaoDB types named like ``predicted`` or whose CL term is the predicted
        term or an is_a descendant of it."""
        key = normalize_celltype(predicted)
        targets = set(self.scorer.resolve(predicted).cl_ids)
        onto = self.scorer.ontology
        hits = []
        for cell_type, terms in self._terms.items():
            if normalize_celltype(cell_type) == key or any(
                    t in onto.names and targets & set(onto.ancestors(t)) for t in terms):
                hits.append(cell_type)
        genes = frozenset().union(*(self.genes_by_type[t] for t in hits)) if hits else frozenset()
        return KnownMarkers(tuple(sorted(hits)), genes)
