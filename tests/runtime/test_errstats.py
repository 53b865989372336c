"""The runner's start-error histogram against the exact quantile of the values (hypothesis)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from signage.runtime.errstats import StartErrors


@given(st.lists(st.floats(-2.0, 2.0, allow_nan=False), min_size=1, max_size=300),
       st.sampled_from([0.0, 0.5, 0.9, 0.99, 1.0]))
def test_quantile_within_a_tenth_of_a_millisecond(errs: list[float], q: float) -> None:
    h = StartErrors()
    for e in errs:
        h.add(e)
    exact = sorted(abs(e) for e in errs)
    want = exact[min(len(exact) - 1, int(len(exact) * q))]
    got = h.quantile(q)
    assert want <= got + 1e-12 and got - want <= 1e-4 + 1e-12
    assert h.count == len(errs) and h.max_s == max(exact)


def test_memory_is_bounded_by_the_range_not_the_count() -> None:
    h = StartErrors()
    for i in range(200_000):
        h.add((i % 50) / 1000)  # 0..49 ms, over and over
    assert h.count == 200_000 and len(h._buckets) == 50
    assert h.quantile(0.0) == 0.0001 and h.quantile(1.0) == 0.049
