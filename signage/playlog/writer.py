"""The log writer: append, fsync, chain, rotate at local midnight, survive torn tails and a
full disk. The only code that writes log files.

Thread-safe: every screen's runner appends from its own thread; a lock serialises them.
"""

from __future__ import annotations

import collections
import contextlib
import errno
import json
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from ..driver import Clock
from ..durable import fsync_dir
from ..i18n import _
from ..keys import PublicKey, SigningKey
from ..timeutil import CLOCK_STEP_S, IsoFormatter
from . import format as fmt
from . import v2
from .logdir import FILE_RE, chain_end, file_version, log_files, tail

__all__ = ["FILE_RE", "Head", "LogWriter", "RecordTooLong", "boot_id", "file_name",
           "log_files"]

#: when the memory buffer overflows (log storage full), these go first, in this order ...
DROP_ORDER: tuple[frozenset[str], ...] = (frozenset({"heartbeat"}), frozenset({"showing_start"}))
#: ... and these never: without them a run cannot be audited or its story is lost
KEEP = frozenset({"run_start", "run_stop", "torn_tail", "reload", "clock_step", "seal",
                  "checkpoint"})
#: the records of unbounded size (through the item catalogue), checked against MAX_LINE
_UNBOUNDED = frozenset({"run_start", "reload"})
#: format version 2: a signed checkpoint at least this often (docs/log-format.md)
CHECKPOINT_S = 30.0


Pending = tuple[str, float, float, dict[str, Any]]


@dataclass(frozen=True, slots=True)
class Head:
    file: str
    seq: int
    mac: str


#: a log that cannot be written is reported again this often while it lasts
ERROR_REPEAT_S = 60.0

def file_name(day: date, part: int) -> str:
    return f"signage-{day.isoformat()}{'' if part == 0 else f'.{part}'}.jsonl"


