"""Revisions that cannot go stale: what the score cache is keyed by.

* A local model's revision is a content fingerprint of its weights (SHA-256 of ``config.json`` and
  of every weight file's bytes), computed once and remembered by (path, size, mtime, ctime, inode)
  in a JSON file under the user cache, so a re-load costs a ``stat`` per file. Weights changed in
  place, even with the same sizes and the old mtime put back, get a new ctime and so are hashed
  again.
* A served model's revision is the model id the server reports (``GET /v1/models``) plus a probe
  fingerprint: the log-probs of a fixed short prompt, rounded to 0.01 nats so that float noise in
  the server does not split the cache, hashed. A different model behind the same URL and name
  answers the probe differently, so it never reads the old model's scores.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from whyllm.models.cache import default_cache_dir

WEIGHT_PATTERNS = ("*.safetensors", "*.bin", "*.pt", "*.pth")
CHUNK = 1 << 23
#: the probe a served model answers at load time
PROBE_TEXT = "The capital of France is"
PROBE_CONTINUATION = " Paris."


def _memo_path() -> Path:
    return default_cache_dir() / "fingerprints.json"


def _read_memo(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _stamp(files: list[Path]) -> str:
    """What a write cannot hide from ``stat``: besides size and mtime (which ``touch -r``, ``cp -p``
    or ``rsync -t`` can put back), the inode and the ctime, which the kernel sets on every change of
    content or metadata and no user call can set back."""
    parts = []
    for f in files:
        st = f.stat()
        parts.append(f"{f.resolve()}:{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}:{st.st_ino}")
    return ";".join(parts)


def weights_fingerprint(model_dir: str | Path, memo: Path | None = None) -> str:
    """16 hex digits of SHA-256 over the folder's config and weight files (see the module docstring)."""
    folder = Path(model_dir)
    files = [folder / "config.json"] if (folder / "config.json").is_file() else []
    files += sorted(f for pattern in WEIGHT_PATTERNS for f in folder.glob(pattern))
    stamp = _stamp(files)
    memo = memo if memo is not None else _memo_path()
    known = _read_memo(memo)
    if known.get(str(folder.resolve()), {}).get("stamp") == stamp:
        return known[str(folder.resolve())]["fingerprint"]
    h = hashlib.sha256()
    for f in files:
        h.update(f.name.encode() + b"\0")
        with open(f, "rb") as stream:
            while block := stream.read(CHUNK):
                h.update(block)
    fingerprint = h.hexdigest()[:16]
    known[str(folder.resolve())] = {"stamp": stamp, "fingerprint": fingerprint}
    try:
        memo.parent.mkdir(parents=True, exist_ok=True)
        tmp = memo.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(known, indent=1), encoding="utf-8")
        os.replace(tmp, memo)
    except OSError:  # a read-only cache only costs the hash next time
        pass
    return fingerprint


def probe_fingerprint(served_id: str, logprobs) -> str:
    """A served model's revision: its reported id and its rounded answer to the probe."""
    rounded = [round(float(v), 2) + 0.0 for v in logprobs]
    digest = hashlib.sha256(json.dumps([served_id, rounded]).encode()).hexdigest()[:16]
    return f"{served_id}:{digest}"
