"""Per-screen running state of the compliance engine, and the configuration records it
reads (run_start, accepted reload)."""

from __future__ import annotations

import json
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import ValidationError

from ..config import Hours, Rule
from ..i18n import _
from .hours import HoursTimeline
from .model import DayStat

Config = tuple[dict[str, Any], ZoneInfo, Hours, Rule, dict[str, dict[str, Any]]]


def read_config(rec: dict[str, Any], site_now: dict[str, Any]) -> Config | str:
    """(site, tz, hours, rule, screens by id) of a run_start or accepted reload (a reload keeps
    the site and its timezone), or why it cannot be read."""
    try:
        site = rec.get("site") or site_now
        tz = ZoneInfo(str(site["tz"]))
        hours = Hours.model_validate_json(json.dumps(rec["hours"]))
        rule = Rule.model_validate_json(json.dumps(rec["rule"]))
        screens = {str(s["id"]): dict(s) for s in rec["screens"]}
    except (KeyError, TypeError, ValueError, ValidationError, ZoneInfoNotFoundError) as e:
        return (_("a {type} record (seq {seq}) cannot be read and is ignored: "
                  "{error}").format(type=rec.get("type"), seq=rec.get("seq"),
                                    error=str(e).splitlines()[0]))
    return site, tz, hours, rule, screens


def screen_hours(entry: dict[str, Any]) -> Hours | str | None:
    """A screen's own opening hours in a run_start / reload record (None: the site's), or
    why they cannot be read."""
    raw = entry.get("hours")
    if raw is None:
        return None
    try:
        return Hours.model_validate_json(json.dumps(raw))
    except (TypeError, ValueError, ValidationError) as e:
        return _("its own opening hours cannot be read ({error})").format(
            error=str(e).splitlines()[0])


class ScreenState:
    __slots__ = ("active", "blank", "days", "down", "hours", "life", "marks", "o0", "o1",
                 "oopen", "ref_boot", "ref_mono", "ref_wall", "sid")

    def __init__(self, sid: str) -> None:
        self.sid = sid
        self.hours = HoursTimeline()  # the hours this screen keeps, over time
        self.active = False
        self.ref_wall = 0
        self.ref_mono: int | None = None
        self.ref_boot: str | None = None
        self.marks: list[tuple[str, int, int]] = []
        self.down: tuple[int, str] | None = None
        self.blank: int | None = None
        self.o0 = self.o1 = 0
        self.oopen = False
        self.days: dict[date, DayStat] = {}
        self.life: list[list[int | None]] = []


def compact(marks: list[tuple[str, int, int]]) -> list[tuple[str, int, int]]:
    """Merge marks of one cause less than 15 minutes apart (bounded memory in long gaps)."""
    out: list[tuple[str, int, int]] = []
    last: dict[str, int] = {}
    for c, a, b in sorted(marks, key=lambda m: (m[0], m[1])):
        i = last.get(c)
        if i is not None and a - out[i][2] < 900_000:
            out[i] = (c, out[i][1], max(out[i][2], b))
        else:
            last[c] = len(out)
            out.append((c, a, b))
    return out
