"""Small pure helpers for durations, clock times and instants."""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from math import modf
from zoneinfo import ZoneInfo

from .i18n import _

#: wall time moving differently from monotonic time by more than this is a clock step
#: (logged by the writer, re-planned by the runner, re-armed by the house-keeping)
CLOCK_STEP_S = 1.0

_DUR = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|min|h|d)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, None: 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(text: str) -> float:
    """'90', '90s', '2m', '24h', '1.5h', '7d', '1h30m' -> seconds. Raises ValueError."""
    total = 0.0
    rest = text.strip()
    if not rest:
        raise ValueError(_("empty duration"))
    parts = re.findall(r"(\d+(?:\.\d+)?)\s*(ms|s|min|m|h|d)?", rest)
    joined = "".join(f"{n}{u}" for n, u in parts)
    if not parts or joined != re.sub(r"\s+", "", rest):
        raise ValueError(_("not a duration: {text} (examples: 90s, 2m, 24h, 1h30m)").format(
            text=repr(text)))
    for num, unit in parts:
        total += float(num) * _UNITS[unit or None]
    return total


def parse_hhmm(text: str) -> int:
    """'08:30' -> minutes after midnight; '24:00' allowed as the end of a day."""
    m = re.fullmatch(r"(\d{1,2}):(\d{2})", text.strip())
    if not m:
        raise ValueError(_("not a clock time {text}: use HH:MM, e.g. 08:30").format(
            text=repr(text)))
    h, mi = int(m.group(1)), int(m.group(2))
    if mi >= 60 or h > 24 or (h == 24 and mi != 0):
        raise ValueError(_("not a clock time {text}: hours 00-24, minutes 00-59").format(
            text=repr(text)))
    return h * 60 + mi


def parse_span(text: str) -> tuple[int, int]:
    """'08:00-22:00' -> (480, 1320) minutes. A span that ends before it starts runs past
    midnight: '22:00-02:00' -> (1320, 1560), the end counted from the same midnight."""
    if "-" not in text:
        raise ValueError(_("not a time span {text}: use HH:MM-HH:MM, e.g. 08:00-22:00").format(
            text=repr(text)))
    a, b = text.split("-", 1)
    start, end = parse_hhmm(a), parse_hhmm(b)
    if start >= 24 * 60:
        raise ValueError(_("time span {text} starts at 24:00").format(text=repr(text)))
    if end == start:
        raise ValueError(_("time span {text} is empty: the end must differ from the start"
                           ).format(text=repr(text)))
    if end < start:  # overnight: e.g. a bar open 22:00-02:00
        end += 24 * 60
    return start, end


def split_overnight(spans: list[tuple[int, int]]) -> tuple[list[tuple[int, int]],
                                                           list[tuple[int, int]]]:
    """(the parts of ``spans`` on their own day, the parts after the next midnight, counted
    from that midnight)."""
    day = 24 * 60
    own = [(a, min(b, day)) for a, b in spans]
    spill = [(0, b - day) for a, b in spans if b > day]
    return own, spill


def merge_spans(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sorted union of minute spans (touching spans join)."""
    out: list[tuple[int, int]] = []
    for a, b in sorted(spans):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


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
            _("not an instant: {text} (use now, today, 2026-03-18 or 2026-03-18T08:00)").format(
                text=repr(text))) from None
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


#: below 2**32 s a double's spacing is under a microsecond (2**-20 s): ``ms / 1000`` rounds
#: back to the exact millisecond (IsoFormatter.ms)
_MS_EXACT = 4_000_000_000_000
#: "SS." and "mmm" for every second and millisecond: a switch formats two or three instants,
#: and a table look-up is cheaper than two format specifications each time
_SECS = tuple(f"{s:02d}." for s in range(60))
_MILLIS = tuple(f"{m:03d}" for m in range(1000))


class IsoFormatter:
    """RFC 3339 with milliseconds and the zone's offset, e.g. 2026-11-28T18:24:21.123+08:00:
    the same text as ``datetime.fromtimestamp(t, tz).isoformat(timespec="milliseconds")``,
    about twice as fast: the text up to the minute and the offset are computed once per
    minute (zone offsets change on whole minutes; a zone whose offset has seconds, such as
    a local mean time before 1900, takes the datetime path)."""

    __slots__ = ("_cache", "_memo", "_tz")

    def __init__(self, tz: ZoneInfo) -> None:
        self._tz = tz
        self._cache: dict[int, tuple[str, ...]] = {}  # () = take the datetime path
        # the instant formatted last and its text, as one tuple: screen threads share a
        # formatter (a showing's start is also the wall time of the record that tells of it)
        self._memo = (float("nan"), "")

    def __call__(self, wall_s: float) -> str:
        memo = self._memo
        if wall_s == memo[0]:
            return memo[1]
        # to the microsecond as fromtimestamp does: the fraction, rounded half-even
        frac, whole = modf(wall_s)
        rem = round(frac * 1e6)
        s = int(whole)
        if rem >= 1_000_000:
            rem -= 1_000_000
            s += 1
        elif rem < 0:
            rem += 1_000_000
            s -= 1
        minute, sec = divmod(s, 60)
        got = self._cache.get(minute)
        if got is None:
            got = self._minute(minute)
        if not got:
            text = datetime.fromtimestamp(wall_s, self._tz).isoformat(timespec="milliseconds")
        else:
            text = got[0] + _SECS[sec] + _MILLIS[rem // 1000] + got[1]
        self._memo = (wall_s, text)
        return text

    def ms(self, ms: int) -> str:
        """``self(ms / 1000)`` for an instant in whole milliseconds (the plan's instants), in
        integer arithmetic. Within [0, _MS_EXACT) the float ``ms / 1000`` is within half a
        microsecond of the instant, so both give the same text; outside, the float path."""
        if type(ms) is not int or not 0 <= ms < _MS_EXACT:
            return self(ms / 1000)
        minute, rest = divmod(ms, 60_000)
        got = self._cache.get(minute)
        if got is None:
            got = self._minute(minute)
        if not got:
            return self(ms / 1000)
        sec, milli = divmod(rest, 1000)
        return got[0] + _SECS[sec] + _MILLIS[milli] + got[1]

    def _minute(self, minute: int) -> tuple[str, ...]:
        if len(self._cache) >= 1024:
            self._cache.clear()
        try:
            dt = datetime.fromtimestamp(minute * 60, self._tz)
        except (OverflowError, OSError, ValueError):
            got: tuple[str, ...] = ()
        else:
            off = dt.utcoffset()
            text = dt.isoformat()
            got = () if off is None or off.seconds % 60 or len(text) != 25 else \
                (text[:17], text[19:])
        self._cache[minute] = got
        return got
