"""Run an audit: read the files (in worker processes when there is much to read), stitch the
chunk scans into the integrity verdict and feed their events to the compliance engine, in log
order. Memory stays bounded: a few chunks are in flight, and only running state is kept."""

from __future__ import annotations

import gc
import marshal
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from ..i18n import _
from ..playlog import format as fmt
from ..timeutil import parse_when
from ..trust import Trust
from .compliance import Engine
from .events import (
    SILENCE_MS,
    ChunkScan,
)
from .firstconfig import first_config, partial_seed, profile_of
from .integrity import Anchor, Stitcher
from .model import AuditInputError, Compliance, FileInfo, Integrity, Violation
from .reader import CHUNK, FILE_RE, LogFile, Task, read_task, tasks
from .scan import scan_chunk
from .signed import Signatures, Witness
from .signedfeed import SignedFeed
from .timeline import Timeline, clock_steps

if TYPE_CHECKING:
    from concurrent.futures import Future


@dataclass
class Options:
    key: bytes | None  # the site key for format-1 files (None: there are none)
    max_gap_s: float | None = None
    period_from: str | None = None
    period_to: str | None = None
    screens: list[str] | None = None
    anchor: Anchor | None = None
    #: the inspector's trust file (format 2: the public keys; any format: the site's
    #: registered profile, the yardstick) and the witnessed checkpoints
    trust: Trust | None = None
    witnesses: list[Witness] = field(default_factory=list)
    jobs: int = 1
    chunk: int = CHUNK
    #: called with the number of bytes read so far
    progress: Callable[[int], None] | None = None
    on_violation: Callable[[Violation], None] = field(default=lambda _v: None)
    now_ms: int | None = None


#: below this much to read, one process: forking workers and shipping their events to the
#: parent costs more than the scan they would share
PARALLEL_MIN_BYTES = 4 * CHUNK


def default_jobs(total: int, cpus: int, load: float) -> int:
    """The number of processes when ``--jobs`` is not given: one for a small log
    (``PARALLEL_MIN_BYTES``), else one per CPU that the machine's load (the 1-minute load
    average) leaves idle, at least one. Workers cost CPU (their events are packed and sent to
    the parent: a quarter more CPU for a month's log), which pays only when they run on idle
    cores; on a busy machine one process finishes first (docs/benchmarks.md). The results are
    the same whatever the number."""
    if total <= PARALLEL_MIN_BYTES or cpus <= 1:
        return 1
    return max(1, min(cpus, round(cpus - load)))


def work(task: Task, key: bytes | None, screens: frozenset[str] | None,
         capture: tuple[int, ...]) -> tuple[int, ChunkScan]:
    """In a worker: read and scan one chunk. Returns (offset of its first line, scan).
    ``key``: the site key of a format-1 file, None for a format-2 file."""
    data, offset, final = read_task(task)
    return offset, scan_chunk(data, key, final=final, screens=screens, capture=capture)


def work_packed(task: Task, key: bytes | None, screens: frozenset[str] | None,
                capture: tuple[int, ...]) -> tuple[int, ChunkScan, bytes]:
    """``work`` in a worker process, its events packed with marshal (plain tuples, ints,
    strings, the decoded JSON of config records): a third of pickle's cost to write and
    less to read, and the parent reads every event of the log."""
    offset, scan = work(task, key, screens, capture)
    packed = marshal.dumps(scan.events, 4)
    scan.events = []
    return offset, scan, packed


def _unpacked(got: tuple[int, ChunkScan, bytes]) -> tuple[int, ChunkScan]:
    offset, scan, packed = got
    scan.events = marshal.loads(packed)  # noqa: S302 (our own worker's bytes)
    return offset, scan


