"""Command line: ``whyllm explain``, ``evaluate``, ``neurons``, ``steer``, ``screen`` and ``celltype``.

User errors print one line to stderr and exit with status 2 (no traceback); scores computed before
an error or an interrupt stay in the score cache, so running the command again resumes.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from whyllm.errors import InputError, WhyllmError

EXIT_USAGE = 2


def read_text_file(path: str) -> str:
    try:
        return Path(path).read_bytes().decode("utf-8")
    except FileNotFoundError as exc:
        raise InputError(f"no such file: {path}") from exc
    except UnicodeDecodeError as exc:
        raise InputError(f"{path} is not UTF-8 text (byte {exc.start}: {exc.reason})") from exc
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from exc


def parse_options(pairs: list[str] | None) -> dict:
    """``--option KEY=VALUE`` pairs as method parameters (numbers, true/false/none, else text)."""
    out: dict = {}
    for pair in pairs or []:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise InputError(f"--option takes KEY=VALUE, got {pair!r}")
        low = raw.strip().lower()
        if low in ("true", "false"):
            value: object = low == "true"
        elif low in ("none", "null"):
            value = None
        else:
            try:
                value = int(raw)
            except ValueError:
                try:
                    value = float(raw)
                except ValueError:
                    value = raw
        out[key.strip().replace("-", "_")] = value
    return out


def _check_writable(path: str | None) -> None:
    """Fail before any model work if an output could not be written."""
    if path is None:
        return
    parent = Path(path).expanduser().resolve().parent
    if not parent.is_dir():
        raise InputError(f"cannot write {path}: the folder {parent} does not exist")


def _quiet_libraries() -> None:
    import transformers

    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    logging.getLogger("whyllm").setLevel(logging.ERROR)


def _load(args: argparse.Namespace):
    import os

    from whyllm.models import load_model

    served = {}
    if args.model and str(args.model).startswith("openai:"):
        served = {"tokenizer": args.tokenizer, "served_model": args.served_model, "timeout": args.timeout,
                  "retries": args.retries, "concurrency": args.concurrency,
                  "api_key": os.environ.get(args.api_key_env) if args.api_key_env else None}
    elif args.served_model or args.tokenizer:
        raise InputError("--served-model and --tokenizer go with --model openai:<url>")
    local = {}
    if not served:
        local = {"dtype": args.dtype, "device": args.device, "max_batch_tokens": args.max_batch_tokens}
    return load_model(args.model, threads=args.threads, batch_size=args.batch_size, cache=not args.no_cache,
                      **local, **served)


def _load_proxy(args: argparse.Namespace):
    from whyllm.models import load_model

    if not getattr(args, "proxy", None):
        return None
    return load_model(args.proxy, threads=args.threads, batch_size=args.batch_size, cache=not args.no_cache,
                      dtype=args.dtype, device=args.device, max_batch_tokens=args.max_batch_tokens)


def _prompt_args(args: argparse.Namespace) -> tuple[str, str | None, object, dict]:
    """Text, template, target and --option values of ``explain``/``neurons``, checked before any
    model work (bad text, template or output path fails before the model loads)."""
    from whyllm.features import check_text, split_template

    text = read_text_file(args.text_file) if getattr(args, "text_file", None) else args.text
    if text is None:
        raise InputError("give the text to explain, or --text-file")
    template = read_text_file(args.template_file) if args.template_file else args.template
    if args.against is not None and args.target is None:
        raise InputError("--against needs --target (the contrast is target vs against)")
    target = (args.target, args.against) if args.against is not None else args.target
    options = parse_options(args.option)
    for out in (args.json, args.html):
        _check_writable(out)
    check_text(text)
    split_template(template)
    return text, template, target, options


def cmd_explain(args: argparse.Namespace) -> int:
    from whyllm.api import evaluate, explain
    from whyllm.report.terminal import print_explanation, print_faithfulness

    text, template, target, options = _prompt_args(args)
    model = _load(args)
    exp = explain(text, target, model=model, method=args.method, features=args.features, template=template,
                  budget=args.budget, seed=args.seed, perturbation=args.perturbation,
                  max_new_tokens=args.max_new_tokens, progress=not args.quiet, proxy=_load_proxy(args),
                  task_verdict=args.task_verdict, chat=args.chat, **options)
    if args.evaluate:
        exp = exp.with_metrics(evaluate(exp, model=model).to_dict())
    _write(exp, args)
    if args.quiet:  # only the result: one ranked feature per line, value then text
        for i in exp.ranking():
            print(f"{exp.values[i]:+.4f}\t{exp.features[i].text}")
    else:
        print_explanation(exp)
        if args.evaluate:
            print_faithfulness(exp.metrics)
    return 0


def _write(exp, args: argparse.Namespace) -> None:
    if args.json:
        Path(args.json).write_text(exp.to_json(), encoding="utf-8")
    if args.html:
        exp.to_html(args.html)


def cmd_evaluate(args: argparse.Namespace) -> int:
    from whyllm.api import evaluate
    from whyllm.explanation import Explanation
    from whyllm.models.convert import DEFAULT_MODEL_NAME
    from whyllm.report.terminal import print_faithfulness

    exp = Explanation.from_json(read_text_file(args.explanation))
    for out in (args.json, args.html):
        _check_writable(out)
    if args.model is None and exp.model.model_id != DEFAULT_MODEL_NAME:
        raise InputError(f"the explanation was made with {exp.model.model_id!r}; give it with --model")
    model = _load(args)
    metrics = evaluate(exp, model=model).to_dict()
    exp = exp.with_metrics(metrics)
    _write(exp, args)
    if args.quiet:
        print(f"aopc_comprehensiveness={metrics['aopc_comprehensiveness']:.4f} "
              f"aopc_sufficiency={metrics['aopc_sufficiency']:.4f}")
    else:
        print_faithfulness(metrics)
    return 0


def cmd_neurons(args: argparse.Namespace) -> int:
    from whyllm.neurons import sufficient_set
    from whyllm.report.terminal import print_explanation

    text, template, target, options = _prompt_args(args)
    model = _load(args)
    try:
        exp = sufficient_set(text, target, model=model, template=template, features=args.features,
                             perturbation=args.perturbation, tau=args.tau, samples=args.samples,
                             seed=args.seed, progress=not args.quiet, **options)
    except TypeError as exc:
        raise InputError(f"bad --option: {exc}") from exc
    _write(exp, args)
    if not args.quiet:
        print_explanation(exp)
    return 0


def cmd_steer(args: argparse.Namespace) -> int:
    from whyllm.explanation import Explanation
    from whyllm.neurons import random_control, steer

    exp = Explanation.from_json(read_text_file(args.neurons))
    _check_writable(args.json)
    prompts = list(args.prompts)
    if args.prompts_file:
        prompts += [ln for ln in read_text_file(args.prompts_file).splitlines() if ln.strip()]
    model = _load(args)
    neurons = exp
    if args.random_control:
        neurons = random_control(model, {n["name"]: n["value"] for n in exp.fit["neurons"]}, exp.prompt,
                                 seed=args.seed)
    result = steer(prompts, neurons, model=model, language=args.language, target=args.target,
                   max_new_tokens=args.max_new_tokens, every_step=not args.first_step_only)
    if args.json:
        Path(args.json).write_text(result.to_json(), encoding="utf-8")
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


def cmd_screen(args: argparse.Namespace) -> int:
    from whyllm.methods.proxy import screen_task

    texts = [ln for ln in read_text_file(args.texts_file).splitlines() if ln.strip()]
    if not texts:
        raise InputError(f"{args.texts_file} holds no texts (one per line)")
    template = read_text_file(args.template_file) if args.template_file else args.template
    target = (args.target, args.against) if args.against is not None else args.target
    _check_writable(args.save)
    model, proxy = _load(args), _load_proxy(args)
    verdict = screen_task(texts, target, model=model, proxy=proxy, task=args.task, method=args.method,
                          confidence=args.confidence, max_inputs=args.max_inputs, save=args.save,
                          template=template, features=args.features, budget=args.budget, seed=args.seed)
    d = verdict.d
    print(f"proxy {'AUTHORISED' if verdict.authorised else 'NOT authorised'} for {args.task}: "
          f"{len(d)} inputs, mean d = {sum(d) / len(d):+.4f}, one-sided p = {verdict.p_value:.4g}; "
          f"{verdict.target_calls} target and {verdict.proxy_calls} proxy calls; saved to {args.save}")
    return 0


def cmd_celltype(args: argparse.Namespace) -> int:
    from whyllm.tasks.celltype.run import run_celltype

    return run_celltype(args, _load)


def _model_options(p: argparse.ArgumentParser) -> None:
    from whyllm.models.specs import MODEL_SPECS

    p.add_argument("--model", help=f"model name ({', '.join(MODEL_SPECS.names())}), transformers folder, "
                   ".gguf file, or openai:<server url> (default: Gemma 3 270M)")
    p.add_argument("--served-model", help="openai: the model name on the server")
    p.add_argument("--tokenizer", help="openai: local model (name or folder) with the server's tokenizer "
                   "(default: Gemma 3 270M)")
    p.add_argument("--api-key-env", default="OPENAI_API_KEY",
                   help="openai: environment variable holding the API key (never logged)")
    p.add_argument("--timeout", type=float, default=60.0, help="openai: seconds per request (default 60)")
    p.add_argument("--retries", type=int, default=3, help="openai: retries with backoff (default 3)")
    p.add_argument("--concurrency", type=int, default=4, help="openai: parallel requests (default 4)")
    p.add_argument("--threads", type=int, help="CPU threads (default: 1 under CI, else idle cores)")
    p.add_argument("--batch-size", type=int, help="most rows per forward pass (openai: requests per batch, "
                   "default 32)")
    p.add_argument("--max-batch-tokens", type=int, help="most tokens per forward pass (default: from the "
                   "model's size and free memory)")
    p.add_argument("--dtype", default="auto", choices=["auto", "float32", "bfloat16", "float16"],
                   help="auto: bfloat16 on CUDA, and on a CPU with native bfloat16 whose load-time probe "
                   "agrees with float32; else float32")
    p.add_argument("--device", default="auto", help="auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:N, mps")
    p.add_argument("--no-cache", action="store_true", help="do not read or write the score cache")
    p.add_argument("--json", metavar="PATH", help="write the explanation as JSON")
    p.add_argument("--html", metavar="PATH", help="write a self-contained HTML report")
    p.add_argument("--quiet", action="store_true", help="print only the result: no progress bars, tables or "
                   "library messages")


def _input_options(p: argparse.ArgumentParser, against: str) -> None:
    """The target, template and feature options shared by ``explain`` and ``neurons``."""
    from whyllm.features import PERTURBATIONS, SEGMENTERS

    p.add_argument("--target", help="continuation to explain (default: the model's greedy answer)")
    p.add_argument("--against", help=against)
    p.add_argument("--template", help="fixed prompt around the text, with one {text} slot")
    p.add_argument("--template-file", help="read the template from a UTF-8 file")
    p.add_argument("--features", default="words", choices=SEGMENTERS.names())
    p.add_argument("--perturbation", default="delete", choices=PERTURBATIONS.names())


def build_parser() -> argparse.ArgumentParser:
    from whyllm.methods import METHODS

    parser = argparse.ArgumentParser(prog="whyllm", description="Why did the language model say that?")
    sub = parser.add_subparsers(dest="command", required=True)
    ex = sub.add_parser("explain", help="attribute a model output to parts of its input")
    ex.add_argument("text", nargs="?", help="the text to explain (the prompt, or the template's {text})")
    ex.add_argument("--text-file", help="read the text from a UTF-8 file")
    _input_options(ex, against="explain log p(target) - log p(against), e.g. ' negative'")
    ex.add_argument("--method", default="kernelshap", choices=[*METHODS.names(), "focus"],
                    help="focus: coarse-to-fine for long inputs (--option inner=lime coarse=sentences keep=2 "
                    "coarse_budget=N)")
    ex.add_argument("--proxy", help="a cheaper model (name, folder or .gguf) that samples when it makes the "
                    "target's decision (instance screen); with focus it runs the coarse pass")
    ex.add_argument("--task-verdict", metavar="JSON", help="a task screen's verdict (whyllm screen --save)")
    ex.add_argument("--chat", action="store_true", help="send the template (or text) as the user turn of the "
                    "model's chat template; only the user's text is perturbed")
    ex.add_argument("--budget", type=int, help="most distinct inputs to score (default: method's)")
    ex.add_argument("--seed", type=int, default=0)
    ex.add_argument("--max-new-tokens", type=int, default=5, help="length of the greedy answer")
    ex.add_argument("--option", action="append", metavar="KEY=VALUE",
                    help="a method parameter, e.g. threshold=0.9 or decision_threshold=-2 (repeatable)")
    ex.add_argument("--evaluate", action="store_true", help="also measure faithfulness")
    _model_options(ex)
    ev = sub.add_parser("evaluate", help="measure the faithfulness of a saved explanation")
    ev.add_argument("explanation", help="JSON written by whyllm explain --json")
    _model_options(ev)
    ne = sub.add_parser("neurons", help="find MLP neurons sufficient for the output (local models)")
    ne.add_argument("text", help="the text (the prompt, or the template's {text})")
    _input_options(ne, against="contrast: keep log p(target) > log p(against)")
    ne.add_argument("--tau", type=float, default=0.9, help="precision to reach (default 0.9)")
    ne.add_argument("--samples", type=int, default=64, help="perturbations searched over (default 64)")
    ne.add_argument("--seed", type=int, default=0)
    ne.add_argument("--option", action="append", metavar="KEY=VALUE",
                    help="a search parameter, e.g. sample_proba=0.25 or max_size=128 (repeatable)")
    _model_options(ne)
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
    _model_options(st)
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
    sc.add_argument("--budget", type=int, help="evaluations per explanation (default: method's)")
    sc.add_argument("--confidence", type=float, default=0.99)
    sc.add_argument("--max-inputs", type=int, default=50)
    sc.add_argument("--seed", type=int, default=0)
    _model_options(sc)
    from whyllm.tasks.celltype.run import add_celltype_parser

    _model_options(add_celltype_parser(sub))
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.quiet:
        _quiet_libraries()
    try:
        commands = {"explain": cmd_explain, "evaluate": cmd_evaluate, "neurons": cmd_neurons,
                    "steer": cmd_steer, "celltype": cmd_celltype, "screen": cmd_screen}
        return commands[args.command](args)
    except WhyllmError as exc:
        print(f"whyllm: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("whyllm: interrupted; scores computed so far are kept in the cache", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
