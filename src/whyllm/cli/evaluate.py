"""``whyllm evaluate``: measure the faithfulness of a saved explanation."""

from __future__ import annotations

import argparse

from whyllm.cli import common
from whyllm.cli.common import (
    add_model_options,
    check_outputs,
    read_text_file,
    write_outputs,
)
from whyllm.errors import InputError


def add_parser(sub) -> None:
    ev = sub.add_parser("evaluate", help="measure the faithfulness of a saved explanation")
    ev.add_argument("explanation", help="JSON written by whyllm explain --json")
    add_model_options(ev)


def run(args: argparse.Namespace) -> int:
    from whyllm.api import evaluate
    from whyllm.explanation import Explanation
    from whyllm.models.convert import DEFAULT_MODEL_NAME
    from whyllm.report.terminal import print_faithfulness

    exp = Explanation.from_json(read_text_file(args.explanation))
    check_outputs(args, args.json, args.html)
    if args.model is None and exp.model.model_id != DEFAULT_MODEL_NAME:
        raise InputError(f"the explanation was made with {exp.model.model_id!r}; give it with --model")
    model = common.load_model_from(args)
    metrics = evaluate(exp, model=model).to_dict()
    exp = exp.with_metrics(metrics)
    write_outputs(exp, args)
    if args.quiet:
        print(f"aopc_comprehensiveness={metrics['aopc_comprehensiveness']:.4f} "
              f"aopc_sufficiency={metrics['aopc_sufficiency']:.4f}")
    else:
        print_faithfulness(metrics)
    return 0
