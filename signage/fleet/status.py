"""The live status a box publishes (docs/fleet.md, "Live status"): what each screen shows,
up or down, the next anti-fraud showing, the worst gap today. What the box says, not proof."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from ..config import SiteConfig
from ..runtime.runner import ScreenRunner
from ..timeutil import IsoFormatter


def is_open(cfg: SiteConfig, t: float) -> bool:
    now = datetime.fromtimestamp(t, cfg.tz)
    minute = now.hour * 60 + now.minute
    return any(a <= minute < b for a, b in cfg.hours.spans_for(now.date()))


def box_status(cfg: SiteConfig, runners: Sequence[ScreenRunner], iso: IsoFormatter,
               log_head: tuple[str, int]) -> dict[str, Any]:
    screens: dict[str, Any] = {}
    for r in runners:
        t = r.clock.time()
        mono = r.clock.monotonic()
        on = r.on
        nxt = r.seconds_to_next_af()
        down = r.down_since
        screens[r.screen.id] = {
            "up": r.up,
            "down_since": iso(t - (mono - down)) if (not r.up and down is not None) else None,
            "item": on.item.id if on else None,
            "anti_fraud": bool(on and on.item.anti_fraud),
            "since": iso(on.start_wall) if on else None,
            "next_af_s": None if nxt is None else round(nxt, 1),
            "worst_gap_today_s": round(r.worst_gap_today, 1),
            "open": is_open(cfg, t),
        }
    t_now = runners[0].clock.time() if runners else 0.0
    return {"at": iso(t_now), "heartbeat_s": cfg.log.heartbeat_s,
            "rule": {"max_gap_s": cfg.rule.max_gap_s}, "screens": screens,
            "log": {"file": log_head[0], "seq": log_head[1]}}
