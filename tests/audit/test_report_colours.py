"""The HTML report's colours say what happened in each hour: closed, not audited, within the
planned margin, near the limit, over it (issue 10 item 10)."""

from __future__ import annotations

import re
from pathlib import Path

from .logkit import DAY0, Daemon, FakeClock, audit, site

H = 3600.0


def states(page: str) -> list[str]:
    """The data-state of the 24 cells of the first day row of the first chart."""
    svg = page[page.index("<svg"):page.index("</svg>")]
    return re.findall(r"<rect x='\d+' y='\d+' width='\d+' height='\d+' fill='#[0-9a-f]+'"
                      r"(?: stroke='#9e9e9e' stroke-dasharray='2,2')? data-state='(\w+)'",
                      svg)[:24]


def make(tmp: Path, hours: list[str], gaps: dict[int, float]) -> str:
    """A log from 10:00 to 13:00: anti-fraud 8 s, then store for 55 s (the planned budget with
    limit 60 and margin 5), except ``gaps[hour]`` in the given hour."""
    c = FakeClock(DAY0, mono=0.0)
    d = Daemon(tmp / "log", c, site([("s1", 1280, 720)], hours=hours), start=10 * H)
    t = 10 * H
    while t < 13 * H:
        d.showing("s1", "af1", True, t, t + 8)
        gap = gaps.get(int(t // H), 55.0)
        d.showing("s1", "ad", False, t + 8, t + 8 + gap)
        d.heartbeat(t + 8 + gap)
        t += 8 + gap
    d.stop(t + 1)
    report = tmp / "r.html"
    code, out, err = audit(tmp / "log", "--report", str(report), tmp=tmp)
    assert code in (0, 1), out + err
    assert "Traceback" not in err
    return report.read_text("utf-8")


def test_unaudited_hours_are_not_closed_and_the_planned_margin_is_green(tmp_path: Path) -> None:
    page = make(tmp_path, ["00:00-24:00"], {11: 58.0, 12: 70.0})
    got = states(page)
    assert len(got) == 24, got
    assert got[:10] == ["unaudited"] * 10, got  # a 24-hour site: before the log, not "closed"
    assert got[10] == "ok", got  # 55 s gaps: exactly as planned, within the margin
    assert got[11] == "near", got  # 58 s: past the planned margin, within the limit
    assert got[12] == "over", got  # 70 s: over the limit
    assert got[14:] == ["unaudited"] * 10, got
    for words in ("closed (outside opening hours)", "not audited",
                  "within the planned margin", "over the limit"):
        assert words in page, words


def test_closed_hours_inside_the_period(tmp_path: Path) -> None:
    page = make(tmp_path, ["10:00-12:00"], {})
    got = states(page)
    assert got[10:12] == ["ok", "ok"], got
    assert got[12] == "closed", got  # audited (the log runs until 13:00), the shop closed
    assert got[:10] == ["unaudited"] * 10, got
