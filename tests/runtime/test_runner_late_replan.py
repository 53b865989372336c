"""A re-plan that runs late (a loaded machine) keeps the planned gap within the budget: the
new plan is anchored at the instant the plan had the next anti-fraud showing due (the last
anti-fraud showing's planned end, or start in start-to-start mode, plus the budget), not at
the instant the re-plan ran. The showing starts late and is shortened by it, like any late
switch; the margin covers the real gap."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from signage.alerts import ALERT_CATEGORY
from signage.alerts.choice import AlertCard, Candidate
from signage.driver import ItemKind
from signage.load import load_site
from signage.model import Item
from tests.conftest import small_site
from tests.logtools import planned_af_gaps
from tests.runtime.runnerkit import TZ, drive_until, virtual_runner

BUDGET_S = 5.0  # max_gap 6 s - margin 1 s


@pytest.mark.parametrize("measure", ["end-to-start", "start-to-start"])
@pytest.mark.parametrize("late_ms", [2, 40, 300])
def test_a_reload_applied_late_keeps_the_planned_gap_within_the_budget(
        tmp_path: Path, measure: str, late_ms: int) -> None:
    cfg = small_site(tmp_path, max_gap=6.0, margin=1.0, af_s=(1.0, 1.3), store_s=(1.0, 0.7))
    cfg.write_text(cfg.read_text("utf-8").replace(
        'measure = "end-to-start"', f'measure = "{measure}"'), "utf-8")
    start = datetime(2026, 12, 1, 10, 0, tzinfo=TZ)
    r, clock, log = virtual_runner(tmp_path, cfg, start)
    r.start()
    drive_until(r, clock, clock.monotonic() + 20)
    # on to the switch before a planned anti-fraud showing (not the first of the run)
    while r.next is None or not r.next.anti_fraud:
        clock.sleep_until(r.wake_at())
        r.act()
    nxt = r.next
    assert nxt is not None
    reloads = 0
    for _round in range(3):
        # a reload is applied at the next switch; the machine is late to it by late_ms
        site2 = load_site(cfg, start.date()).site
        r.apply_site(site2, site2.screens[0])
        t_due = r.wake_at()
        clock.sleep_until(t_due + late_ms / 1000)
        r.act()
        reloads += 1
        drive_until(r, clock, clock.monotonic() + 12)
        while r.next is None or not r.next.anti_fraud:
            clock.sleep_until(r.wake_at())
            r.act()
    drive_until(r, clock, clock.monotonic() + 10)
    gaps = planned_af_gaps(log.recs, r.screen.id)
    assert len(gaps) >= 8, gaps
    # the plan holds the budget whatever the lateness of the re-plan
    assert max(gaps) <= BUDGET_S + 0.0005, (late_ms, gaps)
    # and every anti-fraud showing still plays (a late start shortens it, never skips it)
    af = [x for x in log.recs if x["type"] == "showing" and x["anti_fraud"]]
    assert all(x["outcome"] in ("completed", "cut_short") for x in af), af
    assert reloads == 3


class Scripted:
    """The runner's AlertSource with fixed cards (what AlertCenter gives, without the I/O)."""

    enabled = True

    def __init__(self) -> None:
        self.cards_on: list[AlertCard] = []

    def cards(self, screen_id: str, now: float) -> tuple[AlertCard, ...]:
        return tuple(c for c in self.cards_on if c.effective <= now < c.expires)

    def shown(self, screen_id: str, card: AlertCard, start: float) -> None:
        pass


@pytest.mark.parametrize("measure", ["end-to-start", "start-to-start"])
@pytest.mark.parametrize("late_ms", [2, 300])
def test_an_alert_shown_at_a_late_switch_keeps_the_planned_gap_within_the_budget(
        tmp_path: Path, measure: str, late_ms: int) -> None:
    cfg = small_site(tmp_path, max_gap=6.0, margin=1.0, af_s=(1.0, 1.3), store_s=(1.0, 0.7))
    cfg.write_text(cfg.read_text("utf-8").replace(
        'measure = "end-to-start"', f'measure = "{measure}"'), "utf-8")
    start = datetime(2026, 12, 1, 10, 0, tzinfo=TZ)
    src = Scripted()
    r, clock, log = virtual_runner(tmp_path, cfg, start, alerts=src)
    r.start()
    drive_until(r, clock, clock.monotonic() + 20)
    for i in range(3):
        while r.next is None or not r.next.anti_fraud:
            clock.sleep_until(r.wake_at())
            r.act()
        nxt = r.next
        # an alert effective at the instant the anti-fraud showing is due; the machine is
        # late to that switch by late_ms
        t_due = nxt.start_ms / 1000
        item = Item(f"alert:X{i}", "alerts", ItemKind.TEXT, True, 1.0, 2000,
                    text=f"预警{i}", category=ALERT_CATEGORY)
        src.cards_on.append(AlertCard(Candidate(("s", f"X{i}"), t_due, 600.0), item, f"X{i}",
                                      "s", t_due, t_due, t_due + 60, False))
        clock.sleep_until(r.wake_at() + late_ms / 1000)
        r.act()
        assert r.on is not None and r.on.item is item, r.on
        drive_until(r, clock, clock.monotonic() + 12)
    drive_until(r, clock, clock.monotonic() + 10)
    gaps = planned_af_gaps(log.recs, r.screen.id)
    assert len(gaps) >= 8, gaps
    assert max(gaps) <= BUDGET_S + 0.0005, (late_ms, gaps)
