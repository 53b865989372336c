"""The Parquet dataset regenerated from the byte-identical copies (docs/fleet.md, "The
Parquet dataset"): the copies are the source of truth, the dataset is derived from them.

- `fill` (the hub, on start): the rows a crash lost, i.e. those counted after the site's
  mark in `_marks.json` (the place in the copy up to which its rows were written), are
  counted again from the copy and written, less any seq the partition already holds (a
  crash between a flush's rows and its marks): no row missing, none twice.
- `rebuild` (`signage hub rebuild`): a site's partitions regenerated from its whole copy,
  each partition replaced at once (rename-exchange of the directory), with no hub running.

Counting uses the ingest's own rule (`store.scan`): the same lines are counted.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import fcntl
import os
import secrets
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from ..fleet.protocol import line_seq
from ..i18n import _
from ..playlog.logdir import log_files
from .dataset import (
    DAY_RE,
    partition,
    read_marks,
    showing_values,
    table_of,
    update_marks,
    write_part,
)
from .store import Chain, Mark, Verifier, scan

BLOCK = 1 << 20
RUN_LOCK = ".hub-run.lock"


@dataclass
class Replay:
    rows: dict[str, list[tuple[Any, ...]]]  # day -> rows
    end: Mark | None  # the last place with nothing left to count
    problem: str | None = None  # why the replay stopped before the end of the copy


def _mark_holds(d: Path, m: Mark) -> bool:
    """Whether the copy still ends a line with that seq at that place."""
    path = d / m.file
    try:
        with open(path, "rb") as fh:
            if m.offset < 1 or fh.seek(0, os.SEEK_END) < m.offset:
                return False
            start = max(0, m.offset - 65536)
            fh.seek(start)
            blk = fh.read(m.offset - start)
    except OSError:
        return False
    if not blk.endswith(b"\n"):
        return False
    line = blk[blk.rfind(b"\n", 0, len(blk) - 1) + 1:-1]
    return line_seq(line) == m.seq and line.endswith(b'"' + m.mac + b'"}')


def _blocks(path: Path, offset: int) -> Iterator[tuple[int, bytes]]:
    """(offset, complete lines) of the file from ``offset``; a torn tail is left out."""
    with open(path, "rb") as fh:
        fh.seek(offset)
        carry = b""
        pos = offset
        while True:
            blk = fh.read(BLOCK)
            if not blk:
                return
            data = carry + blk
            cut = data.rfind(b"\n") + 1
            if cut:
                yield pos, data[:cut]
                pos += cut
            carry = data[cut:]


def replay(d: Path, verifier: Verifier, start: Mark | None,
           days: set[str] | None = None) -> Replay:
    """Count the copy in ``d`` from ``start`` (None: its beginning) by the ingest's rule;
    the showing rows per day (only ``days`` if given)."""
    files = log_files(d)
    chain = Chain(None, None)
    if start is not None:
        chain = Chain(start.mac, start.seq + 1)
        names = [p.name for p in files]
        files = files[names.index(start.file):] if start.file in names else []
    out = Replay({}, start)
    for path in files:
        offset = start.offset if start is not None and path.name == start.file else 0
        for at, data in _blocks(path, offset):
            sc = scan(verifier, chain, data)
            for line in sc.counted:
                got = showing_values(line)
                if got is not None and (days is None or got[0] in days):
                    out.rows.setdefault(got[0], []).append(got[1])
            if sc.mark is not None:
                end, mac, seq = sc.mark
                out.end = Mark(path.name, at + end, seq, mac)
            if sc.why is not None:
                out.problem = _("{file} at byte {offset}: {why}").format(
                    file=path.name, offset=at + sc.good_end, why=sc.why)
                return out
    return out


def _held_seqs(root: Path, day: str, site: str) -> set[int]:
    d = partition(root, day, site)
    seqs: set[int] = set()
    for f in sorted(d.glob("*.parquet")) if d.is_dir() else []:
        seqs.update(s for s in pq.read_table(f, columns=["seq"]).column("seq").to_pylist()
                    if s is not None)
    return seqs


def fill(data_dir: Path, verifier_of: Callable[[str], Verifier],
         say: Callable[[str], None]) -> int:
    """Write the rows each site's copy counts after its mark and the dataset lacks; the
    number of rows written. Per site under its lock (another hub process may run)."""
    from ..i18n import _
    from .config import site_dirs

    root = data_dir / "showings"
    written = 0
    for d in site_dirs(data_dir):
        try:
            written += _fill_site(root, d, verifier_of(d.name), say)
        except (OSError, pa.ArrowException) as exc:  # a damaged partition file, a disk error
            say(_("hub: site {site}: the rows a crash may have lost cannot be restored "
                  "({error}); run `signage hub rebuild --site {site}` with the hub "
                  "stopped").format(site=d.name, error=exc))
    return written


def _fill_site(root: Path, d: Path, verifier: Verifier, say: Callable[[str], None]) -> int:
    from ..i18n import _

    site = d.name
    lock = os.open(d / ".lock", os.O_RDWR | os.O_CREAT, 0o640)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        mark = read_marks(root).get(site)
        if mark is not None and not _mark_holds(d, mark):
            say(_("hub: site {site}: the dataset's mark {file}:{offset} is not in the "
                  "copy; its rows are checked from the start of the copy").format(
                      site=site, file=mark.file, offset=mark.offset))
            mark = None
        files = log_files(d)
        if not files or (mark is not None and files[-1].name == mark.file
                         and files[-1].stat().st_size == mark.offset):
            return 0  # nothing after the mark
        rep = replay(d, verifier, mark)
        if rep.problem:
            say(_("hub: site {site}: the copy stops verifying at {where}").format(
                site=site, where=rep.problem))
        n = 0
        for day, rows in sorted(rep.rows.items()):
            held = _held_seqs(root, day, site)
            new = [r for r in rows if r[0] not in held]
            if new:
                table = table_of(new)
                write_part(partition(root, day, site), table, "fill")
                n += table.num_rows
        if rep.end is not None and rep.end != mark:
            update_marks(root, {site: rep.end})
        if n:
            say(_("hub: site {site}: {n} rows restored to the dataset from the copy").format(
                site=site, n=n))
        return n
    finally:
        os.close(lock)


# ---- rebuild ---------------------------------------------------------------------------

_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(a: Path, b: Path) -> bool:
    """Swap two directories atomically (Linux renameat2 RENAME_EXCHANGE); False when the
    system or the file system cannot."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return False
    rc = fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    if rc == 0:
        return True
    e = ctypes.get_errno()
    if e in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
        return False
    raise OSError(e, os.strerror(e), str(a))


