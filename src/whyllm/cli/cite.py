"""``whyllm cite``: which documents (or sentences) of a context made the model write its answer."""

from __future__ import annotations

import argparse

from whyllm.cli import common
from whyllm.cli.common import (
    RESERVED,
    add_model_options,
    budget_arg,
    check_outputs,
    parse_options,
    read_text_file,
    write_outputs,
)
from whyllm.errors import InputError

METHODS = ("lime", "kernelshap", "occlusion", "contextcite", "hierarchical")


def add_parser(sub) -> None:
    p = sub.add_parser("cite", help="attribute an answer to the documents or sentences of a context")
    p.add_argument("--context-file", required=True, help="JSONL of {title, text} objects, or a text file of "
                   "blank-line-separated passages")
    p.add_argument("--query", required=True, help="the question")
    p.add_argument("--answer", help="the answer to explain (default: the model's own, up to a line break)")
    p.add_argument("--sources", default="documents", choices=["documents", "sentences"])
    p.add_argument("--method", default="lime", choices=METHODS,
                   help="occlusion: leave-one-out; contextcite: random ablations + LASSO; hierarchical: "
                   "documents, then the sentences of the best ones (--option keep=2 inner=lime)")
    p.add_argument("--template-file", help="a prompt with one {context} and one {query} slot (default: the "
                   "Lost in the Middle QA prompt)")
    p.add_argument("--proxy", help="a cheaper model that samples when it makes the target's decision")
    p.add_argument("--chat", action="store_true", help="send the prompt as the chat template's user turn")
    p.add_argument("--budget", type=budget_arg,
                   help="most distinct ablations to score, or auto (default: auto for sampled methods)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-new-tokens", type=int, default=32, help="length of a generated answer")
    p.add_argument("--top", type=int, default=5, help="sources to print (default 5)")
    p.add_argument("--option", action="append", metavar="KEY=VALUE", help="a method parameter (repeatable)")
    add_model_options(p)


def run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from whyllm.cite import cite, cited_sources, read_context

    docs = read_context(args.context_file)  # a bad file fails before the model loads
    template = read_text_file(args.template_file) if args.template_file else None
    options = parse_options(args.option, {**RESERVED, "sources": "--sources", "query": "--query"})
    check_outputs(args, args.json, args.html)
    if args.answer is not None and not args.answer.strip():
        raise InputError("the answer is empty; leave --answer out to explain the model's own")
    model, proxy = common.load_model_from(args), common.load_proxy_from(args)
    exp = cite(docs, args.query, args.answer, model=model, sources=args.sources, method=args.method,
               budget=args.budget, seed=args.seed, template=template, chat=args.chat, proxy=proxy,
               max_new_tokens=args.max_new_tokens, progress=not args.quiet, **options)
    write_outputs(exp, args)
    top = cited_sources(exp, args.top)
    if args.quiet:
        for s in top:
            print(f"{s.value:+.4f}\t{s.document + 1}\t{s.start}:{s.end}\t{s.text}")
        return 0
    console = Console()
    console.print(f"answer: {exp.target.texts[0]!r} · {exp.method} · {exp.target.describe()}")
    table = Table()
    for col in ("rank", "document", "span", "source", "value"):
        table.add_column(col, justify="right" if col in ("rank", "value") else "left")
    for rank, s in enumerate(top, start=1):
        short = s.text if len(s.text) <= 80 else s.text[:77] + "..."
        table.add_row(str(rank), f"[{s.document + 1}] {s.title}", f"{s.start}:{s.end}", short,
                      f"{s.value:+.4f}")
    console.print(table)
    c = exp.cost
    console.print(f"cost: {c.sequences} sequences in {c.forward_passes} forward passes, {c.tokens} tokens, "
                  f"{c.seconds:.2f} s", style="dim")
    return 0
