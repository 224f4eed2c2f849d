"""Fault injection on the run store: runs killed with SIGKILL at seeded random moments, each then
resumed, end with exactly one row per (example, method), no duplicate, and the values of a run that
was never interrupted."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import sqlite3
import time

import numpy as np

from tests.run_models import slow_additive
from tests.unit.test_runs import dataset, values_of
from whyllm.runs import Store, build_config, read_dataset, run_dataset

KILLS = 20
N = 24


def config():
    return build_config({"methods": [{"method": "kernelshap", "budget": 16}, {"method": "occlusion"}]},
                        target="yes", id_column="id", label_column="label", evaluate=True)


def run_to_end(data, db) -> None:
    cfg = config()
    store = Store(db)
    try:
        run_dataset(read_dataset(data, cfg.columns), cfg, store, progress=False, model=slow_additive())
    finally:
        store.close()


def test_twenty_random_kills_each_resumed_give_the_uninterrupted_rows(tmp_path, monkeypatch):
    monkeypatch.setenv("WHYLLM_TEST_PAUSE", "0.002")
    # tqdm's default lock is a multiprocessing semaphore that a fork shares: a child killed while
    # holding it (every bar takes it, even a disabled one) would leave this process waiting forever.
    # A thread lock of this process's own, and no monitor thread to hold it at a fork, instead.
    # (whyllm's own workers are spawned, not forked, and share no lock.)
    import threading

    import tqdm.auto
    import tqdm.std

    lock = threading.RLock()
    for cls in {tqdm.std.tqdm, tqdm.auto.tqdm}:
        monkeypatch.setattr(cls, "_lock", lock, raising=False)
        monkeypatch.setattr(cls, "monitor_interval", 0)
    data = dataset(tmp_path / "d.jsonl", n=N)
    whole = tmp_path / "whole.db"
    t = time.monotonic()
    run_to_end(data, whole)
    span = time.monotonic() - t  # how long a whole run takes: kills fall anywhere inside it
    reference = values_of(whole)
    assert len(reference) == 2 * N and all(status == "ok" for status, _ in reference.values())
    rng = np.random.default_rng(20261207)
    fork = mp.get_context("fork")  # the child starts at once, with everything imported
    killed_with_rows = 0
    for k in range(KILLS):
        db = tmp_path / f"k{k}.db"
        child = fork.Process(target=run_to_end, args=(data, db))
        child.start()
        time.sleep(float(rng.uniform(0.0, span)))
        os.kill(child.pid, signal.SIGKILL)
        child.join()
        assert child.exitcode == -signal.SIGKILL or child.exitcode == 0
        if db.exists():
            (stored,) = sqlite3.connect(db).execute("SELECT COUNT(*) FROM results").fetchone()
            killed_with_rows += stored > 0
        run_to_end(data, db)  # resumed
        con = sqlite3.connect(db)
        rows = con.execute("SELECT example, method, COUNT(*) FROM results GROUP BY example, method")
        rows = rows.fetchall()
        assert len(rows) == 2 * N and all(n == 1 for *_, n in rows)
        assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        con.close()
        assert values_of(db) == reference
    assert killed_with_rows >= 5  # the kills did land part way through, not only before the first row
