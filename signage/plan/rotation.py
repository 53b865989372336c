"""Fair choice: smooth weighted round-robin for anti-fraud items, and a store filler that packs
each gap as full as the rule allows while following the store weights.

Both are deterministic state machines: same pool, same offset, same sequence.
"""

from __future__ import annotations

import functools
import threading
from array import array
from collections.abc import Collection, Iterable, Sequence

from ..model import Item
from .stagger import Cycle, build_cycle

#: store packing works in exact milliseconds (kept for callers that scale test durations)
UNIT_MS = 1


def stagger(screen: int, screens: int, size: int) -> int:
    """Where screen ``screen`` of ``screens`` (that share a pool) starts in a group of
    ``size`` equal items: k·size/n of the way in when there are at least as many items as
    screens (all distinct), else k mod size, so that neighbouring screens always differ and
    every item is shared by as many screens as every other, give or take one."""
    n = max(1, screens)
    if size <= 0:
        return 0
    return (screen * size) // n if size >= n else screen % size


def tie_order(items: Sequence[Item], screen: int, screens: int) -> list[Item]:
    """The pool in the order screen ``screen`` of ``screens`` breaks ties: within each group
    of equal weight (where ties happen), rotated by ``stagger``."""
    groups: dict[float, list[int]] = {}
    for j, it in enumerate(items):
        groups.setdefault(it.weight, []).append(j)
    rank: dict[int, int] = {}
    for members in groups.values():
        c = len(members)
        shift = stagger(screen, screens, c)
        for pos, j in enumerate(members):
            rank[j] = (pos - shift) % c
    return [items[j] for j in sorted(range(len(items)), key=lambda j: (rank[j], j))]


