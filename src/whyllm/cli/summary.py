"""``whyllm summary``: global explanations of a run's store (table, JSON, HTML)."""

from __future__ import annotations

import argparse
import json

from whyllm.cli.common import check_outputs, write_file


def add_parser(sub) -> None:
    p = sub.add_parser("summary", help="per-feature means over a run's store, faithfulness and cost")
    p.add_argument("store", help="the SQLite store of whyllm run")
    p.add_argument("--top", type=int, default=10, help="features per method in the table (default 10)")
    p.add_argument("--json", metavar="PATH", help="write the summary as JSON")
    p.add_argument("--html", metavar="PATH", help="write an HTML report with plots")
    p.add_argument("--force", action="store_true", help="replace --json/--html files that exist")
    p.add_argument("--quiet", action="store_true", help="print the JSON only")


def run(args: argparse.Namespace) -> int:
    from whyllm.runs import Store, summarize_store, summary_html
    from whyllm.runs.summary import print_summary

    check_outputs(args, args.json, args.html)
    store = Store.open_readonly(args.store)
    try:
        summary = summarize_store(store, top=max(args.top, 20))
    finally:
        store.close()
    text = json.dumps(summary, indent=1)
    if args.json:
        write_file(args.json, text)
    if args.html:
        write_file(args.html, summary_html(summary, f"whyllm summary · {args.store}"))
    if args.quiet:
        print(text)
    else:
        print_summary(summary, top=args.top)
    return 0
