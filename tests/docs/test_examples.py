"""Every example README.md and the documentation site show runs, and prints what they show.

The pages are README.md, then the site's pages in the order of mkdocs.yml's nav. Python blocks are
doctests run in order; README.md and the quickstart each in a namespace and score cache of their
own, the guides in one shared namespace and cache (a guide goes on from the ones before it).
Console blocks are ``$ whyllm ...`` lines run through the CLI's ``main``, each followed by the
output it must print (stdout and stderr together; a command that shows ``whyllm: error:`` must exit
with 2, the others with 0), each with a fresh score cache, so the cache counts are those of a first
run. Numbers are compared within the tolerance of :mod:`tests.readme_examples`. They run from a
folder holding a copy of ``examples/`` and a small AnnData file with planted markers. The
served-model command talks to a local stand-in server that answers with Gemma's own log-probs (the
real ``llama_cpp.server`` runs in ``make test-server``). Everything but the structure checks needs
the real Gemma model.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import yaml

from tests.readme_examples import README, blocks, commands, matches, run_python

ROOT = Path(__file__).resolve().parents[2]


def nav_pages(nav) -> list[str]:
    """The site's pages in the order of its nav."""
    out: list[str] = []
    for entry in nav:
        for value in (entry.values() if isinstance(entry, dict) else [entry]):
            out += nav_pages(value) if isinstance(value, list) else [value]
    return out


PAGES = [README] + [ROOT / "docs" / p for p in nav_pages(
    yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))["nav"])]
ALL = [b for page in PAGES for b in blocks(page)]
PYTHON = [b for b in ALL if b.lang == "python"]
CONSOLE = [b for b in ALL if b.lang == "console" and any(ln.startswith("$ ") for ln in b.text.splitlines())]


def test_every_example_block_is_runnable():
    """No example escapes the test: each Python block has doctest lines, each console block that
    shows a command shows only whyllm commands; README has its quickstarts and every guide has
    examples."""
    assert [b.path for b in PYTHON].count(README) == 1 and [b.path for b in CONSOLE].count(README) == 1
    assert len(PYTHON) >= 9 and len(CONSOLE) >= 8
    guides = [p for p in PAGES if "guides" in p.parts]
    assert len(guides) == 10 and all(any(b.path == g for b in PYTHON + CONSOLE) for g in guides)
    for b in PYTHON:
        assert b.text.startswith(">>> "), f"{b.where}: write Python examples as doctests"
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


GLOBS: dict[str, dict] = {}


def session(page: Path) -> str:
    """Which Python session a page's blocks run in: README's, the quickstart's, or the guides'."""
    return {"README.md": "readme", "quickstart.md": "quickstart"}.get(page.name, "guides")
#: ``WHYLLM_README_RECORD=path``: write what every example printed to ``path`` (JSON lines), for
#: ``python -m tests.update_readme path`` to bring README.md's numbers up to date
RECORD = os.environ.get("WHYLLM_README_RECORD")


def record(path: Path, line: int, source: str, got: str) -> None:
    if RECORD:
        with open(RECORD, "a", encoding="utf-8") as f:
            f.write(json.dumps({"file": str(path.relative_to(ROOT)), "line": line, "source": source,
                                "got": got}) + "\n")


@pytest.mark.gemma
@pytest.mark.parametrize("block", PYTHON, ids=[b.where for b in PYTHON])
def test_python_example(block, workdir, monkeypatch):
    name = session(block.path)
    monkeypatch.setenv("WHYLLM_SCORE_CACHE", str(workdir / f"scores-{name}.sqlite"))
    failures, report = run_python(block, GLOBS.setdefault(name, {}), record if RECORD else None)
    assert failures == 0, report


@pytest.mark.gemma
@pytest.mark.parametrize("block", CONSOLE, ids=[b.where for b in CONSOLE])
def test_console_example(block, workdir, capsys, gemma, monkeypatch):
    from tests.fake_openai import FakeOpenAIServer
    from whyllm.cli import main

    # each transcript is a first run: its own fresh score cache
    name = str(block.path.relative_to(ROOT)).replace("/", "-")
    monkeypatch.setenv("WHYLLM_SCORE_CACHE", str(workdir / f"console-{name}-{block.line}.sqlite"))

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
            record(block.path, cmd.line, " ".join(cmd.argv), got)
            want_rc = 2 if "whyllm: error:" in cmd.want else 0
            where = f"{block.path.relative_to(ROOT)}:{cmd.line}"
            assert rc == want_rc, f"{where}: exit {rc}\n{got[-2000:]}"
            if cmd.want:
                assert matches(cmd.want, got), f"{where}\n--- shown\n{cmd.want}\n--- got\n{got}"


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(ROOT)) for p in PAGES])
def test_blocks_are_the_page_s_own_at_their_lines(page):
    """The examples tested are the page's own, every fenced block of it, each at the line it starts."""
    text = page.read_text(encoding="utf-8").splitlines()
    found = blocks(page)
    assert len(found) == sum(1 for line in text if line.startswith("```")) // 2
    for b in found:
        n = b.text.count("\n")
        assert "\n".join(text[b.line - 1:b.line - 1 + n]) + "\n" == b.text, b.where
