"""Dataset files for ``whyllm run``: JSONL, CSV/TSV or Parquet, columns mapped to examples.

Each row becomes an :class:`Example`: its id (the ``id_column``'s value, else the row number), the
text to explain, its target (a column, or one fixed target for every row; a contrast is two texts),
an optional label, and the row itself. A row that cannot be read (a corrupt JSONL line, a missing or
empty text) becomes an example with an ``error``: the run records it and goes on.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from whyllm.errors import InputError

FORMATS = {".jsonl": "jsonl", ".json": "jsonl", ".csv": "csv", ".tsv": "tsv", ".parquet": "parquet"}


@dataclass(frozen=True)
class Columns:
    """How rows map to examples."""

    text: str = "text"
    target: str | None = None
    label: str | None = None
    id: str | None = None
    #: a target for every row (a continuation, or two for a contrast) when no target column is named
    fixed_target: str | tuple[str, str] | None = None


@dataclass(frozen=True)
class Example:
    id: str
    text: str | None
    target: Any
    label: str | None = None
    error: str | None = None
    row: dict[str, Any] = field(default_factory=dict, compare=False)


def rows(path: Path) -> Iterator[tuple[int, dict[str, Any] | None, str | None]]:
    """(row number, row or None, error or None) for every row of the file."""
    kind = FORMATS.get(path.suffix.lower())
    if kind is None:
        raise InputError(f"{path}: a dataset is .jsonl, .csv, .tsv or .parquet")
    if kind == "jsonl":
        with path.open(encoding="utf-8") as fh:
            for i, line in enumerate(fh):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as exc:
                    yield i, None, f"line {i + 1} is not JSON: {exc}"
                    continue
                yield (i, row, None) if isinstance(row, dict) else (i, None, f"line {i + 1} is not an object")
    elif kind in ("csv", "tsv"):
        with path.open(encoding="utf-8", newline="") as fh:
            for i, row in enumerate(csv.DictReader(fh, delimiter="\t" if kind == "tsv" else ",")):
                yield i, dict(row), None
    else:
        import pandas as pd

        try:
            frame = pd.read_parquet(path)
        except Exception as exc:
            raise InputError(f"{path}: cannot read the Parquet file: {exc}") from exc
        for i, row in enumerate(frame.to_dict(orient="records")):
            yield i, row, None


def check_columns(path: Path, columns: Columns, readable: list[dict[str, Any]]) -> None:
    """Every column the run names is in the file (in at least one row): a misspelt column is one
    error before the model loads, not an error row per example."""
    present = {key for row in readable for key in row}
    named = {"text": columns.text, "target": columns.target, "label": columns.label, "id": columns.id}
    missing = [f"{role} column {name!r}" for role, name in named.items()
               if name is not None and readable and name not in present]
    if missing:
        raise InputError(f"{path} has no {' and no '.join(missing)}; its columns are "
                         f"{', '.join(sorted(map(str, present))) or 'none'}")


def read_dataset(path: str | Path, columns: Columns) -> list[Example]:
    """Every row of ``path`` as an :class:`Example` (unreadable rows carry their error)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"no such dataset: {path}")
    if columns.target is None and columns.fixed_target is None:
        raise InputError("give --target-column or a fixed --target (and --against for a contrast)")
    try:
        read = list(rows(path))
    except UnicodeDecodeError as exc:
        raise InputError(f"{path} is not UTF-8 text (byte {exc.start}: {exc.reason})") from exc
    except (OSError, csv.Error) as exc:
        raise InputError(f"cannot read {path}: {exc}") from exc
    check_columns(path, columns, [row for _, row, _ in read if row is not None])
    out, seen = [], set()
    for i, row, error in read:
        ex_id = str(i)
        if row is not None and columns.id is not None:
            ex_id = str(row.get(columns.id, i))
        if ex_id in seen:
            raise InputError(f"{path}: the id {ex_id!r} appears twice (ids must be unique)")
        seen.add(ex_id)
        if error is None and row is not None:
            text = row.get(columns.text)
            if not isinstance(text, str) or not text.strip():
                error = f"row {ex_id} has no text in column {columns.text!r}"
        if error is not None or row is None:
            out.append(Example(ex_id, None, None, None, error or "unreadable row", row or {}))
            continue
        target = columns.fixed_target
        if columns.target is not None:
            target = row.get(columns.target)
            if not isinstance(target, str) or not target:
                out.append(Example(ex_id, text, None, None, f"row {ex_id} has no target in column "
                                   f"{columns.target!r}", row))
                continue
        label = None if columns.label is None or row.get(columns.label) is None else str(row[columns.label])
        out.append(Example(ex_id, text, target, label, None, row))
    if not out:
        raise InputError(f"{path} holds no rows")
    return out
