"""Closing time: what was on screen is credited to its planned end only when the clear is
confirmed (it proves the screen was up until then). A screen found down at the clear gets
the usual credit: up to its last proof, never up to the closing."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from signage_drivers.simulator import SimulatorDriver

from signage.driver import Health, ScreenUnavailable
from tests.conftest import small_site
from tests.runtime.runnerkit import TZ, drive_until, virtual_runner


class DiesAtClear(SimulatorDriver):
    """The simulator, except that the board is gone by closing time: the clear fails."""

    def clear(self) -> None:
        raise ScreenUnavailable("no answer (unplugged)")


def _run(tmp_path: Path, driver_cls: type[SimulatorDriver]) -> tuple[list[dict[str, Any]], float]:
    cfg = small_site(tmp_path, max_gap=10.0, margin=1.0, af_s=(4.0, 5.0), store_s=(3.0,))
    text = cfg.read_text("utf-8").replace('default = ["00:00-24:00"]',
                                           'default = ["08:00-08:01"]')
    cfg.write_text(text, "utf-8")
    r, clock, log = virtual_runner(tmp_path, cfg, datetime(2026, 12, 1, 8, 0, tzinfo=TZ),
                                   driver_cls)
    r.start()
    close_mono = clock.monotonic() + 60.0
    drive_until(r, clock, close_mono + 5)
    return log.recs, close_mono


def _last_showing(recs: list[dict[str, Any]]) -> dict[str, Any]:
    return [r for r in recs if r["type"] == "showing"][-1]


def test_a_confirmed_clear_credits_the_item_to_its_planned_end(tmp_path: Path) -> None:
    recs, close = _run(tmp_path, SimulatorDriver)
    last = _last_showing(recs)
    assert recs[-1]["type"] == "screen_clear"
    assert last["end_mono"] == pytest.approx(close, abs=0.01)
    assert not any(r["type"] == "screen_down" for r in recs)


def test_a_screen_down_at_the_clear_is_credited_only_to_its_last_proof(tmp_path: Path) -> None:
    recs, close = _run(tmp_path, DiesAtClear)
    last = _last_showing(recs)
    # nothing proved the screen after the last confirmed show: the showing ends there
    assert last["outcome"] == "cut_short"
    assert last["end_mono"] == pytest.approx(last["start_mono"], abs=0.01)
    assert last["end_mono"] < close - 1.0
    down = [r for r in recs if r["type"] == "screen_down"]
    assert down and "unplugged" in down[0]["reason"]
    assert not any(r["type"] == "screen_clear" for r in recs)


class VouchesOnlyForShows(SimulatorDriver):
    """Healthy, but (like an LED board between pings) vouches only for its last confirmed
    show."""

    def show(self, item: Any) -> float:
        self.last_answer = super().show(item)
        return self.last_answer

    def health(self) -> Health:
        return Health(ok=True, as_of=self.last_answer)


def test_a_stop_mid_item_credits_only_what_the_driver_vouches_for(tmp_path: Path) -> None:
    cfg = small_site(tmp_path, max_gap=30.0, margin=1.0, af_s=(20.0,), store_s=(5.0,))
    # poll_clips=True: the real-time behaviour (health checks every second)
    r, clock, log = virtual_runner(tmp_path, cfg, datetime(2026, 12, 1, 8, 0, tzinfo=TZ),
                                   VouchesOnlyForShows, poll_clips=True)
    drv = r.driver
    assert isinstance(drv, VouchesOnlyForShows)
    r.start()
    t0 = clock.monotonic()
    while clock.monotonic() < t0 + 7.0:
        clock.sleep_until(min(r.wake_at(), t0 + 7.0))
        r.act()
    assert r.on is not None and r.on.start_mono == drv.last_answer
    r.finish("stopped")
    last = _last_showing(log.recs)
    assert last["reason"] == "stopped"
    assert last["end_mono"] == pytest.approx(drv.last_answer, abs=0.01)  # not 7 s later
