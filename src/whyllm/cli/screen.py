"""``whyllm screen``: the task screen (may a proxy model explain this target on a task?)."""

from __future__ import annotations

import argparse

from whyllm.cli import common
from whyllm.cli.common import (
    add_model_options,
    budget_arg,
    check_outputs,
    read_text_file,
    write_file,
)
from whyllm.errors import InputError


def add_parser(sub) -> None:
    sc = sub.add_parser("screen", help="task screen: may a proxy model explain this target on a task?")
    sc.add_argument("--texts-file", required=True, help="task inputs, one per line")
    sc.add_argument("--proxy", required=True, help="the proxy model (name, folder or .gguf)")
    sc.add_argument("--task", required=True, help="a name for the task (stored in the verdict)")
    sc.add_argument("--save", required=True, metavar="JSON", help="where to write the verdict")
    sc.add_argument("--target", help="continuation (default: the model's greedy answer)")
    sc.add_argument("--against", help="contrast: log p(target) - log p(against)")
    sc.add_argument("--template", help="fixed prompt around each text, with one {text} slot")
    sc.add_argument("--template-file", help="read the template from a UTF-8 file")
    sc.add_argument("--features", default="words", choices=["words", "sentences", "paragraphs", "items"])
    sc.add_argument("--method", default="kernelshap", choices=["kernelshap", "lime", "occlusion"])
    sc.add_argument("--budget", type=budget_arg,
                    help="evaluations per explanation, or auto (default: method's)")
    sc.add_argument("--confidence", type=float, default=0.99)
    sc.add_argument("--max-inputs", type=int, default=50)
    sc.add_argument("--seed", type=int, default=0)
    add_model_options(sc)


def run(args: argparse.Namespace) -> int:
    from whyllm.compose.proxy import screen_task

    texts = [ln for ln in read_text_file(args.texts_file).splitlines() if ln.strip()]
    if not texts:
        raise InputError(f"{args.texts_file} holds no texts (one per line)")
    template = read_text_file(args.template_file) if args.template_file else args.template
    target = (args.target, args.against) if args.against is not None else args.target
    check_outputs(args, args.save)
    model, proxy = common.load_model_from(args), common.load_proxy_from(args)
    verdict = screen_task(texts, target, model=model, proxy=proxy, task=args.task, method=args.method,
                          confidence=args.confidence, max_inputs=args.max_inputs,
                          template=template, features=args.features, budget=args.budget, seed=args.seed)
    write_file(args.save, verdict.to_json())
    d = verdict.d
    print(f"proxy {'AUTHORISED' if verdict.authorised else 'NOT authorised'} for {args.task}: "
          f"{len(d)} inputs, mean d = {sum(d) / len(d):+.4f}, one-sided p = {verdict.p_value:.4g}; "
          f"{verdict.target_calls} target and {verdict.proxy_calls} proxy calls; saved to {args.save}")
    return 0
