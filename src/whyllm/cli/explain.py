"""``whyllm explain``: attribute a model output to parts of its input."""

from __future__ import annotations

import argparse
import re

from whyllm.cli import common
from whyllm.cli.common import (
    RESERVED,
    add_input_options,
    add_model_options,
    budget_arg,
    prompt_args,
    write_outputs,
)
from whyllm.errors import InputError


def add_parser(sub) -> None:
    from whyllm.compose import method_names

    ex = sub.add_parser("explain", help="attribute a model output to parts of its input")
    ex.add_argument("text", nargs="?", help="the text to explain (the prompt, or the template's {text})")
    ex.add_argument("--text-file", help="read the text from a UTF-8 file")
    add_input_options(ex, against="explain log p(target) - log p(against), e.g. ' negative'")
    ex.add_argument("--method", default="kernelshap", choices=method_names(),
                    help="focus: coarse-to-fine for long inputs (--option inner=lime coarse=sentences keep=2 "
                    "coarse_budget=N; coarse=documents,document-sentences adds a middle level)")
    ex.add_argument("--proxy", help="a cheaper model (name, folder or .gguf) that samples when it makes the "
                    "target's decision (instance screen); with focus it runs the coarse pass")
    ex.add_argument("--task-verdict", metavar="JSON", help="a task screen's verdict (whyllm screen --save)")
    ex.add_argument("--chat", action="store_true", help="send the template (or text) as the user turn of the "
                    "model's chat template; only the user's text is perturbed")
    ex.add_argument("--answer-span", metavar="START:END|TEXT",
                    help="explain only this part of the --target answer (characters START:END, or the "
                    "first occurrence of TEXT), given the answer before it")
    ex.add_argument("--budget", type=budget_arg,
                    help="most distinct inputs to score, or auto: sample in rounds until the top 3 is "
                         "certain (the default of lime, kernelshap, contextcite; others: the method's own)")
    ex.add_argument("--seed", type=int, default=0)
    ex.add_argument("--max-new-tokens", type=int, default=5, help="length of the greedy answer")
    ex.add_argument("--option", action="append", metavar="KEY=VALUE",
                    help="a method parameter, e.g. threshold=0.9 or decision_threshold=-2 (repeatable)")
    ex.add_argument("--evaluate", action="store_true", help="also measure faithfulness")
    add_model_options(ex)


def answer_span(target, spec: str):
    """``--answer-span``: characters ``START:END`` of the answer, or the first occurrence of a text."""
    from whyllm.targets import span

    if not isinstance(target, str):
        raise InputError("--answer-span needs --target (the whole answer) and no --against")
    m = re.fullmatch(r"\s*(\d+)\s*:\s*(\d+)\s*", spec)
    if m:
        return span(target, int(m.group(1)), int(m.group(2)))
    at = target.find(spec)
    if not spec or at < 0:
        raise InputError(f"--answer-span {spec!r} is neither START:END nor a part of the answer {target!r}")
    return span(target, at, at + len(spec))


def run(args: argparse.Namespace) -> int:
    from whyllm.api import evaluate, explain
    from whyllm.compose import choose
    from whyllm.compose.proxy import TaskVerdict
    from whyllm.report.terminal import print_explanation, print_faithfulness

    text, template, target, options = prompt_args(args, RESERVED)
    if args.answer_span is not None:
        target = answer_span(target, args.answer_span)
    verdict = TaskVerdict.load(args.task_verdict) if args.task_verdict else None
    from whyllm.engine import split_feature_options

    method_options = split_feature_options(args.features, options)[0]  # the rest is the extractor's
    choose(args.method, bool(args.proxy)).validate(args.method, method_options)  # before the model loads
    model, proxy = common.load_model_from(args), common.load_proxy_from(args)
    exp = explain(text, target, model=model, method=args.method, features=args.features, template=template,
                  budget=args.budget, seed=args.seed, perturbation=args.perturbation,
                  max_new_tokens=args.max_new_tokens, progress=not args.quiet, proxy=proxy,
                  task_verdict=verdict, chat=args.chat, **options)
    if args.evaluate:
        exp = exp.with_metrics(evaluate(exp, model=model).to_dict())
    write_outputs(exp, args)
    if args.quiet:  # only the result: one ranked feature per line, value then text
        for i in exp.ranking():
            print(f"{exp.values[i]:+.4f}\t{exp.features[i].text}")
    else:
        print_explanation(exp)
        if args.evaluate:
            print_faithfulness(exp.metrics)
    return 0
