"""Small pure helpers for durations, clock times and instants."""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

_DUR = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|min|h|d)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, None: 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(text: str) -> float:
    """'90', '90s', '2m', '24h', '1.5h', '7d', '1h30m' -> seconds. Raises ValueError."""
    total = 0.0
    rest = text.strip()
    if not rest:
        raise ValueError("empty duration")
    parts = re.findall(r"(\d+(?:\.\d+)?)\s*(ms|s|min|m|h|d)?", rest)
    joined = "".join(f"{n}{u}" for n, u in parts)
    if not parts or joined != re.sub(r"\s+", "", rest):
        raise ValueError(f"not a duration: {text!r} (examples: 90s, 2m, 24h, 1h30m)")
    for num, unit in parts:
        total += float(num) * _UNITS[unit or None]
    return total


def parse_hhmm(text: str) -> int:
    """'08:30' -> minutes after midnight; '24:00' allowed as the end of a day."""
    m = re.fullmatch(r"(\d{1,2}):(\d{2})", text.strip())
    if not m:
        raise ValueError(f"not a clock time {text!r}: use HH:MM, e.g. 08:30")
    h, mi = int(m.group(1)), int(m.group(2))
    if mi >= 60 or h > 24 or (h == 24 and mi != 0):
        raise ValueError(f"not a clock time {text!r}: hours 00-24, minutes 00-59")
    return h * 60 + mi


def parse_span(text: str) -> tuple[int, int]:
    """'08:00-22:00' -> (480, 1320) minutes; the end must be after the start."""
    if "-" not in text:
        raise ValueError(f"not a time span {text!r}: use HH:MM-HH:MM, e.g. 08:00-22:00")
    a, b = text.split("-", 1)
    start, end = parse_hhmm(a), parse_hhmm(b)
    if start >= 24 * 60:
        raise ValueError(f"time span {text!r} starts at 24:00")
    if end <= start:
        raise ValueError(f"time span {text!r} ends before it starts (use 24:00 for midnight)")
    return start, end


def local_ms(day: date, minute: int, tz: ZoneInfo) -> int:
    """Epoch milliseconds of ``minute`` after local midnight of ``day`` in ``tz``."""
    base = datetime.combine(day, time(0), tzinfo=tz)
    # wall-clock arithmetic: add the minutes as local time, then convert
    local = (base.replace(tzinfo=None) + timedelta(minutes=minute)).replace(tzinfo=tz)
    return round(local.timestamp() * 1000)


def local_date(ms: int, tz: ZoneInfo) -> date:
    return datetime.fromtimestamp(ms / 1000, tz).date()


def parse_when(text: str, tz: ZoneInfo, now_ms: int) -> int:
    """'now', '2026-03-18', '2026-03-18 08:00', ISO 8601 with or without offset -> epoch ms.
    Naive times are in the site timezone."""
    t = text.strip()
    if t.lower() == "now":
        return now_ms
    if t.lower() in {"today", "tomorrow"}:
        d = local_date(now_ms, tz) + timedelta(days=1 if t.lower() == "tomorrow" else 0)
        return local_ms(d, 0, tz)
    try:
        dt = datetime.fromisoformat(t)
    except ValueError:
        raise ValueError(
            f"not an instant: {text!r} (use now, today, 2026-03-18 or 2026-03-18T08:00)"
        ) from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=tz)
    return round(dt.timestamp() * 1000)


def rfc3339_ms(ms: int, tz: ZoneInfo) -> str:
    """Epoch ms -> '2026-11-28T18:24:21.123+08:00'."""
    return datetime.fromtimestamp(ms / 1000, tz).isoformat(timespec="milliseconds")


def fmt_duration(seconds: float) -> str:
    s = round(seconds)
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    if h:
        return f"{h}h{m:02d}m{sec:02d}s"
    if m:
        return f"{m}m{sec:02d}s"
    return f"{seconds:.1f}s"


class IsoFormatter:
    """Fast RFC 3339 with milliseconds and offset for one time zone: the log writes several
    per record. The UTC offset is looked up once per 15 minutes (no zone changes offset more
    often), the date string once per local day."""

    __slots__ = ("_bucket", "_day", "_dstr", "_off_s", "_off_str", "_tz")

    def __init__(self, tz: ZoneInfo) -> None:
        self._tz = tz
        self._bucket: int | None = None
        self._off_s = 0
        self._off_str = "+00:00"
        self._day: int | None = None
        self._dstr = ""

    def __call__(self, wall_s: float) -> str:
        ms = round(wall_s * 1000)
        s, msr = divmod(ms, 1000)
        b = s // 900
        if b != self._bucket:
            self._bucket = b
            off = datetime.fromtimestamp(s, self._tz).utcoffset() or timedelta(0)
            self._off_s = int(off.total_seconds())
            sign = "+" if self._off_s >= 0 else "-"
            h, m = divmod(abs(self._off_s) // 60, 60)
            self._off_str = f"{sign}{h:02d}:{m:02d}"
            self._day = None
        loc = s + self._off_s
        d, r = divmod(loc, 86400)
        if d != self._day:
            self._day = d
            self._dstr = date.fromordinal(_EPOCH_ORD + d).isoformat()
        hh, r = divmod(r, 3600)
        mm, ss = divmod(r, 60)
        return f"{self._dstr}T{hh:02d}:{mm:02d}:{ss:02d}.{msr:03d}{self._off_str}"


_EPOCH_ORD = date(1970, 1, 1).toordinal()
