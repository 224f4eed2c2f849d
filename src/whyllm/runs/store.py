"""The store of a dataset run: one SQLite file, one row per (example, method, configuration hash).

A row holds the example's text and label, the Explanation's JSON (exact round trip), its
faithfulness when asked, its cost, how long it took, or the error that stopped it. Only the driver
writes (workers send their rows back), each row in its own transaction, so a run killed at any
moment, SIGKILL included, leaves only whole rows; starting it again computes the missing rows and
those that failed. One run writes a store at a time; readers (the viewer, ``summary``, ``export``)
open it read-only and change nothing. Nothing is pickled: everything is JSON text, and non-finite
numbers in faithfulness are stored as null (SQLite's JSON functions reject NaN).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from whyllm.errors import InputError

#: the store's schema, in ``PRAGMA user_version`` (0: a store from before the version was written)
SCHEMA_VERSION = 1


class StoreBusyError(InputError):
    """Another run holds the store's writer lock."""

SCHEMA = """
CREATE TABLE IF NOT EXISTS results (
    example TEXT NOT NULL,
    method TEXT NOT NULL,
    config TEXT NOT NULL,
    status TEXT NOT NULL,
    label TEXT,
    text TEXT,
    explanation TEXT,
    faithfulness TEXT,
    cost TEXT,
    error TEXT,
    seconds REAL,
    position INTEGER,
    PRIMARY KEY (example, method, config)
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
"""
COLUMNS = ("example", "method", "config", "status", "label", "text", "explanation", "faithfulness", "cost",
           "error", "seconds", "position")


@dataclass(frozen=True)
class Row:
    example: str
    method: str
    config: str
    status: str  # "ok" or "error"
    label: str | None = None
    text: str | None = None
    explanation: str | None = None
    faithfulness: str | None = None
    cost: str | None = None
    error: str | None = None
    seconds: float | None = None
    position: int | None = None

    def explanation_dict(self) -> dict | None:
        return None if self.explanation is None else json.loads(self.explanation)

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in COLUMNS}


class Store:
    """A run's SQLite store (see the module docstring).

    ``Store(path)`` opens it for writing (created if absent): one writer at a time, held by a lock
    on the file that a second writer reports in one line, and released when the process ends, even
    by SIGKILL. ``Store(path, create=False)`` writes to an existing store only. ``Store.open_readonly``
    (the viewer, ``summary``, ``export``) changes nothing on disk (see :func:`connect_readonly`).
    A file that is SQLite but holds no ``results`` table, or a store of a newer schema, is refused
    before anything is written to it.
    """

    def __init__(self, path: str | Path, create: bool = True, readonly: bool = False) -> None:
        self.path = Path(path)
        self._lock_fd: int | None = None
        if (readonly or not create) and not self.path.is_file():
            raise InputError(f"no such store: {self.path}")
        if self.path.is_dir():
            raise InputError(f"{self.path} is a folder, not a store")
        try:
            if readonly:
                self._db = connect_readonly(self.path)
                check_schema(self._db, self.path)
            else:
                self._open_for_writing()
        except sqlite3.DatabaseError as exc:
            self.close()
            raise InputError(f"{self.path} is not a whyllm store: {exc}") from exc
        except InputError:
            self.close()
            raise

    @classmethod
    def open_readonly(cls, path: str | Path) -> Store:
        return cls(path, readonly=True)

    def _open_for_writing(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        existed = self.path.is_file() and self.path.stat().st_size > 0
        if existed and not _is_sqlite(self.path):
            raise InputError(f"{self.path} is not a whyllm store (not an SQLite file)")
        self._db = sqlite3.connect(str(self.path), check_same_thread=False, timeout=60)
        if existed:  # read before any write: another application's file is left as it was
            check_schema(self._db, self.path)
        self._lock_fd = lock_writer(self.path)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(SCHEMA)
        self._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def query(self, sql: str, params: tuple = ()) -> list[tuple]:
        """Rows of a read query (the viewer's filters)."""
        return self._db.execute(sql, params).fetchall()

    def keys(self, status: str | None = "ok") -> set[tuple[str, str, str]]:
        """Keys of the stored rows (by default the finished ones: failed rows are computed again)."""
        if status is None:
            return set(self._db.execute("SELECT example, method, config FROM results"))
        sql = "SELECT example, method, config FROM results WHERE status = ?"
        return set(self._db.execute(sql, (status,)))

    def put(self, row: Row) -> None:
        """Write one row in its own transaction (replacing a failed try of the same key)."""
        with self._db:  # one transaction per row: a kill leaves whole rows only
            self._db.execute(f"INSERT OR REPLACE INTO results ({', '.join(COLUMNS)}) VALUES "
                             f"({', '.join('?' * len(COLUMNS))})", tuple(getattr(row, k) for k in COLUMNS))

    def set_meta(self, key: str, value: Any) -> None:
        with self._db:
            self._db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, json.dumps(value)))

    def meta(self) -> dict[str, Any]:
        return {k: json.loads(v) for k, v in self._db.execute("SELECT key, value FROM meta")}

    def rows(self, where: str = "", params: tuple = ()) -> Iterator[Row]:
        sql = f"SELECT {', '.join(COLUMNS)} FROM results {where} ORDER BY position, example, method"
        for values in self._db.execute(sql, params):
            yield Row(*values)

    def count(self) -> dict[str, int]:
        return dict(self._db.execute("SELECT status, COUNT(*) FROM results GROUP BY status").fetchall())

    def frame(self):
        """The store as a pandas DataFrame (one row per stored result; JSON columns as text)."""
        import pandas as pd

        return pd.DataFrame([r.to_dict() for r in self.rows()], columns=list(COLUMNS))

    def close(self) -> None:
        db = self.__dict__.pop("_db", None)
        if db is not None and self._lock_fd is not None:
            # at rest the store is in rollback-journal mode, so that a read-only open creates no file
            with contextlib.suppress(sqlite3.DatabaseError):
                db.execute("PRAGMA journal_mode=DELETE")
        if db is not None:
            db.close()
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # releases the writer's lock
            self._lock_fd = None


