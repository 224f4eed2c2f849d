"""``whyllm narrate``: a chat model tells a saved explanation in a few sentences, every claim checked."""

from __future__ import annotations

import argparse
import json

from whyllm.cli import common
from whyllm.cli.common import add_model_options, check_outputs, read_text_file, write_file


def add_parser(sub) -> None:
    p = sub.add_parser("narrate", help="a chat model's account of a saved explanation, every claim checked")
    p.add_argument("explanation", help="JSON written by whyllm explain --json")
    p.add_argument("--max-new-tokens", type=int, default=160)
    add_model_options(p)  # --model names the narrator (a chat model); --json/--html write the narration


def run(args: argparse.Namespace) -> int:
    from whyllm.explanation import Explanation

    exp = Explanation.from_json(read_text_file(args.explanation))
    check_outputs(args, args.json, args.html)
    narration = exp.narrate(common.load_model_from(args), max_new_tokens=args.max_new_tokens)
    if args.json:
        write_file(args.json, json.dumps(narration.to_dict(), indent=1, ensure_ascii=False))
    if args.html:
        head = "<!doctype html><meta charset='utf-8'><title>whyllm narration</title>"
        write_file(args.html, head + narration.to_html())
    if args.quiet:
        n = narration.counts()
        print(narration.text)
        print(f"checked={n['checked']} contradicted={n['contradicted']} uncheckable={n['uncheckable']}")
    else:
        narration.print()
    return 0
