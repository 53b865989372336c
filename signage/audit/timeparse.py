"""Fast, exact conversion of the log's RFC 3339 times and monotonic numbers to integer
milliseconds. Pure; used in the scanning hot loop, so the common shape
(``2026-11-28T18:24:21.123+08:00``) is parsed by slicing with a per-minute cache, and anything
else goes through ``datetime.fromisoformat``."""

from __future__ import annotations

from datetime import datetime
from math import isfinite

from ..i18n import _

_MINUTES: dict[bytes, tuple[bytes, int]] = {}  # b"2026-11-28T18:24:" -> (offset, epoch ms)


def wall_ms(text: bytes) -> int:
    """Epoch milliseconds of an RFC 3339 time with an offset. Raises ValueError."""
    got = _MINUTES.get(text[:17])
    # (the same checks as below: a result never depends on which minutes were read before)
    if got is not None and got[0] == text[23:] and text[19:20] == b"." \
            and text[17:19].isdigit() and text[20:23].isdigit():
        return got[1] + int(text[17:19]) * 1000 + int(text[20:23])
    if (len(text) == 29 and text[10:11] == b"T" and text[16:17] == b":"
            and text[19:20] == b"." and text[23:24] in (b"+", b"-")
            and text[17:19].isdigit() and text[20:23].isdigit()):
        base = _slow_ms(text[:16] + b":00.000" + text[23:])
        if len(_MINUTES) > 8192:
            _MINUTES.clear()
        _MINUTES[text[:17]] = (text[23:], base)
        return base + int(text[17:19]) * 1000 + int(text[20:23])
    return _slow_ms(text)


def _slow_ms(text: bytes) -> int:
    try:
        dt = datetime.fromisoformat(text.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        raise ValueError(_("not an RFC 3339 time: {text!r}").format(text=text[:40])) from None
    if dt.tzinfo is None:
        raise ValueError(_("time without an offset: {text!r}").format(text=text[:40]))
    try:
        return _dt_ms(dt)
    except OverflowError:  # year 1 or 9999, moved out of range by its offset
        raise ValueError(_("not an RFC 3339 time: {text!r}").format(text=text[:40])) from None


def _dt_ms(dt: datetime) -> int:
    # exact integer arithmetic (timestamp() goes through a float)
    utc = dt.utcoffset()
    assert utc is not None
    naive = dt.replace(tzinfo=None) - utc
    d = naive - datetime(1970, 1, 1)
    return (d.days * 86400 + d.seconds) * 1000 + d.microseconds // 1000


def mono_ms(text: bytes | float | int) -> int:
    """Milliseconds of a monotonic number with at most 3 decimals (the writer rounds).
    Raises ValueError, also for an infinity (``1e400`` reads as one) or a NaN."""
    try:
        return round(float(text) * 1000)
    except OverflowError:  # malformed, not a crash
        raise ValueError(_("not a finite number: {text!r:.40}").format(text=text)) from None


def mono_s(text: bytes) -> float:
    """A record's ``mono`` in seconds. Raises ValueError unless it is a finite number: an
    infinity or a NaN would poison the scan's time comparisons for the lines after it."""
    v = float(text)
    if not isfinite(v):
        raise ValueError(_("not a finite number: {text!r}").format(text=text[:40]))
    return v
