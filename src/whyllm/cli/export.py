"""``whyllm export``: a run's store as Parquet (for pandas, DuckDB or Spark)."""

from __future__ import annotations

import argparse

from whyllm.cli.common import check_outputs, write_file
from whyllm.errors import InputError


def add_parser(sub) -> None:
    p = sub.add_parser("export", help="write a run's store as a Parquet file")
    p.add_argument("store", help="the SQLite store of whyllm run")
    p.add_argument("out", help="the .parquet file to write")
    p.add_argument("--force", action="store_true", help="replace the file if it exists")
    p.add_argument("--quiet", action="store_true")


def run(args: argparse.Namespace) -> int:
    from whyllm.runs import Store

    if not args.out.endswith(".parquet"):
        raise InputError(f"the export is a .parquet file; got {args.out}")
    check_outputs(args, args.out)
    store = Store.open_readonly(args.store)
    try:
        frame = store.frame()
    finally:
        store.close()
    try:
        data = frame.to_parquet(None, index=False)
    except ImportError as exc:
        raise InputError("Parquet needs pyarrow: pip install pyarrow") from exc
    write_file(args.out, data)
    print(f"{len(frame)} rows -> {args.out}")
    return 0
