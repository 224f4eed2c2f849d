"""Views of the features x answer-tokens matrix: the answer's sentences with their top sources in
the terminal, and an HTML heatmap whose sentences recolour the prompt (every string escaped)."""

from __future__ import annotations

import io
import json
import re

from rich.console import Console

import whyllm
from whyllm.models.toy import EOS, ToyModel
from whyllm.report.matrix import answer_sentences, top_sources

WORDS = ["red", "green", "blue", "</script><b>x"]
ANSWER = ["A0", "A1.", "A2", "A3."]


def model() -> ToyModel:
    """Answer token j has log-prob 1 exactly when feature j is present, else 0."""

    def score(words):
        j = sum(w in ANSWER for w in words)
        if j == len(ANSWER):
            return {EOS: 0.0}
        return {ANSWER[j]: 1.0 if WORDS[j] in words else 0.0, EOS: -5.0}

    return ToyModel(score, name="toy-answer", cache=None)


def explain():
    return whyllm.explain(" ".join(WORDS), " " + " ".join(ANSWER), model=model(), method="kernelshap",
                          budget=16)


def test_each_sentence_gets_the_sources_of_its_tokens():
    exp = explain()
    sentences = answer_sentences(exp)
    assert [s.text.strip() for s in sentences] == ["A0 A1.", "A2 A3."]
    assert [s.columns for s in sentences] == [(0, 1), (2, 3)]
    # each sentence's two tokens depend on two features, each worth exactly 1 (a tie: any order)
    for s, want in zip(sentences, ({"red", "green"}, {"blue", "</script><b>x"})):
        tops = top_sources(s, exp, 2)
        assert {t for t, _ in tops} == want and all(abs(v - 1.0) < 1e-9 for _, v in tops)
        assert all(abs(v) < 1e-9 for t, v in top_sources(s, exp, 4)[2:])
    buf = io.StringIO()
    exp.print(Console(file=buf, width=120))
    out = buf.getvalue()
    assert "top sources of each answer sentence" in out
    line = next(ln for ln in out.splitlines() if ln.startswith("'A2 A3.':"))
    assert "'blue' +1.000" in line and "'</script><b>x' +1.000" in line


def test_heatmap_has_every_cell_and_escapes_every_string():
    exp = explain()
    page = exp.to_html()
    assert page.count('<td style="background:') == 16  # 4 features x 4 answer tokens
    assert "</script><b>" not in page and "&lt;/script&gt;&lt;b&gt;x" in page
    data = re.search(r'<script type="application/json" class="whyllm-sentences">(.*?)</script>', page, re.S)
    colours = json.loads(data.group(1))
    assert len(colours) == 2 and all(len(c) == 4 for c in colours)
    assert page.count('class="sent"') + page.count('class="sent on"') == 3  # two sentences + whole answer


def test_a_single_token_or_contrast_target_has_no_sentence_view():
    exp = whyllm.explain(" ".join(WORDS), " A0", model=model(), method="kernelshap", budget=16)
    assert answer_sentences(exp) == [] and "Answer tokens" not in exp.to_html()


def test_cli_answer_span_by_characters_or_text(tmp_path, monkeypatch, capsys):
    import whyllm.cli.common
    from whyllm.cli import main

    monkeypatch.setattr(whyllm.cli.common, "load_model_from", lambda args: model())
    answer = " " + " ".join(ANSWER)
    for i, spec in enumerate(("A2 A3.", f"{answer.index('A2')}:{len(answer)}")):
        out = tmp_path / f"s{i}.json"  # an existing output is never replaced without --force
        assert main(["explain", " ".join(WORDS), "--target", answer, "--answer-span", spec, "--budget", "16",
                     "--json", str(out), "--quiet"]) == 0
        exp = whyllm.Explanation.from_json(out.read_text())
        assert exp.target.kind == "span" and [o.text for o in exp.outputs] == ["A2", "A3."]
        assert {exp.features[i].text for i in exp.ranking()[:2]} == {"blue", "</script><b>x"}
    capsys.readouterr()
    assert main(["explain", "red", "--target", answer, "--answer-span", "nowhere"]) == 2
    assert "neither START:END nor a part of the answer" in capsys.readouterr().err
    assert main(["explain", "red", "--target", " a", "--against", " b", "--answer-span", "0:1"]) == 2
