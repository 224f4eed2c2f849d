"""Clusters to annotate: from a marker table (CSV/TSV) or from an AnnData file, where markers come
from scanpy's ``rank_genes_groups`` (Wilcoxon, as GPTCelltype recommends).

Problems with one cluster (no genes, duplicates, strings that are not gene symbols) become
warnings on that cluster; only a file that cannot be read at all raises.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

from whyllm.errors import InputError

CLUSTER_COLUMNS = ("cluster", "cluster_id", "group", "name")
MARKER_COLUMNS = ("markers", "marker", "genes", "marker_genes")
TISSUE_COLUMNS = ("tissue",)
TRUTH_COLUMNS = ("truth", "manual_annotation", "cell_type", "celltype")
_SYMBOL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.\-_/@:]*$")


@dataclass(frozen=True)
class Cluster:
    """One cluster: its marker genes in the given (significance) order, tissue and optional truth."""

    name: str
    genes: tuple[str, ...]
    tissue: str
    truth: str | None = None
    warnings: tuple[str, ...] = field(default=())


def clean_genes(raw: list[str]) -> tuple[tuple[str, ...], list[str]]:
    """Strip, drop empties and non-symbols, and de-duplicate (first occurrence kept), with warnings."""
    genes, warnings, seen, dups, bad = [], [], set(), [], []
    for g in (x.strip() for x in raw):
        if not g:
            continue
        if not _SYMBOL.match(g):
            bad.append(g)
        elif g.upper() in seen:
            dups.append(g)
        else:
            seen.add(g.upper())
            genes.append(g)
    if bad:
        warnings.append(f"dropped {len(bad)} entries that are not gene symbols: {', '.join(bad[:5])}")
    if dups:
        warnings.append(f"dropped {len(dups)} duplicate genes: {', '.join(dups[:5])}")
    return tuple(genes), warnings


def _pick(columns: list[str], options: tuple[str, ...]) -> str | None:
    lower = {c.strip().lower(): c for c in columns}
    return next((lower[o] for o in options if o in lower), None)


def read_marker_table(path: str | Path, tissue: str | None = None) -> list[Cluster]:
    """Rows of ``cluster, markers`` (markers comma/semicolon separated); optional ``tissue`` and
    ``truth`` columns. The delimiter (comma or tab) is detected."""
    try:
        text = Path(path).read_bytes().decode("utf-8-sig")
    except FileNotFoundError as exc:
        raise InputError(f"no such file: {path}") from exc
    except UnicodeDecodeError as exc:
        raise InputError(f"{path} is not UTF-8 text") from exc
    first = text.splitlines()[0] if text.strip() else ""
    reader = csv.DictReader(io.StringIO(text), delimiter="\t" if "\t" in first else ",")
    columns = list(reader.fieldnames or [])
    marker_col = _pick(columns, MARKER_COLUMNS)
    if marker_col is None:
        raise InputError(f"{path} has no marker column (one of {', '.join(MARKER_COLUMNS)}); "
                         f"its columns are: {', '.join(columns) or 'none'}")
    cluster_col, tissue_col = _pick(columns, CLUSTER_COLUMNS), _pick(columns, TISSUE_COLUMNS)
    truth_col = _pick(columns, TRUTH_COLUMNS)
    if tissue is None and tissue_col is None:
        raise InputError(f"{path} has no tissue column; give the tissue (--tissue)")
    clusters = []
    for i, row in enumerate(reader, start=1):
        genes, warnings = clean_genes(re.split(r"[,;]", row.get(marker_col) or ""))
        name = (row.get(cluster_col) or "").strip() if cluster_col else ""
        truth = (row.get(truth_col) or "").strip() if truth_col else ""
        clusters.append(Cluster(
            name=name or f"row {i}", genes=genes,
            tissue=(row.get(tissue_col) or "").strip() if tissue_col and not tissue else str(tissue),
            truth=truth if truth and truth.upper() != "NA" else None, warnings=tuple(warnings)))
    if not clusters:
        raise InputError(f"{path} has a header but no clusters")
    return clusters


def read_anndata(path: str | Path, groupby: str, top: int = 10, tissue: str = "unknown",
                 truth_key: str | None = None) -> list[Cluster]:
    """Top ``top`` marker genes per group of ``adata.obs[groupby]`` by a Wilcoxon rank-sum test
    (scanpy's ``rank_genes_groups``; reused when already computed for the same grouping)."""
    try:
        import anndata
        import scanpy as sc
    except ImportError as exc:
        raise InputError("AnnData input needs scanpy: pip install 'whyllm[anndata]'") from exc
    try:
        adata = anndata.read_h5ad(path)
    except (OSError, KeyError, ValueError) as exc:
        raise InputError(f"cannot read {path} as AnnData: {exc}") from exc
    if groupby not in adata.obs:
        raise InputError(f"{path} has no obs column {groupby!r}; it has: {', '.join(adata.obs.columns)}")
    if truth_key is not None and truth_key not in adata.obs:
        raise InputError(f"{path} has no obs column {truth_key!r}")
    done = adata.uns.get("rank_genes_groups", {}).get("params", {}).get("groupby") == groupby
    if not done:
        if str(adata.obs[groupby].dtype) != "category":
            adata.obs[groupby] = adata.obs[groupby].astype(str).astype("category")
        sc.tl.rank_genes_groups(adata, groupby, method="wilcoxon", n_genes=top)
    names = adata.uns["rank_genes_groups"]["names"]
    clusters = []
    for group in names.dtype.names:
        genes, warnings = clean_genes([str(g) for g in names[group][:top]])
        truth = None
        if truth_key is not None:
            labels = adata.obs.loc[adata.obs[groupby].astype(str) == group, truth_key].astype(str)
            truth = labels.mode().iloc[0] if len(labels) else None
        clusters.append(Cluster(str(group), genes, tissue, truth, tuple(warnings)))
    return clusters
