"""Reading log files: find them, order them, cut them into chunks of whole lines. The I/O
edge of the audit (the scanning itself is pure, in scan.py).

Plain files are cut by byte ranges that each worker reads itself; gzip'd files can only be
read from the start, so the reading process decompresses them and hands out the bytes.
"""

from __future__ import annotations

import gzip
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from ..i18n import _
from ..playlog.format import MAX_LINE
from .model import AuditInputError

FILE_RE = re.compile(r"^signage-(\d{4}-\d{2}-\d{2})(?:\.(\d+))?\.jsonl(\.gz)?$")
CHUNK = 8 << 20
FILE_PATTERN = "signage-YYYY-MM-DD[.N].jsonl[.gz]"


@dataclass(frozen=True, slots=True)
class LogFile:
    path: Path
    name: str  # as on disk
    compressed: bool
    size: int
    #: the log format version of its first record: 1 or 2 (1 when it is neither: the scan
    #: then says what is wrong, as it always did)
    version: int = 1


@dataclass(frozen=True, slots=True)
class Task:
    """One chunk: either a byte range of a plain file, or bytes already read."""

    file_index: int
    offset: int  # where the chunk's first line starts in the (uncompressed) file
    path: str | None = None
    end: int = 0  # plain: lines that start before ``end`` belong to this chunk
    size: int = 0  # plain: the file's size when the audit began
    data: bytes | None = None
    final: bool = False  # data: the file's last chunk


def _key(p: Path) -> tuple[str, int, str]:
    m = FILE_RE.match(p.name)
    assert m is not None
    return m.group(1), int(m.group(2) or 0), p.name


def discover(paths: list[Path]) -> tuple[list[LogFile], bool]:
    """The log files named by ``paths`` (files or directories), in write order, and whether
    all of them came from directories (then a missing last file is a break)."""
    if not paths:
        raise AuditInputError(_("no log given: name log files or a log directory"))
    found: dict[Path, None] = {}
    others: list[Path] = []
    from_dirs = True
    for p in paths:
        if p.is_dir():
            got = [c for c in p.iterdir() if FILE_RE.match(c.name) and c.is_file()]
            if not got:
                raise AuditInputError(_("{path}: no log files ({pattern}) in this directory"
                                        ).format(path=p, pattern=FILE_PATTERN))
            found.update(dict.fromkeys(got))
        elif p.is_file():
            from_dirs = False
            if FILE_RE.match(p.name):
                found[p] = None
            else:
                others.append(p)
        elif p.exists():
            raise AuditInputError(_("{path}: not a regular file or directory").format(path=p))
        else:
            raise AuditInputError(_("{path}: no such file or directory").format(path=p))
    files = sorted(found, key=_key)
    plain: dict[str, Path] = {}
    for f in files:
        base = f.name[:-3] if f.name.endswith(".gz") else f.name
        if base in plain and plain[base] != f:
            raise AuditInputError(_("both {a} and {b} are given: they are the same log file, "
                                    "plain and compressed; keep one").format(a=plain[base], b=f))
        plain[base] = f
    if others:
        if files or len(others) > 1:
            raise AuditInputError(_(
                "{path}: cannot place this file among the log's files; log files are named "
                "{pattern} (as the daemon writes them)").format(path=others[0],
                                                               pattern=FILE_PATTERN))
        files = others
    out = []
    for f in files:
        try:
            size = f.stat().st_size
        except OSError as exc:
            raise AuditInputError(_("{path}: cannot read: {error}").format(
                path=f, error=exc.strerror)) from None
        gz = f.name.endswith(".gz") or _is_gzip(f)
        out.append(LogFile(f, f.name, gz, size, _version(f, gz)))
    return out, from_dirs


_V = re.compile(rb'\{"v":([12]),')


def _version(path: Path, compressed: bool) -> int:
    """The format version of a file's first record (1 unless it is a version-2 record)."""
    try:
        if compressed:
            with gzip.open(path, "rb") as gz:
                head = gz.read(8)
        else:
            with open(path, "rb") as fh:
                head = fh.read(8)
    except (OSError, EOFError, zlib.error):
        return 1  # the scan says what is wrong with it
    m = _V.match(head)
    return int(m.group(1)) if m else 1


