"""Integration tests on the real default model, Gemma 3 270M (CPU, float32)."""

from __future__ import annotations

import json

import numpy as np
import pytest

import whyllm
from whyllm.cli import main
from whyllm.models import ScoreRequest

pytestmark = pytest.mark.gemma
EIFFEL = "The Eiffel Tower is located in the city of"
SST_TEMPLATE = "Review: {text}\nSentiment (positive or negative):"


def test_default_model_is_gemma(gemma):
    assert gemma.model_id == "gemma-3-270m-q4_k_m" and len(gemma.revision) == 16
    assert gemma.path == "packed", "the packed prefix-tree path must agree with a plain forward on Gemma"
    assert (gemma.info.dtype, gemma.info.device) == ("float32", "cpu")


def test_scorer_matches_plain_forward(gemma):
    ids = gemma.encode("Review: the acting was superb, though the ending dragged.\nSentiment:").ids
    reqs = [ScoreRequest(ids[:k], ids[k:k + 3]) for k in range(3, len(ids) - 3)]
    reqs += [ScoreRequest(ids[:-1], gemma.encode_continuation(" positive")),
             ScoreRequest(ids[:-1], gemma.encode_continuation(" negative"))]
    got = gemma.score(reqs)
    for r, lp in zip(reqs, got):
        np.testing.assert_allclose(lp, gemma.plain_logprobs(r.prompt, r.continuation), atol=1e-4)


def test_eiffel_ranks_top_two_by_kernelshap(gemma):
    exp = whyllm.explain(EIFFEL, target=" Paris", model=gemma, method="kernelshap", features="words",
                         budget=200, seed=0)
    top2 = [w for w, _ in exp.top(2)]
    assert "Eiffel" in top2
    # efficiency on the real model
    assert exp.base_value + sum(exp.values) == pytest.approx(exp.full_value, abs=1e-4)
    # full value is the plain model's log p(' Paris')
    plain = gemma.plain_logprobs(gemma.encode(EIFFEL).ids, gemma.encode_continuation(" Paris"))
    assert exp.full_value == pytest.approx(float(plain.sum()), abs=1e-4)
    assert exp.cost.sequences <= 200 and exp.cost.forward_passes < 20


def test_batch_size_does_not_change_results_on_gemma(gemma):
    kw = dict(target=" Paris", model=gemma, method="kernelshap", budget=80, seed=3)
    old = gemma.batch_size
    try:
        gemma.batch_size = 1
        one = whyllm.explain(EIFFEL, **kw)
        gemma.batch_size = None
        many = whyllm.explain(EIFFEL, **kw)
    finally:
        gemma.batch_size = old
    # float32 kernels differ in the last bits between batch shapes; nothing more
    np.testing.assert_allclose(one.values, many.values, atol=1e-5)
    assert one.cost.forward_passes > many.cost.forward_passes


def test_contrast_target_in_template(gemma):
    exp = whyllm.explain("the acting was superb, though the ending dragged.",
                         target=(" positive", " negative"), template=SST_TEMPLATE, model=gemma,
                         method="lime", budget=120, seed=0)
    assert exp.target.kind == "contrast"
    words = [f.text for f in exp.features]
    assert words[0] == "the" and "Review" not in words
    assert exp.fit.r2 > 0.3
    assert "superb," in [w for w, _ in exp.top(3)]
    faith = whyllm.evaluate(exp, model=gemma)
    assert faith.aopc_comprehensiveness > 0.0


def test_greedy_target(gemma):
    exp = whyllm.explain(EIFFEL, model=gemma, method="occlusion", max_new_tokens=3)
    assert exp.target.kind == "greedy" and exp.target.texts[0].startswith(" Paris")


def test_prompt_longer_than_context(gemma):
    with pytest.raises(whyllm.ContextLengthError):
        whyllm.explain("word " * 33000, target=" x", model=gemma, method="occlusion")


