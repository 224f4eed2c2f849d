"""``whyllm run``: explanations over a whole dataset into a resumable store."""

from __future__ import annotations

import argparse
import sys

from whyllm.cli.common import budget_arg, parse_options
from whyllm.errors import InputError

RUN_RESERVED = {"budget": "--budget", "seed": "--seed", "features": "--features", "method": "--method"}


def add_parser(sub) -> None:
    p = sub.add_parser("run", help="explain every row of a dataset into a store that resumes after a kill")
    p.add_argument("dataset", help="a .jsonl, .csv, .tsv or .parquet file")
    p.add_argument("--store", required=True, help="the SQLite store (created, or resumed)")
    p.add_argument("--config", help="a TOML file: model, template, columns, several [[methods]]")
    p.add_argument("--text-column", help="the column holding the text to explain (default: text)")
    p.add_argument("--target-column", help="the column holding each row's target continuation")
    p.add_argument("--target", help="one target for every row (a continuation)")
    p.add_argument("--against", help="with --target: a contrast, log p(target) - log p(against)")
    p.add_argument("--label-column", help="a column of labels (the summary groups by it)")
    p.add_argument("--id-column", help="a column of unique ids (default: the row number)")
    p.add_argument("--template", help="fixed prompt around each text, with one {text} slot")
    p.add_argument("--method", help="the method (default kernelshap; --config may list several)")
    p.add_argument("--features", help="feature kind (default words)")
    p.add_argument("--budget", type=budget_arg,
                   help="model evaluations per explanation, or auto (default: auto for sampled methods)")
    p.add_argument("--seed", type=int)
    p.add_argument("--option", action="append", metavar="KEY=VALUE", help="a method parameter (repeatable)")
    p.add_argument("--evaluate", action="store_true", help="also store each explanation's faithfulness")
    p.add_argument("--model", help="a model name, folder or .gguf (default Gemma 3 270M), or "
                   "py:module:function, a factory returning a model")
    p.add_argument("--dtype", choices=["auto", "float32", "bfloat16", "float16"])
    p.add_argument("--threads", type=int, help="CPU threads in all (split between local workers)")
    p.add_argument("--workers", type=int, default=1, help="local worker processes, each with its own model")
    p.add_argument("--ray", nargs="?", const=True, default=None, metavar="ADDRESS",
                   help="fan out over Ray: a local cluster started for the run, or an existing one's address")
    p.add_argument("--quiet", action="store_true", help="print only the summary line: no progress bar")


def run(args: argparse.Namespace) -> int:
    from whyllm.runs import Store, build_config, read_config, read_dataset, run_dataset

    if args.template is not None and args.template.count("{text}") != 1:
        raise InputError("the template must contain the slot {text} exactly once")
    toml = read_config(args.config) if args.config else None
    options = parse_options(args.option, RUN_RESERVED)
    config = build_config(toml, text_column=args.text_column, target_column=args.target_column,
                          target=args.target, against=args.against, label_column=args.label_column,
                          id_column=args.id_column, template=args.template, method=args.method,
                          features=args.features, budget=args.budget, seed=args.seed, options=options,
                          evaluate=args.evaluate, model=args.model, dtype=args.dtype)
    examples = read_dataset(args.dataset, config.columns)
    store = Store(args.store)
    try:
        summary = run_dataset(examples, config, store, workers=args.workers, ray=args.ray,
                              threads=args.threads, progress=not args.quiet)
    finally:
        store.close()
    print(summary.line())
    if summary.failed:
        print(f"whyllm: {summary.failed} examples failed; their errors are in the store "
              f"(whyllm summary {args.store})", file=sys.stderr)
        return 1
    return 0
