"""The hub's copy of one site's log: verify each line before it is counted, append what
verifies byte-identical to `<data>/<site>/<file>`, put what does not apart in `rejected.jsonl`,
drop what is already held (by file, offset and seq). See docs/fleet.md.

The hub's copy holds only lines that verified, in order, so on restart its state (file, size,
next seq, last digest) is read back from its own files.
"""

from __future__ import annotations

import collections
import fcntl
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from ..fleet.protocol import Chunk, file_order, line_seq
from ..playlog import format as fmt
from ..playlog import v2
from ..playlog.logdir import log_files, tail
from ..trust import Trust

#: a site's rejected.jsonl stops growing here (later rejections are only counted)
REJECTED_MAX_BYTES = 64 << 20
#: at most this many copies are held open at once (the least recently written is closed; its
#: data are fsynced at the next sync through a new descriptor, fsync acts on the file): a hub
#: of thousands of sites must keep its sockets below 1024 (paho uses select)
OPEN_FILES_MAX = 512
_OPEN: collections.OrderedDict[int, SiteStore] = collections.OrderedDict()
SITE_KEYS = (b'"type":"run_start"', b'"type":"reload"')
CHECKPOINT = b'"type":"checkpoint"'
V1, V2 = b'{"v":1,', b'{"v":2,'
#: v2 records wait for a checkpoint to be counted; past this many, the oldest are not counted
PENDING_MAX = 200_000


@dataclass
class Outcome:
    stored: int = 0  # lines appended to the copy
    duplicate: int = 0  # lines already held
    gap: bool = False  # the chunk does not continue the copy (ignored; the box resends)
    rejected: int = 0
    reason: str = ""
    #: the lines now counted (no newline): v1 lines as they verify, v2 lines once a valid
    #: checkpoint signs a head that covers them
    verified: list[bytes] = field(default_factory=list)
    #: where the copy now stands with nothing waiting to be counted (None: not moved there)
    mark: Mark | None = None


@dataclass(frozen=True)
class Mark:
    """A place in a site's copy where every record before it is counted or never will be
    (no v2 record waits for a checkpoint): the dataset holds the rows up to here
    (`_marks.json`, docs/fleet.md "The Parquet dataset")."""
    file: str
    offset: int  # the byte after the last line
    seq: int  # that line's seq
    mac: bytes  # that line's digest (the next line chains on it)


@dataclass
class Chain:
    """The state a copy's next line is checked against."""
    prev: bytes | None  # the digest the next line chains on (None: nothing held yet)
    nseq: int | None  # the seq it must have
    pending: list[bytes] = field(default_factory=list)  # v2 lines not yet signed
    uncounted: int = 0  # v2 lines dropped from pending (past PENDING_MAX: never counted)


@dataclass
class Scan:
    good_end: int = 0  # bytes of complete lines that verified
    stored: int = 0  # their number
    counted: list[bytes] = field(default_factory=list)
    why: str | None = None  # the reason the line at good_end was refused
    #: (end in data, digest, seq) of the last line after which nothing waited to be counted
    mark: tuple[int, bytes, int] | None = None


def site_mismatch(site: str, line: bytes) -> str | None:
    """The reason a run_start / accepted reload line names another site, else None."""
    head = line[:120]
    if SITE_KEYS[0] not in head and SITE_KEYS[1] not in head:
        return None
    try:
        rec: dict[str, Any] = fmt.decode(line)
    except ValueError:
        return "malformed: a run_start/reload that is not JSON"
    rsite = rec.get("site")
    sid = rsite.get("id") if isinstance(rsite, dict) else None
    if rec.get("type") == "reload" and not rec.get("accepted"):
        return None
    if sid != site:
        return (f"site: the record names site {sid!r}, the topic and the credentials "
                f"are {site!r}")
    return None


