"""The log directory as one daemon's property: its lock, the chain it holds, and whether a
key and a mode may continue that chain. Checked before anything is written, so a slip (a
second daemon, `simulate --log` on the real log, a lost key) is refused, never survived.

- ``claim``: an exclusive ``flock`` on ``<dir>/.lock``, held for the writer's life; the
  holder's pid is written in it, so a second daemon names the first.
- ``tail``: the last complete lines of a file and its torn bytes, read backwards with a bound
  (``format.MAX_LINE``): a hostile newest file (100 MB without a newline) costs one streamed
  pass, never its size in memory.
- ``chain_key``: load the key, or create it only where no chain exists yet; a key that does
  not verify the chain's last records is refused, and so is a missing key next to a chain.
- ``check_mode``: a log written by `signage run` is never continued by `signage simulate`,
  nor the other way round.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import itertools
import os
import re
from dataclasses import dataclass
from pathlib import Path

from ..i18n import _
from . import format as fmt
from .keyfile import KeyFileError, create_or_load_key, load_key
from .lines import WHOLE, bounded_lines

LOCK_NAME = ".lock"
NEW_CHAIN_NOTE = ".new-chain.json"
FILE_RE = re.compile(r"^signage-(\d{4}-\d{2}-\d{2})(?:\.(\d+))?\.jsonl$")
_BLOCK = 1 << 16


class LogDirError(Exception):
    """The log directory cannot be used as asked; the message says why and what to do."""


def log_files(log_dir: Path) -> list[Path]:
    """The log's plain files in write order (by date, then part)."""
    found: list[tuple[str, int, Path]] = []
    if log_dir.is_dir():
        for p in log_dir.iterdir():
            m = FILE_RE.match(p.name)
            if m and p.is_file():
                found.append((m.group(1), int(m.group(2) or 0), p))
    return [p for _d, _n, p in sorted(found)]


def file_version(path: Path) -> int | None:
    """The format version of a log file's first record (None: empty or unreadable)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(16)
    except OSError:
        return None
    m = re.match(rb'\{"v":(\d+),', head)
    return int(m.group(1)) if m else None


# ---- the lock --------------------------------------------------------------------------------
def claim(log_dir: Path, field: str = "[log] dir") -> int:
    """Make the directory if needed and lock it; returns the lock's file descriptor (closing
    it releases the lock). Raises LogDirError naming the holder's pid."""
    if log_dir.exists() and not log_dir.is_dir():
        raise LogDirError(_("{field} = {dir}: is not a directory; name a directory for the "
                            "log").format(field=field, dir=log_dir))
    try:
        log_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(log_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o640)
    except OSError as exc:
        raise LogDirError(_("{field} = {dir}: cannot use it: {why}").format(
            field=field, dir=log_dir, why=exc.strerror or exc)) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
        os.close(fd)
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
            raise LogDirError(_("the log directory {dir} is in use by another signage process "
                                "(pid {pid}); stop it first").format(dir=log_dir, pid=holder)
                              ) from None
        raise LogDirError(_("{dir}: cannot lock: {why}").format(dir=log_dir, why=exc.strerror)
                          ) from None
    try:  # best effort: on a full disk the lock holds without the pid
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    except OSError:
        pass
    return fd


# ---- reading the end of a file -------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Tail:
    lines: list[bytes]  # the last complete lines (up to ``want``), oldest first
    torn_offset: int  # where the bytes after the last newline start (= size: none)
    torn_length: int
    torn_sha256: str


def _rfind_newline(fd: int, end: int, stop: int) -> int:
    """The last newline in [stop, end) of the file, or -1."""
    pos = end
    while pos > stop:
        a = max(stop, pos - _BLOCK)
        blk = os.pread(fd, pos - a, a)
        i = blk.rfind(b"\n")
        if i >= 0:
            return a + i
        pos = a
    return -1


def tail(path: Path, want: int = 2) -> Tail:
    """The last ``want`` complete lines of the file (a line longer than MAX_LINE ends the
    search) and its torn bytes (hashed as a stream)."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        size = os.fstat(fd).st_size
        last_nl = _rfind_newline(fd, size, 0)
        torn_at = last_nl + 1
        h = hashlib.sha256()
        pos = torn_at
        while pos < size:
            blk = os.pread(fd, min(1 << 20, size - pos), pos)
            if not blk:
                break
            h.update(blk)
            pos += len(blk)
        lines: list[bytes] = []
        end = last_nl  # the newline that ends the line being looked for
        while end >= 0 and len(lines) < want:
            nl = _rfind_newline(fd, end, max(0, end - fmt.MAX_LINE - 1))
            start = nl + 1
            if nl < 0 and end - fmt.MAX_LINE - 1 > 0:
                break  # an over-long line: nothing before it is looked at
            lines.insert(0, os.pread(fd, end - start, start))
            end = nl
        return Tail(lines, torn_at, size - torn_at, h.hexdigest())
    finally:
        os.close(fd)


def last_record(path: Path) -> bytes | None:
    """The file's last line shaped like a record (read forwards, bounded), or None."""
    good: bytes | None = None
    with open(path, "rb") as fh:
        for line, kind in bounded_lines(fh):
            if kind == WHOLE and fmt.split(line) is not None:
                good = line
    return good