class LogWriter:
    """Writes format version 1 (``key``: the site's HMAC key) or, given ``signing`` (the box's
    Ed25519 key) and ``site_id``, format version 2: the plain SHA-256 chain with a signed
    ``checkpoint`` at least every CHECKPOINT_S, before every seal and at every clean close."""

    def __init__(self, log_dir: Path, key: bytes | None, tz: ZoneInfo, clock: Clock, *,
                 run_id: str, boot_id: str, fsync: str = "every", batch_ms: int = 1000,
                 buffer_records: int = 10000, write_buffer: int = 0,
                 on_error: Callable[[str], None] = lambda _m: None,
                 signing: SigningKey | None = None, site_id: str = "",
                 checkpoint_s: float = CHECKPOINT_S) -> None:
        if (key is None) == (signing is None):
            raise ValueError("a log writer takes a site key (format 1) or a signing key "
                             "(format 2)")
        self.dir = log_dir
        self._key = key
        self.version = fmt.VERSION if signing is None else fmt.VERSION_2
        self._signing = signing
        self._site_id = site_id
        self._cp_every = checkpoint_s
        self._unsigned_since = 0.0  # mono of the first record after the last checkpoint
        self._since_cp = 0  # records written since the last checkpoint
        self._last_type = ""
        self._enc = fmt.LineEncoder(key, run_id, boot_id)
        self._line = self._enc.line
        self._fast_line = self._enc.compiled_line  # the hot records, without a Python frame
        self._tz = tz
        self._clock = clock
        self._run = run_id
        self._boot = boot_id
        self._fsync_every = fsync == "every"
        self._batch_s = batch_ms / 1000.0
        self._last_sync = 0.0
        self._lock = threading.Lock()
        self._iso = IsoFormatter(tz)
        # records waiting to be written: (type, wall_s, mono, fields); seq and mac are given
        # only when a record is really written, so a dropped record never breaks the chain
        self._pending: collections.deque[Pending] = collections.deque()
        self._max_pending = buffer_records
        self._dropped: collections.Counter[str] = collections.Counter()
        self._drop_span: list[float] = []
        self._on_error = on_error
        self.error: str | None = None
        self._error_said = 0.0  # monotonic time the current error was last reported
        self._fd = -1
        self._size = 0
        self._day: date | None = None
        self._day_end = float("inf")  # wall time at which the current file's day ends
        self._part = 0
        self._sealed: date | None = None  # the day a seal names whose file is not open yet
        self._seq = 0
        self._mac = fmt.GENESIS
        self._offset: float | None = None  # wall - mono at the last record
        self._mono_memo = (float("nan"), 0.0)  # the last mono rounded, and its rounding
        self.path: Path | None = None
        self.stray: list[str] = []  # files dated after today that open() did not write to
        #: what was lost at the stop (the log storage stayed full), else None
        self.lost: dict[str, Any] | None = None
        self.records_written = 0
        # write_buffer > 0 (simulate only): lines are collected and written in blocks of
        # about that many bytes; a crash loses the block, so a real run never does this
        self._wbuf_max = write_buffer
        self._wbuf: list[bytes] = []
        self._wbuf_len = 0

    # ---- opening -------------------------------------------------------------------------
    def open(self) -> list[dict[str, Any]]:
        """Find the chain head in the existing files and open today's file. Returns the
        records to log first (a torn tail found), which the caller appends after run_start.
        The file is picked by today's date only: a file dated later that does not hold the
        chain's head is a stray (listed in ``self.stray``; the audit flags it), never
        written into. Only when the chain's head itself is in a later-dated file (the wall
        clock is behind it: a box without RTC before NTP) does writing continue after it."""
        self.dir.mkdir(parents=True, exist_ok=True)
        notes: list[dict[str, Any]] = []
        files = log_files(self.dir)
        end = chain_end(files)
        for path in reversed(files):
            t = tail(path, 0)
            if t.torn_length:
                notes.append({"type": "torn_tail", "file": path.name, "offset": t.torn_offset,
                              "length": t.torn_length, "sha256": t.torn_sha256})
            if end is not None and path == end.file:
                break
        if end is not None:
            self._adopt(end.last)
        today = self._today()
        if end is not None:
            head_day = _day(end.file)
            if head_day > today:
                today = head_day
        self.stray = [p.name for p in files if _day(p) > today]
        part = 0
        same = [p for p in files if _day(p) == today]
        if same:
            m = FILE_RE.match(same[-1].name)
            assert m is not None
            # a file never mixes format versions: a box upgraded (or downgraded) mid-day
            # starts a new part, chained on the other version's last record
            bump = 1 if (tail(same[-1], 0).torn_length
                         or file_version(same[-1]) not in (None, self.version)) else 0
            part = int(m.group(2) or 0) + bump
        self._open_file(today, part)
        lost = read_lost_note(self.dir)
        if lost is not None:  # a run before this one lost records to a full disk at its stop
            notes.append({"type": "dropped", **lost})
        self._reserve(True)
        return notes

    def _reserve(self, make: bool) -> None:
        """A little space kept in reserve (``.reserve``, 64 KiB) so that a run that stops on
        a full disk can still leave a note of what it lost. Best effort."""
        path = self.dir / RESERVE_NAME
        try:
            if not make:
                path.unlink()
                return
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                os.posix_fallocate(fd, 0, RESERVE_BYTES)
            finally:
                os.close(fd)
        except OSError:
            pass

    def _adopt(self, line: bytes) -> bool:
        parts = fmt.split(line)
        if parts is None:
            return False
        try:
            rec = fmt.decode(line)
            seq = int(rec["seq"])
        except (ValueError, KeyError, TypeError):
            return False
        self._seq = seq + 1
        self._mac = parts[1]
        return True

    def _today(self) -> date:
        return datetime.fromtimestamp(self._clock.time(), self._tz).date()

    def _open_file(self, day: date, part: int) -> None:
        path = self.dir / file_name(day, part)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        if self._fd >= 0:
            os.close(self._fd)
        self._fd = fd
        self._size = os.fstat(fd).st_size
        self._day, self._part, self.path = day, part, path
        nxt = day + timedelta(days=1)
        self._day_end = datetime(nxt.year, nxt.month, nxt.day, tzinfo=self._tz).timestamp()
        fsync_dir(self.dir)

    # ---- writing -------------------------------------------------------------------------
    @property
    def head(self) -> Head:
        with self._lock:
            name = self.path.name if self.path else ""
            return Head(name, self._seq - 1, self._mac.decode())

    def append(self, rtype: str, **fields: Any) -> None:
        """Make a record now and write it (fsynced) before returning. A configuration record
        (run_start, reload: the only ones of unbounded size, through the item catalogue)
        that would be longer than format.MAX_LINE raises RecordTooLong, and nothing is
        written."""
        self.append_dict(rtype, fields)

    def append_dict(self, rtype: str, fields: dict[str, Any]) -> None:
        """``append(rtype, **fields)`` with the fields in a dict, which the writer owns from
        then on (it may wait in the queue): the caller never changes it afterwards. The
        runner's records of every switch come this way, without a copy of the keywords."""
        if rtype in _UNBOUNDED:
            size = len(json.dumps(fields, ensure_ascii=False, default=str).encode())
            if size > fmt.MAX_LINE - 4096:
                raise RecordTooLong(_(
                    "the {type} record would be {size:.1f} MiB, over the log format's limit "
                    "of {limit} MiB per record: the playlists hold too many items (or too "
                    "long texts) for one site").format(type=rtype, size=size / (1 << 20),
                                                      limit=fmt.MAX_LINE >> 20))
        with self._lock:  # read the clocks under the lock: mono never runs backwards in the file
            clock = self._clock
            wall_s = clock.time()
            mono = clock.monotonic()
            offset = wall_s - mono
            last = self._offset
            if last is not None and not -CLOCK_STEP_S <= offset - last <= CLOCK_STEP_S:
                step = offset - last
                self._queue(("clock_step", wall_s, mono, {
                    "step_s": round(step, 3),
                    "from": self._iso(wall_s - step), "to": self._iso(wall_s)}))
            self._offset = offset
            rec = (rtype, wall_s, mono, fields)
            if self._pending or self._dropped or self.error is not None or self._fd < 0:
                self._queue(rec)
                self._flush()
                return
            try:  # the common case: nothing waits, write at once
                self._write(rec)
            except OSError as exc:
                self._queue(rec)
                self._failed(exc)
                return
            if not self._fsync_every and mono - self._last_sync >= self._batch_s:
                try:  # the record is written (or in the block): a failed sync never re-queues it
                    self._sync_batch()
                except OSError as exc:
                    self._failed(exc)

    def _queue(self, rec: Pending) -> None:
        if len(self._pending) >= self._max_pending:
            self._drop_one()
        self._pending.append(rec)

    def _drop_one(self) -> None:
        """Make room: the oldest record of the least important kind goes (heartbeats, then
        showing starts, then anything but the records an audit cannot do without)."""
        victim = None
        for kinds in DROP_ORDER:
            victim = next((i for i, r in enumerate(self._pending) if r[0] in kinds), None)
            if victim is not None:
                break
        if victim is None:
            victim = next((i for i, r in enumerate(self._pending) if r[0] not in KEEP), 0)
        rtype, _w, mono, _f = self._pending[victim]
        del self._pending[victim]
        self._dropped[rtype] += 1
        if not self._drop_span:
            self._drop_span = [mono, mono]
        self._drop_span[0] = min(self._drop_span[0], mono)
        self._drop_span[1] = max(self._drop_span[1], mono)

    def _flush(self) -> None:
        if self._fd < 0:
            return
        try:
            self._drain()
            # the `dropped` note goes where the lost records were: before the first waiting
            # record younger than them (so run_start, never dropped, stays first)
            while self._pending:
                if self._dropped and self._pending[0][2] > self._drop_span[1]:
                    self._write_dropped()
                self._write(self._pending[0])
                self._pending.popleft()
            if self._dropped:
                self._write_dropped()
            self._sync_batch()
            if self.error is not None:
                self.error = None
                self._on_error("log writing works again")
        except OSError as exc:
            self._failed(exc)

    def _write_dropped(self) -> None:
        first, last = self._drop_span
        self._write(("dropped", self._clock.time(), self._clock.monotonic(), {
            "count": sum(self._dropped.values()), "types": dict(self._dropped),
            "first_mono": round(first, 3), "last_mono": round(last, 3)}))
        self._dropped.clear()
        self._drop_span = []

    def _sync_batch(self) -> None:
        if not self._fsync_every:
            now = self._clock.monotonic()
            if now - self._last_sync >= self._batch_s:
                self._drain()
                os.fsync(self._fd)
                self._last_sync = now

    def _failed(self, exc: OSError) -> None:
        base = f"cannot write the log {self.path}: {exc.strerror or exc}"
        msg = base
        if exc.errno == errno.ENOSPC:
            msg += f"; {len(self._pending) + len(self._wbuf)} records wait in memory"
        # said when it starts or changes, then once a minute (not at every record)
        now = self._clock.monotonic()
        if self.error is None or not self.error.startswith(base) or \
                now - self._error_said >= ERROR_REPEAT_S:
            self._on_error(msg)
            self._error_said = now
        self.error = msg

    def _write(self, pending: Pending) -> None:
        rtype, wall_s, mono, fields = pending
        if wall_s >= self._day_end and rtype not in ("seal", "checkpoint"):
            day = datetime.fromtimestamp(wall_s, self._tz).date()
            if self._day is not None and day > self._day:
                self._rotate(day)
        if mono == self._mono_memo[0]:  # the records of one switch share their instant
            mono = self._mono_memo[1]
        else:
            r = round(mono, 3)
            self._mono_memo = (mono, r)
            mono = r
        wall = self._iso(wall_s)
        if rtype == "checkpoint":  # signed now: its head is the record written last
            fields = self._checkpoint_fields(wall, mono, fields)
        fast = self._fast_line
        got = fast(self._mac, self._seq, rtype, wall, mono, fields) if fast else None
        line, mac = got or self._line(self._mac, self._seq, rtype, wall, mono, fields)
        if self._wbuf_max:
            self._wbuf.append(line)
            n = self._wbuf_len + len(line)
            self._wbuf_len = n
            self._seq += 1
            self._mac = mac
            self.records_written += 1
            if n >= self._wbuf_max:
                try:
                    self._drain()
                except OSError as exc:  # the block stays; the next record retries it
                    self._failed(exc)
            if self._signing is None:
                self._last_type = rtype
            elif (self._since_cp and rtype != "checkpoint" and rtype != "run_stop"
                  and mono - self._unsigned_since < self._cp_every):
                self._last_type = rtype  # _written's common case, without its frame
                self._since_cp += 1
            else:
                self._written(rtype, mono)
            return
        try:
            n = os.write(self._fd, line)
            if n != len(line):
                raise OSError(errno.ENOSPC, "short write")
            if self._fsync_every:
                os.fsync(self._fd)
        except OSError:
            try:  # take back a partial line so the file never holds a torn record mid-way
                os.ftruncate(self._fd, self._size)
            except OSError:
                pass
            raise
        self._size += len(line)
        self._seq += 1
        self._mac = mac
        self.records_written += 1
        if rtype == "dropped" and fields.get("at_stop"):
            with contextlib.suppress(OSError):  # logged: the note is done
                (self.dir / LOST_NOTE).unlink()
        self._written(rtype, mono)

    def _written(self, rtype: str, mono: float) -> None:
        """After a record is written (version 2): a checkpoint once the oldest record it
        would cover is CHECKPOINT_S old (``checkpoint_if_due`` covers an idle log), and after
        run_stop."""
        self._last_type = rtype
        if self._signing is None:
            return
        if rtype == "checkpoint":
            self._since_cp = 0
            return
        self._since_cp += 1
        if self._since_cp == 1:
            self._unsigned_since = mono
        if rtype == "run_stop" or mono - self._unsigned_since >= self._cp_every:
            try:  # the record is written: a failed checkpoint never re-queues it (the next
                # record, or the close, tries the checkpoint again)
                self._write_checkpoint("run_stop" if rtype == "run_stop" else "interval")
            except OSError as exc:
                self._failed(exc)

    def _write_checkpoint(self, reason: str, next_key: PublicKey | None = None) -> None:
        fields: dict[str, Any] = {"reason": reason}
        if next_key is not None:
            fields["next_key"] = next_key
        self._write(("checkpoint", self._clock.time(), self._clock.monotonic(), fields))

    def _checkpoint_fields(self, wall: str, mono: float, req: dict[str, Any]) -> dict[str, Any]:
        assert self._signing is not None
        nk = req.get("next_key")
        return v2.checkpoint_fields(
            self._signing, site=self._site_id, head_seq=self._seq - 1,
            head=self._mac.decode("ascii"), wall=wall, mono=mono, boot=self._boot,
            reason=str(req.get("reason", "interval")),
            next_key=nk if isinstance(nk, PublicKey) else None)

    def _drain(self) -> None:
        """Write the collected block (write_buffer mode); on failure take back what part of
        it reached the file and keep the block."""
        if not self._wbuf:
            return
        block = b"".join(self._wbuf)
        try:
            n = os.write(self._fd, block)
            if n != len(block):
                raise OSError(errno.ENOSPC, "short write")
        except OSError:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, self._size)
            raise
        self._size += len(block)
        self._wbuf.clear()
        self._wbuf_len = 0

    def _rotate(self, day: date) -> None:
        if self._sealed is None:
            nxt = file_name(day, 0)
            if self._signing is not None and self._seq > 0:
                self._write_checkpoint("seal")  # the day's file is signed up to its seal
            self._write(("seal", self._clock.time(), self._clock.monotonic(),
                         {"next_file": nxt}))
            self._sealed = day
        # a rotation that failed after its seal was written (a full disk: the seal waits in
        # the block, or the next file cannot be made) is retried without a second seal, into
        # the file that seal names
        day = self._sealed
        self._drain()
        os.fsync(self._fd)
        self._open_file(day, 0)
        self._sealed = None

    def rotate_if_due(self) -> None:
        """Called at local midnight (and harmlessly at any time): rotate when the day changed."""
        with self._lock:
            today = self._today()
            if self._day is not None and today > self._day and not self._pending:
                try:
                    self._rotate(today)
                except OSError as exc:
                    self.error = f"cannot rotate the log: {exc.strerror or exc}"
                    self._on_error(self.error)

    def checkpoint(self, reason: str = "interval") -> None:
        """Write a checkpoint now (version 2; nothing in version 1 or before any record)."""
        with self._lock:
            self._checkpoint_now(reason)

    def checkpoint_if_due(self, ahead: float = 0.0) -> None:
        """The house-keeping tick (version 2): a checkpoint when a record has waited
        CHECKPOINT_S - ``ahead`` for one (the tick's period, so none waits longer)."""
        with self._lock:
            if self._signing is not None and self._since_cp and \
                    self._clock.monotonic() - self._unsigned_since >= self._cp_every - ahead:
                self._checkpoint_now("interval")

    def _checkpoint_now(self, reason: str, next_key: PublicKey | None = None) -> None:
        if self._signing is None or (self._seq == 0 and next_key is None):
            return
        if self._pending or self.error is not None or self._fd < 0:
            self._queue(("checkpoint", self._clock.time(), self._clock.monotonic(),
                         {"reason": reason, **({"next_key": next_key} if next_key else {})}))
            self._flush()
            return
        try:
            self._write_checkpoint(reason, next_key)
            self._sync_batch()
        except OSError as exc:
            self._failed(exc)

    def rotate_key(self, new: SigningKey) -> None:
        """Key rotation (docs/log-format.md): a checkpoint naming ``new``, signed by the
        current key; every later checkpoint is signed by ``new``. Raises OSError when the
        rotation checkpoint cannot be written now (the old key stays in use)."""
        with self._lock:
            if self._signing is None:
                raise ValueError("key rotation needs a format-2 log")
            self._flush()
            if self._pending or self.error is not None or self._fd < 0:
                raise OSError(errno.EIO, self.error or "the log cannot be written now")
            self._write_checkpoint("rotate", new.public)
            self._drain()
            os.fsync(self._fd)
            self._signing = new

    @property
    def signing_key(self) -> SigningKey | None:
        """The key the checkpoints are signed with now (format 2; it changes at a rotation)."""
        return self._signing

    @property
    def signing_key_id(self) -> str | None:
        return self._signing.key_id if self._signing is not None else None

    def close(self) -> None:
        with self._lock:
            if self._signing is not None and self._since_cp and self._fd >= 0:
                self._checkpoint_now("run_stop" if self._last_type == "run_stop"
                                     else "shutdown")
            self._flush()  # drains the block too
            self._keep_lost()
            if self._fd >= 0:
                with contextlib.suppress(OSError):
                    os.fsync(self._fd)
                os.close(self._fd)
                self._fd = -1

    def _keep_lost(self) -> None:
        """Records that could not be written by the stop (the log storage stayed full) are
        lost: say so (``self.lost``, for stderr and the exit status) and leave a note,
        written into the reserve's space, that the next start logs as a ``dropped`` record."""
        lost = collections.Counter(r[0] for r in self._pending) + self._dropped
        n = sum(lost.values()) + len(self._wbuf)
        if not n:
            return
        if self._wbuf:
            lost["(written block)"] += len(self._wbuf)
        monos = [r[2] for r in self._pending] + list(self._drop_span)
        walls = [r[1] for r in self._pending]
        prev = read_lost_note(self.dir)  # an earlier note not logged yet is kept in the sum
        note: dict[str, Any] = {
            "count": n + (int(prev["count"]) if prev else 0),
            "types": dict(lost + collections.Counter(prev["types"] if prev else {})),
            "first_mono": round(min(monos), 3) if monos else None,
            "last_mono": round(max(monos), 3) if monos else None,
            "first_wall": self._iso(min(walls)) if walls else None,
            "last_wall": self._iso(max(walls)) if walls else None,
            "lost_run": self._run, "lost_boot": self._boot, "at_stop": True}
        self.lost = note
        self._pending.clear()
        self._wbuf.clear()
        self._dropped.clear()
        self._reserve(False)
        try:
            write_lost_note(self.dir, note)
        except OSError as exc:
            self._on_error(f"cannot keep a note of the {n} lost records: "
                           f"{exc.strerror or exc}")

    @property
    def iso(self) -> IsoFormatter:
        """The writer's wall-time formatter: the runtime's runners share it, so that a
        showing's start or end and the wall of the record written at that instant are
        formatted once (its memo)."""
        return self._iso

    @property
    def pending(self) -> int:
        return len(self._pending)


class RecordTooLong(ValueError):
    """A record would exceed format.MAX_LINE; nothing was written."""


RESERVE_NAME = ".reserve"
RESERVE_BYTES = 64 << 10
LOST_NOTE = ".dropped.json"


def read_lost_note(log_dir: Path) -> dict[str, Any] | None:
    try:
        with open(log_dir / LOST_NOTE, "rb") as fh:
            got = fmt.loads(fh.read(1 << 16))
    except (OSError, ValueError):
        return None
    if not isinstance(got, dict) or not isinstance(got.get("count"), int) \
            or not isinstance(got.get("types"), dict):
        return None
    return got


def write_lost_note(log_dir: Path, note: dict[str, Any]) -> None:
    tmp = log_dir / (LOST_NOTE + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o640)
    try:
        data = json.dumps(note, ensure_ascii=False).encode()
        if os.write(fd, data) != len(data):
            raise OSError(errno.ENOSPC, "short write")
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, log_dir / LOST_NOTE)
    fsync_dir(log_dir)


def _day(path: Path) -> date:
    m = FILE_RE.match(path.name)
    assert m is not None
    return date.fromisoformat(m.group(1))


def boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return "unknown"
