"""The Parquet dataset of verified showings, partitioned `date=YYYY-MM-DD/site=<site>/` (the
showing's local start date), for fleet queries with DuckDB (docs/fleet.md)."""

from __future__ import annotations

import fcntl
import json
import os
import re
import secrets
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import msgspec
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .store import Mark

_COLS: dict[str, pa.DataType] = {
    "seq": pa.int64(), "run": pa.string(), "screen": pa.string(), "item": pa.string(),
    "playlist": pa.string(), "kind": pa.string(), "category": pa.string(),
    "anti_fraud": pa.bool_(), "outcome": pa.string(), "start_ms": pa.int64(),
    "end_ms": pa.int64(), "start": pa.string(), "end": pa.string(),
    "start_mono": pa.float64(), "end_mono": pa.float64(), "boot": pa.string(),
}
SCHEMA = pa.schema(_COLS)
#: the dataset's marks file (docs/fleet.md)
MARKS = "_marks.json"
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


def table_of(rows: list[tuple[Any, ...]]) -> pa.Table:
    """The Parquet table of buffered rows (`showing_values`)."""
    return columns_table({k: list(col) for k, col in
                          zip(_BUFFERED, zip(*rows, strict=True), strict=True)})


def partition(root: Path, day: str, site: str) -> Path:
    return root / f"date={day}" / f"site={site}"


def write_part(d: Path, table: pa.Table, prefix: str = "part") -> Path:
    """Write one Parquet file into partition directory ``d`` (made if missing), durably
    (fsynced) and atomically (a temporary name, then rename)."""
    d.mkdir(parents=True, exist_ok=True)
    name = f"{prefix}-{time.time_ns()}-{secrets.token_hex(3)}.parquet"
    tmp = d / (name + ".tmp")
    pq.write_table(table, tmp)
    fd = os.open(tmp, os.O_RDONLY)
    try:
        os.fdatasync(fd)
    finally:
        os.close(fd)
    tmp.rename(d / name)
    return d / name


# ---- the marks: how far each site's rows are in the dataset ----------------------------

def _mark_obj(m: Mark) -> dict[str, Any]:
    return {"file": m.file, "offset": m.offset, "seq": m.seq, "mac": m.mac.decode("ascii")}


def read_marks(root: Path) -> dict[str, Mark]:
    """`<dataset>/_marks.json` (docs/fleet.md, "The Parquet dataset"): per site, the place
    in its copy up to which its rows are written. A site missing, or a file that cannot be
    read, means: from the start of the copy (a fill then costs more; it is never wrong)."""
    try:
        obj = json.loads((root / MARKS).read_bytes())
        out: dict[str, Mark] = {}
        for site, m in obj["sites"].items():
            if (isinstance(m, dict) and type(m.get("offset")) is int
                    and type(m.get("seq")) is int and isinstance(m.get("file"), str)
                    and isinstance(m.get("mac"), str)):
                out[site] = Mark(m["file"], m["offset"], m["seq"], m["mac"].encode("ascii"))
        return out
    except (OSError, ValueError, KeyError, TypeError, AttributeError, UnicodeEncodeError):
        return {}


def update_marks(root: Path, changes: dict[str, Mark | None]) -> None:
    """Merge ``changes`` (None: forget the site) into `_marks.json`, under a lock (several
    hub processes may share the dataset), atomically and durably; called only after the
    rows up to each mark are durable."""
    if not changes:
        return
    root.mkdir(parents=True, exist_ok=True)
    lock = os.open(root / ".marks.lock", os.O_RDWR | os.O_CREAT, 0o640)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        marks = read_marks(root)
        for site, m in changes.items():
            if m is None:
                marks.pop(site, None)
            else:
                marks[site] = m
        tmp = root / (MARKS + ".tmp")
        data = json.dumps({"fv": 1, "sites": {k: _mark_obj(v) for k, v in
                                               sorted(marks.items())}},
                          separators=(",", ":")).encode("ascii")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
        try:
            os.write(fd, data)
            os.fdatasync(fd)
        finally:
            os.close(fd)
        tmp.replace(root / MARKS)
    finally:
        os.close(lock)


Batch = tuple[dict[tuple[str, str], list[tuple[Any, ...]]], dict[str, Mark]]


class Dataset:
    """The rows counted and not yet written, per partition, and each site's mark (where its
    copy stood when they were counted). ``take`` (under the ingest's lock) and ``write``
    (outside it) split a flush so that the ingest never waits on Parquet and fsync."""

    def __init__(self, root: Path, flush_rows: int = 50_000, flush_s: float = 10.0) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        # per partition, one tuple per row (a dict per row would cost ~1 KB a row)
        self._rows: dict[tuple[str, str], list[tuple[Any, ...]]] = {}
        self._marks: dict[str, Mark] = {}
        self._strs: dict[str, str] = {}  # the buffered rows' repeated strings, once each
        self._n = 0
        self._flush_rows = flush_rows
        self._flush_s = flush_s
        self._flushed_at = time.monotonic()
        self.rows_written = 0
        self._count_lock = threading.Lock()  # write() runs in two threads when one is behind

    def add(self, site: str, lines: list[bytes], mark: Mark | None = None) -> None:
        """Count ``lines`` of ``site``; ``mark``: where its copy stands after them."""
        i = self._strs.setdefault  # one str object per repeated value (memory: ~half a row)
        for line in lines:
            got = showing_values(line)
            if got is not None:
                rows = self._rows.get((got[0], site))
                if rows is None:
                    rows = self._rows[(got[0], site)] = []
                (seq, run, screen, item, playlist, kind, cat, af, outcome, start, end, sm, em,
                 boot) = got[1]
                rows.append((seq, i(run, run), i(screen, screen), i(item, item),
                             i(playlist, playlist), i(kind, kind),
                             None if cat is None else i(cat, cat), af, i(outcome, outcome),
                             start, end, sm, em, i(boot, boot)))
                self._n += 1
        if mark is not None:
            self._marks[site] = mark

    def full(self) -> bool:
        """Twice a flush's rows wait (the writer thread falls behind): the ingest writes
        them itself, so that memory stays bounded (back-pressure on the broker)."""
        return self._n >= 2 * self._flush_rows

    def due(self) -> bool:
        return self._n >= self._flush_rows or (bool(self._n or self._marks) and
                                               time.monotonic() - self._flushed_at
                                               >= self._flush_s)

    def take(self) -> Batch:
        batch = (self._rows, self._marks)
        self._rows, self._marks, self._n, self._strs = {}, {}, 0, {}
        self._flushed_at = time.monotonic()
        return batch

    def write(self, batch: Batch) -> None:
        """Write the rows (each partition's new file fsynced), then the marks."""
        rows, marks = batch
        for (day, site), part in rows.items():
            table = table_of(part)
            if table.num_rows:
                write_part(partition(self.root, day, site), table)
            with self._count_lock:
                self.rows_written += table.num_rows
        update_marks(self.root, dict(marks))

    def flush(self) -> None:
        self.write(self.take())
