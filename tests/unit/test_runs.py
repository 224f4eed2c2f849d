"""Dataset runs: a store that resumes after SIGKILL, errors recorded, workers agree, export, summary."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from whyllm.cli import main
from whyllm.runs import Store, build_config, read_dataset, run_dataset, summarize_store

ROOT = Path(__file__).resolve().parents[2]
WORDS = ["good", "great", "fine", "bad", "awful", "dull", "not", "the", "movie", "plot"]


def dataset(path: Path, n: int = 40, corrupt: bool = False) -> Path:
    rng = np.random.default_rng(0)
    lines = []
    for i in range(n):
        words = rng.choice(WORDS, size=int(rng.integers(4, 8)), replace=False)
        lines.append(json.dumps({"id": f"r{i}", "text": " ".join(words), "label": "pos" if i % 2 else "neg"}))
    if corrupt:
        lines.insert(3, '{"id": "broken", "text": ')
        lines.insert(6, json.dumps({"id": "empty", "text": "  "}))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def run_cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "whyllm", "run", *args], capture_output=True, text=True,
                          cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}, timeout=300)


def values_of(store_path: Path) -> dict:
    store = Store(store_path, create=False)
    out = {(r.example, r.method): (r.status, None if r.explanation is None else
                                   json.loads(r.explanation)["values"]) for r in store.rows()}
    store.close()
    return out


ARGS = ["--target", "yes", "--method", "kernelshap", "--budget", "16", "--id-column", "id",
        "--label-column", "label", "--quiet"]


def test_a_killed_run_resumes_to_the_complete_store(tmp_path):
    data = dataset(tmp_path / "d.jsonl", n=40)
    whole = tmp_path / "whole.db"
    # the same model spec throughout (it is part of the configuration): paused only in the killed run
    fast = {"WHYLLM_TEST_PAUSE": "0"}
    done = run_cli(str(data), "--store", str(whole), "--model", "py:tests.run_models:slow_additive", *ARGS,
                   env=fast)
    assert done.returncode == 0, done.stderr
    assert "40 computed (0 failed)" in done.stdout

    killed = tmp_path / "killed.db"
    cmd = [sys.executable, "-m", "whyllm", "run", str(data), "--store", str(killed), "--model",
           "py:tests.run_models:slow_additive", *ARGS]
    proc = subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    n = 0
    while time.time() < deadline:  # kill at about half way
        time.sleep(0.05)
        if killed.exists():
            try:
                n = sqlite3.connect(str(killed)).execute("SELECT COUNT(*) FROM results").fetchone()[0]
            except sqlite3.OperationalError:
                continue
            if n >= 15:
                break
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert 15 <= n < 40
    partial = values_of(killed)
    assert 15 <= len(partial) < 40
    again = run_cli(str(data), "--store", str(killed), "--model", "py:tests.run_models:slow_additive", *ARGS,
                    env=fast)
    assert again.returncode == 0, again.stderr
    assert f"{40 - len(partial)} computed (0 failed), {len(partial)} already in the store" in again.stdout
    resumed = values_of(killed)
    assert resumed == values_of(whole)  # identical values, every row once
    (count,) = sqlite3.connect(str(killed)).execute("SELECT COUNT(*) FROM results").fetchone()
    assert count == 40


def test_bad_rows_are_recorded_and_the_rest_finish(tmp_path, capsys):
    data = dataset(tmp_path / "d.jsonl", n=10, corrupt=True)
    db = tmp_path / "s.db"
    rc = main(["run", str(data), "--store", str(db), "--model", "py:tests.run_models:additive",
               "--target", "yes", "--budget", "16", "--quiet"])
    assert rc == 1
    out, err = capsys.readouterr()
    assert "12 computed (2 failed)" in out and "2 examples failed" in err
    store = Store(db, create=False)
    errors = {r.example: r.error for r in store.rows() if r.status == "error"}
    assert set(errors) == {"3", "6"}
    assert "not JSON" in errors["3"] and "no text" in errors["6"]
    assert store.count() == {"ok": 10, "error": 2}
    store.close()


def test_local_workers_give_identical_rows(tmp_path):
    data = dataset(tmp_path / "d.jsonl", n=12)
    one, two = tmp_path / "one.db", tmp_path / "two.db"
    for db, workers in ((one, "1"), (two, "2")):
        r = run_cli(str(data), "--store", str(db), "--model", "py:tests.run_models:additive",
                    "--workers", workers, *ARGS)
        assert r.returncode == 0, r.stderr
    assert values_of(one) == values_of(two)


def test_several_methods_from_a_toml_config_and_the_config_hash(tmp_path):
    data = dataset(tmp_path / "d.jsonl", n=6)
    cfg = tmp_path / "run.toml"
    cfg.write_text('model = "py:tests.run_models:additive"\nevaluate = true\n[columns]\nid = "id"\n'
                   'label = "label"\ntarget = "yes"\n[[methods]]\nmethod = "kernelshap"\nbudget = 16\n'
                   '[[methods]]\nname = "occ"\nmethod = "occlusion"\n', encoding="utf-8")
    db = tmp_path / "s.db"
    r = run_cli(str(data), "--store", str(db), "--config", str(cfg), "--quiet")
    assert r.returncode == 0, r.stderr
    assert "12 computed" in r.stdout
    store = Store(db, create=False)
    rows = list(store.rows())
    assert {r.method for r in rows} == {"kernelshap", "occ"}
    assert all(json.loads(r.faithfulness)["aopc_comprehensiveness"] is not None for r in rows)
    store.close()
    # a changed budget is a new configuration: computed anew, old rows kept apart
    cfg.write_text(cfg.read_text().replace("budget = 16", "budget = 12"), encoding="utf-8")
    r = run_cli(str(data), "--store", str(db), "--config", str(cfg), "--quiet")
    assert "6 computed (0 failed), 6 already in the store" in r.stdout


def test_additive_values_are_exact_and_the_summary_averages_them(tmp_path):
    from tests.run_models import WEIGHTS, additive

    data = dataset(tmp_path / "d.jsonl", n=20)
    config = build_config(None, target="yes", id_column="id", label_column="label", method="kernelshap",
                          budget=512)
    store = Store(tmp_path / "s.db")
    summary = run_dataset(read_dataset(data, config.columns), config, store, progress=False, model=additive())
    assert (summary.computed, summary.failed) == (20, 0)
    s = summarize_store(store)
    rows = {r["feature"]: r for r in s["features"]["kernelshap"]}
    for word, weight in WEIGHTS.items():  # Shapley values of an additive model are its weights
        if word in rows:
            assert rows[word]["mean"] == pytest.approx(weight, abs=1e-9)
    assert rows["movie"]["mean"] == pytest.approx(0.0, abs=1e-9)
    assert set(s["labels"]) == {"neg", "pos"}
    assert s["totals"]["explained"] == 20
    store.close()


def test_export_and_summary_commands(tmp_path, capsys):
    data = dataset(tmp_path / "d.jsonl", n=8)
    db = tmp_path / "s.db"
    assert main(["run", str(data), "--store", str(db), "--model", "py:tests.run_models:additive",
                 *ARGS, "--evaluate"]) == 0
    assert main(["export", str(db), str(tmp_path / "out.parquet"), "--quiet"]) == 0
    frame = pd.read_parquet(tmp_path / "out.parquet")
    assert len(frame) == 8 and set(frame["status"]) == {"ok"}
    assert json.loads(frame["explanation"][0])["schema_version"] == 3
    capsys.readouterr()
    html = tmp_path / "s.html"
    assert main(["summary", str(db), "--json", str(tmp_path / "s.json"), "--html", str(html), "--quiet"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["methods"]["kernelshap"]["explained"] == 8
    assert "<svg" in html.read_text()
    assert main(["summary", str(tmp_path / "missing.db"), "--quiet"]) == 2


def test_summary_html_escapes_hostile_feature_text(tmp_path):
    from tests.run_models import additive
    from whyllm.runs.summary import summary_html

    data = tmp_path / "d.jsonl"
    data.write_text(json.dumps({"text": "good <script>alert(1)</script> movie"}) + "\n", encoding="utf-8")
    config = build_config(None, target="yes", method="occlusion")
    store = Store(tmp_path / "s.db")
    run_dataset(read_dataset(data, config.columns), config, store, progress=False, model=additive())
    page = summary_html(summarize_store(store))
    assert "<script" not in page and "</script" not in page
    assert "script&gt;alert(1)&lt;/script" in page  # the word, as text
    store.close()


def test_ray_with_two_workers_gives_the_rows_of_one_local_worker(tmp_path):
    pytest.importorskip("ray")
    data = dataset(tmp_path / "d.jsonl", n=10)
    config = build_config(None, target="yes", id_column="id", label_column="label", method="kernelshap",
                          budget=16, model="py:tests.run_models:additive")
    examples = read_dataset(data, config.columns)
    local, ray_store = Store(tmp_path / "local.db"), Store(tmp_path / "ray.db")
    run_dataset(examples, config, local, workers=1, progress=False)
    summary = run_dataset(examples, config, ray_store, workers=2, ray=True, progress=False)
    assert (summary.computed, summary.failed) == (10, 0)
    local.close()
    ray_store.close()
    assert values_of(tmp_path / "ray.db") == values_of(tmp_path / "local.db")
