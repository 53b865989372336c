"""Fair choice: smooth weighted round-robin for anti-fraud items, and a store filler that packs
each gap as full as the rule allows while following the store weights.

Both are deterministic state machines: same pool, same offset, same sequence.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from ..model import Item

UNIT_MS = 100  # store packing works on 0.1 s units (durations rounded up: never over budget)


def tie_order(items: Sequence[Item], screen: int, screens: int) -> list[Item]:
    """The pool in the order screen ``screen`` of ``screens`` breaks ties: within each group
    of equal weight (where ties happen), rotated by screen·size/screens, so that screen k
    starts k/n of the way into each group."""
    groups: dict[float, list[int]] = {}
    for j, it in enumerate(items):
        groups.setdefault(it.weight, []).append(j)
    rank: dict[int, int] = {}
    n = max(1, screens)
    for members in groups.values():
        c = len(members)
        shift = (screen * c) // n
        for pos, j in enumerate(members):
            rank[j] = (pos - shift) % c
    return [items[j] for j in sorted(range(len(items)), key=lambda j: (rank[j], j))]


class Rotation:
    """Smooth weighted round-robin (each pick: every item gains its weight, the richest item
    not shown last is picked and pays the total). Over n picks from a fresh start each item's
    count stays within one of n·w/W; the same item never comes twice in a row when the pool
    has two or more. Screens are staggered through the order in which ties are broken (see
    ``tie_order``). Starting a shared sequence part-way in would stagger unequal weights too,
    but it breaks the ±1 bound over a day (hypothesis found 1.25), so we do not."""

    __slots__ = ("_cur", "_items", "_order", "_prev", "_total", "_weights")

    def __init__(self, items: Sequence[Item], screen: int = 0, screens: int = 1) -> None:
        n = len(items)
        self._items = tie_order(items, screen, screens)
        self._weights = [it.weight for it in self._items]
        self._total = sum(self._weights)
        self._cur = [0.0] * n
        self._order = range(n)
        self._prev = -1

    def next(self, last: str | None = None, aside: Collection[str] = ()) -> Item:
        """The next item. ``last``: the id of the anti-fraud item shown last on the screen
        (it never comes again at once when the pool has another); ``aside``: ids set aside
        for now (a failed item), skipped while any other item is left."""
        cur, w, items = self._cur, self._weights, self._items
        prev = self._prev
        best = -1
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


class Filler:
    """Chooses store items for one gap of at most ``budget_ms``.

    ``best[r]`` is the fullest packing (in 0.1 s units, items repeatable) that fits in ``r``
    units: an unbounded knapsack, computed once per pool. Within a gap the filler picks, by
    weighted credit, only items that keep an optimal packing reachable (up to ``slack``), so
    every gap is packed within ``slack`` of the best possible, and the weights decide which
    of the good packings plays."""

    __slots__ = ("_best", "_credit", "_items", "_share", "_units", "slack_units")

    def __init__(self, items: Sequence[Item], offset: int = 0, slack_units: int = 0) -> None:
        n = len(items)
        k = offset % n if n else 0
        self._items = list(items[k:]) + list(items[:k])
        self._units = [-(-it.duration_ms // UNIT_MS) for it in self._items]
        total = sum(it.weight for it in self._items) or 1.0
        self._share = [it.weight / total for it in self._items]
        self._credit = [0.0] * n
        self._best: list[int] = [0]
        self.slack_units = slack_units

    def _grow(self, r: int) -> None:
        best = self._best
        units = self._units
        for x in range(len(best), r + 1):
            b = 0
            for u in units:
                if u <= x:
                    v = u + best[x - u]
                    if v > b:
                        b = v
            best.append(b)

    def fill(self, budget_ms: int) -> list[Item]:
        if not self._items or budget_ms <= 0:
            return []
        rem = budget_ms // UNIT_MS
        if rem >= len(self._best):
            self._grow(rem)
        best = self._best
        target = best[rem] - self.slack_units
        if target <= 0:
            return []
        units, credit, share = self._units, self._credit, self._share
        picked: list[Item] = []
        filled = 0
        n = len(units)
        while True:
            choice = -1
            cv = 0.0
            for i in range(n):
                u = units[i]
                if u <= rem and filled + u + best[rem - u] >= target:
                    c = credit[i]
                    if choice < 0 or c > cv:
                        choice, cv = i, c
            if choice < 0:
                break
            for i in range(n):
                credit[i] += share[i]
            credit[choice] -= 1.0
            picked.append(self._items[choice])
            u = units[choice]
            rem -= u
            filled += u
            if filled >= target and (rem <= 0 or best[rem] == 0):
                break
        return picked
