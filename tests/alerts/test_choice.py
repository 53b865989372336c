"""The alert choice rule (signage.alerts.choice), with hypothesis properties."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from signage.alerts.choice import (
    MAX_IN_A_ROW,
    PREEMPT_WAIT_S,
    Candidate,
    ScreenMemory,
    at_switch,
    cut_now,
    show_seconds,
)

A = Candidate(("s", "a"), 0.0, 60.0)
B = Candidate(("s", "b"), 1.0, 60.0)


def test_new_first_oldest_first_then_regular_then_repeat() -> None:
    m = ScreenMemory.empty()
    assert at_switch([B, A], m, 10.0) == A
    m.shown(A.key, 10.0)
    assert at_switch([B, A], m, 20.0) == B  # a new one may follow an alert
    m.shown(B.key, 20.0)
    assert at_switch([B, A], m, 80.0) is None  # after an alert: the rotation's slot
    m.regular()
    assert at_switch([B, A], m, 69.0) is None  # not due yet
    assert at_switch([B, A], m, 80.0) == A  # most overdue first
    m.shown(A.key, 80.0)
    m.regular()
    assert at_switch([B, A], m, 85.0) == B


def test_cut_rules() -> None:
    m = ScreenMemory.empty()
    assert cut_now([A], m, 0.0, False, None, 10.0)
    assert not cut_now([A], m, 0.0, False, None, PREEMPT_WAIT_S / 2)  # switch due anyway
    assert not cut_now([A], m, 0.0, True, A.key, 10.0)  # an alert on: wait for its end
    assert cut_now([], m, 0.0, True, A.key, 10.0)  # the alert on ended: cut
    m.shown(A.key, 0.0)
    assert not cut_now([A], m, 1.0, False, None, 10.0)  # repeats wait for a switch


def test_show_seconds_bounds() -> None:
    assert show_seconds(None, 10, 45, 55, False) == 10.0
    assert show_seconds(None, 10_000, 45, 55, False) == 40.0
    assert show_seconds(300.0, 0, 45, 55, False) == 45.0
    assert show_seconds(300.0, 0, 120, 20, True) == 20.0


cands = st.lists(
    st.builds(Candidate, st.tuples(st.just("s"), st.sampled_from("abcdefgh")),
              st.floats(0, 100), st.sampled_from([30.0, 60.0, 120.0])),
    max_size=6, unique_by=lambda c: c.key)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(cands, st.floats(1, 50)), min_size=1, max_size=80))
def test_the_rotation_is_never_starved_and_repeats_are_fair(
        steps: list[tuple[list[Candidate], float]]) -> None:
    """Over any sequence of switches with any changing set of alerts: two alert showings in a
    row only when the second is a first showing; every alert shows at most once per its
    cadence; and a due alert waits no longer than the other active alerts' turns."""
    m = ScreenMemory.empty()
    now = 0.0
    prev_alert = False
    firsts: set[tuple[str, str]] = set()
    for active, dt in steps:
        now += dt
        before = dict(m.last)
        got = at_switch(active, m, now)
        if got is None:
            # nothing new and (after an alert, or nothing due), or the bound on a run
            assert all(c.key in before for c in active) or m.in_a_row >= MAX_IN_A_ROW
            m.regular()
            prev_alert = False
            continue
        assert m.in_a_row < MAX_IN_A_ROW, "more alerts in a row than the bound"
        assert got in active
        if got.key in before:
            assert not prev_alert, "a repeat followed an alert"
            assert now - before[got.key] >= got.repeat_s, "repeated before its cadence"
            # fairness: no other due alert was due earlier
            for c in active:
                if c.key in before and now >= before[c.key] + c.repeat_s:
                    assert (before[got.key] + got.repeat_s, got.key) <= (
                        before[c.key] + c.repeat_s, c.key)
        else:
            assert got.key not in firsts
            firsts.add(got.key)
            assert all(c.key in before or (c.sent, c.key) >= (got.sent, got.key)
                       for c in active)
        m.shown(got.key, now)
        prev_alert = True


def test_a_burst_of_new_alerts_leaves_the_rotation_a_slot() -> None:
    """Twenty alerts arrive at once: at most MAX_IN_A_ROW go on in a row (each up to 45 s),
    then a regular item; all of them still get their first showing, oldest first."""
    burst = [Candidate(("s", f"x{i:02d}"), float(i), 60.0) for i in range(20)]
    m = ScreenMemory.empty()
    order: list[str] = []
    run = longest = 0
    now = 0.0
    while len(order) < 20:
        now += 30.0
        got = at_switch(burst, m, now)
        if got is None:
            m.regular()
            run = 0
            continue
        if got.key[1] not in order:
            order.append(got.key[1])
        m.shown(got.key, now)
        run += 1
        longest = max(longest, run)
    assert longest == MAX_IN_A_ROW
    assert order == [f"x{i:02d}" for i in range(20)]
