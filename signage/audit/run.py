"""Run an audit: read the files (in worker processes when there is much to read), stitch the
chunk scans into the integrity verdict and feed their events to the compliance engine, in log
order. Memory stays bounded: a few chunks are in flight, and only running state is kept."""

from __future__ import annotations

import gzip
import multiprocessing
import time
import zlib
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from ..playlog import format as fmt
from ..timeutil import parse_when
from .compliance import Engine
from .events import SILENCE_MS, ChunkScan
from .integrity import Anchor, Stitcher
from .model import AuditInputError, Compliance, FileInfo, Integrity, Violation
from .reader import CHUNK, LogFile, Task, read_task, tasks
from .scan import scan_chunk


@dataclass
class Options:
    key: bytes
    max_gap_s: float | None = None
    period_from: str | None = None
    period_to: str | None = None
    screens: list[str] | None = None
    anchor: Anchor | None = None
    jobs: int = 1
    chunk: int = CHUNK
    #: called with the number of bytes read so far
    progress: Callable[[int], None] | None = None
    on_violation: Callable[[Violation], None] = field(default=lambda _v: None)
    now_ms: int | None = None


def work(task: Task, key: bytes, screens: frozenset[str] | None,
         anchor_seq: int | None) -> tuple[int, ChunkScan]:
    """In a worker: read and scan one chunk. Returns (offset of its first line, scan)."""
    data, offset, final = read_task(task)
    return offset, scan_chunk(data, key, final=final, screens=screens, anchor_seq=anchor_seq)


def _lines(f: LogFile) -> Iterator[bytes]:
    try:
        if f.compressed:
            with gzip.open(f.path, "rb") as gz:
                yield from gz
        else:
            with open(f.path, "rb") as fh:
                yield from fh
    except (OSError, EOFError, zlib.error) as exc:
        raise AuditInputError(f"{f.path}: cannot read: {exc}") from None


def first_config(files: list[LogFile]) -> dict[str, Any]:
    """The first run_start (or accepted reload) record: the site, its rule and hours. Usually
    the log's first line; a log that starts later (older files removed) is searched on."""
    seen_record = False
    for f in files:
        for raw in _lines(f):
            line = raw.rstrip(b"\n")
            if not seen_record:
                if fmt.split(line) is None:
                    raise AuditInputError(f"{f.path}: not a signage log (its first line is not "
                                          "a record of log format v1)")
                seen_record = True
            if b'"type":"run_start"' not in line[:200] and b'"type":"reload"' not in line[:200]:
                continue
            try:
                rec = fmt.decode(line)
            except ValueError:
                continue
            if rec.get("v") != fmt.VERSION:
                raise AuditInputError(f"{f.path}: log format version {rec.get('v')!r}; this "
                                      f"audit reads version {fmt.VERSION}")
            if rec.get("type") == "run_start" or rec.get("accepted") is True:
                return rec
    if not seen_record:
        raise AuditInputError("the log files given are empty")
    raise AuditInputError("no run_start record in the files given: the site, its rule and "
                          "opening hours are unknown; include the file where the daemon started")


def _results(files: list[LogFile], opts: Options) -> Iterator[tuple[Task, int, ChunkScan]]:
    screens = frozenset(opts.screens) if opts.screens else None
    anchor = opts.anchor.seq if opts.anchor else None
    total = sum(f.size for f in files)
    if opts.jobs <= 1 or total <= 2 * opts.chunk:
        for t in tasks(files, opts.chunk):
            off, scan = work(t, opts.key, screens, anchor)
            yield t, off, scan
        return
    # fork: no re-import of the caller's main module (a script without a main guard works);
    # nothing here runs threads when the workers are forked (the progress bar has none)
    methods = multiprocessing.get_all_start_methods()
    ctx = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    with ProcessPoolExecutor(max_workers=opts.jobs, mp_context=ctx) as pool:
        pending: deque[tuple[Task, Future[tuple[int, ChunkScan]]]] = deque()
        it = tasks(files, opts.chunk)
        try:
            for t in it:
                pending.append((t, pool.submit(work, t, opts.key, screens, anchor)))
                if len(pending) >= 4 * opts.jobs + 2:
                    t0, fut = pending.popleft()
                    yield (t0, *fut.result())
            while pending:
                t0, fut = pending.popleft()
                yield (t0, *fut.result())
        finally:
            for _t, fut in pending:
                fut.cancel()


