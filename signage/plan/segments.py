"""Where and with what a screen plays on a given day: open segments with constant pools.

A segment is a stretch of opening hours in which the set of active playlists does not change
(playlist date windows and dayparts cut the day further). Pure: time zone arithmetic only.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import date

from ..model import Item, Screen, Site
from ..timeutil import local_ms


@dataclass(frozen=True, slots=True)
class Segment:
    start_ms: int
    end_ms: int
    anti_fraud: tuple[Item, ...]
    store: tuple[Item, ...]


def day_segments(site: Site, screen: Screen, day: date) -> list[Segment]:
    spans = site.hours_of(screen).spans_for(day)
    if not spans:
        return []
    active = [p for p in screen.playlists if p.active_on(day)]
    cuts: set[int] = set()
    for a, b in spans:
        cuts.update((a, b))
    for p in active:
        for a, b in p.dayparts:
            cuts.update((a, b))
    points = sorted(cuts)
    out: list[Segment] = []
    for a, b in itertools.pairwise(points):
        if not any(s <= a and b <= e for s, e in spans):
            continue
        here = [p for p in active
                if not p.dayparts or any(s <= a and b <= e for s, e in p.dayparts)]
        af = tuple(it for p in here if p.anti_fraud for it in p.items)
        st = tuple(it for p in here if not p.anti_fraud for it in p.items)
        start, end = local_ms(day, a, site.tz), local_ms(day, b, site.tz)
        if out and out[-1].end_ms == start and out[-1].anti_fraud == af and out[-1].store == st:
            out[-1] = Segment(out[-1].start_ms, end, af, st)
        else:
            out.append(Segment(start, end, af, st))
    return out
