"""`signage validate`: the shipped site passes; each breakage gives exit 1 and a clear line."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from signage.cli import app

runner = CliRunner()


def validate(cfg: Path) -> tuple[int, str]:
    res = runner.invoke(app, ["validate", "--config", str(cfg), "--days", "2"])
    assert res.exception is None or isinstance(res.exception, SystemExit), res.exception
    return res.exit_code, res.output


def test_shipped_site_is_valid(site_dir: Path) -> None:
    code, out = validate(site_dir / "config.toml")
    assert code == 0, out
    assert "valid: 4 screens" in out


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text("utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), "utf-8")


CASES = [
    # (file, old, new, expected pattern in output)
    ("config.toml", 'max_gap_s = 60', 'max_gap_s = = 60',
     r"config\.toml:\d+: malformed TOML"),
    ("config.toml", "[rule]", "[rule]\nmax_gapp_s = 3",
     r"config\.toml:\d+: rule\.max_gapp_s: unknown key"),
    ("config.toml", "max_gap_s = 60", 'max_gap_s = "sixty"',
     r"config\.toml:\d+: rule\.max_gap_s: .*number"),
    ("playlists/store-promos.toml", 'path = "promo/rice.png"', 'path = "promo/nope.png"',
     r"store-promos\.toml:\d+: items\[3\]\.path: .*media file not found"),
    ("playlists/store-promos.toml", 'path = "promo/rice.png"', 'path = "../config.toml"',
     r"store-promos\.toml:\d+: items\[3\]\.path: .*outside the media root"),
    ("playlists/store-promos.toml", 'path = "promo/rice.png"', 'path = "/etc/passwd"',
     r"store-promos\.toml:\d+: items\[3\]\.path: .*absolute path"),
    ("playlists/store-promos.toml", "duration_s = 45", "duration_s = 58",
     r"store-promos\.toml:\d+: items\[5\]\.duration_s: .*longer than the gap budget 55 s"),
    ("config.toml", 'playlists = ["wugefanshi", "common-fraud", "theme", "store-promos"]',
     'playlists = ["store-promos"]', r"screens\[2\]\.playlists: screen fresh-hdmi has no anti-fraud"),
    ("playlists/campaign-2027-spring.toml", "end = 2027-03-25", "end = 2027-03-01",
     r"campaign-2027-spring\.toml:\d+: window: .*ends \(2027-03-01\) before it starts"),
    ("playlists/common-fraud.toml", 'id = "touzi"', 'id = "gongjianfa"',
     r"common-fraud\.toml:\d+: items\[1\]\.id: duplicate item id 'gongjianfa'"),
    ("playlists/theme.toml", 'id = "theme"', 'id = "fanshi-licai"',
     r"toml:\d+: items\[\d\]\.id: duplicate item id 'fanshi-licai': already used"),
    ("config.toml", 'driver = "simulator"', 'driver = "nosuch"',
     r"screens\[0\]\.driver: unknown driver 'nosuch'; installed drivers: .*simulator"),
    ("config.toml", 'options = { kind = "hdmi" }', 'options = { kind = "oled" }',
     r"screens\[1\]\.options: kind: 'oled' is not allowed"),
    ("playlists/wugefanshi.toml", "凡是网络兼职刷单返还佣金就是诈骗！", "凡是网络兼职刷单😀就是诈骗！",
     r"wugefanshi\.toml:\d+: items\[0\]\.text: on screen entrance-led: .*cannot draw '😀'"),
]


@pytest.mark.parametrize(("file", "old", "new", "pattern"), CASES,
                         ids=[c[3][:40] for c in CASES])
def test_breakage_is_one_clear_line(site_dir: Path, file: str, old: str, new: str,
                                    pattern: str) -> None:
    edit(site_dir / file, old, new)
    code, out = validate(site_dir / "config.toml")
    assert code == 1, out
    assert re.search(pattern, out), out
    assert "Traceback" not in out


@pytest.mark.parametrize("content", [b"", b"   \n", b"\x00\x01\x02\xff\xfe", b"\xff\xfe[site]\n"])
def test_empty_or_binary_playlist(site_dir: Path, content: bytes) -> None:
    (site_dir / "playlists" / "theme.toml").write_bytes(content)
    code, out = validate(site_dir / "config.toml")
    assert code == 1
    assert re.search(r"theme\.toml: (file is empty|binary file|not UTF-8)", out), out


def test_missing_config(tmp_path: Path) -> None:
    code, out = validate(tmp_path / "nope.toml")
    assert code == 1
    assert "nope.toml: file not found" in out


def test_every_problem_is_reported_not_just_the_first(site_dir: Path) -> None:
    edit(site_dir / "playlists/store-promos.toml", 'path = "promo/rice.png"', 'path = "x.png"')
    edit(site_dir / "playlists/store-promos.toml", "duration_s = 45", "duration_s = 58")
    code, out = validate(site_dir / "config.toml")
    assert code == 1
    assert "items[3].path" in out and "items[5].duration_s" in out


def test_symlink_out_of_media_root(site_dir: Path, tmp_path_factory: pytest.TempPathFactory
                                   ) -> None:
    outside = tmp_path_factory.mktemp("outside") / "evil.png"
    outside.write_bytes((site_dir / "media/promo/rice.png").read_bytes())
    (site_dir / "media/promo/link.png").symlink_to(outside)
    edit(site_dir / "playlists/store-promos.toml", 'path = "promo/rice.png"',
         'path = "promo/link.png"')
    code, out = validate(site_dir / "config.toml")
    assert code == 1
    assert "outside the media root" in out


def test_independent_problems_in_one_run(site_dir: Path) -> None:
    """Issue 10 item 15: a broken playlist file, a missing media file, an over-long store item
    and a config mistake all come out of one run (they used to appear one stage at a time)."""
    (site_dir / "playlists/theme.toml").write_text('name = "x"\ncontent = "anti-fraud"\n'
                                                   'items = 3\n', "utf-8")
    edit(site_dir / "playlists/store-promos.toml", 'path = "promo/rice.png"', 'path = "x.png"')
    edit(site_dir / "playlists/store-promos.toml", "duration_s = 45", "duration_s = 58")
    edit(site_dir / "config.toml", 'options = { kind = "hdmi" }', 'options = { kind = "oled" }')
    code, out = validate(site_dir / "config.toml")
    assert code == 1, out
    for want in ("theme.toml", "items[3].path", "items[5].duration_s",
                 "screens[1].options"):
        assert want in out, (want, out)


def test_config_mistake_does_not_hide_playlist_problems(site_dir: Path) -> None:
    edit(site_dir / "config.toml", "max_gap_s = 60", 'max_gap_s = "sixty"')
    edit(site_dir / "playlists/store-promos.toml", 'path = "promo/rice.png"', 'path = "x.png"')
    code, out = validate(site_dir / "config.toml")
    assert code == 1, out
    assert "rule.max_gap_s" in out and "items[3].path" in out, out
