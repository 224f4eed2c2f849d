"""Readers change nothing: the viewer, ``summary`` and ``export`` leave a store byte-identical, whatever
its name; the viewer answers only its own host names; a data fault is a page, not a dropped line."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.run_models import additive
from tests.subprocess_env import child_env
from whyllm.cli import main
from whyllm.runs import Store, build_config, read_dataset, run_dataset
from whyllm.runs.viewer import make_server

ROOT = Path(__file__).resolve().parents[2]


def make_store(path: Path, evaluate: bool = True, ids=("a/b", "plain", "x")) -> Path:
    data = path.parent / "d.jsonl"
    texts = ["good movie", "bad dull plot", "great fine movie"]
    lines = [json.dumps({"id": i, "text": t, "label": "pos"}) for i, t in zip(ids, texts)]
    data.write_text("\n".join(lines) + "\n", encoding="utf-8")
    config = build_config(None, target="yes", id_column="id", label_column="label", method="occlusion",
                          evaluate=evaluate)
    store = Store(path)
    run_dataset(read_dataset(data, config.columns), config, store, progress=False, model=additive())
    store.close()
    return path


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def get(url: str, host: str | None = None) -> tuple[int, str]:
    req = urllib.request.Request(url, headers={"Host": host} if host else {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


class Serving:
    def __init__(self, store: Path, host: str = "127.0.0.1") -> None:
        self.server = make_server(store, host=host, port=0)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.parametrize("name", ["run#1.db", "what?mode=rw.db", "run%41.db"])
def test_serve_opens_odd_names_read_only_and_changes_nothing(tmp_path, name):
    folder = tmp_path / "runs"
    folder.mkdir()
    store = make_store(folder / name)
    before, listing = md5(store), sorted(os.listdir(folder))
    proc = subprocess.Popen([sys.executable, "-m", "whyllm", "serve", str(store), "--port", "0"], cwd=ROOT,
                            env=child_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert "http://127.0.0.1:" in line, proc.stderr.read() if proc.poll() is not None else line
        base = line.split()[3].rstrip("/")
        code, page = get(base + "/")
        assert code == 200 and page.count('class="row"') == 3
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert md5(store) == before and sorted(os.listdir(folder)) == listing


def test_a_store_at_rest_in_wal_mode_is_read_without_new_files(tmp_path):
    store = make_store(tmp_path / "w.db")
    db = sqlite3.connect(store)
    db.execute("PRAGMA journal_mode=WAL")  # as a store of an earlier whyllm was left
    db.close()
    before, listing = md5(store), sorted(os.listdir(tmp_path))
    view = Serving(store)
    try:
        assert get(view.base + "/")[0] == 200 and get(view.base + "/summary")[0] == 200
    finally:
        view.close()
    assert main(["summary", str(store), "--quiet"]) == 0
    assert md5(store) == before and sorted(os.listdir(tmp_path)) == listing


def test_summary_and_export_leave_the_store_byte_identical(tmp_path, capsys):
    store = make_store(tmp_path / "s.db")
    db = sqlite3.connect(store)
    assert db.execute("PRAGMA journal_mode=DELETE").fetchone() == ("delete",)  # how a store rests
    db.close()
    before, listing = md5(store), sorted(p.name for p in tmp_path.iterdir())
    assert main(["summary", str(store), "--quiet"]) == 0
    assert main(["export", str(store), str(tmp_path / "o.parquet"), "--quiet"]) == 0
    assert md5(store) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*listing, "o.parquet"])


def test_another_applications_sqlite_file_is_refused_and_left_alone(tmp_path, capsys):
    other = tmp_path / "app.sqlite"
    db = sqlite3.connect(other)
    db.execute("CREATE TABLE users (name TEXT)")
    db.commit()
    db.close()
    before = md5(other)
    for argv in (["summary", str(other)], ["export", str(other), str(tmp_path / "o.parquet")],
                 ["serve", str(other), "--port", "0"]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert "not a whyllm store" in err and err.count("\n") == 1
    with pytest.raises(Exception, match="not a whyllm store"):
        Store(other)  # a writer too: nothing is created in it
    assert md5(other) == before and sorted(p.name for p in tmp_path.iterdir()) == ["app.sqlite"]


def test_a_store_of_a_newer_schema_is_refused(tmp_path, capsys):
    store = make_store(tmp_path / "s.db")
    db = sqlite3.connect(store)
    db.execute("PRAGMA user_version = 99")
    db.commit()
    db.close()
    assert main(["summary", str(store)]) == 2
    assert "newer whyllm" in capsys.readouterr().err


def test_the_viewer_refuses_other_host_names(tmp_path):
    view = Serving(make_store(tmp_path / "s.db"))
    try:
        assert get(view.base + "/", host="evil.example.com")[0] == 403
        assert get(view.base + "/", host="evil.example.com:8765")[0] == 403
        assert get(view.base + "/", host="127.0.0.1.evil.example.com")[0] == 403
        for ok in ("127.0.0.1", f"localhost:{view.server.server_address[1]}", "[::1]:80"):
            assert get(view.base + "/", host=ok)[0] == 200, ok
    finally:
        view.close()


def test_serve_on_another_address_warns_and_answers_that_name(tmp_path):
    store = make_store(tmp_path / "s.db")
    view = Serving(store, host="0.0.0.0")
    try:
        assert get(view.base + "/", host="0.0.0.0")[0] == 200
        assert get(view.base + "/", host="evil.example.com")[0] == 403
    finally:
        view.close()
    argv = [sys.executable, "-m", "whyllm", "serve", str(store), "--host", "0.0.0.0", "--port", "0"]
    proc = subprocess.Popen(argv, cwd=ROOT, env=child_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        warning = proc.stderr.readline()
        assert "warning: serving on 0.0.0.0" in warning and "no login" in warning
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_serve_on_a_port_in_use_or_a_bad_host_is_one_line(tmp_path, capsys):
    store = make_store(tmp_path / "s.db")
    view = Serving(store)
    try:
        port = view.server.server_address[1]
        assert main(["serve", str(store), "--port", str(port)]) == 2
        assert "cannot serve on 127.0.0.1" in capsys.readouterr().err
    finally:
        view.close()
    assert main(["serve", str(store), "--host", "no.such.host.invalid", "--port", "0"]) == 2
    assert main(["serve", str(store), "--port", "70000"]) == 2
    errs = capsys.readouterr().err.strip().splitlines()
    assert len(errs) == 2 and all(e.startswith("whyllm: error:") for e in errs)


def test_nan_faithfulness_and_missing_measures_still_render(tmp_path, capsys):
    store = make_store(tmp_path / "s.db")
    db = sqlite3.connect(store)
    db.execute("""UPDATE results SET faithfulness = '{"aopc_comprehensiveness": NaN, "aopc_sufficiency": 0.1}'
                  WHERE example = 'plain'""")  # as a store written before NaN became null
    db.execute("""UPDATE results SET faithfulness = '{"aopc_comprehensiveness": 0.5}' WHERE example = 'x'""")
    db.commit()
    db.close()
    view = Serving(store)
    try:
        code, page = get(view.base + "/")
        assert code == 200 and page.count('class="row"') == 3
        assert get(view.base + "/?aopc_min=0.4")[1].count('class="row"') == 1
        assert get(view.base + "/summary")[0] == 200
    finally:
        view.close()
    assert main(["summary", str(store), "--quiet"]) == 0
    summary = json.loads(capsys.readouterr().out)["methods"]["occlusion"]
    reader = Store.open_readonly(store)
    (first,) = reader.query("SELECT faithfulness FROM results WHERE example = 'a/b'")[0]
    reader.close()
    # the NaN and the missing sufficiency are left out of the means, not turned into errors
    comp = json.loads(first)["aopc_comprehensiveness"]
    assert summary["aopc_comprehensiveness"] == pytest.approx((comp + 0.5) / 2)
    assert summary["aopc_sufficiency"] == pytest.approx((json.loads(first)["aopc_sufficiency"] + 0.1) / 2)


def test_a_row_the_viewer_cannot_show_is_a_500_page(tmp_path):
    store = make_store(tmp_path / "s.db")
    db = sqlite3.connect(store)
    db.execute("UPDATE results SET explanation = '{\"schema_version\": 2}' WHERE example = 'plain'")
    db.commit()
    db.close()
    view = Serving(store)
    try:
        code, page = get(view.base + "/example/plain")
        assert code == 500 and "cannot show" in page
        assert get(view.base + "/example/x")[0] == 200  # the others still open
        assert get(view.base + "/summary")[0] == 200
    finally:
        view.close()


def test_new_faithfulness_is_stored_with_null_for_nan(tmp_path):
    from whyllm.runs.store import finite_json

    text = finite_json({"a": float("nan"), "b": [1.0, float("inf")], "c": 2.0})
    assert json.loads(text) == {"a": None, "b": [1.0, None], "c": 2.0}
    assert sqlite3.connect(":memory:").execute("SELECT json_valid(?)", (text,)).fetchone() == (1,)


def test_ids_with_slashes_open_from_the_list(tmp_path):
    view = Serving(make_store(tmp_path / "s.db", ids=("a/b", "c/../d", "%2F")))
    try:
        page = get(view.base + "/")[1]
        hrefs = [h.split('"')[0] for h in page.split('href="/example/')[1:]]
        assert len(hrefs) == 3
        for href in hrefs:
            code, one = get(view.base + "/example/" + href)
            assert code == 200 and 'class="method"' in one, href
    finally:
        view.close()


def test_a_lock_file_never_blocks_a_reader(tmp_path):
    store = make_store(tmp_path / "s.db")
    writer = Store(store, create=False)  # a run in progress holds the writer lock
    try:
        t = time.monotonic()
        reader = Store.open_readonly(store)
        assert len(list(reader.rows())) == 3 and time.monotonic() - t < 5
        reader.close()
    finally:
        writer.close()
