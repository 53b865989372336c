"""Image items on LED boards: a poster that a board would shrink to a few dots is named by
validate and left out on that screen (issue 10 item 14)."""

from __future__ import annotations

from itertools import takewhile
from pathlib import Path

from PIL import Image
from typer.testing import CliRunner

from signage import render
from signage.cli import app
from signage.load import load_site
from signage.plan import Timeline
from signage.timeutil import parse_when

runner = CliRunner()


def test_poster_on_a_128x16_board(site_dir: Path) -> None:
    res = runner.invoke(app, ["validate", "--config", str(site_dir / "config.toml"),
                              "--days", "1"])
    assert res.exit_code == 0, res.output
    flat = " ".join(res.output.split())
    assert ("warning: " in flat and "theme.toml:15: items[1].path: on screen entrance-led: a "
            "640x360 picture would be shrunk 22 times to 28x16 LEDs") in flat, res.output
    # the HDMI screens are not warned about
    assert "on screen checkout-hdmi: a 640x360" not in flat
    loaded = load_site(site_dir / "config.toml")
    site = loaded.site
    t0 = parse_when("2026-12-01 09:00", site.tz, 0)
    for sc in site.screens:
        seen = {e.item.id for e in takewhile(lambda e: e.start_ms < t0 + 4 * 3_600_000,
                                             Timeline(site, sc).entries(t0))}
        if sc.id == "entrance-led":
            assert not seen & {"theme-poster", "promo-rice", "promo-weekend"}, seen
        else:
            assert {"promo-rice", "promo-weekend"} <= seen, (sc.id, seen)


def test_a_picture_made_for_the_board_is_fine(site_dir: Path) -> None:
    img = Image.new("RGB", (256, 32), (255, 0, 0))
    img.save(site_dir / "media/promo/rice.png")
    assert render.led_image_problem(256, 32, 128, 16) is None
    assert render.led_image_problem(640, 360, 128, 16) is not None
    res = runner.invoke(app, ["validate", "--config", str(site_dir / "config.toml"),
                              "--days", "1"])
    assert res.exit_code == 0, res.output
    assert "items[3].path: on screen entrance-led" not in " ".join(res.output.split())
