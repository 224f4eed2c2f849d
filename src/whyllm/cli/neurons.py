"""``whyllm neurons``: MLP neurons sufficient for the output (local models)."""

from __future__ import annotations

import argparse

from whyllm.cli import common
from whyllm.cli.common import (
    RESERVED,
    add_input_options,
    add_model_options,
    prompt_args,
    write_outputs,
)


def add_parser(sub) -> None:
    ne = sub.add_parser("neurons", help="find MLP neurons sufficient for the output (local models)")
    ne.add_argument("text", help="the text (the prompt, or the template's {text})")
    add_input_options(ne, against="contrast: keep log p(target) > log p(against)")
    ne.add_argument("--tau", type=float, default=0.9, help="precision to reach (default 0.9)")
    ne.add_argument("--samples", type=int, default=64, help="perturbations searched over (default 64)")
    ne.add_argument("--seed", type=int, default=0)
    ne.add_argument("--option", action="append", metavar="KEY=VALUE",
                    help="a search parameter, e.g. sample_proba=0.25 or max_size=128 (repeatable)")
    add_model_options(ne)


def run(args: argparse.Namespace) -> int:
    from whyllm.neurons import sufficient_set
    from whyllm.neurons.search import check_search_params

    text, template, target, options = prompt_args(args, RESERVED)
    check_search_params(options)
    model = common.load_model_from(args)
    exp = sufficient_set(text, target, model=model, template=template, features=args.features,
                         perturbation=args.perturbation, tau=args.tau, samples=args.samples,
                         seed=args.seed, progress=not args.quiet, **options)  # checked above
    write_outputs(exp, args)
    if not args.quiet:
        exp.print()
    return 0
