"""Start errors (confirmed minus planned start) in bounded memory: a daemon runs for months,
so it keeps a histogram at 0.1 ms resolution, not every value."""

from __future__ import annotations


class StartErrors:
    __slots__ = ("_buckets", "count", "max_s")

    def __init__(self) -> None:
        self._buckets: dict[int, int] = {}  # |error| in units of 0.1 ms -> count
        self.count = 0
        self.max_s = 0.0

    def add(self, err_s: float) -> None:
        e = -err_s if err_s < 0 else err_s
        k = int(e * 10_000)
        b = self._buckets
        b[k] = b.get(k, 0) + 1
        self.count += 1
        if e > self.max_s:
            self.max_s = e

    def quantile(self, q: float) -> float:
        """The |error| (seconds, to 0.1 ms, rounded up) below which a share q of them lie."""
        if not self.count:
            return 0.0
        rank = min(self.count - 1, int(self.count * q))
        seen = 0
        for k in sorted(self._buckets):
            seen += self._buckets[k]
            if seen > rank:
                return min(self.max_s, (k + 1) / 10_000)
        return self.max_s
