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


def of_record(tz: str, hours: Hours, max_gap_s: float, measure: str,
              screens: dict[str, dict[str, Any]]) -> Yardstick:
    return Yardstick(tz, float(max_gap_s), measure, hours, tuple(screens))
