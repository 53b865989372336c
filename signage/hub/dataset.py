"""The Parquet dataset of verified showings, partitioned `date=YYYY-MM-DD/site=<site>/` (the
showing's local start date), for fleet queries with DuckDB (docs/fleet.md)."""

from __future__ import annotations

import re
import secrets
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import msgspec
import pyarrow as pa
import pyarrow.compute as pc
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


class _Showing(msgspec.Struct):
    """The fields of a `showing` record the dataset keeps (the others are not decoded)."""
    seq: int
    run: str
    screen: str
    item: str
    anti_fraud: bool
    outcome: str
    start: str
    end: str
    start_mono: float
    end_mono: float
    boot: str
    playlist: str | None = None
    kind: str | None = None
    category: str | None = None


_DECODE = msgspec.json.Decoder(_Showing).decode
#: the buffered columns: the dataset's, less the two times computed at flush (one C call)
_BUFFERED = tuple(k for k in SCHEMA.names if k not in ("start_ms", "end_ms"))


def showing_values(line: bytes) -> tuple[str, tuple[Any, ...]] | None:
    """(local start date, the buffered columns' values in `_BUFFERED` order) of a verified
    `showing` line; None for other records and for a showing that cannot be read (a field
    missing or of the wrong type: it proves nothing, as in the audit)."""
    if SHOWING not in line[:80]:
        return None
    try:
        r = _DECODE(line)
    except (msgspec.DecodeError, RecursionError):
        return None
    day = r.start[:10]
    if not DAY_RE.match(day):
        return None  # the partition name must be a day
    return day, (r.seq, r.run, r.screen, r.item, r.playlist or "", r.kind or "", r.category,
                 r.anti_fraud, r.outcome, r.start, r.end, r.start_mono, r.end_mono, r.boot)


def showing_row(line: bytes) -> tuple[str, dict[str, Any]] | None:
    """(local start date, row) of a verified `showing` line (all the dataset's columns); None
    for other records and for a showing whose fields or times cannot be read."""
    got = showing_values(line)
    if got is None:
        return None
    row = dict(zip(_BUFFERED, got[1], strict=True))
    try:
        row["start_ms"] = parse_rfc3339_ms(row["start"])
        row["end_ms"] = parse_rfc3339_ms(row["end"])
    except (ValueError, OverflowError):
        return None
    return got[0], {k: row[k] for k in SCHEMA.names}


def _times_ms(texts: list[str]) -> list[int | None]:
    """RFC 3339 times to epoch milliseconds: Arrow's vectorised parser for the whole column,
    and, when it refuses one value, Python's `fromisoformat` per value (the reference: a
    value it cannot read is None, and its row is dropped)."""
    try:
        arr = pc.cast(pa.array(texts, pa.string()), pa.timestamp("ms", tz="UTC"))
        return arr.cast(pa.int64()).to_pylist()
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        out: list[int | None] = []
        for t in texts:
            try:
                out.append(parse_rfc3339_ms(t))
            except (ValueError, OverflowError):
                out.append(None)
        return out


def columns_table(cols: dict[str, list[Any]]) -> pa.Table:
    """The Parquet table of buffered columns (`_BUFFERED`): the times in milliseconds are
    computed here, and a row whose start or end is not a time is dropped."""
    start, end = _times_ms(cols["start"]), _times_ms(cols["end"])
    full = dict(cols, start_ms=start, end_ms=end)
    bad = [i for i, (a, b) in enumerate(zip(start, end, strict=True)) if a is None or b is None]
    if bad:
        drop = set(bad)
        full = {k: [v for i, v in enumerate(vs) if i not in drop] for k, vs in full.items()}
    return pa.Table.from_pydict({k: full[k] for k in SCHEMA.names}, schema=SCHEMA)


class Dataset:
    def __init__(self, root: Path, flush_rows: int = 50_000, flush_s: float = 10.0) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        # per partition, one tuple per row (a dict per row would cost ~1 KB a row)
        self._rows: dict[tuple[str, str], list[tuple[Any, ...]]] = {}
        self._n = 0
        self._flush_rows = flush_rows
        self._flush_s = flush_s
        self._flushed_at = time.monotonic()
        self.rows_written = 0

    def add(self, site: str, lines: list[bytes]) -> None:
        for line in lines:
            got = showing_values(line)
            if got is not None:
                rows = self._rows.get((got[0], site))
                if rows is None:
                    rows = self._rows[(got[0], site)] = []
                rows.append(got[1])
                self._n += 1
        if self._n >= self._flush_rows:
            self.flush()

    def due(self) -> bool:
        return self._n > 0 and time.monotonic() - self._flushed_at >= self._flush_s

    def flush(self) -> None:
        for (day, site), rows in self._rows.items():
            d = self.root / f"date={day}" / f"site={site}"
            d.mkdir(parents=True, exist_ok=True)
            name = f"part-{time.time_ns()}-{secrets.token_hex(3)}.parquet"
            tmp = d / (name + ".tmp")
            table = columns_table({k: list(col) for k, col in
                                   zip(_BUFFERED, zip(*rows, strict=True), strict=True)})
            pq.write_table(table, tmp)
            tmp.rename(d / name)
            self.rows_written += table.num_rows
        self._rows.clear()
        self._n = 0
        self._flushed_at = time.monotonic()
