"""Staggered anti-fraud order for screens that share a pool of unequal weights (issue 10,
item 7): a cycle that honours the weights exactly, never plays an item twice in a row on a
screen, and never shows one item on two screens at the same step unless the weights force it.

The construction (an L × m array: rows are steps, columns are the m screens):

- the weights are made integers ``w_i`` (total ``W``); the base sequence ``T`` of length
  ``L = m·W`` is the items laid out as contiguous blocks, item i's block ``m·w_i`` long;
- screen k at step r shows the item whose block holds position ``(s·r + k·W) mod L``: the
  screens read ``T`` at m points ``W`` apart, so two screens meet on an item only when its
  block is longer than ``W``, i.e. when its share ``w_i/W`` exceeds 1/m (pigeonhole: then
  it *must* be on two screens at once in some rows, and here it is on exactly
  ``⌊m·w_i/W⌋`` or ``⌈m·w_i/W⌉`` screens in every row: as few coincidences as the weights
  allow, and spread evenly over the rows);
- the stride ``s`` is prime to ``L``, so each screen visits every position once per cycle of
  ``L`` steps (item i exactly ``m·w_i`` times: the weights, exactly); when ``s`` and
  ``L - s`` are both at least the longest block, two consecutive steps never fall in the
  same block (no item twice in a row). Among such strides the one whose screens stay closest
  to their weighted share at every step of the cycle is taken (``error``), nearest to
  ``L·0.618`` on ties (a well-spread, three-gap sequence).

Pure and deterministic: the same weights and screen count give the same cycle.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from fractions import Fraction

#: the longest cycle (m·W steps) built; larger weight totals are scaled down to fit
MAX_CYCLE = 6000
#: the search for a stride examines at most about this many (step, screen) pairs
SEARCH_WORK = 400_000
GOLDEN = 0.6180339887498949
#: a cycle whose screens stay within this many showings of their share ends the search
GOOD_ENOUGH = 2.5
#: the drift docs/playlists.md states ("at most 4"): finer circles (up to MAX_SCALE times the
#: blocks' size) are tried while the best cycle drifts more
ERROR_BOUND = 4.0
MAX_SCALE = 24


@dataclass(frozen=True, slots=True)
class Cycle:
    """One cycle of the staggered order. ``at(step, screen)`` is an index into the pool."""

    length: int  # L = m·W steps
    stride: int  # s
    shift: int  # W: screen k starts k·W positions further along T
    owner: tuple[int, ...]  # owner[x]: the pool index whose block holds position x of T
    weights: tuple[int, ...]  # the integer weights used
    #: the worst distance, in showings, between a screen's count of an item and its
    #: weighted share, over every prefix of the cycle (and so over any number of cycles)
    error: float
    #: consecutive steps that fall in the same block over one cycle (0 unless an item holds
    #: half the weight or more)
    repeats: int

    def at(self, step: int, screen: int) -> int:
        return self.owner[(self.stride * step + self.shift * screen) % self.length]


def integer_weights(weights: tuple[float, ...], screens: int) -> tuple[int, ...]:
    """Integer weights in the same proportions (exactly for decimals up to 1/1000), reduced by
    their gcd; when ``screens·W`` would exceed MAX_CYCLE, the nearest proportions with
    ``screens·W`` ≤ MAX_CYCLE (each at least 1)."""
    fr = [Fraction(w).limit_denominator(1000) for w in weights]
    den = math.lcm(*(f.denominator for f in fr))
    ints = [int(f * den) for f in fr]
    if screens * sum(ints) > MAX_CYCLE:
        target = MAX_CYCLE // screens
        total = sum(ints)
        ints = [max(1, round(x * target / total)) for x in ints]
    g = math.gcd(*ints)
    return tuple(x // g for x in ints)


def _score(owner: tuple[int, ...], shares: list[float], s: int, shift: int,
           screens: int) -> float:
    """The worst |count - share| over every prefix of the cycle, over the screens."""
    n = len(owner)
    worst = 0.0
    for k in range(screens):
        cnt = [0] * len(shares)
        x = (shift * k) % n
        for r in range(n):
            i = owner[x]
            c = cnt[i]
            p = shares[i]
            d = r * p - c  # behind its share just before this showing
            if d > worst:
                worst = d
            c += 1
            cnt[i] = c
            a = c - (r + 1) * p  # ahead of its share just after it
            if a > worst:
                worst = a
            x += s
            if x >= n:
                x -= n
    return worst


@functools.lru_cache(maxsize=256)
def build_cycle(weights: tuple[float, ...], screens: int) -> Cycle | None:
    """The staggered cycle for a pool with these weights on ``screens`` screens, or None
    when there is nothing to stagger (one screen, one item) or no stride prime to L.

    Tried: the blocks at 1 to 6 times their size (up to MAX_SCALE while the best cycle
    drifts more than ERROR_BOUND) until a cycle is within GOOD_ENOUGH (a
    finer circle offers more strides; it helps most when an item holds more than 1/m of the
    weight, or close to half of it), in the pool's order and
    heaviest first, and for each up to STRIDES strides nearest L·0.618; kept: the fewest
    repeats, then the smallest error."""
    m = screens
    if m < 2 or len(weights) < 2:
        return None
    w = integer_weights(weights, m)
    best: Cycle | None = None
    heavy_first = tuple(sorted(range(len(w)), key=lambda i: (-w[i], i)))
    for q in range(1, MAX_SCALE + 1):
        if q > 1 and (q * m * sum(w) > MAX_CYCLE or (
                best is not None and best.repeats == 0 and best.error <= GOOD_ENOUGH)):
            break
        if q > 6 and best is not None and best.error <= ERROR_BOUND:
            break  # past 6 only while the drift is above the documented bound
        for order in (tuple(range(len(w))), heavy_first):
            cyc = _best_stride(tuple(q * x for x in w), m, order)
            if cyc is not None and (best is None or (cyc.repeats, cyc.error) < (
                    best.repeats, best.error)):
                best = cyc
    return best


#: strides tried per block size
STRIDES = 16


def _best_stride(w: tuple[int, ...], m: int, order: tuple[int, ...]) -> Cycle | None:
    total = sum(w)
    length = m * total
    owner: list[int] = []
    for i in order:
        owner.extend([i] * (m * w[i]))
    own = tuple(owner)
    longest = m * max(w)
    golden = length * GOLDEN
    near = sorted((s for s in range(1, length) if math.gcd(s, length) == 1),
                  key=lambda s: (abs(s - golden), s))
    if not near:
        return None

    def repeats(s: int) -> int:
        return sum(1 for x in range(length) if own[x] == own[(x + s) % length])

    clean = [s for s in near if longest <= s <= length - longest]
    # an item with half the weight or more: no stride avoids every repeat (the runtime then
    # substitutes, see Rotation); take the strides with the fewest
    pool = clean[:STRIDES] or sorted(near[:40], key=lambda s: (repeats(s), abs(s - golden)))[
        :STRIDES]
    budget = max(2, SEARCH_WORK // (length * m))
    shares = [x / total for x in w]
    best: tuple[int, float, float, int] | None = None
    for s in pool[:budget]:
        rep = 0 if clean else repeats(s)
        key = (rep, round(_score(own, shares, s, total, m), 9), abs(s - golden), s)
        if best is None or key < best:
            best = key
    assert best is not None
    rep, err, _, s = best
    g = math.gcd(*w)
    return Cycle(length, s, total, own, tuple(x // g for x in w), err, rep)