def finite_json(value: Any) -> str:
    """JSON text with every NaN or infinity as null (SQLite's ``json_extract`` rejects them)."""

    def clean(v: Any) -> Any:
        if isinstance(v, float) and not math.isfinite(v):
            return None
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [clean(x) for x in v]
        return v

    return json.dumps(clean(value), allow_nan=False)


def connect_readonly(path: Path) -> sqlite3.Connection:
    """A connection SQLite itself refuses to write through, and that leaves the file and its folder
    as they were: the path goes into a properly quoted ``file:`` URI (``#``, ``?`` and ``%`` in a name
    stay part of it), and a write-ahead-log file with no log beside it (so no connection has it
    open) is read as immutable, since a read-only WAL reader would otherwise create ``-wal`` and
    ``-shm`` files."""
    uri = path.resolve().as_uri() + "?mode=ro"
    if _header_says_wal(path) and not Path(f"{path}-wal").exists():
        uri += "&immutable=1"
    return sqlite3.connect(uri, uri=True, check_same_thread=False, timeout=60)


def _header(path: Path) -> bytes:
    with open(path, "rb") as fh:
        return fh.read(20)


def _is_sqlite(path: Path) -> bool:
    return _header(path)[:16] == b"SQLite format 3\0"


def _header_says_wal(path: Path) -> bool:
    header = _header(path)
    return len(header) == 20 and header[:16] == b"SQLite format 3\0" and header[18] == 2


def check_schema(db: sqlite3.Connection, path: Path) -> None:
    """Refuse a file that is not a whyllm store, or one written by a newer schema."""
    (version,) = db.execute("PRAGMA user_version").fetchone()
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if "results" not in tables:
        raise InputError(f"{path} is not a whyllm store (it has no results table)")
    columns = {r[1] for r in db.execute("PRAGMA table_info(results)")}
    if not set(COLUMNS) <= columns:
        raise InputError(f"{path} is not a whyllm store (its results table lacks "
                         f"{', '.join(sorted(set(COLUMNS) - columns))})")
    if version > SCHEMA_VERSION:
        raise InputError(f"{path} was written by a newer whyllm (store schema {version}; this one reads up "
                         f"to {SCHEMA_VERSION})")


def lock_writer(path: Path) -> int | None:
    """An exclusive ``flock`` on ``<store>.lock`` beside the store, or an error naming the store when
    another run holds it; the kernel releases it when the process ends, SIGKILL included. A file of
    its own, not the store: closing any descriptor of the store would drop the POSIX locks SQLite
    holds on it in this process. None where the OS has no ``flock`` (SQLite's own locking still
    keeps every row whole there)."""
    try:
        import fcntl
    except ImportError:
        return None
    fd = os.open(f"{path}.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        os.close(fd)
        raise StoreBusyError(f"another whyllm run is writing {path}; wait for it to end (a store takes one "
                             "writer at a time)") from exc
    return fd
