"""SQLite cache of scores, keyed by model id + revision + token ids.

Every computed batch is written as soon as it is done, so a killed run loses nothing: running it
again answers the finished part from disk. Values are raw float64 bytes (never pickled).
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from whyllm.errors import InputError

if TYPE_CHECKING:
    from whyllm.models.score_request import ScoreRequest


def default_cache_dir() -> Path:
    """``$WHYLLM_CACHE`` or ``$XDG_CACHE_HOME/whyllm`` or ``~/.cache/whyllm``."""
    if os.environ.get("WHYLLM_CACHE"):
        return Path(os.environ["WHYLLM_CACHE"])
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "whyllm"


def _digest(model_key: str, request: ScoreRequest) -> bytes:
    h = hashlib.sha256(model_key.encode())
    h.update(np.asarray(request.prompt, dtype=np.int64).tobytes())
    h.update(b"|")
    h.update(np.asarray(request.continuation, dtype=np.int64).tobytes())
    if request.top:
        h.update(b"|top")
    return h.digest()


def _length(request: ScoreRequest) -> int:
    n = len(request.continuation)
    return 2 * n if request.top else n


class ScoreCache:
    """Persistent map (model, prompt ids, continuation ids) -> per-token log-probs."""

    def __init__(self, path: str | Path, timeout: float = 120.0) -> None:
        self.path = Path(path)
        if self.path.is_dir():
            raise InputError(f"the score cache {self.path} is a folder; give a file (or --no-cache)")
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # a long busy timeout: several processes share one cache, and a wait beats a failed row
            self._db = sqlite3.connect(str(self.path), check_same_thread=False, timeout=timeout)
            tables = {r[0] for r in self._db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if tables and "scores" not in tables:
                self._db.close()
                raise InputError(f"{self.path} is an SQLite file but not a whyllm score cache")
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS scores (key BLOB PRIMARY KEY, model TEXT, logprobs BLOB)"
            )
            self._db.commit()
        except (sqlite3.DatabaseError, OSError) as exc:
            raise InputError(f"cannot use {self.path} as the score cache ({exc}); give another "
                             "$WHYLLM_SCORE_CACHE, or --no-cache") from exc

    def get_many(self, model_key: str, requests: Iterable[ScoreRequest]) -> dict[ScoreRequest, np.ndarray]:
        by_key = {_digest(model_key, r): r for r in requests}
        found: dict[ScoreRequest, np.ndarray] = {}
        keys = list(by_key)
        with self._lock:
            for i in range(0, len(keys), 500):
                part = keys[i:i + 500]
                rows = self._db.execute(
                    f"SELECT key, logprobs FROM scores WHERE key IN ({','.join('?' * len(part))})", part
                ).fetchall()
                for key, blob in rows:
                    request = by_key[key]
                    # a blob of another length (a damaged or foreign entry) is a miss, computed anew
                    if isinstance(blob, bytes) and len(blob) == 8 * _length(request):
                        values = np.frombuffer(blob, dtype=np.float64).copy()
                        if np.all(np.isfinite(values)):
                            found[request] = values
        return found

    def put_many(self, model_key: str, scores: Mapping[ScoreRequest, np.ndarray]) -> None:
        rows = [(_digest(model_key, r), model_key, np.asarray(v, dtype=np.float64).tobytes())
                for r, v in scores.items()]
        with self._lock:
            self._db.executemany("INSERT OR REPLACE INTO scores VALUES (?, ?, ?)", rows)
            self._db.commit()

    def __len__(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM scores").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._db.close()
