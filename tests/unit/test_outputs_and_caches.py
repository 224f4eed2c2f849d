"""Outputs checked before any model work and written whole; caches that cannot answer for other
weights or hold damaged entries; budgets a machine cannot hold refused up front."""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time

import numpy as np
import pytest

import whyllm
import whyllm.cli.common
from whyllm.cli import main
from whyllm.models import ScoreCache, ScoreRequest, additive_model


@pytest.fixture
def calls(monkeypatch):
    """The CLI's model loader replaced by a toy that counts how often it is asked for."""
    count = {"loads": 0}
    toy = additive_model({"good": 2.0, "bad": -1.0}, bias=0.5, cache=None)

    def load(args):
        count["loads"] += 1
        return toy

    monkeypatch.setattr(whyllm.cli.common, "load_model_from", load)
    count["model"] = toy
    return count


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("whyllm: error:"), err
    return lines[0]


def test_json_into_a_folder_fails_before_the_model(tmp_path, calls, capsys):
    assert main(["explain", "good movie", "--target", " yes", "--json", str(tmp_path)]) == 2
    assert "is a folder" in one_line(capsys.readouterr().err) and calls["loads"] == 0


def test_an_existing_output_is_kept_unless_forced(tmp_path, calls, capsys):
    out = tmp_path / "e.json"
    out.write_text("precious", encoding="utf-8")
    argv = ["explain", "good bad movie", "--target", " yes", "--method", "occlusion", "--json", str(out),
            "--quiet"]
    assert main(argv) == 2
    assert "exists; give --force" in one_line(capsys.readouterr().err)
    assert out.read_text() == "precious" and calls["loads"] == 0
    assert main([*argv, "--force"]) == 0
    assert whyllm.Explanation.from_json(out.read_text()).method == "occlusion"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["e.json"]  # no temporary file left behind


def test_two_outputs_to_one_file_are_refused(tmp_path, calls, capsys):
    out = str(tmp_path / "e.out")
    assert main(["explain", "good", "--target", " yes", "--json", out, "--html", out]) == 2
    assert "same file" in one_line(capsys.readouterr().err) and calls["loads"] == 0


@pytest.mark.parametrize("damage", ["strings", "fewer"])
def test_evaluate_refuses_a_damaged_explanation_before_the_model(tmp_path, calls, capsys, damage):
    exp = whyllm.explain("good bad movie", " yes", model=calls["model"], method="occlusion")
    d = json.loads(exp.to_json())
    d["values"] = ["a", "b", "c"] if damage == "strings" else d["values"][:2]
    path = tmp_path / "e.json"
    path.write_text(json.dumps(d), encoding="utf-8")
    assert main(["evaluate", str(path), "--model", "toy"]) == 2
    assert "not a whyllm explanation" in one_line(capsys.readouterr().err) and calls["loads"] == 0


def test_a_budget_beyond_memory_is_refused_before_any_scoring(calls, capsys):
    toy = calls["model"]
    with pytest.raises(whyllm.BudgetError, match=r"at most [\d,]+ model evaluations .* free memory"):
        whyllm.explain("good bad movie", " yes", model=toy, method="lime", budget=10**12)
    assert toy.rows_scored == 0
    assert main(["explain", "good movie", "--target", " yes", "--method", "lime", "--budget",
                 "1000000000000"]) == 2
    assert "free memory" in one_line(capsys.readouterr().err) and toy.rows_scored == 0


@pytest.mark.parametrize("kind", ["folder", "text", "other-sqlite"])
def test_a_score_cache_that_cannot_be_one_is_one_line(tmp_path, monkeypatch, capsys, kind):
    path = tmp_path / "cache"
    if kind == "folder":
        path.mkdir()
    elif kind == "text":
        path.write_text("not a database at all, just some text " * 50, encoding="utf-8")
    else:
        sqlite3.connect(path).execute("CREATE TABLE notes (x)").connection.commit()
    before = None if kind == "folder" else path.read_bytes()
    monkeypatch.setenv("WHYLLM_SCORE_CACHE", str(path))
    assert main(["explain", "good movie", "--target", " yes", "--quiet"]) == 2
    assert "score cache" in one_line(capsys.readouterr().err)
    assert before is None or path.read_bytes() == before


def test_a_damaged_cache_entry_is_a_miss(tmp_path):
    cache = ScoreCache(tmp_path / "s.sqlite")
    req = ScoreRequest((1, 2, 3), (4, 5))
    cache.put_many("m", {req: np.array([-1.0, -2.0])})
    assert np.array_equal(cache.get_many("m", [req])[req], [-1.0, -2.0])
    for blob in (b"\x00" * 12, np.array([-1.0]).tobytes(), np.array([-1.0, np.nan]).tobytes()):
        cache._db.execute("UPDATE scores SET logprobs = ?", (blob,))
        cache._db.commit()
        assert cache.get_many("m", [req]) == {}
    cache.close()


def test_weights_changed_with_their_mtime_put_back_get_a_new_fingerprint(tmp_path):
    from whyllm.models.fingerprint import weights_fingerprint

    folder, memo = tmp_path / "model", tmp_path / "memo.json"
    folder.mkdir()
    (folder / "config.json").write_text("{}", encoding="utf-8")
    weights = folder / "model.safetensors"
    weights.write_bytes(np.arange(4096, dtype=np.float32).tobytes())
    first = weights_fingerprint(folder, memo)
    assert weights_fingerprint(folder, memo) == first
    st = weights.stat()
    time.sleep(0.01)
    with open(weights, "r+b") as fh:  # halve one weight in place: same size
        fh.seek(400)
        fh.write(np.float32(50.0).tobytes())
    os.utime(weights, ns=(st.st_atime_ns, st.st_mtime_ns))  # as touch -r, cp -p or rsync -t leave it
    assert weights.stat().st_mtime_ns == st.st_mtime_ns and weights.stat().st_size == st.st_size
    assert weights_fingerprint(folder, memo) != first


def test_workers_on_a_fresh_machine_convert_the_model_once(tmp_path, monkeypatch):
    import whyllm.models.convert as convert

    monkeypatch.setenv("WHYLLM_CACHE", str(tmp_path / "cache"))
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF" + b"\0" * 64)
    done: list[int] = []

    def slow_convert(src, target) -> None:
        done.append(1)
        time.sleep(0.5)
        target.mkdir(parents=True)
        (target / "whyllm-source.json").write_text("{}", encoding="utf-8")

    monkeypatch.setattr(convert, "_convert", slow_convert)
    out: list = []
    threads = [threading.Thread(target=lambda: out.append(convert.converted_dir(gguf))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(done) == 1 and len(set(out)) == 1 and len(out) == 4
