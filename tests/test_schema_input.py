"""Legitimate input a site manager writes is accepted, and every message about a mistake is in
words a shop manager understands (issue 10 items 11 and 12)."""

from __future__ import annotations

import json
import re
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from typer.testing import CliRunner

from signage.audit.hours import HoursTimeline
from signage.cli import app
from signage.config import Hours
from signage import render

runner = CliRunner()
TZ = ZoneInfo("Asia/Shanghai")


def run(*args: str) -> tuple[int, str]:
    res = runner.invoke(app, list(args))
    assert res.exception is None or isinstance(res.exception, SystemExit), res.exception
    return res.exit_code, res.output


def validate(cfg: Path) -> tuple[int, str]:
    return run("validate", "--config", str(cfg), "--days", "2")


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text("utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), "utf-8")


# ---- phone numbers with an extension -------------------------------------------------------
@pytest.mark.parametrize("phone", ["0571-86000001转8001", "0571-86000001 ext. 8001",
                                   "0571-86000001分机8001", "+86 571 8600 0001 x8001"])
def test_phone_with_extension(site_dir: Path, phone: str) -> None:
    edit(site_dir / "config.toml", 'phone = "0571-88000000"', f'phone = "{phone}"')
    code, out = validate(site_dir / "config.toml")
    assert code == 0, out


def test_bad_phone_is_explained(site_dir: Path) -> None:
    edit(site_dir / "config.toml", 'phone = "0571-88000000"', 'phone = "call Wang"')
    code, out = validate(site_dir / "config.toml")
    assert code == 1
    assert "site.contact.phone: not a phone number" in out and "转8001" in out, out
    assert "pattern" not in out and "^[" not in out, out


# ---- an overnight span -----------------------------------------------------------------------
def test_overnight_span_is_planned_across_midnight(site_dir: Path) -> None:
    cfg = site_dir / "config.toml"
    edit(cfg, 'default = ["08:00-22:00"]\nsat = ["08:00-22:30"]\nsun = ["08:00-22:30"]',
         'default = ["08:00-12:00", "22:00-02:00"]')
    code, out = validate(cfg)
    assert code == 0, out
    code, out = run("plan", "--config", str(cfg), "--from", "2026-12-01 23:58", "--for", "6m",
                    "--screen", "checkout-hdmi", "--format", "json")
    assert code == 0, out
    doc = json.loads(out)[0]
    starts = [datetime.fromisoformat(e["start"]) for e in doc["entries"]]
    assert starts[0] < datetime(2026, 12, 2, 0, 0, tzinfo=TZ) < starts[-1]
    assert doc["max_gap_s"] <= 55.0
    # the span ends at 02:00 on the next day, and nothing plays until 08:00
    code, out = run("plan", "--config", str(cfg), "--from", "2026-12-02 01:58", "--for", "30m",
                    "--screen", "checkout-hdmi", "--format", "json")
    entries = json.loads(out)[0]["entries"]
    last_before = [e for e in entries if e["start"] < "2026-12-02T02:00"]
    assert last_before and max(e["end"] for e in last_before).startswith("2026-12-02T02:00")
    assert all(e["start"] < "2026-12-02T02:00" or e["start"] >= "2026-12-02T08:00"
               for e in entries)


def test_overnight_span_in_the_audit_hours() -> None:
    h = Hours.model_validate({"default": ["22:00-02:00"]})
    assert h.spans_for(date(2026, 12, 2)) == [(0, 120), (1320, 1440)]
    tl = HoursTimeline()
    t0 = int(datetime(2026, 12, 1, tzinfo=TZ).timestamp() * 1000)
    tl.add(t0, h, TZ, 60_000)
    a = int(datetime(2026, 12, 1, 21, tzinfo=TZ).timestamp() * 1000)
    b = a + int(timedelta(hours=6).total_seconds() * 1000)
    got = tl.open_in(a, b)
    assert got == [(a + 3_600_000, a + 5 * 3_600_000)]  # 22:00 to 02:00, one stretch


def test_overnight_overlap_is_refused() -> None:
    with pytest.raises(ValueError, match="overlap"):
        Hours.model_validate({"default": ["01:00-09:00", "22:00-02:00"]})


# ---- a two-line slogan for a two-line LED board --------------------------------------------
TWO = 'text = "防范电信诈骗\\n人人参与"'


def test_two_line_slogan(site_dir: Path) -> None:
    cfg = site_dir / "config.toml"
    edit(cfg, "height = 16\n", "height = 32\n")
    edit(site_dir / "playlists/theme.toml", re.search(r'text = ".*"', (
        site_dir / "playlists/theme.toml").read_text("utf-8")).group(0), TWO)  # type: ignore
    code, out = validate(cfg)
    assert code == 0, out
    bmp = render.render_bitmap("防范电信诈骗\n人人参与", 128, 32).convert("L")
    top, bottom = bmp.crop((0, 0, 128, 16)), bmp.crop((0, 16, 128, 32))
    assert top.getbbox() is not None and bottom.getbbox() is not None
    assert render.text_width("防范电信诈骗\n人人参与", 32) == render.text_width("防范电信诈骗", 16)


def test_two_line_slogan_on_a_one_line_board_is_refused(site_dir: Path) -> None:
    text = (site_dir / "playlists/theme.toml").read_text("utf-8")
    edit(site_dir / "playlists/theme.toml", re.search(r'text = ".*"', text).group(0),  # type: ignore
         TWO)
    code, out = validate(site_dir / "config.toml")
    assert code == 1
    assert "on screen entrance-led: the slogan has 2 lines, but the board is 16 px high" in out


# ---- dates, and every pydantic message -----------------------------------------------------
def test_quoted_date(site_dir: Path) -> None:
    edit(site_dir / "config.toml", "date = 2027-02-06", 'date = "2027-02-06"')
    code, out = validate(site_dir / "config.toml")
    assert code == 1
    assert "hours.exceptions[0].date: write dates without quotes: date = 2027-02-06" in out, out


PYDANTIC = re.compile(r"Input should|String should|List should|valid dictionary|"
                      r"type=|pydantic|Value error|at least 1 item after validation")
BAD = [
    ("config.toml", 'name = "惠民超市（文三路店）"', 'name = ""', "site.name: must not be empty"),
    ("config.toml", "max_gap_s = 60", 'max_gap_s = "60"',
     "rule.max_gap_s: must be a number, written without quotes: max_gap_s = 60"),
    ("config.toml", "margin_s = 5", "margin_s = -1", "rule.margin_s: must be 0 or more (got -1)"),
    ("config.toml", 'measure = "end-to-start"', 'measure = "end"',
     'rule.measure: must be one of "end-to-start" or "start-to-start"'),
    ("config.toml", "closed = true", 'closed = "yes"', "closed: must be a true or false"),
    ("config.toml", "width = 128", "width = 0", "screens[0].width: must be more than 0"),
    ("config.toml", "height = 16", "height = 16.5", "screens[0].height: must be a whole number"),
    ("config.toml", 'options = { kind = "hdmi" }', 'options = ["hdmi"]',
     "screens[1].options: must be a table"),
    ("config.toml", 'fsync = "every"', "fsync = 1", 'log.fsync: must be one of "every"'),
    ("playlists/theme.toml", 'content = "anti-fraud"', 'content = "af"',
     'content: must be one of "anti-fraud" or "store"'),
    ("playlists/store-promos.toml", "weight = 2", "weight = 0",
     "items[0].weight: must be more than 0"),
    ("playlists/store-promos.toml", 'type = "text"', 'type = "txt"',
     'items[0].type: must be one of "text", "image" or "clip"'),
    ("playlists/campaign-2027-spring.toml", "end = 2027-03-25", 'end = "tomorrow"',
     "window.end: not a date"),
    ("playlists/store-promos.toml", 'id = "promo-fruit"', "id = 5",
     'items[0].id: must be text in quotes'),
    ("config.toml", 'default = ["08:00-22:00"]', "default = [800]",
     'hours.default[0]: must be text in quotes, e.g. default = ["..."] (got 800)'),
]


@pytest.mark.parametrize(("file", "old", "new", "want"), BAD, ids=[b[3][:30] for b in BAD])
def test_messages_in_plain_words(site_dir: Path, file: str, old: str, new: str,
                                 want: str) -> None:
    edit(site_dir / file, old, new)
    code, out = validate(site_dir / "config.toml")
    assert code == 1
    flat = " ".join(out.split())
    assert want in flat, out
    assert not PYDANTIC.search(out), out


def test_screens_missing() -> None:
    from signage.config import SiteConfig
    from signage.problems import from_validation
    from pydantic import ValidationError

    with pytest.raises(ValidationError) as exc:
        SiteConfig.model_validate({"site": {"id": "a", "name": "n",
                                            "contact": {"name": "x", "phone": "123"}},
                                   "screens": []})
    msgs = [str(p) for p in from_validation(exc.value, "config.toml", "")]
    assert msgs == ["config.toml: screens: needs at least one entry"], msgs


# ---- overlapping hours exceptions (item 12) ------------------------------------------------
def test_single_day_inside_a_range_wins_in_plan_and_audit() -> None:
    h = Hours.model_validate({"default": ["08:00-22:00"], "exceptions": [
        {"date": "2027-07-01", "to": "2027-08-31", "closed": True, "note": "summer"},
        {"date": "2027-07-15", "open": ["10:00-16:00"], "note": "open day"}]},
        strict=False)
    assert h.spans_for(date(2027, 7, 14)) == []
    assert h.spans_for(date(2027, 7, 15)) == [(600, 960)]
    tl = HoursTimeline()
    tl.add(0, h, TZ, 60_000)
    d = int(datetime(2027, 7, 15, tzinfo=TZ).timestamp() * 1000)
    assert tl.open_in(d, d + 86_400_000) == [(d + 600 * 60_000, d + 960 * 60_000)]


def test_equally_specific_overlap_is_refused_naming_both(site_dir: Path) -> None:
    edit(site_dir / "config.toml", 'note = "春节闭店"', 'note = "春节闭店"\n\n[[hours.exceptions]]\n'
         'date = 2027-02-08\nto = 2027-02-09\nopen = ["10:00-12:00"]')
    code, out = validate(site_dir / "config.toml")
    assert code == 1
    flat = " ".join(out.split())
    assert re.search(r"hours\.exceptions\[1\] \(line \d+\) \(2027-02-07 to 2027-02-08\) and "
                     r"hours\.exceptions\[2\] \(line \d+\) \(2027-02-08 to 2027-02-09\) "
                     r"overlap", flat), out
