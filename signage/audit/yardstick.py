"""The yardstick of an audit: the rule, opening hours and screens a log is judged against,
and how the configurations a log shows differ from it. Pure.

Without a registered profile the log's own configuration is the yardstick, so every change a
reload made (hours, rule, screens) is listed with its effect on the verdict; with one (the
inspector's trust file, ``[site.profile]``) the profile is the yardstick and every
configuration in the log that differs from it is flagged.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ..config import Hours


@dataclass(frozen=True, slots=True)
class Yardstick:
    timezone: str
    max_gap_s: float
    measure: str
    hours: Hours
    screens: tuple[str, ...]
    #: (screen id, its own hours as compact JSON) of the screens with hours of their own
    own_hours: tuple[tuple[str, str], ...] = ()

    def hours_text(self) -> str:
        return describe_hours(self.hours)


def describe_hours(h: Hours) -> str:
    """The hours as compact JSON, without the keys left at their defaults."""
    d = h.model_dump(mode="json", exclude_defaults=True)
    return json.dumps(d or {"default": ["00:00-24:00"]}, ensure_ascii=False,
                      separators=(",", ":"))


def differences(a: Yardstick, b: Yardstick) -> list[tuple[str, str, str]]:
    """(what, in a, in b) for every part of the yardstick that differs."""
    out: list[tuple[str, str, str]] = []
    if a.timezone != b.timezone:
        out.append(("timezone", a.timezone, b.timezone))
    if a.max_gap_s != b.max_gap_s:
        out.append(("max_gap_s", f"{a.max_gap_s:g}", f"{b.max_gap_s:g}"))
    if a.measure != b.measure:
        out.append(("measure", a.measure, b.measure))
    if a.hours != b.hours:
        out.append(("hours", a.hours_text(), b.hours_text()))
    if set(a.screens) != set(b.screens):
        out.append(("screens", ",".join(sorted(a.screens)), ",".join(sorted(b.screens))))
    return out


def screen_hours_changes(a: Yardstick, b: Yardstick) -> list[tuple[str, str, str]]:
    """(screens.<id>.hours, before, after) for each screen in both whose own hours changed
    ("site" when it keeps the site's)."""
    ah, bh = dict(a.own_hours), dict(b.own_hours)
    return [(f"screens.{sid}.hours", ah.get(sid, "site"), bh.get(sid, "site"))
            for sid in b.screens if sid in a.screens and ah.get(sid) != bh.get(sid)]


def of_record(tz: str, hours: Hours, max_gap_s: float, measure: str,
              screens: dict[str, dict[str, Any]]) -> Yardstick:
    own = tuple(sorted((sid, json.dumps(e["hours"], ensure_ascii=False, sort_keys=True,
                                        separators=(",", ":")))
                       for sid, e in screens.items() if e.get("hours") is not None))
    return Yardstick(tz, float(max_gap_s), measure, hours, tuple(screens), own)
