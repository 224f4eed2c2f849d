"""``whyllm summary``: global explanations of a run's store (table, JSON, HTML)."""

from __future__ import annotations

import argparse
import json

from whyllm.cli.common import check_writable


def add_parser(sub) -> None:
    p = sub.add_parser("summary", help="per-feature means over a run's store, faithfulness and cost")
    p.add_argument("store", help="the SQLite store of whyllm run")
    p.add_argument("--top", type=int, default=10, help="features per method in the table (default 10)")
    p.add_argument("--json", metavar="PATH", help="write the summary as JSON")
    p.add_argument("--html", metavar="PATH", help="write an HTML report with plots")
    p.add_argument("--quiet", action="store_true", help="print the JSON only")


def run(args: argparse.Namespace) -> int:
    from whyllm.runs import Store, summarize_store, summary_html
    from whyllm.runs.summary import print_summary

    for out in (args.json, args.html):
        check_writable(out)
    store = Store(args.store, create=False)
    try:
        summary = summarize_store(store, top=max(args.top, 20))
    finally:
        store.close()
    text = json.dumps(summary, indent=1)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            fh.write(text)
    if args.html:
        with open(args.html, "w", encoding="utf-8") as fh:
            fh.write(summary_html(summary, f"whyllm summary · {args.store}"))
    if args.quiet:
        print(text)
    else:
        print_summary(summary, top=args.top)
    return 0
