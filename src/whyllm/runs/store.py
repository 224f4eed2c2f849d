"""The store of a dataset run: one SQLite file, one row per (example, method, configuration hash).

A row holds the example's text and label, the Explanation's JSON (exact round trip), its
faithfulness when asked, its cost, how long it took, or the error that stopped it. Only the driver
writes (workers send their rows back), each row in its own transaction, so a run killed at any
moment, SIGKILL included, leaves only whole rows; starting it again computes only the missing ones.
Nothing is pickled: everything is JSON text.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from whyllm.errors import InputError

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
    """A run's SQLite store (see the module docstring)."""

    def __init__(self, path: str | Path, create: bool = True, readonly: bool = False) -> None:
        self.path = Path(path)
        if (readonly or not create) and not self.path.is_file():
            raise InputError(f"no such store: {self.path}")
        try:
            if readonly:  # the viewer: SQLite itself refuses any write
                self._db = sqlite3.connect(f"file:{self.path.resolve()}?mode=ro", uri=True,
                                           check_same_thread=False)
                self._db.execute("SELECT COUNT(*) FROM results").fetchone()
            else:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._db = sqlite3.connect(str(self.path), check_same_thread=False)
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.executescript(SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise InputError(f"{self.path} is not a whyllm store: {exc}") from exc

    def query(self, sql: str, params: tuple = ()) -> list[tuple]:
        """Rows of a read query (the viewer's filters)."""
        return self._db.execute(sql, params).fetchall()

    def keys(self) -> set[tuple[str, str, str]]:
        return set(self._db.execute("SELECT example, method, config FROM results"))

    def put(self, row: Row) -> None:
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
        self._db.close()
