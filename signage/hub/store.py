"""The hub's copy of one site's log: verify each line before it is counted, append what
verifies byte-identical to `<data>/<site>/<file>`, put what does not apart in `rejected.jsonl`,
drop what is already held (by file, offset and seq). See docs/fleet.md.

The hub's copy holds only lines that verified, in order, so on restart its state (file, size,
next seq, last digest) is read back from its own files.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..fleet.protocol import Chunk, file_order, line_seq
from ..playlog import format as fmt
from ..playlog.logdir import log_files, tail

#: a site's rejected.jsonl stops growing here (later rejections are only counted)
REJECTED_MAX_BYTES = 64 << 20
SITE_KEYS = (b'"type":"run_start"', b'"type":"reload"')


@dataclass
class Outcome:
    stored: int = 0  # lines appended to the copy
    duplicate: int = 0  # lines already held
    gap: bool = False  # the chunk does not continue the copy (ignored; the box resends)
    rejected: int = 0
    reason: str = ""
    verified: list[bytes] = field(default_factory=list)  # the stored lines (no newline)


class Verifier:
    """Checks one line against the previous record's digest. The log v1 chain needs the
    site key (HMAC-SHA256); returns the line's digest, or a reason it does not verify."""

    def __init__(self, v1_key: bytes | None) -> None:
        self._hmac = fmt.Hmac(v1_key) if v1_key is not None else None

    def check(self, prev: bytes | None, line: bytes) -> bytes | str:
        parts = fmt.split(line)
        if parts is None:
            return "malformed: not shaped like a log record"
        prefix, mac = parts
        if not line.startswith(b'{"v":1,'):
            return "log format version this hub cannot verify"
        if self._hmac is None:
            return "no key registered for this site: nothing can be verified"
        if prev is None:  # the first record the hub holds of a log that began earlier
            return mac
        if self._hmac.hexmac(prev, prefix) != mac:
            return "digest: the line does not verify under the site key after the previous one"
        return mac


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
        self.rejected_total = 0
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
                    return

    @property
    def last_seq(self) -> int:
        return -1 if self.next_seq is None else self.next_seq - 1

    def _open(self, name: str) -> None:
        if self._fd >= 0:
            os.fsync(self._fd)
            os.close(self._fd)
        self._fd = os.open(self.dir / name, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        self.file = name
        self.size = os.fstat(self._fd).st_size
        self.torn_done = False

    def sync(self) -> None:
        if self._fd >= 0 and self.dirty:
            os.fdatasync(self._fd)
        self.dirty = False

    def close(self) -> None:
        if self._fd >= 0:
            self.sync()
            os.close(self._fd)
            self._fd = -1

    # ---- accepting a chunk ---------------------------------------------------------------
    def accept(self, c: Chunk) -> Outcome:
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
        good_end = 0
        prev, nseq = self.mac, self.next_seq
        pos = 0
        lines: list[bytes] = []
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
                if prev is None and seq == 0:
                    prev = fmt.GENESIS
                res = self.verifier.check(prev, line)
                if isinstance(res, str):
                    why = res
                else:
                    why = self._site_mismatch(line)
                    if why is None:
                        prev, nseq = res, seq + 1
            if why is not None:
                self._reject(name, pos, data[pos:], why)
                out.rejected = data[pos:].count(b"\n")
                out.reason = why
                break
            lines.append(line)
            pos = nl + 1
            good_end = pos
        if good_end:
            if self.file != name:
                self._open(name)
            self._write(data[:good_end])
            self.mac, self.next_seq = prev, nseq
            out.stored = len(lines)
            out.verified = lines
        return out

    def _site_mismatch(self, line: bytes) -> str | None:
        if not any(k in line[:120] for k in SITE_KEYS):
            return None
        try:
            rec: dict[str, Any] = fmt.decode(line)
        except ValueError:
            return "malformed: a run_start/reload that is not JSON"
        site = rec.get("site")
        sid = site.get("id") if isinstance(site, dict) else None
        if rec.get("type") == "reload" and not rec.get("accepted"):
            return None
        if sid != self.site:
            return (f"site: the record names site {sid!r}, the topic and the credentials "
                    f"are {self.site!r}")
        return None

    def _write(self, data: bytes) -> None:
        if self._fd < 0:
            assert self.file is not None
            self._open(self.file)
        n = os.write(self._fd, data)
        if n != len(data):
            raise OSError(f"short write to {self.dir / str(self.file)}")
        self.size += n
        self.dirty = True

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