def scan(verifier: Verifier, chain: Chain, data: bytes) -> Scan:
    """Check complete lines against ``chain`` (updated in place) until the end of ``data``
    or the first line that does not verify. One rule for the ingest and for a rebuild of
    the dataset from the copies (signage.hub.rebuild): what is counted is the same."""
    out = Scan()
    prev, nseq, pending = chain.prev, chain.nseq, chain.pending
    counted = out.counted
    pos = 0
    while pos < len(data):
        nl = data.index(b"\n", pos)
        line = data[pos:nl]
        seq = line_seq(line)
        why: str | None = None
        if seq is None:
            why = "malformed: no version and seq at the start of the line"
        elif nseq is not None and seq != nseq:
            why = f"sequence: seq {seq} where {nseq} continues the site's log"
        else:
            # the first record the hub holds of a log that began earlier: its digest
            # chains on a record never seen, so its content is bound to nothing. Held
            # (the copy stays byte-identical, and it anchors the chain), never counted.
            unbound = prev is None and seq != 0
            if prev is None and seq == 0:
                prev = fmt.GENESIS
            res = verifier.check(prev, line)
            if isinstance(res, str):
                why = res
            else:
                why = site_mismatch(verifier.site, line)
                if why is None and unbound:
                    pass
                elif why is None and line.startswith(V2):
                    if CHECKPOINT in line[:60]:
                        why = verifier.checkpoint(line, prev)
                        if why is None:
                            counted.extend(pending)
                            pending = []
                    else:
                        pending.append(line)
                elif why is None:
                    counted.append(line)
                if why is None:
                    prev, nseq = res, seq + 1
        if why is not None:
            out.why = why
            break
        out.stored += 1
        pos = nl + 1
        out.good_end = pos
        if not pending:
            assert prev is not None and nseq is not None
            out.mark = (pos, prev, nseq - 1)
    if len(pending) > PENDING_MAX:
        chain.uncounted += len(pending) - PENDING_MAX
        pending = pending[-PENDING_MAX:]
    chain.prev, chain.nseq, chain.pending = prev, nseq, pending
    return out


class Verifier:
    """Checks one site's lines. Log v1: the HMAC-SHA256 chain under the site key (from the
    hub config). Log v2: the plain SHA-256 chain (signage.playlog.v2.verify_link) and every
    checkpoint's Ed25519 signature by a key the trust file registers for the site at the
    checkpoint's time (Checkpoint.verify). The log v2 functions are the audit's own."""

    def __init__(self, site: str, v1_key: bytes | None, trust: Trust | None) -> None:
        self.site = site
        self._hmac = fmt.Hmac(v1_key) if v1_key is not None else None
        self._trust = trust

    def check(self, prev: bytes | None, line: bytes) -> bytes | str:
        """The line's digest if it chains on ``prev`` (None: the first record the hub holds
        of a log that began earlier, whose own digest cannot be checked), else a reason."""
        parts = fmt.split(line)
        if parts is None:
            return "malformed: not shaped like a log record"
        prefix, mac = parts
        if line.startswith(V2):
            if prev is None:
                return mac
            return v2.verify_link(prev, line) or (
                "digest: the line does not chain on the previous one (SHA-256)")
        if not line.startswith(V1):
            return "log format version this hub cannot verify"
        if self._hmac is None:
            return "no key registered for this site: nothing can be verified"
        if prev is None:
            return mac
        if self._hmac.hexmac(prev, prefix) != mac:
            return "digest: the line does not verify under the site key after the previous one"
        return mac

    def checkpoint(self, line: bytes, head: bytes | None = None) -> str | None:
        """None if ``line`` is a checkpoint of this site signed by a key the trust file
        registers for it at the checkpoint's time (and, given ``head``, signing that chain
        head); else the reason."""
        try:
            cp = v2.parse_checkpoint(line)
        except v2.CheckpointError as exc:
            return f"checkpoint: {exc}"
        if cp.site != self.site:
            return f"checkpoint: names site {cp.site!r}, the topic is {self.site!r}"
        if head is not None and cp.head.encode("ascii") != head:
            return f"checkpoint: signs head {cp.head[:16]}… where the chain has {head[:16]!r}"
        if self._trust is None:
            return "checkpoint: the hub has no trust file, no signature can be checked"
        tk = self._trust.key_for(self.site, cp.key)
        if tk is None:
            return (f"checkpoint: key {cp.key} is not registered for {self.site!r} in the "
                    "trust file")
        try:
            at = datetime.fromisoformat(cp.wall)
        except ValueError:
            return f"checkpoint: wall {cp.wall!r} is not a time"
        if at.tzinfo is None or not tk.valid_at(at):
            return f"checkpoint: key {cp.key} is not valid for {self.site!r} at {cp.wall}"
        if not cp.verify(tk.public):
            return "checkpoint: the signature does not verify"
        return None