def replace_partition(root: Path, day: str, site: str, table: pa.Table | None) -> None:
    """Make ``table`` the whole partition (None or no rows: remove it), at once: a reader
    sees the old files or the new one, never a mix."""
    final = partition(root, day, site)
    new = final.parent / f".site={site}.new-{secrets.token_hex(4)}"
    if table is not None and table.num_rows:
        write_part(new, table, "rebuild")
    else:
        new.mkdir(parents=True)
    if final.exists():
        if not _exchange(new, final):  # no exchange: a short window with no partition
            old = final.parent / f".site={site}.old-{secrets.token_hex(4)}"
            final.rename(old)
            new.rename(final)
            new = old
        shutil.rmtree(new)
    else:
        new.rename(final)
    if table is None or not table.num_rows:
        shutil.rmtree(final, ignore_errors=True)


class HubRunning(Exception):
    pass


def hold_run_lock(data_dir: Path, exclusive: bool) -> int:
    """The data directory's run lock: a hub holds it shared while it runs, a rebuild
    exclusively. Returns the descriptor (closing it releases); raises HubRunning."""
    data_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(data_dir / RUN_LOCK, os.O_RDWR | os.O_CREAT, 0o640)
    try:
        fcntl.flock(fd, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise HubRunning(str(data_dir)) from None
    return fd


def rebuild(data_dir: Path, verifier_of: Callable[[str], Verifier], sites: list[str],
            day: str | None, say: Callable[[str], None]) -> int:
    """Regenerate the partitions of ``sites`` (of ``day`` only, if given) from the copies;
    the number of rows written. The caller holds the run lock exclusively."""
    from ..i18n import _

    root = data_dir / "showings"
    total = 0
    for site in sites:
        d = data_dir / site
        rep = replay(d, verifier_of(site), None, {day} if day else None)
        if rep.problem:
            say(_("site {site}: the copy stops verifying at {where}; rows up to there").format(
                site=site, where=rep.problem))
        held = {p.parent.name[5:] for p in root.glob(f"date=*/site={site}")
                if DAY_RE.match(p.parent.name[5:])} if root.is_dir() else set()
        for dd in sorted((held | set(rep.rows)) if day is None else {day}):
            rows = rep.rows.get(dd, [])
            table = table_of(rows) if rows else None
            replace_partition(root, dd, site, table)
            n = table.num_rows if table is not None else 0
            total += n
            say(_("site {site}, {day}: {n} rows").format(site=site, day=dd, n=n))
        if day is None:
            update_marks(root, {site: rep.end})
    return total