class Rotation:
    """The anti-fraud order of one screen among ``screens`` that share the pool.

    One screen, or items of equal weight: smooth weighted round-robin (each pick: every item
    gains its weight, the richest item not shown last is picked and pays the total). Over n
    picks from a fresh start each item's count stays within one of n·w/W; the same item
    never comes twice in a row when the pool has two or more. Screens sharing a pool of
    equal weights are staggered through the order in which ties are broken (``tie_order``).

    Two or more screens and unequal weights: the staggered cycle of ``stagger.build_cycle``
    (screen ``screen`` reads its column): weights exact over each cycle, within
    ``cycle.error`` showings of the share at every step, no item twice in a row, and no
    item on two of the screens at the same step unless its share exceeds 1/screens.

    When an item holds half the weight or more (it must come every other time, and no cycle
    avoids repeats), screen k reads the round-robin order starting k picks in instead.

    Wishes (``last``, ``aside``) that the planned item breaks are met by a substitute from
    later in the screen's own order, which trades places with it (see ``_cycle_pick``): the
    screen stays in step with the others and the counts over the cycle stay exact."""

    __slots__ = ("_column", "_cur", "_cycle", "_items", "_order", "_prev", "_step", "_swaps",
                 "_total", "_weights")

    def __init__(self, items: Sequence[Item], screen: int = 0, screens: int = 1) -> None:
        n = len(items)
        m = max(1, screens)
        unequal = len({it.weight for it in items}) > 1
        cyc = build_cycle(tuple(it.weight for it in items), m) if unequal else None
        self._cycle = cyc if cyc is not None and cyc.repeats == 0 else None
        shifted = unequal and m > 1 and self._cycle is None
        staggered = self._cycle is not None or shifted
        self._items = list(items) if staggered else tie_order(items, screen, m)
        self._column = screen % m
        self._step = 0
        self._swaps: dict[int, int] = {}
        self._weights = [it.weight for it in self._items]
        self._total = sum(self._weights)
        self._cur = [0.0] * n
        self._order = range(n)
        self._prev = -1
        if shifted:
            # an item with half the weight or more (no cycle avoids repeats): the screens
            # read one round-robin order, screen k starting k picks in, so the heavy item
            # alternates between the screens (on half of them at each step)
            for _ in range(self._column):
                self.next()

    @property
    def cycle(self) -> Cycle | None:
        return self._cycle

    def next(self, last: str | None = None, aside: Collection[str] = ()) -> Item:
        """The next item. ``last``: the id of the anti-fraud item shown last on the screen
        (it never comes again at once when the pool has another); ``aside``: ids set aside
        for now (a failed item), skipped while any other item is left."""
        cur, w, items = self._cur, self._weights, self._items
        prev = self._prev
        best = -1
        if self._cycle is not None:
            for i in self._order:
                cur[i] += w[i]
            best = self._cycle_pick(last, aside)
        else:
            best_v = 0.0
            for i in self._order:
                v = cur[i] + w[i]
                cur[i] = v
                if i != prev and (best < 0 or v > best_v):
                    it = items[i].id
                    if it != last and it not in aside:
                        best, best_v = i, v
        if best < 0:  # every other item is set aside, or the last shown, or a pool of one
            best = self._fallback(last, aside)
        cur[best] -= self._total
        self._prev = best
        return items[best]

    def _cycle_pick(self, last: str | None, aside: Collection[str]) -> int:
        """The cycle's item for this step; when a wish refuses it, the soonest item of the
        screen's own order that is allowed now, does not make the next step a repeat, and
        whose place can take the refused item without a repeat: the two trade places, so
        the counts over the cycle stay exact."""
        cyc, col, items, prev, swaps = self._cycle, self._column, self._items, self._prev, \
            self._swaps
        assert cyc is not None
        p = self._step
        self._step = p + 1

        def planned(t: int) -> int:
            x = swaps.get(t)
            return cyc.at(t, col) if x is None else x

        def ok(i: int) -> bool:
            return i != prev and items[i].id != last and items[i].id not in aside

        i = planned(p)
        swaps.pop(p, None)
        if ok(i):
            return i
        nxt = planned(p + 1)
        for j in range(2, cyc.length + 1):
            x = planned(p + j)
            if x != nxt and ok(x) and i not in (planned(p + j - 1), planned(p + j + 1)):
                swaps[p + j] = i
                return x
        return -1

    def _fallback(self, last: str | None, aside: Collection[str]) -> int:
        """Relax the wishes in order: first the planned previous, then the set-aside items;
        never the last shown while the pool has another item."""
        items, cur = self._items, self._cur
        tiers = (
            lambda i: items[i].id != last and items[i].id not in aside,
            lambda i: items[i].id != last and i != self._prev,
            lambda i: items[i].id != last,
            lambda i: True,
        )
        for ok in tiers:
            cands = [i for i in self._order if ok(i)]
            if cands:
                return max(cands, key=lambda i: (cur[i], -i))
        return 0

    @property
    def last(self) -> Item | None:
        return self._items[self._prev] if self._prev >= 0 else None


@functools.lru_cache(maxsize=256)
def reachable(durations_ms: tuple[int, ...], limit_ms: int) -> int:
    """The sums of store durations (items repeatable) up to ``limit_ms``, exactly in
    milliseconds, as a bit set: bit x is set when some packing lasts exactly x ms (an
    unbounded knapsack, by shift-and-or with doubling: log(limit/d) steps per duration)."""
    mask = (1 << (limit_ms + 1)) - 1
    reach = 1
    for d in sorted(set(durations_ms)):
        if d <= 0 or d > limit_ms:
            continue
        step = d
        while step <= limit_ms:
            reach |= (reach << step) & mask
            step *= 2
    return reach


#: one table built at a time: screens sharing a pool start together and would otherwise each
#: build the same table at once (the daemon's start-up memory peak)
_TABLE_LOCK = threading.Lock()


def best_table(durations_ms: tuple[int, ...], limit_ms: int) -> array[int]:
    """``best[r]`` for r in 0..limit_ms: the fullest packing (ms) that fits in r ms. An
    array of 4-byte integers (240 KB for a minute), built once per pool and limit and shared
    by every screen and day."""
    with _TABLE_LOCK:
        return _best_table(durations_ms, limit_ms)


@functools.lru_cache(maxsize=64)
def _best_table(durations_ms: tuple[int, ...], limit_ms: int) -> array[int]:
    bits = bin(reachable(durations_ms, limit_ms))[:1:-1]  # bit x at index x
    out = array("I")
    last = 0  # sum 0 is always reachable: runs of equal values, appended in C
    x = bits.find("1", 1)
    while 0 < x <= limit_ms:
        out.extend(array("I", [last]) * (x - len(out)))
        last = x
        x = bits.find("1", x + 1)
    out.extend(array("I", [last]) * (limit_ms + 1 - len(out)))
    return out


