"""Annotation prompts and answer parsing.

Two instructions, adapted to a completion model (the answer follows ``Cell type:``):

* ``gptcelltype``: the prompt of GPTCelltype (Hou & Ji, Nature Methods 2024), "Identify cell types
  of {tissue} cells using the following markers ... Only provide the cell type name";
* ``soar``: the expert framing of SOAR (arXiv 2412.02915), which asks for the most specific type the
  canonical markers support.

Few-shot examples (on by default: a small base model needs the answer format shown) use textbook
canonical markers of four common types, not rows of any benchmark.
"""

from __future__ import annotations

import re

from whyllm.errors import InputError
from whyllm.registry import Registry
from whyllm.tasks.celltype.ontology import singular

INSTRUCTIONS: Registry[str] = Registry("cell-type prompt")
INSTRUCTIONS.register("gptcelltype")(
    "Identify cell types of {tissue} cells using the following markers. "
    "Only provide the cell type name.\n\n")
INSTRUCTIONS.register("soar")(
    "You are an expert in single-cell biology. From the top differentially expressed marker genes of "
    "a {tissue} cell cluster, name the most specific cell type that the canonical markers support. "
    "Only provide the cell type name.\n\n")

FEW_SHOT = (
    ("CD3D, CD3E, CD2, IL7R, TRAC, LCK, CD3G, CD247, LEF1, TCF7", "T cell"),
    ("ALB, APOA1, APOC3, TTR, SERPINA1, FGB, APOH, AHSG, TF, HP", "Hepatocyte"),
    ("MS4A1, CD79A, CD19, CD79B, BANK1, CD22, PAX5, FCRL1, VPREB3, TCL1A", "B cell"),
    ("PECAM1, VWF, CDH5, CLDN5, KDR, EMCN, TIE1, FLT1, EGFL7, ESAM", "Endothelial cell"),
)
# the tissue is named once, in the instruction: on every line, a small model copies it as the answer
_LINE = "Marker genes: {markers}.\nCell type:"


def celltype_template(tissue: str, style: str = "gptcelltype", few_shot: bool = True) -> str:
    """The prompt with a ``{text}`` slot where the marker list goes (the only perturbed part)."""
    tissue = " ".join(str(tissue).split()) or "unknown"
    head = INSTRUCTIONS.get(style).format(tissue=tissue)
    head = head.replace("{", "{{").replace("}", "}}")
    shots = ""
    if few_shot:
        shots = "".join(_LINE.format(markers=m) + f" {a}\n\n" for m, a in FEW_SHOT)
        shots = shots.replace("{", "{{").replace("}", "}}")
    line = _LINE.format(markers="{text}")
    return head + shots + line


_CUT = re.compile(r"\s*(?:[\n;(\[]|,|\.(?:\s|$)|\bor\b|\band\b|\bwith\b)", re.IGNORECASE)


def parse_answer(raw: str) -> str:
    """The cell type named by a completion: first line, first phrase, last word singular.

    ``" CD8+ T cells (cytotoxic), likely"`` -> ``"CD8+ T cell"``; an empty answer raises.
    """
    text = raw.strip().strip("\"'*`").strip()
    m = _CUT.search(text)
    if m:
        text = text[: m.start()]
    text = text.strip(" .:-\"'*`")
    if not text:
        raise InputError(f"the model's answer {raw!r} names no cell type")
    words = text.split()
    words[-1] = singular(words[-1])
    return " ".join(words)
