"""``whyllm celltype``: annotate every cluster of a marker table or AnnData file, explain each
annotation, and write a terminal table, JSON and an HTML report. One bad cluster is reported and
skipped; the others are still processed."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from whyllm.cli import common
from whyllm.cli.common import add_model_options, check_outputs, write_file
from whyllm.errors import InputError


def add_parser(sub) -> None:
    from whyllm.methods import METHODS
    from whyllm.tasks.celltype.prompts import INSTRUCTIONS

    p = sub.add_parser("celltype", help="annotate cell clusters from marker genes, with explanations")
    p.add_argument("input", help="CSV/TSV with cluster and markers columns, or an .h5ad AnnData file")
    p.add_argument("--tissue", help="tissue for every cluster (default: the file's tissue column)")
    p.add_argument("--groupby", help="AnnData: obs column with the clusters (e.g. leiden)")
    p.add_argument("--top", type=int, default=10, help="AnnData: marker genes per cluster (default 10)")
    p.add_argument("--truth-key", help="AnnData: obs column with the true cell types, if known")
    p.add_argument("--prompt", default="gptcelltype", choices=INSTRUCTIONS.names())
    p.add_argument("--no-few-shot", action="store_true", help="no worked examples in the prompt")
    attribution = [m for m in METHODS.names() if METHODS.get(m).kind == "attribution"]
    p.add_argument("--method", default="kernelshap", choices=attribution, help="attribution method")
    p.add_argument("--budget", type=int, default=128, help="model evaluations per cluster (default 128)")
    p.add_argument("--no-explain", action="store_true", help="annotate and score only")
    p.add_argument("--k", type=int, default=3, help="genes checked for plausibility (precision@k)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--species", default="Hs", choices=["Hs", "Mm"], help="PanglaoDB species")
    p.add_argument("--ontology", help="Cell Ontology .obo file (default: the shipped 2022-11-25 release)")
    p.add_argument("--markers-db", help="PanglaoDB markers TSV (default: the shipped 27 Mar 2020 release)")
    p.add_argument("--annotation-map", help="GPTCelltype cl/compiled.csv: curated name -> CL term map")
    p.add_argument("--relation", help="GPTCelltype cl/relation.csv: related broad types")
    add_model_options(p)


def _read_clusters(args: argparse.Namespace):
    from whyllm.tasks.celltype.inputs import read_anndata, read_marker_table

    if str(args.input).endswith(".h5ad"):
        if not args.groupby:
            raise InputError("an AnnData input needs --groupby (the obs column with the clusters)")
        return read_anndata(args.input, args.groupby, top=args.top, tissue=args.tissue or "unknown",
                            truth_key=args.truth_key)
    if not Path(args.input).exists():
        raise InputError(f"no such file: {args.input}")
    return read_marker_table(args.input, tissue=args.tissue)


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from whyllm.tasks.celltype.annotate import annotate_cluster
    from whyllm.tasks.celltype.report import print_celltype_table, render_celltype_html
    from whyllm.tasks.celltype.resources import CelltypeResources

    check_outputs(args, args.json, args.html)
    clusters = _read_clusters(args)
    res = CelltypeResources.load(args.ontology, args.markers_db, args.annotation_map, args.relation,
                                 species=args.species)
    model = common.load_model_from(args)
    results = []
    for cluster in tqdm(clusters, desc="clusters", disable=args.quiet):
        results.append(annotate_cluster(
            cluster, model, res, style=args.prompt, few_shot=not args.no_few_shot,
            explain_with=None if args.no_explain else args.method, budget=args.budget, seed=args.seed,
            k=args.k))
    if args.json:
        doc = {"model": model.info.model_id, "prompt": args.prompt, "method": args.method, "k": args.k,
               "clusters": [r.to_dict() for r in results]}
        write_file(args.json, json.dumps(doc, indent=1, default=list))
    if args.html:
        write_file(args.html, render_celltype_html(results, model_id=model.info.model_id,
                                                   style=args.prompt, method=args.method, k=args.k))
    if not args.quiet:
        print_celltype_table(results, k=args.k)
    return 0 if any(r.error is None for r in results) else 1
