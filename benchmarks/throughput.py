"""Long prompts at the speed of the hardware: whyllm vs a naive loop, Captum and ContextCite.

    .venv/bin/python benchmarks/throughput.py --threads 2 --systems whyllm,naive,unbatched   # float32
    .venv/bin/python benchmarks/throughput.py --threads 2 --systems whyllm --dtype bfloat16
    .venv/bin/python benchmarks/throughput.py --threads 2 --systems captum,contextcite
    .venv/bin/python benchmarks/throughput.py --summarize

Prompts (3 per length): ~24 tokens: SST-2 dev sentences in the sentiment template, words, the
contrast ' positive' vs ' negative'; ~300, ~1,200, ~4,000 tokens: NQ-open retrieval prompts
(:mod:`whyllm.tasks.retrieval`, gold passage second, seeded distractors), sentences as features at
300, documents at 1,200 and pairs of documents at 4,000 (LIME needs n + 3 samples: 17 features fit
a budget of 32), the gold answer as the target. Methods: occlusion, LIME and
KernelSHAP at budgets 32 and 200 (200 up to 1,200 tokens). Systems, same model object, prompts and
target:

* ``whyllm``: the default scorer (prefix tree, token-bounded packed batches), in ``--dtype``;
* ``unbatched``: whyllm's scorer one row per forward, nothing shared or cut (the reference the
  attributions are compared with, to 1e-4);
* ``naive``: a plain ``model.base_model(input_ids)`` batch-1 forward per distinct sample whyllm
  scored, the output layer at the target positions only (the fastest loop a user writes); timed on
  at most ``--naive-rows`` rows and extrapolated by tokens (marked in the table);
* ``captum``: ``LLMAttribution`` with FeatureAblation / Lime / KernelShap and the same budget,
  features as ``TextTemplateInput`` values, up to 1,200 tokens plus one point at 4,000;
* ``contextcite``: ContextCite 0.0.4 (own environment ``.venv-contextcite``, see
  ``benchmarks/contextcite_runner.py``) with as many ablations as the budget, on the retrieval
  prompts, the gold answer as its response.

Each run is one line of ``benchmarks/results/throughput.jsonl`` (resumable). Seconds are wall time;
peak RSS is the process's resident set sampled every 20 ms during the run (it includes the loaded
model). The FLOP bound (``throughput_bound.py``) is measured in the same process.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from prompts import DATA, SST_TARGET, SST_TEMPLATE, sst2
from throughput_bound import body_params, gemm_rate, tree_flops

STORE = Path(__file__).resolve().parent / "results" / "throughput.jsonl"
LENGTHS = (24, 300, 1200, 4000)
METHODS = ("occlusion", "lime", "kernelshap")
ROOT = Path(__file__).resolve().parents[1]


class PeakRSS:
    """Highest resident set size of this process while the block runs (sampled every 20 ms)."""

    def __enter__(self):
        self.peak, self._stop = _rss(), threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def _watch(self):
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, _rss())

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss())


def _rss() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def cases(length: int, count) -> list[dict]:
    if length == 24:
        return [{"case": f"sst2-{i}", "length": 24, "text": c.text, "template": SST_TEMPLATE,
                 "target": list(SST_TARGET), "features": "words"} for i, c in enumerate(sst2(3))]
    from whyllm.tasks.retrieval import load_nq_open, retrieval_prompt

    records = load_nq_open(DATA / "nq_open" / "nq-open-oracle.jsonl.gz")
    out = []
    for i in range(3):
        # at 4,000 tokens two documents share a paragraph: 17 features fit LIME's budget of 32 (n + 3)
        p = retrieval_prompt(records, i, gold_position=1, seed=i, min_tokens=length, count_tokens=count,
                             per_paragraph=2 if length > 1200 else 1)
        out.append({"case": f"nq{length}-{i}", "length": length, "text": p.text, "template": p.template,
                    "target": p.answer, "features": "sentences" if length <= 300 else "paragraphs"})
    return out


def budgets(length: int, method: str) -> tuple[int, ...]:
    if method == "occlusion":
        return (0,)  # n + 1 samples whatever the budget
    return (32, 200) if length <= 1200 else (32,)


def _target(case):
    return tuple(case["target"]) if isinstance(case["target"], list) else case["target"]


class Recorder:
    """Wraps ``model.score`` to keep the distinct requests an explanation sends."""

    def __init__(self, model):
        self.model, self.requests, self._score = model, {}, model.score

    def __enter__(self):
        def score(requests, *a, **k):
            for r in requests:
                self.requests.setdefault(r, None)
            return self._score(requests, *a, **k)

        self.model.score = score
        return self

    def __exit__(self, *exc):
        del self.model.score


def run_whyllm(model, case, method, budget, system):
    import whyllm

    kw = {"template": case["template"], "features": case["features"], "method": method, "seed": 0}
    if budget:
        kw["budget"] = budget
    keep = (model.batch_size, model.reuse_prefix, model.max_batch_tokens)
    if system == "unbatched":
        model.batch_size, model.reuse_prefix, model.max_batch_tokens = 1, False, 10**6
    try:
        with Recorder(model) as rec, PeakRSS() as rss:
            t = time.perf_counter()
            exp = whyllm.explain(case["text"], _target(case), model=model, **kw)
            seconds = time.perf_counter() - t
    finally:
        model.batch_size, model.reuse_prefix, model.max_batch_tokens = keep
    return exp, list(rec.requests), {"seconds": seconds, "peak_rss": rss.peak, "values": list(exp.values),
                                     "sample_tokens": exp.cost.sample_tokens, "tokens": exp.cost.tokens,
                                     "sequences": exp.cost.sequences, "passes": exp.cost.forward_passes,
                                     "top3": [int(i) for i in exp.ranking()[:3]]}


@torch.inference_mode()
def run_naive(model, requests, max_rows: int, seed: int = 0):
    """One plain batch-1 forward per distinct row (prompt + continuation[:-1]); every continuation
    of that row is read from it at its own positions."""
    rows: dict[tuple[int, ...], list] = {}
    for r in requests:
        rows.setdefault(r.prompt + r.continuation[:-1], []).append(r)
    seqs = list(rows)
    rng = np.random.default_rng(seed)
    pick = seqs if len(seqs) <= max_rows else [seqs[i] for i in sorted(rng.choice(len(seqs), max_rows,
                                                                                    replace=False))]
    with PeakRSS() as rss:
        t = time.perf_counter()
        done_tokens = 0
        for seq in pick:
            ids = torch.tensor([seq], dtype=torch.long, device=model.device)
            hidden = model.model.base_model(input_ids=ids, use_cache=False).last_hidden_state[0]
            pos = [len(r.prompt) - 1 + j for r in rows[seq] for j in range(len(r.continuation))]
            toks = [t for r in rows[seq] for t in r.continuation]
            model.read_logprobs(hidden, torch.tensor(pos, device=model.device),
                                torch.tensor(toks, device=model.device))
            done_tokens += len(seq)
        measured = time.perf_counter() - t
    total_tokens = sum(len(s) for s in seqs)
    return {"seconds": measured * total_tokens / max(done_tokens, 1), "measured_rows": len(pick),
            "rows": len(seqs), "sample_tokens": total_tokens, "tokens": total_tokens,
            "extrapolated": len(pick) < len(seqs), "peak_rss": rss.peak}


def run_captum(model, case, method, budget):
    from captum.attr import FeatureAblation, KernelShap, Lime, LLMAttribution, TextTemplateInput

    from whyllm.features import PromptInput

    inp = PromptInput(model, case["text"], template=case["template"], features=case["features"])
    prompt = inp.prompt
    lo = case["template"].index("{text}")
    parts, last, values = [], 0, []
    for f in inp.features:
        parts.append(prompt[last:lo + f.start].replace("{", "{{").replace("}", "}}"))
        parts.append("{}")
        values.append(prompt[lo + f.start:lo + f.end])
        last = lo + f.end
    parts.append(prompt[last:].replace("{", "{{").replace("}", "}}"))
    tpl = TextTemplateInput(template="".join(parts), values=values)
    algo = {"occlusion": FeatureAblation, "lime": Lime, "kernelshap": KernelShap}[method](model.model)
    attr = LLMAttribution(algo, model.tokenizer)
    target = _target(case)
    target = target[0] if isinstance(target, tuple) else target
    kwargs = {} if method == "occlusion" else {"n_samples": budget}
    torch.manual_seed(0)
    with PeakRSS() as rss:
        t = time.perf_counter()
        res = attr.attribute(tpl, target=target, **kwargs)
        seconds = time.perf_counter() - t
    vals = res.seq_attr.detach().double().numpy()
    return {"seconds": seconds, "peak_rss": rss.peak, "top3": [int(i) for i in np.argsort(-vals)[:3]]}


def run_contextcite(model_dir, case, budget, threads):
    job = {"model_dir": str(model_dir), "text": case["text"], "template": case["template"],
           "answer": case["target"], "num_ablations": budget, "threads": threads,
           "sources": "sentence" if case["features"] == "sentences" else "paragraph"}
    py = ROOT / ".venv-contextcite" / "bin" / "python"
    out = subprocess.run([str(py), str(ROOT / "benchmarks" / "contextcite_runner.py")], input=json.dumps(job),
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def wanted(system: str, n: int, method: str, budget: int, prompt: int) -> bool:
    """Which peer runs are made (the slow peers on fewer cells; see BENCHMARKS.md)."""
    if system == "unbatched":
        return n <= 300 or (n <= 1200 and budget <= 32)
    if system == "captum":  # one of its samples takes ~6 s at 300 tokens and ~25 s at 1,200
        if n <= 24:
            return True
        if n <= 300:
            return budget <= 32
        if n <= 1200:
            return method == "occlusion"
        return prompt == 0 and method == "occlusion"  # one measured point: a full-logits forward
    if system == "contextcite":  # random ablations and a sparse linear surrogate: LIME's setting
        return method == "lime" and n >= 300 and budget <= 32
    return True


@torch.inference_mode()
def run_full_logits_forward(model, case):
    """One plain ``model(input_ids)`` forward with logits at every position on the whole prompt: what
    Captum's LLMAttribution runs per sample; at 4,000 tokens one is measured and none more."""
    ids = model.encode(case["template"].replace("{text}", case["text"])).ids
    with PeakRSS() as rss:
        t = time.perf_counter()
        model.model(input_ids=torch.tensor([ids], device=model.device), use_cache=False)
        seconds = time.perf_counter() - t
    return {"seconds": seconds, "peak_rss": rss.peak, "per_sample_only": True, "prompt_tokens": len(ids)}


