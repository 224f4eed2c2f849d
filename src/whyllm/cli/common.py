"""What every command shares: reading inputs, checking outputs, loading models, argument groups."""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

from whyllm.errors import InputError


def read_text_file(path: str) -> str:
    try:
        return Path(path).read_bytes().decode("utf-8")
    except FileNotFoundError as exc:
        raise InputError(f"no such file: {path}") from exc
    except UnicodeDecodeError as exc:
        raise InputError(f"{path} is not UTF-8 text (byte {exc.start}: {exc.reason})") from exc
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from exc


def budget_arg(text: str) -> int | str:
    """``--budget``: a number of model evaluations, or ``auto``."""
    if text.strip().lower() == "auto":
        return "auto"
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a budget is a number of model evaluations or 'auto'; "
                                         f"got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"a budget is at least 1; got {value}")
    return value


def parse_options(pairs: list[str] | None, reserved: dict[str, str] | None = None) -> dict:
    """``--option KEY=VALUE`` pairs as method parameters (numbers, true/false/none, else text).

    ``reserved`` maps keys the command sets itself to their flags: such a key is refused (give the
    flag instead), never passed twice."""
    out: dict = {}
    for pair in pairs or []:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise InputError(f"--option takes KEY=VALUE, got {pair!r}")
        key = key.strip().replace("-", "_")
        if reserved and key in reserved:
            raise InputError(f"{key} is not a method option; give it as {reserved[key]}")
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
        out[key] = value
    return out


def check_writable(path: str | None, force: bool = False) -> None:
    """Fail before any model work if an output could not be written, or would replace a file
    (unless ``force``)."""
    if path is None:
        return
    target = Path(path).expanduser()
    if target.is_dir():
        raise InputError(f"cannot write {path}: it is a folder; give a file name")
    parent = target.resolve().parent
    if not parent.is_dir():
        raise InputError(f"cannot write {path}: the folder {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise InputError(f"cannot write {path}: the folder {parent} is not writable")
    if target.exists() and not force:
        raise InputError(f"{path} exists; give --force to replace it")


def check_outputs(args: argparse.Namespace, *paths: str | None) -> None:
    """:func:`check_writable` for each output a command was given, and no two the same file."""
    given = [p for p in paths if p is not None]
    resolved = [Path(p).expanduser().resolve() for p in given]
    if len(set(resolved)) < len(resolved):
        raise InputError(f"two outputs name the same file: {', '.join(given)}")
    for p in given:
        check_writable(p, force=getattr(args, "force", False))


def write_file(path: str, content: str | bytes) -> None:
    """Write all of ``content`` or nothing: a temporary file beside ``path``, then a rename (a kill or
    a full disk never leaves half a file, or destroys the old one)."""
    target = Path(path).expanduser()
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        if isinstance(content, bytes):
            tmp.write_bytes(content)
        else:
            tmp.write_text(content, encoding="utf-8")
        os.replace(tmp, target)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise InputError(f"cannot write {path}: {exc.strerror or exc}") from exc


def quiet_libraries() -> None:
    import transformers

    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    logging.getLogger("whyllm").setLevel(logging.ERROR)


def load_model_from(args: argparse.Namespace):
    """The model the command's ``--model`` and backend options name."""
    from whyllm.models import load_model
    from whyllm.models.threads import check_threads

    if args.threads is not None:
        check_threads(args.threads, "--threads")
    served = {}
    if args.model and str(args.model).startswith("openai:"):
        served = {"tokenizer": args.tokenizer, "served_model": args.served_model, "timeout": args.timeout,
                  "retries": args.retries, "concurrency": args.concurrency,
                  "api_key_env": args.api_key_env}
    elif args.served_model or args.tokenizer:
        raise InputError("--served-model and --tokenizer go with --model openai:<url>")
    local = {}
    if not served:
        local = {"dtype": args.dtype, "device": args.device, "max_batch_tokens": args.max_batch_tokens}
    return load_model(args.model, threads=args.threads, batch_size=args.batch_size, cache=not args.no_cache,
                      **local, **served)


def load_proxy_from(args: argparse.Namespace):
    """The ``--proxy`` model, or None."""
    from whyllm.models import load_model

    if not getattr(args, "proxy", None):
        return None
    return load_model(args.proxy, threads=args.threads, batch_size=args.batch_size, cache=not args.no_cache,
                      dtype=args.dtype, device=args.device, max_batch_tokens=args.max_batch_tokens)


#: keys ``explain`` and ``neurons`` set from their own flags; ``--option`` may not repeat them
RESERVED = {"budget": "--budget", "seed": "--seed", "features": "--features", "template": "--template",
            "perturbation": "--perturbation", "max_new_tokens": "--max-new-tokens", "method": "--method",
            "proxy": "--proxy", "task_verdict": "--task-verdict", "chat": "--chat", "model": "--model",
            "progress": "--quiet", "target": "--target", "text": "the text argument",
            "tau": "--tau", "samples": "--samples"}


def prompt_args(args: argparse.Namespace, reserved: dict[str, str]) -> tuple[str, str | None, object, dict]:
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
    options = parse_options(args.option, reserved)
    check_outputs(args, args.json, args.html)
    check_text(text)
    split_template(template)
    return text, template, target, options


def write_outputs(exp, args: argparse.Namespace) -> None:
    """The ``--json`` and ``--html`` files of a result (checked by :func:`check_outputs` first)."""
    if args.json:
        write_file(args.json, exp.to_json())
    if args.html:
        write_file(args.html, exp.to_html())


def add_model_options(p: argparse.ArgumentParser) -> None:
    from whyllm.models.specs import MODEL_SPECS

    p.add_argument("--model", help=f"model name ({', '.join(MODEL_SPECS.names())}), transformers folder, "
                   ".gguf file, or openai:<server url> (default: Gemma 3 270M)")
    p.add_argument("--served-model", help="openai: the model name on the server")
    p.add_argument("--tokenizer", help="openai: local model (name or folder) with the server's tokenizer "
                   "(default: Gemma 3 270M)")
    p.add_argument("--api-key-env", metavar="VAR",
                   help="openai: the environment variable holding the API key, which must be set (default: "
                   "OPENAI_API_KEY if set, else no key); sent to that server only, never logged or stored")
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
    p.add_argument("--force", action="store_true", help="replace --json/--html files that exist")
    p.add_argument("--quiet", action="store_true", help="print only the result: no progress bars, tables or "
                   "library messages")


def add_input_options(p: argparse.ArgumentParser, against: str) -> None:
    """The target, template and feature options shared by ``explain`` and ``neurons``."""
    from whyllm.features import PERTURBATIONS, SEGMENTERS

    p.add_argument("--target", help="continuation to explain (default: the model's greedy answer)")
    p.add_argument("--against", help=against)
    p.add_argument("--template", help="fixed prompt around the text, with one {text} slot")
    p.add_argument("--template-file", help="read the template from a UTF-8 file")
    p.add_argument("--features", default="words", choices=[*SEGMENTERS.names(), "concepts"],
                   help="what is attributed to; concepts take --option extractor=clusters|llm|lexicon|spans "
                        "(lexicon and spans: --option concepts=FILE.json)")
    p.add_argument("--perturbation", default="delete", choices=PERTURBATIONS.names())
