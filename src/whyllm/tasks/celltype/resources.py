"""The reference data a cell-type run needs: the Cell Ontology, an agreement scorer and PanglaoDB.

By default the copies shipped in ``data/`` (see its ATTRIBUTION.md); every file can be replaced by a
path, and GPTCelltype's curated annotation map and broad-type relations can be added so that scores
are comparable with the published ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from whyllm.tasks.celltype.agreement import CelltypeScorer
from whyllm.tasks.celltype.markerdb import MarkerDatabase
from whyllm.tasks.celltype.ontology import CellOntology

_DATA = resources.files("whyllm.tasks.celltype") / "data"


@dataclass(frozen=True)
class CelltypeResources:
    ontology: CellOntology
    scorer: CelltypeScorer
    markers: MarkerDatabase

    @classmethod
    def load(cls, ontology: str | Path | None = None, markers: str | Path | None = None,
             annotation_map: str | Path | None = None, relation: str | Path | None = None,
             species: str = "Hs") -> CelltypeResources:
        """Load the shipped (or given) ontology and marker database; ``species`` is ``Hs`` or ``Mm``."""
        with resources.as_file(_DATA / "cl-basic.obo.gz") as default_obo:
            onto = CellOntology.load(ontology or default_obo)
        scorer = CelltypeScorer.from_files(onto, annotation_map, relation)
        with resources.as_file(_DATA / "panglaodb-markers.tsv.gz") as default_db:
            db = MarkerDatabase.load(markers or default_db, scorer, species=species)
        return cls(onto, scorer, db)
