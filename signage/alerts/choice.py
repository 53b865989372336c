"""Which alert a screen shows, and when: a pure rule over the active alerts, what this screen
has shown, and time (all passed in). The runner asks at every switch and, between switches,
whether to cut what is on for an alert.

The rule:

1. A new alert (active, never shown on this screen) goes on at once: it cuts a regular item
   (unless the regular switch is due within ``PREEMPT_WAIT_S`` anyway), and follows an alert
   that is on at that alert's end. Several new alerts go on oldest first, one after another,
   at most ``MAX_IN_A_ROW`` in a row: then the rotation has a slot, and the next new ones
   follow it (a burst of many alerts must not take the screen for many minutes).
2. Then each alert repeats on its own cadence (``repeat_s``, from CAP parameter
   ``signage:repeat_s``): at a switch, the alert most overdue goes on (earliest due time, ties
   by key), so several alerts share the slots fairly.
3. A repeat never follows an alert: after an alert showing the next slot belongs to the regular
   rotation, so alerts never starve the rotation. Only first showings (rule 1) may follow
   each other, each alert has one, and at most ``MAX_IN_A_ROW`` alerts go on in a row.
4. An alert that is no longer active (expired, cancelled, superseded) while on screen is cut.

Alerts are anti-fraud content (category 预警): the runner counts each showing for the gap rule,
and a showing lasts at most ``max_show_s`` (and, when the rule measures start to start, no longer
than the planner's budget), so an alert can only shorten a gap, never lengthen one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ..model import Item

#: a regular switch due this soon is waited for rather than cut
PREEMPT_WAIT_S = 1.0
#: at most this many alert showings (first showings) follow one another; then the rotation
MAX_IN_A_ROW = 3
#: how long a full-screen alert stays up: reading time of its text, within these bounds
HDMI_MIN_S = 10.0
HDMI_MAX_S = 40.0
CHARS_PER_S = 8.0


@dataclass(frozen=True, slots=True)
class Candidate:
    key: tuple[str, str]
    sent: float  # wall seconds: the order of first showings
    repeat_s: float


@dataclass(frozen=True, slots=True)
class AlertCard:
    """One active alert as one screen shows it: its candidate, the item (anti-fraud, category
    预警, text and duration for this screen) and its times in wall seconds."""

    cand: Candidate
    item: Item
    identifier: str
    sender: str
    sent: float
    effective: float
    expires: float
    drill: bool


@dataclass
class ScreenMemory:
    """What one screen has shown: the start (wall s) of each alert's last showing, and
    whether the last showing was an alert."""

    last: dict[tuple[str, str], float]
    last_was_alert: bool = False
    in_a_row: int = 0  # alert showings since the last regular item

    @classmethod
    def empty(cls) -> ScreenMemory:
        return cls({})

    def shown(self, key: tuple[str, str], t: float) -> None:
        self.last[key] = t
        self.last_was_alert = True
        self.in_a_row += 1

    def regular(self) -> None:
        self.last_was_alert = False
        self.in_a_row = 0


def _new(active: Sequence[Candidate], last: Mapping[tuple[str, str], float]
         ) -> Candidate | None:
    fresh = [c for c in active if c.key not in last]
    return min(fresh, key=lambda c: (c.sent, c.key)) if fresh else None


def at_switch(active: Sequence[Candidate], mem: ScreenMemory, now: float) -> Candidate | None:
    """The alert to show at a switch at ``now`` instead of the planned entry, or None."""
    if mem.in_a_row >= MAX_IN_A_ROW:
        return None  # the rotation's slot (rule 1's bound)
    fresh = _new(active, mem.last)
    if fresh is not None:
        return fresh
    if mem.last_was_alert:
        return None
    due = [(mem.last[c.key] + c.repeat_s, c.key, c) for c in active
           if now >= mem.last[c.key] + c.repeat_s]
    return min(due, key=lambda d: (d[0], d[1]))[2] if due else None


def cut_now(active: Sequence[Candidate], mem: ScreenMemory, now: float, on_alert: bool,
            on_key: tuple[str, str] | None, next_switch: float) -> bool:
    """Whether to end what is on screen now (between switches)."""
    if on_alert:
        return on_key not in {c.key for c in active}  # rule 4
    if _new(active, mem.last) is None:
        return False
    return next_switch - now > PREEMPT_WAIT_S  # rule 1


def show_seconds(natural_s: float | None, text_len: int, max_show_s: float,
                 budget_s: float, start_to_start: bool) -> float:
    """How long one alert showing lasts on a screen: the driver's natural time (an LED
    board's scroll) or the reading time of the text, bounded by ``max_show_s`` and, when the
    rule measures start to start, by the planner's budget."""
    t = natural_s if natural_s is not None else min(
        HDMI_MAX_S, max(HDMI_MIN_S, text_len / CHARS_PER_S))
    t = min(t, max_show_s)
    if start_to_start:
        t = min(t, budget_s)
    return max(1.0, t)
