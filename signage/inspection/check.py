"""Checking an inspection code: from a photo (zxing-cpp), against a trust file, the photo's
time and, when at hand, the site's log. The decision (``check``) is pure; reading photos and
logs is the thin shell around it.

A photo is hostile input: its size is bounded before it is decoded, Pillow's decompression
bomb check stays on, and every failure is an InspectError with a message naming the file.
"""

from __future__ import annotations

import gzip
import json
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import IO, cast
from zoneinfo import ZoneInfo

from PIL import Image, ImageOps

from ..i18n import N_, _
from ..trust import Trust
from .statement import SignedStatement, StatementError, Verdict, parse, verify

MAX_PHOTO_BYTES = 40 * 1024 * 1024
MAX_PHOTO_PIXELS = 60_000_000
#: EXIF tags: the Exif IFD, DateTimeOriginal, OffsetTimeOriginal
_EXIF_IFD = 0x8769
_DATETIME_ORIGINAL = 0x9003
_OFFSET_ORIGINAL = 0x9011
_DATETIME = 0x0132


class InspectError(Exception):
    """The input cannot be checked at all (no photo, no code, unreadable log)."""


def read_codes(path: Path) -> list[str]:
    """The texts of the QR codes zxing-cpp finds in the photo (EXIF rotation applied)."""
    import zxingcpp  # imported here: only `signage inspect` and the hub page need it

    try:
        size = path.stat().st_size
    except OSError as exc:
        raise InspectError(_("{path}: cannot read the photo: {error}")
                           .format(path=path, error=exc.strerror)) from None
    if size > MAX_PHOTO_BYTES:
        raise InspectError(_("{path}: {size} bytes; a photo may have at most {limit} MiB")
                           .format(path=path, size=size, limit=MAX_PHOTO_BYTES // (1024 * 1024)))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            src = Image.open(path)
        with src:
            if src.width * src.height > MAX_PHOTO_PIXELS:
                raise InspectError(_("{path}: {width}x{height} pixels; at most {limit} megapixels")
                                   .format(path=path, width=src.width, height=src.height,
                                           limit=MAX_PHOTO_PIXELS // 1_000_000))
            img = ImageOps.exif_transpose(src).convert("L")
    except InspectError:
        raise
    except Image.DecompressionBombError:
        raise InspectError(_("{path}: too many pixels; a photo may have at most {limit} "
                             "megapixels").format(path=path,
                                                  limit=MAX_PHOTO_PIXELS // 1_000_000)) from None
    except (OSError, ValueError) as exc:
        raise InspectError(_("{path}: not a readable image ({error})")
                           .format(path=path, error=exc)) from None
    found = zxingcpp.read_barcodes(img, formats=zxingcpp.barcode_formats_from_str("QRCode"))
    return [r.text for r in found if r.valid and r.text]


def photo_time(path: Path, tz: ZoneInfo) -> datetime | None:
    """When the photo was taken: EXIF DateTimeOriginal (else DateTime) with its offset, or
    in ``tz`` when the photo has no offset; None when the photo has no time at all."""
    try:
        if path.stat().st_size > MAX_PHOTO_BYTES:
            return None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as src:
                exif = src.getexif()
    except (OSError, ValueError, Image.DecompressionBombError):
        return None
    sub = exif.get_ifd(_EXIF_IFD)
    raw = sub.get(_DATETIME_ORIGINAL) or exif.get(_DATETIME)
    if not isinstance(raw, str):
        return None
    try:
        t = datetime.strptime(raw.strip().rstrip("\x00"), "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None
    off = sub.get(_OFFSET_ORIGINAL)
    m = re.fullmatch(r"([+-])(\d\d):(\d\d)", off.strip().rstrip("\x00")) if isinstance(
        off, str) else None
    if m:
        delta = timedelta(hours=int(m.group(2)), minutes=int(m.group(3)))
        return t.replace(tzinfo=timezone(delta if m.group(1) == "+" else -delta))
    return t.replace(tzinfo=tz)


# ---- the log's head at a seq -----------------------------------------------------------------
_FIRST_SEQ = re.compile(rb'"seq":(\d{1,19}),')


def _log_files(log_dir: Path) -> list[Path]:
    """The log's files in write order: by date, then part (``signage-DATE[.N].jsonl[.gz]``)."""
    def order(p: Path) -> tuple[str, int]:
        stem = p.name.removesuffix(".gz").removesuffix(".jsonl").removeprefix("signage-")
        day, _dot, part = stem.partition(".")
        return day, int(part) if part.isdigit() else 0

    return sorted((p for p in log_dir.iterdir() if p.name.startswith("signage-")
                   and p.name.endswith((".jsonl", ".jsonl.gz")) and p.is_file()), key=order)


def _open(p: Path) -> IO[bytes]:
    if p.name.endswith(".gz"):
        return cast(IO[bytes], gzip.GzipFile(p, "rb"))
    return open(p, "rb")


def _first_seq(p: Path) -> int | None:
    with _open(p) as fh:
        m = _FIRST_SEQ.search(fh.readline(1 << 16))
    return int(m.group(1)) if m else None


def log_mac_at(log_dir: Path, seq: int) -> tuple[str, str] | None:
    """(file name, mac) of the record with ``seq`` in the log directory, or None. Reads one
    file: the last whose first record's seq is at most ``seq`` (seqs grow across files)."""
    if not log_dir.is_dir():
        raise InspectError(_("{path}: not a log directory").format(path=log_dir))
    needle = f'"seq":{seq},'.encode()
    try:
        files = _log_files(log_dir)
        firsts = [_first_seq(p) for p in files]
        cand = [p for p, f in zip(files, firsts, strict=True) if f is not None and f <= seq]
        for path in cand[-1:]:
            with _open(path) as fh:
                for line in fh:
                    if needle not in line:
                        continue
                    try:
                        rec = json.loads(line)
                    except ValueError:
                        continue
                    if isinstance(rec, dict) and rec.get("seq") == seq and isinstance(
                            rec.get("mac"), str):
                        return path.name, rec["mac"]
    except (OSError, EOFError) as exc:
        raise InspectError(_("{path}: cannot read the log: {error}")
                           .format(path=log_dir, error=exc)) from None
    return None


def hub_head(base_url: str, site: str, seq: int) -> tuple[str, str] | None:
    """(file, mac) of record ``seq`` in the hub's copy of ``site``'s log, from the hub's
    ``/api/head/<site>/<seq>`` (signage/inspection/web.py); None when the hub has no such
    record. The answer is bounded and checked like any network input."""
    import urllib.error
    import urllib.parse
    import urllib.request

    if not base_url.startswith(("http://", "https://")):
        raise InspectError(_("--hub {url}: expected an http:// or https:// URL")
                           .format(url=repr(base_url)))
    url = (base_url.rstrip("/") + "/api/head/" + urllib.parse.quote(site, safe="")
           + f"/{seq}")
    try:
        with urllib.request.urlopen(url, timeout=15) as resp:  # noqa: S310 (scheme checked)
            body = resp.read(4097)
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return None
        raise InspectError(_("{url}: the hub answered HTTP {code}")
                           .format(url=url, code=exc.code)) from None
    except (urllib.error.URLError, OSError) as exc:
        raise InspectError(_("{url}: cannot reach the hub ({error})")
                           .format(url=url, error=exc)) from None
    try:
        doc = json.loads(body[:4096])
        mac, name = doc["mac"], doc["file"]
    except (ValueError, KeyError, TypeError):
        raise InspectError(_("{url}: not a hub's answer").format(url=url)) from None
    if not (isinstance(mac, str) and re.fullmatch(r"[0-9a-f]{64}", mac)
            and isinstance(name, str) and len(name) < 200 and doc.get("seq") == seq):
        raise InspectError(_("{url}: not a hub's answer").format(url=url))
    return name, mac


# ---- the decision -----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Finding:
    ok: bool
    code: str  # stable: see statement.Verdict, plus head_mismatch, head_missing
    message: str  # English template for signage.i18n._
    fields: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Report:
    signed: SignedStatement
    findings: tuple[Finding, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return all(f.ok for f in self.findings)


HeadLookup = Callable[[int], tuple[str, str] | None]


def check(text: str, trust: Trust, at: int | None,
          head_at: HeadLookup | None = None, *, pending_ok: bool = False) -> Report:
    """Decode and judge one code's text. Raises StatementError when it is not a code.
    ``pending_ok``: a log copy that does not reach the code's seq yet (the hub's, seconds
    behind the box) is not a finding against the code; the head is checked when it arrives."""
    signed = parse(text)
    v: Verdict = verify(signed, trust, at)
    findings = [Finding(v.ok, v.code, v.message, v.fields)]
    st = signed.statement
    if v.ok and at is None:
        findings.append(Finding(False, "no_time", N_("the photo's time is unknown: freshness "
                                "not checked (give the time of the photo)")))
    if v.ok and head_at is not None:
        got = head_at(st.seq)
        if got is None and pending_ok:
            findings.append(Finding(
                True, "head_pending", N_("the log up to seq {seq} has not reached the hub yet; "
                "this scan is kept as a witness and checked when it arrives"),
                (("seq", str(st.seq)),)))
        elif got is None:
            findings.append(Finding(
                False, "head_missing",
                N_("the log has no record with seq {seq}: cut or replaced after the inspection"),
                (("seq", str(st.seq)),)))
        else:
            name, mac = got
            if mac[:32].lower() != st.head.hex():
                findings.append(Finding(
                    False, "head_mismatch",
                    N_("the log's chain head at seq {seq} ({file}: {log}…) differs from the "
                    "code's ({code}…): the log was rewritten after the inspection"),
                    (("seq", str(st.seq)), ("file", name), ("log", mac[:32]),
                     ("code", st.head.hex()))))
            else:
                findings.append(Finding(True, "", N_("the log's chain head at seq {seq} "
                                        "({file}) equals the code's"),
                                        (("seq", str(st.seq)), ("file", name))))
    return Report(signed, tuple(findings))


__all__ = [
    "Finding",
    "InspectError",
    "Report",
    "StatementError",
    "check",
    "hub_head",
    "log_mac_at",
    "photo_time",
    "read_codes",
]
