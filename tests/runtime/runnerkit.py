"""The set-up the runner tests share: a site's first screen on the simulator driver (or a
subclass of it) on a virtual clock, its log kept in memory, and a loop that acts on every
wake-up up to a time."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from signage_drivers.simulator import SimulatorDriver

from signage.driver import DriverContext
from signage.load import load_site, screen_spec
from signage.runtime.clock import VirtualClock
from signage.runtime.runner import AlertSource, ScreenRunner
from signage.runtime.showables import Showables
from signage.timeutil import IsoFormatter

TZ = ZoneInfo("Asia/Shanghai")


class Records:
    """The runner's log sink, kept in memory."""

    def __init__(self) -> None:
        self.recs: list[dict[str, Any]] = []

    def append(self, rtype: str, **fields: Any) -> None:
        self.recs.append({"type": rtype, **fields})

    def append_dict(self, rtype: str, fields: dict[str, Any]) -> None:
        self.append(rtype, **fields)


def virtual_runner(tmp_path: Path, cfg: Path, start: datetime,
                   driver_cls: type[SimulatorDriver] = SimulatorDriver, *,
                   poll_clips: bool = False, alerts: AlertSource | None = None
                   ) -> tuple[ScreenRunner, VirtualClock, Records]:
    """The runner of `cfg`'s first screen, planned for `start`'s day, its virtual clock set to
    `start`; not started."""
    loaded = load_site(cfg, start.date())
    site = loaded.site
    clock = VirtualClock(start.timestamp())
    spec = screen_spec(loaded.cfg.screens[0], site.media_root)
    drv = driver_cls(spec, DriverContext(clock=clock, run_dir=tmp_path / "var", virtual=True))
    log = Records()
    r = ScreenRunner(site, site.screens[0], drv, log, Showables(site.media_root),
                     poll_clips=poll_clips, iso=IsoFormatter(TZ), alerts=alerts)
    return r, clock, log


def drive_until(r: ScreenRunner, clock: VirtualClock, until: float) -> None:
    """Act on every wake-up of `r` up to the monotonic time `until` (inclusive)."""
    while True:
        t = r.wake_at()
        if t > until:
            break
        clock.sleep_until(t)
        r.act()
