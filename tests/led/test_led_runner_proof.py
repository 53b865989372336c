"""The runner takes a ping's answer at the instant it was read, not when the ping was sent
(issue 10, item 3): the LED driver on the fake board behind a real pty at 9600 baud, the real
runner on the real clock. The board falls silent during a long item; the showing's end is the
board's last answer, which the board wrote before the driver read it (causality: no timing
bound)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from signage_drivers.led.codec import Packet
from signage_drivers.led.fakeboard import FakeBoard

from signage.load import load_site
from signage.runtime.runner import ScreenRunner
from signage.runtime.showables import Showables
from signage.timeutil import IsoFormatter
from tests.conftest import small_site
from tests.runtime.runnerkit import TZ, Records

from .conftest import MakeDriver
from .test_led_health_ping import is_ping


def test_a_showing_cut_by_a_silent_board_ends_at_the_ping_answer(
        tmp_path: Path, make_driver: MakeDriver) -> None:
    with FakeBoard(width=128, height=16, baud=9600, link=tmp_path / "slow") as board:
        answered: list[float] = []  # when the board had a ping's reply ready (before sending)
        handle = board.emulator.handle

        def recording(event: Any) -> bytes | None:
            reply: bytes | None = handle(event)
            if isinstance(event, Packet) and is_ping(event) and reply is not None:
                answered.append(time.monotonic())
            return reply

        board.emulator.handle = recording
        # one long anti-fraud item (60 s): only pings prove it between switches
        cfg = small_site(tmp_path, max_gap=120.0, margin=1.0, af_s=(60.0,), store_s=(60.0,))
        site = load_site(cfg, None).site
        drv = make_driver(board.port, baud=9600, ping_s=1.0, timeout_s=2.0, retries=0)
        log = Records()
        r = ScreenRunner(site, site.screens[0], drv, log, Showables(site.media_root),
                         poll_clips=True, iso=IsoFormatter(TZ))
        r.start()
        deadline = time.monotonic() + 30
        while not any(x["type"] == "showing_start" for x in log.recs):
            assert time.monotonic() < deadline, f"nothing shown: {log.recs}"
            drv.ctx.clock.sleep_until(min(r.wake_at(), time.monotonic() + 0.2))
            r.act()
        answered.clear()
        while len(answered) < 2:  # two pings answered while the item is on
            assert time.monotonic() < deadline, "no pings"
            drv.ctx.clock.sleep_until(min(r.wake_at(), time.monotonic() + 0.2))
            r.act()
        board.faults.silent = True
        while not any(x["type"] == "screen_down" for x in log.recs):
            assert time.monotonic() < deadline, "the silent board was not noticed"
            drv.ctx.clock.sleep_until(min(r.wake_at(), time.monotonic() + 0.2))
            r.act()
        r.finish("test end")
    shows = [x for x in log.recs if x["type"] == "showing"]
    assert len(shows) == 1, log.recs
    (show,) = shows
    assert show["outcome"] == "cut_short" and show["reason"] == "screen unavailable", show
    last = answered[-1]
    # the driver read the reply after the board wrote it (36 bytes at 9600 baud later): the
    # claim ends at that read, not at the moment the runner decided to ask (before the ping)
    assert show["end_mono"] >= round(last, 3) - 0.001, (show["end_mono"], answered)