def long_case(count, tokens: int = 30000, passages: int = 8) -> dict:
    """A ~30,000-token retrieval prompt in ``passages`` documents (each a run of NQ passages joined by
    newlines, the gold one inside the second), for occlusion over the documents."""
    from whyllm.tasks.retrieval import load_nq_open, retrieval_prompt

    records = load_nq_open(DATA / "nq_open" / "nq-open-oracle.jsonl.gz")
    p = retrieval_prompt(records, 11, gold_position=40, seed=11, min_tokens=tokens, count_tokens=count)
    docs = [" ".join(d.split()) for d in p.text.split("\n\n")]  # a passage's own line breaks would split it
    size = -(-len(docs) // passages)
    text = "\n\n".join("\n".join(docs[i:i + size]) for i in range(0, len(docs), size))
    prompt = p.template.replace("{text}", text)
    while count(prompt) > tokens:  # trim the last document to the size asked for
        text = text[:int(len(text) * 0.995)]
        prompt = p.template.replace("{text}", text)
    return {"case": f"nq{tokens}-{passages}docs", "length": tokens, "text": text, "template": p.template,
            "target": p.answer, "features": "paragraphs"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--systems", default="whyllm,unbatched,naive")
    ap.add_argument("--lengths", default=",".join(map(str, LENGTHS)))
    ap.add_argument("--prompts", type=int, default=3, help="run prompts 0 .. N-1 of each length")
    ap.add_argument("--prompt-index", help="or only these prompt indices, e.g. 1,2")
    ap.add_argument("--naive-rows", type=int, default=12)
    ap.add_argument("--captum-max-length", type=int, default=1200)
    ap.add_argument("--summarize", action="store_true")
    ap.add_argument("--long", action="store_true", help="occlusion over 8 documents of a 30,000-token prompt")
    args = ap.parse_args()
    if args.summarize:
        from throughput_summary import summarize

        summarize(STORE)
        return
    import whyllm
    from whyllm.models import local_model_dir

    model = whyllm.load_model(cache=False, dtype=args.dtype, threads=args.threads)
    done = set()
    if STORE.exists():
        done = {tuple(json.loads(x)["key"]) for x in STORE.read_text().splitlines() if x.strip()}
    rate = gemm_rate(model.model, model.dtype)
    params = body_params(model.model)
    print(f"GEMM rate of the model's shapes: {rate / 1e9:.1f} GFLOP/s ({model.dtype_name}, {args.threads} "
          f"threads)", flush=True)
    def count(s: str) -> int:
        return len(model.encode(s).ids)

    if args.long:
        case = long_case(count)
        key = [case["case"], "occlusion", 0, f"whyllm-{model.dtype_name}"]
        if tuple(key) not in done:
            exp, _, res = run_whyllm(model, case, "occlusion", 0, "whyllm")
            res["prompt_tokens"], res["n_features"] = len(model.encode(exp.prompt).ids), len(exp.features)
            with STORE.open("a") as fh:
                fh.write(json.dumps({"key": key, "case": case["case"], "length": 30000, "method": "occlusion",
                                     "budget": 0, "system": key[3], "threads": args.threads, **res}) + "\n")
            print(f"{case['case']}: {res['seconds']:.0f}s, peak RSS {res['peak_rss'] / 2**30:.2f} GiB, "
                  f"{res['tokens']} tokens computed of {res['sample_tokens']}", flush=True)
        return
    lengths = [int(x) for x in args.lengths.split(",")]
    systems = args.systems.split(",")
    all_cases = {n: cases(n, count) for n in lengths}
    indices = [int(x) for x in args.prompt_index.split(",")] if args.prompt_index else range(args.prompts)
    for i in indices:
        for n in lengths:
            case = all_cases[n][i]
            for method in METHODS:
                for budget in budgets(n, method):
                    requests = None
                    for system in systems:
                        name = system if system != "whyllm" else f"whyllm-{model.dtype_name}"
                        key = [case["case"], method, budget, name]
                        if tuple(key) in done:
                            continue
                        if not wanted(system, n, method, budget, i):
                            continue
                        rec = {"key": key, "case": case["case"], "length": n, "method": method,
                               "budget": budget, "system": name, "threads": args.threads}
                        if system in ("whyllm", "unbatched"):
                            exp, requests, res = run_whyllm(model, case, method, budget, system)
                            res["prompt_tokens"] = len(model.encode(exp.prompt).ids)
                            res["n_features"] = len(exp.features)
                            if system == "whyllm":  # the GEMM rate right after the run, as the machine is now
                                rate = gemm_rate(model.model, model.dtype)
                                fl = tree_flops(requests, model.model.config, params, model.max_batch_tokens)
                                res["bound_seconds"] = fl["total"] / rate
                                res["flops"] = fl
                                res["gemm_rate"] = rate
                        elif system == "naive":
                            if requests is None:
                                _, requests, _ = run_whyllm(model, case, method, budget, "whyllm")
                            res = run_naive(model, requests, args.naive_rows)
                        elif system == "captum" and n > args.captum_max_length:
                            res = run_full_logits_forward(model, case)
                        elif system == "captum":
                            res = run_captum(model, case, method, budget)
                        else:
                            res = run_contextcite(local_model_dir(None), case, budget or 32, args.threads)
                        rec.update(res)
                        with STORE.open("a") as fh:
                            fh.write(json.dumps(rec) + "\n")
                        print(f"{case['case']} {method} {budget} {name}: {res['seconds']:.1f}s "
                              f"tokens {res.get('tokens')} rss {res['peak_rss'] / 2**30:.2f} GiB", flush=True)


if __name__ == "__main__":
    main()
