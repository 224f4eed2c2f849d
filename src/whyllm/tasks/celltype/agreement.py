"""Agreement of a cell-type annotation with the ground truth, scored as in GPTCelltype
(Hou & Ji, Nature Methods 2024): 1 for a full match, 0.5 for a partial one, 0 for a mismatch.

A name is first resolved to Cell Ontology terms and broad types: through an annotation map (the
GPTCelltype ``cl/compiled.csv`` format: original name, CL name, CL id, broad type; several values
comma-separated) when one is given, otherwise through the ontology's names and EXACT synonyms. A
term with no broad type of its own takes the broad type of its nearest is_a ancestor that has one.

* **full**: the same set of CL names, the same name after normalization, or both malignant;
* **partial**: the broad types overlap (after adding related broad types, e.g. ``b cell`` and
  ``lymphocyte``), or one CL term is an is_a ancestor of the other (``T cell`` vs ``CD4+ T cell``);
* **mismatch**: anything else, including a name that resolves to nothing (reported as unknown).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from whyllm.errors import InputError
from whyllm.tasks.celltype.ontology import CellOntology, normalize_celltype

MALIGNANT = "malignant cell"

# Broad types used when no annotation map is given: CL names, found in the ontology at load time.
DEFAULT_BROAD_TYPES = (
    "B cell", "T cell", "natural killer cell", "innate lymphoid cell", "lymphocyte", "dendritic cell",
    "monocyte", "macrophage", "granulocyte", "mast cell", "erythrocyte", "megakaryocyte", "platelet",
    "myeloid cell", "leukocyte", "hematopoietic cell", "epithelial cell", "endothelial cell",
    "fibroblast", "stromal cell", "smooth muscle cell", "muscle cell", "neuron", "glial cell",
    "fat cell", "osteoblast", "chondrocyte", "pericyte", "stem cell", "germ cell", "hepatocyte",
)


def _split(value: str) -> tuple[str, ...]:
    parts = (p.strip() for p in value.split(","))
    return tuple(p for p in parts if p and p.upper() != "NA")


@dataclass(frozen=True)
class Resolved:
    """What a free-text cell-type name means: CL terms, their names, broad types, and how found."""

    name: str
    cl_ids: tuple[str, ...]
    cl_names: tuple[str, ...]
    broad_types: tuple[str, ...]
    source: str  # "map" | "ontology" | "ontology-head" (a more general term, see resolve) | "unknown"

    @property
    def known(self) -> bool:
        return self.source != "unknown"


@dataclass(frozen=True)
class Agreement:
    score: float  # 1, 0.5 or 0
    reason: str  # same term | same name | malignant | broad type | ontology | mismatch | unknown truth/answer


class CelltypeScorer:
    """Resolves names and scores agreement; see the module docstring for the rules."""

    def __init__(self, ontology: CellOntology, annotation_map: dict[str, tuple[tuple[str, ...], ...]]
                 | None = None, related_broad_types: Iterable[tuple[str, str]] = ()) -> None:
        self.ontology = ontology
        self.annotation_map = annotation_map or {}
        pairs = {(a, b) for a, b in related_broad_types}
        self._related = pairs | {(b, a) for a, b in pairs}
        self._term_broad: dict[str, str] = {}
        for _names, cl_ids, types in self.annotation_map.values():
            if len(cl_ids) == 1 and len(types) == 1:
                self._term_broad.setdefault(cl_ids[0], types[0])
        if not self.annotation_map:
            for name in DEFAULT_BROAD_TYPES:
                for term in ontology.lookup(name)[:1]:
                    self._term_broad[term] = normalize_celltype(name)
        if not pairs:
            # without a curated list, two broad types are related when one is a kind of the other
            self._related = {(self._term_broad[a], self._term_broad[b]) for a in self._term_broad
                             for b in self._term_broad if a != b and ontology.related(a, b)}

    @classmethod
    def from_files(cls, ontology: CellOntology, annotation_map: str | Path | None = None,
                   relation: str | Path | None = None) -> CelltypeScorer:
        """A scorer from GPTCelltype's ``cl/compiled.csv`` and ``cl/relation.csv`` (both optional)."""
        amap = read_annotation_map(annotation_map) if annotation_map else None
        pairs = []
        if relation:
            with open(relation, newline="", encoding="utf-8") as fh:
                pairs = [(r[0].strip(), r[1].strip()) for r in csv.reader(fh) if len(r) >= 2]
        return cls(ontology, amap, pairs)

    def broad_type_of(self, term: str) -> str | None:
        """The broad type of the nearest is_a ancestor (or the term itself) that has one."""
        best = None
        for anc, dist in self.ontology.ancestors(term).items():
            if anc in self._term_broad and (best is None or dist < best[1]):
                best = (anc, dist)
        return self._term_broad[best[0]] if best else None

    def resolve(self, name: str) -> Resolved:
        key = normalize_celltype(name)
        if key in self.annotation_map:
            cl_names, cl_ids, types = self.annotation_map[key]
            return Resolved(name, cl_ids, cl_names, types, "map")
        terms = self.ontology.lookup(key)[:1]
        if terms:
            broad = self.broad_type_of(terms[0])
            return Resolved(name, terms, (self.ontology.names[terms[0]],), (broad,) if broad else (),
                            "ontology")
        # "naive CD4+ T cell" -> "CD4+ T cell" -> "T cell": the most specific known head phrase,
        # which can support a partial match (ontology, broad type) but never a full one
        words = key.split(" ")
        for start in range(1, len(words) - (words[-1] == "cell")):  # never the root term "cell"
            terms = self.ontology.lookup(" ".join(words[start:]))[:1]
            if terms:
                broad = self.broad_type_of(terms[0])
                return Resolved(name, terms, (), (broad,) if broad else (), "ontology-head")
        return Resolved(name, (), (), (), "unknown")

    def _broad_match(self, a: tuple[str, ...], b: tuple[str, ...]) -> bool:
        """The same broad type, or two broad types listed as related (one step, not transitively:
        ``monocyte`` and ``neutrophil`` are both myeloid, yet they do not match each other)."""
        return any(x == y or (x, y) in self._related for x in a for y in b)

    def score(self, truth: str, predicted: str) -> Agreement:
        """Agreement of ``predicted`` with ``truth`` (both free-text names)."""
        t, p = self.resolve(truth), self.resolve(predicted)
        if t.cl_names and set(t.cl_names) == set(p.cl_names):
            return Agreement(1.0, "same term")
        if normalize_celltype(truth) == normalize_celltype(predicted) and normalize_celltype(truth):
            return Agreement(1.0, "same name")
        if MALIGNANT in t.broad_types and MALIGNANT in p.broad_types:
            return Agreement(1.0, "malignant")
        if self._broad_match(t.broad_types, p.broad_types):
            return Agreement(0.5, "broad type")
        # the curated map decides when it knows both names; the ontology fills in where it does not
        curated = t.source == "map" and p.source == "map"
        if not curated and any(self.ontology.related(a, b) for a in t.cl_ids for b in p.cl_ids
               if a in self.ontology.names and b in self.ontology.names):
            return Agreement(0.5, "ontology")
        if not t.known:
            return Agreement(0.0, "unknown truth")
        return Agreement(0.0, "mismatch" if p.known else "unknown answer")


def read_annotation_map(path: str | Path) -> dict[str, tuple[tuple[str, ...], ...]]:
    """GPTCelltype's ``compiled.csv``: original name -> (CL names, CL ids, broad types)."""
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
    except OSError as exc:
        raise InputError(f"cannot read the annotation map {path}: {exc.strerror}") from exc
    need = {"originalname", "Clname", "CLID", "type"}
    if not rows or not need <= set(rows[0]):
        raise InputError(f"{path} needs the columns {sorted(need)}")
    out = {}
    for r in rows:
        key = normalize_celltype(r["originalname"])
        out.setdefault(key, (_split(r["Clname"] or ""), _split(r["CLID"] or ""), _split(r["type"] or "")))
    return out
