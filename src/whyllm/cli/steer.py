"""``whyllm steer``: enforce a neuron set on other prompts."""

from __future__ import annotations

import argparse

from whyllm.cli import common
from whyllm.cli.common import add_model_options, check_outputs, read_text_file, write_file


def add_parser(sub) -> None:
    st = sub.add_parser("steer", help="enforce a neuron set on other prompts")
    st.add_argument("prompts", nargs="*", help="prompts to steer")
    st.add_argument("--neurons", required=True, help="JSON written by whyllm neurons --json")
    st.add_argument("--prompts-file", help="more prompts, one per line")
    goal = st.add_mutually_exclusive_group(required=True)
    goal.add_argument("--language", choices=["en", "fr", "es"], help="success: output in this language")
    goal.add_argument("--target", help="success: output starts with this text")
    st.add_argument("--max-new-tokens", type=int, default=8)
    st.add_argument("--first-step-only", action="store_true", help="enforce at the last prompt position only")
    st.add_argument("--random-control", action="store_true",
                    help="enforce as many random neurons of the same layers instead (a control)")
    st.add_argument("--seed", type=int, default=0)
    add_model_options(st)


def run(args: argparse.Namespace) -> int:
    from whyllm.neurons import NeuronSet, random_control, steer

    exp = NeuronSet.from_json(read_text_file(args.neurons))
    check_outputs(args, args.json)
    prompts = list(args.prompts)
    if args.prompts_file:
        prompts += [ln for ln in read_text_file(args.prompts_file).splitlines() if ln.strip()]
    model = common.load_model_from(args)
    neurons = exp
    if args.random_control:
        neurons = random_control(model, {n["name"]: n["value"] for n in exp.fit.neurons}, exp.prompt,
                                 seed=args.seed)
    result = steer(prompts, neurons, model=model, language=args.language, target=args.target,
                   max_new_tokens=args.max_new_tokens, every_step=not args.first_step_only)
    if args.json:
        write_file(args.json, result.to_json())
    if not args.quiet:
        from rich.console import Console
        from rich.table import Table

        table = Table(title=f"steering with {len(result.neurons)} neurons; goal: {result.goal}")
        for col in ("prompt", "unsteered", "steered", "success", "fluency"):
            table.add_column(col)
        for r in result.rows:
            table.add_row(r["prompt"], r["unsteered"], r["steered"], "yes" if r["success"] else "no",
                          f"{r['fluency']:.2f}")
        Console().print(table)
    print(f"success rate {result.success_rate:.3f} · mean fluency {result.mean_fluency:.3f} nats/token")
    return 0