def best_fill(reach: int, r_ms: int) -> int:
    """The fullest packing (ms) that fits in ``r_ms``, from a ``reachable`` bit set."""
    if r_ms < 0:
        return -1
    return (reach & ((1 << (r_ms + 1)) - 1)).bit_length() - 1


def never_placed(items: Sequence[Item], budgets_ms: Iterable[int]) -> list[Item]:
    """Store items that no gap of these budgets ever holds: the filler packs every gap as
    fully as possible, and an item that is part of no fullest packing for any of the budgets
    (it is longer than every budget, or other items always fill the gap better) never plays."""
    budgets = sorted({b for b in budgets_ms if b > 0})
    if not budgets or not items:
        return list(items)
    reach = reachable(tuple(it.duration_ms for it in items), budgets[-1])
    out: list[Item] = []
    for it in items:
        u = it.duration_ms
        if not any(u <= b and best_fill(reach, b - u) + u == best_fill(reach, b)
                   for b in budgets):
            out.append(it)
    return out


class Filler:
    """Chooses store items for one gap of at most ``budget_ms``.

    The fullest packing that fits in ``r`` ms (items repeatable) is read from a bit set of
    reachable sums, computed exactly in milliseconds once per pool (see ``reachable``): no
    rounding, so an item that exactly fills the budget is placed. Within a gap the filler
    picks, by weighted credit, only items that keep a fullest packing reachable (up to
    ``slack_ms``), so every gap is packed within ``slack_ms`` of the best possible, and the
    weights decide which of the good packings plays."""

    __slots__ = ("_best_t", "_credit", "_durs", "_items", "_limit", "_share", "slack_ms")

    def __init__(self, items: Sequence[Item], offset: int = 0, slack_ms: int = 0) -> None:
        n = len(items)
        k = offset % n if n else 0
        self._items = list(items[k:]) + list(items[:k])
        self._durs = [it.duration_ms for it in self._items]
        total = sum(it.weight for it in self._items) or 1.0
        self._share = [it.weight / total for it in self._items]
        self._credit = [0.0] * n
        self._limit = -1
        self._best_t: array[int] = array("I", [0])
        self.slack_ms = slack_ms

    def fill(self, budget_ms: int, aside: Collection[str] = ()) -> list[Item]:
        """The items of one gap. ``aside``: ids the runtime set aside (they failed to show):
        the gap is packed from the others, as fully as they allow (none left: no store
        content, the next anti-fraud showing comes sooner), and they earn no credit meanwhile
        (no burst of them when they are back)."""
        if not self._items or budget_ms <= 0:
            return []
        rem = budget_ms
        if rem > self._limit:
            # whole seconds up: a few table sizes per pool, shared by every day and screen
            self._limit = -(-rem // 1000) * 1000
            self._best_t = best_table(tuple(sorted(set(self._durs))), self._limit)
        durs, credit, share = self._durs, self._credit, self._share
        n = len(durs)
        usable: Sequence[int] = range(n)
        table = self._best_t
        if aside and any(it.id in aside for it in self._items):
            usable = [i for i in range(n) if self._items[i].id not in aside]
            if not usable:
                return []
            table = best_table(tuple(sorted({durs[i] for i in usable})), self._limit)
        best = table.__getitem__
        target = best(rem) - self.slack_ms
        if target <= 0:
            return []
        total = sum(share[i] for i in usable) or 1.0
        picked: list[Item] = []
        filled = 0
        while True:
            choice = -1
            cv = 0.0
            for i in usable:
                u = durs[i]
                if u <= rem and filled + u + best(rem - u) >= target:
                    c = credit[i]
                    if choice < 0 or c > cv:
                        choice, cv = i, c
            if choice < 0:
                break
            for i in usable:
                credit[i] += share[i] / total
            credit[choice] -= 1.0
            picked.append(self._items[choice])
            u = durs[choice]
            rem -= u
            filled += u
            if filled >= target and (rem <= 0 or best(rem) == 0):
                break
        return picked