def _is_gzip(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            return fh.read(2) == b"\x1f\x8b"
    except OSError as exc:
        raise AuditInputError(_("{path}: cannot read: {error}").format(
            path=path, error=exc.strerror)) from None


def tasks(files: list[LogFile], chunk: int = CHUNK, skip: int = 0) -> Iterator[Task]:
    """The chunks of every file, in order (gzip'd files are decompressed here, lazily).
    ``skip``: bytes at the start of the first file that are not scanned (the first line of
    a partial log: see run.py); every file yields at least one task."""
    for i, f in enumerate(files):
        first = skip if i == 0 else 0
        if f.compressed:
            yield from _gzip_tasks(i, f, chunk, first)
        elif f.size <= first:
            yield Task(i, first, str(f.path), first, f.size)
        else:
            for start in range(first, f.size, chunk):
                yield Task(i, start, str(f.path), min(start + chunk, f.size), f.size)


def _gzip_tasks(i: int, f: LogFile, chunk: int, skip: int = 0) -> Iterator[Task]:
    """Decompressed whole lines, streamed: a line longer than MAX_LINE (a gzip bomb of
    newline-free bytes) is handed on cut to MAX_LINE + 1 bytes (the scan reports it as too
    long) and the rest of it is read past, so memory stays bounded."""
    offset = skip
    carry = b""
    skipping = False  # inside an over-long line already handed on
    try:
        with gzip.open(f.path, "rb") as fh:
            while skip > 0:
                got = fh.read(min(skip, chunk))
                if not got:
                    break
                skip -= len(got)
            while True:
                block = fh.read(chunk)
                if not block:
                    break
                if skipping:
                    nl = block.find(b"\n")
                    if nl < 0:
                        offset += len(block)
                        continue
                    skipping = False
                    offset += nl + 1
                    block = block[nl + 1:]
                buf = carry + block if carry else block
                cut = buf.rfind(b"\n") + 1
                if cut == 0:
                    if len(buf) > MAX_LINE:
                        yield Task(i, offset, data=buf[:MAX_LINE + 1] + b"\n")
                        offset += len(buf)
                        carry = b""
                        skipping = True
                    else:
                        carry = buf
                    continue
                yield Task(i, offset, data=buf[:cut])
                offset += cut
                carry = buf[cut:]
    except (OSError, EOFError, zlib.error) as exc:
        raise AuditInputError(_("{path}: not a readable gzip file ({error})").format(
            path=f.path, error=exc)) from None
    yield Task(i, offset, data=carry, final=True)


def read_task(t: Task) -> tuple[bytes, int, bool]:
    """(bytes of whole lines, offset of the first line, final) for a task. Lines starting
    before ``t.end`` belong to it; the last may run past ``end`` (read up to the size the file
    had when the audit began). The bounds are found first (small reads around ``offset`` and
    ``end``), then the chunk is read at once: one buffer, no copies (8 MiB copies and the
    page faults of their fresh buffers cost as much as the scan)."""
    if t.data is not None:
        return t.data, t.offset, t.final
    assert t.path is not None
    if t.size == 0:
        return b"", 0, True
    with open(t.path, "rb") as fh:
        start = t.offset
        if start > 0:
            nl = _newline(fh, start - 1, t.end)
            if nl < 0:
                return b"", t.end, False  # one long line started before this chunk
            start = nl + 1
        if start >= t.end:
            return b"", t.end, False
        # the last line may run past ``end``, but no further than MAX_LINE: a longer one is
        # cut there (the scan reports it as too long; the next chunks read past it)
        bound = min(t.size, t.end + MAX_LINE + 1)
        nl = _newline(fh, t.end - 1, bound)
        stop = nl + 1 if nl >= 0 else bound
        fh.seek(start)
        data = fh.read(stop - start)
        return data, start, stop >= t.size and not data.endswith(b"\n")


def _newline(fh: BinaryIO, a: int, b: int) -> int:
    """The position of the first newline in [a, b) of the file, or -1."""
    fh.seek(a)
    while a < b:
        block = fh.read(min(1 << 16, b - a))
        if not block:
            break
        i = block.find(b"\n")
        if i >= 0:
            return a + i
        a += len(block)
    return -1
