"""Where an audit's yardstick starts: the first configuration record of the log (run_start
or an accepted reload) that verifies, the seed of a log given from seq > 0, and the
registered profile of the trust file. Split from run.py (which reads and stitches)."""

from __future__ import annotations

import gzip
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ..i18n import _
from ..playlog import format as fmt
from ..playlog.lines import WHOLE, bounded_lines
from ..trust import Trust
from .model import AuditInputError
from .reader import LogFile
from .state import read_config
from .yardstick import Yardstick


def _lines(f: LogFile) -> Iterator[bytes]:
    """The file's lines without their newlines, each at most MAX_LINE bytes (a longer one is
    cut, and is damage: it cannot be a record)."""
    try:
        fh = gzip.open(f.path, "rb") if f.compressed else open(f.path, "rb")  # noqa: SIM115
        with fh:
            for line, _kind in bounded_lines(fh):
                yield line
    except (OSError, EOFError, zlib.error) as exc:
        raise AuditInputError(_("{path}: cannot read: {error}").format(path=f.path,
                                                                       error=exc)) from None


@dataclass(frozen=True, slots=True)
class Seed:
    """The first record of a log given from seq > 0 (older files removed or not given): its
    digest cannot be checked, so it is never scanned or used; its claimed digest only starts
    the chain. ``skip``: its bytes with the newline."""
    file: str
    skip: int
    seq: int
    mac: bytes
    rtype: str


def partial_seed(files: list[LogFile]) -> Seed | None:
    """The Seed of a partial log, or None (the log starts at seq 0, or its first line is not
    a record: then the scan reports what it is)."""
    if not files:
        return None
    f = files[0]
    try:
        fh = gzip.open(f.path, "rb") if f.compressed else open(f.path, "rb")  # noqa: SIM115
        with fh:
            first = next(bounded_lines(fh), None)
    except (OSError, EOFError, zlib.error):
        return None  # the scan says what is wrong with the file
    if first is None or first[1] != WHOLE:
        return None
    line = first[0]
    parts, m, hm = fmt.split(line), _SEQ.match(line), _HEAD.match(line)
    if parts is None or m is None or hm is None or m.group(1) == b"0":
        return None
    return Seed(f.name, len(line) + 1, int(m.group(1)), parts[1],
                hm.group(2).decode("ascii", "replace"))


@dataclass
class FirstConfig:
    """The configuration the audit starts from, and what was wrong with the ones passed over."""
    #: the first run_start (or accepted reload) that verifies and can be read; failing that,
    #: the first that can be read (its digest does not verify or cannot be checked); or None
    record: dict[str, Any] | None = None
    verified: bool = False
    #: (file name, line, seq or None, message) of the first unusable one
    unusable: tuple[str, int, int | None, str] | None = None


_SEQ = re.compile(rb'\{"v":[12],"seq":(\d+),')
_HEAD = re.compile(rb'\{"v":(\d+),"seq":\d+,"type":"([a-z_]+)",')
_TYPES = frozenset({b"run_start", b"torn_tail", b"showing_start", b"showing", b"driver_error",
                    b"screen_down", b"screen_up", b"screen_clear", b"driver_event", b"reload",
                    b"heartbeat", b"clock_step", b"dropped", b"run_stop", b"seal"})