class SiteStore:
    def __init__(self, root: Path, site: str, verifier: Verifier,
                 now_iso: Callable[[], str]) -> None:
        self.site = site
        self.dir = root / site
        self.dir.mkdir(parents=True, exist_ok=True)
        self.verifier = verifier
        self._now = now_iso
        self.file: str | None = None
        self.size = 0
        self.next_seq: int | None = None
        self.mac: bytes | None = None
        self.torn_done = False  # the current file's torn tail was appended: it is finished
        self._fd = -1
        self.dirty = False
        self._unsynced: set[str] = set()  # files written since the last sync
        self.rejected_total = 0
        self.pending: list[bytes] = []  # v2 lines stored, not yet under a valid checkpoint
        self.uncounted = 0  # v2 lines dropped from pending (never signed in time)
        self._recover()

    # ---- state ---------------------------------------------------------------------------
    def _recover(self) -> None:
        for path in reversed(log_files(self.dir)):
            t = tail(path, 1)  # bounded: a hostile file costs one streamed pass
            last = t.lines[-1] if t.lines else None
            if self.file is None:
                self.file, self.size = path.name, path.stat().st_size
                self.torn_done = bool(t.torn_length)
            if last is not None:
                parts = fmt.split(last)
                seq = line_seq(last)
                if parts is not None and seq is not None:
                    self.next_seq, self.mac = seq + 1, parts[1]
                    if last.startswith(V2) and CHECKPOINT not in last[:60]:
                        self.pending = self._unsignedtail()
                    return

    def _unsignedtail(self) -> list[bytes]:
        """The v2 lines of the copy after its last checkpoint (stored before a restart, not
        counted yet), read backwards block by block; at most PENDING_MAX."""
        out: list[bytes] = []
        for path in reversed(log_files(self.dir)):
            with open(path, "rb") as fh:
                pos = fh.seek(0, os.SEEK_END)
                carry = b""
                while pos > 0:
                    step = min(1 << 16, pos)
                    pos -= step
                    fh.seek(pos)
                    block = fh.read(step) + carry
                    lines = block.split(b"\n")
                    carry = lines[0] if pos > 0 else b""
                    for line in reversed(lines[1:] if pos > 0 else lines):
                        if not line.endswith(b"}"):
                            continue  # the empty end, a torn tail
                        if not line.startswith(V2) or CHECKPOINT in line[:60]:
                            return out[::-1]
                        out.append(line)
                        if len(out) >= PENDING_MAX:
                            return out[::-1]
        return out[::-1]

    @property
    def last_seq(self) -> int:
        return -1 if self.next_seq is None else self.next_seq - 1

    def _open(self, name: str) -> None:
        self._release()
        while len(_OPEN) >= OPEN_FILES_MAX:
            _k, other = _OPEN.popitem(last=False)
            other._release()
        self._fd = os.open(self.dir / name, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        _OPEN[id(self)] = self
        if name != self.file:
            self.torn_done = False
        self.file = name
        self.size = os.fstat(self._fd).st_size

    def _release(self) -> None:
        """Close the open copy (still ``dirty`` until the next sync)."""
        if self._fd >= 0:
            _OPEN.pop(id(self), None)
            fd, self._fd = self._fd, -1
            os.close(fd)

    def sync(self) -> None:
        """Make what was written durable (the files written since the last sync)."""
        if self.dirty:
            for name in self._unsynced:
                if self._fd >= 0 and name == self.file:
                    os.fdatasync(self._fd)
                    continue
                fd = os.open(self.dir / name, os.O_RDONLY)
                try:
                    os.fdatasync(fd)
                finally:
                    os.close(fd)
        self._unsynced.clear()
        self.dirty = False

    def take_unsynced(self) -> list[Path]:
        """The files written since the last sync, to be fsynced by the caller (outside the
        ingest's lock, by path: an fsync on any descriptor of a file makes its data
        durable); the store counts them clean. A caller whose fsync fails gives them back
        with ``unsynced``."""
        paths = [self.dir / n for n in self._unsynced] if self.dirty else []
        self._unsynced.clear()
        self.dirty = False
        return paths

    def unsynced(self, paths: list[Path]) -> None:
        self._unsynced.update(p.name for p in paths)
        self.dirty = self.dirty or bool(paths)

    def close(self) -> None:
        self.sync()
        self._release()

    # ---- accepting a chunk ---------------------------------------------------------------
    def accept(self, c: Chunk) -> Outcome:
        """Take a chunk. Several hub processes may share a data directory (MQTT 5 shared
        subscriptions, docs/fleet.md): each chunk is taken under the site's lock, from the
        state on disk (re-read when another process moved it)."""
        lock = os.open(self.dir / ".lock", os.O_RDWR | os.O_CREAT, 0o640)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
            self._refresh()
            return self._accept(c)
        finally:
            os.close(lock)  # releases the lock

    def _refresh(self) -> None:
        """Re-read the state when the copy on disk is not where this process left it."""
        files = log_files(self.dir)
        last = files[-1] if files else None
        now = (last.name, last.stat().st_size) if last is not None else (None, 0)
        if now == (self.file, self.size):
            return
        self._release()
        self.file, self.size, self.next_seq, self.mac = None, 0, None, None
        self.torn_done, self.pending = False, []
        self._recover()

    def _accept(self, c: Chunk) -> Outcome:
        out = Outcome()
        data = c.data
        if self.file is not None:
            held, mine = file_order(self.file), file_order(c.file)
            if mine < held or (mine == held and c.end <= self.size):
                out.duplicate = c.n
                return out
            if mine == held:
                if c.offset > self.size or self.torn_done:
                    out.gap = True
                    return out
                skip = self.size - c.offset
                if skip:
                    if data[skip - 1:skip] != b"\n":
                        out.gap = True
                        return out
                    out.duplicate = data[:skip].count(b"\n")
                    data = data[skip:]
            elif c.offset != 0:
                out.gap = True  # a later file, but not from its start
                return out
        elif c.offset != 0:
            out.gap = True  # the hub holds nothing: a site's copy starts at a file's start
            return out
        if c.torn:
            if self.file != c.file:
                self._open(c.file)
            self._write(data)
            self.torn_done = True
            return out
        if not data:
            return out
        return self._append_lines(c.file, data, out)

    def _append_lines(self, name: str, data: bytes, out: Outcome) -> Outcome:
        chain = Chain(self.mac, self.next_seq, self.pending)
        sc = scan(self.verifier, chain, data)
        if sc.why is not None:
            self._reject(name, sc.good_end, data[sc.good_end:], sc.why)
            out.rejected = data[sc.good_end:].count(b"\n")
            out.reason = sc.why
        if sc.good_end:
            if self.file != name:
                self._open(name)
            self._write(data[:sc.good_end])
            self.mac, self.next_seq = chain.prev, chain.nseq
            out.stored = sc.stored
            if sc.mark is not None:  # where the copy stood with nothing left to count
                end, mac, seq = sc.mark
                out.mark = Mark(name, self.size - sc.good_end + end, seq, mac)
        self.uncounted += chain.uncounted
        self.pending = chain.pending
        out.verified = sc.counted
        return out

    def _write(self, data: bytes) -> None:
        if self._fd < 0:
            assert self.file is not None
            self._open(self.file)
        else:
            _OPEN.move_to_end(id(self))
        n = os.write(self._fd, data)
        if n != len(data):
            raise OSError(f"short write to {self.dir / str(self.file)}")
        self.size += n
        self.dirty = True
        assert self.file is not None
        self._unsynced.add(self.file)

    def _reject(self, name: str, at: int, data: bytes, why: str) -> None:
        self.rejected_total += 1
        path = self.dir / "rejected.jsonl"
        try:
            if path.exists() and path.stat().st_size > REJECTED_MAX_BYTES:
                return
            rec = {"received": self._now(), "file": name, "reason": why,
                   "expected_seq": self.next_seq,
                   "lines": data[:65536].decode("utf-8", "backslashreplace")}
            with open(path, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
        except OSError:
            pass