def _results(files: list[LogFile], opts: Options, prepare: Callable[[], None], skip: int = 0,
             ) -> Iterator[tuple[Task, int, ChunkScan]]:
    """The scans of the chunks, in order. ``prepare`` is called once before the first is
    yielded: in parallel, after the workers got their first chunks (it runs meanwhile)."""
    screens = frozenset(opts.screens) if opts.screens else None
    capture = capture_seqs(opts)
    total = sum(f.size for f in files)

    def key(t: Task) -> bytes | None:
        return opts.key if files[t.file_index].version == fmt.VERSION else None

    if opts.jobs <= 1 or total <= 2 * opts.chunk:
        prepare()
        for t in tasks(files, opts.chunk, skip):
            off, scan = work(t, key(t), screens, capture)
            yield t, off, scan
        return
    import multiprocessing  # (only with workers: the start-up of a small audit needs none)
    from concurrent.futures import ProcessPoolExecutor

    # fork: no re-import of the caller's main module (a script without a main guard works);
    # nothing here runs threads when the workers are forked (the progress bar has none)
    methods = multiprocessing.get_all_start_methods()
    ctx = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    with ProcessPoolExecutor(max_workers=opts.jobs, mp_context=ctx) as pool:
        pending: deque[tuple[Task, Future[tuple[int, ChunkScan, bytes]]]] = deque()
        it = tasks(files, opts.chunk, skip)
        prepared = False
        try:
            for t in it:
                pending.append((t, pool.submit(work_packed, t, key(t), screens, capture)))
                if len(pending) >= 4 * opts.jobs + 2:
                    if not prepared:
                        prepare()
                        prepared = True
                    t0, fut = pending.popleft()
                    yield (t0, *_unpacked(fut.result()))
            if not prepared:
                prepare()
            while pending:
                t0, fut = pending.popleft()
                yield (t0, *_unpacked(fut.result()))
        finally:
            for _t, fut in pending:
                fut.cancel()


def capture_seqs(opts: Options) -> tuple[int, ...]:
    """The seqs whose digest the scan notes: the anchor's and the witnesses'."""
    got = {w.cp.seq for w in opts.witnesses}
    if opts.anchor is not None:
        got.add(opts.anchor.seq)
    return tuple(sorted(s for s in got if 0 <= s < 1 << 62))


def run(files: list[LogFile], opts: Options, *,
        complete_dir: bool = True) -> tuple[Integrity, Compliance]:
    """Audit ``files``. The cyclic garbage collector is off meanwhile (in the workers too,
    which are forked here): the audit makes millions of small tuples and no reference cycle
    in its loops, and the collector's passes over the events in flight cost a fifth of a
    month's audit (measured: docs/benchmarks.md)."""
    was = gc.isenabled()
    gc.disable()
    try:
        # The clock_step pre-scan (timeline.clock_steps) reads the whole log once more before
        # the audit proper, and most logs hold no clock_step record at all: audit without it
        # (an empty Timeline, which is what the pre-scan finds then) while no chunk holds its
        # needle; when one does, start again with it. Only with a violation sink that can be
        # emptied (Spool.reset), and not for a partial log (its first line is not scanned).
        reset = getattr(opts.on_violation, "reset", None)
        if callable(reset) and partial_seed(files) is None:
            try:
                return _run(files, opts, complete_dir=complete_dir, lookahead=False)
            except _ClockStepSeen:
                reset()
        return _run(files, opts, complete_dir=complete_dir, lookahead=True)
    finally:
        if was:
            gc.enable()


class _ClockStepSeen(Exception):
    """A chunk holds a clock_step record: the audit starts again with the pre-scan."""