# ---- the chain, its key and its mode -------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ChainEnd:
    file: Path
    seq: int
    last: bytes  # the chain's last record line
    pairs: list[tuple[bytes, bytes]]  # (claimed digest before, line) of the last records


def chain_end(files: list[Path]) -> ChainEnd | None:
    """The last records of the chain in these files (the file whose last record has the
    highest seq), or None when no file holds a record."""
    best: tuple[int, int, Path, list[bytes]] | None = None
    for i, path in enumerate(files):
        try:
            got = tail(path, 3).lines
            lines = [ln for ln in got if fmt.split(ln) is not None]
            if not lines and got:  # damaged at its end: the last good record before it
                good = last_record(path)
                lines = [good] if good is not None else []
        except OSError:
            continue
        if not lines:
            continue
        seq = _seq(lines[-1])
        # the highest seq; on a tie (a copy of a file under a later name) the earlier file
        if seq is not None and (best is None or seq > best[0]):
            best = (seq, i, path, lines)
    if best is None:
        return None
    seq, i, path, lines = best
    pairs: list[tuple[bytes, bytes]] = []
    for a, b in itertools.pairwise(lines):
        pa = fmt.split(a)
        assert pa is not None
        pairs.append((pa[1], b))
    if len(lines) == 1:
        if seq == 0:
            pairs.append((fmt.GENESIS, lines[0]))
        elif i > 0:  # the file's first record: the one before is the previous file's last
            prev = tail(files[i - 1], 1).lines
            pp = fmt.split(prev[-1]) if prev else None
            if pp is not None:
                pairs.append((pp[1], lines[0]))
    return ChainEnd(path, seq, lines[-1], pairs)


def _seq(line: bytes) -> int | None:
    try:
        seq = fmt.decode(line).get("seq")
    except ValueError:
        return None
    return seq if isinstance(seq, int) and not isinstance(seq, bool) else None


def chain_key(key_path: Path, log_dir: Path, command: str = "signage new-chain") -> bytes:
    """The key that continues the chain in ``log_dir``: loaded, or created where no chain
    exists. Refused (LogDirError) when the chain exists and the key is missing or does not
    verify its last records: a lost or replaced key never continues someone else's chain."""
    end = chain_end(log_files(log_dir))
    if end is None:
        try:
            return create_or_load_key(key_path)
        except KeyFileError as exc:
            raise LogDirError(str(exc)) from None
    if not key_path.exists():
        raise LogDirError(_(
            "the key file {key} is missing, but the log in {dir} holds a chain (seq {seq} in "
            "{file}): restore the key that wrote it, or start a new chain deliberately "
            "({command})").format(key=key_path, dir=log_dir, seq=end.seq, file=end.file.name,
                                  command=command))
    try:
        key = load_key(key_path)
    except KeyFileError as exc:
        raise LogDirError(str(exc)) from None
    if end.pairs and not any(fmt.verify(key, prev, line) for prev, line in end.pairs) \
            and not _any_pair_verifies(key, end.file):
        raise LogDirError(_(
            "the key file {key} does not verify the log in {dir} (its last records, seq {seq} "
            "in {file}): the key was lost or replaced, or this is another log. Restore the key "
            "that wrote it, or start a new chain deliberately ({command})").format(
                key=key_path, dir=log_dir, seq=end.seq, file=end.file.name, command=command))
    return key


def _any_pair_verifies(key: bytes, path: Path) -> bool:
    """Whether any record of the file chains on the one before it under ``key``. The last
    records were damaged (a bad sector, a power cut): the key still verifies the rest, while
    a wrong key verifies nothing. Stops at the first that verifies."""
    prev: bytes | None = None
    with open(path, "rb") as fh:
        for line, kind in bounded_lines(fh):
            parts = fmt.split(line) if kind == WHOLE else None
            if parts is None:
                prev = None
                continue
            if (prev is not None and fmt.verify(key, prev, line) is not None) or (
                    line.startswith(b'{"v":1,"seq":0,') and fmt.verify(key, fmt.GENESIS, line)):
                return True
            prev = parts[1]
    return False


def check_mode(log_dir: Path, mode: str) -> None:
    """Refuse to write ``mode`` (run or simulate) records into a log of the other mode."""
    for path in log_files(log_dir):
        try:
            with open(path, "rb") as fh:
                first = next(bounded_lines(fh), None)
        except OSError:
            continue
        if first is None or first[1] != WHOLE or b'"type":"run_start"' not in first[0][:200]:
            continue
        try:
            other = fmt.decode(first[0]).get("mode")
        except ValueError:
            continue
        if isinstance(other, str) and other != mode:
            raise LogDirError(
                _("{dir} holds a log of mode = {other} ({file}); a {mode} log is never written "
                  "into it").format(dir=log_dir, other=other, file=path.name, mode=mode)
                + (_(": give simulate its own --log directory") if mode == "simulate" else ""))


def read_new_chain_note(log_dir: Path) -> dict[str, object] | None:
    """The note `signage new-chain` left for the next start (None: none)."""
    p = log_dir / NEW_CHAIN_NOTE
    try:
        with open(p, "rb") as fh:
            raw = fh.read(1 << 16)
        note = fmt.loads(raw)
    except (OSError, ValueError):
        return None
    return note if isinstance(note, dict) else None