def run(files: list[LogFile], opts: Options, *,
        complete_dir: bool = True) -> tuple[Integrity, Compliance]:
    config = first_config(files)
    try:
        tz = ZoneInfo(str(config["site"]["tz"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise AuditInputError(f"the run_start record names no usable timezone ({exc})") from None
    now = opts.now_ms if opts.now_ms is not None else int(time.time() * 1000)
    try:
        p_from = parse_when(opts.period_from, tz, now) if opts.period_from else None
        p_to = parse_when(opts.period_to, tz, now) if opts.period_to else None
    except ValueError as exc:
        raise AuditInputError(f"--from/--to: {exc}") from None
    if p_from is not None and p_to is not None and p_to <= p_from:
        raise AuditInputError("--to must be after --from")
    engine = Engine(limit_override_ms=None if opts.max_gap_s is None
                    else round(opts.max_gap_s * 1000),
                    period_from=p_from, period_to=p_to, screens=opts.screens,
                    on_violation=opts.on_violation)
    st = Stitcher(opts.key, opts.anchor, complete_dir=complete_dir)
    current = -1
    done = 0
    started = False
    last: tuple[str, str, int, int, str] | None = None
    try:
        for t, offset, scan in _results(files, opts):
            f = files[t.file_index]
            if t.file_index != current:
                if current >= 0:
                    st.end_file()
                current = t.file_index
                st.begin_file(FileInfo(f.name, f.compressed, f.size))
            _check_input(f, scan, st.file_lines)
            st.feed(scan, offset)
            head = scan.first_hdr or scan.last_hdr
            if head is not None:
                if not started:
                    engine.start(head, config)
                    started = True
                elif last is not None:
                    _between(engine, last, head)
            engine.heartbeat_cadence(scan.hb_min_ms)
            engine.feed(scan.events)
            if scan.last_hdr is not None:
                last = scan.last_hdr
            if t.data is not None:
                done += len(t.data)
            elif t.size:
                done += min(t.end, t.size) - t.offset
            if opts.progress is not None:
                opts.progress(done)
    except OSError as exc:
        raise AuditInputError(f"cannot read the log: {exc}") from None
    if current >= 0:
        st.end_file()
    integrity = st.finish()
    if last is None:
        raise AuditInputError("the log files given hold no readable record")
    comp = engine.finish(last)
    unknown = sorted(set(opts.screens or ()) - set(comp.screens))
    if unknown:
        raise AuditInputError(f"--screen {', '.join(unknown)}: no such screen in the log's "
                              f"configuration (screens: {', '.join(engine.all_screens)})")
    return integrity, comp


def _check_input(f: LogFile, scan: ChunkScan, lines_before: int) -> None:
    if scan.bad_version is not None:
        v, idx = scan.bad_version
        raise AuditInputError(f"{f.path}:{lines_before + idx + 1}: log format version {v}; "
                              f"this audit reads version {fmt.VERSION}")
    if lines_before == 0 and scan.not_a_record and scan.last_seq is None:
        raise AuditInputError(f"{f.path}: not a signage log (no line is a record of log "
                              "format v1)")


def _between(engine: Engine, a: tuple[str, str, int, int, str],
             b: tuple[str, str, int, int, str]) -> None:
    """What happened between two chunks: a new run, or a long silence."""
    if a[0] != b[0]:
        engine.run_end(a[2], a[3], a[1])
    elif a[1] == b[1] and b[3] - a[3] > SILENCE_MS:
        engine.silence(a[2], b[2], b[3] - a[3], a[0])
