"""The yardstick: what differs between two configurations, and the trust file's profile."""

from __future__ import annotations

import pytest

from signage.audit.yardstick import differences, of_record, screen_hours_changes
from signage.config import Hours
from signage.trust import TrustFileError, parse_trust

OPEN = Hours.model_validate({"default": ["08:00-22:00"]})
ALL_DAY = Hours.model_validate({"default": ["00:00-24:00"]})


def test_every_part_of_the_yardstick_is_compared() -> None:
    a = of_record("Asia/Shanghai", OPEN, 60, "end-to-start", {"s1": {}, "s2": {}})
    b = of_record("Asia/Urumqi", ALL_DAY, 3600, "start-to-start", {"s1": {}})
    got = {w: (x, y) for w, x, y in differences(a, b)}
    assert got == {"timezone": ("Asia/Shanghai", "Asia/Urumqi"), "max_gap_s": ("60", "3600"),
                   "measure": ("end-to-start", "start-to-start"),
                   "hours": ('{"default":["08:00-22:00"]}', '{"default":["00:00-24:00"]}'),
                   "screens": ("s1,s2", "s1")}
    assert differences(a, a) == []


def test_a_screen_s_own_hours_changing_is_a_change() -> None:
    a = of_record("Asia/Shanghai", OPEN, 60, "end-to-start",
                  {"s1": {}, "atm": {"hours": {"default": ["00:00-24:00"]}}})
    b = of_record("Asia/Shanghai", OPEN, 60, "end-to-start",
                  {"s1": {"hours": {"default": ["10:00-11:00"]}}, "atm": {}})
    assert differences(a, b) == []
    assert screen_hours_changes(a, b) == [
        ("screens.s1.hours", "site", '{"default":["10:00-11:00"]}'),
        ("screens.atm.hours", '{"default":["00:00-24:00"]}', "site")]


def _profile(**kw: object) -> dict[str, object]:
    p: dict[str, object] = {"timezone": "Asia/Shanghai", "max_gap_s": 60, "screens": ["s1"],
                            "hours": {"default": ["08:00-22:00"]}}
    p.update(kw)
    return {"version": 1, "site": [{"id": "x", "profile": p}]}


def test_the_profile_parses_and_a_site_may_have_no_key_then() -> None:
    t = parse_trust(_profile(), "t.toml")
    p = t.sites["x"].profile
    assert p is not None and p.max_gap_s == 60 and p.measure == "end-to-start"
    assert p.screens == ("s1",) and t.sites["x"].keys == ()


@pytest.mark.parametrize(("kw", "needle"), [
    ({"max_gap_s": 0}, "max_gap_s"), ({"max_gap_s": True}, "max_gap_s"),
    ({"measure": "sideways"}, "measure"), ({"screens": []}, "screens"),
    ({"screens": ["s1", "s1"]}, "listed twice"), ({"screens": ["bad id"]}, "screens[0]"),
    ({"timezone": "Mars/Base"}, "timezone"), ({"hours": {"default": ["25:00-26:00"]}}, "hours"),
    ({"colour": "red"}, "unknown field 'colour'"),
])
def test_a_bad_profile_names_the_field(kw: dict[str, object], needle: str) -> None:
    with pytest.raises(TrustFileError) as exc:
        parse_trust(_profile(**kw), "t.toml")
    assert needle in str(exc.value) and "t.toml: site 'x': profile" in str(exc.value)


def test_a_site_without_keys_or_profile_is_refused() -> None:
    with pytest.raises(TrustFileError, match="at least one"):
        parse_trust({"version": 1, "site": [{"id": "x"}]}, "t.toml")
