"""Long prompts on the real Gemma 3 270M: batching never changes scores, precision and device are
provenance, memory stays bounded, a killed run resumes, and ``--quiet`` is quiet."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import whyllm
from tests.conftest import SHARED_DATA
from whyllm.models import ScoreCache, ScoreRequest
from whyllm.tasks.retrieval import load_nq_open, retrieval_prompt

pytestmark = pytest.mark.gemma
NQ = SHARED_DATA / "nq_open" / "nq-open-oracle.jsonl.gz"
EIFFEL = "The Eiffel Tower is located in the city of"


@pytest.fixture(scope="module")
def records():
    return load_nq_open(NQ)


def _prompt(records, model, tokens: int, index: int = 0):
    return retrieval_prompt(records, index, gold_position=1, seed=index, min_tokens=tokens,
                            count_tokens=lambda s: len(model.encode(s).ids))


def _requests(model, p, n: int = 10) -> list[ScoreRequest]:
    """The full prompt, leave-one-document-out rows and random document masks, answer as target."""
    inp = whyllm.features.PromptInput(model, p.text, template=p.template, features="paragraphs")
    answer = model.encode_continuation(p.answer)
    masks = [np.ones(inp.n_features, bool)]
    masks += [np.arange(inp.n_features) != i for i in range(inp.n_features)]
    rng = np.random.default_rng(0)
    masks += [rng.random(inp.n_features) > 0.5 for _ in range(n)]
    return [ScoreRequest(inp.ids_for(m), answer, top=bool(i % 3 == 0)) for i, m in enumerate(masks)]


def _with(model, **settings):
    saved = {k: getattr(model, k) for k in settings}
    for k, v in settings.items():
        setattr(model, k, v)
    return saved


def test_token_batches_prefix_tree_and_chunked_prefill_give_one_row_scores(gemma, records):
    reqs = _requests(gemma, _prompt(records, gemma, 600))
    saved = _with(gemma, batch_size=1, reuse_prefix=False, max_batch_tokens=10**6)
    try:
        reference = gemma.score(reqs)
        variants = {}
        cases = {"token batches": dict(batch_size=None, reuse_prefix=False, max_batch_tokens=2048),
                 "prefix tree": dict(batch_size=None, reuse_prefix=True, max_batch_tokens=2048),
                 "chunked prefill": dict(batch_size=None, reuse_prefix=True, max_batch_tokens=96)}
        for name, settings in cases.items():
            _with(gemma, **settings)
            meter = whyllm.cost.CostMeter()
            variants[name] = (gemma.score(reqs, meter), meter.snapshot())
    finally:
        _with(gemma, **saved)
    for name, (got, _) in variants.items():
        worst = max(float(np.abs(a - b).max()) for a, b in zip(got, reference))
        assert worst < 1e-5, f"{name}: {worst}"
    assert variants["prefix tree"][1].tokens < 0.75 * variants["token batches"][1].tokens
    assert variants["token batches"][1].tokens == variants["token batches"][1].sample_tokens
    assert variants["chunked prefill"][1].forward_passes > variants["prefix tree"][1].forward_passes
    # and the reference itself is a plain forward's answer
    for r, lp in list(zip(reqs, reference))[:2]:
        np.testing.assert_allclose(lp[:len(r.continuation)], gemma.plain_logprobs(r.prompt, r.continuation),
                                   atol=2e-4)


@pytest.fixture(scope="module")
def gemma_bf16():
    return whyllm.load_model(cache=False, dtype="bfloat16")


def test_dtype_and_device_are_provenance_and_separate_the_cache(gemma, gemma_bf16, tmp_path):
    assert (gemma_bf16.info.dtype, gemma_bf16.info.device) == ("bfloat16", "cpu")
    assert gemma_bf16.model.dtype == torch.bfloat16
    cache = ScoreCache(tmp_path / "scores.sqlite")
    kw = dict(target=" Paris", method="kernelshap", budget=64, seed=0)
    saved32, saved16 = gemma.cache, gemma_bf16.cache
    gemma.cache, gemma_bf16.cache = cache, cache
    try:
        e32 = whyllm.explain(EIFFEL, model=gemma, **kw)
        e16 = whyllm.explain(EIFFEL, model=gemma_bf16, **kw)
        again = whyllm.explain(EIFFEL, model=gemma_bf16, **kw)
    finally:
        gemma.cache, gemma_bf16.cache = saved32, saved16
    assert e16.cost.cache_hits == 0  # a float32 score never answers a bfloat16 request
    assert again.cost.cache_hits == again.cost.requests
    assert e32.model.dtype == "float32" and e16.model.dtype == "bfloat16"
    assert whyllm.Explanation.from_json(e16.to_json()).model == e16.model
    # bfloat16 moves the values a little and keeps the ranking's head
    assert e16.values != e32.values
    assert set(np.argsort(e16.values)[-2:]) == set(np.argsort(e32.values)[-2:])
    assert abs(e16.full_value - e32.full_value) < 0.1


def test_auto_dtype_probe_is_recorded(gemma_bf16):
    from whyllm.models.precision import cpu_has_native_bf16

    model = whyllm.load_model(cache=False)  # dtype="auto"
    probe = model.precision_probe
    if cpu_has_native_bf16():
        assert probe is not None and probe.same_top1 and probe.max_abs_diff < 0.5
        assert model.info.dtype == ("bfloat16" if probe.ok else "float32")
    else:
        assert probe is None and model.info.dtype == "float32"


def test_every_tensor_the_scorer_creates_is_placed_on_the_model_device(gemma, records):
    from torch.overrides import TorchFunctionMode

    factories = {torch.tensor, torch.full, torch.arange, torch.zeros, torch.ones, torch.empty,
                 torch.as_tensor, torch.randn}
    src = str(Path(whyllm.__file__).parent)
    missing = []

    class Watch(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            if func in factories and kwargs.get("device") is None:
                caller = sys._getframe(1).f_code.co_filename
                if caller.startswith(src):
                    missing.append(f"{func.__name__} at {caller}:{sys._getframe(1).f_lineno}")
            return func(*args, **kwargs)

    reqs = _requests(gemma, _prompt(records, gemma, 300), n=4)
    saved = _with(gemma, max_batch_tokens=64)
    try:
        with Watch():
            gemma.score(reqs)
            gemma.generate(reqs[0].prompt, 2)
    finally:
        _with(gemma, **saved)
    assert missing == []


def _child(code: str, env_extra: dict | None = None, timeout: int = 900) -> subprocess.Popen:
    env = {**os.environ, "WHYLLM_THREADS": os.environ.get("WHYLLM_THREADS", "1"), **(env_extra or {})}
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


PEAK = """
def peak():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
"""


def test_4000_token_prompt_explains_within_4_gib():
    proc = _child(PEAK + f"""