def _run(files: list[LogFile], opts: Options, *, complete_dir: bool,
         lookahead: bool) -> tuple[Integrity, Compliance]:
    if opts.key is None and any(f.version == fmt.VERSION for f in files):
        raise AuditInputError(_("this log is in format v1 (HMAC chain): pass --key FILE, the site "
                                "key that signed it"))
    seed = partial_seed(files)
    has_profiles = opts.trust is not None and any(
        s.profile is not None for s in opts.trust.sites.values())
    first = first_config(files, opts.key, seed, need=not has_profiles)
    config = first.record
    profile = None
    if has_profiles:
        assert opts.trust is not None
        profile, config = profile_of(opts.trust, config if first.verified else None, config)
    tz = ZoneInfo(str(config["site"]["tz"])) if config is not None else ZoneInfo("UTC")
    now = opts.now_ms if opts.now_ms is not None else int(time.time() * 1000)
    try:
        p_from = parse_when(opts.period_from, tz, now) if opts.period_from else None
        p_to = parse_when(opts.period_to, tz, now) if opts.period_to else None
    except ValueError as exc:
        raise AuditInputError(f"--from/--to: {exc}") from None
    if p_from is not None and p_to is not None and p_to <= p_from:
        raise AuditInputError("--to: " + _("must be after --from"))
    engine = Engine(limit_override_ms=None if opts.max_gap_s is None
                    else round(opts.max_gap_s * 1000),
                    period_from=p_from, period_to=p_to, screens=opts.screens,
                    on_violation=opts.on_violation, profile=profile, now_ms=now)
    sig = None
    if any(f.version == fmt.VERSION_2 for f in files):
        if opts.trust is None:
            raise AuditInputError(_("this log is in format v2 (signed checkpoints): pass --trust "
                                    "FILE, the trust file that lists the site's public keys "
                                    "(docs/trust-file.md)"))
        st0: list[Stitcher] = []
        sig = Signatures(opts.trust, opts.witnesses,
                         lambda *a, **k: st0[0].add(*a, **k),
                         log_site=str(config["site"]["id"]) if config is not None else None)
    if opts.trust is not None and profile is None:
        engine.r.warnings.append(_("the trust file holds no registered profile for this "
                                   "site: the log's own configuration is the yardstick (see "
                                   "config_changes)"))
    st = Stitcher(opts.key, opts.anchor, complete_dir=complete_dir, signatures=sig,
                  capture=frozenset(capture_seqs(opts)))
    if sig is not None:
        st0.append(st)
    not_log: Path | None = None
    # the clock_step pre-scan runs while the first chunks are scanned
    timelines: list[Timeline] = []
    current = -1
    done = 0
    feed = SignedFeed(engine, config, _between, lambda h: timelines[0].header(h) or h)
    try:
        for t, offset, scan in _results(
                files, opts, lambda: timelines.append(Timeline(
                    clock_steps(files) if lookahead else {})),
                seed.skip if seed is not None else 0):
            if scan.clock_step and not lookahead:
                raise _ClockStepSeen
            timeline = timelines[0]
            f = files[t.file_index]
            if t.file_index != current:
                if current >= 0:
                    _not_a_log(not_log)
                    st.end_file()
                current = t.file_index
                st.begin_file(FileInfo(f.name, f.compressed, f.size), f.version)
                if seed is not None and t.file_index == 0:
                    st.seed(seed.seq, seed.mac, seed.rtype)
            if st.file_lines == 0 and scan.first_hdr is not None:
                _stray(st, f, scan.first_hdr[2], tz, now)
            not_log = _check_input(f, scan, st.file_lines, not_log)
            st.feed(scan, offset)
            evs = scan.events
            first_hdr, last_hdr = scan.first_hdr, scan.last_hdr
            if timeline:
                evs = timeline.events(evs)
                first_hdr, last_hdr = timeline.header(first_hdr), timeline.header(last_hdr)
            feed.chunk(first_hdr or last_hdr, evs, scan.hb_min_ms, last_hdr,
                       signed=f.version == fmt.VERSION_2)
            if t.data is not None:
                done += len(t.data)
            elif t.size:
                done += min(t.end, t.size) - t.offset
            if opts.progress is not None:
                opts.progress(done)
    except OSError as exc:
        raise AuditInputError(_("cannot read the log: {error}").format(error=exc)) from None
    if current >= 0:
        _not_a_log(not_log)
        st.end_file()
    for info in st.r.files:
        if info.records == 0:
            st.add("stray_file", info.name, None, None, _(
                "holds no records: not a file the writer leaves (a stray, or a daemon that "
                "died as it made the file)"), breaks=False)
    if config is None:
        where = first.unusable or (files[0].name, 1, None, _("the first record is damaged"))
        st.add("malformed", where[0], where[1], where[2],
               _("no run_start record can be read, so the site, its rule and opening hours are "
                 "unknown and nothing is measured: {where}").format(where=where[3]))
    elif not first.verified and config.get("type") != "profile":
        engine.r.warnings.append(_("the configuration (site, rule, opening hours) was taken from a "
                                   "run_start record whose digest does not verify: the figures "
                                   "rest on it"))
    if sig is not None:
        site = str(config["site"]["id"]) if config is not None else None
        first_seq = next((fi.first_seq for fi in st.r.files if fi.first_seq is not None), None)
        st.r.signed = sig.finish(st.captured, first_seq, site)
    elif opts.witnesses:
        st.add("witness_ignored", "", None, None, _("witnesses apply to format-2 logs only: this "
                                                    "log is format v1 (use "
                                                    "--expect-anchor)"), breaks=False)
    integrity = st.finish()
    integrity.versions = list(st.versions)
    last, unsigned = feed.finish()
    if unsigned and st.r.signed is not None:
        n = st.r.signed.unsigned_tail
        engine.r.warnings.append(
            _("{n} records after the last checkpoint are signed by nobody (in format 2 anyone "
              "can chain records): they are not credited, and the audited period ends at the "
              "last checkpoint").format(n=f"{n:,}") if n else
            _("records no checkpoint covers were not credited"))
    why = _v1_after_registration(opts.trust, config, files, last)
    if why:
        engine.r.warnings.append(why)
    if feed.downgraded:
        engine.r.warnings.append(
            _("a format-1 file follows format-2 files (a downgrade): its records rest on the "
              "site key, which the site itself holds; only what a later checkpoint covers is "
              "credited"))
    if last is None:
        raise AuditInputError(_("the log files given hold no readable record"))
    comp = engine.finish(last)
    unknown = sorted(set(opts.screens or ()) - set(comp.screens))
    if unknown:
        raise AuditInputError(f"--screen {', '.join(unknown)}: " + _(
            "no such screen in the log's configuration (screens: {screens})").format(
                screens=", ".join(engine.all_screens)))
    return integrity, comp


