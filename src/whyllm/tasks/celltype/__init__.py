"""Cell-type annotation from marker genes, explained (GPTCelltype, Hou & Ji, Nature Methods 2024)."""

from whyllm.tasks.celltype.agreement import Agreement, CelltypeScorer
from whyllm.tasks.celltype.annotate import ClusterResult, annotate_cluster
from whyllm.tasks.celltype.inputs import Cluster, read_anndata, read_marker_table
from whyllm.tasks.celltype.ontology import CellOntology, normalize_celltype
from whyllm.tasks.celltype.prompts import celltype_template, parse_answer
from whyllm.tasks.celltype.resources import CelltypeResources

__all__ = ["Agreement", "CellOntology", "CelltypeResources", "CelltypeScorer", "Cluster", "ClusterResult",
           "annotate_cluster", "celltype_template", "normalize_celltype", "parse_answer", "read_anndata",
           "read_marker_table"]
