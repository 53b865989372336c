"""A valid reload that closes today (issue 11, item 9): the runner re-plans from now and the
screen goes blank; it does not show tomorrow's first item at once and hold it for the night."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from signage.load import load_site
from tests.conftest import small_site
from tests.runtime.runnerkit import TZ, drive_until, virtual_runner


def test_a_reload_that_closes_today_blanks_the_screen_until_the_next_opening(
        tmp_path: Path) -> None:
    cfg = small_site(tmp_path, max_gap=6.0, margin=1.0, af_s=(1.0, 1.3), store_s=(1.0,))
    start = datetime(2026, 12, 1, 10, 0, tzinfo=TZ)
    r, clock, log = virtual_runner(tmp_path, cfg, start)
    r.start()

    def drive(until: float) -> None:
        drive_until(r, clock, until)

    drive(clock.monotonic() + 30)
    # the edit: open 08:00-09:00 only, so today (10:00 now) is already closed
    cfg.write_text(cfg.read_text("utf-8").replace('default = ["00:00-24:00"]',
                                                  'default = ["08:00-09:00"]'), "utf-8")
    site2 = load_site(cfg, start.date()).site
    n_before = len(log.recs)
    t_reload = clock.monotonic()
    r.apply_site(site2, site2.screens[0])
    opening = datetime(2026, 12, 2, 8, 0, tzinfo=TZ).timestamp()
    drive(t_reload + (opening - clock.time()) + 20)
    after = log.recs[n_before:]
    clears = [x for x in after if x["type"] == "screen_clear"]
    assert clears and clears[0]["reason"] == "closed", after[:5]
    starts = [x for x in after if x["type"] == "showing_start"]
    assert starts, "nothing shown at the next opening"
    first = datetime.fromisoformat(starts[0]["start"]).timestamp()
    assert first >= opening - 0.5, starts[0]  # not tomorrow's item shown tonight
    assert abs(starts[0]["start_mono"] - starts[0]["planned_mono"]) < 0.5, starts[0]
    ends = [x for x in after if x["type"] == "showing"]
    # the item on screen at the reload is not credited through the night
    assert all(x["end_mono"] - t_reload < 10 or
               datetime.fromisoformat(x["start"]).timestamp() >= opening - 0.5 for x in ends)
