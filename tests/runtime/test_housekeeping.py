"""The log rotation's midnight trigger: the first instant of the next local day.

Without DST it gives exactly the instants of APScheduler's CronTrigger(hour=0, minute=0,
second=0) that the daemon used before. Around DST changes the cron trigger is not a usable
oracle (APScheduler 3.11 with zoneinfo: from 00:05 on 2025-03-30 in Europe/Berlin it answers
2025-04-01, skipping a day; a skipped 00:00 in America/Santiago skips the day; a repeated 00:00
in America/Havana fires twice on one date), so there the rule is checked directly."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger

from signage.runtime.housekeeping import LocalMidnight

DST_ZONES = ("America/Santiago", "America/Havana", "Asia/Beirut", "Europe/Berlin",
             "America/New_York", "Australia/Lord_Howe")


def _walk(tz: ZoneInfo) -> list[datetime]:
    """Instants over two years, as Housekeeping asks (the instant after now, in the zone)."""
    out, t = [], datetime(2025, 1, 1, tzinfo=UTC)
    while t < datetime(2027, 1, 1, tzinfo=UTC):
        out.append((t + timedelta(microseconds=1)).astimezone(tz))
        t += timedelta(minutes=47)  # a step that walks across every hour of the day
    return out


def test_without_dst_the_instants_of_the_cron_trigger_it_replaces() -> None:
    for name in ("Asia/Shanghai", "UTC"):
        tz = ZoneInfo(name)
        cron = CronTrigger(hour=0, minute=0, second=0, timezone=tz)
        for now in _walk(tz):
            got = LocalMidnight(tz).get_next_fire_time(None, now)
            want = cron.get_next_fire_time(None, now)
            assert got is not None and want is not None
            assert got.timestamp() == want.timestamp(), (name, now, got, want)


def test_the_first_instant_of_the_next_local_day_across_dst_changes() -> None:
    for name in DST_ZONES:
        tz = ZoneInfo(name)
        odd = 0
        for now in _walk(tz):
            got = LocalMidnight(tz).get_next_fire_time(None, now)
            assert got is not None and got > now
            before = (got.astimezone(UTC) - timedelta(microseconds=1)).astimezone(tz)
            # a local day starts at got, and the day before it is now's day: none in between
            assert got.astimezone(tz).date() == before.date() + timedelta(days=1), (name, now)
            assert before.date() == now.date(), (name, now, got)
            odd += got.astimezone(tz).hour != 0  # a day whose 00:00 was skipped
        if name in ("America/Santiago", "America/Havana", "Asia/Beirut"):
            assert odd > 0, name  # the skipped-midnight case was exercised


def test_exact_midnight_fires_now_and_the_next_call_moves_a_day() -> None:
    tz = ZoneInfo("Asia/Shanghai")
    m = datetime(2026, 12, 2, 0, 0, tzinfo=tz)
    assert LocalMidnight(tz).get_next_fire_time(None, m) == m
    after = LocalMidnight(tz).get_next_fire_time(None, m + timedelta(microseconds=1))
    assert after == datetime(2026, 12, 3, 0, 0, tzinfo=tz)