def test_cli_end_to_end(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("WHYLLM_CACHE", str(tmp_path / "cache"))
    out, html = tmp_path / "out.json", tmp_path / "out.html"
    argv = ["explain", EIFFEL, "--target", " Paris", "--method", "kernelshap", "--features", "words",
            "--budget", "100", "--seed", "0", "--json", str(out), "--html", str(html), "--quiet"]
    assert main(argv) == 0
    exp = whyllm.Explanation.from_json(out.read_text())
    assert exp.params["budget"] == 100 and "Eiffel" in html.read_text()
    assert main(["evaluate", str(out), "--quiet", "--json", str(out)]) == 2  # never replaced unasked
    assert "exists; give --force" in capsys.readouterr().err
    assert main(["evaluate", str(out), "--quiet", "--json", str(out), "--force"]) == 0
    assert "aopc_comprehensiveness=" in capsys.readouterr().out
    assert "aopc_comprehensiveness" in json.loads(out.read_text())["metrics"]
    # second run is answered from the cache
    assert main([*argv, "--force"]) == 0
    again = whyllm.Explanation.from_json(out.read_text())
    assert again.values == exp.values and again.cost.forward_passes == 0


def test_plain_path_agrees_with_fast_path(gemma):
    ids = gemma.encode("Review: a gorgeous, witty film\nSentiment:").ids
    reqs = [ScoreRequest(ids[:k], ids[k:k + 2]) for k in range(4, len(ids) - 2)]
    fast = gemma.score(reqs)
    gemma._fast_path = False
    try:
        plain = gemma.score(reqs)
    finally:
        gemma._fast_path = True
    gemma.reuse_prefix = False
    try:
        no_prefix = gemma.score(reqs)
    finally:
        gemma.reuse_prefix = True
    for a, b, c in zip(fast, plain, no_prefix):
        np.testing.assert_allclose(a, b, atol=1e-4)
        np.testing.assert_allclose(a, c, atol=1e-4)


def test_load_model_by_path(gemma, tmp_path):
    from whyllm.errors import ModelError
    from whyllm.models import load_model
    from whyllm.models.convert import DEFAULT_MODEL_NAME, converted_dir, default_gguf_path

    folder = converted_dir(default_gguf_path(), DEFAULT_MODEL_NAME)
    again = load_model(folder, cache=False, dtype="float32")
    assert again.revision == gemma.revision  # the GGUF hash recorded at conversion
    ids = gemma.encode(EIFFEL).ids
    req = [ScoreRequest(ids, gemma.encode_continuation(" Paris"))]
    np.testing.assert_allclose(again.score(req)[0], gemma.score(req)[0], atol=1e-6)
    with pytest.raises(ModelError, match="no model at"):
        load_model(tmp_path / "missing", cache=False)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelError, match=r"no config\.json"):
        load_model(tmp_path / "empty", cache=False)


def test_prefix_reuse_beyond_the_sliding_window(gemma):
    """A shared prefix longer than Gemma's 512-token sliding window still scores exactly."""
    story = " ".join(f"Item {i} is a {'red' if i % 3 else 'blue'} box." for i in range(90))
    ids = gemma.encode(story + " The colour of item 7 is").ids
    assert len(ids) > 600
    reqs = [ScoreRequest(ids[:-k], ids[-k:]) for k in (1, 2, 3)]
    reqs.append(ScoreRequest(ids, gemma.encode_continuation(" red")))
    got = gemma.score(reqs)
    for r, lp in zip(reqs, got):
        np.testing.assert_allclose(lp, gemma.plain_logprobs(r.prompt, r.continuation), atol=1e-4)


def test_anchors_and_lore_on_gemma(gemma):
    from whyllm.metrics.rules import anchor_precision

    model = gemma
    exp = whyllm.explain(EIFFEL, target=" Paris", model=model, method="anchors", seed=0)
    assert exp.fit.confident and exp.fit.precision_lb >= 0.95
    assert "Eiffel" in exp.fit.anchor_words and exp.cost.sequences <= 2000
    # the promise holds on fresh perturbations the search never saw
    assert anchor_precision(exp, model, n=200, seed=5)["precision"] >= 0.9
    lore = whyllm.explain(EIFFEL, target=" Paris", model=model, method="lore", seed=0)
    assert lore.fit.hit and lore.fit.fidelity > 0.8
    assert any(c["flips"] and c["words"] == ["Eiffel"] for c in lore.fit.counterfactuals)
