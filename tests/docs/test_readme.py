"""Every example README.md shows runs, and prints what the README shows.

Python blocks are doctests run in one namespace, in order; console blocks are ``$ whyllm ...``
lines run through the CLI's ``main``, each followed by the output it must print (stdout and stderr
together; a command that shows ``whyllm: error:`` must exit with 2, the others with 0). Numbers are
compared within the tolerance of :mod:`tests.readme_examples`. They run from a folder holding a copy
of ``examples/`` and a small AnnData file with planted markers, with fresh score caches (one for the
Python blocks, one per console block), so the cache counts are those of a first run. The
served-model command talks to a local stand-in server that answers with Gemma's own log-probs (the
real ``llama_cpp.server`` runs in ``make test-server``).
Everything but the structure check needs the real Gemma model.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from tests.readme_examples import README, blocks, commands, matches, run_python

ROOT = Path(__file__).resolve().parents[2]
PYTHON = [b for b in blocks() if b.lang == "python"]
CONSOLE = [b for b in blocks()
           if b.lang == "console" and any(ln.startswith("$ ") for ln in b.text.splitlines())]


def test_every_example_block_is_runnable():
    """No example escapes the test: each Python block has doctest lines, each console block that
    shows a command shows only whyllm commands."""
    assert len(PYTHON) >= 7 and len(CONSOLE) >= 4
    for b in PYTHON:
        assert b.text.startswith(">>> "), f"README.md:{b.line}: write Python examples as doctests"
    for b in CONSOLE:
        assert commands(b)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("readme")
    for f in (ROOT / "examples").iterdir():
        shutil.copy(f, folder / f.name)
    try:
        from tests.unit.test_celltype_anndata import planted_adata

        adata = planted_adata()
        adata.obs["cell_type"] = adata.obs["label"].map({"tcell": "T cell", "bcell": "B cell",
                                                         "mono": "monocyte"})
        adata.write_h5ad(folder / "adata.h5ad")
    except ImportError:  # scanpy/anndata are test extras; the celltype AnnData command then fails
        pass
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(folder)
        mp.setenv("WHYLLM_SCORE_CACHE", str(folder / "scores.sqlite"))
        mp.setenv("COLUMNS", "200")
        yield folder


GLOBS: dict = {}
#: ``WHYLLM_README_RECORD=path``: write what every example printed to ``path`` (JSON lines), for
#: ``python -m tests.update_readme path`` to bring README.md's numbers up to date
RECORD = os.environ.get("WHYLLM_README_RECORD")


def record(line: int, source: str, got: str) -> None:
    if RECORD:
        with open(RECORD, "a", encoding="utf-8") as f:
            f.write(json.dumps({"line": line, "source": source, "got": got}) + "\n")


@pytest.mark.gemma
@pytest.mark.parametrize("block", PYTHON, ids=[f"line{b.line}" for b in PYTHON])
def test_python_example(block, workdir):
    failures, report = run_python(block, GLOBS, record if RECORD else None)
    assert failures == 0, report


@pytest.mark.gemma
@pytest.mark.parametrize("block", CONSOLE, ids=[f"line{b.line}" for b in CONSOLE])
def test_console_example(block, workdir, capsys, gemma, monkeypatch):
    from tests.fake_openai import FakeOpenAIServer
    from whyllm.cli import main

    # each transcript is a first run: its own fresh score cache
    monkeypatch.setenv("WHYLLM_SCORE_CACHE", str(workdir / f"console-{block.line}.sqlite"))

    def gemma_logprobs(ids: list[int]) -> list[float]:
        return [0.0, *gemma.plain_logprobs(ids[:1], ids[1:]).tolist()]

    with FakeOpenAIServer(logprob_fn=gemma_logprobs) as server:
        port = server.url.split(":")[-1].split("/")[0]
        for cmd in commands(block):
            argv = [a.replace("127.0.0.1:8000", f"127.0.0.1:{port}") for a in cmd.argv]
            capsys.readouterr()
            rc = main(argv)
            out = capsys.readouterr()
            got = (out.out + out.err).strip()
            record(cmd.line, " ".join(cmd.argv), got)
            want_rc = 2 if "whyllm: error:" in cmd.want else 0
            assert rc == want_rc, f"README.md:{cmd.line}: exit {rc}\n{got[-2000:]}"
            if cmd.want:
                assert matches(cmd.want, got), f"README.md:{cmd.line}\n--- shown\n{cmd.want}\n--- got\n{got}"


def test_blocks_are_the_readme_s_own_at_their_lines():
    """The examples tested are README.md's, every fenced block of it, each at the line it starts."""
    text = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    found = blocks()
    assert README == ROOT / "README.md"
    assert len(found) == sum(1 for line in text if line.startswith("```")) // 2
    for b in found:
        n = b.text.count("\n")
        assert "\n".join(text[b.line - 1:b.line - 1 + n]) + "\n" == b.text, f"README.md:{b.line}"
