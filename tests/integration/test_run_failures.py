"""Dataset runs that fail end, and say so: workers that cannot start, failed rows retried, columns and
configs checked before the model, one writer per store."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.subprocess_env import child_env
from tests.unit.test_runs import ARGS, dataset, values_of
from whyllm.cli import main
from whyllm.runs import Store

ROOT = Path(__file__).resolve().parents[2]


def run_cli(*args: str, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    env = child_env(**(env or {}))
    return subprocess.run([sys.executable, "-m", "whyllm", "run", *args], capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=timeout)


def one_line(stderr: str) -> str:
    lines = [ln for ln in stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    return lines[0]


def test_workers_whose_model_cannot_load_end_the_run(tmp_path):
    data = dataset(tmp_path / "d.jsonl", n=8)
    t = time.monotonic()
    r = run_cli(str(data), "--store", str(tmp_path / "s.db"), "--model", "py:tests.run_models:broken",
                "--workers", "2", *ARGS, timeout=120)
    assert time.monotonic() - t < 60
    assert r.returncode != 0
    line = one_line(r.stderr)
    assert "could not load the model" in line and "weights cannot be loaded" in line


def test_a_model_that_does_not_exist_fails_before_any_worker_starts(tmp_path, capsys):
    data = dataset(tmp_path / "d.jsonl", n=4)
    assert main(["run", str(data), "--store", str(tmp_path / "s.db"), "--model", str(tmp_path / "none"),
                 "--workers", "2", *ARGS]) == 2
    assert "no model at" in one_line(capsys.readouterr().err)


def test_failed_rows_are_retried_on_the_next_run(tmp_path):
    data = dataset(tmp_path / "d.jsonl", n=10)
    db, clean = tmp_path / "s.db", tmp_path / "clean.db"
    model = ["--model", "py:tests.run_models:flaky_additive"]
    first = run_cli(str(data), "--store", str(db), *model, *ARGS, env={"WHYLLM_TEST_FAIL": "awful"})
    failed = sum(status == "error" for status, _ in values_of(db).values())
    assert first.returncode == 1 and failed > 0
    assert f"{failed} examples failed" in first.stderr
    again = run_cli(str(data), "--store", str(db), *model, *ARGS, env={"WHYLLM_TEST_FAIL": ""})
    assert again.returncode == 0, again.stderr
    assert f"{failed} computed (0 failed), {10 - failed} already in the store" in again.stdout
    assert run_cli(str(data), "--store", str(clean), *model, *ARGS).returncode == 0
    assert values_of(db) == values_of(clean)


def test_rows_that_keep_failing_keep_the_exit_code_non_zero(tmp_path):
    data = dataset(tmp_path / "d.jsonl", n=6, corrupt=True)  # two rows that can never be explained
    db = tmp_path / "s.db"
    for _ in range(2):
        r = run_cli(str(data), "--store", str(db), "--model", "py:tests.run_models:additive", *ARGS)
        assert r.returncode == 1 and "2 examples failed" in r.stderr
    assert "2 computed (2 failed), 6 already in the store" in r.stdout


def test_a_missing_column_fails_before_the_model_and_writes_no_row(tmp_path, capsys):
    data = tmp_path / "d.csv"
    with data.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["sentence", "label"])
        w.writerows([["good movie", "pos"], ["bad plot", "neg"]])
    db = tmp_path / "s.db"
    # a model that would fail to load shows the check comes first
    assert main(["run", str(data), "--store", str(db), "--text-column", "text", "--target", "yes",
                 "--model", "py:tests.run_models:broken", "--quiet"]) == 2
    line = one_line(capsys.readouterr().err)
    assert "no text column 'text'" in line and "label, sentence" in line
    assert not db.exists()
    assert main(["run", str(data), "--store", str(db), "--text-column", "sentence", "--label-column", "lab",
                 "--target", "yes", "--model", "py:tests.run_models:broken"]) == 2
    assert "no label column 'lab'" in capsys.readouterr().err


def test_a_csv_that_is_not_utf8_is_one_line(tmp_path, capsys):
    data = tmp_path / "d.csv"
    data.write_bytes("text\ncaf\xe9 ok\n".encode("latin-1"))
    assert main(["run", str(data), "--store", str(tmp_path / "s.db"), "--target", "yes", "--quiet"]) == 2
    assert "not UTF-8" in one_line(capsys.readouterr().err)


def test_an_unknown_key_under_columns_is_one_line(tmp_path, capsys):
    data = dataset(tmp_path / "d.jsonl", n=2)
    cfg = tmp_path / "run.toml"
    cfg.write_text('[columns]\ntext = "text"\ntarget = "yes"\nlabl = "label"\n', encoding="utf-8")
    assert main(["run", str(data), "--store", str(tmp_path / "s.db"), "--config", str(cfg)]) == 2
    assert "unknown keys under [columns]: labl" in one_line(capsys.readouterr().err)


def test_threads_below_one_are_refused(tmp_path, capsys):
    data = dataset(tmp_path / "d.jsonl", n=2)
    assert main(["run", str(data), "--store", str(tmp_path / "s.db"), "--threads", "0", *ARGS]) == 2
    assert "--threads must be at least 1" in one_line(capsys.readouterr().err)
    assert main(["explain", "a b", "--target", " c", "--threads", "0"]) == 2
    assert "--threads must be a whole number of at least 1" in one_line(capsys.readouterr().err)


def test_a_second_run_on_the_same_store_is_refused_in_one_line(tmp_path):
    data = dataset(tmp_path / "d.jsonl", n=40)
    db = tmp_path / "s.db"
    cmd = [sys.executable, "-m", "whyllm", "run", str(data), "--store", str(db), "--model",
           "py:tests.run_models:slow_additive", *ARGS]
    env = child_env(WHYLLM_TEST_PAUSE="0.05")
    first = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (db.exists() and Path(f"{db}.lock").exists()):
            time.sleep(0.05)
        time.sleep(0.5)
        second = run_cli(str(data), "--store", str(db), "--model", "py:tests.run_models:slow_additive", *ARGS,
                         env={"WHYLLM_TEST_PAUSE": "0.05"})
        assert second.returncode == 2
        assert "another whyllm run is writing" in one_line(second.stderr)
        assert first.poll() is None  # the first run was not disturbed
    finally:
        first.kill()
        first.wait()


def test_the_store_lock_goes_with_the_process_that_held_it(tmp_path):
    data = dataset(tmp_path / "d.jsonl", n=3)
    db = tmp_path / "s.db"
    writer = Store(db)
    with pytest.raises(Exception, match="another whyllm run is writing"):
        Store(db)
    writer.close()
    assert main(["run", str(data), "--store", str(db), "--model", "py:tests.run_models:additive", *ARGS]) == 0
    assert len(values_of(db)) == 3
    assert json.loads(Store.open_readonly(db).query("SELECT value FROM meta WHERE key = 'config'")[0][0])
