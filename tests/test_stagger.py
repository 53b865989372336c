"""Issue 10 item 7: screens that share an anti-fraud pool are staggered whatever the weights.

Properties, over random pools (weights whole or in halves, 1 to 14 items) on 2 to 8 screens
with equal durations (so that the screens step together and "the same instant" is "the same
step"):

1. no two screens show the same item at the same instant when the pool has at least as many
   items as screens and no item holds more than 1/m of the weight;
2. otherwise, in every window of steps, the slots where screens coincide are exactly the
   pigeonhole minimum for the window's counts (as few as the weights allow, spread evenly);
3. weights honoured exactly over a cycle, and within ``cycle.error`` showings of the share
   at every step (at most 4; about 2 for most pools);
4. never the same item twice in a row on a screen.
"""

from __future__ import annotations

import os
from collections import Counter
from datetime import date
from fractions import Fraction
from itertools import pairwise, takewhile
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from signage.config import Hours
from signage.driver import ItemKind
from signage.model import Item, Playlist, RuleModel, Screen, Site
from signage.plan import Timeline
from signage.plan.rotation import Rotation
from signage.plan.stagger import build_cycle, integer_weights
from signage.timeutil import local_ms

TZ = ZoneInfo("Asia/Shanghai")
DAY = date(2026, 12, 1)
EXAMPLES = settings(max_examples=int(os.environ.get("SIGNAGE_EXAMPLES", "150")), deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


@st.composite
def pools(draw: st.DrawFn, max_items: int = 14) -> tuple[Item, ...]:
    n = draw(st.integers(1, max_items))
    halves = draw(st.booleans())
    ws = [draw(st.integers(1, 12)) / 2 if halves else float(draw(st.integers(1, 6)))
          for _ in range(n)]
    return tuple(Item(f"a{i}", "af", ItemKind.TEXT, True, w, 3000, text=f"t{i}")
                 for i, w in enumerate(ws))


def site_of(pool: tuple[Item, ...], m: int, dur_ms: int = 3000) -> Site:
    pool = tuple(Item(it.id, it.playlist, it.kind, True, it.weight, dur_ms, text=it.text)
                 for it in pool)
    pls = (Playlist("af", "af", True, None, (), pool),)
    screens = tuple(Screen(f"s{i}", i, "", "simulator", 128, 16, pls) for i in range(m))
    return Site("t", "t", TZ, RuleModel(60_000, 55_000, False), Hours(), screens,
                media_root=None)  # type: ignore[arg-type]


def rows_of(site: Site, steps: int) -> list[list[str]]:
    """The item on each screen at each step, from the day's opening."""
    t0 = local_ms(DAY, 0, TZ)
    dur = site.screens[0].playlists[0].items[0].duration_ms
    cols = []
    for sc in site.screens:
        es = list(takewhile(lambda e: e.start_ms < t0 + steps * dur,
                            Timeline(site, sc).entries(t0)))
        assert [e.start_ms for e in es] == [t0 + k * dur for k in range(steps)]
        cols.append([e.item.id for e in es])
    return [list(r) for r in zip(*cols, strict=True)]


def shares(pool: tuple[Item, ...]) -> dict[str, float]:
    total = sum(it.weight for it in pool)
    return {it.id: it.weight / total for it in pool}


def excess(row: list[str]) -> int:
    """How many screens repeat an item that another screen shows in this row."""
    return len(row) - len(set(row))


def pigeonhole(rows: list[list[str]]) -> int:
    """The fewest such repeats any arrangement of these rows' showings could have: an item
    shown x times in n rows is on two screens at once at least x - n times."""
    cnt = Counter(x for r in rows for x in r)
    return sum(max(0, x - len(rows)) for x in cnt.values())


@EXAMPLES
@given(pools(), st.integers(2, 8))
def test_same_pool_same_durations_never_coincide_when_the_weights_allow(
        pool: tuple[Item, ...], m: int) -> None:
    site = site_of(pool, m)
    sh = shares(pool)
    rows = rows_of(site, 240)
    if len(pool) >= m and max(sh.values()) <= 1 / m + 1e-12:
        for t, r in enumerate(rows):  # property 1
            assert len(set(r)) == m, (t, r)
    if max(sh.values()) < 0.5:  # property 2: every window holds the pigeonhole minimum
        for size in (1, 5, 24):
            for a in range(0, len(rows) - size + 1):
                win = rows[a:a + size]
                assert sum(excess(r) for r in win) == pigeonhole(win), (a, size, win)
    if len(pool) >= 2:  # property 4
        for k in range(m):
            col = [r[k] for r in rows]
            assert all(x != y for x, y in pairwise(col)), (k, col)


@EXAMPLES
@given(pools(), st.integers(2, 8))
def test_weights_exact_over_a_cycle_and_close_at_every_step(
        pool: tuple[Item, ...], m: int) -> None:
    sh = shares(pool)
    if len({it.weight for it in pool}) == 1 or max(sh.values()) >= 0.5:
        return  # equal weights: tie order (tests/test_planner.py); >= 1/2: repeats forced
    cyc = build_cycle(tuple(it.weight for it in pool), m)
    assert cyc is not None and cyc.repeats == 0
    ints = integer_weights(tuple(it.weight for it in pool), m)
    for it, wi in zip(pool, ints, strict=True):  # halves and wholes are kept exactly
        assert Fraction(wi, sum(ints)) == Fraction(it.weight) / Fraction(
            sum(Fraction(x.weight) for x in pool))
    assert cyc.error <= 4.0, cyc.error
    for k in range(m):
        rot = Rotation(pool, k, m)
        cnt: Counter[str] = Counter()
        prev = None
        for n in range(1, 2 * cyc.length + 1):
            it = rot.next(prev)
            assert it.id != prev
            prev = it.id
            cnt[it.id] += 1
            for x in pool:
                assert abs(cnt[x.id] - n * sh[x.id]) <= cyc.error + 1e-9, (k, n, x.id)
            if n % cyc.length == 0:  # property 3: exact over each cycle
                for x in pool:
                    assert Fraction(cnt[x.id], n) == Fraction(x.weight) / Fraction(
                        sum(Fraction(y.weight) for y in pool)), (k, n, x.id)


@settings(max_examples=20, deadline=None)
@given(pools(max_items=16), st.integers(9, 12))
def test_many_screens(pool: tuple[Item, ...], m: int) -> None:
    """Twelve screens: the same properties, fewer examples (a cycle takes longer to pick)."""
    sh = shares(pool)
    rows = rows_of(site_of(pool, m), 120)
    if len(pool) >= m and max(sh.values()) <= 1 / m + 1e-12:
        assert all(len(set(r)) == m for r in rows)
    if max(sh.values()) < 0.5:
        for a in range(0, len(rows) - 4):
            assert sum(excess(r) for r in rows[a:a + 5]) == pigeonhole(rows[a:a + 5])
    if len(pool) >= 2:
        for k in range(m):
            assert all(r[k] != s[k] for r, s in pairwise(rows))


def test_wishes_keep_the_screen_in_step() -> None:
    """A planned item that is set aside (or was shown last before a re-plan) trades places
    with a later item of the screen's own order: the screen stays in step with the others
    and the counts over the cycle stay exact."""
    pool = tuple(Item(f"a{i}", "af", ItemKind.TEXT, True, w, 3000)
                 for i, w in enumerate((3.0, 2.0, 2.0, 1.0, 1.0)))
    cyc = build_cycle(tuple(it.weight for it in pool), 3)
    assert cyc is not None
    plain = Rotation(pool, 1, 3)
    planned = [plain.next().id for _ in range(cyc.length)]
    rot = Rotation(pool, 1, 3)
    got = [rot.next().id for _ in range(4)]
    got.append(rot.next(aside=(planned[4],)).id)
    got += [rot.next().id for _ in range(cyc.length - 5)]
    moved = [t for t in range(cyc.length) if got[t] != planned[t]]
    assert len(moved) == 2 and moved[0] == 4, moved
    a, b = moved
    assert got[a] == planned[b] and got[b] == planned[a]
    assert all(x != y for x, y in pairwise(got))
    assert Counter(got) == Counter(planned)


def test_a_pool_hypothesis_found_keeps_within_the_documented_drift() -> None:
    """Weights 1.5/0.5/3.5/5 on 4 screens drifted 4.14 showings from their share with blocks
    at most 6 times their size; the search goes on to finer circles while above 4."""
    cyc = build_cycle((1.5, 0.5, 3.5, 5.0), 4)
    assert cyc is not None and cyc.repeats == 0 and cyc.error <= 4.0, cyc