def first_config(files: list[LogFile], v1_key: bytes | None, seed: Seed | None = None, *,
                 need: bool = True) -> FirstConfig:
    """The first run_start (or accepted reload) record whose digest verifies and that can be
    read: the site, its rule and hours. Usually the log's first line; a log that starts later
    (older files removed) or whose first run_start is damaged is searched on. A damaged record
    is never trusted while a verified one follows; with none verified, the first readable one
    is used (the log is then not intact anyway: its figures are untrusted)."""
    seen_record = False
    seen_config = False
    first_line = True
    first_damaged = False
    first_path = files[0].path if files else None
    skipped = 0  # lines not shaped like records before the first that is
    got = FirstConfig()
    fallback: dict[str, Any] | None = None
    prev: bytes | None = None  # the claimed digest of the line before
    check_next: bytes | None = None  # the fallback's digest: does the next line chain on it?
    if seed is not None:  # its first record is never trusted: the chain starts from it
        seen_record, first_line, prev = True, False, seed.mac
    for fi, f in enumerate(files):
        key = v1_key if f.version == fmt.VERSION else None
        for n, line in enumerate(_lines(f), 1):
            if seed is not None and fi == 0 and n == 1:
                continue
            parts = fmt.split(line)
            if not seen_record:
                if first_line:
                    first_line = False
                    hm = _HEAD.match(line)
                    if parts is None or hm is None or hm.group(2) not in _TYPES:
                        # the log's first line is damaged: it may have been the run_start
                        first_damaged = True
                        first_path = f.path
                if parts is None:
                    skipped += 1
                    if skipped >= 1000:
                        break
                    continue
                seen_record = True
                m = _SEQ.match(line)
                # seq 0 chains on the genesis digest; the first record of a log whose older
                # files were removed cannot be checked (a damaged seq is checked as seq 0)
                prev = None if m is not None and m.group(1) != b"0" else fmt.GENESIS
            mac = parts[1] if parts is not None else None
            if check_next is not None:
                # the line after an unverified fallback: if it chains on the fallback's
                # digest, the key is right and the fallback was damaged (search on for a
                # verified one); if not, the key is probably wrong: nothing will verify
                if fmt.verify(key, check_next, line) is None:
                    got.record = fallback
                    return got
                check_next = None
            head = line[:200]
            if b'"type":"run_start"' in head or b'"type":"reload"' in head:
                why: str | None = None
                rec = _decoded(line)
                if isinstance(rec, str):
                    why = rec
                    seen_config = seen_config or b'"type":"run_start"' in head
                elif rec.get("v") != f.version:
                    # a whole file of another version is refused by the scan (exit 3); a
                    # single record of another version among v1 records is damage
                    why = _("log format version {version!r}").format(version=rec.get("v"))
                elif rec.get("type") == "run_start" or rec.get("accepted") is True:
                    seen_config = True
                    problem = read_config(rec, {})
                    if isinstance(problem, str):
                        why = problem
                    elif prev is not None and fmt.verify(key, prev, line) is not None:
                        got.record, got.verified = rec, True
                        return got
                    elif fallback is None:
                        fallback, check_next = rec, mac
                if why is not None and got.unusable is None:
                    m = _SEQ.match(line)
                    got.unusable = (f.name, n, int(m.group(1)) if m is not None else None,
                                    why)
            prev = mac if mac is not None else b"-"  # (nothing verifies on a damaged line)
    if not seen_record:
        if first_damaged:
            raise AuditInputError(_("{path}: not a signage log (no line is a record of log "
                                    "format v1 or v2)").format(path=first_path))
        raise AuditInputError(_("the log files given are empty"))
    if fallback is not None:
        got.record = fallback
        return got
    if not seen_config and not first_damaged and need:
        if seed is not None and seed.rtype in ("run_start", "reload"):
            raise AuditInputError(_(
                "the only {type} record in the files given is the first record ({file}, seq "
                "{seq}) of a log whose older files are not given: its digest cannot be "
                "checked, so the site, its rule and opening hours are unknown; give the files "
                "before it, or the site's registered profile (--trust FILE)").format(
                    type=seed.rtype, file=seed.file, seq=seed.seq))
        raise AuditInputError(_("no run_start record in the files given: the site, its rule "
                                "and opening hours are unknown; include the file where the "
                                "daemon started"))
    return got


def profile_of(trust: Trust, verified: dict[str, Any] | None, config: dict[str, Any] | None,
             ) -> tuple[Yardstick | None, dict[str, Any] | None]:
    """The registered profile of the log's site (named by the first verified configuration;
    without one, the trust file's only profile) as the yardstick, and the configuration to
    start from (the log's, or one made from the profile when no record can be trusted)."""
    with_profile = [s for s in trust.sites.values() if s.profile is not None]
    if verified is not None:
        sid = str((verified.get("site") or {}).get("id"))
        site = trust.site(sid)
        if site is None or site.profile is None:
            return None, config  # said by the caller: the log's own configuration is used
    elif len(with_profile) == 1:
        site = with_profile[0]
    else:
        raise AuditInputError(_("--trust: no verified record names the log's site, and the "
                                "trust file holds {n} site profiles: give a trust file with "
                                "this site's profile only").format(n=len(with_profile)))
    p = site.profile
    assert p is not None
    ys = Yardstick(p.timezone, p.max_gap_s, p.measure, p.hours, p.screens)
    if verified is None:
        config = {"type": "profile", "seq": None,
                  "site": {"id": site.id, "name": site.name or site.id, "tz": p.timezone},
                  "rule": {"max_gap_s": p.max_gap_s, "margin_s": 0.0, "measure": p.measure},
                  "hours": p.hours.model_dump(mode="json"),
                  "screens": [{"id": sid} for sid in p.screens]}
    assert config is not None
    return ys, config


def _decoded(line: bytes) -> dict[str, Any] | str:
    """The decoded record, or why it cannot be decoded."""
    try:
        rec = fmt.decode(line)
    except ValueError as exc:
        return _("a run_start record cannot be read: not valid JSON ({exc})").format(exc=exc)
    rec.pop("mac", None)
    return rec


# ---- clock steps: one continuous timeline per boot ------------------------------------------
