"""The Parquet dataset of verified showings, partitioned `date=YYYY-MM-DD/site=<site>/` (the
showing's local start date), for fleet queries with DuckDB (docs/fleet.md)."""

from __future__ import annotations

import json
import re
import secrets
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

_COLS: dict[str, pa.DataType] = {
    "seq": pa.int64(), "run": pa.string(), "screen": pa.string(), "item": pa.string(),
    "playlist": pa.string(), "kind": pa.string(), "category": pa.string(),
    "anti_fraud": pa.bool_(), "outcome": pa.string(), "start_ms": pa.int64(),
    "end_ms": pa.int64(), "start": pa.string(), "end": pa.string(),
    "start_mono": pa.float64(), "end_mono": pa.float64(), "boot": pa.string(),
}
SCHEMA = pa.schema(_COLS)
SHOWING = b'"type":"showing",'
DAY_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def parse_rfc3339_ms(text: str) -> int:
    return round(datetime.fromisoformat(text).timestamp() * 1000)


def showing_row(line: bytes) -> tuple[str, dict[str, Any]] | None:
    """(local start date, row) of a verified `showing` line; None for other records."""
    if SHOWING not in line[:80]:
        return None
    try:
        r = json.loads(line)
        start, end = str(r["start"]), str(r["end"])
        row = {"seq": int(r["seq"]), "run": str(r["run"]), "screen": str(r["screen"]),
               "item": str(r["item"]), "playlist": str(r.get("playlist") or ""),
               "kind": str(r.get("kind") or ""), "category": r.get("category"),
               "anti_fraud": bool(r["anti_fraud"]), "outcome": str(r["outcome"]),
               "start_ms": parse_rfc3339_ms(start), "end_ms": parse_rfc3339_ms(end),
               "start": start, "end": end, "start_mono": float(r["start_mono"]),
               "end_mono": float(r["end_mono"]), "boot": str(r["boot"])}
    except (ValueError, KeyError, TypeError, OverflowError, RecursionError):
        return None  # a verified record that cannot be read proves nothing (as in the audit)
    day = start[:10]
    if not DAY_RE.match(day):
        return None  # (fromisoformat accepts other shapes; the partition name must be a day)
    return day, row


class Dataset:
    def __init__(self, root: Path, flush_rows: int = 50_000, flush_s: float = 10.0) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        # per partition, one list per column (a dict per row would cost ~1 KB a row)
        self._cols: dict[tuple[str, str], dict[str, list[Any]]] = {}
        self._n = 0
        self._flush_rows = flush_rows
        self._flush_s = flush_s
        self._flushed_at = time.monotonic()
        self.rows_written = 0

    def add(self, site: str, lines: list[bytes]) -> None:
        for line in lines:
            got = showing_row(line)
            if got is not None:
                cols = self._cols.get((got[0], site))
                if cols is None:
                    cols = self._cols[(got[0], site)] = {k: [] for k in SCHEMA.names}
                for k, v in got[1].items():
                    cols[k].append(v)
                self._n += 1
        if self._n >= self._flush_rows:
            self.flush()

    def due(self) -> bool:
        return self._n > 0 and time.monotonic() - self._flushed_at >= self._flush_s

    def flush(self) -> None:
        for (day, site), cols in self._cols.items():
            d = self.root / f"date={day}" / f"site={site}"
            d.mkdir(parents=True, exist_ok=True)
            name = f"part-{time.time_ns()}-{secrets.token_hex(3)}.parquet"
            tmp = d / (name + ".tmp")
            pq.write_table(pa.Table.from_pydict(cols, schema=SCHEMA), tmp)
            tmp.rename(d / name)
            self.rows_written += len(cols["seq"])
        self._cols.clear()
        self._n = 0
        self._flushed_at = time.monotonic()