import json, whyllm
from whyllm.tasks.retrieval import load_nq_open, retrieval_prompt
model = whyllm.load_model(cache=False)
p = retrieval_prompt(load_nq_open({str(NQ)!r}), 3, gold_position=1, min_tokens=4000, per_paragraph=2,
                     count_tokens=lambda s: len(model.encode(s).ids))
exp = whyllm.explain(p.text, p.answer, model=model, template=p.template, features="paragraphs",
                     method="lime", budget=24)
print(json.dumps({{"peak": peak(), "tokens": len(model.encode(exp.prompt).ids), "seqs": exp.cost.sequences}}))
""")
    out, err = proc.communicate(timeout=900)
    assert proc.returncode == 0, err
    res = json.loads(out.strip().splitlines()[-1])
    assert res["tokens"] >= 4000 and res["seqs"] >= 10
    assert res["peak"] < 4 * 2**30, res


@pytest.mark.slow
def test_30000_token_prompt_is_scored_through_chunked_prefill_within_8_gib():
    proc = _child(PEAK + f"""
import json, numpy as np, whyllm
from whyllm.cost import CostMeter
from whyllm.models import ScoreRequest
from whyllm.tasks.retrieval import load_nq_open, retrieval_prompt
model = whyllm.load_model(cache=False)
p = retrieval_prompt(load_nq_open({str(NQ)!r}), 5, n_documents=260, gold_position=100)
ids = model.encode(p.template.replace("{{text}}", p.text)).ids[:30000]
meter = CostMeter()
lp = model.score([ScoreRequest(ids[:-4], ids[-4:])], meter)[0]
print(json.dumps({{"peak": peak(), "tokens": len(ids), "passes": meter.forward_passes,
                  "budget": model.max_batch_tokens, "finite": bool(np.isfinite(lp).all())}}))
""")
    out, err = proc.communicate(timeout=1200)
    assert proc.returncode == 0, err
    res = json.loads(out.strip().splitlines()[-1])
    assert res["tokens"] == 30000 and res["finite"]
    assert res["passes"] >= 30000 // res["budget"]  # prefilled in chunks
    assert res["peak"] < 8 * 2**30, res


RESUMABLE = """
import json, sys, time, whyllm
from whyllm.tasks.retrieval import load_nq_open, retrieval_prompt
model = whyllm.load_model(cache=sys.argv[1])
p = retrieval_prompt(load_nq_open(sys.argv[2]), 7, gold_position=1, min_tokens=900,
                     count_tokens=lambda s: len(model.encode(s).ids))
print("ready", flush=True)
t = time.perf_counter()
exp = whyllm.explain(p.text, p.answer, model=model, template=p.template, features="sentences",
                     method="lime", budget=48)
print(json.dumps({"seconds": time.perf_counter() - t, "hits": exp.cost.cache_hits,
                  "requests": exp.cost.requests, "sequences": exp.cost.sequences}), flush=True)
"""


def _resumable(tmp_path: Path, cache: Path) -> subprocess.Popen:
    script = tmp_path / "resumable.py"
    script.write_text(RESUMABLE)
    env = {**os.environ, "WHYLLM_THREADS": os.environ.get("WHYLLM_THREADS", "1")}
    return subprocess.Popen([sys.executable, str(script), str(cache), str(NQ)], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, env=env)


def test_killed_long_prompt_explanation_resumes_from_the_cache(tmp_path):
    first = _resumable(tmp_path, tmp_path / "a.sqlite")
    assert first.stdout.readline().strip() == "ready"
    full = json.loads(first.stdout.readline())
    first.wait()
    killed = _resumable(tmp_path, tmp_path / "b.sqlite")
    assert killed.stdout.readline().strip() == "ready"
    time.sleep(0.6 * full["seconds"])
    killed.send_signal(signal.SIGKILL)  # no chance to flush anything
    killed.wait()
    again = _resumable(tmp_path, tmp_path / "b.sqlite")
    assert again.stdout.readline().strip() == "ready"
    rerun = json.loads(again.stdout.readline())
    again.wait()
    assert rerun["requests"] == full["requests"]
    assert rerun["hits"] >= 0.5 * full["requests"], (rerun, full)


def test_quiet_explain_writes_nothing_to_stderr():
    env = {**os.environ, "WHYLLM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "whyllm.cli", "explain", "The capital of France is",
                           "--target", " Paris", "--method", "occlusion", "--no-cache", "--quiet"],
                          capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert "Paris" in proc.stdout or "capital" in proc.stdout