def _v1_after_registration(trust: Trust | None, config: dict[str, Any] | None,
                           files: list[LogFile],
                           last: tuple[str, str, int, int, str] | None) -> str:
    """A format-1 log (or part) for a site whose signing key the trust file registers, reaching
    past the registration: say that it rests on the site key only ("" otherwise)."""
    if trust is None or config is None or last is None or not any(
            f.version == fmt.VERSION for f in files):
        return ""
    site = trust.site(str(config["site"]["id"]))
    if site is None or not site.keys:
        return ""
    since = min(k.valid_from for k in site.keys)
    if last[2] < since.timestamp() * 1000:
        return ""
    return _("the trust file registers a signing key for site {site} from {since}, but this log "
             "holds format-1 files: their records rest only on the site key (HMAC), which the "
             "site itself holds, not on a signature (a box with a registered key should write "
             "[log] format = 2)").format(site=site.id, since=since.isoformat())


def _stray(st: Stitcher, f: LogFile, first_wall: int, tz: ZoneInfo, now: int) -> None:
    """A file whose name's date is not the local date of its first record, or is after
    today: a stray (copied or made by hand), or written by a wall clock that was wrong."""
    m = FILE_RE.match(f.name)
    if m is None:
        return
    named = date.fromisoformat(m.group(1))
    first = datetime.fromtimestamp(first_wall / 1000, tz).date()
    today = datetime.fromtimestamp(now / 1000, tz).date()
    if named > today:
        st.add("stray_file", f.name, None, None, _("dated {named}, after today ({today})").format(
            named=named, today=today), breaks=False)
    elif named != first:
        st.add("stray_file", f.name, 1, None, _(
            "named for {named} but its first record was written on {first}: a stray file, or "
            "a wall clock that was wrong").format(named=named, first=first), breaks=False)


def _not_a_log(path: Path | None) -> None:
    if path is not None:
        raise AuditInputError(_("{path}: not a signage log (no line is a record of log format "
                                "v1)").format(path=path))


def _check_input(f: LogFile, scan: ChunkScan, lines_before: int,
                 not_log: Path | None) -> Path | None:
    """Refuse a file of another format version at its first chunk; return the file when it
    is so far not a log at all (its first line is not a record and no record followed yet:
    decided at the file's end, so a long garbage first line before records is damage)."""
    if scan.bad_version is not None and lines_before == 0 and scan.bad_version[1] == 0 \
            and scan.last_seq is None:
        # the file opens with a record of another version and holds no v1 record: a log
        # written by a newer signage. A stray version among v1 records is damage instead
        # (a malformed line, an integrity break).
        v, idx = scan.bad_version
        raise AuditInputError(f"{f.path}:{lines_before + idx + 1}: " + _(
            "log format version {v}; this audit reads versions 1 and 2").format(v=v))
    if lines_before == 0:
        not_log = f.path if scan.not_a_record and scan.last_seq is None else None
    elif scan.last_seq is not None:
        not_log = None
    return not_log


def _between(engine: Engine, a: tuple[str, str, int, int, str],
             b: tuple[str, str, int, int, str]) -> None:
    """What happened between two chunks: a new run, or a long silence."""
    if a[0] != b[0]:
        engine.run_end(a[2], a[3], a[1])
    elif a[1] == b[1] and b[3] - a[3] > SILENCE_MS:
        engine.silence(a[2], b[2], b[3] - a[3], a[0])
