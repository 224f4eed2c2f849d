"""The Cell Ontology (Diehl et al., J. Biomed. Semantics 2016) as a name index and an is_a graph.

Parsed with ``obonet`` (a real OBO 1.2 reader); names and EXACT synonyms are indexed after
:func:`normalize_celltype`, so ``"B cells"``, ``"B-cell"`` and ``"B lymphocytes"`` all find
``CL:0000236``. Only ``is_a`` edges are followed for ancestors: ``part_of`` and taxon links do not
make one cell type a kind of another.
"""

from __future__ import annotations

import gzip
import io
import re
from collections import deque
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import obonet

from whyllm.errors import InputError

_SYNONYM = re.compile(r'^"(?P<text>(?:[^"\\]|\\.)*)"\s+(?P<scope>EXACT|BROAD|NARROW|RELATED)')
_SPACES = re.compile(r"[\s_]+")
_CELLS = re.compile(r"\bcells\b")


def singular(word: str) -> str:
    """``cells`` -> ``cell``, ``Hepatocytes`` -> ``Hepatocyte``; keeps ``-ss``, ``-us``, ``-is`` words."""
    low = word.lower()
    if low.endswith("cells"):
        return word[:-1]
    if len(word) > 3 and word.isalpha() and low.endswith("s") and not low.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def normalize_celltype(name: str) -> str:
    """Lower case, one space, no trailing punctuation, last word singular (``"B Cells."`` -> ``"b cell"``)."""
    text = _SPACES.sub(" ", name.strip().lower()).strip(" .;:")
    text = _CELLS.sub("cell", text)
    if not text:
        return ""
    head, sep, last = text.rpartition(" ")
    stem, dash, tail = last.rpartition("-")  # "b-lymphocytes" -> "b-lymphocyte"
    if tail.isalpha():
        tail = singular(tail)
    return head + sep + stem + dash + tail


@dataclass(frozen=True)
class CellOntology:
    """Terms (id -> name), their EXACT synonyms and is_a parents, with a normalized name index."""

    names: dict[str, str]
    parents: dict[str, tuple[str, ...]]
    synonyms: dict[str, tuple[str, ...]] = field(default_factory=dict)
    version: str = ""

    @classmethod
    def load(cls, path: str | Path) -> CellOntology:
        """Read an ``.obo`` (or ``.obo.gz``) file; obsolete terms are skipped."""
        path = Path(path)
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise InputError(f"cannot read the Cell Ontology at {path}: {exc.strerror}") from exc
        if path.suffix == ".gz":
            raw = gzip.decompress(raw)
        try:
            graph = obonet.read_obo(io.StringIO(raw.decode("utf-8")))
        except Exception as exc:  # obonet raises bare exceptions on malformed stanzas
            raise InputError(f"{path} is not a readable OBO file: {exc}") from exc
        names, parents, synonyms = {}, {}, {}
        for term, data in graph.nodes(data=True):
            if not term.startswith("CL:") or "name" not in data:
                continue
            names[term] = data["name"]
            parents[term] = tuple(p for p in data.get("is_a", []) if p.startswith("CL:"))
            exact = []
            for syn in data.get("synonym", []):
                m = _SYNONYM.match(syn)
                if m and m["scope"] == "EXACT":
                    exact.append(m["text"])
            synonyms[term] = tuple(exact)
        if not names:
            raise InputError(f"{path} holds no CL: terms")
        version = str(graph.graph.get("data-version", ""))
        return cls(names, parents, synonyms, version)

    @cached_property
    def _index(self) -> dict[str, tuple[str, ...]]:
        index: dict[str, list[str]] = {}
        # names first, so that a term's own name wins over another term's synonym
        for term, name in self.names.items():
            index.setdefault(normalize_celltype(name), []).append(term)
        for term, syns in self.synonyms.items():
            for syn in syns:
                key = normalize_celltype(syn)
                if term not in index.setdefault(key, []):
                    index[key].append(term)
        return {k: tuple(v) for k, v in index.items()}

    def lookup(self, name: str) -> tuple[str, ...]:
        """Term ids whose name or EXACT synonym equals ``name`` after normalization (best first)."""
        return self._index.get(normalize_celltype(name), ())

    def ancestors(self, term: str) -> dict[str, int]:
        """Every is_a ancestor of ``term`` with its distance (``term`` itself at 0)."""
        seen = {term: 0}
        queue = deque([term])
        while queue:
            cur = queue.popleft()
            for parent in self.parents.get(cur, ()):
                if parent not in seen:
                    seen[parent] = seen[cur] + 1
                    queue.append(parent)
        return seen

    def related(self, a: str, b: str) -> bool:
        """Whether one term is the other or an is_a ancestor of it."""
        return a in self.ancestors(b) or b in self.ancestors(a)
